//! Tests of [`plan_day`](crate::plan::plan_day): days computed by hand from
//! `specs/hcmc-fares.md` on the shipped `hcmc` configuration, refusals of
//! bad input, and property tests that drive random days through the
//! in-memory ledger `Book` (which applies the same rules as Postgres).
//!
//! Events are written one per line, `MM-DDTHH:MM event args` on 2026 local
//! time (+07:00), like the engine's own tests; a trailing `!deny` marks an
//! event the gate denied, `@CODE` names the terminal's operator.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use fares::engine::{Engine, EventKind, ParkExit, ServiceDay};
use ledger::{
    Account, AccountId, AccountKind, BalanceLimit, Book, Money, OperatorId, ProviderId, Transfer,
    TransferBody, TransferCode,
};
use proptest::prelude::*;
use uuid::Uuid;

use crate::plan::{
    Carry, Chart, DayEvent, EventKey, HOLD_TIMEOUT_S, LineKind, PlanError, Provisional, Settled,
    Verdict, plan_day,
};
use crate::plan_ids::{operator_account_id, penalties_account_id, unearned_account_id};

const OPERATORS: [&str; 3] = ["SAMCO", "HURC1", "D1_PARKING"];
const ROUTES: [&str; 8] = ["01", "56", "19", "53", "93", "33", "150", "13"];
const STATIONS: [&str; 14] = [
    "BTH", "NHT", "BSO", "VTH", "TCA", "TDI", "APH", "RCH", "PLO", "BTA", "TDU", "KCN", "DHQ",
    "BXS",
];
const CATEGORIES: [&str; 3] = ["adult", "student", "exempt"];
const PASSES: [&str; 5] = [
    "metro_day",
    "metro_3day",
    "metro_month",
    "parking_month_motorbike",
    "parking_month_car",
];
const LOTS: [&str; 4] = ["BTH-P", "TDI-P", "BXS-P", "D1-CAR"];
/// A wallet's overdraft limit in the test book: parking may overdraw it.
const TEST_OVERDRAFT_VND: i64 = 1_000_000_000;

pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) chart: Chart,
    pub(crate) wallet: AccountId,
    clearing: AccountId,
}

pub(crate) fn world() -> World {
    let engine = Engine::hcmc().expect("the shipped configuration compiles");
    let operators = OPERATORS
        .iter()
        .map(|code| {
            let op = OperatorId::parse(code).expect("valid code");
            let id = operator_account_id(&op);
            (op, id)
        })
        .collect();
    let pass_owners = crate::config::pass_owners(&engine, &fares::engine::hcmc_files())
        .expect("the shipped passes have owners");
    World {
        engine,
        chart: Chart {
            unearned: unearned_account_id(),
            penalties: penalties_account_id(),
            operators,
            pass_owners,
        },
        wallet: AccountId::new(Uuid::from_u128(0x1000)).expect("not reserved"),
        clearing: AccountId::new(Uuid::from_u128(0x2000)).expect("not reserved"),
    }
}

pub(crate) fn day(s: &str) -> ServiceDay {
    ServiceDay::from_date(s.parse().expect("ISO date"))
}

impl World {
    pub(crate) fn event(&self, index: usize, line: &str) -> DayEvent {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let mut provisional = None;
        let mut operator = None;
        words.retain(|w| {
            if *w == "!deny" {
                provisional = Some(Provisional {
                    verdict: Verdict::Deny,
                    amount: Money::ZERO,
                });
                false
            } else if let Some(code) = w.strip_prefix('@') {
                operator = Some(OperatorId::parse(code).expect("valid code"));
                false
            } else {
                true
            }
        });
        let at = DateTime::parse_from_rfc3339(&format!("2026-{}:00+07:00", words[0]))
            .expect("MM-DDTHH:MM");
        let e = &self.engine;
        let kind = match words[1] {
            "topup" => EventKind::TopUp {
                amount: Money::vnd(words[2].parse().expect("amount")),
            },
            "bus" => EventKind::Bus {
                route: e.route(words[2]).expect("route"),
                category: e.category(words[3]).expect("category"),
            },
            "in" => EventKind::MetroIn {
                station: e.station(words[2]).expect("station"),
                category: e.category(words[3]).expect("category"),
            },
            "out" => EventKind::MetroOut {
                station: e.station(words[2]).expect("station"),
            },
            "buy" => EventKind::BuyPass {
                product: e.pass(words[2]).expect("pass"),
                category: e.category(words[3]).expect("category"),
            },
            "park_in" => EventKind::ParkIn {
                lot: e.lot(words[2]).expect("lot"),
            },
            "park_out" => EventKind::ParkOut {
                lot: e.lot(words[2]).expect("lot"),
                exit: ParkExit::WithMedium,
            },
            "park_lost" => EventKind::ParkOut {
                lot: e.lot(words[2]).expect("lot"),
                exit: ParkExit::LostTicket,
            },
            other => panic!("unknown step {other}"),
        };
        DayEvent {
            key: EventKey::parse(&format!("T:{}:{index}", words[0])).expect("valid key"),
            at,
            kind,
            operator,
            provisional,
        }
    }

