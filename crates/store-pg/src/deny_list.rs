//! The deny list (schema `transit`): a log of versioned changes plus the
//! current set, read as a snapshot or as the net delta since a version.
//!
//! **Invariant:** versions commit in order. Each change takes a transaction
//! advisory lock before it draws its version, so no reader ever sees
//! version `n + 1` committed while `n` is still to come (a terminal at
//! `n + 1` would otherwise miss `n` for good).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use crate::error::StoreError;

/// The advisory lock key that serialises deny-list writers (an arbitrary
/// constant, unique among the workspace's advisory locks: "DENY" in ASCII).
const DENY_LIST_LOCK_KEY: i64 = 0x4445_4e59;

/// What a deny-list entry refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DenyKind {
    /// A transit card UID.
    CardId,
    /// A bank-card token.
    BankCardToken,
    /// A QR ticket id (hex).
    TicketId,
    /// A holder key (hex).
    HolderKey,
}

impl DenyKind {
    /// The stored spelling (the card protocol's `kind`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DenyKind::CardId => "card_id",
            DenyKind::BankCardToken => "bank_card_token",
            DenyKind::TicketId => "ticket_id",
            DenyKind::HolderKey => "holder_key",
        }
    }

    fn parse(text: &str) -> Result<DenyKind, StoreError> {
        match text {
            "card_id" => Ok(DenyKind::CardId),
            "bank_card_token" => Ok(DenyKind::BankCardToken),
            "ticket_id" => Ok(DenyKind::TicketId),
            "holder_key" => Ok(DenyKind::HolderKey),
            other => Err(StoreError::Corrupt(format!("deny-list kind {other:?}"))),
        }
    }
}

/// One entry as stored: kind and value.
pub type StoredEntry = (DenyKind, String);

/// The whole list at a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The latest version (0 before any change).
    pub version: u64,
    /// Every entry.
    pub entries: Vec<StoredEntry>,
}

/// The net change between two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// The version the delta starts at.
    pub from_version: u64,
    /// The version it ends at.
    pub to_version: u64,
    /// Entries in the list at `to_version` and not at `from_version`.
    pub added: Vec<StoredEntry>,
    /// Entries in the list at `from_version` and not at `to_version`.
    pub removed: Vec<StoredEntry>,
}

/// What the list looks like since a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Since {
    /// Nothing changed since that version.
    Unchanged,
    /// The changes since that version.
    Delta(Delta),
    /// The version is unknown (in the future) or the delta would exceed the
    /// limit: take a snapshot.
    SnapshotNeeded,
}

fn version_of(raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw).map_err(|_| StoreError::Corrupt(format!("deny-list version {raw}")))
}

/// Adds an entry inside the caller's transaction. Returns the new version,
/// or `None` when the entry was on the list already.
pub(crate) async fn add_in(
    tx: &mut PgConnection,
    kind: DenyKind,
    value: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, StoreError> {
    change_in(tx, kind, value, Op::Add, reason, now).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
}

async fn change_in(
    tx: &mut PgConnection,
    kind: DenyKind,
    value: &str,
    op: Op,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DENY_LIST_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let present: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM transit.deny_list_entry WHERE entry_kind = $1 AND entry_value = $2)",
    )
    .bind(kind.as_str())
    .bind(value)
    .fetch_one(&mut *tx)
    .await?;
    if present == (op == Op::Add) {
        return Ok(None);
    }
    let version: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 0) + 1 FROM transit.deny_list_change")
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO transit.deny_list_change (version, entry_kind, entry_value, op, reason, \
         changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(version)
    .bind(kind.as_str())
    .bind(value)
    .bind(if op == Op::Add { "add" } else { "remove" })
    .bind(reason)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if op == Op::Add {
        sqlx::query(
            "INSERT INTO transit.deny_list_entry (entry_kind, entry_value, added_version) \
             VALUES ($1, $2, $3)",
        )
        .bind(kind.as_str())
        .bind(value)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "DELETE FROM transit.deny_list_entry WHERE entry_kind = $1 AND entry_value = $2",
        )
        .bind(kind.as_str())
        .bind(value)
        .execute(&mut *tx)
        .await?;
    }
    version_of(version).map(Some)
}

