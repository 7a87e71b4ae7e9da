//! Throughput of the fare engine on the shipped HCMC configuration:
//! priced taps per second on one core, state in memory.
//!
//! Run with `cargo bench -p fares`. A plain `main` timed with `Instant`:
//! the figure that matters is the order of magnitude (target ≥ 1,000,000
//! taps/s/core), not a statistical confidence interval.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeDelta};
use fares::engine::{AccountState, Engine, Event, EventKind};
use ledger::Money;

/// Accounts in the working set: enough that states do not all sit in L1,
/// like a busy validation node's share of riders.
const ACCOUNTS: usize = 20_000;
/// Taps generated per account for one simulated day (a commuter's round
/// trip with a bus and a metro leg each way, plus the odd extra leg).
const TAPS_PER_ACCOUNT: usize = 8;
/// Timed passes over the whole day; the best is reported, to skip
/// warm-up and noise from other jobs on the machine.
const PASSES: usize = 5;

/// Quotes timed per pass: enough for a stable figure in well under a second.
const QUOTES: usize = 20_000;

/// A three-leg journey (bus → metro end to end → bus) with both transfer
/// discounts in play: the kind of journey a trip planner prices most.
const JOURNEY: &str = r#"{"rider_category":"adult","fare_media":null,"legs":[
  {"route_id":"19","departure":"2026-03-02T07:00:00+07:00","arrival":"2026-03-02T07:30:00+07:00"},
  {"route_id":"L1","from_stop_id":"BTH","to_stop_id":"BXS","departure":"2026-03-02T07:40:00+07:00","arrival":"2026-03-02T08:10:00+07:00"},
  {"route_id":"33","departure":"2026-03-02T08:20:00+07:00","arrival":"2026-03-02T08:50:00+07:00"}]}"#;

/// `count` operations in `elapsed`, per second, in integers (no floats in
/// the money crates, benches included).
fn per_second(count: usize, elapsed: Duration) -> u128 {
    let nanos = elapsed.as_nanos().max(1);
    u128::try_from(count)
        .unwrap_or(u128::MAX)
        .saturating_mul(1_000_000_000)
        / nanos
}

/// Quotes per second of [`JOURNEY`] through the GTFS feed.
fn bench_quotes() {
    let feed = fares::gtfs::Feed::load(&fares::engine::hcmc_files())
        .unwrap_or_else(|e| panic!("the shipped feed loads: {e}"));
    let request = fares::gtfs::QuoteRequest::from_json(JOURNEY).expect("a valid request");
    let mut best = Duration::MAX;
    let mut total = None;
    for _ in 0..PASSES {
        let timer = Instant::now();
        for _ in 0..QUOTES {
            let quote = feed.quote(black_box(&request)).expect("the journey quotes");
            total = quote.total;
        }
        best = best.min(timer.elapsed());
    }
    let per_s = per_second(QUOTES, best);
    let total = total.map_or_else(|| "unknown".to_owned(), |t| t.to_string());
    println!(
        "gtfs quotes: {QUOTES} quotes of a 3-leg journey (total {total} VND) in {} ms (best of {PASSES}): {per_s} quotes/s on one core",
        best.as_millis()
    );
}

/// A small deterministic generator (64-bit LCG): the bench needs a varied
/// but repeatable mix, not statistical randomness.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next()).unwrap_or(0) % n
    }
}

/// One simulated service day of taps for every account, in time order.
fn day_of_taps(engine: &Engine, start: DateTime<FixedOffset>) -> Vec<(usize, Event)> {
    let mut rng = Lcg(42);
    let routes = ["01", "56", "19", "53", "93", "33", "150", "13"]
        .map(|r| engine.route(r).expect("shipped route"));
    let stations = [
        "BTH", "NHT", "BSO", "VTH", "TCA", "TDI", "APH", "RCH", "PLO", "BTA", "TDU", "KCN", "DHQ",
        "BXS",
    ]
    .map(|s| engine.station(s).expect("shipped station"));
    let categories = ["adult", "adult", "adult", "student", "exempt"]
        .map(|c| engine.category(c).expect("shipped category"));
    let mut taps = Vec::with_capacity(ACCOUNTS * TAPS_PER_ACCOUNT);
    for account in 0..ACCOUNTS {
        let category = categories[rng.below(categories.len())];
        let mut minute = i64::try_from(rng.below(180)).unwrap_or(0);
        let mut at = |step: i64| {
            minute += step;
            start + TimeDelta::minutes(minute)
        };
        // Morning: bus, then metro; evening: metro, then bus.
        let (home, work) = (stations[rng.below(14)], stations[rng.below(14)]);
        let route = routes[rng.below(routes.len())];
        let plan = [
            EventKind::Bus { route, category },
            EventKind::MetroIn {
                station: home,
                category,
            },
            EventKind::MetroOut { station: work },
            EventKind::Bus {
                route: routes[rng.below(8)],
                category,
            },
            EventKind::MetroIn {
                station: work,
                category,
            },
            EventKind::MetroOut { station: home },
            EventKind::Bus { route, category },
            EventKind::Bus {
                route: routes[rng.below(8)],
                category,
            },
        ];
        for (i, kind) in plan.into_iter().enumerate() {
            let gap = if i == 3 {
                540
            } else {
                10 + i64::try_from(rng.below(40)).unwrap_or(0)
            };
            taps.push((account, Event { at: at(gap), kind }));
        }
    }
    // Interleave accounts in time order, as a validation node sees them.
    taps.sort_by_key(|(_, e)| e.at);
    taps
}

fn main() {
    let engine = Engine::hcmc().unwrap_or_else(|e| panic!("the shipped config loads: {e}"));
    let start = DateTime::parse_from_rfc3339("2026-03-02T05:00:00+07:00").expect("valid time");
    let taps = day_of_taps(&engine, start);
    let topup_at = start - TimeDelta::hours(1);

    let mut best = Duration::MAX;
    let mut accepted = 0usize;
    for _ in 0..PASSES {
        let mut states = vec![AccountState::default(); ACCOUNTS];
        for state in &mut states {
            let topup = Event {
                at: topup_at,
                kind: EventKind::TopUp {
                    amount: Money::vnd(500_000),
                },
            };
            engine.apply(state, None, &topup).expect("top-up");
        }
        accepted = 0;
        let timer = Instant::now();
        for (account, event) in &taps {
            let state = &mut states[*account];
            let outcome = engine
                .apply(state, None, black_box(event))
                .expect("valid taps");
            accepted += usize::from(outcome.decision == fares::engine::Decision::Accept);
        }
        best = best.min(timer.elapsed());
        black_box(&states);
    }
    let taps_per_s = per_second(taps.len(), best);
    println!(
        "fares engine: {} priced taps ({} accounts, {} accepted) in {} ms (best of {PASSES}): {} taps/s on one core",
        taps.len(),
        ACCOUNTS,
        accepted,
        best.as_millis(),
        taps_per_s
    );
    bench_quotes();
}
