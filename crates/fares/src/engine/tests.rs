//! Rule-by-rule tests of the engine against `specs/hcmc-fares.md`, on the
//! shipped `config/hcmc/oneticket.toml` and a leg-fare table filled from the
//! spec's own tables (the feed-compiled table is checked against the same
//! tables in `feed.rs`).
//!
//! Steps are written as one line each, `MM-DDTHH:MM event args`, all on
//! 2026 local time (+07:00); expectations as `decision amount balance [reason]`.

use chrono::DateTime;
use ledger::Money;
use proptest::prelude::*;

use super::*;

pub(crate) const HCMC_TOML: &str = include_str!("../../../../config/hcmc/oneticket.toml");

/// Metro Line 1 stations in line order (spec §4).
pub(crate) const METRO_STATIONS: [&str; 14] = [
    "BTH", "NHT", "BSO", "VTH", "TCA", "TDI", "APH", "RCH", "PLO", "BTA", "TDU", "KCN", "DHQ",
    "BXS",
];
/// Metro single fare by stations travelled, h = 1..=13 (spec §4).
pub(crate) const METRO_FARE_BY_H: [i64; 13] = [
    6_000, 7_000, 8_000, 9_000, 10_000, 11_000, 12_000, 13_000, 14_000, 15_000, 16_000, 17_000,
    19_000,
];
/// Bus routes: (route, network, adult fare) (spec §3); students 3,000, exempt 0.
pub(crate) const BUS_ROUTES: [(&str, &str, i64); 8] = [
    ("01", "bus_le15", 5_000),
    ("56", "bus_le15", 5_000),
    ("19", "bus_15_25", 6_000),
    ("53", "bus_15_25", 6_000),
    ("93", "bus_15_25", 6_000),
    ("33", "bus_ge25", 7_000),
    ("150", "bus_ge25", 7_000),
    ("13", "bus_special", 10_000),
];
const STUDENT_BUS_VND: i64 = 3_000;

/// The spec's leg fares, filled directly.
pub(crate) fn spec_table() -> LegFareTable {
    let mut table = LegFareTable::new();
    for (route, network, adult) in BUS_ROUTES {
        table.add_route(route, network, "samco");
        table.set_route_fare(route, "adult", Money::vnd(adult));
        table.set_route_fare(route, "student", Money::vnd(STUDENT_BUS_VND));
        table.set_route_fare(route, "exempt", Money::ZERO);
    }
    table.add_route("L1", "metro_l1", "hurc1");
    for (i, from) in METRO_STATIONS.iter().enumerate() {
        for (j, to) in METRO_STATIONS.iter().enumerate() {
            if i == j {
                continue;
            }
            let fare = Money::vnd(METRO_FARE_BY_H[i.abs_diff(j) - 1]);
            table.set_pair_fare(from, to, "adult", fare);
            table.set_pair_fare(from, to, "student", fare);
            table.set_pair_fare(from, to, "exempt", Money::ZERO);
        }
    }
    table
}

pub(crate) fn hcmc_engine() -> Engine {
    let ext =
        Extensions::from_toml("oneticket.toml", HCMC_TOML).expect("the shipped file is valid");
    Engine::new(ext, &spec_table()).expect("the spec table is complete")
}

/// One account and every lot's occupancy, driven by step lines.
struct Rider {
    engine: Engine,
    state: AccountState,
    lots: Vec<LotOccupancy>,
}

impl Rider {
    fn new() -> Rider {
        let engine = hcmc_engine();
        let lots = engine
            .lot_indices()
            .map(|lot| LotOccupancy { lot, occupied: 0 })
            .collect();
        Rider {
            engine,
            state: AccountState::default(),
            lots,
        }
    }

    fn event(&self, line: &str) -> Event {
        let mut words = line.split_whitespace();
        let when = words.next().expect("a step starts with MM-DDTHH:MM");
        let at = DateTime::parse_from_rfc3339(&format!("2026-{when}:00+07:00"))
            .expect("step times are MM-DDTHH:MM");
        let mut arg = || words.next().expect("the step has its arguments");
        let e = &self.engine;
        let kind = match arg() {
            "topup" => EventKind::TopUp {
                amount: Money::vnd(arg().parse().expect("a whole amount")),
            },
            "bus" => EventKind::Bus {
                route: e.route(arg()).expect("a known route"),
                category: e.category(arg()).expect("a known category"),
            },
            "in" => EventKind::MetroIn {
                station: e.station(arg()).expect("a known station"),
                category: e.category(arg()).expect("a known category"),
            },
            "out" => EventKind::MetroOut {
                station: e.station(arg()).expect("a known station"),
            },
            "buy" => EventKind::BuyPass {
                product: e.pass(arg()).expect("a known pass"),
                category: e.category(arg()).expect("a known category"),
            },
            "park_in" => EventKind::ParkIn {
                lot: e.lot(arg()).expect("a known lot"),
            },
            "park_out" => EventKind::ParkOut {
                lot: e.lot(arg()).expect("a known lot"),
                exit: ParkExit::WithMedium,
            },
            "park_lost" => EventKind::ParkOut {
                lot: e.lot(arg()).expect("a known lot"),
                exit: ParkExit::LostTicket,
            },
            other => panic!("unknown step verb {other}"),
        };
        Event { at, kind }
    }

    fn step(&mut self, line: &str) -> Outcome {
        let event = self.event(line);
        let lot = match event.kind {
            EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => Some(lot.get()),
            _ => None,
        };
        let before = self.state.clone();
        let occupancy = lot.and_then(|i| self.lots.get_mut(i));
        let outcome = self
            .engine
            .apply(&mut self.state, occupancy, &event)
            .unwrap_or_else(|e| panic!("`{line}` is a valid event: {e}"));
        if outcome.decision == Decision::Deny {
            assert_eq!(self.state, before, "`{line}`: a deny changes nothing");
        }
        outcome
    }

    fn run(&mut self, lines: &[&str]) {
        for line in lines {
            self.step(line);
        }
    }
}

fn render(o: &Outcome) -> String {
    let mut s = format!(
        "{} {} {}",
        o.decision.code(),
        o.amount.as_vnd(),
        o.balance.as_vnd()
    );
    if let Some(reason) = o.reason {
        s.push(' ');
        s.push_str(reason.code());
    }
    s
}

/// Runs the steps from a fresh account and compares each outcome.
fn check(steps: &[(&str, &str)]) {
    let mut rider = Rider::new();
    for (line, expected) in steps {
        let outcome = rider.step(line);
        assert_eq!(render(&outcome), *expected, "step `{line}`");
    }
}

// ---- §1 calendar and §6 caps --------------------------------------------

#[test]
fn daily_cap_resets_at_the_service_day_boundary() {
    // 40,000 daily cap: 6 × 7,000 = 42,000 → the sixth ride is capped to 5,000.
    check(&[
        ("03-01T07:00 topup 200000", "accept -200000 200000"),
        ("03-01T08:00 bus 33 adult", "accept 7000 193000"),
        ("03-01T09:00 bus 33 adult", "accept 7000 186000"),
        ("03-01T10:00 bus 33 adult", "accept 7000 179000"),
        ("03-01T11:00 bus 33 adult", "accept 7000 172000"),
        ("03-01T12:00 bus 33 adult", "accept 7000 165000"),
        ("03-01T13:00 bus 33 adult", "accept 5000 160000"),
        // 03:59 the next morning is still service day 03-01: capped at 0.
        ("03-02T03:59 bus 33 adult", "accept 0 160000"),
        // 04:00 starts service day 03-02.
        ("03-02T04:00 bus 33 adult", "accept 7000 153000"),
    ]);
}

#[test]
fn student_caps_are_lower() {
    let mut steps = vec![("03-01T06:00 topup 500000", "accept -500000 500000")];
    // Students pay 3,000 on the bus: the 20,000 daily cap stops the 7th ride at 2,000.
    let times = [
        "07:00", "07:30", "08:00", "08:30", "09:00", "09:30", "10:00", "10:30",
    ];
    let expected = [
        "accept 3000 497000",
        "accept 3000 494000",
        "accept 3000 491000",
        "accept 3000 488000",
        "accept 3000 485000",
        "accept 3000 482000",
        "accept 2000 480000",
        "accept 0 480000",
    ];
    let lines: Vec<String> = times
        .iter()
        .map(|t| format!("03-01T{t} bus 01 student"))
        .collect();
    for (line, exp) in lines.iter().zip(expected) {
        steps.push((line.as_str(), exp));
    }
    check(&steps);
}

