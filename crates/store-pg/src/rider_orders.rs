//! Top-up orders and pass purchases of the rider API (`rider.topup`,
//! `rider.pass_purchase`, migration 0040): what riders see as receipts.
//!
//! A top-up's life: `pending` (sent to the provider) → `confirming` (a
//! verified success callback claimed it with the provider's transaction
//! number and the ledger transfer id derived from it) → `succeeded` (the
//! transfer is posted and the projection credited). Or `pending` → `failed`.
//! [`RiderOrders::claim_topup`] is the one compare-and-set that lets a
//! success through; a retry of the same callback may claim a `confirming`
//! order again (same transaction number) to finish work a crash interrupted.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use ledger::{AccountId, TransferId};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;
use crate::rows;

/// A top-up's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopupStatus {
    /// Waiting for the provider's callback.
    Pending,
    /// A success callback claimed it; crediting.
    Confirming,
    /// Credited.
    Succeeded,
    /// The provider reported a failure.
    Failed,
}

impl TopupStatus {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TopupStatus::Pending => "pending",
            TopupStatus::Confirming => "confirming",
            TopupStatus::Succeeded => "succeeded",
            TopupStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<TopupStatus, StoreError> {
        match text {
            "pending" => Ok(TopupStatus::Pending),
            "confirming" => Ok(TopupStatus::Confirming),
            "succeeded" => Ok(TopupStatus::Succeeded),
            "failed" => Ok(TopupStatus::Failed),
            other => Err(StoreError::Corrupt(format!("top-up status {other:?}"))),
        }
    }
}

/// A top-up order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopupRecord {
    /// Its id.
    pub topup_id: Uuid,
    /// Whose wallet.
    pub account_id: AccountId,
    /// The payment provider (`VNPAY`).
    pub provider_id: String,
    /// The reference sent to the provider.
    pub txn_ref: String,
    /// The amount asked for.
    pub amount_vnd: i64,
    /// Where it is.
    pub status: TopupStatus,
    /// The provider's transaction number (once a success was claimed).
    pub provider_txn_no: Option<String>,
    /// The provider's response code of the deciding callback.
    pub provider_response_code: Option<String>,
    /// The ledger transfer that credits it (once claimed).
    pub transfer_id: Option<TransferId>,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// The payment page's deadline.
    pub expires_at: DateTime<Utc>,
    /// When the provider's callback decided it.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A new top-up order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTopup {
    /// Its id.
    pub topup_id: Uuid,
    /// Whose wallet.
    pub account_id: AccountId,
    /// The payment provider.
    pub provider_id: String,
    /// The reference sent to the provider.
    pub txn_ref: String,
    /// The amount.
    pub amount_vnd: i64,
    /// The payment page's deadline.
    pub expires_at: DateTime<Utc>,
}

/// What claiming a top-up for a success callback found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours to credit (first claim, or the same transaction resuming).
    Claimed(TopupRecord),
    /// Decided before (succeeded, failed, or claimed by another transaction).
    AlreadyDecided(TopupRecord),
}

/// A pass bought through the rider API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassPurchase {
    /// Its id.
    pub purchase_id: Uuid,
    /// Whose.
    pub account_id: AccountId,
    /// The pass product id.
    pub product_id: String,
    /// The rider category it was priced for.
    pub category_id: String,
    /// What it cost.
    pub price_vnd: i64,
    /// The projection's idempotency key of the purchase event.
    pub event_key: String,
    /// First service day of validity.
    pub first_day: NaiveDate,
    /// Last service day of validity.
    pub last_day: NaiveDate,
    /// When.
    pub bought_at: DateTime<Utc>,
}

/// Top-ups and pass purchases in Postgres.
#[derive(Clone, Debug)]
pub struct RiderOrders {
    pool: PgPool,
}

const TOPUP_COLUMNS: &str = "topup_id, account_id, provider_id, txn_ref, amount_vnd, status, \
     provider_txn_no, provider_response_code, transfer_id, created_at, expires_at, confirmed_at";

fn topup_from_row(row: &sqlx::postgres::PgRow) -> Result<TopupRecord, StoreError> {
    let transfer_id: Option<Uuid> = row.try_get("transfer_id")?;
    Ok(TopupRecord {
        topup_id: row.try_get("topup_id")?,
        account_id: rows::account_id(row.try_get("account_id")?)?,
        provider_id: row.try_get("provider_id")?,
        txn_ref: row.try_get("txn_ref")?,
        amount_vnd: row.try_get("amount_vnd")?,
        status: TopupStatus::parse(row.try_get("status")?)?,
        provider_txn_no: row.try_get("provider_txn_no")?,
        provider_response_code: row.try_get("provider_response_code")?,
        transfer_id: transfer_id.map(rows::transfer_id).transpose()?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
    })
}

const PURCHASE_COLUMNS: &str = "purchase_id, account_id, product_id, category_id, price_vnd, \
     event_key, first_day, last_day, bought_at";

fn purchase_from_row(row: &sqlx::postgres::PgRow) -> Result<PassPurchase, StoreError> {
    Ok(PassPurchase {
        purchase_id: row.try_get("purchase_id")?,
        account_id: rows::account_id(row.try_get("account_id")?)?,
        product_id: row.try_get("product_id")?,
        category_id: row.try_get("category_id")?,
        price_vnd: row.try_get("price_vnd")?,
        event_key: row.try_get("event_key")?,
        first_day: row.try_get("first_day")?,
        last_day: row.try_get("last_day")?,
        bought_at: row.try_get("bought_at")?,
    })
}

