//! Many writers at once: the wallet floor holds, a transfer id takes effect
//! once, and a pending transfer is resolved once, whoever wins the race.

use futures::future::join_all;
use ledger::{Outcome, PostAmount};

use crate::fixture::{
    CLEARING, METRO, Refusal, WALLET, account_id, amount, assert_audit_passes, at, direct, ledger,
    pending, post, refusal, totals, void,
};

/// Writers racing on one wallet.
const WRITERS: u128 = 20;
/// Debits each writer attempts.
const DEBITS_PER_WRITER: u128 = 25;
/// The wallet's opening balance and each debit, in dong: 20 × 25 × 300 =
/// 150,000 asked of 100,000, so a third must be refused.
const OPENING_VND: i64 = 100_000;
const DEBIT_VND: i64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_debits_never_cross_the_floor() {
    let (db, l) = ledger().await;
    l.apply(&[direct(1, CLEARING, WALLET, OPENING_VND)], at(0))
        .await
        .unwrap();
    let writers = (0..WRITERS).map(|w| {
        let l = l.clone();
        tokio::spawn(async move {
            let mut accepted = 0i64;
            for n in 0..DEBITS_PER_WRITER {
                let id = 1_000 + w * 1_000 + n * 2;
                // Half the writers hold then post, half debit at once.
                let result = if w % 2 == 0 {
                    l.apply(&[direct(id, WALLET, METRO, DEBIT_VND)], at(1))
                        .await
                } else {
                    match l
                        .apply(&[pending(id, WALLET, METRO, DEBIT_VND, 60)], at(1))
                        .await
                    {
                        Ok(_) => l.apply(&[post(id + 1, id, PostAmount::Full)], at(2)).await,
                        Err(error) => Err(error),
                    }
                };
                match result.map_err(refusal) {
                    Ok(_) => accepted += 1,
                    Err(Refusal::LimitExceeded {
                        account_id: Some(a),
                        ..
                    }) if a == account_id(WALLET) => {}
                    Err(other) => panic!("unexpected refusal {other:?}"),
                }
            }
            accepted
        })
    });
    let accepted: i64 = join_all(writers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    assert_eq!(accepted, OPENING_VND / DEBIT_VND);
    let spent = accepted * DEBIT_VND;
    assert_eq!(totals(&l, WALLET).await, [0, spent, 0, OPENING_VND]);
    assert_eq!(totals(&l, METRO).await, [0, 0, 0, spent]);
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_id_raced_by_many_takes_effect_once() {
    let (db, l) = ledger().await;
    let racers = (0..10).map(|_| {
        let l = l.clone();
        tokio::spawn(async move { l.apply(&[direct(7, CLEARING, WALLET, 5_000)], at(1)).await })
    });
    let outcomes: Vec<Outcome> = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().remove(0))
        .collect();
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Created(_)))
        .count();
    assert_eq!(created, 1);
    assert!(outcomes.windows(2).all(|p| p[0].record() == p[1].record()));
    assert_eq!(totals(&l, WALLET).await, [0, 0, 0, 5_000]);
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_resolutions_of_one_pending_leave_exactly_one_winner() {
    let (db, l) = ledger().await;
    l.apply(&[direct(1, CLEARING, WALLET, 50_000)], at(0))
        .await
        .unwrap();
    for round in 0..10u128 {
        let pending_id = 100 + round * 100;
        l.apply(&[pending(pending_id, WALLET, METRO, 1_000, 60)], at(1))
            .await
            .unwrap();
        let racers = (1..=6u128).map(|k| {
            let l = l.clone();
            tokio::spawn(async move {
                let id = pending_id + k;
                match k % 3 {
                    0 => l.apply(&[void(id, pending_id)], at(2)).await.map(|_| ()),
                    1 => l
                        .apply(&[post(id, pending_id, PostAmount::Full)], at(2))
                        .await
                        .map(|_| ()),
                    _ => {
                        l.expire(crate::fixture::transfer_id(pending_id), at(61))
                            .await
                    }
                }
                .map_err(refusal)
            })
        });
        let results: Vec<_> = join_all(racers)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, Refusal::Conflict(store_pg::Conflict::PendingResolved(_))),
                "{r:?}"
            );
        }
    }
    let wallet = totals(&l, WALLET).await;
    assert_eq!(wallet[0], 0, "no hold left behind");
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