#[test]
fn monthly_cap_counts_the_service_month_and_resets_with_it() {
    let mut rider = Rider::new();
    rider.step("03-01T05:00 topup 1000000");
    // 8 days × 40,000 daily-capped = 320,000 > 300,000 monthly cap.
    let mut charged = Vec::new();
    for day in 1..=8 {
        for hour in 6..=11 {
            let o = rider.step(&format!("03-{day:02}T{hour:02}:00 bus 13 adult"));
            charged.push(o.amount.as_vnd());
        }
    }
    let total: i64 = charged.iter().sum();
    assert_eq!(total, 300_000, "the monthly cap stops the month's spending");
    // The last day was capped by the month, not the day: day 8 paid 20,000.
    assert_eq!(charged[42..].iter().sum::<i64>(), 20_000);
    // 03-31 03:59 belongs to March (still capped), 04-01 04:00 to April.
    assert_eq!(
        render(&rider.step("04-01T03:59 bus 13 adult")),
        "accept 0 700000"
    );
    assert_eq!(
        render(&rider.step("04-01T04:00 bus 13 adult")),
        "accept 10000 690000"
    );
}

#[test]
fn cap_applies_to_metro_after_the_discount() {
    let mut rider = Rider::new();
    rider.step("03-02T06:00 topup 100000");
    for t in ["06:10", "06:40", "07:10"] {
        rider.run(&[
            &format!("03-02T{t} in BTH adult")[..],
            &format!("03-02T{t} out BXS")[..],
        ]);
    }
    // 3 × 19,000 = 57,000 → capped at 40,000: the third trip pays 2,000.
    assert_eq!(rider.state.balance, Money::vnd(60_000));
    let o = rider.step("03-02T08:00 bus 19 adult");
    assert_eq!(render(&o), "accept 0 60000");
    // The discount came first (6,000 − 3,000), then the cap took the rest.
    assert_eq!(o.breakdown.full_fare, Money::vnd(6_000));
    assert_eq!(o.breakdown.discount, Money::vnd(3_000));
    assert_eq!(o.breakdown.cap_reduction, Money::vnd(3_000));
}

// ---- §3 bus ---------------------------------------------------------------

#[test]
fn bus_fares_by_route_and_category() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 bus 13 student", "accept 3000 47000"),
        ("03-02T07:01 bus 13 exempt", "accept 0 47000"),
        ("03-02T07:02 bus 01 adult", "accept 5000 42000"),
        ("03-02T08:01 bus 53 adult", "accept 6000 36000"),
        ("03-02T09:02 bus 150 adult", "accept 7000 29000"),
        ("03-02T10:03 bus 13 adult", "accept 10000 19000"),
    ]);
}

#[test]
fn bus_denied_below_its_charge() {
    check(&[
        ("03-02T06:00 topup 4000", "accept -4000 4000"),
        ("03-02T07:00 bus 01 adult", "deny 0 4000 insufficient_funds"),
        ("03-02T07:01 bus 01 student", "accept 3000 1000"),
        ("03-02T07:02 bus 01 exempt", "accept 0 1000"),
    ]);
}

// ---- §4 metro -------------------------------------------------------------

#[test]
fn tap_in_holds_the_maximum_fare_and_tap_out_refunds() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 in BTH adult", "accept 19000 31000"),
        // h = 5 → 10,000; refund 9,000.
        ("03-02T07:20 out TDI", "accept -9000 40000"),
        ("03-02T08:00 in BXS adult", "accept 19000 21000"),
        // h = 1 → 6,000.
        ("03-02T08:05 out DHQ", "accept -13000 34000"),
        // h = 13 → 19,000: the whole hold.
        ("03-02T09:00 in BTH adult", "accept 19000 15000"),
        ("03-02T09:30 out BXS", "accept 0 15000"),
    ]);
}

#[test]
fn students_pay_adult_metro_fares() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 in BTH student", "accept 19000 31000"),
        ("03-02T07:20 out TDI", "accept -9000 40000"),
    ]);
}

#[test]
fn tap_in_denied_below_the_hold() {
    check(&[
        ("03-02T06:00 topup 18999", "accept -18999 18999"),
        (
            "03-02T07:00 in BTH adult",
            "deny 0 18999 insufficient_funds",
        ),
        ("03-02T07:01 in BTH exempt", "accept 0 18999"),
        ("03-02T07:20 out BXS", "accept 0 18999"),
    ]);
}

#[test]
fn same_station_cancels_within_twenty_minutes_then_costs_six_thousand() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 in BTH adult", "accept 19000 31000"),
        ("03-02T07:20 out BTH", "accept -19000 50000"),
        ("03-02T08:00 in BTH adult", "accept 19000 31000"),
        ("03-02T08:21 out BTH", "accept -13000 44000"),
    ]);
}

#[test]
fn re_entry_makes_the_open_trip_incomplete() {
    let mut rider = Rider::new();
    rider.step("03-02T06:00 topup 50000");
    rider.step("03-02T07:00 in BTH adult");
    let o = rider.step("03-02T07:30 in TDI adult");
    // The first hold is kept as the charge; a new hold is placed.
    assert_eq!(render(&o), "accept 19000 12000");
    assert_eq!(o.breakdown.incomplete_charge, Money::vnd(19_000));
    assert_eq!(o.breakdown.hold_placed, Money::vnd(19_000));
    // The new trip is a normal trip (h = 1 back to ... TDI → TCA).
    assert_eq!(
        render(&rider.step("03-02T07:40 out TCA")),
        "accept -13000 25000"
    );
    // Incomplete charges do not count toward the cap: 6,000 counted so far.
    assert_eq!(
        rider.state.spent.map(|s| s.day_vnd),
        Some(Money::vnd(6_000))
    );
}

#[test]
fn late_tap_out_is_incomplete_and_accepted_with_amount_zero() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 in BTH adult", "accept 19000 31000"),
        // Exactly 180 minutes is still a trip.
        ("03-02T10:00 out NHT", "accept -13000 44000"),
        ("03-02T11:00 in BTH adult", "accept 19000 25000"),
        ("03-02T14:01 out NHT", "accept 0 25000 incomplete_journey"),
        // The trip is closed.
        ("03-02T14:02 out NHT", "deny 0 25000 no_open_trip"),
    ]);
}

#[test]
fn exit_without_open_trip_is_denied() {
    check(&[("03-02T07:00 out BTH", "deny 0 0 no_open_trip")]);
}

#[test]
fn trip_is_priced_with_the_category_given_at_tap_in() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 in BTH exempt", "accept 0 50000"),
        ("03-02T07:30 out BXS", "accept 0 50000"),
        ("03-02T08:00 in BTH adult", "accept 19000 31000"),
        // The exit event carries no category: the adult fare applies.
        ("03-02T08:30 out NHT", "accept -13000 44000"),
    ]);
}

// ---- §5 transfer discount ---------------------------------------------------

#[test]
fn bus_to_metro_discount_is_fixed_at_entry() {
    check(&[
        ("03-02T06:00 topup 100000", "accept -100000 100000"),
        ("03-02T07:00 bus 19 adult", "accept 6000 94000"),
        // Entry 60 minutes after the bus: eligible; the exit 2 hours later keeps it.
        ("03-02T08:00 in BTH adult", "accept 19000 75000"),
        ("03-02T10:00 out NHT", "accept -16000 91000"),
        // 61 minutes after the metro exit: no discount for the bus.
        ("03-02T11:01 bus 19 adult", "accept 6000 85000"),
        // 61 minutes after the bus: not eligible.
        ("03-02T12:02 in BTH adult", "accept 19000 66000"),
        ("03-02T12:10 out NHT", "accept -13000 79000"),
    ]);
}

#[test]
fn metro_to_bus_discount_within_sixty_minutes_of_exit() {
    check(&[
        ("03-02T06:00 topup 100000", "accept -100000 100000"),
        ("03-02T07:00 in BTH adult", "accept 19000 81000"),
        ("03-02T07:30 out TDI", "accept -9000 90000"),
        ("03-02T08:30 bus 33 adult", "accept 4000 86000"),
        // 61 minutes after the bus: no bus → metro discount either.
        ("03-02T09:31 in BTH adult", "accept 19000 67000"),
        ("03-02T10:00 out TDI", "accept -9000 76000"),
        ("03-02T11:01 bus 33 adult", "accept 7000 69000"),
    ]);
}

#[test]
fn no_discount_within_one_mode() {
    check(&[
        ("03-02T06:00 topup 100000", "accept -100000 100000"),
        ("03-02T07:00 bus 19 adult", "accept 6000 94000"),
        ("03-02T07:10 bus 19 adult", "accept 6000 88000"),
        ("03-02T07:20 in BTH adult", "accept 19000 69000"),
        ("03-02T07:30 out NHT", "accept -16000 85000"),
        ("03-02T07:40 in NHT adult", "accept 19000 66000"),
        ("03-02T07:50 out BTH", "accept -13000 79000"),
    ]);
}

