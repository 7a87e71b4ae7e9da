//! The stream ingest's Postgres cost: rows per second and Postgres CPU per
//! row of `hot_events::write_ingest_batch`, the bulk write of a batch of
//! taps (`transit.tap`) and accepted account events (`rider.account_event`).
//!
//! ```sh
//! cargo bench -p store-pg --bench ingest            # OT_BENCH_TAPS=200000 OT_BENCH_BATCH=2000
//! ```
//!
//! A fresh database (test-kit) gets a fleet (200 terminals) and riders
//! (20,000 accounts with a card each), as the load test's `setup` makes;
//! then batches of bus taps, every one accepted (a tap row and an event
//! row), are written one batch at a time, as the ingest does, and the table
//! keeps growing through the run. Reported: rows per second (taps + events)
//! and the CPU the database's backends and the WAL writer spent per row,
//! read from `/proc/<pid>/stat` (Postgres on this machine). Then every
//! other batch is written again, as a redelivery after a crash would be: it
//! must insert nothing, and its cost is reported apart (the steady state
//! never redelivers).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use store_pg::hot_events::{EventRow, TapRow, write_ingest_batch};
use uuid::Uuid;

/// Terminals in the fleet (the load test's default).
const TERMINALS: u32 = 200;
/// Riders, each with an account and a card (the load test's default).
const RIDERS: u32 = 20_000;
/// Taps written when `OT_BENCH_TAPS` is not set.
const DEFAULT_TAPS: u32 = 200_000;
/// Taps per batch when `OT_BENCH_BATCH` is not set (the ingest's default).
const DEFAULT_BATCH: u32 = 2_000;
/// Clock ticks per second of `/proc/<pid>/stat` on Linux.
const TICKS_PER_S: u64 = 100;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn account(n: u32) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(n))
}

fn medium(n: u32) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0000 + u128::from(n))
}

fn terminal(n: u32) -> String {
    format!("bench-bus-{n:05}")
}

/// The rows of tap number `i` (a bus boarding by rider `i mod RIDERS` on
/// terminal `i mod TERMINALS`, the rider's `k`-th, so version `k + 1`).
fn rows(i: u32, at: DateTime<Utc>, day: NaiveDate) -> (TapRow, EventRow) {
    let rider = i % RIDERS;
    let version = i64::from(i / RIDERS) + 1;
    let terminal_id = terminal(i % TERMINALS);
    let seq = i64::from(i / TERMINALS) + 1;
    let key = format!("tap:{terminal_id}:1:{seq}");
    let tap = TapRow {
        terminal_id: terminal_id.clone(),
        boot_epoch: 1,
        seq,
        source: "online".into(),
        device_time: at,
        event_time: at,
        service_day: day,
        event_kind: "bus_boarding".into(),
        route_id: Some("19".into()),
        operator_id: "samco".into(),
        medium_kind: "transit_card".into(),
        medium_id: Some(medium(rider)),
        account_id: Some(account(rider)),
        category_id: Some("adult".into()),
        decision: "accept".into(),
        amount_vnd: 6_000,
        balance_vnd: Some(94_000),
        fare_product_id: Some("bus_flat_6000".into()),
        account_version: Some(version),
        config_id: "bench".into(),
        decided_at: at,
        ..TapRow::default()
    };
    let event = EventRow {
        account_id: account(rider),
        version,
        event_key: key,
        kind: "bus".into(),
        event_time: at,
        service_day: day,
        route_id: Some("19".into()),
        category_id: Some("adult".into()),
        amount_vnd: 6_000,
        balance_vnd: 94_000,
        fare_product_id: Some("bus_flat_6000".into()),
        terminal_id: Some(terminal_id),
        boot_epoch: Some(1),
        seq: Some(seq),
        config_id: "bench".into(),
        decided_at: at,
        ..EventRow::default()
    };
    (tap, event)
}

/// CPU ticks of process `pid`, 0 when it is gone.
fn ticks(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces).
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}

/// The backends of this database and the WAL writer, with their CPU ticks.
async fn postgres_ticks(pool: &sqlx::PgPool) -> HashMap<i32, u64> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() OR backend_type = 'walwriter'",
    )
    .fetch_all(pool)
    .await
    .expect("backends");
    pids.into_iter().map(|pid| (pid, ticks(pid))).collect()
}

