//! Settlement throughput: settle a day of 1,000,000 taps on a fresh
//! database, beside a raw `COPY` of the same event rows into the same
//! Postgres in the same run (the floor any day close is measured against).
//!
//! `cargo bench -p settlement --bench settle` (release). `OT_BENCH_TAPS`
//! sets the number of taps (default 1,000,000); `OT_BENCH_PAGE` the
//! accounts per page, `OT_BENCH_IN_FLIGHT` the pages posting at once. Diagnostics: `OT_BENCH_EXPLAIN` logs the plans of
//! statements over 300 ms (nested ones and trigger times included) to the
//! server log, `OT_BENCH_STATS` prints table scan counts, `OT_BENCH_KEEP`
//! keeps the database, `OT_BENCH_LOG=settlement=debug` prints the job's
//! per-page timings. Riders' account ids are UUIDv7 spread over two years
//! of sign-ups, as the rider API makes them. Each rider taps ten times (bus boardings and metro
//! trips, adult, student and exempt, caps biting for many) after a top-up,
//! priced by the engine in order exactly as the hot path would, and
//! recorded as the ingest records it: `rider.account_event` and
//! `transit.tap`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use fares::engine::{AccountState, Decision, Engine, Event, EventKind, hcmc_files};
use ledger::{
    Account, AccountId, AccountKind, Amount, Currency, MAX_BATCH_TRANSFERS, Money, Movement,
    Overdraft, ProviderId, Transfer, TransferBody, TransferCode, TransferId,
};
use settlement::job::{Scope, Settings, Settler};
use settlement::progress::Silent;
use sqlx::PgPool;
use store_pg::Ledger;
use uuid::Uuid;

/// Taps per rider: a busy commuter's day.
const TAPS_PER_RIDER: usize = 10;
/// Default taps in the benchmark day.
const DEFAULT_TAPS: usize = 1_000_000;
/// Top-up per rider: enough for a capped day.
const TOP_UP_VND: i64 = 200_000;
/// When the benchmark's riders began signing up (2024-11-26, unix ms).
const SIGNUP_START_MS: u64 = 1_732_579_200_000;
/// Over how long they signed up: two years, ms.
const SIGNUP_SPREAD_MS: u64 = 2 * 365 * 86_400_000;
/// Rows per COPY chunk sent to the server.
const COPY_CHUNK_BYTES: usize = 4 << 20;

const ROUTES: [&str; 8] = ["01", "56", "19", "53", "93", "33", "150", "13"];
const STATIONS: [&str; 14] = [
    "BTH", "NHT", "BSO", "VTH", "TCA", "TDI", "APH", "RCH", "PLO", "BTA", "TDU", "KCN", "DHQ",
    "BXS",
];

/// xorshift64*: deterministic data without a random crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }
}

/// CSV rows of `rider.account_event` and `transit.tap`.
#[derive(Default)]
struct Rows {
    events: String,
    taps: String,
    event_rows: usize,
    tap_rows: usize,
}

fn opt(value: Option<&str>) -> &str {
    value.unwrap_or("")
}