    pub(crate) fn events(&self, lines: &[&str]) -> Vec<DayEvent> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| self.event(i, l))
            .collect()
    }

    pub(crate) fn name(&self, id: AccountId) -> String {
        if id == self.wallet {
            return "wallet".into();
        }
        if id == self.chart.unearned {
            return "unearned".into();
        }
        if id == self.chart.penalties {
            return "penalties".into();
        }
        self.chart
            .operators
            .iter()
            .find(|(_, a)| **a == id)
            .map_or_else(|| id.to_string(), |(op, _)| op.to_string())
    }

    /// `code kind debit>credit amount` for each transfer.
    pub(crate) fn render(&self, transfers: &[Transfer]) -> Vec<String> {
        transfers
            .iter()
            .map(|t| {
                let code = code_name(t.code);
                match &t.body {
                    TransferBody::Direct(m) => format!(
                        "{code} {}>{} {}",
                        self.name(m.debit_account_id),
                        self.name(m.credit_account_id),
                        m.amount.money().as_vnd()
                    ),
                    TransferBody::Pending { movement: m, .. } => format!(
                        "{code} hold {}>{} {}",
                        self.name(m.debit_account_id),
                        self.name(m.credit_account_id),
                        m.amount.money().as_vnd()
                    ),
                    TransferBody::Post { amount, .. } => match amount {
                        ledger::PostAmount::Full => format!("{code} post full"),
                        ledger::PostAmount::Partial(a) => {
                            format!("{code} post {}", a.money().as_vnd())
                        }
                    },
                    TransferBody::Void { .. } => format!("{code} void"),
                }
            })
            .collect()
    }

    pub(crate) fn plan(
        &self,
        start: &Carry,
        on: &str,
        lines: &[&str],
    ) -> Result<crate::plan::DayPlan, PlanError> {
        plan_day(
            &self.engine,
            &self.chart,
            self.wallet,
            day(on),
            start,
            &self.events(lines),
        )
    }

    /// A book with the chart's accounts and a wallet that may be overdrawn
    /// by parking.
    pub(crate) fn book(&self) -> Book {
        let mut book = Book::new();
        let wallet = Account::new(self.wallet, AccountKind::RiderWallet)
            .with_limit(BalanceLimit::DebitsMustNotExceedCredits {
                overdraft_limit: Money::vnd(TEST_OVERDRAFT_VND),
            })
            .expect("a positive overdraft limit is valid");
        book.create_account(wallet).expect("new account");
        let provider = ProviderId::parse("VNPAY").expect("valid code");
        book.create_account(Account::new(
            self.clearing,
            AccountKind::ProviderClearing {
                provider_id: provider,
            },
        ))
        .expect("new account");
        book.create_account(Account::new(
            self.chart.unearned,
            AccountKind::UnearnedPassRevenue,
        ))
        .expect("new account");
        book.create_account(Account::new(self.chart.penalties, AccountKind::Penalties))
            .expect("new account");
        for (operator, id) in &self.chart.operators {
            book.create_account(Account::new(
                *id,
                AccountKind::OperatorRevenue {
                    operator_id: operator.clone(),
                },
            ))
            .expect("new account");
        }
        book
    }

    /// Posts the day's top-ups (as the payment path does, when they
    /// happen), then the plan's batch.
    pub(crate) fn apply(&self, book: &mut Book, events: &[DayEvent], plan: &crate::plan::DayPlan) {
        self.post_top_ups(book, events);
        post(book, &plan.transfers);
    }

    /// Posts the top-ups among `events`, as the payment path does when
    /// they happen.
    pub(crate) fn post_top_ups(&self, book: &mut Book, events: &[DayEvent]) {
        for event in events {
            let gate_denied = event
                .provisional
                .is_some_and(|p| p.verdict == Verdict::Deny);
            if let (EventKind::TopUp { amount }, false) = (event.kind, gate_denied) {
                // Top-ups are posted by the payment path; any unique id will do.
                let id = crate::plan_ids::settlement_transfer_id(
                    self.engine.calendar().service_day(event.at),
                    self.wallet,
                    crate::plan_ids::Source::Event(event.key.as_str()),
                    "test-top-up",
                );
                let top_up = Transfer {
                    id,
                    code: TransferCode::TopUp,
                    reference: None,
                    body: TransferBody::Direct(ledger::Movement {
                        debit_account_id: self.clearing,
                        credit_account_id: self.wallet,
                        amount: ledger::Amount::new(amount).expect("positive top-up"),
                        currency: ledger::Currency::VND,
                        // The ledger checks both accounts' limits even on a
                        // credit: a top-up into a wallet that parking
                        // overdrew must allow the overdraft to land.
                        overdraft: ledger::Overdraft::Allowed,
                    }),
                };
                post(book, &[top_up]);
            }
        }
    }
}

