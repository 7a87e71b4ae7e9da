//! What the settlement job reads and writes (schema `settlement`, migration
//! 0020) and the settlement-side reads of the rider, transit and ledger
//! schemas.
//!
//! Every read is bounded: accounts come in pages ordered by id, events and
//! ledger facts are loaded for one page of accounts at a time, so a day of
//! any size is settled in bounded memory. Writes of one page go in one
//! transaction. The transfers themselves go through [`crate::Ledger`]; this
//! module never writes the ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use ledger::{AccountId, Money, TransferId, TransferRecord};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;
use crate::rows::{self, TRANSFER_COLUMNS};

/// The most accounts one page may hold: the caller's batch size is checked
/// against it so that `= ANY($1)` arrays and the rows they pull stay small.
pub const MAX_ACCOUNTS_PER_PAGE: u32 = 10_000;

/// The most rows a report read returns (journal gaps, unknown media):
/// reports list problems, and a day with more than this many is summarised
/// by the count it also reports.
pub const MAX_REPORT_ROWS: u32 = 10_000;

/// One event of an account-day as settlement reads it: an accepted event of
/// `rider.account_event`, or a tap a gate accepted offline that the backend
/// denied when its journal arrived (`gate_override`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct EventInput {
    pub account_id: Uuid,
    pub event_key: String,
    /// `top_up`, `bus`, `metro_in`, `metro_out`, `buy_pass`, `park_in`, `park_out`,
    /// `park_out_lost_ticket`.
    pub kind: String,
    pub event_time: DateTime<Utc>,
    pub route_id: Option<String>,
    pub station_id: Option<String>,
    pub lot_id: Option<String>,
    pub product_id: Option<String>,
    pub category_id: Option<String>,
    pub top_up_vnd: Option<i64>,
    /// The provisional change of the spendable balance (0 for a gate
    /// override: the backend charged nothing).
    pub amount_vnd: i64,
    /// The terminal's operator when the tap was decided, if it was a tap.
    pub operator_id: Option<String>,
    /// `transit_card`, `bank_card`, `qr` or `plate`, if it was a tap.
    pub medium_kind: Option<String>,
    pub gate_override: bool,
}

/// The carry an account-day starts from: the latest settled day before it.
#[derive(Clone, Debug, PartialEq)]
pub struct StartRow {
    /// The account.
    pub account_id: Uuid,
    /// The settled day the carry comes from.
    pub service_day: NaiveDate,
    /// The carry (settlement's JSON).
    pub carry: serde_json::Value,
}

/// What is recorded of an account-day already settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledRow {
    /// The account.
    pub account_id: Uuid,
    /// Fingerprint of the inputs it was settled with.
    pub input_digest: Vec<u8>,
    /// The carry digest it ended with.
    pub carry_digest: Vec<u8>,
    /// How many times it was posted.
    pub rounds: i32,
    /// Σ of its adjustment amounts so far.
    pub adjustments_vnd: i64,
}

/// A pending transfer as re-settlement needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRow {
    /// Its id.
    pub id: TransferId,
    /// The account its movement debits.
    pub debit: AccountId,
    /// The account its movement credits.
    pub credit: AccountId,
    /// What it holds.
    pub amount: Money,
    /// Not posted, voided or expired.
    pub open: bool,
}

/// One operator's part of one account-day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct OperatorPart {
    pub operator_id: String,
    pub legs: i32,
    pub full_fares_vnd: i64,
    pub discounts_vnd: i64,
    pub cap_reductions_vnd: i64,
    pub fares_charged_vnd: i64,
    pub fares_settled_vnd: i64,
    pub incomplete_vnd: i64,
    pub pass_recognised_vnd: i64,
    pub parking_vnd: i64,
}

/// One settled account-day to record.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub struct AccountDayWrite {
    pub account_id: Uuid,
    pub service_day: NaiveDate,
    pub input_digest: Vec<u8>,
    pub event_count: i32,
    pub carry: serde_json::Value,
    pub carry_digest: Vec<u8>,
    pub provisional_vnd: i64,
    pub settled_vnd: i64,
    pub rider_debits_vnd: i64,
    pub operator_credits_vnd: i64,
    pub penalties_vnd: i64,
    pub platform_fees_vnd: i64,
    pub pass_sales_vnd: i64,
    pub pass_recognitions_vnd: i64,
    pub adjustments_vnd: i64,
    pub rounds: i32,
    /// The day the account must be settled next even without events.
    pub due_day: Option<NaiveDate>,
    pub parts: Vec<OperatorPart>,
}

