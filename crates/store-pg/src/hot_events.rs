//! What the stream ingest writes and the rebuild reads: taps
//! (`transit.tap`), accepted account events (`rider.account_event`), state
//! snapshots and dead letters.
//!
//! Writes are bulk (one `INSERT … SELECT unnest($1), unnest($2), …` per
//! table, every column sent as one binary array) and idempotent (a batch
//! that meets an existing key is written again with `ON CONFLICT DO
//! NOTHING`, see [`write_ingest_batch`]), in one transaction per batch, so
//! the stream is acknowledged only after a batch is durable and a
//! redelivered entry is a no-op. The `unnest`s sit in the select list, not
//! in `FROM UNNEST(…)`: Postgres then walks the arrays in step row by row
//! instead of first copying them into a tuple store, which cost more
//! Postgres time than the inserts' own work (`cargo bench -p store-pg --bench
//! ingest`; BENCHMARKS.md, "Tap path").

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;

/// One tap as the ingest writes it (see `transit.tap` for each column).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct TapRow {
    pub terminal_id: String,
    pub boot_epoch: i64,
    pub seq: i64,
    pub source: String,
    pub device_time: DateTime<Utc>,
    pub event_time: DateTime<Utc>,
    pub service_day: NaiveDate,
    pub event_kind: String,
    pub route_id: Option<String>,
    pub stop_id: Option<String>,
    pub station_id: Option<String>,
    pub lot_id: Option<String>,
    pub gate_id: Option<String>,
    pub vehicle_class: Option<String>,
    pub operator_id: String,
    pub medium_kind: String,
    pub medium_id: Option<Uuid>,
    pub ticket_id: Option<Vec<u8>>,
    pub account_id: Option<Uuid>,
    pub category_id: Option<String>,
    pub decision: String,
    pub reason: Option<String>,
    pub ticket_verdict: Option<String>,
    pub amount_vnd: i64,
    pub balance_vnd: Option<i64>,
    pub product_id: Option<String>,
    pub fare_product_id: Option<String>,
    pub account_version: Option<i64>,
    pub config_id: String,
    pub decided_at: DateTime<Utc>,
}

/// One accepted account event (see `rider.account_event`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct EventRow {
    pub account_id: Uuid,
    pub version: i64,
    pub event_key: String,
    pub kind: String,
    pub event_time: DateTime<Utc>,
    pub service_day: NaiveDate,
    pub route_id: Option<String>,
    pub station_id: Option<String>,
    pub lot_id: Option<String>,
    pub product_id: Option<String>,
    pub category_id: Option<String>,
    pub top_up_vnd: Option<i64>,
    pub amount_vnd: i64,
    pub balance_vnd: i64,
    pub reason: Option<String>,
    pub pass_id: Option<String>,
    pub fare_product_id: Option<String>,
    pub terminal_id: Option<String>,
    pub boot_epoch: Option<i64>,
    pub seq: Option<i64>,
    pub config_id: String,
    pub decided_at: DateTime<Utc>,
}

/// A stream entry that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The stream key.
    pub stream: String,
    /// The entry id.
    pub entry_id: String,
    /// The raw body.
    pub body: String,
    /// Why it failed.
    pub error: String,
}

/// How many rows one ingest batch inserted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// New taps.
    pub taps: u64,
    /// New account events.
    pub events: u64,
}

/// Writes one ingest batch in one transaction, and with it, for every day
/// that received an account event or a deny-with-an-account tap, the time it
/// did (`transit.day_arrival`, read by settlement's late-day check).
///
/// A batch is first written with plain `INSERT`s: a row that exists
/// already (a redelivery after a crash, or another instance's ingest of the
/// same entry) fails the transaction with a unique violation, which rolls
/// back everything, and the batch is then written again with `ON CONFLICT DO
/// NOTHING`, which skips the rows that exist. The first attempt is the
/// steady state and the cheaper one: `ON CONFLICT` makes Postgres probe
/// every unique index of the table for every row before inserting it (a
/// second descent of each B-tree, `ExecCheckIndexConstraints`), which was a
/// third of Postgres's CPU at 10,000 taps/s (BENCHMARKS.md, "session 6").
#[tracing::instrument(skip_all, fields(taps = taps.len(), events = events.len()))]
pub async fn write_ingest_batch(
    pool: &PgPool,
    taps: &[TapRow],
    events: &[EventRow],
    dead: &[DeadLetter],
    now: DateTime<Utc>,
) -> Result<Inserted, StoreError> {
    match write_batch(pool, taps, events, dead, now, Existing::Fail).await {
        Err(error) if is_duplicate(&error) => {
            write_batch(pool, taps, events, dead, now, Existing::Skip)
                .await
                .map_err(StoreError::from)
        }
        other => other.map_err(StoreError::from),
    }
}

