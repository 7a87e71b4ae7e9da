//! Terminal journals (`transit.journal_record`, `transit.journal_progress`):
//! records stored once per `(terminal, boot_epoch, seq)`, the contiguous
//! ack watermark, the missing ranges above it, and which records still
//! need pricing.
//!
//! A batch is stored in one transaction: a key seen before with other
//! content refuses the whole batch (nothing is written), so a terminal that
//! reuses a sequence number gets a 409 and changes nothing.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgPool, Row};

use crate::error::StoreError;

/// One record to store.
#[derive(Clone, Debug)]
pub struct JournalRow {
    /// Sequence number (≥ 1, fits `i64`: the service refuses larger ones).
    pub seq: i64,
    /// SHA-256 of the record's canonical JSON.
    pub content_sha256: [u8; 32],
    /// The record as JSON.
    pub record: serde_json::Value,
    /// `online` or `offline`.
    pub decided_by: &'static str,
    /// The terminal's clock at the tap.
    pub device_time: DateTime<Utc>,
    /// `accept` or `deny`.
    pub decision: &'static str,
    /// The reason code, if any.
    pub reason: Option<&'static str>,
    /// The amount the terminal showed.
    pub amount_vnd: i64,
    /// Deny-list version in force at the tap.
    pub deny_list_version: i64,
    /// Key-set version in force at the tap.
    pub key_set_version: i64,
}

/// A record whose key was stored before with other content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqConflict {
    /// The conflicting sequence number.
    pub seq: i64,
}

/// A stored record still to be priced.
#[derive(Clone, Debug)]
pub struct PendingRecord {
    /// Its boot epoch.
    pub boot_epoch: i64,
    /// Its seq.
    pub seq: i64,
    /// The record JSON.
    pub record: serde_json::Value,
    /// The terminal's clock offset at upload (server − device), seconds.
    pub clock_offset_s: i64,
}

/// What pricing made of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pricing {
    /// Priced and applied through the projection (or found to be the
    /// repeat of an online tap the projection answered).
    Applied,
    /// The tap was already recorded.
    Known,
    /// An online tap with this key had other content.
    Conflict,
    /// Nothing to price: no account, or an event this service does not price.
    Unpriced,
}

impl Pricing {
    const fn as_str(self) -> &'static str {
        match self {
            Pricing::Applied => "applied",
            Pricing::Known => "known",
            Pricing::Conflict => "conflict",
            Pricing::Unpriced => "unpriced",
        }
    }
}

/// The journals in Postgres.
#[derive(Clone, Debug)]
pub struct Journals {
    pool: PgPool,
}

