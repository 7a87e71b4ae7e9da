//! The payment callback (IPN) handling: the one place money arrives.
//!
//! Checks in VNPay's order, each answered with its code: the signature
//! (`97`), the order (`01`), the amount (`04`), the order's state (`02`);
//! only then is a success credited: claim the order with the provider's
//! transaction number (one compare-and-set), post the ledger transfer
//! provider clearing → wallet under the id derived from that number, apply
//! the `TopUp` event through the projection under the same id, and mark the
//! order succeeded. Every step is idempotent on the transaction number, so
//! a replayed or concurrent callback credits nothing more, and a callback
//! retried after a crash between steps finishes them. Our own failures
//! answer `99`, which makes VNPay retry.

use std::collections::BTreeMap;

use ledger::Money;
use store_pg::rider_orders::{Claim, TopupStatus};

use crate::payments::topup_transfer_id;
use crate::state::AppState;
use crate::vnpay::{self, CallbackError, IpnReply};

/// Handles one IPN call with its decoded parameters.
pub async fn process(state: &AppState, params: &BTreeMap<String, String>) -> IpnReply {
    let reply = match handle(state, params).await {
        Ok(reply) => reply,
        Err(error) => {
            tracing::error!(error = %error, "payment callback failed; the provider will retry");
            IpnReply::UnknownError
        }
    };
    metrics::counter!("rider_api_ipn_total", "rsp_code" => reply.code()).increment(1);
    reply
}

#[derive(Debug, thiserror::Error)]
enum IpnError {
    #[error(transparent)]
    Store(#[from] store_pg::StoreError),
    #[error(transparent)]
    Funding(#[from] projection::funding::FundingError),
}

async fn handle(state: &AppState, params: &BTreeMap<String, String>) -> Result<IpnReply, IpnError> {
    let callback = match vnpay::verify_callback(&state.payments.merchant, params) {
        Ok(callback) => callback,
        Err(CallbackError::BadSignature) => {
            tracing::warn!("payment callback with a bad signature refused");
            return Ok(IpnReply::InvalidSignature);
        }
        Err(CallbackError::Malformed(field)) => {
            tracing::warn!(field, "signed payment callback is malformed");
            return Ok(IpnReply::UnknownError);
        }
    };
    let provider = state.payments.provider_id.clone();
    let Some(order) = state
        .orders
        .topup_by_ref(provider.as_str(), &callback.txn_ref)
        .await?
    else {
        return Ok(IpnReply::OrderNotFound);
    };
    let asked_x100 = order.amount_vnd.checked_mul(vnpay::AMOUNT_SCALE);
    if asked_x100 != Some(callback.amount_x100) {
        tracing::warn!(topup_id = %order.topup_id, "payment callback amount differs from the order");
        return Ok(IpnReply::InvalidAmount);
    }
    let now = state.now();
    if !callback.is_success() {
        return Ok(
            if state
                .orders
                .fail_topup(order.topup_id, &callback.response_code, now)
                .await?
            {
                tracing::info!(topup_id = %order.topup_id, code = %callback.response_code, "top-up failed at the provider");
                IpnReply::ConfirmSuccess
            } else {
                IpnReply::AlreadyConfirmed
            },
        );
    }
    if order.status != TopupStatus::Pending
        && !(order.status == TopupStatus::Confirming
            && order.provider_txn_no.as_deref() == Some(callback.transaction_no.as_str()))
    {
        return Ok(IpnReply::AlreadyConfirmed);
    }
    let transfer_id = topup_transfer_id(&provider, &callback.transaction_no);
    let claimed = match state
        .orders
        .claim_topup(
            order.topup_id,
            &callback.transaction_no,
            &callback.response_code,
            transfer_id,
        )
        .await
    {
        Ok(Claim::Claimed(order)) => order,
        Ok(Claim::AlreadyDecided(_)) => return Ok(IpnReply::AlreadyConfirmed),
        // The provider's transaction number already credited another order:
        // never credit it twice.
        Err(store_pg::StoreError::Duplicate { .. }) => return Ok(IpnReply::AlreadyConfirmed),
        Err(error) => return Err(error.into()),
    };
    projection::funding::fund_wallet(
        &state.ledger,
        &state.projection,
        claimed.account_id,
        &provider,
        Money::vnd(claimed.amount_vnd),
        transfer_id,
        now,
    )
    .await?;
    state.orders.succeed_topup(claimed.topup_id, now).await?;
    tracing::info!(topup_id = %claimed.topup_id, transfer_id = %transfer_id, "top-up credited");
    Ok(IpnReply::ConfirmSuccess)
}