/// What an ingest insert does with a row whose key exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Existing {
    /// Fail the statement (no `ON CONFLICT`: no probe before each insert).
    Fail,
    /// Skip the row (`ON CONFLICT DO NOTHING`).
    Skip,
}

fn is_duplicate(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.code().as_deref() == Some(crate::error::sqlstate::UNIQUE_VIOLATION))
}

/// The insert of an ingest batch's account events.
const INSERT_EVENTS: &str = "WITH inserted AS (INSERT INTO rider.account_event (account_id, version, event_key, kind, event_time, \
       service_day, route_id, station_id, lot_id, product_id, category_id, top_up_vnd, \
       amount_vnd, balance_vnd, reason, pass_id, fare_product_id, terminal_id, boot_epoch, \
       seq, config_id, decided_at) \
     SELECT unnest($1::uuid[]), unnest($2::bigint[]), unnest($3::text[]), \
       unnest($4::text[]), unnest($5::timestamptz[]), unnest($6::date[]), \
       unnest($7::text[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]), \
       unnest($11::text[]), unnest($12::bigint[]), unnest($13::bigint[]), \
       unnest($14::bigint[]), unnest($15::text[]), unnest($16::text[]), \
       unnest($17::text[]), unnest($18::text[]), unnest($19::bigint[]), \
       unnest($20::bigint[]), unnest($21::text[]), unnest($22::timestamptz[]) \
     {on_conflict} RETURNING service_day) \
     SELECT count(*), COALESCE(array_agg(DISTINCT service_day), '{}') FROM inserted";

/// The insert of an ingest batch's taps.
const INSERT_TAPS: &str = "WITH inserted AS (INSERT INTO transit.tap (terminal_id, boot_epoch, seq, source, device_time, \
       event_time, service_day, event_kind, route_id, stop_id, station_id, lot_id, gate_id, \
       vehicle_class, operator_id, medium_kind, medium_id, ticket_id, account_id, \
       category_id, decision, reason, ticket_verdict, amount_vnd, balance_vnd, product_id, \
       fare_product_id, account_version, config_id, decided_at) \
     SELECT unnest($1::text[]), unnest($2::bigint[]), unnest($3::bigint[]), \
       unnest($4::text[]), unnest($5::timestamptz[]), unnest($6::timestamptz[]), \
       unnest($7::date[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]), \
       unnest($11::text[]), unnest($12::text[]), unnest($13::text[]), \
       unnest($14::text[]), unnest($15::text[]), unnest($16::text[]), \
       unnest($17::uuid[]), unnest($18::bytea[]), unnest($19::uuid[]), \
       unnest($20::text[]), unnest($21::text[]), unnest($22::text[]), \
       unnest($23::text[]), unnest($24::bigint[]), unnest($25::bigint[]), \
       unnest($26::text[]), unnest($27::text[]), unnest($28::bigint[]), \
       unnest($29::text[]), unnest($30::timestamptz[]) \
     {on_conflict} \
     RETURNING service_day, decision = 'deny' AND account_id IS NOT NULL AS settles) \
     SELECT count(*), \
       COALESCE(array_agg(DISTINCT service_day) FILTER (WHERE settles), '{}') \
     FROM inserted";

/// The statements of one mode, built once (sqlx prepares each text once
/// per connection).
struct Statements {
    events: String,
    taps: String,
}