#[test]
fn cancelled_and_incomplete_trips_neither_give_nor_receive() {
    check(&[
        ("03-02T06:00 topup 100000", "accept -100000 100000"),
        ("03-02T07:00 bus 19 adult", "accept 6000 94000"),
        // Cancelled: receives nothing (it is free anyway)...
        ("03-02T07:10 in BTH adult", "accept 19000 75000"),
        ("03-02T07:15 out BTH", "accept -19000 94000"),
        // ...and gives nothing: the latest completed leg is still the bus
        // at 07:00, so this trip (entry 07:20) gets the discount.
        ("03-02T07:20 in BTH adult", "accept 19000 75000"),
        ("03-02T07:30 out NHT", "accept -16000 91000"),
        // Bus after a cancelled trip: compared with the metro exit at 07:30.
        ("03-02T07:40 in NHT adult", "accept 19000 72000"),
        ("03-02T07:45 out NHT", "accept -19000 91000"),
        ("03-02T07:50 bus 19 adult", "accept 3000 88000"),
        // Incomplete: the re-entered trip's first half gives nothing later.
        ("03-02T09:00 in BTH adult", "accept 19000 69000"),
        ("03-02T12:01 out NHT", "accept 0 69000 incomplete_journey"),
        ("03-02T12:10 bus 19 adult", "accept 6000 63000"),
    ]);
}

#[test]
fn only_the_latest_leg_counts() {
    check(&[
        ("03-02T06:00 topup 100000", "accept -100000 100000"),
        ("03-02T07:00 bus 19 adult", "accept 6000 94000"),
        ("03-02T07:05 in BTH adult", "accept 19000 75000"),
        ("03-02T07:15 out NHT", "accept -16000 91000"),
        // Latest leg is the metro exit: metro → metro gets nothing even
        // though the bus at 07:00 is within 60 minutes.
        ("03-02T07:20 in NHT adult", "accept 19000 72000"),
        ("03-02T07:30 out BSO", "accept -13000 85000"),
    ]);
}

#[test]
fn discount_never_takes_a_fare_below_zero() {
    let mut rider = Rider::new();
    rider.run(&[
        "03-02T06:00 topup 100000",
        "03-02T07:00 in BTH student",
        "03-02T07:10 out NHT",
    ]);
    // Student bus 3,000 − 3,000 = 0.
    let o = rider.step("03-02T07:20 bus 19 student");
    assert_eq!(render(&o), "accept 0 94000");
    assert_eq!(o.breakdown.discount, Money::vnd(3_000));
    // Exempt: fare 0, the discount is clamped to 0.
    rider.run(&["03-02T08:00 in BTH adult", "03-02T08:10 out NHT"]);
    let o = rider.step("03-02T08:20 bus 19 exempt");
    assert_eq!(o.breakdown.discount, Money::ZERO);
    assert_eq!(o.amount, Money::ZERO);
}

// ---- §7 passes ----------------------------------------------------------------

#[test]
fn day_pass_covers_metro_without_hold_for_its_service_day() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 buy metro_day adult", "accept 40000 10000"),
        ("03-02T07:10 in BTH adult", "accept 0 10000"),
        ("03-02T07:40 out BXS", "accept 0 10000"),
        // 03:59 next morning is still the pass's service day.
        ("03-03T03:59 in BTH adult", "accept 0 10000"),
        ("03-03T04:10 out NHT", "accept 0 10000"),
        // 04:00 is a new day: not covered, and 10,000 is below the hold.
        (
            "03-03T04:30 in BTH adult",
            "deny 0 10000 insufficient_funds",
        ),
        // Buses are not covered by a metro pass; a covered trip still
        // gives the transfer discount (only cancelled and incomplete trips do not).
        ("03-03T04:31 bus 01 adult", "accept 2000 8000"),
        ("03-03T05:31 bus 01 adult", "accept 5000 3000"),
    ]);
}

#[test]
fn three_day_pass_validity_and_caps_untouched() {
    let mut rider = Rider::new();
    rider.run(&[
        "03-02T06:00 topup 200000",
        "03-02T07:00 buy metro_3day adult",
    ]);
    for day in ["03-02", "03-03", "03-04"] {
        assert_eq!(
            render(&rider.step(&format!("{day}T08:00 in BTH adult"))),
            "accept 0 110000"
        );
        assert_eq!(
            render(&rider.step(&format!("{day}T08:30 out BXS"))),
            "accept 0 110000"
        );
    }
    assert_eq!(
        rider.state.spent, None,
        "covered trips count toward nothing"
    );
    assert_eq!(
        render(&rider.step("03-05T08:00 in BTH adult")),
        "accept 19000 91000"
    );
}

#[test]
fn month_pass_price_by_category_and_thirty_days() {
    check(&[
        ("03-02T06:00 topup 500000", "accept -500000 500000"),
        (
            "03-02T07:00 buy metro_month student",
            "accept 150000 350000",
        ),
        ("03-31T07:00 in BTH student", "accept 0 350000"),
        ("03-31T07:30 out BXS", "accept 0 350000"),
        ("04-01T07:00 in BTH student", "accept 19000 331000"),
        ("04-01T07:10 out BTH", "accept -19000 350000"),
        ("04-01T08:00 buy metro_month adult", "accept 300000 50000"),
        (
            "04-01T08:10 buy metro_month adult",
            "deny 0 50000 insufficient_funds",
        ),
    ]);
}

// ---- §8 parking -------------------------------------------------------------

#[test]
fn motorbike_pays_per_started_twelve_hours_with_grace() {
    check(&[
        ("03-02T06:00 topup 50000", "accept -50000 50000"),
        ("03-02T07:00 park_in BTH-P", "accept 0 50000"),
        ("03-02T07:10 park_out BTH-P", "accept 0 50000"),
        ("03-02T08:00 park_in BTH-P", "accept 0 50000"),
        ("03-02T08:11 park_out BTH-P", "accept 4000 46000"),
        ("03-02T09:00 park_in BTH-P", "accept 0 46000"),
        ("03-02T21:01 park_out BTH-P", "accept 8000 38000"),
    ]);
}

#[test]
fn car_pays_hourly_capped_per_day_block() {
    check(&[
        ("03-02T06:00 topup 500000", "accept -500000 500000"),
        ("03-02T07:00 park_in D1-CAR", "accept 0 500000"),
        ("03-02T09:30 park_out D1-CAR", "accept 75000 425000"),
        ("03-02T10:00 park_in D1-CAR", "accept 0 425000"),
        // 25 hours: 150,000 for the first day block + 25,000.
        ("03-03T11:00 park_out D1-CAR", "accept 175000 250000"),
    ]);
}

#[test]
fn park_and_ride_needs_a_tap_in_at_the_linked_station_during_the_stay() {
    check(&[
        ("03-02T06:00 topup 100000", "accept -100000 100000"),
        // A tap in before the stay does not count.
        ("03-02T06:30 in TDI adult", "accept 19000 81000"),
        ("03-02T06:40 out TDI", "accept -19000 100000"),
        ("03-02T07:00 park_in TDI-P", "accept 0 100000"),
        // A tap in at another station does not count.
        ("03-02T07:05 in BTH adult", "accept 19000 81000"),
        ("03-02T07:30 out TDI", "accept -9000 90000"),
        ("03-02T09:00 park_out TDI-P", "accept 4000 86000"),
        ("03-02T10:00 park_in TDI-P", "accept 0 86000"),
        ("03-02T10:05 in TDI adult", "accept 19000 67000"),
        ("03-02T10:30 out BTH", "accept -9000 76000"),
        ("03-02T18:00 park_out TDI-P", "accept 2000 74000"),
        // Linked station but a denied tap in: no park and ride.
        ("03-02T19:00 park_in TDI-P", "accept 0 74000"),
    ]);
}

#[test]
fn parking_entry_denials_come_in_spec_order() {
    let mut rider = Rider::new();
    let full = rider.engine.lot("D1-CAR").expect("lot exists");
    let cap = rider.engine.lot_capacity(full).expect("lot exists");
    // Empty wallet, no stay, full lot: lot_full first.
    rider.lots[full.get()].occupied = cap;
    assert_eq!(
        render(&rider.step("03-02T07:00 park_in D1-CAR")),
        "deny 0 0 lot_full"
    );
    rider.lots[full.get()].occupied = cap - 1;
    // Not full, no stay, no money: insufficient_funds (car needs 25,000).
    assert_eq!(
        render(&rider.step("03-02T07:01 park_in D1-CAR")),
        "deny 0 0 insufficient_funds"
    );
    rider.step("03-02T07:02 topup 24999");
    assert_eq!(
        render(&rider.step("03-02T07:03 park_in D1-CAR")),
        "deny 0 24999 insufficient_funds"
    );
    rider.step("03-02T07:04 topup 1");
    assert_eq!(
        render(&rider.step("03-02T07:05 park_in D1-CAR")),
        "accept 0 25000"
    );
    assert_eq!(rider.lots[full.get()].occupied, cap);
    // Parked already and the lot is now full: lot_full still comes first.
    assert_eq!(
        render(&rider.step("03-02T07:06 park_in D1-CAR")),
        "deny 0 25000 lot_full"
    );
    assert_eq!(
        render(&rider.step("03-02T07:07 park_in BTH-P")),
        "deny 0 25000 already_parked"
    );
}