impl RiderOrders {
    /// The store on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> RiderOrders {
        RiderOrders { pool }
    }

    /// Records a new pending top-up at `now`.
    pub async fn insert_topup(
        &self,
        topup: &NewTopup,
        now: DateTime<Utc>,
    ) -> Result<TopupRecord, StoreError> {
        let sql = format!(
            "INSERT INTO rider.topup (topup_id, account_id, provider_id, txn_ref, amount_vnd, \
             status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) \
             RETURNING {TOPUP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(topup.topup_id)
            .bind(topup.account_id.as_uuid())
            .bind(&topup.provider_id)
            .bind(&topup.txn_ref)
            .bind(topup.amount_vnd)
            .bind(now.trunc_subsecs(6))
            .bind(topup.expires_at.trunc_subsecs(6))
            .fetch_one(&self.pool)
            .await?;
        topup_from_row(&row)
    }

    /// The top-up with this provider reference.
    pub async fn topup_by_ref(
        &self,
        provider_id: &str,
        txn_ref: &str,
    ) -> Result<Option<TopupRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOPUP_COLUMNS} FROM rider.topup WHERE provider_id = $1 AND txn_ref = $2"
        );
        let row = sqlx::query(&sql)
            .bind(provider_id)
            .bind(txn_ref)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(topup_from_row).transpose()
    }

    /// The top-up with this id, if it belongs to `account_id`.
    pub async fn topup_of(
        &self,
        account_id: AccountId,
        topup_id: Uuid,
    ) -> Result<Option<TopupRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOPUP_COLUMNS} FROM rider.topup WHERE topup_id = $1 AND account_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(topup_id)
            .bind(account_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(topup_from_row).transpose()
    }

    /// Claims a top-up for the success callback of provider transaction
    /// `txn_no`, to be credited by transfer `transfer_id`.
    pub async fn claim_topup(
        &self,
        topup_id: Uuid,
        txn_no: &str,
        response_code: &str,
        transfer_id: TransferId,
    ) -> Result<Claim, StoreError> {
        let sql = format!(
            "UPDATE rider.topup SET status = 'confirming', provider_txn_no = $2, \
             provider_response_code = $3, transfer_id = $4 \
             WHERE topup_id = $1 AND (status = 'pending' \
               OR (status = 'confirming' AND provider_txn_no = $2)) \
             RETURNING {TOPUP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(topup_id)
            .bind(txn_no)
            .bind(response_code)
            .bind(transfer_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(Claim::Claimed(topup_from_row(&row)?));
        }
        let sql = format!("SELECT {TOPUP_COLUMNS} FROM rider.topup WHERE topup_id = $1");
        let row = sqlx::query(&sql)
            .bind(topup_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Claim::AlreadyDecided(topup_from_row(&row)?))
    }

    /// Marks a claimed top-up credited; returns whether it moved.
    pub async fn succeed_topup(
        &self,
        topup_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE rider.topup SET status = 'succeeded', confirmed_at = $2 \
             WHERE topup_id = $1 AND status = 'confirming'",
        )
        .bind(topup_id)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    /// Marks a pending top-up failed with the provider's code; returns
    /// whether it moved (false: decided before).
    pub async fn fail_topup(
        &self,
        topup_id: Uuid,
        response_code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE rider.topup SET status = 'failed', provider_response_code = $2, \
             confirmed_at = $3 WHERE topup_id = $1 AND status = 'pending'",
        )
        .bind(topup_id)
        .bind(response_code)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    /// Records a pass purchase; a repeat of the same event key returns the
    /// first record.
    pub async fn insert_purchase(
        &self,
        purchase: &PassPurchase,
    ) -> Result<PassPurchase, StoreError> {
        sqlx::query(
            "INSERT INTO rider.pass_purchase (purchase_id, account_id, product_id, category_id, \
             price_vnd, event_key, first_day, last_day, bought_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_key) DO NOTHING",
        )
        .bind(purchase.purchase_id)
        .bind(purchase.account_id.as_uuid())
        .bind(&purchase.product_id)
        .bind(&purchase.category_id)
        .bind(purchase.price_vnd)
        .bind(&purchase.event_key)
        .bind(purchase.first_day)
        .bind(purchase.last_day)
        .bind(purchase.bought_at.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        let sql =
            format!("SELECT {PURCHASE_COLUMNS} FROM rider.pass_purchase WHERE event_key = $1");
        let row = sqlx::query(&sql)
            .bind(&purchase.event_key)
            .fetch_one(&self.pool)
            .await?;
        purchase_from_row(&row)
    }

    /// The pass purchase with this id, if it belongs to `account_id`.
    pub async fn purchase_of(
        &self,
        account_id: AccountId,
        purchase_id: Uuid,
    ) -> Result<Option<PassPurchase>, StoreError> {
        let sql = format!(
            "SELECT {PURCHASE_COLUMNS} FROM rider.pass_purchase WHERE purchase_id = $1 \
             AND account_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(purchase_id)
            .bind(account_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(purchase_from_row).transpose()
    }
}
