//! Rider accounts, their media and QR tickets (schema `rider`): the store
//! functions the fare-validation service reads on every tap and the rider
//! API reuses to open accounts, link cards and issue tickets.
//!
//! An account is a ledger wallet plus its rider category: [`Riders::create_account`]
//! writes both in one transaction, so a rider account never exists without
//! its wallet. Blocking a medium also puts it on the deny list in the same
//! transaction (see [`crate::deny_list`]).

use chrono::{DateTime, SubsecRound, Utc};
use ledger::{Account, AccountId, AccountKind};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::deny_list::{self, DenyKind};
use crate::error::StoreError;
use crate::rows;

/// Longest reason stored with a block, in characters: a short operator note.
pub const MAX_BLOCK_REASON_CHARS: usize = 256;

/// Whether a rider's category (student, exempt, …) has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CategoryStatus {
    /// Checked: the category prices the rider's trips.
    Verified,
    /// Claimed, not yet checked: the default category prices them.
    Pending,
    /// Refused: the default category prices them.
    Rejected,
}

impl CategoryStatus {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            CategoryStatus::Verified => "verified",
            CategoryStatus::Pending => "pending",
            CategoryStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Result<CategoryStatus, StoreError> {
        match text {
            "verified" => Ok(CategoryStatus::Verified),
            "pending" => Ok(CategoryStatus::Pending),
            "rejected" => Ok(CategoryStatus::Rejected),
            other => Err(StoreError::Corrupt(format!("category status {other:?}"))),
        }
    }
}

/// What a medium is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediumKind {
    /// A transit card by UID (lowercase hex).
    TransitCard,
    /// A bank card by provider token.
    BankCard,
    /// A vehicle plate (parking).
    Plate,
}

impl MediumKind {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            MediumKind::TransitCard => "transit_card",
            MediumKind::BankCard => "bank_card",
            MediumKind::Plate => "plate",
        }
    }

    fn parse(text: &str) -> Result<MediumKind, StoreError> {
        match text {
            "transit_card" => Ok(MediumKind::TransitCard),
            "bank_card" => Ok(MediumKind::BankCard),
            "plate" => Ok(MediumKind::Plate),
            other => Err(StoreError::Corrupt(format!("medium kind {other:?}"))),
        }
    }

    /// The deny-list kind terminals refuse this medium by, if any (plates
    /// are not on the terminal deny list).
    #[must_use]
    pub const fn deny_kind(self) -> Option<DenyKind> {
        match self {
            MediumKind::TransitCard => Some(DenyKind::CardId),
            MediumKind::BankCard => Some(DenyKind::BankCardToken),
            MediumKind::Plate => None,
        }
    }
}

/// A rider account as pricing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiderAccount {
    /// The wallet's ledger account id.
    pub account_id: AccountId,
    /// The rider category id (of the fare configuration).
    pub category_id: String,
    /// Whether the category is verified.
    pub category_status: CategoryStatus,
}

/// A medium's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediumStatus {
    /// Usable.
    Active,
    /// Blocked: every tap with it is denied.
    Blocked,
}

/// A medium found by its value, with its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediumRecord {
    /// The medium's id.
    pub medium_id: Uuid,
    /// What it is.
    pub kind: MediumKind,
    /// Active or blocked.
    pub status: MediumStatus,
    /// The account it opens.
    pub account: RiderAccount,
}

/// A QR ticket's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRecord {
    /// The ticket id (`cti`).
    pub ticket_id: [u8; 16],
    /// The account it belongs to.
    pub account: RiderAccount,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// A ticket to record at issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    /// The ticket id (`cti`).
    pub ticket_id: [u8; 16],
    /// Its account.
    pub account_id: AccountId,
    /// The issuer key id that signed it.
    pub kid: [u8; 4],
    /// The holder's phone key, for a bound ticket.
    pub holder_key: Option<[u8; 32]>,
    /// Its `exp`.
    pub expires_at: DateTime<Utc>,
}