/// Applies `transfers` as one batch (nothing for an empty list).
pub(crate) fn post(book: &mut Book, transfers: &[Transfer]) {
    let now = DateTime::<Utc>::from_timestamp(1_900_000_000, 0).expect("valid time");
    if !transfers.is_empty() {
        book.apply(transfers, now)
            .unwrap_or_else(|e| panic!("the ledger refused the batch: {e}\n{transfers:#?}"));
    }
}

fn code_name(code: TransferCode) -> &'static str {
    match code {
        TransferCode::Fare => "fare",
        TransferCode::ParkingFee => "parking",
        TransferCode::PassSale => "pass_sale",
        TransferCode::PassRecognition => "recognise",
        TransferCode::Penalty => "penalty",
        TransferCode::Adjustment => "adjust",
        other => panic!("settlement never posts {other:?}"),
    }
}

/// Plans `lines` on `on` from `start` and checks the rendered transfers.
fn check(start: &Carry, on: &str, lines: &[&str], expected: &[&str]) -> crate::plan::DayPlan {
    let w = world();
    let plan = w.plan(start, on, lines).expect("the day plans");
    assert_eq!(
        w.render(&plan.transfers),
        expected,
        "transfers of {lines:#?}"
    );
    assert!(plan.totals.balanced(), "{:?}", plan.totals);
    let mut book = w.book();
    w.apply(&mut book, &w.events(lines), &plan);
    plan
}

#[test]
fn the_specs_worked_example_settles_leg_by_leg() {
    // Spec §9: bus 19 (6,000); metro BTH→BXS after the bus, 13 stations,
    // 19,000 − 3,000 transfer discount = 16,000 posted from the 19,000
    // hold; a day pass 40,000; 2 h at BXS-P with no tap in during the stay,
    // 4,000 per started 12 h. The pass is never used: at the day's close its
    // 40,000 go to its owner.
    let plan = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 100000",
            "03-02T07:05 bus 19 adult",
            "03-02T07:40 in BTH adult",
            "03-02T08:02 out BXS",
            "03-02T08:10 buy metro_day adult",
            "03-02T17:00 park_in BXS-P",
            "03-02T19:00 park_out BXS-P",
        ],
        &[
            "fare wallet>SAMCO 6000",
            "fare hold wallet>HURC1 19000",
            "fare post 16000",
            "pass_sale wallet>unearned 40000",
            "parking wallet>HURC1 4000",
            "recognise unearned>HURC1 40000",
        ],
    );
    // 6,000 + 16,000 + 40,000 + 4,000 from the wallet.
    assert_eq!(plan.totals.rider_debits, Money::vnd(66_000));
    assert_eq!(plan.totals.operator_credits, Money::vnd(66_000));
    assert_eq!(plan.totals.pass_sales, Money::vnd(40_000));
    assert_eq!(plan.totals.pass_recognitions, Money::vnd(40_000));
    assert_eq!(plan.end.state.balance, Money::vnd(34_000));
    assert!(plan.end.passes.is_empty() && plan.end.trip.is_none());
}

#[test]
fn a_capped_day_is_apportioned_pro_rata_to_full_fares() {
    // Two metro trips BTH↔BXS at 19,000 (metro to metro: no discount) and a
    // bus 19 over an hour later (no discount): 38,000 + min(6,000, 40,000 −
    // 38,000) = 40,000, the adult daily cap. Full fares: HURC1 38,000,
    // SAMCO 6,000, Σ 44,000. Exact shares 34,545.45… and 5,454.54…: the
    // spare dong goes to the larger remainder, SAMCO → 34,545 and 5,455.
    // HURC1's share over its two equal legs: 17,272.5 each, the spare dong
    // to the earlier leg → 17,273 and 17,272.
    let plan = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 100000",
            "03-02T07:10 in BTH adult",
            "03-02T07:40 out BXS",
            "03-02T09:00 in BXS adult",
            "03-02T09:30 out BTH",
            "03-02T12:00 bus 19 adult",
        ],
        &[
            "fare hold wallet>HURC1 19000",
            "fare post 17273",
            "fare hold wallet>HURC1 19000",
            "fare post 17272",
            "fare wallet>SAMCO 5455",
        ],
    );
    assert_eq!(plan.totals.rider_debits, Money::vnd(40_000));
    let bus = plan.lines.last().expect("the bus line");
    assert_eq!(
        (
            bus.full_fare,
            bus.cap_reduction,
            bus.fare_charged,
            bus.fare_settled
        ),
        (
            Money::vnd(6_000),
            Money::vnd(4_000),
            Money::vnd(2_000),
            Money::vnd(5_455)
        )
    );
}

