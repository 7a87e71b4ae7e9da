//! Posting batches: top-ups and fares, idempotent repeats, conflicting
//! repeats, all-or-nothing batches, accounts and paging.

use ledger::{
    Account, AccountCreated, AccountKind, BatchError, Money, OperatorId, Outcome, TransferError,
};
use store_pg::{Conflict, Missing, PageRequest};

use crate::fixture::{
    CLEARING, METRO, PARKING_OVERDRAFT_VND, PARKING_WALLET, Refusal, WALLET, account_id,
    assert_audit_passes, at, check, direct, direct_overdraft, ledger, refusal, transfer_id,
};

#[tokio::test]
async fn top_up_and_fares_respect_the_wallet_floor() {
    let (db, l) = ledger().await;
    check(
        &l,
        &[direct(1, CLEARING, WALLET, 20_000)],
        at(1),
        Ok(vec![true]),
        &[(CLEARING, [0, 20_000, 0, 0]), (WALLET, [0, 0, 0, 20_000])],
    )
    .await;
    check(
        &l,
        &[
            direct(2, WALLET, METRO, 7_000),
            direct(3, WALLET, METRO, 13_000),
        ],
        at(2),
        Ok(vec![true, true]),
        &[(WALLET, [0, 20_000, 0, 20_000]), (METRO, [0, 0, 0, 20_000])],
    )
    .await;
    check(
        &l,
        &[direct(4, WALLET, METRO, 1)],
        at(3),
        Err(Refusal::LimitExceeded {
            account_id: Some(account_id(WALLET)),
            available: Some(Money::ZERO),
        }),
        &[(WALLET, [0, 20_000, 0, 20_000])],
    )
    .await;
    check(
        &l,
        &[direct(5, WALLET, WALLET, 1)],
        at(3),
        Err(Refusal::Rejected(BatchError::Rejected {
            index: 0,
            id: transfer_id(5),
            error: TransferError::SameAccount(account_id(WALLET)),
        })),
        &[],
    )
    .await;
    check(
        &l,
        &[direct(5, CLEARING, 99, 1)],
        at(3),
        Err(Refusal::NotFound(Missing::Account(account_id(99)))),
        &[],
    )
    .await;
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test]
async fn repeats_return_the_first_result_and_changed_repeats_conflict() {
    let (db, l) = ledger().await;
    let first = l
        .apply(&[direct(1, CLEARING, WALLET, 10_000)], at(1))
        .await
        .unwrap();
    let again = l
        .apply(&[direct(1, CLEARING, WALLET, 10_000)], at(500))
        .await
        .unwrap();
    assert_eq!(again, vec![Outcome::Exists(first[0].record().clone())]);
    assert_eq!(
        l.transfer(transfer_id(1)).await.unwrap(),
        *first[0].record()
    );
    check(
        &l,
        &[direct(1, CLEARING, WALLET, 10_001)],
        at(501),
        Err(Refusal::Conflict(Conflict::TransferId(transfer_id(1)))),
        &[(WALLET, [0, 0, 0, 10_000])],
    )
    .await;
    check(
        &l,
        &[
            direct(1, CLEARING, WALLET, 10_000),
            direct(2, WALLET, METRO, 4_000),
        ],
        at(502),
        Ok(vec![false, true]),
        &[(WALLET, [0, 4_000, 0, 10_000])],
    )
    .await;
    check(
        &l,
        &[
            direct(3, CLEARING, WALLET, 1),
            direct(3, CLEARING, WALLET, 1),
        ],
        at(503),
        Ok(vec![true, false]),
        &[(WALLET, [0, 4_000, 0, 10_001])],
    )
    .await;
    let log = l
        .transfers(PageRequest::new(None, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(log.transfers.len(), 3);
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_failing_member_rolls_the_whole_batch_back() {
    let (db, l) = ledger().await;
    check(
        &l,
        &[direct(1, CLEARING, WALLET, 10_000)],
        at(1),
        Ok(vec![true]),
        &[],
    )
    .await;
    check(
        &l,
        &[
            direct(2, WALLET, METRO, 6_000),
            direct(3, CLEARING, WALLET, 500),
            direct(4, WALLET, METRO, 4_501),
        ],
        at(2),
        Err(Refusal::LimitExceeded {
            account_id: Some(account_id(WALLET)),
            available: Some(Money::vnd(4_500)),
        }),
        &[
            (WALLET, [0, 0, 0, 10_000]),
            (METRO, [0, 0, 0, 0]),
            (CLEARING, [0, 10_000, 0, 0]),
        ],
    )
    .await;
    for id in [2, 3, 4] {
        assert_eq!(
            l.transfer(transfer_id(id)).await.map_err(refusal),
            Err(Refusal::NotFound(Missing::Transfer(transfer_id(id))))
        );
    }
    check(
        &l,
        &[
            direct(2, WALLET, METRO, 6_000),
            direct(3, CLEARING, WALLET, 500),
            direct(4, WALLET, METRO, 4_500),
        ],
        at(3),
        Ok(vec![true, true, true]),
        &[(WALLET, [0, 10_500, 0, 10_500])],
    )
    .await;
    check(
        &l,
        &[],
        at(3),
        Err(Refusal::Rejected(BatchError::Empty)),
        &[],
    )
    .await;
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test]
async fn overdraft_needs_the_account_limit_and_the_transfer_to_allow_it() {
    let (db, l) = ledger().await;
    check(
        &l,
        &[
            direct(1, CLEARING, PARKING_WALLET, 10_000),
            direct(2, CLEARING, WALLET, 10_000),
        ],
        at(1),
        Ok(vec![true, true]),
        &[],
    )
    .await;
    check(
        &l,
        &[direct(3, PARKING_WALLET, METRO, 10_001)],
        at(2),
        Err(Refusal::LimitExceeded {
            account_id: Some(account_id(PARKING_WALLET)),
            available: Some(Money::vnd(10_000)),
        }),
        &[],
    )
    .await;
    check(
        &l,
        &[direct_overdraft(
            3,
            PARKING_WALLET,
            METRO,
            10_000 + PARKING_OVERDRAFT_VND,
        )],
        at(2),
        Ok(vec![true]),
        &[(PARKING_WALLET, [0, 60_000, 0, 10_000])],
    )
    .await;
    check(
        &l,
        &[direct_overdraft(4, WALLET, METRO, 10_001)],
        at(3),
        Err(Refusal::LimitExceeded {
            account_id: Some(account_id(WALLET)),
            available: Some(Money::vnd(10_000)),
        }),
        &[],
    )
    .await;
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test]
async fn accounts_are_created_once_and_one_revenue_account_per_operator() {
    let (db, l) = ledger().await;
    let check = async |account: Account, expected: Result<AccountCreated, Refusal>| {
        assert_eq!(
            l.create_account(&account, at(9)).await.map_err(refusal),
            expected
        );
    };
    check(
        Account::new(account_id(WALLET), AccountKind::RiderWallet),
        Ok(AccountCreated::Exists),
    )
    .await;
    check(
        Account::new(account_id(WALLET), AccountKind::Penalties),
        Err(Refusal::Conflict(Conflict::AccountId(account_id(WALLET)))),
    )
    .await;
    let metro_again = Account::new(
        account_id(50),
        AccountKind::OperatorRevenue {
            operator_id: OperatorId::parse("HURC1").unwrap(),
        },
    );
    check(
        metro_again,
        Err(Refusal::Duplicate(
            "account_one_revenue_per_operator".into(),
        )),
    )
    .await;
    check(
        Account::new(account_id(51), AccountKind::PlatformFee),
        Ok(AccountCreated::Created),
    )
    .await;
    let created = l.account(account_id(51)).await.unwrap();
    assert_eq!(
        created.account,
        Account::new(account_id(51), AccountKind::PlatformFee)
    );
    assert_eq!(
        l.account(account_id(52)).await.map_err(refusal),
        Err(Refusal::NotFound(Missing::Account(account_id(52))))
    );
    db.drop_now().await;
}

#[tokio::test]
async fn the_log_pages_in_acceptance_order() {
    let (db, l) = ledger().await;
    let batch: Vec<_> = (1..=7)
        .map(|n| direct(n, CLEARING, WALLET, i64::try_from(n).unwrap()))
        .collect();
    l.apply(&batch, at(1)).await.unwrap();
    l.apply(&[direct(8, WALLET, METRO, 3)], at(2))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = l
            .transfers(PageRequest::new(after, 3).unwrap())
            .await
            .unwrap();
        seen.extend(page.transfers.iter().map(|r| r.id()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (1..=8).map(transfer_id).collect::<Vec<_>>());
    let metro = l
        .account_transfers(account_id(METRO), PageRequest::new(None, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(
        metro.transfers.iter().map(|r| r.id()).collect::<Vec<_>>(),
        vec![transfer_id(8)]
    );
    assert_eq!(metro.next, None);
    let wallet = l
        .account_transfers(account_id(WALLET), PageRequest::new(None, 8).unwrap())
        .await
        .unwrap();
    assert_eq!(wallet.transfers.len(), 8);
    assert!(PageRequest::new(None, 0).is_err());
    assert!(PageRequest::new(None, store_pg::MAX_PAGE_TRANSFERS + 1).is_err());
    db.drop_now().await;
}