#[allow(clippy::too_many_lines)] // One rider's day, step by step.
fn rider_day(engine: &Engine, rng: &mut Rng, rider: Uuid, seq: &mut i64, rows: &mut Rows) {
    let category = match rng.below(20) {
        0 => "exempt",
        1..=3 => "student",
        _ => "adult",
    };
    let mut state = AccountState::default();
    let mut version = 0i64;
    let start = DateTime::parse_from_rfc3339("2026-03-02T06:00:00+07:00")
        .expect("a valid time")
        .to_utc();
    let mut at = start + TimeDelta::minutes(i64::try_from(rng.below(120)).unwrap_or(0));
    let mut open_trip = false;
    let mut taps = 0;
    let mut step = 0;
    while taps < TAPS_PER_RIDER {
        let (kind, route, station, terminal, operator, event_kind) = if step == 0 {
            (
                EventKind::TopUp {
                    amount: Money::vnd(TOP_UP_VND),
                },
                None,
                None,
                None,
                None,
                None,
            )
        } else if open_trip {
            let s = STATIONS[rng.below(STATIONS.len())];
            (
                EventKind::MetroOut {
                    station: engine.station(s).expect("station"),
                },
                None,
                Some(s),
                Some(format!("G-{s}")),
                Some("hurc1"),
                Some("metro_exit"),
            )
        } else if rng.below(10) < 4 && taps + 2 <= TAPS_PER_RIDER {
            let s = STATIONS[rng.below(STATIONS.len())];
            (
                EventKind::MetroIn {
                    station: engine.station(s).expect("station"),
                    category: engine.category(category).expect("category"),
                },
                None,
                Some(s),
                Some(format!("G-{s}")),
                Some("hurc1"),
                Some("metro_entry"),
            )
        } else {
            let r = ROUTES[rng.below(ROUTES.len())];
            (
                EventKind::Bus {
                    route: engine.route(r).expect("route"),
                    category: engine.category(category).expect("category"),
                },
                Some(r),
                None,
                Some(format!("B-{r}")),
                Some("samco"),
                Some("bus_boarding"),
            )
        };
        step += 1;
        let decided = engine
            .decide(
                &state,
                None,
                &Event {
                    at: at.fixed_offset(),
                    kind,
                },
            )
            .expect("valid event");
        let accepted = decided.outcome.decision == Decision::Accept;
        let time = at.to_rfc3339();
        let (kind_text, top_up) = match kind {
            EventKind::TopUp { .. } => ("top_up", Some(TOP_UP_VND)),
            EventKind::Bus { .. } => ("bus", None),
            EventKind::MetroIn { .. } => ("metro_in", None),
            _ => ("metro_out", None),
        };
        let with_category = matches!(kind, EventKind::Bus { .. } | EventKind::MetroIn { .. });
        let key = if let Some(terminal) = &terminal {
            *seq += 1;
            taps += 1;
            let _ = writeln!(
                rows.taps,
                "{terminal},0,{seq},online,{time},{time},2026-03-02,{},{},{},{},transit_card,{rider},{},{},{},{},{},test,{time}",
                opt(event_kind),
                opt(route),
                opt(station),
                opt(operator),
                if with_category { category } else { "" },
                if accepted { "accept" } else { "deny" },
                decided.outcome.amount.as_vnd(),
                decided.outcome.balance.as_vnd(),
                version + i64::from(accepted),
            );
            rows.tap_rows += 1;
            format!("tap:{terminal}:0:{seq}")
        } else {
            format!("top_up:{}", rider.simple())
        };
        if accepted {
            version += 1;
            let _ = writeln!(
                rows.events,
                "{rider},{version},{key},{kind_text},{time},2026-03-02,{},{},{},{},{},{},{},{},{},{},test,{time}",
                opt(route),
                opt(station),
                if with_category { category } else { "" },
                top_up.map(|t| t.to_string()).unwrap_or_default(),
                decided.outcome.amount.as_vnd(),
                decided.outcome.balance.as_vnd(),
                decided.outcome.reason.map(|r| r.code()).unwrap_or(""),
                terminal.as_deref().unwrap_or(""),
                if terminal.is_some() { "0" } else { "" },
                if terminal.is_some() {
                    seq.to_string()
                } else {
                    String::new()
                },
            );
            rows.event_rows += 1;
            state = decided.state;
            open_trip = state.open_trip.is_some();
        }
        at += TimeDelta::minutes(15 + i64::try_from(rng.below(45)).unwrap_or(0));
    }
}

const EVENT_COPY: &str = "(account_id, version, event_key, kind, event_time, service_day, \
     route_id, station_id, category_id, top_up_vnd, amount_vnd, balance_vnd, reason, terminal_id, \
     boot_epoch, seq, config_id, decided_at) FROM STDIN (FORMAT csv)";

async fn copy(pool: &PgPool, table: &str, columns: &str, csv: &str) -> f64 {
    let started = Instant::now();
    let mut conn = pool.acquire().await.expect("connection");
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} {columns}"))
        .await
        .expect("COPY starts");
    let mut rest = csv.as_bytes();
    while !rest.is_empty() {
        // Split on a line end so every chunk holds whole rows.
        let mut end = rest.len().min(COPY_CHUNK_BYTES);
        while end < rest.len() && rest.get(end - 1) != Some(&b'\n') {
            end += 1;
        }
        let (chunk, tail) = rest.split_at(end);
        copy.send(chunk).await.expect("COPY data");
        rest = tail;
    }
    copy.finish().await.expect("COPY ends");
    started.elapsed().as_secs_f64()
}

