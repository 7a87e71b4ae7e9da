//! Tests of [`reconcile`](crate::plan_adjust::reconcile) through the
//! in-memory ledger `Book`: a late tap on a settled day becomes adjustments
//! computed by hand; re-runs post nothing; and, as a property, settling the
//! early taps and then re-settling with late ones leaves every account
//! exactly where settling everything at once would.

use std::collections::BTreeSet;

use fares::engine::ServiceDay;
use ledger::{AccountId, Book, NormalSide, TransferBody, TransferRecord};
use proptest::prelude::*;

use crate::plan::{Carry, DayEvent, DayPlan, account_day_reference, plan_day};
use crate::plan_adjust::{LedgerFacts, PendingFact, Reconciled, reconcile};
use crate::plan_tests::{World, day, day_steps, post, world};

/// What the ledger holds for `plan`'s account-day, read from `book` the
/// way the Postgres store reads it.
fn facts(book: &Book, plan: &DayPlan) -> LedgerFacts {
    let reference = account_day_reference(plan.day, plan.account);
    let posted: Vec<TransferRecord> = book
        .transfers()
        .iter()
        .filter(|r| r.transfer.reference.as_ref() == Some(&reference))
        .cloned()
        .collect();
    let mut ids = BTreeSet::new();
    for t in &plan.transfers {
        match &t.body {
            TransferBody::Pending { .. } => {
                ids.insert(t.id);
            }
            TransferBody::Post { pending_id, .. } | TransferBody::Void { pending_id } => {
                ids.insert(*pending_id);
            }
            TransferBody::Direct(_) => {}
        }
    }
    ids.extend(
        posted
            .iter()
            .filter(|r| matches!(r.transfer.body, TransferBody::Pending { .. }))
            .map(TransferRecord::id),
    );
    let pendings = ids
        .into_iter()
        .filter_map(|id| {
            let record = book.transfer(id)?;
            matches!(record.transfer.body, TransferBody::Pending { .. }).then(|| {
                (
                    id,
                    PendingFact {
                        debit: record.debit_account_id,
                        credit: record.credit_account_id,
                        amount: record.amount.money(),
                        open: book.pending_status(id).is_some_and(|s| s.is_open()),
                    },
                )
            })
        })
        .collect();
    LedgerFacts { posted, pendings }
}

/// Plans a day, reconciles it with `book` and posts the result.
fn settle(
    w: &World,
    book: &mut Book,
    carry: &Carry,
    on: ServiceDay,
    events: &[DayEvent],
) -> (DayPlan, Reconciled) {
    let plan = plan_day(&w.engine, &w.chart, w.wallet, on, carry, events).expect("the day plans");
    let reconciled = reconcile(&plan, &facts(book, &plan)).expect("reconciles");
    post(book, &reconciled.transfers);
    (plan, reconciled)
}

#[test]
fn a_late_bus_on_a_capped_day_becomes_adjustments() {
    // Settled first with two metro trips BTH↔BXS (38,000, under the cap).
    // A bus 19 at 12:00 arrives late: the day is now capped at 40,000 and
    // re-apportioned (see the plan's capped-day test): HURC1 34,545,
    // SAMCO 5,455. HURC1 got 38,000: 3,455 go back to the wallet, and the
    // wallet pays SAMCO 5,455. Net: the wallet pays 2,000 more, the bus's
    // capped charge.
    let w = world();
    let early = [
        "03-02T07:00 topup 100000",
        "03-02T07:10 in BTH adult",
        "03-02T07:40 out BXS",
        "03-02T09:00 in BXS adult",
        "03-02T09:30 out BTH",
    ];
    let mut all = early.to_vec();
    all.push("03-02T12:00 bus 19 adult");
    let mut book = w.book();
    w.post_top_ups(&mut book, &w.events(&early));
    let (_, first) = settle(
        &w,
        &mut book,
        &Carry::default(),
        day("2026-03-02"),
        &w.events(&early),
    );
    assert_eq!(
        w.render(&first.transfers),
        [
            "fare hold wallet>HURC1 19000",
            "fare post full",
            "fare hold wallet>HURC1 19000",
            "fare post full",
        ]
    );
    let (_, late) = settle(
        &w,
        &mut book,
        &Carry::default(),
        day("2026-03-02"),
        &w.events(&all),
    );
    assert_eq!(
        w.render(&late.transfers),
        ["adjust HURC1>wallet 3455", "adjust wallet>SAMCO 5455"]
    );
    let (_, again) = settle(
        &w,
        &mut book,
        &Carry::default(),
        day("2026-03-02"),
        &w.events(&all),
    );
    assert!(again.transfers.is_empty(), "a re-run posts nothing");
    let wallet = book.balances(w.wallet).expect("wallet");
    assert_eq!(
        wallet.balance(NormalSide::Credit),
        Ok(ledger::Money::vnd(60_000))
    );
}