#[test]
fn incomplete_journeys_post_the_hold_to_the_operator_as_a_penalty() {
    // Tap in twice: the first trip is incomplete (its 19,000 hold is the
    // charge). The second is tapped out after 180 minutes: incomplete too.
    // A third trip entered at 23:00 is overdue at the day's close (03:59:59
    // is 5 h later) and closes there.
    let plan = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T06:00 topup 100000",
            "03-02T07:00 in BTH adult",
            "03-02T08:00 in BTH adult",
            "03-02T11:01 out NHT",
            "03-02T23:00 in TDI adult",
        ],
        &[
            "fare hold wallet>HURC1 19000",
            "penalty post full",
            "fare hold wallet>HURC1 19000",
            "penalty post full",
            "fare hold wallet>HURC1 19000",
            "penalty post full",
        ],
    );
    assert_eq!(plan.totals.rider_debits, Money::vnd(57_000));
    assert_eq!(plan.totals.penalties, Money::ZERO);
    let incomplete: Vec<_> = plan
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::IncompleteTrip)
        .map(|l| l.incomplete_charge.as_vnd())
        .collect();
    assert_eq!(incomplete, [19_000, 19_000, 19_000]);
}

#[test]
fn a_trip_open_at_the_close_is_resolved_by_the_next_day() {
    // Entered at 02:00 (day 03-02): only 2 h before the close, so it stays
    // open with its hold pending. The next day's tap out at 04:30 (150 min
    // after entry) is one station: 6,000 posted from the hold.
    let w = world();
    let first = w
        .plan(
            &Carry::default(),
            "2026-03-02",
            &["03-02T20:00 topup 50000", "03-03T02:00 in BTH adult"],
        )
        .expect("the day plans");
    assert_eq!(w.render(&first.transfers), ["fare hold wallet>HURC1 19000"]);
    assert!(first.end.trip.as_ref().and_then(|t| t.pending_id).is_some());
    let second = w
        .plan(&first.end, "2026-03-03", &["03-03T04:30 out NHT"])
        .expect("the day plans");
    assert_eq!(w.render(&second.transfers), ["fare post 6000"]);
    let mut book = w.book();
    w.apply(&mut book, &w.events(&["03-02T20:00 topup 50000"]), &first);
    w.apply(&mut book, &[], &second);
    let wallet = book.balances(w.wallet).expect("wallet exists");
    assert_eq!(
        (wallet.debits_pending, wallet.debits_posted),
        (Money::ZERO, Money::vnd(6_000))
    );
    assert_eq!(second.end.state.balance, Money::vnd(44_000));
}

#[test]
fn pass_rides_recognise_their_full_fare_until_the_price_is_used() {
    // A 3-day pass (90,000) bought on 03-02 and ridden BTH→BXS (19,000 full
    // fare each): 03-02 two rides, 03-03 two rides (76,000 recognised), a
    // cancelled trip (same station within 20 min: fare 0, nothing
    // recognised), 03-04 one ride recognises the 14,000 left. No holds on a
    // pass. A bus is not covered by a metro pass and pays.
    let w = world();
    let d1 = w
        .plan(
            &Carry::default(),
            "2026-03-02",
            &[
                "03-02T07:00 topup 200000",
                "03-02T07:05 buy metro_3day adult",
                "03-02T07:10 in BTH adult",
                "03-02T07:40 out BXS",
                "03-02T17:10 in BXS adult",
                "03-02T17:40 out BTH",
            ],
        )
        .expect("plans");
    assert_eq!(
        w.render(&d1.transfers),
        [
            "pass_sale wallet>unearned 90000",
            "recognise unearned>HURC1 19000",
            "recognise unearned>HURC1 19000",
        ]
    );
    let d2 = w
        .plan(
            &d1.end,
            "2026-03-03",
            &[
                "03-03T07:10 in BTH adult",
                "03-03T07:40 out BXS",
                "03-03T12:00 in TDI adult",
                "03-03T12:10 out TDI",
                "03-03T17:10 in BXS adult",
                "03-03T17:40 out BTH",
                "03-03T20:00 bus 01 adult",
            ],
        )
        .expect("plans");
    assert_eq!(
        w.render(&d2.transfers),
        [
            "recognise unearned>HURC1 19000",
            "recognise unearned>HURC1 19000",
            "fare wallet>SAMCO 5000",
        ]
    );
    let d3 = w
        .plan(
            &d2.end,
            "2026-03-04",
            &["03-04T07:10 in BTH adult", "03-04T07:40 out BXS"],
        )
        .expect("plans");
    assert_eq!(w.render(&d3.transfers), ["recognise unearned>HURC1 14000"]);
    assert!(
        d3.end.passes.is_empty(),
        "the pass expired at its last close"
    );
}

#[test]
fn an_unused_remainder_is_recognised_at_expiry_pro_rata_to_use() {
    // A day pass (40,000) ridden once BTH→NHT (6,000): 34,000 are left at
    // the close and go to HURC1, the only operator it covered.
    check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 50000",
            "03-02T07:05 buy metro_day adult",
            "03-02T07:10 in BTH adult",
            "03-02T07:20 out NHT",
        ],
        &[
            "pass_sale wallet>unearned 40000",
            "recognise unearned>HURC1 6000",
            "recognise unearned>HURC1 34000",
        ],
    );
}

