//! The audit passes on a ledger the adapter wrote, and names what is wrong
//! once rows are corrupted behind its back.

use ledger::{Currency, PostAmount};
use store_pg::Finding;
use store_pg::audit::Phase;

use crate::fixture::{
    CLEARING, METRO, WALLET, account_id, at, direct, ledger, pending, post, transfer_id,
};

#[tokio::test]
async fn audit_passes_then_finds_each_corruption() {
    let (db, l) = ledger().await;
    l.apply(
        &[
            direct(1, CLEARING, WALLET, 10_000),
            pending(2, WALLET, METRO, 4_000, 60),
        ],
        at(0),
    )
    .await
    .unwrap();
    l.apply(
        &[post(
            3,
            2,
            PostAmount::Partial(crate::fixture::amount(2_500)),
        )],
        at(5),
    )
    .await
    .unwrap();
    l.apply(&[pending(4, WALLET, METRO, 1_000, 60)], at(6))
        .await
        .unwrap();
    let report = store_pg::audit(&db.pool).await.unwrap();
    assert_eq!(report.findings, vec![]);
    assert_eq!(report.accounts_checked, 4);
    assert_eq!(report.transfers_replayed, 4);

    let metro = account_id(METRO).as_uuid();
    sqlx::query(&format!(
        "UPDATE ledger.account SET credits_posted_vnd = credits_posted_vnd + 1 WHERE account_id = '{metro}'"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "DELETE FROM ledger.pending_open WHERE pending_id = '{}'",
        transfer_id(4).as_uuid()
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    let report = store_pg::audit(&db.pool).await.unwrap();
    assert_eq!(
        report.findings,
        vec![
            Finding::TotalsMismatch {
                account_id: account_id(METRO),
                stored: [0, 0, 1_000, 2_501],
                rebuilt: [0, 0, 1_000, 2_500],
            },
            Finding::Unbalanced {
                currency: Currency::VND,
                phase: Phase::Posted,
                debits: 12_500,
                credits: 12_501,
            },
            Finding::PendingBookkeeping {
                pending_id: transfer_id(4),
                problem: "open but not queued for expiry".into(),
            },
        ]
    );
    db.drop_now().await;
}