async fn seed_riders(pool: &PgPool, riders: &[Uuid], now: DateTime<Utc>) {
    for chunk in riders.chunks(50_000) {
        sqlx::query(
            "INSERT INTO ledger.account (account_id, currency, kind, limit_kind, \
             overdraft_limit_vnd, created_at) \
             SELECT id, 704, 'rider_wallet', 'debits_must_not_exceed_credits', 0, $2 \
             FROM UNNEST($1::uuid[]) AS v(id)",
        )
        .bind(chunk)
        .bind(now)
        .execute(pool)
        .await
        .expect("wallets");
        sqlx::query(
            "INSERT INTO rider.account (account_id, category_id, category_status, created_at, \
             updated_at) SELECT id, 'adult', 'verified', $2, $2 FROM UNNEST($1::uuid[]) AS v(id)",
        )
        .bind(chunk)
        .bind(now)
        .execute(pool)
        .await
        .expect("riders");
    }
    let ledger = Ledger::new(pool.clone());
    let clearing = AccountId::new(Uuid::from_u128(0xC1EA)).expect("not reserved");
    ledger
        .create_account(
            &Account::new(
                clearing,
                AccountKind::ProviderClearing {
                    provider_id: ProviderId::parse("VNPAY").expect("valid"),
                },
            ),
            now,
        )
        .await
        .expect("clearing");
    let top_ups: Vec<Transfer> = riders
        .iter()
        .enumerate()
        .map(|(i, rider)| Transfer {
            id: TransferId::new(Uuid::from_u128(
                0x7000_0000_0000 + u128::try_from(i).unwrap_or(0),
            ))
            .expect("not reserved"),
            code: TransferCode::TopUp,
            reference: None,
            body: TransferBody::Direct(Movement {
                debit_account_id: clearing,
                credit_account_id: AccountId::new(*rider).expect("not reserved"),
                amount: Amount::new(Money::vnd(TOP_UP_VND)).expect("positive"),
                currency: Currency::VND,
                overdraft: Overdraft::Forbidden,
            }),
        })
        .collect();
    for batch in top_ups.chunks(MAX_BATCH_TRANSFERS) {
        ledger.apply(batch, now).await.expect("top-ups");
    }
}