#[test]
fn parking_exit_always_accepted_and_may_go_negative() {
    check(&[
        ("03-02T06:00 topup 25000", "accept -25000 25000"),
        ("03-02T07:00 park_in D1-CAR", "accept 0 25000"),
        ("03-02T07:00 bus 13 adult", "accept 10000 15000"),
        ("03-02T09:00 park_out D1-CAR", "accept 50000 -35000"),
        // A negative balance blocks transit, even a free ride (balance < 0 = charge).
        (
            "03-02T09:10 bus 13 exempt",
            "deny 0 -35000 insufficient_funds",
        ),
        ("03-02T09:20 topup 40000", "accept -40000 5000"),
        ("03-02T09:30 bus 01 adult", "accept 5000 0"),
    ]);
}

#[test]
fn parking_exit_without_a_stay_at_that_lot() {
    check(&[
        ("03-02T06:00 topup 25000", "accept -25000 25000"),
        ("03-02T07:00 park_out BTH-P", "deny 0 25000 no_open_stay"),
        ("03-02T07:01 park_in BTH-P", "accept 0 25000"),
        ("03-02T07:02 park_out TDI-P", "deny 0 25000 no_open_stay"),
        ("03-02T08:02 park_out BTH-P", "accept 4000 21000"),
    ]);
}

#[test]
fn parking_is_not_exempt_and_outside_caps() {
    let mut rider = Rider::new();
    rider.run(&["03-02T06:00 topup 100000", "03-02T07:00 park_in BTH-P"]);
    let o = rider.step("03-02T09:00 park_out BTH-P");
    assert_eq!(o.amount, Money::vnd(4_000));
    assert_eq!(rider.state.spent, None);
}

#[test]
fn lot_occupancy_follows_entries_and_exits() {
    let mut rider = Rider::new();
    let lot = rider.engine.lot("BXS-P").expect("lot exists").get();
    rider.run(&["03-02T06:00 topup 100000", "03-02T07:00 park_in BXS-P"]);
    assert_eq!(rider.lots[lot].occupied, 1);
    rider.step("03-02T08:00 park_out BXS-P");
    assert_eq!(rider.lots[lot].occupied, 0);
}

// ---- lost tickets -------------------------------------------------------------

#[test]
fn lost_ticket_adds_the_lots_fee_to_the_stays_fee() {
    check(&[
        ("03-02T06:00 topup 200000", "accept -200000 200000"),
        ("03-02T07:00 park_in BTH-P", "accept 0 200000"),
        // 2 hours: 4,000 of tariff + 8,000 lost-ticket fee.
        ("03-02T09:00 park_lost BTH-P", "accept 12000 188000"),
        // Within the grace the stay is free; the lost-ticket fee is not.
        ("03-02T10:00 park_in BTH-P", "accept 0 188000"),
        ("03-02T10:05 park_lost BTH-P", "accept 8000 180000"),
        // An exit like any other: accepted below zero...
        ("03-02T11:00 park_in D1-CAR", "accept 0 180000"),
        ("03-02T13:00 park_lost D1-CAR", "accept 200000 -20000"),
        // ...and only with a stay open at that lot.
        ("03-02T13:01 park_lost D1-CAR", "deny 0 -20000 no_open_stay"),
    ]);
}

#[test]
fn lost_ticket_keeps_park_and_ride_and_reports_both_fees() {
    let mut rider = Rider::new();
    rider.run(&[
        "03-02T06:00 topup 100000",
        "03-02T07:00 park_in TDI-P",
        "03-02T07:05 in TDI adult",
        "03-02T07:30 out BTH",
    ]);
    let lot = rider.engine.lot("TDI-P").expect("lot exists").get();
    assert_eq!(rider.lots[lot].occupied, 1);
    let o = rider.step("03-02T18:00 park_lost TDI-P");
    assert_eq!(render(&o), "accept 10000 80000");
    assert_eq!(o.breakdown.parking_fee, Money::vnd(2_000));
    assert_eq!(o.breakdown.lost_ticket_fee, Money::vnd(8_000));
    assert_eq!(
        o.owner.and_then(|w| rider.engine.operator_id(w.operator)),
        Some("hurc1")
    );
    assert_eq!(rider.lots[lot].occupied, 0, "the stay is closed");
    assert_eq!(rider.state.open_stay, None);
}

// ---- parking permits ------------------------------------------------------------

#[test]
fn a_permit_covers_stays_at_its_lots_only() {
    check(&[
        ("03-02T06:00 topup 300000", "accept -300000 300000"),
        (
            "03-02T07:00 buy parking_month_motorbike adult",
            "accept 100000 200000",
        ),
        ("03-02T07:10 park_in BTH-P", "accept 0 200000"),
        ("03-02T19:00 park_out BTH-P", "accept 0 200000"),
        ("03-03T07:00 park_in TDI-P", "accept 0 200000"),
        ("03-03T08:00 park_out TDI-P", "accept 0 200000"),
        // The car park is not one of its lots.
        ("03-03T09:00 park_in D1-CAR", "accept 0 200000"),
        ("03-03T10:00 park_out D1-CAR", "accept 25000 175000"),
        // Nor is the metro: a tap in holds the maximum fare.
        ("03-03T11:00 in BTH adult", "accept 19000 156000"),
        ("03-03T11:10 out BTH", "accept -19000 175000"),
        // A permit never covers the lost-ticket fee.
        ("03-03T12:00 park_in BXS-P", "accept 0 175000"),
        ("03-03T20:00 park_lost BXS-P", "accept 8000 167000"),
    ]);
}

#[test]
fn a_stay_that_outlives_the_permit_pays_for_the_time_after_it() {
    let mut rider = Rider::new();
    rider.run(&[
        "03-02T06:00 topup 300000",
        "03-02T07:00 buy parking_month_motorbike student",
    ]);
    let permit = rider.engine.pass("parking_month_motorbike");
    assert_eq!(
        rider.state.balance,
        Money::vnd(200_000),
        "one price for all"
    );
    // Valid for 30 service days: the last is 03-31, until 04-01 04:00.
    rider.step("03-31T20:00 park_in BTH-P");
    let o = rider.step("04-01T06:00 park_out BTH-P");
    assert_eq!(
        render(&o),
        "accept 4000 196000",
        "04:00 to 06:00 is charged"
    );
    assert_eq!(o.pass, permit, "the permit covered part of the stay");
    assert_eq!(o.coverage, permit.map(Coverage::Pass));
    rider.step("04-01T07:00 park_in BTH-P");
    let o = rider.step("04-01T08:00 park_out BTH-P");
    assert_eq!(render(&o), "accept 4000 192000");
    assert_eq!((o.pass, o.coverage), (None, None), "expired");
    // What is left after the permit within the grace costs nothing.
    let mut rider = Rider::new();
    rider.run(&[
        "03-02T06:00 topup 300000",
        "03-02T07:00 buy parking_month_motorbike adult",
        "03-31T20:00 park_in BTH-P",
    ]);
    assert_eq!(
        render(&rider.step("04-01T04:10 park_out BTH-P")),
        "accept 0 200000"
    );
}

#[test]
fn a_permit_bought_during_a_stay_covers_it_from_its_first_service_day() {
    check(&[
        ("03-02T02:00 topup 3000000", "accept -3000000 3000000"),
        // Service day 03-01: before the permit's validity.
        ("03-02T03:00 park_in D1-CAR", "accept 0 3000000"),
        (
            "03-02T07:00 buy parking_month_car adult",
            "accept 2000000 1000000",
        ),
        // 03:00 to 04:00 is outside the permit: one started hour.
        ("03-02T09:00 park_out D1-CAR", "accept 25000 975000"),
    ]);
}

#[test]
fn a_purchase_keeps_an_expired_permit_that_covers_the_open_stay() {
    check(&[
        ("03-02T06:00 topup 3000000", "accept -3000000 3000000"),
        (
            "03-02T07:00 buy parking_month_car adult",
            "accept 2000000 1000000",
        ),
        ("03-31T20:00 park_in D1-CAR", "accept 0 1000000"),
        // The permit expired at 04:00; buying a pass prunes expired passes
        // but not one the open stay still needs.
        ("04-01T05:00 buy metro_day adult", "accept 40000 960000"),
        // Only 04:00 to 06:00 is charged (10 hours would be 150,000).
        ("04-01T06:00 park_out D1-CAR", "accept 50000 910000"),
    ]);
}

