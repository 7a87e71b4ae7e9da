//! Builders shared by the ledger tests: ids from small numbers, transfers
//! in one line, a fixed start time.

use chrono::{DateTime, TimeDelta, Utc};
use ledger::{
    AccountId, Amount, Currency, Money, Movement, Overdraft, PendingTimeout, PostAmount, Transfer,
    TransferBody, TransferCode, TransferId,
};
use uuid::Uuid;

/// An account id from a small number.
pub fn account_id(n: u128) -> AccountId {
    AccountId::new(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
    .unwrap()
}

/// A transfer id from a small number.
pub fn transfer_id(n: u128) -> TransferId {
    TransferId::new(Uuid::from_u128(
        0x0190_0000_0000_7000_9000_0000_0000_0000 + n,
    ))
    .unwrap()
}

/// The tests' epoch: 2026-03-01 00:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap()
}

/// `s` seconds after `t0`.
pub fn at(s: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(s)
}

/// A positive amount.
pub fn amount(dong: i64) -> Amount {
    Amount::new(Money::vnd(dong)).unwrap()
}

/// A VND movement.
pub fn movement(debit: AccountId, credit: AccountId, dong: i64, overdraft: Overdraft) -> Movement {
    Movement {
        debit_account_id: debit,
        credit_account_id: credit,
        amount: amount(dong),
        currency: Currency::VND,
        overdraft,
    }
}

fn transfer(id: u128, body: TransferBody) -> Transfer {
    Transfer {
        id: transfer_id(id),
        code: TransferCode::Fare,
        reference: None,
        body,
    }
}

/// A direct transfer with no overdraft.
pub fn direct(id: u128, debit: AccountId, credit: AccountId, dong: i64) -> Transfer {
    transfer(
        id,
        TransferBody::Direct(movement(debit, credit, dong, Overdraft::Forbidden)),
    )
}

/// A direct transfer that may overdraw.
pub fn direct_overdraft(id: u128, debit: AccountId, credit: AccountId, dong: i64) -> Transfer {
    transfer(
        id,
        TransferBody::Direct(movement(debit, credit, dong, Overdraft::Allowed)),
    )
}

/// A pending transfer.
pub fn pending(
    id: u128,
    debit: AccountId,
    credit: AccountId,
    dong: i64,
    timeout_s: u32,
) -> Transfer {
    transfer(
        id,
        TransferBody::Pending {
            movement: movement(debit, credit, dong, Overdraft::Forbidden),
            timeout: PendingTimeout::from_secs(timeout_s).unwrap(),
        },
    )
}

/// A post of a pending transfer.
pub fn post(id: u128, pending_id: u128, amount: PostAmount) -> Transfer {
    transfer(
        id,
        TransferBody::Post {
            pending_id: transfer_id(pending_id),
            amount,
        },
    )
}

/// A void of a pending transfer.
pub fn void(id: u128, pending_id: u128) -> Transfer {
    transfer(
        id,
        TransferBody::Void {
            pending_id: transfer_id(pending_id),
        },
    )
}