/// Rider accounts, media and tickets in Postgres.
#[derive(Clone, Debug)]
pub struct Riders {
    pool: PgPool,
}

const ACCOUNT_SELECT: &str = "a.account_id, a.category_id, a.category_status";

fn account_from_row(row: &sqlx::postgres::PgRow) -> Result<RiderAccount, StoreError> {
    Ok(RiderAccount {
        account_id: rows::account_id(row.try_get("account_id")?)?,
        category_id: row.try_get("category_id")?,
        category_status: CategoryStatus::parse(row.try_get("category_status")?)?,
    })
}

impl Riders {
    /// The rider store on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> Riders {
        Riders { pool }
    }

    /// Opens a rider account: its ledger wallet (a `RiderWallet` with the
    /// default limit) and its rider row, in one transaction. The category id
    /// must be checked by the caller against the fare configuration.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn create_account(
        &self,
        account_id: AccountId,
        category_id: &str,
        category_status: CategoryStatus,
        now: DateTime<Utc>,
    ) -> Result<RiderAccount, StoreError> {
        let now = now.trunc_subsecs(6);
        let wallet = Account::new(account_id, AccountKind::RiderWallet);
        let (kind, operator_id, provider_id) = rows::kind_columns(&wallet.kind);
        let (limit_kind, overdraft_limit_vnd) = rows::limit_columns(wallet.limit);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO ledger.account (account_id, currency, kind, operator_id, provider_id, \
             limit_kind, overdraft_limit_vnd, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(account_id.as_uuid())
        .bind(rows::currency_code(wallet.currency))
        .bind(kind)
        .bind(operator_id)
        .bind(provider_id)
        .bind(limit_kind)
        .bind(overdraft_limit_vnd)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO rider.account (account_id, category_id, category_status, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(account_id.as_uuid())
        .bind(category_id)
        .bind(category_status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RiderAccount {
            account_id,
            category_id: category_id.to_owned(),
            category_status,
        })
    }

    /// One rider account.
    pub async fn account(&self, account_id: AccountId) -> Result<Option<RiderAccount>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_SELECT} FROM rider.account a WHERE a.account_id = $1");
        let row = sqlx::query(&sql)
            .bind(account_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Every rider account id after `after` (in id order), at most `limit`:
    /// pages for whole-table jobs such as `oneticket hot rebuild`.
    pub async fn account_ids(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<AccountId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT account_id FROM rider.account WHERE account_id > $1 ORDER BY account_id LIMIT $2",
        )
        .bind(after.map_or(Uuid::nil(), AccountId::as_uuid))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        ids.into_iter().map(rows::account_id).collect()
    }

    /// Links a medium to an account. A value already active on any account
    /// is `Duplicate { constraint: "medium_active_value_key" }`.
    #[tracing::instrument(skip_all, fields(medium_id = %medium_id, kind = kind.as_str()))]
    pub async fn link_medium(
        &self,
        medium_id: Uuid,
        account_id: AccountId,
        kind: MediumKind,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rider.medium (medium_id, kind, value, account_id, status, created_at) \
             VALUES ($1, $2, $3, $4, 'active', $5)",
        )
        .bind(medium_id)
        .bind(kind.as_str())
        .bind(value)
        .bind(account_id.as_uuid())
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Blocks a medium and, for cards and bank cards, adds it to the deny
    /// list, in one transaction. `Ok(None)` when no such medium exists; a
    /// medium blocked before is left as it is (no new deny-list version).
    #[tracing::instrument(skip_all, fields(medium_id = %medium_id))]
    pub async fn block_medium(
        &self,
        medium_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<BlockOutcome>, StoreError> {
        let reason: String = reason.chars().take(MAX_BLOCK_REASON_CHARS).collect();
        let now = now.trunc_subsecs(6);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT kind, value, status FROM rider.medium WHERE medium_id = $1 FOR UPDATE",
        )
        .bind(medium_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind = MediumKind::parse(row.try_get("kind")?)?;
        let value: String = row.try_get("value")?;
        let status: String = row.try_get("status")?;
        if status == "blocked" {
            return Ok(Some(BlockOutcome {
                kind,
                value,
                deny_list_version: None,
            }));
        }
        sqlx::query(
            "UPDATE rider.medium SET status = 'blocked', blocked_at = $2, blocked_reason = $3 \
             WHERE medium_id = $1",
        )
        .bind(medium_id)
        .bind(now)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
        let deny_list_version = match kind.deny_kind() {
            Some(deny_kind) => {
                deny_list::add_in(&mut tx, deny_kind, &value, Some(&reason), now).await?
            }
            None => None,
        };
        tx.commit().await?;
        Ok(Some(BlockOutcome {
            kind,
            value,
            deny_list_version,
        }))
    }

    /// The medium with this value (an active one if there is one, else the
    /// latest blocked one), with its account.
    pub async fn find_medium(
        &self,
        kind: MediumKind,
        value: &str,
    ) -> Result<Option<MediumRecord>, StoreError> {
        let sql = format!(
            "SELECT m.medium_id, m.kind, m.status, {ACCOUNT_SELECT} FROM rider.medium m \
             JOIN rider.account a ON a.account_id = m.account_id \
             WHERE m.kind = $1 AND m.value = $2 \
             ORDER BY (m.status = 'active') DESC, m.created_at DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(kind.as_str())
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let status: String = row.try_get("status")?;
        Ok(Some(MediumRecord {
            medium_id: row.try_get("medium_id")?,
            kind: MediumKind::parse(row.try_get("kind")?)?,
            status: if status == "active" {
                MediumStatus::Active
            } else {
                MediumStatus::Blocked
            },
            account: account_from_row(&row)?,
        }))
    }

    /// Records an issued QR ticket.
    pub async fn insert_ticket(
        &self,
        ticket: &NewTicket,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rider.ticket (ticket_id, account_id, kid, holder_key, expires_at, \
             issued_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ticket.ticket_id.as_slice())
        .bind(ticket.account_id.as_uuid())
        .bind(ticket.kid.as_slice())
        .bind(ticket.holder_key.as_ref().map(<[u8; 32]>::as_slice))
        .bind(ticket.expires_at.trunc_subsecs(6))
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The ticket with this id and its account.
    pub async fn find_ticket(
        &self,
        ticket_id: &[u8; 16],
    ) -> Result<Option<TicketRecord>, StoreError> {
        let sql = format!(
            "SELECT t.expires_at, {ACCOUNT_SELECT} FROM rider.ticket t \
             JOIN rider.account a ON a.account_id = t.account_id WHERE t.ticket_id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(ticket_id.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(TicketRecord {
            ticket_id: *ticket_id,
            account: account_from_row(&row)?,
            expires_at: row.try_get("expires_at")?,
        }))
    }
}

/// A reader's place in the resolution feed (`rider.resolution_change`,
/// migration 0070): the snapshot taken before the last poll, as the
/// transactions it could not see — every id from its `xmax` on, and the
/// ones in progress below (`xip`, at most one per connection). The next
/// poll reads the changes of exactly those transactions, so one committed
/// after a poll is read by the next, and a transaction left open for hours
/// (a backup, a long report, anywhere on the server) makes no poll read
/// again what an earlier one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedHorizon {
    xmax: u64,
    in_progress: Vec<u64>,
}