/// One operator's statement totals for a day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct OperatorTotals {
    pub operator_id: String,
    pub accounts: i64,
    pub legs: i64,
    pub full_fares_vnd: i64,
    pub discounts_vnd: i64,
    pub cap_reductions_vnd: i64,
    pub fares_charged_vnd: i64,
    pub fares_settled_vnd: i64,
    pub incomplete_vnd: i64,
    pub pass_recognised_vnd: i64,
    pub parking_vnd: i64,
    /// Net of the adjustment transfers of the day that credited (+) or
    /// debited (−) the operator.
    pub adjustments_vnd: i64,
}

/// One account's provisional and settled charges for a day.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct AccountDayTotals {
    pub account_id: Uuid,
    pub event_count: i32,
    pub provisional_vnd: i64,
    pub settled_vnd: i64,
    pub rider_debits_vnd: i64,
    pub operator_credits_vnd: i64,
    pub penalties_vnd: i64,
    pub platform_fees_vnd: i64,
    pub pass_sales_vnd: i64,
    pub pass_recognitions_vnd: i64,
    pub adjustments_vnd: i64,
    pub rounds: i32,
}

/// Journal progress of one terminal boot that tapped on a day.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct JournalGap {
    pub terminal_id: String,
    pub boot_epoch: i64,
    /// Highest seq acknowledged contiguously (0: none).
    pub watermark: i64,
    /// Highest seq seen (online or journaled).
    pub max_seq_seen: i64,
    /// Seqs between the watermark and the highest seen not yet uploaded.
    pub missing: i64,
}

/// Taps of a day whose medium resolved to no account, by terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct UnknownMediumTaps {
    pub terminal_id: String,
    pub operator_id: String,
    pub medium_kind: String,
    pub taps: i64,
    pub accepted: i64,
}

/// A settled account-day whose recorded totals disagree with the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementFinding {
    /// The wallet.
    pub account_id: Uuid,
    /// The day.
    pub service_day: NaiveDate,
    /// The recorded rider debits.
    pub recorded_vnd: i128,
    /// Net wallet outflow of the day's settlement transfers in the ledger.
    pub ledger_vnd: i128,
}

/// The settlement store.
#[derive(Clone, Debug)]
pub struct SettlementStore {
    pool: PgPool,
}

fn page_size(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_ACCOUNTS_PER_PAGE))
}

const EVENT_COLUMNS: &str = "account_id, event_key, kind, event_time, route_id, station_id, \
     lot_id, product_id, category_id, top_up_vnd, amount_vnd, operator_id, medium_kind, \
     gate_override";

fn event_from_row(row: &PgRow) -> Result<EventInput, StoreError> {
    Ok(EventInput {
        account_id: row.try_get("account_id")?,
        event_key: row.try_get("event_key")?,
        kind: row.try_get("kind")?,
        event_time: row.try_get("event_time")?,
        route_id: row.try_get("route_id")?,
        station_id: row.try_get("station_id")?,
        lot_id: row.try_get("lot_id")?,
        product_id: row.try_get("product_id")?,
        category_id: row.try_get("category_id")?,
        top_up_vnd: row.try_get("top_up_vnd")?,
        amount_vnd: row.try_get("amount_vnd")?,
        operator_id: row.try_get("operator_id")?,
        medium_kind: row.try_get("medium_kind")?,
        gate_override: row.try_get("gate_override")?,
    })
}

impl SettlementStore {
    /// A store on `pool` (migrated with `MIGRATOR`).
    #[must_use]
    pub const fn new(pool: PgPool) -> SettlementStore {
        SettlementStore { pool }
    }

