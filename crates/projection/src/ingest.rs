//! The stream ingest: shard streams → Postgres, at least once, idempotent.
//!
//! One consumer group ([`INGEST_GROUP`]) reads every shard stream in
//! batches (`XREADGROUP … COUNT n BLOCK ms`), writes the batch's taps and
//! account events in one transaction (`unnest` of column arrays,
//! `ON CONFLICT DO NOTHING` on their keys), and only then acknowledges the
//! entries (one pipelined round trip for every stream), so a crash between
//! the two redelivers entries that are then no-ops. On start it re-reads
//! its own pending entries; every [`IngestSettings::reclaim_interval_ms`] it
//! takes over entries another consumer left idle longer than
//! [`IngestSettings::min_idle_ms`] (`XAUTOCLAIM`); at most every
//! [`TRIM_INTERVAL_MS`] it trims what the group has acknowledged. An entry
//! that does not decode goes to `transit.ingest_dead_letter` and is
//! acknowledged, never lost.
//!
//! Shutdown: the loop checks the stop signal between batches, so the batch
//! in hand is written and acknowledged before the worker returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::PgPool;
use store_pg::hot_events::{DeadLetter, EventRow, TapRow, write_ingest_batch};
use store_redis::ConnectionManager;
use store_redis::streams::{self, Entry, ReadFrom};
use tokio::sync::watch;

use crate::ProjectionError;
use crate::keys::Layout;
use crate::record::{RecordedKind, StreamEntry, TapSource, Verdict};

/// The consumer group of the ingest.
pub const INGEST_GROUP: &str = "ingest";

/// Entries read per batch, at most: at 15,000 taps/s a batch of 2,000 is
/// ~130 ms of traffic, one `UNNEST` statement per table, far below a
/// statement's cost limits and Postgres's parameter limits (arrays are one
/// parameter). `XREADGROUP`'s `COUNT` is per stream, so a read asks each of
/// the shard streams for its share ([`Ingest::per_stream`]); asking each
/// for the whole batch made a catch-up batch 64 times larger (128,000
/// entries, statements of seconds).
pub const DEFAULT_BATCH_ENTRIES: usize = 2_000;
/// How long one read blocks waiting for entries, ms: short enough that a
/// stop is noticed within a second.
pub const DEFAULT_BLOCK_MS: u64 = 1_000;
/// Idle time after which another consumer's pending entries are taken
/// over, ms: far above a batch's write time (tens of ms), so a live
/// consumer's batch is never stolen.
pub const DEFAULT_MIN_IDLE_MS: u64 = 30_000;
/// How often idle entries are reclaimed, ms.
pub const DEFAULT_RECLAIM_INTERVAL_MS: u64 = 10_000;
/// Pause after a failed batch before trying again, ms: long enough not to
/// hammer a failing Postgres, short enough to catch up quickly.
pub const RETRY_PAUSE_MS: u64 = 1_000;
/// A read of new entries that brought fewer than this many waits
/// [`DEFAULT_LINGER_MS`] before the next: under load the streams fill
/// while the ingest waits, so each Postgres transaction carries hundreds
/// of taps instead of the few dozen that arrive between two back-to-back
/// reads (`cargo bench -p store-pg --bench ingest`: ~12 µs of Postgres CPU
/// per row at 65 taps a batch, ~9 at 250 and more).
pub const DEFAULT_LINGER_BELOW_ENTRIES: usize = 500;
/// How long a small batch waits before the next read, ms: what it adds to
/// the ingest's lag, which nothing on a tap's path waits for (Redis holds
/// the decision; Postgres is the record).
pub const DEFAULT_LINGER_MS: u64 = 50;
/// Shortest time between two trims of the streams, ms. A trim costs three
/// round trips over every shard stream whatever was acknowledged, so it is
/// not done per batch; a second of acknowledged entries (about 15 MB at
/// 15,000 taps/s) is what Redis holds beyond the unacknowledged ones.
pub const TRIM_INTERVAL_MS: u64 = 1_000;

/// Metric: entries per batch.
pub const METRIC_BATCH_ENTRIES: &str = "ingest_batch_entries";
/// Metric: age of the oldest entry of the last batch, seconds.
pub const METRIC_LAG_SECONDS: &str = "ingest_lag_seconds";
/// Metric: rows written, by table.
pub const METRIC_ROWS: &str = "ingest_rows_total";
/// Metric: batches that failed and will be retried.
pub const METRIC_FAILURES: &str = "ingest_failures_total";