/// One entry of the resolution feed: what to forget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolutionChange {
    /// A medium was linked, blocked, moved or removed.
    Medium {
        /// Its kind.
        kind: MediumKind,
        /// Its value (card UID, token, plate).
        value: String,
    },
    /// An account's rider category or its status changed.
    Account(AccountId),
}

/// The query of [`Riders::resolution_changes`] (`$1`: the horizon's `xmax`
/// as text, `$2`: its in-progress ids as text, `$3`: the limit). Two
/// index ranges, each ordered by `xid` so that it stops at the limit, then
/// merged: an `OR` of the two would read the index from its start.
pub const RESOLUTION_CHANGES_SQL: &str = "SELECT medium_kind, medium_value, account_id FROM ( \
       (SELECT medium_kind, medium_value, account_id, xid, change_id \
        FROM rider.resolution_change WHERE xid >= $1::text::xid8 ORDER BY xid, change_id LIMIT $3) \
       UNION ALL \
       (SELECT medium_kind, medium_value, account_id, xid, change_id \
        FROM rider.resolution_change WHERE xid = ANY($2::text[]::xid8[]) \
        ORDER BY xid, change_id LIMIT $3) \
     ) AS unseen ORDER BY xid, change_id LIMIT $3";

impl Riders {
    /// The feed horizon now: what the current snapshot cannot see. Take it
    /// *before* reading the changes it will replace (see [`FeedHorizon`]).
    pub async fn resolution_horizon(&self) -> Result<FeedHorizon, StoreError> {
        let (xmax, xip): (String, Vec<String>) = sqlx::query_as(
            "SELECT pg_snapshot_xmax(s)::text, ARRAY(SELECT pg_snapshot_xip(s)::text) \
             FROM pg_current_snapshot() AS s",
        )
        .fetch_one(&self.pool)
        .await?;
        let id = |text: &str| {
            text.parse::<u64>()
                .map_err(|_| StoreError::Corrupt(format!("snapshot transaction id {text:?}")))
        };
        Ok(FeedHorizon {
            xmax: id(&xmax)?,
            in_progress: xip.iter().map(|x| id(x)).collect::<Result<_, _>>()?,
        })
    }