    /// The pool.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Up to `limit` accounts to settle on `day` after `after`, in id order:
    /// accounts with events that day, and accounts due that day (a trip or
    /// a pass carried in). Each source is read with its own ordered,
    /// limited index scan and the two are merged here: a `UNION` would make
    /// Postgres read every remaining account of the day for each page.
    pub async fn candidates(
        &self,
        day: NaiveDate,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let after = after.unwrap_or(Uuid::nil());
        let with_events: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT account_id FROM rider.account_event \
             WHERE service_day = $1 AND account_id > $2 ORDER BY account_id LIMIT $3",
        )
        .bind(day)
        .bind(after)
        .bind(page_size(limit))
        .fetch_all(&self.pool)
        .await?;
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT account_id FROM settlement.account_due \
             WHERE due_day <= $1 AND source_day < $1 AND account_id > $2 \
             ORDER BY account_id LIMIT $3",
        )
        .bind(day)
        .bind(after)
        .bind(page_size(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut merged: Vec<Uuid> = with_events.into_iter().chain(due).collect();
        merged.sort_unstable();
        merged.dedup();
        merged.truncate(usize::try_from(page_size(limit)).unwrap_or(usize::MAX));
        Ok(merged)
    }

    /// How many accounts [`candidates`](Self::candidates) will list for `day`.
    pub async fn count_candidates(&self, day: NaiveDate) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ( \
               SELECT DISTINCT account_id FROM rider.account_event WHERE service_day = $1 \
               UNION \
               SELECT account_id FROM settlement.account_due WHERE due_day <= $1 AND source_day < $1 \
             ) c",
        )
        .bind(day)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Every event of `accounts` on `day`, by account, then time, then the
    /// order the backend applied them. A tap event's operator and medium
    /// come from its tap by primary key (a lateral lookup: a plain join let
    /// the planner hash the whole day's taps for every page).
    pub async fn events(
        &self,
        day: NaiveDate,
        accounts: &[Uuid],
    ) -> Result<Vec<EventInput>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM ( \
               SELECT e.account_id, e.event_key, e.kind, e.event_time, e.route_id, e.station_id, \
                 e.lot_id, e.product_id, e.category_id, e.top_up_vnd, e.amount_vnd, \
                 t.operator_id, t.medium_kind, false AS gate_override, e.version \
               FROM rider.account_event e \
               LEFT JOIN LATERAL (SELECT t.operator_id, t.medium_kind FROM transit.tap t \
                 WHERE t.terminal_id = e.terminal_id AND t.boot_epoch = e.boot_epoch \
                   AND t.seq = e.seq LIMIT 1) t ON true \
               WHERE e.service_day = $1 AND e.account_id = ANY($2) \
               UNION ALL \
               SELECT t.account_id, 'tap:' || t.terminal_id || ':' || t.boot_epoch || ':' || t.seq, \
                 CASE t.event_kind WHEN 'bus_boarding' THEN 'bus' WHEN 'metro_entry' THEN 'metro_in' \
                   WHEN 'metro_exit' THEN 'metro_out' WHEN 'parking_entry' THEN 'park_in' \
                   ELSE 'park_out' END, \
                 t.event_time, t.route_id, t.station_id, t.lot_id, NULL, t.category_id, NULL, 0, \
                 t.operator_id, t.medium_kind, true, NULL \
               FROM transit.tap t JOIN transit.journal_record j ON j.terminal_id = t.terminal_id \
                 AND j.boot_epoch = t.boot_epoch AND j.seq = t.seq \
               WHERE t.service_day = $1 AND t.account_id = ANY($2) AND t.decision = 'deny' \
                 AND j.decided_by = 'offline' AND j.decision = 'accept' \
                 AND NOT EXISTS (SELECT 1 FROM rider.account_event x WHERE x.event_key = \
                   'tap:' || t.terminal_id || ':' || t.boot_epoch || ':' || t.seq) \
             ) ev ORDER BY account_id, event_time, version NULLS LAST, event_key"
        );
        let rows = sqlx::query(&sql)
            .bind(day)
            .bind(accounts)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// For each of `accounts`, the latest settled day before `day` and its
    /// carry (accounts never settled before are absent).
    pub async fn starts(
        &self,
        day: NaiveDate,
        accounts: &[Uuid],
    ) -> Result<Vec<StartRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (account_id) account_id, service_day, carry \
             FROM settlement.account_day WHERE account_id = ANY($1) AND service_day < $2 \
             ORDER BY account_id, service_day DESC",
        )
        .bind(accounts)
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StartRow {
                    account_id: r.try_get("account_id")?,
                    service_day: r.try_get("service_day")?,
                    carry: r.try_get("carry")?,
                })
            })
            .collect()
    }

    /// The recorded settlement of `accounts` on `day`, where there is one.
    pub async fn settled(
        &self,
        day: NaiveDate,
        accounts: &[Uuid],
    ) -> Result<Vec<SettledRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT account_id, input_digest, carry_digest, rounds, adjustments_vnd \
             FROM settlement.account_day WHERE service_day = $1 AND account_id = ANY($2)",
        )
        .bind(day)
        .bind(accounts)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SettledRow {
                    account_id: r.try_get("account_id")?,
                    input_digest: r.try_get("input_digest")?,
                    carry_digest: r.try_get("carry_digest")?,
                    rounds: r.try_get("rounds")?,
                    adjustments_vnd: r.try_get("adjustments_vnd")?,
                })
            })
            .collect()
    }

    /// Every ledger transfer carrying one of `references`.
    pub async fn posted(&self, references: &[String]) -> Result<Vec<TransferRecord>, StoreError> {
        if references.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger.transfer \
             WHERE reference = ANY($1) AND reference LIKE 'S:%' ORDER BY seq"
        );
        let rows = sqlx::query(&sql)
            .bind(references)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| rows::transfer_from_row(r).map(|(_, record)| record))
            .collect()
    }

    /// The pending transfers among `ids` with whether each is still open.
    pub async fn pendings(&self, ids: &[TransferId]) -> Result<Vec<PendingRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        let rows = sqlx::query(
            "SELECT t.transfer_id, t.debit_account_id, t.credit_account_id, t.amount_vnd, \
               (r.pending_id IS NULL) AS open \
             FROM ledger.transfer t \
             LEFT JOIN ledger.pending_resolution r ON r.pending_id = t.transfer_id \
             WHERE t.transfer_id = ANY($1) AND t.kind = 'pending'",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRow {
                    id: rows::transfer_id(r.try_get("transfer_id")?)?,
                    debit: rows::account_id(r.try_get("debit_account_id")?)?,
                    credit: rows::account_id(r.try_get("credit_account_id")?)?,
                    amount: Money::vnd(r.try_get("amount_vnd")?),
                    open: r.try_get("open")?,
                })
            })
            .collect()
    }

    /// Records settled account-days in one transaction: each row replaces
    /// the account-day's earlier record and operator parts; the account's
    /// due day follows its latest settled day; a recorded failure of the
    /// account-day is cleared.
    pub async fn save(
        &self,
        rows: &[AccountDayWrite],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let mut c = Columns::default();
        for r in rows {
            c.push(r);
        }
        sqlx::query(
            "INSERT INTO settlement.account_day (account_id, service_day, input_digest, \
               event_count, carry, carry_digest, provisional_vnd, settled_vnd, rider_debits_vnd, \
               operator_credits_vnd, penalties_vnd, platform_fees_vnd, pass_sales_vnd, \
               pass_recognitions_vnd, adjustments_vnd, rounds, settled_at) \
             SELECT v.*, $17 FROM UNNEST($1::uuid[], $2::date[], $3::bytea[], $4::int[], \
               $5::jsonb[], $6::bytea[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
               $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], \
               $16::int[]) AS v \
             ON CONFLICT (account_id, service_day) DO UPDATE SET \
               input_digest = EXCLUDED.input_digest, event_count = EXCLUDED.event_count, \
               carry = EXCLUDED.carry, carry_digest = EXCLUDED.carry_digest, \
               provisional_vnd = EXCLUDED.provisional_vnd, settled_vnd = EXCLUDED.settled_vnd, \
               rider_debits_vnd = EXCLUDED.rider_debits_vnd, \
               operator_credits_vnd = EXCLUDED.operator_credits_vnd, \
               penalties_vnd = EXCLUDED.penalties_vnd, platform_fees_vnd = EXCLUDED.platform_fees_vnd, \
               pass_sales_vnd = EXCLUDED.pass_sales_vnd, \
               pass_recognitions_vnd = EXCLUDED.pass_recognitions_vnd, \
               adjustments_vnd = EXCLUDED.adjustments_vnd, rounds = EXCLUDED.rounds, \
               settled_at = EXCLUDED.settled_at",
        )
        .bind(&c.account_id)
        .bind(&c.service_day)
        .bind(&c.input_digest)
        .bind(&c.event_count)
        .bind(&c.carry)
        .bind(&c.carry_digest)
        .bind(&c.provisional)
        .bind(&c.settled)
        .bind(&c.rider_debits)
        .bind(&c.operator_credits)
        .bind(&c.penalties)
        .bind(&c.platform_fees)
        .bind(&c.pass_sales)
        .bind(&c.pass_recognitions)
        .bind(&c.adjustments)
        .bind(&c.rounds)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM settlement.operator_day o USING UNNEST($1::uuid[], $2::date[]) AS v(a, d) \
             WHERE o.account_id = v.a AND o.service_day = v.d",
        )
        .bind(&c.account_id)
        .bind(&c.service_day)
        .execute(&mut *tx)
        .await?;
        let mut p = PartColumns::default();
        for r in rows {
            for part in &r.parts {
                p.push(r, part);
            }
        }
        if !p.account_id.is_empty() {
            sqlx::query(
                "INSERT INTO settlement.operator_day (account_id, service_day, operator_id, legs, \
                   full_fares_vnd, discounts_vnd, cap_reductions_vnd, fares_charged_vnd, \
                   fares_settled_vnd, incomplete_vnd, pass_recognised_vnd, parking_vnd) \
                 SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::text[], $4::int[], \
                   $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], \
                   $10::bigint[], $11::bigint[], $12::bigint[])",
            )
            .bind(&p.account_id)
            .bind(&p.service_day)
            .bind(&p.operator_id)
            .bind(&p.legs)
            .bind(&p.full_fares)
            .bind(&p.discounts)
            .bind(&p.cap_reductions)
            .bind(&p.fares_charged)
            .bind(&p.fares_settled)
            .bind(&p.incomplete)
            .bind(&p.pass_recognised)
            .bind(&p.parking)
            .execute(&mut *tx)
            .await?;
        }
        // The due day follows the account's latest settled day only: a
        // re-settled earlier day does not move it back.
        sqlx::query(
            "DELETE FROM settlement.account_due d USING UNNEST($1::uuid[], $2::date[]) AS v(a, s) \
             WHERE d.account_id = v.a AND d.source_day <= v.s",
        )
        .bind(&c.account_id)
        .bind(&c.service_day)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO settlement.account_due (account_id, source_day, due_day) \
             SELECT a, s, d FROM UNNEST($1::uuid[], $2::date[], $3::date[]) AS v(a, s, d) \
             WHERE d IS NOT NULL \
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(&c.account_id)
        .bind(&c.service_day)
        .bind(&c.due_day)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM settlement.failure f USING UNNEST($1::uuid[], $2::date[]) AS v(a, d) \
             WHERE f.account_id = v.a AND f.service_day = v.d",
        )
        .bind(&c.account_id)
        .bind(&c.service_day)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records why an account-day could not be settled (the latest reason).
    pub async fn record_failure(
        &self,
        account_id: Uuid,
        day: NaiveDate,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(1_024).collect();
        let error = if error.is_empty() {
            "unknown".to_owned()
        } else {
            error
        };
        sqlx::query(
            "INSERT INTO settlement.failure (account_id, service_day, error, failed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, service_day) DO UPDATE SET \
             error = EXCLUDED.error, failed_at = EXCLUDED.failed_at",
        )
        .bind(account_id)
        .bind(day)
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Account-days of `day` that failed and are still unsettled.
    pub async fn failures(&self, day: NaiveDate) -> Result<Vec<(Uuid, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT account_id, error FROM settlement.failure WHERE service_day = $1 \
             ORDER BY account_id LIMIT $2",
        )
        .bind(day)
        .bind(i64::from(MAX_REPORT_ROWS))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("account_id")?, r.try_get("error")?)))
            .collect()
    }

    /// Every operator revenue account: `(operator code, account id)`.
    pub async fn operator_accounts(&self) -> Result<Vec<(String, AccountId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT operator_id, account_id FROM ledger.account \
             WHERE kind = 'operator_revenue' ORDER BY operator_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("operator_id")?,
                    rows::account_id(r.try_get("account_id")?)?,
                ))
            })
            .collect()
    }

    /// The days up to `through` that received events (or gate-accepted
    /// offline taps) ingested at or after `since`, oldest first.
    ///
    /// Read from `transit.day_arrival` (one row per day, kept by the
    /// ingest): asked of the event and tap tables, this read every row
    /// ingested since — all of today's taps, every ten minutes.
    pub async fn late_days(
        &self,
        since: DateTime<Utc>,
        through: NaiveDate,
    ) -> Result<Vec<NaiveDate>, StoreError> {
        let days = sqlx::query_scalar(
            "SELECT service_day FROM transit.day_arrival \
             WHERE last_ingested_at >= $1 AND service_day <= $2 ORDER BY service_day",
        )
        .bind(since)
        .bind(through)
        .fetch_all(&self.pool)
        .await?;
        Ok(days)
    }

    /// When the last complete run of `day` had seen every event ingested
    /// before; `None` if the day was never settled.
    pub async fn seen_through(&self, day: NaiveDate) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at =
            sqlx::query_scalar("SELECT seen_through FROM settlement.day WHERE service_day = $1")
                .bind(day)
                .fetch_optional(&self.pool)
                .await?;
        Ok(at)
    }

    /// The earliest day with any recorded event, if any.
    pub async fn earliest_event_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let day = sqlx::query_scalar("SELECT min(service_day) FROM rider.account_event")
            .fetch_one(&self.pool)
            .await?;
        Ok(day)
    }

    /// The latest `seen_through` of any complete run: events ingested
    /// since may be late for a settled day.
    pub async fn latest_seen_through(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at = sqlx::query_scalar("SELECT max(seen_through) FROM settlement.day")
            .fetch_one(&self.pool)
            .await?;
        Ok(at)
    }

    /// The latest settled day, if any.
    pub async fn latest_settled_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let day = sqlx::query_scalar("SELECT max(service_day) FROM settlement.day")
            .fetch_one(&self.pool)
            .await?;
        Ok(day)
    }

    /// Records a complete run of `day` that saw every event ingested before
    /// `seen_through`.
    pub async fn mark_day(
        &self,
        day: NaiveDate,
        seen_through: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settlement.day (service_day, first_settled_at, last_settled_at, seen_through) \
             VALUES ($1, $2, $2, $3) ON CONFLICT (service_day) DO UPDATE SET \
             last_settled_at = EXCLUDED.last_settled_at, seen_through = EXCLUDED.seen_through",
        )
        .bind(day)
        .bind(now)
        .bind(seen_through)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Each operator's statement totals for `day`, by operator code.
    pub async fn operator_totals(&self, day: NaiveDate) -> Result<Vec<OperatorTotals>, StoreError> {
        let rows = sqlx::query(
            "WITH parts AS ( \
               SELECT operator_id, count(DISTINCT account_id) AS accounts, sum(legs) AS legs, \
                 sum(full_fares_vnd) AS full_fares, sum(discounts_vnd) AS discounts, \
                 sum(cap_reductions_vnd) AS cap_reductions, sum(fares_charged_vnd) AS charged, \
                 sum(fares_settled_vnd) AS settled, sum(incomplete_vnd) AS incomplete, \
                 sum(pass_recognised_vnd) AS recognised, sum(parking_vnd) AS parking \
               FROM settlement.operator_day WHERE service_day = $1 GROUP BY operator_id \
             ), adjustments AS ( \
               SELECT a.operator_id, sum(CASE WHEN t.credit_account_id = a.account_id \
                 THEN t.amount_vnd ELSE -t.amount_vnd END) AS net \
               FROM ledger.transfer t JOIN ledger.account a \
                 ON a.account_id IN (t.debit_account_id, t.credit_account_id) \
               WHERE a.kind = 'operator_revenue' AND t.code = 9 \
                 AND t.reference LIKE 'S:%' AND t.reference LIKE $2 \
               GROUP BY a.operator_id \
             ) \
             SELECT COALESCE(p.operator_id, x.operator_id) AS operator_id, \
               COALESCE(p.accounts, 0)::bigint AS accounts, COALESCE(p.legs, 0)::bigint AS legs, \
               COALESCE(p.full_fares, 0)::bigint AS full_fares, \
               COALESCE(p.discounts, 0)::bigint AS discounts, \
               COALESCE(p.cap_reductions, 0)::bigint AS cap_reductions, \
               COALESCE(p.charged, 0)::bigint AS charged, COALESCE(p.settled, 0)::bigint AS settled, \
               COALESCE(p.incomplete, 0)::bigint AS incomplete, \
               COALESCE(p.recognised, 0)::bigint AS recognised, \
               COALESCE(p.parking, 0)::bigint AS parking, COALESCE(x.net, 0)::bigint AS adjustments \
             FROM parts p FULL JOIN adjustments x ON x.operator_id = p.operator_id \
             ORDER BY 1",
        )
        .bind(day)
        .bind(format!("S:{day}:%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OperatorTotals {
                    operator_id: r.try_get("operator_id")?,
                    accounts: r.try_get("accounts")?,
                    legs: r.try_get("legs")?,
                    full_fares_vnd: r.try_get("full_fares")?,
                    discounts_vnd: r.try_get("discounts")?,
                    cap_reductions_vnd: r.try_get("cap_reductions")?,
                    fares_charged_vnd: r.try_get("charged")?,
                    fares_settled_vnd: r.try_get("settled")?,
                    incomplete_vnd: r.try_get("incomplete")?,
                    pass_recognised_vnd: r.try_get("recognised")?,
                    parking_vnd: r.try_get("parking")?,
                    adjustments_vnd: r.try_get("adjustments")?,
                })
            })
            .collect()
    }

    /// Up to `limit` settled account-days of `day` after `after`, by account.
    pub async fn account_totals(
        &self,
        day: NaiveDate,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AccountDayTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT account_id, event_count, provisional_vnd, settled_vnd, rider_debits_vnd, \
               operator_credits_vnd, penalties_vnd, platform_fees_vnd, pass_sales_vnd, \
               pass_recognitions_vnd, adjustments_vnd, rounds \
             FROM settlement.account_day WHERE service_day = $1 AND account_id > $2 \
             ORDER BY account_id LIMIT $3",
        )
        .bind(day)
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(page_size(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccountDayTotals {
                    account_id: r.try_get("account_id")?,
                    event_count: r.try_get("event_count")?,
                    provisional_vnd: r.try_get("provisional_vnd")?,
                    settled_vnd: r.try_get("settled_vnd")?,
                    rider_debits_vnd: r.try_get("rider_debits_vnd")?,
                    operator_credits_vnd: r.try_get("operator_credits_vnd")?,
                    penalties_vnd: r.try_get("penalties_vnd")?,
                    platform_fees_vnd: r.try_get("platform_fees_vnd")?,
                    pass_sales_vnd: r.try_get("pass_sales_vnd")?,
                    pass_recognitions_vnd: r.try_get("pass_recognitions_vnd")?,
                    adjustments_vnd: r.try_get("adjustments_vnd")?,
                    rounds: r.try_get("rounds")?,
                })
            })
            .collect()
    }

    /// Journal progress of every terminal boot that tapped on `day`: how far
    /// its journal is acknowledged and how many seqs above that are missing.
    pub async fn journal_gaps(&self, day: NaiveDate) -> Result<Vec<JournalGap>, StoreError> {
        let rows = sqlx::query(
            "WITH boots AS ( \
               SELECT terminal_id, boot_epoch, max(seq) AS max_seq \
               FROM transit.tap WHERE service_day = $1 GROUP BY terminal_id, boot_epoch \
             ) \
             SELECT b.terminal_id, b.boot_epoch, COALESCE(p.watermark, 0) AS watermark, \
               GREATEST(b.max_seq, COALESCE(j.max_seq, 0)) AS max_seq_seen, \
               GREATEST(b.max_seq, COALESCE(j.max_seq, 0)) - COALESCE(p.watermark, 0) \
                 - COALESCE(j.above, 0) AS missing \
             FROM boots b \
             LEFT JOIN transit.journal_progress p \
               ON p.terminal_id = b.terminal_id AND p.boot_epoch = b.boot_epoch \
             LEFT JOIN LATERAL ( \
               SELECT max(r.seq) AS max_seq, \
                 count(*) FILTER (WHERE r.seq > COALESCE(p.watermark, 0)) AS above \
               FROM transit.journal_record r \
               WHERE r.terminal_id = b.terminal_id AND r.boot_epoch = b.boot_epoch \
             ) j ON true \
             ORDER BY b.terminal_id, b.boot_epoch LIMIT $2",
        )
        .bind(day)
        .bind(i64::from(MAX_REPORT_ROWS))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JournalGap {
                    terminal_id: r.try_get("terminal_id")?,
                    boot_epoch: r.try_get("boot_epoch")?,
                    watermark: r.try_get("watermark")?,
                    max_seq_seen: r.try_get("max_seq_seen")?,
                    missing: r.try_get("missing")?,
                })
            })
            .collect()
    }

    /// Taps of `day` whose medium resolved to no account, by terminal and
    /// medium kind.
    pub async fn unknown_media(
        &self,
        day: NaiveDate,
    ) -> Result<Vec<UnknownMediumTaps>, StoreError> {
        let rows = sqlx::query(
            "SELECT terminal_id, operator_id, medium_kind, count(*) AS taps, \
               count(*) FILTER (WHERE decision = 'accept') AS accepted \
             FROM transit.tap WHERE service_day = $1 AND account_id IS NULL \
             GROUP BY terminal_id, operator_id, medium_kind \
             ORDER BY terminal_id, medium_kind LIMIT $2",
        )
        .bind(day)
        .bind(i64::from(MAX_REPORT_ROWS))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UnknownMediumTaps {
                    terminal_id: r.try_get("terminal_id")?,
                    operator_id: r.try_get("operator_id")?,
                    medium_kind: r.try_get("medium_kind")?,
                    taps: r.try_get("taps")?,
                    accepted: r.try_get("accepted")?,
                })
            })
            .collect()
    }
}