fn statements(existing: Existing) -> &'static Statements {
    static FAIL: std::sync::LazyLock<Statements> =
        std::sync::LazyLock::new(|| Statements::with(""));
    static SKIP: std::sync::LazyLock<Statements> =
        std::sync::LazyLock::new(|| Statements::with("ON CONFLICT DO NOTHING"));
    match existing {
        Existing::Fail => &FAIL,
        Existing::Skip => &SKIP,
    }
}

impl Statements {
    fn with(on_conflict: &str) -> Statements {
        Statements {
            events: INSERT_EVENTS.replace("{on_conflict}", on_conflict),
            taps: INSERT_TAPS.replace("{on_conflict}", on_conflict),
        }
    }
}

async fn write_batch(
    pool: &PgPool,
    taps: &[TapRow],
    events: &[EventRow],
    dead: &[DeadLetter],
    now: DateTime<Utc>,
    existing: Existing,
) -> Result<Inserted, sqlx::Error> {
    let sql = statements(existing);
    let mut tx = pool.begin().await?;
    let mut inserted = Inserted::default();
    // The days that received a row that can change their settlement: every
    // inserted event's, and every inserted deny-with-an-account tap's.
    let mut arrived = std::collections::BTreeSet::new();
    if !events.is_empty() {
        // Columns borrow the rows' text: nothing is copied before encoding.
        let col = |f: for<'r> fn(&'r EventRow) -> Option<&'r str>| {
            events.iter().map(f).collect::<Vec<_>>()
        };
        let (count, days): (i64, Vec<NaiveDate>) = sqlx::query_as(&sql.events)
            .bind(events.iter().map(|e| e.account_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.version).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.event_key.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.event_time).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.service_day).collect::<Vec<_>>())
            .bind(col(|e| e.route_id.as_deref()))
            .bind(col(|e| e.station_id.as_deref()))
            .bind(col(|e| e.lot_id.as_deref()))
            .bind(col(|e| e.product_id.as_deref()))
            .bind(col(|e| e.category_id.as_deref()))
            .bind(events.iter().map(|e| e.top_up_vnd).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.amount_vnd).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.balance_vnd).collect::<Vec<_>>())
            .bind(col(|e| e.reason.as_deref()))
            .bind(col(|e| e.pass_id.as_deref()))
            .bind(col(|e| e.fare_product_id.as_deref()))
            .bind(col(|e| e.terminal_id.as_deref()))
            .bind(events.iter().map(|e| e.boot_epoch).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.seq).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.config_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| e.decided_at).collect::<Vec<_>>())
            .fetch_one(&mut *tx)
            .await?;
        inserted.events = count.unsigned_abs();
        arrived.extend(days);
    }
    if !taps.is_empty() {
        // Columns borrow the rows' text: nothing is copied before encoding.
        let col =
            |f: for<'r> fn(&'r TapRow) -> Option<&'r str>| taps.iter().map(f).collect::<Vec<_>>();
        let text = |f: for<'r> fn(&'r TapRow) -> &'r str| taps.iter().map(f).collect::<Vec<_>>();
        let (count, days): (i64, Vec<NaiveDate>) = sqlx::query_as(&sql.taps)
            .bind(text(|t| t.terminal_id.as_str()))
            .bind(taps.iter().map(|t| t.boot_epoch).collect::<Vec<_>>())
            .bind(taps.iter().map(|t| t.seq).collect::<Vec<_>>())
            .bind(text(|t| t.source.as_str()))
            .bind(taps.iter().map(|t| t.device_time).collect::<Vec<_>>())
            .bind(taps.iter().map(|t| t.event_time).collect::<Vec<_>>())
            .bind(taps.iter().map(|t| t.service_day).collect::<Vec<_>>())
            .bind(text(|t| t.event_kind.as_str()))
            .bind(col(|t| t.route_id.as_deref()))
            .bind(col(|t| t.stop_id.as_deref()))
            .bind(col(|t| t.station_id.as_deref()))
            .bind(col(|t| t.lot_id.as_deref()))
            .bind(col(|t| t.gate_id.as_deref()))
            .bind(col(|t| t.vehicle_class.as_deref()))
            .bind(text(|t| t.operator_id.as_str()))
            .bind(text(|t| t.medium_kind.as_str()))
            .bind(taps.iter().map(|t| t.medium_id).collect::<Vec<_>>())
            .bind(
                taps.iter()
                    .map(|t| t.ticket_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(taps.iter().map(|t| t.account_id).collect::<Vec<_>>())
            .bind(col(|t| t.category_id.as_deref()))
            .bind(text(|t| t.decision.as_str()))
            .bind(col(|t| t.reason.as_deref()))
            .bind(col(|t| t.ticket_verdict.as_deref()))
            .bind(taps.iter().map(|t| t.amount_vnd).collect::<Vec<_>>())
            .bind(taps.iter().map(|t| t.balance_vnd).collect::<Vec<_>>())
            .bind(col(|t| t.product_id.as_deref()))
            .bind(col(|t| t.fare_product_id.as_deref()))
            .bind(taps.iter().map(|t| t.account_version).collect::<Vec<_>>())
            .bind(text(|t| t.config_id.as_str()))
            .bind(taps.iter().map(|t| t.decided_at).collect::<Vec<_>>())
            .fetch_one(&mut *tx)
            .await?;
        inserted.taps = count.unsigned_abs();
        arrived.extend(days);
    }
    for letter in dead {
        sqlx::query(
            "INSERT INTO transit.ingest_dead_letter (stream, entry_id, body, error, failed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&letter.stream)
        .bind(&letter.entry_id)
        .bind(&letter.body)
        .bind(&letter.error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if !arrived.is_empty() {
        // Last in the transaction, in day order: the row of today is taken
        // by every batch, so it is locked for as short a time as possible,
        // and two batches lock their days in the same order.
        sqlx::query(
            "INSERT INTO transit.day_arrival (service_day, last_ingested_at) \
             SELECT day, now() FROM unnest($1::date[]) AS day ORDER BY day \
             ON CONFLICT (service_day) DO UPDATE SET last_ingested_at = \
               GREATEST(transit.day_arrival.last_ingested_at, EXCLUDED.last_ingested_at)",
        )
        .bind(arrived.into_iter().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// An account's recorded events after `after_version`, in version order, at
/// most `limit`.
pub async fn account_events(
    pool: &PgPool,
    account_id: Uuid,
    after_version: i64,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT account_id, version, event_key, kind, event_time, service_day, route_id, \
           station_id, lot_id, product_id, category_id, top_up_vnd, amount_vnd, balance_vnd, \
           reason, pass_id, fare_product_id, terminal_id, boot_epoch, seq, config_id, decided_at \
         FROM rider.account_event WHERE account_id = $1 AND version > $2 ORDER BY version LIMIT $3",
    )
    .bind(account_id)
    .bind(after_version)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                account_id: r.try_get("account_id")?,
                version: r.try_get("version")?,
                event_key: r.try_get("event_key")?,
                kind: r.try_get("kind")?,
                event_time: r.try_get("event_time")?,
                service_day: r.try_get("service_day")?,
                route_id: r.try_get("route_id")?,
                station_id: r.try_get("station_id")?,
                lot_id: r.try_get("lot_id")?,
                product_id: r.try_get("product_id")?,
                category_id: r.try_get("category_id")?,
                top_up_vnd: r.try_get("top_up_vnd")?,
                amount_vnd: r.try_get("amount_vnd")?,
                balance_vnd: r.try_get("balance_vnd")?,
                reason: r.try_get("reason")?,
                pass_id: r.try_get("pass_id")?,
                fare_product_id: r.try_get("fare_product_id")?,
                terminal_id: r.try_get("terminal_id")?,
                boot_epoch: r.try_get("boot_epoch")?,
                seq: r.try_get("seq")?,
                config_id: r.try_get("config_id")?,
                decided_at: r.try_get("decided_at")?,
            })
        })
        .collect()
}

/// The latest snapshot of an account's state taken under `config_id`:
/// `(version, state JSON)`.
pub async fn latest_snapshot(
    pool: &PgPool,
    account_id: Uuid,
    config_id: &str,
) -> Result<Option<(i64, serde_json::Value)>, StoreError> {
    let row = sqlx::query(
        "SELECT version, state FROM rider.account_snapshot WHERE account_id = $1 AND config_id = $2 \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(account_id)
    .bind(config_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((r.try_get("version")?, r.try_get("state")?)))
        .transpose()
}