async fn seed(pool: &sqlx::PgPool, now: DateTime<Utc>) {
    let statements = [
        "INSERT INTO transit.terminal (terminal_id, operator_id, mode, route_id, status, \
           created_at, updated_at) \
         SELECT 'bench-bus-' || lpad(n::text, 5, '0'), 'samco', 'bus_validator', '19', 'active', \
           $1, $1 FROM generate_series(0, $2 - 1) n",
        "INSERT INTO ledger.account (account_id, currency, kind, limit_kind, overdraft_limit_vnd, \
           created_at) \
         SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 704, \
           'rider_wallet', 'debits_must_not_exceed_credits', 0, $1 \
         FROM generate_series(0, $3 - 1) n",
        "INSERT INTO rider.account (account_id, category_id, category_status, created_at, \
           updated_at) \
         SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'adult', \
           'verified', $1, $1 FROM generate_series(0, $3 - 1) n",
        "INSERT INTO rider.medium (medium_id, kind, value, account_id, status, created_at) \
         SELECT ('01900000-0000-7000-9000-' || lpad(to_hex(n), 12, '0'))::uuid, 'transit_card', \
           lpad(to_hex(n), 14, '0'), \
           ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'active', $1 \
         FROM generate_series(0, $3 - 1) n",
    ];
    for sql in statements {
        sqlx::query(sql)
            .bind(now)
            .bind(i64::from(TERMINALS))
            .bind(i64::from(RIDERS))
            .execute(pool)
            .await
            .expect("seed the fleet and the riders");
    }
}

/// One measured phase of the run.
struct Phase {
    elapsed: Duration,
    rows_per_s: u128,
    cpu_us_per_row: u128,
}

impl Phase {
    async fn measure(
        pool: &sqlx::PgPool,
        cpu_before: &HashMap<i32, u64>,
        started: Instant,
        rows: u64,
    ) -> Phase {
        let elapsed = started.elapsed().max(Duration::from_millis(1));
        // Backends opened during the phase count from zero.
        let cpu_ticks: u64 = postgres_ticks(pool)
            .await
            .into_iter()
            .map(|(pid, now)| now.saturating_sub(cpu_before.get(&pid).copied().unwrap_or(0)))
            .sum();
        Phase {
            elapsed,
            rows_per_s: u128::from(rows) * 1_000 / elapsed.as_millis().max(1),
            cpu_us_per_row: u128::from(cpu_ticks) * 1_000_000
                / u128::from(TICKS_PER_S)
                / u128::from(rows.max(1)),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let taps = env_u32("OT_BENCH_TAPS", DEFAULT_TAPS);
    let batch = env_u32("OT_BENCH_BATCH", DEFAULT_BATCH).max(1);
    let db = test_kit::fresh_database().await;
    let pool = &db.pool;
    let now = Utc::now();
    let day = now.date_naive();
    seed(pool, now).await;
    let batches: Vec<(Vec<TapRow>, Vec<EventRow>)> = (0..taps)
        .step_by(usize::try_from(batch).unwrap_or(usize::MAX))
        .map(|first| {
            (first..first.saturating_add(batch).min(taps))
                .map(|i| rows(i, now, day))
                .unzip()
        })
        .collect();
    // New rows: the steady state.
    let cpu_before = postgres_ticks(pool).await;
    let started = Instant::now();
    let mut written = 0u64;
    for (tap_rows, event_rows) in &batches {
        let inserted = write_ingest_batch(pool, tap_rows, event_rows, &[], now)
            .await
            .expect("a batch is written");
        assert_eq!(inserted.taps, tap_rows.len() as u64);
        assert_eq!(inserted.events, event_rows.len() as u64);
        written += inserted.taps + inserted.events;
    }
    let fresh = Phase::measure(pool, &cpu_before, started, written).await;
    // Every other batch again, as a redelivery after a crash would be: it
    // must insert nothing.
    let cpu_before = postgres_ticks(pool).await;
    let started = Instant::now();
    let mut offered = 0u64;
    for (tap_rows, event_rows) in batches.iter().step_by(2) {
        let again = write_ingest_batch(pool, tap_rows, event_rows, &[], now)
            .await
            .expect("a redelivered batch is a no-op");
        assert_eq!(again.taps + again.events, 0, "a redelivery inserts nothing");
        offered += (tap_rows.len() + event_rows.len()) as u64;
    }
    let redelivered = Phase::measure(pool, &cpu_before, started, offered).await;
    println!(
        "ingest: {written} rows ({taps} taps + {taps} events) in batches of {batch} taps: \
         {:.2?}, {} rows/s, Postgres CPU {} µs/row (backends of this database and the WAL writer)",
        fresh.elapsed, fresh.rows_per_s, fresh.cpu_us_per_row
    );
    println!(
        "redelivered: {offered} rows (every other batch again, nothing inserted): {:.2?}, \
         {} rows/s, Postgres CPU {} µs/row",
        redelivered.elapsed, redelivered.rows_per_s, redelivered.cpu_us_per_row
    );
    db.drop_now().await;
}