/// Checks every settled account-day against the ledger: the net wallet
/// outflow of the transfers carrying its reference must equal the rider
/// debits recorded for it. An empty list is a pass.
pub async fn audit_settlement(pool: &PgPool) -> Result<Vec<SettlementFinding>, StoreError> {
    let rows = sqlx::query(
        "WITH flows AS ( \
           SELECT split_part(t.reference, ':', 3)::uuid AS account_id, \
             split_part(t.reference, ':', 2)::date AS service_day, \
             sum(CASE WHEN t.kind IN ('direct', 'post') AND t.debit_account_id = \
                 split_part(t.reference, ':', 3)::uuid THEN t.amount_vnd::numeric ELSE 0 END) \
             - sum(CASE WHEN t.kind IN ('direct', 'post') AND t.credit_account_id = \
                 split_part(t.reference, ':', 3)::uuid THEN t.amount_vnd::numeric ELSE 0 END) AS net \
           FROM ledger.transfer t WHERE t.reference LIKE 'S:%' \
           GROUP BY 1, 2 \
         ) \
         SELECT COALESCE(d.account_id, f.account_id) AS account_id, \
           COALESCE(d.service_day, f.service_day) AS service_day, \
           COALESCE(d.rider_debits_vnd, 0)::text AS recorded, COALESCE(f.net, 0)::text AS ledger \
         FROM settlement.account_day d \
         FULL JOIN flows f ON f.account_id = d.account_id AND f.service_day = d.service_day \
         WHERE COALESCE(d.rider_debits_vnd, 0)::numeric IS DISTINCT FROM COALESCE(f.net, 0) \
         ORDER BY 2, 1 LIMIT $1",
    )
    .bind(i64::from(MAX_REPORT_ROWS))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let int = |column: &str| -> Result<i128, StoreError> {
                let text: String = r.try_get(column)?;
                text.parse()
                    .map_err(|_| StoreError::Corrupt(format!("{column} = {text:?}")))
            };
            Ok(SettlementFinding {
                account_id: r.try_get("account_id")?,
                service_day: r.try_get("service_day")?,
                recorded_vnd: int("recorded")?,
                ledger_vnd: int("ledger")?,
            })
        })
        .collect()
}

