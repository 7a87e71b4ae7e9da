//! A ledger on a fresh database with the usual accounts, and one-line
//! builders for transfers.

use chrono::{DateTime, TimeDelta, Utc};
use ledger::{
    Account, AccountId, AccountKind, Amount, BalanceLimit, Currency, Money, Movement, OperatorId,
    Overdraft, PendingTimeout, PostAmount, ProviderId, Transfer, TransferBody, TransferCode,
    TransferId,
};
use store_pg::Ledger;
use test_kit::TestDatabase;
use uuid::Uuid;

/// The provider clearing account.
pub const CLEARING: u128 = 1;
/// A wallet with no overdraft.
pub const WALLET: u128 = 2;
/// A wallet that may go down to −`PARKING_OVERDRAFT_VND` on request.
pub const PARKING_WALLET: u128 = 3;
/// The metro operator's revenue.
pub const METRO: u128 = 4;
/// The parking wallet's overdraft limit, in dong.
pub const PARKING_OVERDRAFT_VND: i64 = 50_000;

pub fn account_id(n: u128) -> AccountId {
    AccountId::new(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
    .unwrap()
}

pub fn transfer_id(n: u128) -> TransferId {
    TransferId::new(Uuid::from_u128(
        0x0190_0000_0000_7000_9000_0000_0000_0000 + n,
    ))
    .unwrap()
}

/// `s` seconds after 2026-03-01 00:00:00 UTC.
pub fn at(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap() + TimeDelta::seconds(s)
}

pub fn amount(dong: i64) -> Amount {
    Amount::new(Money::vnd(dong)).unwrap()
}

fn transfer(id: u128, body: TransferBody) -> Transfer {
    Transfer {
        id: transfer_id(id),
        code: TransferCode::Fare,
        reference: None,
        body,
    }
}

fn movement(debit: u128, credit: u128, dong: i64, overdraft: Overdraft) -> Movement {
    Movement {
        debit_account_id: account_id(debit),
        credit_account_id: account_id(credit),
        amount: amount(dong),
        currency: Currency::VND,
        overdraft,
    }
}

pub fn direct(id: u128, debit: u128, credit: u128, dong: i64) -> Transfer {
    transfer(
        id,
        TransferBody::Direct(movement(debit, credit, dong, Overdraft::Forbidden)),
    )
}

pub fn direct_overdraft(id: u128, debit: u128, credit: u128, dong: i64) -> Transfer {
    transfer(
        id,
        TransferBody::Direct(movement(debit, credit, dong, Overdraft::Allowed)),
    )
}

pub fn pending(id: u128, debit: u128, credit: u128, dong: i64, timeout_s: u32) -> Transfer {
    transfer(
        id,
        TransferBody::Pending {
            movement: movement(debit, credit, dong, Overdraft::Forbidden),
            timeout: PendingTimeout::from_secs(timeout_s).unwrap(),
        },
    )
}

pub fn post(id: u128, pending_id: u128, amount: PostAmount) -> Transfer {
    transfer(
        id,
        TransferBody::Post {
            pending_id: transfer_id(pending_id),
            amount,
        },
    )
}

pub fn void(id: u128, pending_id: u128) -> Transfer {
    transfer(
        id,
        TransferBody::Void {
            pending_id: transfer_id(pending_id),
        },
    )
}

/// A fresh database with the four usual accounts.
pub async fn ledger() -> (TestDatabase, Ledger) {
    let db = test_kit::fresh_database().await;
    let ledger = Ledger::new(db.pool.clone());
    let accounts = [
        Account::new(
            account_id(CLEARING),
            AccountKind::ProviderClearing {
                provider_id: ProviderId::parse("VNPAY").unwrap(),
            },
        ),
        Account::new(account_id(WALLET), AccountKind::RiderWallet),
        Account::new(account_id(PARKING_WALLET), AccountKind::RiderWallet)
            .with_limit(BalanceLimit::DebitsMustNotExceedCredits {
                overdraft_limit: Money::vnd(PARKING_OVERDRAFT_VND),
            })
            .unwrap(),
        Account::new(
            account_id(METRO),
            AccountKind::OperatorRevenue {
                operator_id: OperatorId::parse("HURC1").unwrap(),
            },
        ),
    ];
    for account in &accounts {
        ledger.create_account(account, at(0)).await.unwrap();
    }
    (db, ledger)
}

/// An account's `[debits_pending, debits_posted, credits_pending,
/// credits_posted]`.
pub async fn totals(ledger: &Ledger, n: u128) -> [i64; 4] {
    let b = ledger.account(account_id(n)).await.unwrap().balances;
    [
        b.debits_pending.as_vnd(),
        b.debits_posted.as_vnd(),
        b.credits_pending.as_vnd(),
        b.credits_posted.as_vnd(),
    ]
}

/// Fails the test if the audit finds anything.
pub async fn assert_audit_passes(db: &TestDatabase) {
    let report = store_pg::audit(&db.pool).await.unwrap();
    assert!(report.passed(), "audit found: {:#?}", report.findings);
}

/// A `StoreError` reduced to what tests compare.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Conflict(store_pg::Conflict),
    NotFound(store_pg::Missing),
    LimitExceeded {
        account_id: Option<AccountId>,
        available: Option<Money>,
    },
    Rejected(ledger::BatchError),
    Duplicate(String),
    Constraint(String),
    Other(String),
}

pub fn refusal(error: store_pg::StoreError) -> Refusal {
    use store_pg::StoreError as E;
    match error {
        E::Conflict(c) => Refusal::Conflict(c),
        E::NotFound(m) => Refusal::NotFound(m),
        E::LimitExceeded {
            account_id,
            available,
            ..
        } => Refusal::LimitExceeded {
            account_id,
            available,
        },
        E::Rejected(b) => Refusal::Rejected(b),
        E::Duplicate { constraint } => Refusal::Duplicate(constraint),
        E::Constraint { constraint } => Refusal::Constraint(constraint),
        other => Refusal::Other(format!("{other:?}")),
    }
}

/// Applies `batch` at `now` and checks the outcome (`Ok`: per transfer,
/// created or a repeat) and then the listed accounts' totals.
pub async fn check(
    ledger: &Ledger,
    batch: &[Transfer],
    now: DateTime<Utc>,
    expected: Result<Vec<bool>, Refusal>,
    expected_totals: &[(u128, [i64; 4])],
) {
    let got = ledger
        .apply(batch, now)
        .await
        .map(|outcomes| {
            outcomes
                .iter()
                .map(|o| matches!(o, ledger::Outcome::Created(_)))
                .collect()
        })
        .map_err(refusal);
    assert_eq!(got, expected, "batch {batch:#?}");
    for (n, t) in expected_totals {
        assert_eq!(totals(ledger, *n).await, *t, "totals of account {n}");
    }
}
