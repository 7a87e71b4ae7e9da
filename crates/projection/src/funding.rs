//! Funding a wallet: the ledger transfer provider clearing → wallet and the
//! matching `TopUp` event through the projection, under one transfer id.
//!
//! Used by tests and tools; the rider API's payment callbacks do the same
//! two steps. The ledger transfer goes first: a top-up the projection shows
//! is always money the ledger holds. Both steps are idempotent on the
//! transfer id, so a retry after a failure between them completes the pair.

use chrono::{DateTime, Utc};
use fares::engine::{Event, EventKind};
use ledger::{
    Account, AccountId, AccountKind, Amount, Money, Movement, Overdraft, ProviderId, Transfer,
    TransferBody, TransferCode, TransferId,
};
use ring::digest;
use store_pg::ledger::Ledger;
use uuid::Uuid;

use crate::ProjectionError;
use crate::keys::{EventKey, RequestHash};
use crate::project::{Applied, Change, Projection};

/// The ledger account id of a provider's clearing account: derived from the
/// provider code (SHA-256 of `"ot-provider-clearing" ‖ code`, as a UUIDv8),
/// so every process finds the same account without a lookup table.
#[must_use]
pub fn clearing_account_id(provider: &ProviderId) -> AccountId {
    let digest = digest::digest(
        &digest::SHA256,
        [
            b"ot-provider-clearing".as_slice(),
            provider.as_str().as_bytes(),
        ]
        .concat()
        .as_slice(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[1u8; 16]));
    let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    AccountId::new(uuid)
        .unwrap_or_else(|_| AccountId::new(Uuid::from_u128(1)).expect("1 is neither nil nor max"))
}

/// Why funding failed.
#[derive(Debug, thiserror::Error)]
pub enum FundingError {
    /// The amount is not positive.
    #[error("a top-up must be positive")]
    NotPositive,
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] store_pg::StoreError),
    /// The projection refused or failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// Moves `amount` from `provider`'s clearing account to the wallet
/// `account` (transfer `transfer_id`, code `TopUp`) and applies the `TopUp`
/// event with key `top_up:<transfer id>`.
///
/// # Errors
/// See [`FundingError`].
pub async fn fund_wallet(
    ledger: &Ledger,
    projection: &Projection,
    account: AccountId,
    provider: &ProviderId,
    amount: Money,
    transfer_id: TransferId,
    now: DateTime<Utc>,
) -> Result<Applied, FundingError> {
    let amount_positive = Amount::new(amount).map_err(|_| FundingError::NotPositive)?;
    let clearing = Account::new(
        clearing_account_id(provider),
        AccountKind::ProviderClearing {
            provider_id: provider.clone(),
        },
    );
    ledger.create_account(&clearing, now).await?;
    let transfer = Transfer {
        id: transfer_id,
        code: TransferCode::TopUp,
        reference: None,
        body: TransferBody::Direct(Movement {
            debit_account_id: clearing.id,
            credit_account_id: account,
            amount: amount_positive,
            currency: clearing.currency,
            overdraft: Overdraft::Forbidden,
        }),
    };
    ledger.apply(std::slice::from_ref(&transfer), now).await?;
    let key = EventKey::top_up(transfer_id);
    let canonical = format!("top_up:{}:{}", transfer_id.as_uuid(), amount.as_vnd());
    let applied = projection
        .apply(Change {
            account,
            key: &key,
            hash: RequestHash::of(canonical.as_bytes()),
            event: Event {
                at: now.fixed_offset(),
                kind: EventKind::TopUp { amount },
            },
            occupancy: None,
            tap: None,
            now,
        })
        .await?;
    Ok(applied)
}