#[test]
fn exempt_riders_and_cancelled_trips_move_no_money() {
    // Exempt: no hold, fare 0. Cancelled (same station within 20 min): the
    // hold is voided.
    check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 50000",
            "03-02T07:10 in BTH exempt",
            "03-02T07:40 out BXS",
            "03-02T08:00 bus 19 exempt",
            "03-02T09:00 in BTH adult",
            "03-02T09:05 out BTH",
        ],
        &["fare hold wallet>HURC1 19000", "fare void"],
    );
}

#[test]
fn gate_denials_are_not_repriced_and_repriced_denials_charge_nothing() {
    // The gate denied the first bus: not re-priced, even though the wallet
    // could pay. The second bus was accepted at the gate, but re-priced
    // after the wallet paid for the first metro trip it cannot be paid.
    let w = world();
    let plan = w
        .plan(
            &Carry::default(),
            "2026-03-02",
            &[
                "03-02T07:00 topup 20000",
                "03-02T07:05 bus 19 adult !deny",
                "03-02T07:10 in BTH adult",
                "03-02T07:40 out BXS",
                "03-02T09:00 bus 13 adult",
            ],
        )
        .expect("plans");
    assert_eq!(
        w.render(&plan.transfers),
        ["fare hold wallet>HURC1 19000", "fare post full"]
    );
    let settled: Vec<Settled> = plan.lines.iter().map(|l| l.settled).collect();
    assert_eq!(
        settled,
        [
            Settled::Accept,
            Settled::GateDenied,
            Settled::Accept,
            Settled::Accept,
            Settled::Deny
        ]
    );
}

#[test]
fn parking_may_overdraw_and_pays_the_terminals_operator() {
    // 90 minutes in the city car park: 2 started hours × 25,000 = 50,000
    // from a 30,000 wallet (exit is always allowed). The terminal's
    // operator (registry) wins over the engine's.
    let plan = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 30000",
            "03-02T08:00 park_in D1-CAR",
            "03-02T09:30 park_out D1-CAR @SAMCO",
        ],
        &["parking wallet>SAMCO 50000"],
    );
    assert_eq!(plan.end.state.balance, Money::vnd(-20_000));
    let TransferBody::Direct(m) = &plan.transfers[0].body else {
        panic!("a direct transfer");
    };
    assert_eq!(m.overdraft, ledger::Overdraft::Allowed);
    // A wallet opened without an overdraft limit refuses it: the limit is
    // the hard floor.
    let w = world();
    let mut book = Book::new();
    book.create_account(Account::new(w.wallet, AccountKind::RiderWallet))
        .expect("new account");
    book.create_account(Account::new(
        w.chart.operators[&OperatorId::parse("SAMCO").expect("valid")],
        AccountKind::OperatorRevenue {
            operator_id: OperatorId::parse("SAMCO").expect("valid"),
        },
    ))
    .expect("new account");
    let now = DateTime::<Utc>::from_timestamp(1_900_000_000, 0).expect("valid time");
    assert!(book.apply(&plan.transfers, now).is_err());
}

#[test]
fn a_lost_ticket_pays_the_stay_and_the_lots_fee_to_the_lot_operator() {
    // 2 hours at BTH-P: 4,000; the lost-ticket fee of its tariff: 8,000,
    // as a transfer of its own to the same operator (not to penalties).
    let plan = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 100000",
            "03-02T08:00 park_in BTH-P",
            "03-02T10:00 park_lost BTH-P",
            // Within the grace: only the lost-ticket fee.
            "03-02T11:00 park_in D1-CAR",
            "03-02T11:05 park_lost D1-CAR",
        ],
        &[
            "parking wallet>HURC1 4000",
            "parking wallet>HURC1 8000",
            "parking wallet>D1_PARKING 150000",
        ],
    );
    assert_eq!(plan.end.state.balance, Money::vnd(-62_000));
    assert_eq!(plan.totals.penalties, Money::ZERO);
    assert_eq!(plan.totals.operator_credits, Money::vnd(162_000));
    let exits: Vec<(i64, i64)> = plan
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::ParkOut)
        .map(|l| (l.parking_fee.as_vnd(), l.lost_ticket_fee.as_vnd()))
        .collect();
    assert_eq!(exits, [(4_000, 8_000), (0, 150_000)]);
    // The statements count it as the lot operator's parking revenue.
    let parts = crate::inputs::operator_parts(&plan.lines).expect("small sums");
    let parking: Vec<(&str, i64)> = parts
        .iter()
        .map(|p| (p.operator_id.as_str(), p.parking_vnd))
        .collect();
    assert_eq!(parking, [("D1_PARKING", 150_000), ("HURC1", 12_000)]);
}