async fn seed_terminals(pool: &PgPool, now: DateTime<Utc>) {
    for r in ROUTES {
        sqlx::query(
            "INSERT INTO transit.terminal (terminal_id, operator_id, mode, route_id, status, \
             created_at, updated_at) VALUES ($1, 'samco', 'bus_validator', $2, 'active', $3, $3)",
        )
        .bind(format!("B-{r}"))
        .bind(r)
        .bind(now)
        .execute(pool)
        .await
        .expect("bus terminal");
    }
    for s in STATIONS {
        sqlx::query(
            "INSERT INTO transit.terminal (terminal_id, operator_id, mode, station_id, direction, \
             status, created_at, updated_at) \
             VALUES ($1, 'hurc1', 'metro_gate', $2, 'entry', 'active', $3, $3)",
        )
        .bind(format!("G-{s}"))
        .bind(s)
        .bind(now)
        .execute(pool)
        .await
        .expect("metro gate");
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if let Ok(filter) = std::env::var("OT_BENCH_LOG") {
        // e.g. OT_BENCH_LOG=settlement=debug: the job's per-page timings.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let taps = env_usize("OT_BENCH_TAPS", DEFAULT_TAPS);
    let page = u32::try_from(env_usize(
        "OT_BENCH_PAGE",
        usize::try_from(settlement::job::DEFAULT_ACCOUNTS_PER_PAGE).unwrap_or(500),
    ))
    .unwrap_or(500);
    let riders_n = taps.div_ceil(TAPS_PER_RIDER);
    let db = test_kit::fresh_database().await;
    let pool = db.pool.clone();
    let engine = Arc::new(Engine::hcmc().expect("hcmc"));
    let now = Utc::now();

    let generated = Instant::now();
    let mut rng = Rng(0x0ec0_ffee_1234_5678);
    // Account ids as the rider API makes them (UUIDv7: creation time in
    // ms, then random bits), riders having signed up over the last two
    // years: the ids' order and spread are production's, which the ledger's
    // indexes (and settlement's locality prefix) see.
    let step_ms = SIGNUP_SPREAD_MS / u64::try_from(riders_n.max(1)).unwrap_or(1);
    let riders: Vec<Uuid> = (0..riders_n)
        .map(|i| {
            let ms = SIGNUP_START_MS + u64::try_from(i).unwrap_or(0) * step_ms;
            let random = u128::from(rng.next()) << 16 | u128::from(rng.next() & 0xffff);
            let id = (u128::from(ms) << 80)
                | (0x7 << 76)
                | ((random >> 64) & 0xfff) << 64
                | (0x2 << 62)
                | (random & ((1 << 62) - 1));
            Uuid::from_u128(id)
        })
        .collect();
    let mut rows = Rows::default();
    let mut seq = 0i64;
    for rider in &riders {
        rider_day(&engine, &mut rng, *rider, &mut seq, &mut rows);
    }
    println!(
        "generated {} taps ({} account events) for {} riders in {:.1} s",
        rows.tap_rows,
        rows.event_rows,
        riders.len(),
        generated.elapsed().as_secs_f64()
    );
    seed_riders(&pool, &riders, now).await;
    seed_terminals(&pool, now).await;
    copy(
        &pool,
        "transit.tap",
        "(terminal_id, boot_epoch, seq, source, device_time, event_time, service_day, event_kind, \
         route_id, station_id, operator_id, medium_kind, account_id, category_id, decision, \
         amount_vnd, balance_vnd, account_version, config_id, decided_at) FROM STDIN (FORMAT csv)",
        &rows.taps,
    )
    .await;
    copy(&pool, "rider.account_event", EVENT_COPY, &rows.events).await;
    sqlx::query("ANALYZE")
        .execute(&pool)
        .await
        .expect("analyze");

    // The floor: the same event rows COPYed into a table of the same shape
    // (constraints and indexes included), in the same database.
    sqlx::query(
        "CREATE TABLE rider.account_event_copy (LIKE rider.account_event \
         INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)",
    )
    .execute(&pool)
    .await
    .expect("copy table");
    let copy_s = copy(&pool, "rider.account_event_copy", EVENT_COPY, &rows.events).await;
    println!(
        "raw COPY of the {} event rows: {copy_s:.2} s ({:.0} rows/s)",
        rows.event_rows,
        count_f64(rows.event_rows) / copy_s
    );

    // Diagnostics: plans of slow statements, nested ones (FK checks)
    // included, in the server log; on this database only.
    let pool = if std::env::var("OT_BENCH_EXPLAIN").is_ok() {
        for setting in [
            "session_preload_libraries = 'auto_explain'",
            "auto_explain.log_min_duration = 300",
            "auto_explain.log_nested_statements = on",
            "auto_explain.log_analyze = on",
            "auto_explain.log_triggers = on",
        ] {
            sqlx::query(&format!("ALTER DATABASE \"{}\" SET {setting}", db.name))
                .execute(&pool)
                .await
                .expect("setting");
        }
        store_pg::connect(&db.url(), &store_pg::PoolSettings::default())
            .await
            .expect("a pool with the settings")
    } else {
        pool
    };
    let owners = settlement::config::pass_owners(&engine, &hcmc_files()).expect("owners");
    let mut settler = Settler::new(
        pool.clone(),
        Arc::clone(&engine),
        owners,
        Settings {
            accounts_per_page: page,
            pages_in_flight: env_usize(
                "OT_BENCH_IN_FLIGHT",
                settlement::job::DEFAULT_PAGES_IN_FLIGHT,
            ),
            stop_after_accounts: None,
        },
        now,
    )
    .await
    .expect("settler");
    let started = Instant::now();
    let reports = settler
        .settle_through(
            "2026-03-02".parse().expect("date"),
            Scope::IncludingThrough,
            &Silent,
            now,
        )
        .await
        .expect("settles");
    let settle_s = started.elapsed().as_secs_f64();
    let report = reports.last().expect("one day");
    println!(
        "settle: {settle_s:.2} s for {} taps ({:.0} taps/s; {} accounts, {} transfers, {} failed), \
         {:.2}× the raw COPY",
        rows.tap_rows,
        count_f64(rows.tap_rows) / settle_s,
        report.accounts,
        report.transfers,
        report.failed,
        settle_s / copy_s
    );
    let started = Instant::now();
    let again = settler
        .settle_day("2026-03-02".parse().expect("date"), &Silent, now)
        .await
        .expect("settles again");
    println!(
        "re-run (nothing new): {:.2} s, {} transfers posted",
        started.elapsed().as_secs_f64(),
        again.transfers
    );
    let findings = store_pg::settlement::audit_settlement(&pool)
        .await
        .expect("audit");
    println!("settlement audit findings: {}", findings.len());
    if std::env::var("OT_BENCH_STATS").is_ok() {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT schemaname || '.' || relname, COALESCE(seq_scan, 0), COALESCE(idx_scan, 0)              FROM pg_stat_user_tables ORDER BY seq_scan DESC LIMIT 8",
        )
        .fetch_all(&pool)
        .await
        .expect("stats");
        for row in rows {
            println!("  {row:?}");
        }
    }
    if std::env::var("OT_BENCH_KEEP").is_ok() {
        println!("kept database {}", db.name);
    } else {
        db.drop_now().await;
    }
}

fn count_f64(n: usize) -> f64 {
    u32::try_from(n).map_or(f64::MAX, f64::from)
}