#[test]
fn a_permit_is_denied_below_its_price() {
    check(&[
        ("03-02T06:00 topup 99999", "accept -99999 99999"),
        (
            "03-02T07:00 buy parking_month_motorbike adult",
            "deny 0 99999 insufficient_funds",
        ),
        ("03-02T07:10 park_in BTH-P", "accept 0 99999"),
        ("03-02T09:10 park_out BTH-P", "accept 4000 95999"),
    ]);
}

#[test]
fn replay_reads_lost_tickets_and_permits() {
    let mut replay = Replay::new(hcmc_engine());
    let line = |extra: &str, event: &str, at: &str| {
        format!(
            "{{\"account\":\"r1\",\"at\":\"2026-03-02T{at}:00+07:00\",\"event\":\"{event}\",\"category\":\"adult\"{extra}}}"
        )
    };
    let check_line = |replay: &mut Replay, input: String, expected: &str| {
        let before = replay.state().clone();
        let out = replay.line(&input);
        assert_eq!(out, expected, "{input}");
        if expected.contains("\"error\"") {
            assert_eq!(replay.state(), &before, "an error changes nothing");
        }
    };
    check_line(
        &mut replay,
        line(",\"amount\":200000", "topup", "06:00"),
        r#"{"decision":"accept","amount":-200000,"balance":200000,"reason":null}"#,
    );
    check_line(
        &mut replay,
        line(",\"lot\":\"BTH-P\"", "park_in", "07:00"),
        r#"{"decision":"accept","amount":0,"balance":200000,"reason":null}"#,
    );
    check_line(
        &mut replay,
        line(
            ",\"lot\":\"BTH-P\",\"lost_ticket\":\"yes\"",
            "park_out",
            "09:00",
        ),
        r#"{"decision":"error","amount":0,"balance":200000,"reason":"malformed"}"#,
    );
    check_line(
        &mut replay,
        line(
            ",\"lot\":\"BTH-P\",\"lost_ticket\":true",
            "park_out",
            "09:00",
        ),
        r#"{"decision":"accept","amount":12000,"balance":188000,"reason":null}"#,
    );
    check_line(
        &mut replay,
        line(",\"product\":\"parking_month_motorbike\"", "buy", "10:00"),
        r#"{"decision":"accept","amount":100000,"balance":88000,"reason":null}"#,
    );
    check_line(
        &mut replay,
        line(",\"lot\":\"BXS-P\"", "park_in", "11:00"),
        r#"{"decision":"accept","amount":0,"balance":88000,"reason":null}"#,
    );
    check_line(
        &mut replay,
        line(
            ",\"lot\":\"BXS-P\",\"lost_ticket\":false",
            "park_out",
            "19:00",
        ),
        r#"{"decision":"accept","amount":0,"balance":88000,"reason":null}"#,
    );
}

/// The state of a rider parked at `lot` since `entered_at_s`, holding the
/// given permits (product, first day, last day).
fn parked(
    lot: state::LotIdx,
    entered_at_s: i64,
    permits: &[(state::PassIdx, ServiceDay, ServiceDay)],
) -> AccountState {
    AccountState {
        balance: Money::vnd(10_000_000),
        passes: permits
            .iter()
            .map(|&(product, first_day, last_day)| state::HeldPass {
                product,
                first_day,
                last_day,
            })
            .collect(),
        open_stay: Some(state::OpenStay {
            lot,
            entered_at_s,
            park_and_ride: state::ParkAndRide::NotEarned,
        }),
        ..AccountState::default()
    }
}

/// 2026-03-02 04:00 +07:00, the start of service day 2026-03-02.
const MARCH_2_START_S: i64 = 1_772_398_800;
const MINUTE_S: i64 = 60;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_permit_never_raises_a_fee_and_a_stay_within_it_is_free(
        entry_min in 0i64..40 * 24 * 60,
        stay_min in 0i64..3 * 24 * 60,
        first in 0i32..40,
        renewed in any::<bool>(),
        lot in 0usize..LOTS.len(),
    ) {
        let engine = hcmc_engine();
        let lot_id = LOTS[lot];
        let lot = engine.lot(lot_id).expect("known lot");
        let permit = engine
            .pass(if lot_id == "D1-CAR" { "parking_month_car" } else { "parking_month_motorbike" })
            .expect("shipped permit");
        let day0 = ServiceDay::from_date(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).expect("date"));
        let first_day = day0.plus_days(first);
        let mut permits = vec![(permit, first_day, first_day.plus_days(29))];
        if renewed {
            permits.push((permit, first_day.plus_days(30), first_day.plus_days(59)));
        }
        let entered_at_s = MARCH_2_START_S + entry_min * MINUTE_S;
        let exit_s = entered_at_s + stay_min * MINUTE_S;
        let at = DateTime::from_timestamp(exit_s, 0).expect("in range").fixed_offset();
        let event = Event { at, kind: EventKind::ParkOut { lot, exit: ParkExit::WithMedium } };
        let occupancy = Some(LotOccupancy { lot, occupied: 1 });
        let with = engine.decide(&parked(lot, entered_at_s, &permits), occupancy, &event).expect("valid");
        let without = engine.decide(&parked(lot, entered_at_s, &[]), occupancy, &event).expect("valid");
        prop_assert_eq!(with.outcome.decision, Decision::Accept);
        prop_assert!(with.outcome.amount <= without.outcome.amount);
        prop_assert_eq!(without.outcome.pass, None);

        let last_day = permits.last().map(|p| p.2).expect("one permit");
        let valid_from = engine.calendar().day_start(first_day).expect("in range").timestamp();
        let valid_until = engine.calendar().day_start(last_day.plus_days(1)).expect("in range").timestamp();
        if valid_from <= entered_at_s && exit_s <= valid_until {
            prop_assert_eq!(with.outcome.amount, Money::ZERO);
        }
        if exit_s <= valid_from || valid_until <= entered_at_s {
            prop_assert_eq!(with.outcome.amount, without.outcome.amount);
            prop_assert_eq!(with.outcome.pass, None);
        } else if exit_s > entered_at_s {
            prop_assert_eq!(with.outcome.pass, Some(permit));
        }
        // A permit changes the price, never the stay's closing.
        let mut closed = with.state.clone();
        closed.passes.clear();
        prop_assert_eq!(closed.open_stay, without.state.open_stay);
        prop_assert_eq!(with.occupancy, without.occupancy);
    }

    #[test]
    fn a_lost_ticket_costs_the_gate_exit_plus_the_lots_fee(steps in steps(), lot in 0usize..LOTS.len()) {
        let mut rider = Rider::new();
        let engine = rider.engine.clone();
        let lot = engine.lot(LOTS[lot]).expect("known lot");
        let fee = engine.lot_lost_ticket_fee(lot).expect("known lot");
        for step in &steps {
            let line = json_line(*step, "r");
            let value: serde_json::Value = serde_json::from_str(&line).expect("generated JSON");
            let at = to_event(&engine, &value).at;
            let occupancy = Some(rider.lots[lot.get()]);
            let exit = |how| Event { at, kind: EventKind::ParkOut { lot, exit: how } };
            let gate = engine.decide(&rider.state, occupancy, &exit(ParkExit::WithMedium)).expect("valid");
            let lost = engine.decide(&rider.state, occupancy, &exit(ParkExit::LostTicket)).expect("valid");
            let same_balance = AccountState { balance: gate.state.balance, ..lost.state.clone() };
            prop_assert_eq!(&gate.state, &same_balance, "only the balance differs");
            prop_assert_eq!(gate.occupancy, lost.occupancy);
            prop_assert_eq!(gate.outcome.decision, lost.outcome.decision);
            if gate.outcome.decision == Decision::Accept {
                prop_assert_eq!(lost.outcome.amount.as_vnd(), gate.outcome.amount.as_vnd() + fee.as_vnd());
                prop_assert_eq!(lost.state.balance.as_vnd(), gate.state.balance.as_vnd() - fee.as_vnd());
                prop_assert_eq!(lost.outcome.breakdown.lost_ticket_fee, fee);
                prop_assert_eq!(lost.outcome.breakdown.parking_fee, gate.outcome.breakdown.parking_fee);
            } else {
                prop_assert_eq!(lost.outcome.amount, Money::ZERO);
            }
            // Then the day goes on as generated.
            let event = to_event(&engine, &value);
            let lot_of = match event.kind {
                EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => Some(lot.get()),
                _ => None,
            };
            let occupancy = lot_of.and_then(|i| rider.lots.get_mut(i));
            engine.apply(&mut rider.state, occupancy, &event).expect("valid events");
        }
    }
}