/// How the ingest reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestSettings {
    /// This consumer's name (stable across restarts re-reads its pending).
    pub consumer: String,
    /// Entries per read, at most (split evenly over the shard streams).
    pub batch_entries: usize,
    /// Block time of a read, ms.
    pub block_ms: u64,
    /// Idle time before reclaiming another consumer's entries, ms.
    pub min_idle_ms: u64,
    /// How often to reclaim, ms.
    pub reclaim_interval_ms: u64,
    /// A batch of new entries smaller than this waits `linger_ms`.
    pub linger_below_entries: usize,
    /// How long a small batch waits before the next read, ms (0: never).
    pub linger_ms: u64,
}

impl IngestSettings {
    /// The defaults above for consumer `consumer`.
    #[must_use]
    pub fn new(consumer: &str) -> IngestSettings {
        IngestSettings {
            consumer: consumer.to_owned(),
            batch_entries: DEFAULT_BATCH_ENTRIES,
            block_ms: DEFAULT_BLOCK_MS,
            min_idle_ms: DEFAULT_MIN_IDLE_MS,
            reclaim_interval_ms: DEFAULT_RECLAIM_INTERVAL_MS,
            linger_below_entries: DEFAULT_LINGER_BELOW_ENTRIES,
            linger_ms: DEFAULT_LINGER_MS,
        }
    }
}

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Entries read (and acknowledged).
    pub entries: usize,
    /// New tap rows.
    pub taps: u64,
    /// New account-event rows.
    pub events: u64,
    /// Entries sent to the dead letters.
    pub dead: usize,
    /// A stream gave a read all it asked of one: more may be waiting there.
    pub stream_full: bool,
}

impl BatchReport {
    /// Whether the ingest should wait before its next read of new entries:
    /// the batch was small and no stream had more than the read took.
    #[must_use]
    pub fn lingers(&self, settings: &IngestSettings) -> bool {
        settings.linger_ms > 0 && self.entries < settings.linger_below_entries && !self.stream_full
    }
}

/// The ingest worker.
pub struct Ingest {
    /// Reads block here.
    blocking: ConnectionManager,
    /// Acks, claims and trims go here.
    redis: ConnectionManager,
    pool: PgPool,
    streams: Vec<String>,
    settings: IngestSettings,
    /// When the streams were last trimmed.
    trimmed_at: std::sync::Mutex<Option<Instant>>,
}

impl Ingest {
    /// A worker; `blocking` must allow responses longer than
    /// `settings.block_ms` (see `store_redis::streams::connect_for_blocking`).
    /// Creates the consumer group on every shard stream.
    ///
    /// # Errors
    /// Redis failing.
    pub async fn new(
        blocking: ConnectionManager,
        redis: ConnectionManager,
        pool: PgPool,
        layout: &Layout,
        settings: IngestSettings,
    ) -> Result<Ingest, ProjectionError> {
        let streams = layout.streams();
        let mut connection = redis.clone();
        for stream in &streams {
            streams::ensure_group(&mut connection, stream, INGEST_GROUP).await?;
        }
        Ok(Ingest {
            blocking,
            redis,
            pool,
            streams,
            settings,
            trimmed_at: std::sync::Mutex::new(None),
        })
    }