/// The deny list in Postgres.
#[derive(Clone, Debug)]
pub struct DenyListStore {
    pool: PgPool,
}

impl DenyListStore {
    /// The deny list on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> DenyListStore {
        DenyListStore { pool }
    }

    /// Adds an entry (a ticket or holder key reported stolen, …); returns
    /// the new version, `None` if it was listed already.
    pub async fn add(
        &self,
        kind: DenyKind,
        value: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let version = change_in(&mut tx, kind, value, Op::Add, reason, now).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Removes an entry; returns the new version, `None` if it was not listed.
    pub async fn remove(
        &self,
        kind: DenyKind,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let version = change_in(&mut tx, kind, value, Op::Remove, None, now).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The latest version (0 before any change).
    pub async fn version(&self) -> Result<u64, StoreError> {
        let raw: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM transit.deny_list_change")
                .fetch_one(&self.pool)
                .await?;
        version_of(raw)
    }

    /// The whole list, consistent with its version (one snapshot-isolated
    /// transaction).
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let raw: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM transit.deny_list_change")
                .fetch_one(&mut *tx)
                .await?;
        let rows = sqlx::query(
            "SELECT entry_kind, entry_value FROM transit.deny_list_entry \
             ORDER BY entry_kind, entry_value",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok((
                    DenyKind::parse(row.try_get("entry_kind")?)?,
                    row.try_get("entry_value")?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Snapshot {
            version: version_of(raw)?,
            entries,
        })
    }

    /// The net change since `from_version`, at most `max_entries` entries
    /// (added plus removed); beyond that, or for a version this list never
    /// had, [`Since::SnapshotNeeded`].
    pub async fn since(&self, from_version: u64, max_entries: usize) -> Result<Since, StoreError> {
        let Ok(from) = i64::try_from(from_version) else {
            return Ok(Since::SnapshotNeeded);
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let latest: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM transit.deny_list_change")
                .fetch_one(&mut *tx)
                .await?;
        if from > latest {
            return Ok(Since::SnapshotNeeded);
        }
        if from == latest {
            return Ok(Since::Unchanged);
        }
        // Per touched entry: was it listed at `from` (its last change at or
        // before `from` was an add), and is it listed now (its last change
        // overall was an add)? Bounded: a delta larger than the limit is
        // refused by the caller's snapshot fallback.
        let limit = i64::try_from(max_entries.saturating_add(1)).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "WITH touched AS ( \
                SELECT DISTINCT entry_kind, entry_value FROM transit.deny_list_change \
                WHERE version > $1) \
             SELECT t.entry_kind, t.entry_value, \
                COALESCE((SELECT c.op = 'add' FROM transit.deny_list_change c \
                    WHERE c.entry_kind = t.entry_kind AND c.entry_value = t.entry_value \
                      AND c.version <= $1 ORDER BY c.version DESC LIMIT 1), false) AS was, \
                EXISTS (SELECT 1 FROM transit.deny_list_entry e \
                    WHERE e.entry_kind = t.entry_kind AND e.entry_value = t.entry_value) AS is_now \
             FROM touched t ORDER BY t.entry_kind, t.entry_value LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut added = BTreeMap::new();
        let mut removed = BTreeMap::new();
        for row in &rows {
            let entry = (
                DenyKind::parse(row.try_get("entry_kind")?)?,
                row.try_get::<String, _>("entry_value")?,
            );
            let was: bool = row.try_get("was")?;
            let is_now: bool = row.try_get("is_now")?;
            match (was, is_now) {
                (false, true) => {
                    added.insert(entry, ());
                }
                (true, false) => {
                    removed.insert(entry, ());
                }
                _ => {}
            }
        }
        if rows.len() > max_entries {
            return Ok(Since::SnapshotNeeded);
        }
        Ok(Since::Delta(Delta {
            from_version,
            to_version: version_of(latest)?,
            added: added.into_keys().collect(),
            removed: removed.into_keys().collect(),
        }))
    }
}