    /// The feed's changes written by the transactions `since` could not
    /// see, by transaction then write order, at most `limit` (a reader that
    /// gets `limit` may have missed some and must forget everything).
    ///
    /// Ordered by `xid` so that the plan is range scans of the `xid` index
    /// that stop at `limit` whatever the statistics say: ordered by
    /// `change_id`, a table never analyzed (autovacuum off, or a bulk load
    /// since the last analyze) was read whole through the primary key on
    /// every poll — 10 to 17 ms a second with 20,000 riders just created.
    pub async fn resolution_changes(
        &self,
        since: &FeedHorizon,
        limit: u32,
    ) -> Result<Vec<ResolutionChange>, StoreError> {
        let rows = sqlx::query(RESOLUTION_CHANGES_SQL)
            .bind(since.xmax.to_string())
            .bind(
                since
                    .in_progress
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>(),
            )
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let kind: Option<String> = row.try_get("medium_kind")?;
                let value: Option<String> = row.try_get("medium_value")?;
                let account: Option<Uuid> = row.try_get("account_id")?;
                match (kind, value, account) {
                    (Some(kind), Some(value), None) => Ok(ResolutionChange::Medium {
                        kind: MediumKind::parse(&kind)?,
                        value,
                    }),
                    (None, None, Some(account)) => {
                        Ok(ResolutionChange::Account(rows::account_id(account)?))
                    }
                    _ => Err(StoreError::Corrupt(
                        "a resolution change of no medium and no account".to_owned(),
                    )),
                }
            })
            .collect()
    }

    /// Deletes feed rows written more than `retention_s` ago (by the
    /// database's clock): every reader's horizon passed them long before.
    pub async fn prune_resolution_changes(&self, retention_s: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM rider.resolution_change \
             WHERE changed_at < clock_timestamp() - $1::bigint * interval '1 second'",
        )
        .bind(i64::from(retention_s))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// What blocking a medium did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// The medium's kind.
    pub kind: MediumKind,
    /// Its value (card UID, token, plate).
    pub value: String,
    /// The deny-list version that added it; `None` for plates and for a
    /// medium that was blocked already.
    pub deny_list_version: Option<u64>,
}