impl Journals {
    /// The journals on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> Journals {
        Journals { pool }
    }

    /// Stores `rows` of one `(terminal, boot_epoch)` idempotently. A key
    /// stored before with another content hash refuses the batch.
    #[tracing::instrument(skip_all, fields(terminal_id = terminal_id, boot_epoch, records = rows.len()))]
    pub async fn store_batch(
        &self,
        terminal_id: &str,
        boot_epoch: i64,
        clock_offset_s: i64,
        rows: &[JournalRow],
        now: DateTime<Utc>,
    ) -> Result<Result<(), SeqConflict>, StoreError> {
        let now = now.trunc_subsecs(6);
        let mut tx = self.pool.begin().await?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let hashes: Vec<Vec<u8>> = rows.iter().map(|r| r.content_sha256.to_vec()).collect();
        let records: Vec<serde_json::Value> = rows.iter().map(|r| r.record.clone()).collect();
        let decided_by: Vec<&str> = rows.iter().map(|r| r.decided_by).collect();
        let device_times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.device_time).collect();
        let decisions: Vec<&str> = rows.iter().map(|r| r.decision).collect();
        let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.reason).collect();
        let amounts: Vec<i64> = rows.iter().map(|r| r.amount_vnd).collect();
        let deny_versions: Vec<i64> = rows.iter().map(|r| r.deny_list_version).collect();
        let key_versions: Vec<i64> = rows.iter().map(|r| r.key_set_version).collect();
        sqlx::query(
            "INSERT INTO transit.journal_record (terminal_id, boot_epoch, seq, content_sha256, \
               record, decided_by, device_time, decision, reason, amount_vnd, deny_list_version, \
               key_set_version, clock_offset_s, received_at) \
             SELECT $1, $2, v.* , $13, $14 FROM UNNEST($3::bigint[], $4::bytea[], $5::jsonb[], \
               $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::bigint[], \
               $11::bigint[], $12::bigint[]) AS v \
             ON CONFLICT (terminal_id, boot_epoch, seq) DO NOTHING",
        )
        .bind(terminal_id)
        .bind(boot_epoch)
        .bind(&seqs)
        .bind(&hashes)
        .bind(&records)
        .bind(&decided_by)
        .bind(&device_times)
        .bind(&decisions)
        .bind(&reasons)
        .bind(&amounts)
        .bind(&deny_versions)
        .bind(&key_versions)
        .bind(clock_offset_s)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let conflict: Option<i64> = sqlx::query_scalar(
            "SELECT j.seq FROM transit.journal_record j \
             JOIN UNNEST($3::bigint[], $4::bytea[]) AS v(seq, content_sha256) ON v.seq = j.seq \
             WHERE j.terminal_id = $1 AND j.boot_epoch = $2 AND j.content_sha256 <> v.content_sha256 \
             ORDER BY j.seq LIMIT 1",
        )
        .bind(terminal_id)
        .bind(boot_epoch)
        .bind(&seqs)
        .bind(&hashes)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(seq) = conflict {
            tx.rollback().await?;
            return Ok(Err(SeqConflict { seq }));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The contiguous watermark of `(terminal, boot_epoch)` and the stored
    /// islands above it (at most `max_islands`, lowest first), moving the
    /// stored watermark forward when the first island touches it.
    pub async fn progress(
        &self,
        terminal_id: &str,
        boot_epoch: i64,
        max_islands: usize,
        now: DateTime<Utc>,
    ) -> Result<(i64, Vec<(i64, i64)>), StoreError> {
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT watermark FROM transit.journal_progress WHERE terminal_id = $1 AND boot_epoch = $2",
        )
        .bind(terminal_id)
        .bind(boot_epoch)
        .fetch_optional(&self.pool)
        .await?;
        let mut watermark = stored.unwrap_or(0);
        // Gaps and islands: consecutive seqs share `seq - row_number()`.
        let limit = i64::try_from(max_islands.saturating_add(1)).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT min(seq) AS first, max(seq) AS last FROM ( \
               SELECT seq, seq - row_number() OVER (ORDER BY seq) AS island \
               FROM transit.journal_record \
               WHERE terminal_id = $1 AND boot_epoch = $2 AND seq > $3) s \
             GROUP BY island ORDER BY first LIMIT $4",
        )
        .bind(terminal_id)
        .bind(boot_epoch)
        .bind(watermark)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut islands = Vec::with_capacity(rows.len());
        for row in &rows {
            let first: i64 = row.try_get("first")?;
            let last: i64 = row.try_get("last")?;
            if islands.is_empty() && first == watermark.saturating_add(1) {
                watermark = last;
            } else {
                islands.push((first, last));
            }
        }
        if stored != Some(watermark) {
            sqlx::query(
                "INSERT INTO transit.journal_progress (terminal_id, boot_epoch, watermark, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (terminal_id, boot_epoch) DO UPDATE \
                 SET watermark = GREATEST(transit.journal_progress.watermark, EXCLUDED.watermark), \
                     updated_at = EXCLUDED.updated_at",
            )
            .bind(terminal_id)
            .bind(boot_epoch)
            .bind(watermark)
            .bind(now.trunc_subsecs(6))
            .execute(&self.pool)
            .await?;
        }
        islands.truncate(max_islands);
        Ok((watermark, islands))
    }

    /// Up to `limit` records of `terminal_id` still to be priced, oldest
    /// first.
    pub async fn pending(
        &self,
        terminal_id: &str,
        limit: u32,
    ) -> Result<Vec<PendingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT boot_epoch, seq, record, clock_offset_s FROM transit.journal_record \
             WHERE terminal_id = $1 AND pricing = 'pending' ORDER BY boot_epoch, seq LIMIT $2",
        )
        .bind(terminal_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingRecord {
                    boot_epoch: row.try_get("boot_epoch")?,
                    seq: row.try_get("seq")?,
                    record: row.try_get("record")?,
                    clock_offset_s: row.try_get("clock_offset_s")?,
                })
            })
            .collect()
    }

    /// Which of `seqs` already have a row in `transit.tap`.
    pub async fn known_taps(
        &self,
        terminal_id: &str,
        boot_epoch: i64,
        seqs: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM transit.tap WHERE terminal_id = $1 AND boot_epoch = $2 AND seq = ANY($3)",
        )
        .bind(terminal_id)
        .bind(boot_epoch)
        .bind(seqs)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records what pricing made of one record.
    pub async fn mark(
        &self,
        terminal_id: &str,
        boot_epoch: i64,
        seq: i64,
        pricing: Pricing,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE transit.journal_record SET pricing = $4, priced_at = $5 \
             WHERE terminal_id = $1 AND boot_epoch = $2 AND seq = $3 AND pricing = 'pending'",
        )
        .bind(terminal_id)
        .bind(boot_epoch)
        .bind(seq)
        .bind(pricing.as_str())
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