#[test]
fn a_late_tap_out_closes_a_carried_trip_on_its_own_day() {
    // First settlement: the trip entered at 02:00 is open at the close; the
    // next day's settlement has its tap out... which arrives late, stamped
    // 03:30 on the first day. Re-settling day 1 posts the fare from the
    // still-open hold (1 station, 6,000); day 2 then has nothing to do.
    let w = world();
    let early = ["03-02T20:00 topup 50000", "03-03T02:00 in BTH adult"];
    let mut all = early.to_vec();
    all.push("03-03T03:30 out NHT");
    let mut book = w.book();
    w.post_top_ups(&mut book, &w.events(&early));
    let (d1, _) = settle(
        &w,
        &mut book,
        &Carry::default(),
        day("2026-03-02"),
        &w.events(&early),
    );
    assert!(d1.end.trip.is_some());
    let (d1, late) = settle(
        &w,
        &mut book,
        &Carry::default(),
        day("2026-03-02"),
        &w.events(&all),
    );
    assert_eq!(w.render(&late.transfers), ["fare post 6000"]);
    let (_, d2) = settle(&w, &mut book, &d1.end, day("2026-03-03"), &[]);
    assert!(d2.transfers.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn late_taps_settle_to_the_same_balances_as_settling_everything_at_once(
        days in proptest::collection::vec(day_steps(), 1..4),
        late in proptest::collection::vec(proptest::bool::weighted(0.3), 160),
    ) {
        let w = world();
        let mut on = day("2026-03-30");
        let mut full = Vec::new();
        let mut early = Vec::new();
        let mut n = 0;
        for steps in &days {
            let events = w.random_events(on, steps);
            let mut kept = Vec::new();
            for event in &events {
                if !late.get(n).copied().unwrap_or(false) {
                    kept.push(event.clone());
                }
                n += 1;
            }
            full.push((on, events));
            early.push((on, kept));
            on = on.plus_days(1);
        }
        let all_events: Vec<DayEvent> = full.iter().flat_map(|(_, e)| e.clone()).collect();

        // At once.
        let mut once = w.book();
        w.post_top_ups(&mut once, &all_events);
        let mut carry = Carry::default();
        for (on, events) in &full {
            let (plan, reconciled) = settle(&w, &mut once, &carry, *on, events);
            prop_assert_eq!(&reconciled.transfers, &plan.transfers, "a first settlement posts the plan");
            carry = plan.end;
        }

        // Early taps first, then every day again with the late ones.
        let mut twice = w.book();
        w.post_top_ups(&mut twice, &all_events);
        for round in [&early, &full] {
            let mut carry = Carry::default();
            for (on, events) in round {
                let (plan, _) = settle(&w, &mut twice, &carry, *on, events);
                carry = plan.end;
            }
        }
        // And once more: nothing left to do.
        let mut carry = Carry::default();
        for (on, events) in &full {
            let (plan, reconciled) = settle(&w, &mut twice, &carry, *on, events);
            prop_assert!(reconciled.transfers.is_empty(), "re-run posted {:?}", reconciled.transfers);
            carry = plan.end;
        }

        let mut accounts: Vec<AccountId> = vec![w.wallet, w.chart.unearned, w.chart.penalties];
        accounts.extend(w.chart.operators.values().copied());
        for id in accounts {
            let (a, b) = (once.balances(id).expect("exists"), twice.balances(id).expect("exists"));
            prop_assert_eq!(a.balance(NormalSide::Credit), b.balance(NormalSide::Credit), "{}", w.name(id));
            prop_assert_eq!(
                (a.debits_pending, a.credits_pending),
                (b.debits_pending, b.credits_pending),
                "{}", w.name(id)
            );
        }
    }
}