// ---- errors ---------------------------------------------------------------------

#[test]
fn bad_events_are_errors_that_change_nothing() {
    let engine = hcmc_engine();
    let at = DateTime::parse_from_rfc3339("2026-03-02T07:00:00+07:00").expect("valid time");
    let lot = engine.lot("BTH-P").expect("lot exists");
    let other = engine.lot("TDI-P").expect("lot exists");
    let check_err = |kind: EventKind, occupancy: Option<LotOccupancy>, expected: EventError| {
        let state = AccountState {
            balance: Money::vnd(i64::MAX - 5),
            ..AccountState::default()
        };
        assert_eq!(
            engine.decide(&state, occupancy, &Event { at, kind }),
            Err(expected)
        );
    };
    check_err(
        EventKind::TopUp {
            amount: Money::ZERO,
        },
        None,
        EventError::NonPositiveTopUp(Money::ZERO),
    );
    check_err(
        EventKind::TopUp {
            amount: Money::vnd(10),
        },
        None,
        EventError::Overflow,
    );
    check_err(
        EventKind::ParkIn { lot },
        None,
        EventError::LotOccupancyMismatch,
    );
    check_err(
        EventKind::ParkIn { lot },
        Some(LotOccupancy {
            lot: other,
            occupied: 0,
        }),
        EventError::LotOccupancyMismatch,
    );
    check_err(
        EventKind::Bus {
            route: state::RouteIdx(999),
            category: engine.category("adult").expect("known"),
        },
        None,
        EventError::UnknownIndex("route"),
    );
}

#[test]
fn corrupt_state_indices_are_errors_not_panics() {
    let engine = hcmc_engine();
    let at = DateTime::parse_from_rfc3339("2026-03-02T07:00:00+07:00").expect("valid time");
    let state = AccountState {
        open_trip: Some(state::OpenTrip {
            station: state::StationIdx(9_999),
            entered_at_s: 0,
            entry_day: ServiceDay::from_date(chrono::NaiveDate::MIN),
            hold: Money::ZERO,
            category: state::CategoryIdx(200),
            discount: Money::ZERO,
            coverage: Coverage::Fare,
        }),
        ..AccountState::default()
    };
    let kind = EventKind::MetroOut {
        station: engine.station("BTH").expect("known"),
    };
    assert_eq!(
        engine.decide(&state, None, &Event { at, kind }),
        Err(EventError::UnknownIndex("station"))
    );
}

#[test]
fn expire_trip_closes_only_overdue_trips() {
    let mut rider = Rider::new();
    rider.run(&["03-02T06:00 topup 50000", "03-02T07:00 in BTH adult"]);
    let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("valid time");
    let engine = rider.engine.clone();
    assert_eq!(
        engine.expire_trip(&mut rider.state, at("2026-03-02T10:00:00+07:00")),
        Ok(None)
    );
    let closed = engine
        .expire_trip(&mut rider.state, at("2026-03-02T10:00:01+07:00"))
        .expect("valid state")
        .expect("the trip is overdue");
    assert_eq!(closed.reason, Some(Reason::IncompleteJourney));
    assert_eq!(closed.breakdown.incomplete_charge, Money::vnd(19_000));
    assert_eq!(rider.state.open_trip, None);
    assert_eq!(rider.state.balance, Money::vnd(31_000));
}

#[test]
fn state_round_trips_through_json() {
    let mut rider = Rider::new();
    rider.run(&[
        "03-02T06:00 topup 500000",
        "03-02T06:30 buy metro_3day adult",
        "03-02T07:00 bus 19 adult",
        "03-02T07:10 park_in BTH-P",
        "03-02T07:20 in BTH adult",
    ]);
    let json = serde_json::to_string(&rider.state).expect("states serialize");
    let back: AccountState = serde_json::from_str(&json).expect("and deserialize");
    assert_eq!(back, rider.state);
    assert!(
        !json.contains("BTH"),
        "ids are interned, not stored as text: {json}"
    );
}

// ---- configuration errors -------------------------------------------------------

#[test]
fn config_errors_name_the_key_and_the_reason() {
    let check_cfg = |from: &str, to: &str, expected: &[&str]| {
        let text = HCMC_TOML.replacen(from, to, 1);
        assert_ne!(text, HCMC_TOML, "the edit `{from}` applies");
        let errors = Extensions::from_toml("oneticket.toml", &text)
            .and_then(|ext| Engine::new(ext, &spec_table()))
            .expect_err("the edited file is invalid");
        let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, expected, "{errors}");
    };
    check_cfg(
        "entry_hold_vnd = 19000",
        "entry_hold_vnd = 18000",
        &["tap_in_tap_out[metro_l1].entry_hold_vnd"],
    );
    check_cfg(
        "entry_hold_vnd = 19000",
        "entry_hold_vnd = -1",
        &[
            "tap_in_tap_out[0].entry_hold_vnd",
            "tap_in_tap_out[0].same_station_fare_vnd",
        ],
    );
    check_cfg(
        "timezone = \"Asia/Ho_Chi_Minh\"",
        "timezone = \"Asia/Saigon City\"",
        &["calendar.timezone"],
    );
    check_cfg(
        "service_day_start = \"04:00\"",
        "service_day_start = \"4am\"",
        &["calendar.service_day_start"],
    );
    check_cfg("currency = \"VND\"", "currency = \"USD\"", &["currency"]);
    check_cfg(
        "adult = 300000, student",
        "adult_x = 300000, student",
        &[
            "passes.metro_month.price_vnd.adult_x",
            "passes.metro_month.price_vnd",
        ],
    );
    check_cfg(
        "validity_service_days = 30",
        "validity_service_days = 0",
        &["passes.metro_month.validity_service_days"],
    );
    check_cfg(
        "from = \"bus\"",
        "from = \"tram\"",
        &["transfer_discounts[0].from"],
    );
    check_cfg(
        "metro = [\"metro_l1\"]",
        "metro = [\"metro_l2\"]",
        &["transfer_groups.metro[0]"],
    );
    check_cfg(
        "linked_station = \"TDI\"",
        "linked_station = \"XXX\"",
        &["parking.lots[1].linked_station"],
    );
    check_cfg(
        "capacity = 200",
        "capacity = 0",
        &["parking.lots[3].capacity"],
    );
    check_cfg(
        "tariff = \"city_car\"",
        "tariff = \"city_bus\"",
        &["parking.lots[3].tariff"],
    );
    check_cfg(
        "grace_min = 10",
        "grace_min = -10",
        &["parking.tariffs.metro_motorbike.grace_min"],
    );
    check_cfg(
        "route_id = \"L1\"",
        "route_id = \"L9\"",
        &["tap_in_tap_out[metro_l1].route_id"],
    );
    check_cfg(
        "\"BTH\", \"NHT\"",
        "\"BTH\", \"BTH\"",
        &["tap_in_tap_out[0].stations[1]"],
    );
    check_cfg(
        "[caps.student]",
        "[caps.exempt]\ndaily_vnd = 1\nmonthly_vnd = 1\n[caps.student]",
        &["caps.exempt"],
    );
    // Syntax and unknown keys: one error naming the file (the message has the line).
    check_cfg(
        "schema_version = 1",
        "schema_version = 1\nschema_versoin = 1",
        &["oneticket.toml"],
    );
    check_cfg("block_h = 12", "block_h = \"12\"", &["oneticket.toml"]);
    check_cfg(
        "lost_ticket_vnd = 8000",
        "lost_ticket_vnd = -8000",
        &["parking.tariffs.metro_motorbike.lost_ticket_vnd"],
    );
    check_cfg(
        "covers_lots = [\"D1-CAR\"]",
        "covers_lots = [\"D2-CAR\"]",
        &["passes.parking_month_car.covers_lots[0]"],
    );
    check_cfg(
        "covers_lots = [\"D1-CAR\"]",
        "covers_lots = []",
        &["passes.parking_month_car.covers_networks"],
    );
    check_cfg(
        "\"TDI-P\", \"BXS-P\"]",
        "\"TDI-P\", \"TDI-P\"]",
        &["passes.parking_month_motorbike.covers_lots[2]"],
    );
}

#[test]
fn a_missing_fare_for_a_category_is_a_config_error() {
    let ext = Extensions::from_toml("oneticket.toml", HCMC_TOML).expect("valid");
    let mut table = spec_table();
    table.add_route("99", "bus_le15", "samco");
    table.set_route_fare("99", "adult", Money::vnd(5_000));
    let errors = Engine::new(ext, &table).expect_err("route 99 lacks student and exempt fares");
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert!(
        errors
            .0
            .iter()
            .all(|e| e.path == "fare_leg_rules.txt" && e.reason.contains("`99`"))
    );
}

// ---- property tests ---------------------------------------------------------