/// Writers paying the shared operator account from wallets of their own.
const PAYING_WRITERS: u128 = 8;
/// Batches each paying writer posts.
const BATCHES_PER_WRITER: u128 = 12;

/// The operator's and the clearing account's totals are only locked at the
/// end of each write and the plan's change is carried onto them: writers on
/// other wallets, holding, posting, voiding and topping up at once, must
/// still leave every dong counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_other_wallets_share_the_unlimited_accounts_exactly() {
    let (db, l) = ledger().await;
    let wallets: Vec<u128> = (0..PAYING_WRITERS).map(|w| 10_000 + w).collect();
    for &wallet in &wallets {
        l.create_account(
            &ledger::Account::new(account_id(wallet), ledger::AccountKind::RiderWallet),
            at(0),
        )
        .await
        .unwrap();
    }
    let writers = wallets.iter().map(|&wallet| {
        let l = l.clone();
        tokio::spawn(async move {
            let mut spent = 0i64;
            let mut topped_up = 0i64;
            for b in 0..BATCHES_PER_WRITER {
                let id = wallet * 1_000_000 + b * 10;
                // A top-up from clearing, a fare, a hold posted in part and
                // a hold voided: every total of both shared accounts moves.
                let batch = [
                    direct(id, CLEARING, wallet, 10_000),
                    direct(id + 1, wallet, METRO, 700),
                    pending(id + 2, wallet, METRO, 2_000, 600),
                    post(id + 3, id + 2, PostAmount::Partial(amount(1_500))),
                    pending(id + 4, wallet, METRO, 900, 600),
                ];
                l.apply(&batch, at(1)).await.unwrap();
                l.apply(&[void(id + 5, id + 4)], at(2)).await.unwrap();
                // A hold left open across writers, posted later.
                l.apply(&[pending(id + 6, wallet, METRO, 300, 600)], at(3))
                    .await
                    .unwrap();
                l.apply(&[post(id + 7, id + 6, PostAmount::Full)], at(4))
                    .await
                    .unwrap();
                topped_up += 10_000;
                spent += 700 + 1_500 + 300;
            }
            (wallet, topped_up, spent)
        })
    });
    let mut all_spent = 0;
    let mut all_topped_up = 0;
    for result in join_all(writers).await {
        let (wallet, topped_up, spent) = result.unwrap();
        assert_eq!(totals(&l, wallet).await, [0, spent, 0, topped_up]);
        all_spent += spent;
        all_topped_up += topped_up;
    }
    assert_eq!(totals(&l, METRO).await, [0, 0, 0, all_spent]);
    assert_eq!(totals(&l, CLEARING).await, [0, all_topped_up, 0, 0]);
    assert_audit_passes(&db).await;
    db.drop_now().await;
}

/// Between two unlimited accounts nothing is locked until the end: a
/// transfer id raced there still takes effect once, and a hold there is
/// still resolved once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_between_unlimited_accounts_take_effect_once() {
    let (db, l) = ledger().await;
    let racers = (0..10).map(|_| {
        let l = l.clone();
        tokio::spawn(async move { l.apply(&[direct(7, CLEARING, METRO, 5_000)], at(1)).await })
    });
    let created = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().remove(0))
        .filter(|o| matches!(o, Outcome::Created(_)))
        .count();
    assert_eq!(created, 1);
    l.apply(&[pending(100, CLEARING, METRO, 1_000, 60)], at(1))
        .await
        .unwrap();
    let racers = (1..=6u128).map(|k| {
        let l = l.clone();
        tokio::spawn(async move {
            let id = 100 + k;
            if k % 2 == 0 {
                l.apply(&[void(id, 100)], at(2)).await
            } else {
                l.apply(&[post(id, 100, PostAmount::Full)], at(2)).await
            }
            .map_err(refusal)
        })
    });
    let winners = join_all(racers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(winners, 1);
    let metro = totals(&l, METRO).await;
    assert_eq!(metro[2], 0, "no hold left behind");
    assert!(metro[3] == 5_000 || metro[3] == 6_000, "{metro:?}");
    assert_audit_passes(&db).await;
    db.drop_now().await;
}
