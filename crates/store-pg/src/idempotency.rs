//! Idempotency records of the rider API (`rider.idempotency_record`): the
//! first answer to a money-moving request, by account and `Idempotency-Key`.
//!
//! [`Idempotency::begin`] claims a key atomically (`INSERT … ON CONFLICT DO
//! NOTHING`), so of two concurrent first requests exactly one runs; the other
//! sees it in progress. A request that never finished (its process died)
//! leaves a claim that may be taken over after `stale_after`, which is safe
//! because the work below (ledger transfers, projection events) is itself
//! idempotent by keys derived from the same `Idempotency-Key`.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use ledger::AccountId;
use sqlx::{PgPool, Row};

use crate::error::StoreError;

/// What a caller does with a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Begin {
    /// The key is ours: run the request, then [`Idempotency::complete`] it.
    Started,
    /// The same request ran before: answer this.
    Replay {
        /// The first answer's HTTP status.
        status: u16,
        /// The first answer's body.
        response: serde_json::Value,
    },
    /// The same request is running right now.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Idempotency records in Postgres.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pool: PgPool,
}

impl Idempotency {
    /// The store on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> Idempotency {
        Idempotency { pool }
    }

    /// Claims `key` for a request of `operation` whose canonical form hashes
    /// to `request_sha256`, or says what happened to it before.
    pub async fn begin(
        &self,
        account_id: AccountId,
        key: &str,
        operation: &str,
        request_sha256: &[u8; 32],
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Result<Begin, StoreError> {
        let now = now.trunc_subsecs(6);
        let inserted = sqlx::query(
            "INSERT INTO rider.idempotency_record (account_id, idempotency_key, operation, \
             request_sha256, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, idempotency_key) DO NOTHING",
        )
        .bind(account_id.as_uuid())
        .bind(key)
        .bind(operation)
        .bind(request_sha256.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Begin::Started);
        }
        let row = sqlx::query(
            "SELECT operation, request_sha256, status_code, response, created_at \
             FROM rider.idempotency_record WHERE account_id = $1 AND idempotency_key = $2",
        )
        .bind(account_id.as_uuid())
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            // Abandoned and deleted between our two statements: the client's
            // retry claims it.
            return Ok(Begin::InProgress);
        };
        let stored_operation: String = row.try_get("operation")?;
        let stored_hash: Vec<u8> = row.try_get("request_sha256")?;
        if stored_operation != operation || stored_hash.as_slice() != request_sha256.as_slice() {
            return Ok(Begin::Mismatch);
        }
        let status: Option<i16> = row.try_get("status_code")?;
        if let Some(status) = status {
            let status = u16::try_from(status)
                .map_err(|_| StoreError::Corrupt(format!("idempotency status {status}")))?;
            return Ok(Begin::Replay {
                status,
                response: row.try_get("response")?,
            });
        }
        let created_at: DateTime<Utc> = row.try_get("created_at")?;
        if now - created_at < stale_after {
            return Ok(Begin::InProgress);
        }
        // Take over a claim whose request died, unless someone else just did.
        let taken = sqlx::query(
            "UPDATE rider.idempotency_record SET created_at = $3 \
             WHERE account_id = $1 AND idempotency_key = $2 AND status_code IS NULL \
             AND created_at = $4",
        )
        .bind(account_id.as_uuid())
        .bind(key)
        .bind(now)
        .bind(created_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if taken == 1 {
            Begin::Started
        } else {
            Begin::InProgress
        })
    }

    /// Stores the answer of a request that [`Idempotency::begin`] started.
    pub async fn complete(
        &self,
        account_id: AccountId,
        key: &str,
        status: u16,
        response: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rider.idempotency_record SET status_code = $3, response = $4, \
             completed_at = $5 WHERE account_id = $1 AND idempotency_key = $2 \
             AND status_code IS NULL",
        )
        .bind(account_id.as_uuid())
        .bind(key)
        .bind(i16::try_from(status).map_err(|_| StoreError::Corrupt(format!("status {status}")))?)
        .bind(response)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a claim whose request failed on our side (a 5xx), so the
    /// client's retry runs it again.
    pub async fn abandon(&self, account_id: AccountId, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM rider.idempotency_record WHERE account_id = $1 AND idempotency_key = $2 \
             AND status_code IS NULL",
        )
        .bind(account_id.as_uuid())
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes records created before `before`, at most `limit` of them;
    /// returns how many went.
    pub async fn purge(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM rider.idempotency_record WHERE ctid IN (SELECT ctid FROM \
             rider.idempotency_record WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }
}