/// A generated step: minutes after 2026-03-31 04:00 (so a run crosses the
/// month boundary), an event verb index and argument picks.
type Step = (u32, u8, u8, u8);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0u32..2_000, 0u8..9, any::<u8>(), any::<u8>()), 1..60).prop_map(
        |mut v| {
            v.sort_by_key(|s| s.0);
            v
        },
    )
}

const CATEGORIES: [&str; 3] = ["adult", "student", "exempt"];
const PASSES: [&str; 5] = [
    "metro_day",
    "metro_3day",
    "metro_month",
    "parking_month_motorbike",
    "parking_month_car",
];
const LOTS: [&str; 4] = ["BTH-P", "TDI-P", "BXS-P", "D1-CAR"];

fn pick<'a>(list: &[&'a str], n: u8) -> &'a str {
    list[usize::from(n) % list.len()]
}

/// The step as a replay input line for account `acct`.
fn json_line(step: Step, acct: &str) -> String {
    let (minute, verb, a, b) = step;
    let at = DateTime::parse_from_rfc3339("2026-03-31T04:00:00+07:00").expect("valid")
        + chrono::TimeDelta::minutes(i64::from(minute));
    let at = at.to_rfc3339();
    let cat = pick(&CATEGORIES, b);
    let head = format!("{{\"account\":\"{acct}\",\"at\":\"{at}\"");
    match verb {
        0 => format!(
            "{head},\"event\":\"topup\",\"amount\":{}}}",
            (u32::from(a) + 1) * 1_000
        ),
        1 => format!(
            "{head},\"event\":\"bus\",\"route\":\"{}\",\"category\":\"{cat}\"}}",
            BUS_ROUTES[usize::from(a) % BUS_ROUTES.len()].0
        ),
        2 | 3 => format!(
            "{head},\"event\":\"{}\",\"station\":\"{}\",\"category\":\"{cat}\"}}",
            if verb == 2 { "metro_in" } else { "metro_out" },
            pick(&METRO_STATIONS, a)
        ),
        4 => format!(
            "{head},\"event\":\"buy\",\"product\":\"{}\",\"category\":\"{cat}\"}}",
            pick(&PASSES, a)
        ),
        5 | 6 => format!(
            "{head},\"event\":\"{}\",\"lot\":\"{}\",\"category\":\"{cat}\"}}",
            if verb == 5 { "park_in" } else { "park_out" },
            pick(&LOTS, a)
        ),
        8 => format!(
            "{head},\"event\":\"park_out\",\"lot\":\"{}\",\"category\":\"{cat}\",\"lost_ticket\":true}}",
            pick(&LOTS, a)
        ),
        _ => format!(
            "{head},\"event\":\"metro_out\",\"station\":\"{}\",\"category\":\"{cat}\"}}",
            pick(&METRO_STATIONS, b)
        ),
    }
}

fn replay_all(lines: &[String]) -> Vec<String> {
    let mut replay = Replay::new(hcmc_engine());
    lines.iter().map(|l| replay.line(l)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_is_deterministic(steps in steps()) {
        let lines: Vec<String> = steps.iter().enumerate()
            .map(|(i, s)| json_line(*s, if i % 3 == 0 { "a" } else { "b" }))
            .collect();
        prop_assert_eq!(replay_all(&lines), replay_all(&lines));
    }

    #[test]
    fn splitting_a_run_through_saved_state_changes_nothing(steps in steps(), cut in any::<prop::sample::Index>()) {
        let lines: Vec<String> = steps.iter().enumerate()
            .map(|(i, s)| json_line(*s, if i % 2 == 0 { "a" } else { "b" }))
            .collect();
        let whole = replay_all(&lines);
        let cut = cut.index(lines.len() + 1);
        let mut first = Replay::new(hcmc_engine());
        let mut out: Vec<String> = lines[..cut].iter().map(|l| first.line(l)).collect();
        let saved = serde_json::to_string(first.state()).expect("state serializes");
        let restored: ReplayState = serde_json::from_str(&saved).expect("and deserializes");
        let mut second = Replay::resume(hcmc_engine(), restored);
        out.extend(lines[cut..].iter().map(|l| second.line(l)));
        prop_assert_eq!(out, whole);
    }

    #[test]
    fn engine_invariants_hold_over_random_days(steps in steps()) {
        let mut rider = Rider::new();
        let engine = rider.engine.clone();
        let (mut placed, mut released, mut incomplete) = (0i64, 0i64, 0i64);
        for step in &steps {
            let line = json_line(*step, "r");
            let value: serde_json::Value = serde_json::from_str(&line).expect("generated JSON");
            let event = to_event(&engine, &value);
            let before = rider.state.clone();
            let lot = match event.kind {
                EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => Some(lot.get()),
                _ => None,
            };
            let occupancy = lot.and_then(|i| rider.lots.get_mut(i));
            let o = engine.apply(&mut rider.state, occupancy, &event).expect("valid events");
            let b = o.breakdown;

            // The balance moves by the amount, and the amount is the breakdown.
            prop_assert_eq!(before.balance.as_vnd() - o.amount.as_vnd(), rider.state.balance.as_vnd());
            prop_assert_eq!(o.balance, rider.state.balance);
            prop_assert_eq!(
                o.amount.as_vnd(),
                b.hold_placed.as_vnd() - b.hold_released.as_vnd() - b.top_up.as_vnd()
                    + b.fare_charged.as_vnd() + b.pass_price.as_vnd() + b.parking_fee.as_vnd()
                    + b.lost_ticket_fee.as_vnd()
            );
            if o.decision == Decision::Deny {
                prop_assert_eq!(&rider.state, &before);
                prop_assert_eq!(o.amount, Money::ZERO);
            }

            // No charge above what is left of the caps.
            let category = match event.kind {
                EventKind::Bus { category, .. } => Some(category),
                EventKind::MetroOut { .. } => before.open_trip.map(|t| t.category),
                _ => None,
            };
            if let Some(caps) = category.and_then(|c| engine.categories[c.get()].caps) {
                let day = o.service_day;
                let day_left = caps.daily.as_vnd() - state::Spent::on_day(before.spent, day).as_vnd();
                let month_left = caps.monthly.as_vnd() - state::Spent::in_month(before.spent, day.month()).as_vnd();
                prop_assert!(b.fare_charged.as_vnd() <= day_left.max(0));
                prop_assert!(b.fare_charged.as_vnd() <= month_left.max(0));
            }
            prop_assert!(b.fare_charged <= b.full_fare);

            // Only a parking exit takes a wallet below zero or further down.
            if !matches!(event.kind, EventKind::ParkOut { .. }) && rider.state.balance < before.balance {
                prop_assert!(!rider.state.balance.is_negative());
            }

            placed += b.hold_placed.as_vnd();
            released += b.hold_released.as_vnd();
            incomplete += b.incomplete_charge.as_vnd();
            let open = rider.state.open_trip.map_or(0, |t| t.hold.as_vnd());
            prop_assert_eq!(placed, released + incomplete + open, "every hold is accounted for");
        }
        // Closing the day after the last event leaves no hold.
        let close = DateTime::parse_from_rfc3339("2026-04-03T04:00:00+07:00").expect("valid");
        let open = rider.state.open_trip.map_or(0, |t| t.hold.as_vnd());
        let closed = engine.expire_trip(&mut rider.state, close).expect("valid state");
        prop_assert_eq!(closed.map_or(0, |o| o.breakdown.incomplete_charge.as_vnd()), open);
        prop_assert_eq!(rider.state.open_trip, None);
    }

    #[test]
    fn replay_never_panics_on_any_line(line in ".{0,200}") {
        let mut replay = Replay::new(hcmc_engine());
        let out: serde_json::Value = serde_json::from_str(&replay.line(&line)).expect("the answer is JSON");
        prop_assert_eq!(&out["decision"], "error");
        prop_assert_eq!(&out["amount"], 0);
        prop_assert_eq!(replay.state().accounts.len(), 0, "an error creates no account");
    }
}

/// The engine event of a generated replay line (the replay's own parsing is
/// tested separately).
fn to_event(engine: &Engine, v: &serde_json::Value) -> Event {
    let s = |k: &str| v[k].as_str().expect("generated lines have the field");
    let at = DateTime::parse_from_rfc3339(s("at")).expect("generated times are valid");
    let kind = match s("event") {
        "topup" => EventKind::TopUp {
            amount: Money::vnd(v["amount"].as_i64().expect("an amount")),
        },
        "bus" => EventKind::Bus {
            route: engine.route(s("route")).expect("known"),
            category: engine.category(s("category")).expect("known"),
        },
        "metro_in" => EventKind::MetroIn {
            station: engine.station(s("station")).expect("known"),
            category: engine.category(s("category")).expect("known"),
        },
        "metro_out" => EventKind::MetroOut {
            station: engine.station(s("station")).expect("known"),
        },
        "buy" => EventKind::BuyPass {
            product: engine.pass(s("product")).expect("known"),
            category: engine.category(s("category")).expect("known"),
        },
        "park_in" => EventKind::ParkIn {
            lot: engine.lot(s("lot")).expect("known"),
        },
        _ => EventKind::ParkOut {
            lot: engine.lot(s("lot")).expect("known"),
            exit: if v["lost_ticket"] == true {
                ParkExit::LostTicket
            } else {
                ParkExit::WithMedium
            },
        },
    };
    Event { at, kind }
}

// ---- the shipped GTFS feed ----------------------------------------------------

#[test]
fn shipped_feed_charges_the_spec_tables() {
    let engine = Engine::hcmc().unwrap_or_else(|e| panic!("the shipped config loads: {e}"));
    for category in CATEGORIES {
        let c = engine.category(category).expect("shipped category");
        for (route, _, adult_vnd) in BUS_ROUTES {
            let expected = match category {
                "adult" => adult_vnd,
                "student" => STUDENT_BUS_VND,
                _ => 0,
            };
            let r = engine.route(route).expect("shipped route");
            assert_eq!(
                engine.route_fare(r, c),
                Some(Money::vnd(expected)),
                "bus {route} {category}"
            );
        }
        let mut pairs = 0;
        for (i, from) in METRO_STATIONS.iter().enumerate() {
            for (j, to) in METRO_STATIONS.iter().enumerate() {
                if i == j {
                    continue;
                }
                let h = i.abs_diff(j);
                let expected = if category == "exempt" {
                    0
                } else {
                    METRO_FARE_BY_H[h - 1]
                };
                let (a, b) = (
                    engine.station(from).expect("station"),
                    engine.station(to).expect("station"),
                );
                assert_eq!(
                    engine.pair_fare(a, b, c),
                    Some(Money::vnd(expected)),
                    "{from}→{to} (h = {h}) {category}"
                );
                pairs += 1;
            }
        }
        assert_eq!(pairs, 182);
    }
    // Only the spec's routes: no stray route is priced per boarding.
    let priced: Vec<&str> = (0..u16::MAX)
        .map_while(|i| engine.route_id(state::RouteIdx(i)))
        .collect();
    assert_eq!(priced.len(), BUS_ROUTES.len(), "{priced:?}");
}

#[test]
fn shipped_operators_come_from_the_feed() {
    let engine = Engine::hcmc().unwrap_or_else(|e| panic!("the shipped config loads: {e}"));
    let mut rider_state = AccountState::default();
    let at = DateTime::parse_from_rfc3339("2026-03-02T07:00:00+07:00").expect("valid");
    engine
        .apply(
            &mut rider_state,
            None,
            &Event {
                at,
                kind: EventKind::TopUp {
                    amount: Money::vnd(50_000),
                },
            },
        )
        .expect("top-up");
    let c = engine.category("adult").expect("known");
    let bus = EventKind::Bus {
        route: engine.route("19").expect("known"),
        category: c,
    };
    let o = engine
        .apply(&mut rider_state, None, &Event { at, kind: bus })
        .expect("bus");
    assert_eq!(
        o.fare_product.and_then(|p| engine.fare_product_id(p)),
        Some("bus_15_25")
    );
    let owner = o.owner.expect("a bus leg has an owner");
    assert_eq!(engine.operator_id(owner.operator), Some("samco"));
    assert_eq!(
        owner.network.and_then(|n| engine.network_id(n)),
        Some("bus_15_25")
    );
    let metro = EventKind::MetroIn {
        station: engine.station("BTH").expect("known"),
        category: c,
    };
    let o = engine
        .apply(&mut rider_state, None, &Event { at, kind: metro })
        .expect("metro");
    let owner = o.owner.expect("a metro leg has an owner");
    assert_eq!(engine.operator_id(owner.operator), Some("hurc1"));
    let later = at + chrono::TimeDelta::minutes(30);
    let out = EventKind::MetroOut {
        station: engine.station("BXS").expect("known"),
    };
    let o = engine
        .apply(
            &mut rider_state,
            None,
            &Event {
                at: later,
                kind: out,
            },
        )
        .expect("exit");
    assert_eq!(
        o.fare_product.and_then(|p| engine.fare_product_id(p)),
        Some("metro_h13")
    );
}

#[test]
fn config_from_files_reports_missing_and_broken_files() {
    let mut files = hcmc_files();
    files.remove(feed::EXTENSIONS_FILE);
    let errors = Engine::from_files(&files).expect_err("no extensions file");
    assert_eq!(errors.0[0].path, "oneticket.toml");

    // Feed errors come through with their file and line.
    let mut files = hcmc_files();
    files.insert(
        "stops.txt".into(),
        files["stops.txt"].replace("TDI,", "TDX,"),
    );
    let errors = Engine::from_files(&files).expect_err("stop_areas.txt names a missing stop");
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert!(
        errors.0[0].reason.starts_with("stop_areas.txt:7 [stop_id]"),
        "{errors}"
    );

    // A station of the extensions that the feed does not have: reported once.
    let mut files = hcmc_files();
    let toml = files["oneticket.toml"].replace("\"DHQ\", \"BXS\"]", "\"DHQ\", \"BXS\", \"XYZ\"]");
    files.insert("oneticket.toml".into(), toml);
    let errors = Engine::from_files(&files).expect_err("XYZ is not in stops.txt");
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].path, "tap_in_tap_out.stations");
    assert!(errors.0[0].reason.contains("`XYZ`"), "{errors}");
}