#[test]
fn a_permit_is_sold_like_a_pass_and_recognised_by_the_stays_it_covers() {
    let w = world();
    // 12 h 30 min at BTH-P would cost 2 blocks, 8,000: the permit saves it
    // all, so 8,000 of its price is recognised to the lot's operator.
    let first = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 300000",
            "03-02T07:30 buy parking_month_motorbike adult",
            "03-02T08:00 park_in BTH-P",
            "03-02T20:30 park_out BTH-P",
        ],
        &[
            "pass_sale wallet>unearned 100000",
            "recognise unearned>HURC1 8000",
        ],
    );
    let exit = first.lines.last().expect("the exit line");
    assert_eq!(
        (exit.parking_fee, exit.pass_recognised, exit.pass),
        (
            Money::ZERO,
            Money::vnd(8_000),
            w.engine.pass("parking_month_motorbike")
        )
    );
    assert_eq!(first.end.passes.len(), 1);
    assert_eq!(first.end.passes[0].unearned, Money::vnd(92_000));
    // The next day, a lost ticket under the permit: the stay (4,000 of
    // tariff) is recognised, the lost-ticket fee is charged.
    let second = w
        .plan(
            &first.end,
            "2026-03-03",
            &["03-03T07:00 park_in BXS-P", "03-03T09:00 park_lost BXS-P"],
        )
        .expect("the day plans");
    assert_eq!(
        w.render(&second.transfers),
        ["parking wallet>HURC1 8000", "recognise unearned>HURC1 4000"]
    );
    assert!(second.totals.balanced());
    assert_eq!(second.end.passes[0].unearned, Money::vnd(88_000));
    // A car permit never used goes to its lot's operator at its expiry.
    let bought = check(
        &Carry::default(),
        "2026-03-02",
        &[
            "03-02T07:00 topup 2000000",
            "03-02T07:30 buy parking_month_car adult",
        ],
        &["pass_sale wallet>unearned 2000000"],
    );
    let expired = w
        .plan(&bought.end, "2026-03-31", &[])
        .expect("the day plans");
    assert_eq!(
        w.render(&expired.transfers),
        ["recognise unearned>D1_PARKING 2000000"]
    );
}

#[test]
fn bad_input_is_refused_with_a_typed_error() {
    let w = world();
    let check = |start: &Carry, on: &str, lines: &[&str], expected: PlanError| {
        assert_eq!(w.plan(start, on, lines), Err(expected), "{lines:?}");
    };
    let key = |s: &str| EventKey::parse(s).expect("valid key");
    check(
        &Carry::default(),
        "2026-03-02",
        &["03-02T09:00 topup 1000", "03-02T08:00 topup 1000"],
        PlanError::OutOfOrder(key("T:03-02T08:00:1")),
    );
    check(
        &Carry::default(),
        "2026-03-02",
        &["03-03T04:00 topup 1000"],
        PlanError::WrongDay {
            key: key("T:03-03T04:00:0"),
            expected: day("2026-03-02"),
            actual: day("2026-03-03"),
        },
    );
    let mut open = Carry::default();
    open.state.open_trip = Some(fares::engine::state::OpenTrip {
        station: w.engine.station("BTH").expect("station"),
        entered_at_s: 0,
        entry_day: day("2026-03-01"),
        hold: Money::vnd(19_000),
        category: w.engine.category("adult").expect("category"),
        discount: Money::ZERO,
        coverage: fares::engine::Coverage::Fare,
    });
    check(
        &open,
        "2026-03-02",
        &[],
        PlanError::CarryMismatch("the engine's open trip and the carried trip disagree"),
    );
    let mut no_samco = world();
    no_samco
        .chart
        .operators
        .retain(|op, _| op.as_str() != "SAMCO");
    assert_eq!(
        no_samco.plan(
            &Carry::default(),
            "2026-03-02",
            &["03-02T07:00 topup 9000", "03-02T07:05 bus 19 adult"]
        ),
        Err(PlanError::NoOperatorAccount(
            OperatorId::parse("SAMCO").expect("valid")
        ))
    );
    let many: Vec<String> = (0..=crate::plan::MAX_EVENTS_PER_ACCOUNT_DAY)
        .map(|_| "03-02T07:00 topup 1000".to_owned())
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    check(
        &Carry::default(),
        "2026-03-02",
        &many,
        PlanError::TooManyEvents(crate::plan::MAX_EVENTS_PER_ACCOUNT_DAY + 1),
    );
}

#[test]
fn event_keys_are_bounded_printable_ascii() {
    let check = |key: &str, ok: bool| assert_eq!(EventKey::parse(key).is_ok(), ok, "{key:?}");
    check("T1:0:42", true);
    check(&"k".repeat(crate::plan::MAX_EVENT_KEY_BYTES), true);
    check(&"k".repeat(crate::plan::MAX_EVENT_KEY_BYTES + 1), false);
    check("", false);
    check("tab\tkey", false);
    check("phở", false);
}