/// `settlement.account_day` rows as column arrays for `UNNEST`.
#[derive(Default)]
struct Columns {
    account_id: Vec<Uuid>,
    service_day: Vec<NaiveDate>,
    input_digest: Vec<Vec<u8>>,
    event_count: Vec<i32>,
    carry: Vec<serde_json::Value>,
    carry_digest: Vec<Vec<u8>>,
    provisional: Vec<i64>,
    settled: Vec<i64>,
    rider_debits: Vec<i64>,
    operator_credits: Vec<i64>,
    penalties: Vec<i64>,
    platform_fees: Vec<i64>,
    pass_sales: Vec<i64>,
    pass_recognitions: Vec<i64>,
    adjustments: Vec<i64>,
    rounds: Vec<i32>,
    due_day: Vec<Option<NaiveDate>>,
}

impl Columns {
    fn push(&mut self, r: &AccountDayWrite) {
        self.account_id.push(r.account_id);
        self.service_day.push(r.service_day);
        self.input_digest.push(r.input_digest.clone());
        self.event_count.push(r.event_count);
        self.carry.push(r.carry.clone());
        self.carry_digest.push(r.carry_digest.clone());
        self.provisional.push(r.provisional_vnd);
        self.settled.push(r.settled_vnd);
        self.rider_debits.push(r.rider_debits_vnd);
        self.operator_credits.push(r.operator_credits_vnd);
        self.penalties.push(r.penalties_vnd);
        self.platform_fees.push(r.platform_fees_vnd);
        self.pass_sales.push(r.pass_sales_vnd);
        self.pass_recognitions.push(r.pass_recognitions_vnd);
        self.adjustments.push(r.adjustments_vnd);
        self.rounds.push(r.rounds);
        self.due_day.push(r.due_day);
    }
}