    /// Runs until `stop` turns true: own pending entries first, then new
    /// ones, reclaiming idle ones periodically. A small batch of new
    /// entries waits `linger_ms` before the next read; a failed batch is
    /// retried after [`RETRY_PAUSE_MS`] (its entries stay pending).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(consumer = %self.settings.consumer, "stream ingest started");
        let mut pending_done = false;
        let mut last_reclaim: Option<Instant> = None;
        while !*stop.borrow() {
            let step = async {
                if !pending_done {
                    let report = self.pending_batch().await?;
                    pending_done = report.entries == 0;
                    return Ok::<_, ProjectionError>(false);
                }
                let due = last_reclaim.is_none_or(|at| {
                    at.elapsed() >= Duration::from_millis(self.settings.reclaim_interval_ms)
                });
                if due {
                    last_reclaim = Some(Instant::now());
                    self.reclaim_batch().await?;
                }
                let report = self.next_batch().await?;
                Ok(report.lingers(&self.settings))
            };
            let pause_ms = match step.await {
                Ok(true) => self.settings.linger_ms,
                Ok(false) => 0,
                Err(error) => {
                    metrics::counter!(METRIC_FAILURES).increment(1);
                    tracing::warn!(error = %crate::error_chain(&error), "ingest batch failed; retrying");
                    RETRY_PAUSE_MS
                }
            };
            if pause_ms > 0 {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(pause_ms)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!("stream ingest stopped");
    }

    /// Reads and writes one batch of new entries (blocking up to the block
    /// time when there are none).
    ///
    /// # Errors
    /// Redis or Postgres failing; the entries stay pending.
    pub async fn next_batch(&self) -> Result<BatchReport, ProjectionError> {
        let mut blocking = self.blocking.clone();
        let entries = streams::read_group(
            &mut blocking,
            INGEST_GROUP,
            &self.settings.consumer,
            &self.streams,
            self.per_stream(),
            ReadFrom::New {
                block_ms: self.settings.block_ms,
            },
        )
        .await?;
        self.write_and_ack(entries).await
    }

    /// Reads and writes one batch of this consumer's pending entries.
    ///
    /// # Errors
    /// As [`Ingest::next_batch`].
    pub async fn pending_batch(&self) -> Result<BatchReport, ProjectionError> {
        let mut redis = self.redis.clone();
        let entries = streams::read_group(
            &mut redis,
            INGEST_GROUP,
            &self.settings.consumer,
            &self.streams,
            self.per_stream(),
            ReadFrom::OwnPending,
        )
        .await?;
        self.write_and_ack(entries).await
    }

    /// Takes over and writes entries other consumers left idle.
    ///
    /// # Errors
    /// As [`Ingest::next_batch`].
    pub async fn reclaim_batch(&self) -> Result<BatchReport, ProjectionError> {
        let mut redis = self.redis.clone();
        let mut entries = Vec::new();
        for stream in &self.streams {
            let left = self.settings.batch_entries.saturating_sub(entries.len());
            if left == 0 {
                break;
            }
            entries.extend(
                streams::autoclaim(
                    &mut redis,
                    stream,
                    INGEST_GROUP,
                    &self.settings.consumer,
                    self.settings.min_idle_ms,
                    left,
                )
                .await?,
            );
        }
        self.write_and_ack(entries).await
    }

    /// Reads new and pending entries until a read comes back empty (tests
    /// and tools: "everything appended so far is in Postgres").
    ///
    /// # Errors
    /// As [`Ingest::next_batch`].
    pub async fn drain(&self) -> Result<BatchReport, ProjectionError> {
        let mut total = BatchReport::default();
        loop {
            let mut report = self.pending_batch().await?;
            if report.entries == 0 {
                report = self.next_batch_nonblocking().await?;
            }
            if report.entries == 0 {
                return Ok(total);
            }
            total.entries += report.entries;
            total.taps += report.taps;
            total.events += report.events;
            total.dead += report.dead;
        }
    }

    async fn next_batch_nonblocking(&self) -> Result<BatchReport, ProjectionError> {
        let mut redis = self.redis.clone();
        let entries = streams::read_group(
            &mut redis,
            INGEST_GROUP,
            &self.settings.consumer,
            &self.streams,
            self.per_stream(),
            ReadFrom::New { block_ms: 0 },
        )
        .await?;
        self.write_and_ack(entries).await
    }

    /// Reads one batch of new entries without writing or acknowledging
    /// them: what a consumer that dies mid-batch leaves behind (tests).
    ///
    /// # Errors
    /// Redis failing.
    pub async fn read_without_ack(&self) -> Result<usize, ProjectionError> {
        let mut redis = self.redis.clone();
        let entries = streams::read_group(
            &mut redis,
            INGEST_GROUP,
            &self.settings.consumer,
            &self.streams,
            self.per_stream(),
            ReadFrom::New { block_ms: 0 },
        )
        .await?;
        Ok(entries.len())
    }

    /// Entries a read asks of each stream: the batch's share, so one read
    /// brings at most about `batch_entries` whatever the backlog.
    #[must_use]
    pub fn per_stream(&self) -> usize {
        self.settings
            .batch_entries
            .div_ceil(self.streams.len().max(1))
            .max(1)
    }

    /// Whether some stream gave `entries` all a read asks of one.
    fn stream_full(&self, entries: &[Entry]) -> bool {
        let per_stream = self.per_stream();
        let mut run = 0;
        for (i, entry) in entries.iter().enumerate() {
            run = if i > 0 && entries[i - 1].stream == entry.stream {
                run + 1
            } else {
                1
            };
            if run >= per_stream {
                return true;
            }
        }
        false
    }

    async fn write_and_ack(&self, entries: Vec<Entry>) -> Result<BatchReport, ProjectionError> {
        if entries.is_empty() {
            metrics::gauge!(METRIC_LAG_SECONDS).set(0.0);
            return Ok(BatchReport::default());
        }
        let now = Utc::now();
        if let Some(oldest_ms) = entries.iter().filter_map(Entry::appended_at_ms).min() {
            let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
            let lag_ms = now_ms.saturating_sub(oldest_ms);
            metrics::gauge!(METRIC_LAG_SECONDS).set(Duration::from_millis(lag_ms).as_secs_f64());
        }
        metrics::histogram!(METRIC_BATCH_ENTRIES)
            .record(u32::try_from(entries.len()).map_or(f64::from(u32::MAX), f64::from));
        let mut taps = Vec::new();
        let mut events = Vec::new();
        let mut dead = Vec::new();
        for entry in &entries {
            match crate::entry::decode(&entry.data)
                .map_err(|e| e.to_string())
                .and_then(|decoded| rows_of(&decoded))
            {
                Ok((tap, event)) => {
                    taps.extend(tap);
                    events.extend(event);
                }
                Err(error) => dead.push(DeadLetter {
                    stream: entry.stream.clone(),
                    entry_id: entry.id.clone(),
                    body: dead_body(&entry.data),
                    error,
                }),
            }
        }
        let inserted = write_ingest_batch(&self.pool, &taps, &events, &dead, now).await?;
        metrics::counter!(METRIC_ROWS, "table" => "tap").increment(inserted.taps);
        metrics::counter!(METRIC_ROWS, "table" => "account_event").increment(inserted.events);
        let mut by_stream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for entry in &entries {
            by_stream.entry(&entry.stream).or_default().push(&entry.id);
        }
        let acks: Vec<(&str, Vec<&str>)> = by_stream.into_iter().collect();
        let mut redis = self.redis.clone();
        streams::ack_many(&mut redis, INGEST_GROUP, &acks).await?;
        self.trim_when_due(&mut redis).await?;
        Ok(BatchReport {
            entries: entries.len(),
            taps: inserted.taps,
            events: inserted.events,
            dead: dead.len(),
            stream_full: self.stream_full(&entries),
        })
    }
}

impl Ingest {
    /// Trims every stream below what the group still needs, unless that was
    /// done less than [`TRIM_INTERVAL_MS`] ago.
    async fn trim_when_due(&self, redis: &mut ConnectionManager) -> Result<(), ProjectionError> {
        let due = self
            .trimmed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(TRIM_INTERVAL_MS));
        if due {
            let names: Vec<&str> = self.streams.iter().map(String::as_str).collect();
            streams::trim_acknowledged_many(redis, &names, INGEST_GROUP).await?;
            *self
                .trimmed_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        }
        Ok(())
    }
}