#[test]
fn holds_outlive_the_next_days_settlement() {
    // The next day closes 24 h after this one, plus the journal grace.
    assert!(i64::from(HOLD_TIMEOUT_S) > 3 * 24 * 3600);
}

// ---- Property tests ----

/// One random event: which kind and its arguments, as indices into the
/// test's id lists.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    TopUp(i64),
    Bus(usize, usize),
    In(usize, usize),
    Out(usize),
    Buy(usize, usize),
    ParkIn(usize),
    ParkOut(usize, ParkExit),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop_oneof![Just(5_000i64), Just(20_000), Just(100_000)].prop_map(Step::TopUp),
        (0..ROUTES.len(), 0..CATEGORIES.len()).prop_map(|(r, c)| Step::Bus(r, c)),
        (0..STATIONS.len(), 0..CATEGORIES.len()).prop_map(|(s, c)| Step::In(s, c)),
        (0..STATIONS.len()).prop_map(Step::Out),
        (0..PASSES.len(), 0..CATEGORIES.len()).prop_map(|(p, c)| Step::Buy(p, c)),
        (0..LOTS.len()).prop_map(Step::ParkIn),
        (
            0..LOTS.len(),
            prop_oneof![Just(ParkExit::WithMedium), Just(ParkExit::LostTicket)]
        )
            .prop_map(|(l, exit)| Step::ParkOut(l, exit)),
    ]
}

/// A day of random steps: (gap in minutes, step, denied at the gate).
pub(crate) fn day_steps() -> impl Strategy<Value = Vec<(i64, Step, bool)>> {
    proptest::collection::vec((0i64..150, step(), proptest::bool::weighted(0.1)), 0..40)
}

impl World {
    /// Turns random steps into the events of `on`, keeping every event
    /// within the day.
    pub(crate) fn random_events(
        &self,
        on: ServiceDay,
        steps: &[(i64, Step, bool)],
    ) -> Vec<DayEvent> {
        let (start, end) = crate::day::day_bounds(self.engine.calendar(), on).expect("a real day");
        let e = &self.engine;
        let mut at = start + TimeDelta::minutes(30);
        let mut events = Vec::new();
        for (index, (gap_min, step, denied)) in steps.iter().enumerate() {
            at += TimeDelta::minutes(*gap_min);
            if at >= end {
                break;
            }
            let kind = match *step {
                Step::TopUp(amount) => EventKind::TopUp {
                    amount: Money::vnd(amount),
                },
                Step::Bus(r, c) => EventKind::Bus {
                    route: e.route(ROUTES[r]).expect("route"),
                    category: e.category(CATEGORIES[c]).expect("category"),
                },
                Step::In(s, c) => EventKind::MetroIn {
                    station: e.station(STATIONS[s]).expect("station"),
                    category: e.category(CATEGORIES[c]).expect("category"),
                },
                Step::Out(s) => EventKind::MetroOut {
                    station: e.station(STATIONS[s]).expect("station"),
                },
                Step::Buy(p, c) => EventKind::BuyPass {
                    product: e.pass(PASSES[p]).expect("pass"),
                    category: e.category(CATEGORIES[c]).expect("category"),
                },
                Step::ParkIn(l) => EventKind::ParkIn {
                    lot: e.lot(LOTS[l]).expect("lot"),
                },
                Step::ParkOut(l, exit) => EventKind::ParkOut {
                    lot: e.lot(LOTS[l]).expect("lot"),
                    exit,
                },
            };
            events.push(DayEvent {
                key: EventKey::parse(&format!("{on}:{index}")).expect("valid key"),
                at: at.fixed_offset(),
                kind,
                operator: None,
                provisional: denied.then_some(Provisional {
                    verdict: Verdict::Deny,
                    amount: Money::ZERO,
                }),
            });
        }
        events
    }