/// `settlement.operator_day` rows as column arrays for `UNNEST`.
#[derive(Default)]
struct PartColumns {
    account_id: Vec<Uuid>,
    service_day: Vec<NaiveDate>,
    operator_id: Vec<String>,
    legs: Vec<i32>,
    full_fares: Vec<i64>,
    discounts: Vec<i64>,
    cap_reductions: Vec<i64>,
    fares_charged: Vec<i64>,
    fares_settled: Vec<i64>,
    incomplete: Vec<i64>,
    pass_recognised: Vec<i64>,
    parking: Vec<i64>,
}

impl PartColumns {
    fn push(&mut self, r: &AccountDayWrite, part: &OperatorPart) {
        self.account_id.push(r.account_id);
        self.service_day.push(r.service_day);
        self.operator_id.push(part.operator_id.clone());
        self.legs.push(part.legs);
        self.full_fares.push(part.full_fares_vnd);
        self.discounts.push(part.discounts_vnd);
        self.cap_reductions.push(part.cap_reductions_vnd);
        self.fares_charged.push(part.fares_charged_vnd);
        self.fares_settled.push(part.fares_settled_vnd);
        self.incomplete.push(part.incomplete_vnd);
        self.pass_recognised.push(part.pass_recognised_vnd);
        self.parking.push(part.parking_vnd);
    }
}

/// The settled days' carries of `accounts`, keyed by account: a helper for
/// callers that index [`SettlementStore::starts`].
#[must_use]
pub fn starts_by_account(rows: Vec<StartRow>) -> BTreeMap<Uuid, StartRow> {
    rows.into_iter().map(|r| (r.account_id, r)).collect()
}
