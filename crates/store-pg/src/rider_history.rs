//! Read models of the rider API: an account's media, its recorded events
//! (the fold input the projection writes to `rider.account_event`, from which
//! trips and parking stays are built) with whether settlement has posted
//! them (`settlement.account_day`), and its wallet's ledger transfers,
//! newest first with keyset cursors.
//!
//! **Boundary:** reads only; every query is scoped to one account, so a
//! rider can never page into another rider's rows.

use chrono::{DateTime, NaiveDate, Utc};
use ledger::{AccountId, TransferRecord};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;
use crate::rows::{self, TRANSFER_COLUMNS};

/// A medium as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediumRow {
    /// Its id.
    pub medium_id: Uuid,
    /// `transit_card`, `bank_card` or `plate`.
    pub kind: String,
    /// The card UID, token or plate.
    pub value: String,
    /// `active` or `blocked`.
    pub status: String,
    /// Linked at.
    pub created_at: DateTime<Utc>,
    /// Blocked at.
    pub blocked_at: Option<DateTime<Utc>>,
}

/// One recorded event of an account (`rider.account_event`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEventRow {
    /// The state version it produced: dense per account, the cursor.
    pub version: i64,
    /// Its idempotency key.
    pub event_key: String,
    /// `top_up`, `bus`, `metro_in`, `metro_out`, `buy_pass`, `park_in`, `park_out`,
    /// `park_out_lost_ticket`.
    pub kind: String,
    /// The time it was priced with.
    pub event_time: DateTime<Utc>,
    /// Its service day.
    pub service_day: NaiveDate,
    /// Bus route.
    pub route_id: Option<String>,
    /// Metro station.
    pub station_id: Option<String>,
    /// Parking lot.
    pub lot_id: Option<String>,
    /// Pass product bought.
    pub product_id: Option<String>,
    /// Category priced with.
    pub category_id: Option<String>,
    /// Amount topped up.
    pub top_up_vnd: Option<i64>,
    /// How much the spendable balance went down (negative: up).
    pub amount_vnd: i64,
    /// The spendable balance after it.
    pub balance_vnd: i64,
    /// The engine's note (`incomplete_journey`, …).
    pub reason: Option<String>,
    /// The pass bought or used.
    pub pass_id: Option<String>,
    /// The GTFS product that priced the leg.
    pub fare_product_id: Option<String>,
    /// The terminal of a tap.
    pub terminal_id: Option<String>,
    /// Whether settlement has posted the event's day since the event was
    /// stored (a later event of a settled day waits for the next run).
    pub settled: bool,
}

/// Read models for riders.
#[derive(Clone, Debug)]
pub struct RiderHistory {
    pool: PgPool,
}

const MEDIUM_COLUMNS: &str = "medium_id, kind, value, status, created_at, blocked_at";

fn medium_from_row(row: &sqlx::postgres::PgRow) -> Result<MediumRow, StoreError> {
    Ok(MediumRow {
        medium_id: row.try_get("medium_id")?,
        kind: row.try_get("kind")?,
        value: row.try_get("value")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        blocked_at: row.try_get("blocked_at")?,
    })
}

const EVENT_COLUMNS: &str = "e.version, e.event_key, e.kind, e.event_time, e.service_day, \
     e.route_id, e.station_id, e.lot_id, e.product_id, e.category_id, e.top_up_vnd, e.amount_vnd, \
     e.balance_vnd, e.reason, e.pass_id, e.fare_product_id, e.terminal_id, \
     COALESCE(d.settled_at >= e.ingested_at, false) AS settled";

fn event_from_row(row: &sqlx::postgres::PgRow) -> Result<AccountEventRow, StoreError> {
    Ok(AccountEventRow {
        version: row.try_get("version")?,
        event_key: row.try_get("event_key")?,
        kind: row.try_get("kind")?,
        event_time: row.try_get("event_time")?,
        service_day: row.try_get("service_day")?,
        route_id: row.try_get("route_id")?,
        station_id: row.try_get("station_id")?,
        lot_id: row.try_get("lot_id")?,
        product_id: row.try_get("product_id")?,
        category_id: row.try_get("category_id")?,
        top_up_vnd: row.try_get("top_up_vnd")?,
        amount_vnd: row.try_get("amount_vnd")?,
        balance_vnd: row.try_get("balance_vnd")?,
        reason: row.try_get("reason")?,
        pass_id: row.try_get("pass_id")?,
        fare_product_id: row.try_get("fare_product_id")?,
        terminal_id: row.try_get("terminal_id")?,
        settled: row.try_get("settled")?,
    })
}

impl RiderHistory {
    /// The read models on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> RiderHistory {
        RiderHistory { pool }
    }

    /// The account's media, oldest first, at most `limit`.
    pub async fn media(
        &self,
        account_id: AccountId,
        limit: u32,
    ) -> Result<Vec<MediumRow>, StoreError> {
        let sql = format!(
            "SELECT {MEDIUM_COLUMNS} FROM rider.medium WHERE account_id = $1 \
             ORDER BY created_at, medium_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.as_uuid())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(medium_from_row).collect()
    }

    /// The medium `medium_id` if it belongs to `account_id`.
    pub async fn medium(
        &self,
        account_id: AccountId,
        medium_id: Uuid,
    ) -> Result<Option<MediumRow>, StoreError> {
        let sql = format!(
            "SELECT {MEDIUM_COLUMNS} FROM rider.medium WHERE medium_id = $1 AND account_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(medium_id)
            .bind(account_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(medium_from_row).transpose()
    }

    /// How many active media the account has.
    pub async fn active_media(&self, account_id: AccountId) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM rider.medium WHERE account_id = $1 AND status = 'active'",
        )
        .bind(account_id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    /// The account's recorded events of `kinds`, newest first, with a
    /// version below `before_version` (all when `None`), at most `limit`.
    pub async fn events(
        &self,
        account_id: AccountId,
        kinds: &[&str],
        before_version: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccountEventRow>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM rider.account_event e \
             LEFT JOIN settlement.account_day d \
               ON d.account_id = e.account_id AND d.service_day = e.service_day \
             WHERE e.account_id = $1 AND e.kind = ANY($2) AND e.version < $3 \
             ORDER BY e.version DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.as_uuid())
            .bind(&kinds)
            .bind(before_version.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The wallet's ledger transfers, newest first, with a log position
    /// below `before_seq` (all when `None`), at most `limit`; each with its
    /// log position.
    pub async fn wallet_transfers(
        &self,
        account_id: AccountId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, TransferRecord)>, StoreError> {
        // Posts and voids carry their pending transfer's accounts, so one
        // lookup by account finds every kind.
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ( \
               (SELECT t.* FROM ledger.transfer t WHERE t.debit_account_id = $1 AND t.seq < $2 \
                ORDER BY t.seq DESC LIMIT $3) \
               UNION \
               (SELECT t.* FROM ledger.transfer t WHERE t.credit_account_id = $1 AND t.seq < $2 \
                ORDER BY t.seq DESC LIMIT $3) \
             ) t ORDER BY seq DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.as_uuid())
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::transfer_from_row).collect()
    }
}