/// A dead entry's body as text: as is when it is UTF-8 (a JSON entry), else
/// `hex:` and its bytes in hex (a binary entry), so nothing is lost.
fn dead_body(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("hex:{}", hex::encode(data)),
    }
}

fn time_of_s(seconds: u64) -> Result<DateTime<Utc>, String> {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .ok_or_else(|| format!("time {seconds} out of range"))
}

fn to_i64(value: u64, what: &str) -> Result<i64, String> {
    i64::try_from(value).map_err(|_| format!("{what} {value} out of range"))
}

/// The rows one stream entry becomes.
fn rows_of(entry: &StreamEntry) -> Result<(Option<TapRow>, Option<EventRow>), String> {
    let decided_at = entry.decided_at();
    let decision = match entry.reply.decision {
        Verdict::Accept => "accept",
        Verdict::Deny => "deny",
    };
    let version = entry
        .reply
        .version
        .map(|v| to_i64(v, "version"))
        .transpose()?;
    let tap = match &entry.tap {
        None => None,
        Some(t) => Some(TapRow {
            terminal_id: t.terminal_id.clone(),
            boot_epoch: i64::from(t.boot_epoch),
            seq: to_i64(t.seq, "seq")?,
            source: match t.source {
                TapSource::Online => "online".into(),
                TapSource::Journal => "journal".into(),
            },
            device_time: time_of_s(t.device_time_s)?,
            event_time: t.event_time,
            service_day: t.service_day,
            event_kind: t.event_kind.clone(),
            route_id: t.route_id.clone(),
            stop_id: t.stop_id.clone(),
            station_id: t.station_id.clone(),
            lot_id: t.lot_id.clone(),
            gate_id: t.gate_id.clone(),
            vehicle_class: t.vehicle_class.clone(),
            operator_id: t.operator_id.clone(),
            medium_kind: t.medium_kind.clone(),
            medium_id: t.medium_id,
            ticket_id: t
                .ticket_id
                .as_deref()
                .map(hex::decode)
                .transpose()
                .map_err(|e| e.to_string())?,
            account_id: entry.account_id,
            category_id: t.category_id.clone(),
            decision: decision.into(),
            reason: entry.reply.reason.clone(),
            ticket_verdict: t.ticket_verdict.clone(),
            amount_vnd: entry.reply.amount_vnd,
            balance_vnd: entry.reply.balance_vnd,
            product_id: entry.reply.pass_id.clone(),
            fare_product_id: entry.reply.fare_product_id.clone(),
            account_version: version,
            config_id: entry.config_id.clone(),
            decided_at,
        }),
    };
    let event = match (&entry.event, entry.account_id, entry.changed) {
        (Some(recorded), Some(account_id), true) => {
            let mut row = EventRow {
                account_id,
                version: version.ok_or("an accepted event without a version")?,
                event_key: entry.key.clone(),
                kind: recorded.kind_name().to_owned(),
                event_time: recorded.at,
                service_day: entry
                    .reply
                    .service_day
                    .ok_or("an accepted event without a service day")?,
                amount_vnd: entry.reply.amount_vnd,
                balance_vnd: entry
                    .reply
                    .balance_vnd
                    .ok_or("an accepted event without a balance")?,
                reason: entry.reply.reason.clone(),
                pass_id: entry.reply.pass_id.clone(),
                fare_product_id: entry.reply.fare_product_id.clone(),
                config_id: entry.config_id.clone(),
                decided_at,
                ..EventRow::default()
            };
            match &recorded.kind {
                RecordedKind::TopUp { amount_vnd } => row.top_up_vnd = Some(*amount_vnd),
                RecordedKind::Bus {
                    route_id,
                    category_id,
                } => {
                    row.route_id = Some(route_id.clone());
                    row.category_id = Some(category_id.clone());
                }
                RecordedKind::MetroIn {
                    station_id,
                    category_id,
                } => {
                    row.station_id = Some(station_id.clone());
                    row.category_id = Some(category_id.clone());
                }
                RecordedKind::MetroOut { station_id } => row.station_id = Some(station_id.clone()),
                RecordedKind::BuyPass {
                    product_id,
                    category_id,
                } => {
                    row.product_id = Some(product_id.clone());
                    row.category_id = Some(category_id.clone());
                }
                RecordedKind::ParkIn { lot_id }
                | RecordedKind::ParkOut { lot_id }
                | RecordedKind::ParkOutLostTicket { lot_id } => {
                    row.lot_id = Some(lot_id.clone());
                }
            }
            if let Some(t) = &entry.tap {
                row.terminal_id = Some(t.terminal_id.clone());
                row.boot_epoch = Some(i64::from(t.boot_epoch));
                row.seq = Some(to_i64(t.seq, "seq")?);
            }
            Some(row)
        }
        _ => None,
    };
    Ok((tap, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_small_batch_with_no_full_stream_lingers() {
        let settings = IngestSettings::new("t");
        let report = |entries, stream_full| BatchReport {
            entries,
            stream_full,
            ..BatchReport::default()
        };
        assert!(report(0, false).lingers(&settings));
        assert!(report(DEFAULT_LINGER_BELOW_ENTRIES - 1, false).lingers(&settings));
        assert!(!report(DEFAULT_LINGER_BELOW_ENTRIES, false).lingers(&settings));
        // One hot shard at its share: more is waiting there, read again now.
        assert!(!report(1, true).lingers(&settings));
        let never = IngestSettings {
            linger_ms: 0,
            ..settings
        };
        assert!(!report(0, false).lingers(&never));
    }
}