#[test]
fn files_other_than_the_configuration_are_ignored() {
    let mut files = hcmc_files();
    files.insert("README.md".into(), "# notes for people\n".into());
    assert!(Engine::from_files(&files).is_ok());
}

/// A replay line built from plausible and implausible pieces, so that most
/// lines parse and reach the engine with odd values.
fn fuzz_line() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        Just("\"BTH\"".to_owned()),
        Just("\"19\"".to_owned()),
        Just("\"adult\"".to_owned()),
        Just("\"metro_day\"".to_owned()),
        Just("\"D1-CAR\"".to_owned()),
        Just("\"2026-03-02T07:00:00+07:00\"".to_owned()),
        Just("\"9999-12-31T23:59:59-12:00\"".to_owned()),
        Just("\"0001-01-01T00:00:00+14:00\"".to_owned()),
        Just("null".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1e308".to_owned()),
        Just("true".to_owned()),
        "[a-z_]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ];
    let event = prop_oneof![
        Just("topup"),
        Just("bus"),
        Just("metro_in"),
        Just("metro_out"),
        Just("buy"),
        Just("park_in"),
        Just("park_out"),
        Just("other"),
    ];
    (
        event,
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "account",
                    "at",
                    "amount",
                    "route",
                    "station",
                    "product",
                    "lot",
                    "category",
                    "lost_ticket",
                ]),
                text,
            ),
            0..9,
        ),
    )
        .prop_map(|(event, fields)| {
            let mut obj = format!("{{\"event\":\"{event}\"");
            for (key, value) in fields {
                obj.push_str(&format!(",\"{key}\":{value}"));
            }
            obj.push('}');
            obj
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replay_answers_every_structured_line_and_errors_change_nothing(
        lines in prop::collection::vec(fuzz_line(), 1..40)
    ) {
        let mut replay = Replay::new(hcmc_engine());
        for line in &lines {
            let before = replay.state().clone();
            let out: serde_json::Value =
                serde_json::from_str(&replay.line(line)).expect("the answer is JSON");
            let decision = out["decision"].as_str().expect("a decision");
            prop_assert!(["accept", "deny", "error"].contains(&decision), "{decision}");
            if decision != "accept" {
                prop_assert_eq!(&out["amount"], 0);
            }
            if decision == "error" {
                prop_assert_eq!(replay.state(), &before, "{}", line);
            }
        }
    }

    #[test]
    fn extensions_loader_never_panics(text in "[a-z_\\[\\]=\". 0-9\n{},-]{0,300}") {
        let _ = Extensions::from_toml("oneticket.toml", &text);
    }

    #[test]
    fn edited_shipped_extensions_load_or_explain(pos in any::<prop::sample::Index>(), byte in b' '..=b'~') {
        let mut text = HCMC_TOML.as_bytes().to_vec();
        let i = pos.index(text.len());
        text[i] = byte;
        if let Ok(text) = String::from_utf8(text) {
            match Extensions::from_toml("oneticket.toml", &text).and_then(|e| Engine::new(e, &spec_table())) {
                Ok(_) => {}
                Err(errors) => prop_assert!(!errors.0.is_empty() && errors.0.iter().all(|e| !e.reason.is_empty())),
            }
        }
    }
}
