//! Two-phase transfers in Postgres: holds count against the limit, a post
//! moves all or part, a void releases, an expiry releases when due, and a
//! pending transfer is resolved at most once.

use ledger::{BatchError, ExpireError, Money, PendingStatus, PostAmount, TransferError};
use store_pg::{Conflict, Missing};

use crate::fixture::{
    CLEARING, METRO, Refusal, WALLET, account_id, amount, assert_audit_passes, at, check, direct,
    ledger, pending, post, refusal, transfer_id, void,
};

#[tokio::test]
async fn holds_count_against_the_limit_and_post_in_part() {
    let (db, l) = ledger().await;
    check(
        &l,
        &[direct(1, CLEARING, WALLET, 100_000)],
        at(0),
        Ok(vec![true]),
        &[],
    )
    .await;
    check(
        &l,
        &[pending(2, WALLET, METRO, 80_000, 3_600)],
        at(10),
        Ok(vec![true]),
        &[
            (WALLET, [80_000, 0, 0, 100_000]),
            (METRO, [0, 0, 80_000, 0]),
        ],
    )
    .await;
    check(
        &l,
        &[direct(3, WALLET, METRO, 20_001)],
        at(11),
        Err(Refusal::LimitExceeded {
            account_id: Some(account_id(WALLET)),
            available: Some(Money::vnd(20_000)),
        }),
        &[],
    )
    .await;
    check(
        &l,
        &[post(4, 2, PostAmount::Partial(amount(80_001)))],
        at(12),
        Err(Refusal::Rejected(BatchError::Rejected {
            index: 0,
            id: transfer_id(4),
            error: TransferError::ExceedsPendingAmount {
                pending_id: transfer_id(2),
                requested: Money::vnd(80_001),
                pending: Money::vnd(80_000),
            },
        })),
        &[],
    )
    .await;
    check(
        &l,
        &[post(4, 2, PostAmount::Partial(amount(12_000)))],
        at(12),
        Ok(vec![true]),
        &[
            (WALLET, [0, 12_000, 0, 100_000]),
            (METRO, [0, 0, 0, 12_000]),
        ],
    )
    .await;
    assert_eq!(
        l.pending_status(transfer_id(2)).await.unwrap(),
        PendingStatus::Posted {
            by: transfer_id(4),
            amount: amount(12_000)
        }
    );
    // Resolved once: a second post, a void, an expiry are all refused.
    let resolved = Err(Refusal::Conflict(Conflict::PendingResolved(transfer_id(2))));
    check(&l, &[post(5, 2, PostAmount::Full)], at(13), resolved, &[]).await;
    check(
        &l,
        &[void(5, 2)],
        at(13),
        Err(Refusal::Conflict(Conflict::PendingResolved(transfer_id(2)))),
        &[],
    )
    .await;
    assert_eq!(
        l.expire(transfer_id(2), at(99_999)).await.map_err(refusal),
        Err(Refusal::Conflict(Conflict::PendingResolved(transfer_id(2))))
    );
    // A repeat of the post is still a repeat.
    check(
        &l,
        &[post(4, 2, PostAmount::Partial(amount(12_000)))],
        at(14),
        Ok(vec![false]),
        &[(WALLET, [0, 12_000, 0, 100_000])],
    )
    .await;
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test]
async fn void_releases_and_full_post_moves_everything() {
    let (db, l) = ledger().await;
    check(
        &l,
        &[direct(1, CLEARING, WALLET, 50_000)],
        at(0),
        Ok(vec![true]),
        &[],
    )
    .await;
    check(
        &l,
        &[pending(2, WALLET, METRO, 30_000, 60), void(3, 2)],
        at(1),
        Ok(vec![true, true]),
        &[(WALLET, [0, 0, 0, 50_000]), (METRO, [0, 0, 0, 0])],
    )
    .await;
    check(
        &l,
        &[pending(4, WALLET, METRO, 30_000, 60)],
        at(2),
        Ok(vec![true]),
        &[],
    )
    .await;
    check(
        &l,
        &[post(5, 4, PostAmount::Full)],
        at(3),
        Ok(vec![true]),
        &[(WALLET, [0, 30_000, 0, 50_000]), (METRO, [0, 0, 0, 30_000])],
    )
    .await;
    assert_eq!(
        l.transfer(transfer_id(3)).await.unwrap().amount,
        amount(30_000)
    );
    check(
        &l,
        &[post(6, 1, PostAmount::Full)],
        at(4),
        Err(Refusal::Rejected(BatchError::Rejected {
            index: 0,
            id: transfer_id(6),
            error: TransferError::NotPending(transfer_id(1)),
        })),
        &[],
    )
    .await;
    check(
        &l,
        &[void(6, 77)],
        at(4),
        Err(Refusal::NotFound(Missing::Transfer(transfer_id(77)))),
        &[],
    )
    .await;
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test]
async fn pendings_expire_when_due_and_only_once() {
    let (db, l) = ledger().await;
    check(
        &l,
        &[direct(1, CLEARING, WALLET, 50_000)],
        at(0),
        Ok(vec![true]),
        &[],
    )
    .await;
    check(
        &l,
        &[
            pending(2, WALLET, METRO, 10_000, 100),
            pending(3, WALLET, METRO, 5_000, 50),
        ],
        at(0),
        Ok(vec![true, true]),
        &[(WALLET, [15_000, 0, 0, 50_000])],
    )
    .await;
    match l.expire(transfer_id(2), at(99)).await {
        Err(store_pg::StoreError::Expire(ExpireError::NotYetDue { expires_at, .. })) => {
            assert_eq!(expires_at, at(100));
        }
        other => panic!("expected NotYetDue, got {other:?}"),
    }
    // Past the timeout a pending can no longer be posted; the hold stays
    // until the expiry is recorded.
    check(
        &l,
        &[post(4, 2, PostAmount::Full)],
        at(100),
        Err(Refusal::Rejected(BatchError::Rejected {
            index: 0,
            id: transfer_id(4),
            error: TransferError::PendingExpired {
                pending_id: transfer_id(2),
                expires_at: at(100),
            },
        })),
        &[(WALLET, [15_000, 0, 0, 50_000])],
    )
    .await;
    assert_eq!(l.expire_due(at(49)).await.unwrap(), vec![]);
    let mut expired = l.expire_due(at(100)).await.unwrap();
    expired.sort();
    let mut expected = vec![transfer_id(2), transfer_id(3)];
    expected.sort();
    assert_eq!(expired, expected);
    assert_eq!(l.expire_due(at(100)).await.unwrap(), vec![]);
    assert_eq!(
        l.pending_status(transfer_id(3)).await.unwrap(),
        PendingStatus::Expired { at: at(100) }
    );
    check(
        &l,
        &[void(5, 2)],
        at(101),
        Err(Refusal::Conflict(Conflict::PendingResolved(transfer_id(2)))),
        &[(WALLET, [0, 0, 0, 50_000]), (METRO, [0, 0, 0, 0])],
    )
    .await;
    assert_audit_passes(&db).await;
    db.drop_now().await;
}