    /// What the wallet pays for the day according to the engine alone:
    /// every re-priced event's charges and the close's incomplete trip.
    fn engine_charges(&self, start: &Carry, on: ServiceDay, events: &[DayEvent]) -> Money {
        let mut state = start.state.clone();
        let mut total = Money::ZERO;
        for event in events {
            if event
                .provisional
                .is_some_and(|p| p.verdict == Verdict::Deny)
            {
                continue;
            }
            let occupancy = match event.kind {
                EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => {
                    Some(fares::engine::LotOccupancy { lot, occupied: 0 })
                }
                _ => None,
            };
            let decided = self
                .engine
                .decide(
                    &state,
                    occupancy,
                    &fares::engine::Event {
                        at: event.at,
                        kind: event.kind,
                    },
                )
                .expect("valid events");
            let b = decided.outcome.breakdown;
            total = Money::checked_sum([
                total,
                b.fare_charged,
                b.incomplete_charge,
                b.pass_price,
                b.parking_fee,
                b.lost_ticket_fee,
            ])
            .expect("small sums");
            state = decided.state;
        }
        let (_, end) = crate::day::day_bounds(self.engine.calendar(), on).expect("a real day");
        if let Some(closed) = self
            .engine
            .expire_trip(&mut state, (end - TimeDelta::seconds(1)).fixed_offset())
            .expect("valid state")
        {
            total = total
                .checked_add(closed.breakdown.incomplete_charge)
                .expect("small sums");
        }
        total
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn plans_balance_are_deterministic_and_the_ledger_accepts_them(
        days in proptest::collection::vec(day_steps(), 1..4),
    ) {
        let w = world();
        let mut book = w.book();
        let mut carry = Carry::default();
        let mut ids = BTreeSet::new();
        let mut on = day("2026-03-30");
        for steps in &days {
            let events = w.random_events(on, steps);
            let plan = plan_day(&w.engine, &w.chart, w.wallet, on, &carry, &events)
                .expect("random valid days plan");
            // Re-planning the same input gives the same transfers, ids and all.
            let again = plan_day(&w.engine, &w.chart, w.wallet, on, &carry, &events)
                .expect("plans again");
            prop_assert_eq!(&again, &plan);
            prop_assert!(plan.totals.balanced(), "{:?}", plan.totals);
            // Settled charges are the engine's charges.
            prop_assert_eq!(plan.totals.rider_debits, w.engine_charges(&carry, on, &events));
            // Lines agree with the transfers.
            let debits = Money::checked_sum(plan.lines.iter().map(|l| l.wallet_debit().unwrap())).unwrap();
            let credits = Money::checked_sum(plan.lines.iter().map(|l| l.operator_credit().unwrap())).unwrap();
            prop_assert_eq!(debits, plan.totals.rider_debits);
            prop_assert_eq!(credits, plan.totals.operator_credits);
            // Splits are exact and never exceed a leg's full fare.
            let charged = Money::checked_sum(plan.lines.iter().map(|l| l.fare_charged)).unwrap();
            let settled = Money::checked_sum(plan.lines.iter().map(|l| l.fare_settled)).unwrap();
            prop_assert_eq!(charged, settled);
            for line in &plan.lines {
                if line.fare_settled != line.fare_charged {
                    prop_assert!(line.fare_settled <= line.full_fare, "{:?}", line);
                }
            }
            for t in &plan.transfers {
                // Unique across days, and no amount ≤ 0 (the types refuse
                // it; the ledger below would too).
                prop_assert!(ids.insert(t.id), "duplicate id {}", t.id);
                if let TransferBody::Direct(m) | TransferBody::Pending { movement: m, .. } = &t.body {
                    prop_assert!(m.amount.money().is_positive());
                }
            }
            w.apply(&mut book, &events, &plan);
            carry = plan.end;
            on = on.plus_days(1);
        }
        // The book agrees with the carried state: the open hold is pending,
        // unearned revenue is what the passes have left, and the wallet's
        // available balance is the engine's balance.
        let wallet = book.balances(w.wallet).expect("wallet");
        let hold = carry.state.open_trip.map_or(Money::ZERO, |t| t.hold);
        prop_assert_eq!(wallet.debits_pending, hold);
        prop_assert_eq!(
            wallet.available(ledger::NormalSide::Credit).expect("small"),
            carry.state.balance
        );
        let unearned = book.balances(w.chart.unearned).expect("unearned")
            .balance(ledger::NormalSide::Credit).expect("small");
        let left = Money::checked_sum(carry.passes.iter().map(|p| p.unearned)).expect("small");
        prop_assert_eq!(unearned, left);
    }

    #[test]
    fn planning_never_panics_on_any_start_state(
        balance in -50_000i64..200_000,
        steps in day_steps(),
    ) {
        let w = world();
        let mut start = Carry::default();
        start.state.balance = Money::vnd(balance);
        let on = day("2026-03-02");
        let events = w.random_events(on, &steps);
        if let Ok(plan) = plan_day(&w.engine, &w.chart, w.wallet, on, &start, &events) {
            prop_assert!(plan.totals.balanced());
        }
    }
}

#[test]
fn ids_of_one_day_differ_from_the_same_events_on_another_account() {
    let w = world();
    let lines = ["03-02T07:00 topup 50000", "03-02T07:05 bus 19 adult"];
    let a = w
        .plan(&Carry::default(), "2026-03-02", &lines)
        .expect("plans");
    let mut other = world();
    other.wallet = AccountId::new(Uuid::from_u128(0x1001)).expect("not reserved");
    let b = other
        .plan(&Carry::default(), "2026-03-02", &lines)
        .expect("plans");
    let ids_a: BTreeSet<_> = a.transfers.iter().map(|t| t.id).collect();
    assert!(b.transfers.iter().all(|t| !ids_a.contains(&t.id)));
    let refs: BTreeMap<_, _> = a
        .transfers
        .iter()
        .map(|t| (t.id, t.reference.clone()))
        .collect();
    assert!(
        refs.values()
            .all(|r| r.as_ref().map(ledger::Reference::as_str)
                == Some(&*format!("S:2026-03-02:{}", w.wallet)))
    );
}
