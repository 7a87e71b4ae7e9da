//! `Ledger`: the double-entry ledger in Postgres, the book of record.
//!
//! Every write is one transaction that (1) locks the rows of every limited
//! account it touches (rider wallets) with `SELECT … ORDER BY account_id
//! FOR NO KEY UPDATE` and reads the unlimited ones (operators' revenue,
//! clearing, unearned revenue, penalties) without a lock, (2) loads what
//! the ledger rules need into a snapshot, (3) plans with the pure
//! `ledger::engine` (the same rules the in-memory `Book` applies), and (4)
//! writes the plan: new transfers, resolutions, the open-pending queue and
//! the new account totals — the unlimited accounts locked only now, in id
//! order, and the plan's change carried onto their current totals. Because
//! the totals a limit depends on are computed from rows locked for the
//! whole transaction, a balance limit holds under any concurrency; the
//! shared accounts no rule reads are locked for the moment of the update
//! only, so writers to different wallets run side by side; one global lock
//! order (limited, then unlimited, each by id) means they queue instead of
//! deadlocking. The CHECK constraints of the schema are the backstop.
//!
//! Idempotency: the transfer id is the primary key. A repeat finds the row
//! and returns it; two concurrent first attempts race on the key, the loser
//! retries and then answers as a repeat.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use ledger::engine::{self, LedgerView};
use ledger::{
    Account, AccountCreated, AccountId, AccountState, Amount, BalanceLimit, BatchError,
    ExpireError, MAX_BATCH_TRANSFERS, Outcome, PendingStatus, Transfer, TransferBody, TransferId,
    TransferRecord,
};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::error::{Conflict, Missing, StoreError};
use crate::rows::{self, ACCOUNT_COLUMNS, TRANSFER_COLUMNS, TransferColumns};

/// How many times a write transaction is tried before the caller gets
/// `Busy`. Retries only follow serialization failures, deadlocks and races
/// on a new id; three covers every race we can construct (the loser of a
/// race sees the winner's row on its second try).
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 3;

/// The most transfers one page returns: enough for a statement screen, small
/// enough to bound one response's memory.
pub const MAX_PAGE_TRANSFERS: u32 = 1_000;

/// The most pending transfers one `expire_due` call expires: bounds one
/// transaction's lock set and duration; the expiry job loops until done.
pub const MAX_EXPIRE_BATCH: u32 = 1_000;

/// A position in the transfer log: transfers are numbered in the order they
/// were accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(i64);

impl Cursor {
    /// The cursor for log position `seq` (from a previous page).
    #[must_use]
    pub const fn from_seq(seq: i64) -> Cursor {
        Cursor(seq)
    }

    /// The log position.
    #[must_use]
    pub const fn seq(self) -> i64 {
        self.0
    }
}

/// Which page of the log to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    after: Option<Cursor>,
    limit: u32,
}

/// A page size outside `1..=MAX_PAGE_TRANSFERS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a page holds 1 to {max} transfers, got {0}", max = MAX_PAGE_TRANSFERS)]
pub struct InvalidPageSize(pub u32);

impl PageRequest {
    /// Up to `limit` transfers after `after` (from the start if `None`).
    pub const fn new(after: Option<Cursor>, limit: u32) -> Result<PageRequest, InvalidPageSize> {
        if limit == 0 || limit > MAX_PAGE_TRANSFERS {
            Err(InvalidPageSize(limit))
        } else {
            Ok(PageRequest { after, limit })
        }
    }
}

/// One page of the transfer log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The transfers, in log order.
    pub transfers: Vec<TransferRecord>,
    /// Where the next page starts, if this one was full.
    pub next: Option<Cursor>,
}

/// The ledger in Postgres.
#[derive(Clone, Debug)]
pub struct Ledger {
    pool: PgPool,
}

/// The state one transaction loaded, as the engine's view.
#[derive(Default)]
struct Snapshot {
    accounts: HashMap<AccountId, AccountState>,
    transfers: HashMap<TransferId, TransferRecord>,
    statuses: HashMap<TransferId, PendingStatus>,
}

impl LedgerView for Snapshot {
    fn account(&self, id: AccountId) -> Option<AccountState> {
        self.accounts.get(&id).cloned()
    }

    fn transfer(&self, id: TransferId) -> Option<TransferRecord> {
        self.transfers.get(&id).cloned()
    }

    fn pending_status(&self, id: TransferId) -> Option<PendingStatus> {
        self.statuses.get(&id).copied()
    }
}

/// How one attempt of a write failed.
enum AttemptError {
    /// Run the transaction again.
    Retry,
    /// Give up with this error.
    Fail(StoreError),
}

impl From<sqlx::Error> for AttemptError {
    fn from(error: sqlx::Error) -> Self {
        if StoreError::is_retryable(&error) {
            AttemptError::Retry
        } else {
            AttemptError::Fail(error.into())
        }
    }
}

impl From<StoreError> for AttemptError {
    fn from(error: StoreError) -> Self {
        AttemptError::Fail(error)
    }
}

/// What to do with a pending transfer that cannot expire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unexpirable {
    /// Leave it (the sweep: it was resolved or is not due).
    Skip,
    /// Report the error (an explicit expiry of one transfer).
    Fail,
}

/// Runs `attempt` up to `MAX_TRANSACTION_ATTEMPTS` times.
macro_rules! with_retries {
    ($attempt:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            match $attempt.await {
                Ok(value) => break Ok(value),
                Err(AttemptError::Fail(error)) => break Err(error),
                Err(AttemptError::Retry) if tries < MAX_TRANSACTION_ATTEMPTS => continue,
                Err(AttemptError::Retry) => break Err(StoreError::Busy),
            }
        }
    }};
}

fn uuids<I: IntoIterator<Item = Uuid>>(ids: I) -> Vec<Uuid> {
    ids.into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl Ledger {
    /// A ledger on `pool` (migrated with `MIGRATOR`).
    #[must_use]
    pub const fn new(pool: PgPool) -> Ledger {
        Ledger { pool }
    }

    /// The pool, for callers that share it.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates an account with zero totals at `now`. The same account again
    /// is `Exists`; a different one under the same id is a `Conflict`.
    #[tracing::instrument(skip_all, fields(account_id = %account.id))]
    pub async fn create_account(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<AccountCreated, StoreError> {
        account.validate()?;
        let (kind, operator_id, provider_id) = rows::kind_columns(&account.kind);
        let (limit_kind, overdraft_limit_vnd) = rows::limit_columns(account.limit);
        let inserted = sqlx::query(
            "INSERT INTO ledger.account (account_id, currency, kind, operator_id, provider_id, \
             limit_kind, overdraft_limit_vnd, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account.id.as_uuid())
        .bind(rows::currency_code(account.currency))
        .bind(kind)
        .bind(operator_id)
        .bind(provider_id)
        .bind(limit_kind)
        .bind(overdraft_limit_vnd)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(AccountCreated::Created);
        }
        let existing = self.account(account.id).await?;
        if existing.account == *account {
            Ok(AccountCreated::Exists)
        } else {
            Err(StoreError::Conflict(Conflict::AccountId(account.id)))
        }
    }

    /// Applies a batch at ledger time `now`, all or nothing, in one
    /// transaction. Returns one outcome per transfer; a repeat of an
    /// accepted transfer returns its first record.
    #[tracing::instrument(skip_all, fields(transfers = batch.len()))]
    pub async fn apply(
        &self,
        batch: &[Transfer],
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, StoreError> {
        if batch.is_empty() {
            return Err(BatchError::Empty.into());
        }
        if batch.len() > MAX_BATCH_TRANSFERS {
            return Err(BatchError::TooLarge { len: batch.len() }.into());
        }
        // Postgres keeps microseconds: round now so that a first answer and
        // a repeat read back from the table are equal.
        let now = now.trunc_subsecs(6);
        with_retries!(self.try_apply(batch, now))
    }

    async fn try_apply(
        &self,
        batch: &[Transfer],
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, AttemptError> {
        let mut tx = self.pool.begin().await?;
        let pending_ids = uuids(
            batch
                .iter()
                .filter_map(|t| t.pending_id())
                .map(TransferId::as_uuid),
        );
        // Transfers never change, so reading the pending transfers before
        // taking locks is safe; it tells which accounts to lock.
        let pendings = load_transfers(&mut tx, &pending_ids).await?;
        let mut account_ids = BTreeSet::new();
        for t in batch {
            if let TransferBody::Direct(m) | TransferBody::Pending { movement: m, .. } = &t.body {
                account_ids.insert(m.debit_account_id.as_uuid());
                account_ids.insert(m.credit_account_id.as_uuid());
            }
        }
        for record in pendings.values() {
            account_ids.insert(record.debit_account_id.as_uuid());
            account_ids.insert(record.credit_account_id.as_uuid());
        }
        let mut snapshot = Snapshot {
            accounts: lock_accounts(&mut tx, &account_ids.iter().copied().collect::<Vec<_>>())
                .await?,
            ..Snapshot::default()
        };
        // Read after the locks: these reads see every transaction that
        // committed before we got them.
        let batch_ids = uuids(
            batch
                .iter()
                .map(|t| t.id.as_uuid())
                .chain(pending_ids.iter().copied()),
        );
        snapshot.transfers = load_transfers(&mut tx, &batch_ids).await?;
        for id in &pending_ids {
            let id = rows::transfer_id(*id)?;
            if snapshot.transfers.contains_key(&id) && !pendings.contains_key(&id) {
                // A pending transfer committed between our two reads: its
                // accounts are not locked, so start again.
                return Err(AttemptError::Retry);
            }
        }
        snapshot.statuses = load_statuses(&mut tx, &snapshot.transfers).await?;
        let plan = engine::plan_batch(&snapshot, batch, now).map_err(StoreError::from)?;

        let mut columns = TransferColumns::default();
        let mut opened = Vec::new();
        for record in plan.created() {
            let held = match record.transfer.pending_id() {
                Some(pending_id) => Some(pending_amount(&snapshot, &plan, pending_id)?),
                None => None,
            };
            columns.push(record, held);
            if let (TransferBody::Pending { .. }, Some(expires_at)) =
                (&record.transfer.body, record.expires_at)
            {
                opened.push((record.id(), expires_at));
            }
        }
        insert_transfers(&mut tx, &columns).await?;
        let resolved: Vec<(TransferId, PendingStatus)> = plan.resolutions.clone();
        insert_resolutions(&mut tx, &resolved, now).await?;
        let resolved_ids: BTreeSet<TransferId> = resolved.iter().map(|(id, _)| *id).collect();
        opened.retain(|(id, _)| !resolved_ids.contains(id));
        insert_open(&mut tx, &opened).await?;
        delete_open(&mut tx, &resolved_ids).await?;
        write_balances(
            &mut tx,
            &snapshot.accounts,
            plan.balances.iter().map(|(id, b)| (*id, *b)),
        )
        .await?;
        tx.commit().await?;
        Ok(plan.outcomes)
    }

    /// Expires one pending transfer whose timeout has passed at `now`.
    #[tracing::instrument(skip_all, fields(pending_id = %pending_id))]
    pub async fn expire(
        &self,
        pending_id: TransferId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = now.trunc_subsecs(6);
        with_retries!(self.try_expire(&[pending_id.as_uuid()], now, Unexpirable::Fail)).map(|_| ())
    }

    /// Expires up to `MAX_EXPIRE_BATCH` pending transfers due at `now`,
    /// earliest first, in one transaction; returns their ids. Call it again
    /// while it returns a full batch.
    #[tracing::instrument(skip_all)]
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<Vec<TransferId>, StoreError> {
        let now = now.trunc_subsecs(6);
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT pending_id FROM ledger.pending_open WHERE expires_at <= $1 \
             ORDER BY expires_at, pending_id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(MAX_EXPIRE_BATCH))
        .fetch_all(&self.pool)
        .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        with_retries!(self.try_expire(&due, now, Unexpirable::Skip))
    }

    async fn try_expire(
        &self,
        ids: &[Uuid],
        now: DateTime<Utc>,
        unexpirable: Unexpirable,
    ) -> Result<Vec<TransferId>, AttemptError> {
        let mut tx = self.pool.begin().await?;
        let transfers = load_transfers(&mut tx, ids).await?;
        let account_ids: Vec<Uuid> = uuids(
            transfers
                .values()
                .flat_map(|r| [r.debit_account_id.as_uuid(), r.credit_account_id.as_uuid()]),
        );
        let mut snapshot = Snapshot {
            accounts: lock_accounts(&mut tx, &account_ids).await?,
            statuses: load_statuses(&mut tx, &transfers).await?,
            transfers,
        };
        // The totals as read, which `write_balances` rebases from.
        let read = snapshot.accounts.clone();
        let mut expired = Vec::new();
        let mut changed = BTreeSet::new();
        for id in ids {
            let id = rows::transfer_id(*id)?;
            match engine::plan_expiry(&snapshot, id, now) {
                Ok(plan) => {
                    for (account_id, balances) in plan.balances {
                        if let Some(state) = snapshot.accounts.get_mut(&account_id) {
                            state.balances = balances;
                        }
                        changed.insert(account_id);
                    }
                    snapshot.statuses.insert(id, plan.status);
                    expired.push((id, plan.status));
                }
                Err(ExpireError::AlreadyResolved { .. } | ExpireError::NotYetDue { .. })
                    if unexpirable == Unexpirable::Skip => {}
                Err(error) => return Err(StoreError::from(error).into()),
            }
        }
        insert_resolutions(&mut tx, &expired, now).await?;
        let expired_ids: BTreeSet<TransferId> = expired.iter().map(|(id, _)| *id).collect();
        delete_open(&mut tx, &expired_ids).await?;
        write_balances(
            &mut tx,
            &read,
            changed
                .iter()
                .filter_map(|id| snapshot.accounts.get(id).map(|s| (*id, s.balances))),
        )
        .await?;
        tx.commit().await?;
        Ok(expired_ids.into_iter().collect())
    }

    /// An account and its totals.
    pub async fn account(&self, id: AccountId) -> Result<AccountState, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM ledger.account WHERE account_id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound(Missing::Account(id)))?;
        rows::account_from_row(&row)
    }

    /// One transfer.
    pub async fn transfer(&self, id: TransferId) -> Result<TransferRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_transfers(&mut conn, &[id.as_uuid()])
            .await?
            .remove(&id)
            .ok_or(StoreError::NotFound(Missing::Transfer(id)))
    }

    /// A pending transfer's status.
    pub async fn pending_status(&self, id: TransferId) -> Result<PendingStatus, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let transfers = load_transfers(&mut conn, &[id.as_uuid()]).await?;
        if !transfers.contains_key(&id) {
            return Err(StoreError::NotFound(Missing::Transfer(id)));
        }
        load_statuses(&mut conn, &transfers)
            .await?
            .remove(&id)
            .ok_or(StoreError::NotFound(Missing::Transfer(id)))
    }

    /// A page of the whole transfer log.
    pub async fn transfers(&self, page: PageRequest) -> Result<Page, StoreError> {
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger.transfer WHERE seq > $1 ORDER BY seq LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(page.after.map_or(0, Cursor::seq))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        page_of(&rows, page.limit)
    }

    /// A page of the transfers that debit or credit one account.
    pub async fn account_transfers(
        &self,
        account_id: AccountId,
        page: PageRequest,
    ) -> Result<Page, StoreError> {
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ( \
               (SELECT * FROM ledger.transfer WHERE debit_account_id = $1 AND seq > $2 \
                ORDER BY seq LIMIT $3) \
               UNION ALL \
               (SELECT * FROM ledger.transfer WHERE credit_account_id = $1 AND seq > $2 \
                ORDER BY seq LIMIT $3) \
             ) t ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.as_uuid())
            .bind(page.after.map_or(0, Cursor::seq))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        page_of(&rows, page.limit)
    }
}

fn page_of(rows: &[sqlx::postgres::PgRow], limit: u32) -> Result<Page, StoreError> {
    let mut transfers = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows {
        let (seq, record) = rows::transfer_from_row(row)?;
        last = Some(seq);
        transfers.push(record);
    }
    let full = u32::try_from(transfers.len()).is_ok_and(|n| n == limit);
    Ok(Page {
        transfers,
        next: if full { last.map(Cursor) } else { None },
    })
}

/// What the pending transfer `pending_id` held, from the snapshot or from a
/// pending transfer created earlier in the same batch.
fn pending_amount(
    snapshot: &Snapshot,
    plan: &ledger::BatchPlan,
    pending_id: TransferId,
) -> Result<Amount, StoreError> {
    snapshot
        .transfers
        .get(&pending_id)
        .or_else(|| plan.created().find(|r| r.id() == pending_id))
        .map(|r| r.amount)
        .ok_or_else(|| StoreError::Corrupt(format!("pending transfer {pending_id} vanished")))
}

/// Reads the accounts a write touches. Those with a balance limit (rider
/// wallets) are locked now, in id order, so the plan's limit checks hold
/// until commit. The unlimited ones (operators' revenue, provider
/// clearing, unearned revenue, penalties: shared by every writer, and no
/// rule reads their totals) are only read: concurrent writers do not queue
/// behind each other on them for a whole transaction; `write_balances`
/// locks them just before commit and rebases the plan onto their totals
/// then. Locks are `FOR NO KEY UPDATE` — what the totals' UPDATE takes —
/// so they do not wait for the key-share locks that foreign keys to an
/// account (a rider's, a settled account-day's) take on its row. Every
/// writer locks limited accounts first and unlimited ones last, each in id
/// order: one global order, no deadlock.
async fn lock_accounts(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<AccountId, AccountState>, sqlx::Error> {
    let sql = format!(
        "WITH locked AS (SELECT {ACCOUNT_COLUMNS} FROM ledger.account \
           WHERE account_id = ANY($1) AND limit_kind <> 'none' \
           ORDER BY account_id FOR NO KEY UPDATE) \
         SELECT * FROM locked \
         UNION ALL \
         SELECT {ACCOUNT_COLUMNS} FROM ledger.account \
           WHERE account_id = ANY($1) AND limit_kind = 'none'"
    );
    let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *conn).await?;
    let mut accounts = HashMap::with_capacity(rows.len());
    for row in &rows {
        let state = rows::account_from_row(row).map_err(decode_error)?;
        accounts.insert(state.account.id, state);
    }
    Ok(accounts)
}

async fn load_transfers(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<TransferId, TransferRecord>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM ledger.transfer WHERE transfer_id = ANY($1)");
    let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *conn).await?;
    let mut transfers = HashMap::with_capacity(rows.len());
    for row in &rows {
        let (_, record) = rows::transfer_from_row(row).map_err(decode_error)?;
        transfers.insert(record.id(), record);
    }
    Ok(transfers)
}

/// The status of every pending transfer among `transfers`.
async fn load_statuses(
    conn: &mut PgConnection,
    transfers: &HashMap<TransferId, TransferRecord>,
) -> Result<HashMap<TransferId, PendingStatus>, sqlx::Error> {
    let mut statuses = HashMap::new();
    for record in transfers.values() {
        if let (TransferBody::Pending { .. }, Some(expires_at)) =
            (&record.transfer.body, record.expires_at)
        {
            statuses.insert(record.id(), PendingStatus::Open { expires_at });
        }
    }
    if statuses.is_empty() {
        return Ok(statuses);
    }
    let ids: Vec<Uuid> = statuses.keys().map(|id| id.as_uuid()).collect();
    let rows = sqlx::query(
        "SELECT r.pending_id, r.resolution, r.resolving_transfer_id, r.resolved_at, t.amount_vnd \
         FROM ledger.pending_resolution r \
         LEFT JOIN ledger.transfer t ON t.transfer_id = r.resolving_transfer_id \
         WHERE r.pending_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let (id, status) = status_from_row(row).map_err(decode_error)?;
        statuses.insert(id, status);
    }
    Ok(statuses)
}

fn status_from_row(row: &sqlx::postgres::PgRow) -> Result<(TransferId, PendingStatus), StoreError> {
    let id = rows::transfer_id(row.try_get("pending_id")?)?;
    let resolution: String = row.try_get("resolution")?;
    let by: Option<Uuid> = row.try_get("resolving_transfer_id")?;
    let amount: Option<i64> = row.try_get("amount_vnd")?;
    let by = || {
        by.ok_or_else(|| StoreError::Corrupt(format!("resolution of {id} names no transfer")))
            .and_then(rows::transfer_id)
    };
    let status = match resolution.as_str() {
        "posted" => PendingStatus::Posted {
            by: by()?,
            amount: rows::amount(amount.unwrap_or_default())?,
        },
        "voided" => PendingStatus::Voided { by: by()? },
        "expired" => PendingStatus::Expired {
            at: row.try_get("resolved_at")?,
        },
        other => return Err(StoreError::Corrupt(format!("resolution {other:?}"))),
    };
    Ok((id, status))
}

/// Rows that do not decode travel as `sqlx::Error::Decode` inside a
/// transaction and come out as `StoreError::Corrupt` via `From`.
fn decode_error(error: StoreError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}

async fn insert_transfers(conn: &mut PgConnection, c: &TransferColumns) -> Result<(), sqlx::Error> {
    if c.transfer_id.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO ledger.transfer (transfer_id, kind, code, reference, debit_account_id, \
           credit_account_id, currency, amount_vnd, overdraft, timeout_s, expires_at, pending_id, \
           pending_kind, pending_amount_vnd, post_requested_vnd, accepted_at) \
         SELECT transfer_id, kind, code, reference, debit_account_id, credit_account_id, currency, \
           amount_vnd, overdraft, timeout_s, expires_at, pending_id, pending_kind, \
           pending_amount_vnd, post_requested_vnd, accepted_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::smallint[], $4::text[], $5::uuid[], $6::uuid[], \
           $7::smallint[], $8::bigint[], $9::text[], $10::integer[], $11::timestamptz[], \
           $12::uuid[], $13::text[], $14::bigint[], $15::bigint[], $16::timestamptz[]) \
           WITH ORDINALITY AS v(transfer_id, kind, code, reference, debit_account_id, \
           credit_account_id, currency, amount_vnd, overdraft, timeout_s, expires_at, pending_id, \
           pending_kind, pending_amount_vnd, post_requested_vnd, accepted_at, ord) \
         ORDER BY ord",
    )
    .bind(&c.transfer_id)
    .bind(&c.kind)
    .bind(&c.code)
    .bind(&c.reference)
    .bind(&c.debit_account_id)
    .bind(&c.credit_account_id)
    .bind(&c.currency)
    .bind(&c.amount_vnd)
    .bind(&c.overdraft)
    .bind(&c.timeout_s)
    .bind(&c.expires_at)
    .bind(&c.pending_id)
    .bind(&c.pending_kind)
    .bind(&c.pending_amount_vnd)
    .bind(&c.post_requested_vnd)
    .bind(&c.accepted_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_resolutions(
    conn: &mut PgConnection,
    resolutions: &[(TransferId, PendingStatus)],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if resolutions.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(resolutions.len());
    let mut kinds = Vec::with_capacity(resolutions.len());
    let mut by = Vec::with_capacity(resolutions.len());
    for (id, status) in resolutions {
        let (kind, resolver) = match status {
            PendingStatus::Posted { by, .. } => ("posted", Some(by.as_uuid())),
            PendingStatus::Voided { by } => ("voided", Some(by.as_uuid())),
            PendingStatus::Expired { .. } => ("expired", None),
            PendingStatus::Open { .. } => continue,
        };
        ids.push(id.as_uuid());
        kinds.push(kind);
        by.push(resolver);
    }
    sqlx::query(
        "INSERT INTO ledger.pending_resolution (pending_id, resolution, resolving_transfer_id, \
           resolved_at) \
         SELECT pending_id, resolution, resolving_transfer_id, $4 \
         FROM UNNEST($1::uuid[], $2::text[], $3::uuid[]) AS v(pending_id, resolution, \
           resolving_transfer_id)",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_open(
    conn: &mut PgConnection,
    opened: &[(TransferId, DateTime<Utc>)],
) -> Result<(), sqlx::Error> {
    if opened.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = opened.iter().map(|(id, _)| id.as_uuid()).collect();
    let expiries: Vec<DateTime<Utc>> = opened.iter().map(|(_, at)| *at).collect();
    sqlx::query(
        "INSERT INTO ledger.pending_open (pending_id, expires_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[])",
    )
    .bind(&ids)
    .bind(&expiries)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn delete_open(
    conn: &mut PgConnection,
    ids: &BTreeSet<TransferId>,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    sqlx::query("DELETE FROM ledger.pending_open WHERE pending_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes the new totals of the accounts a plan changed. `read` holds the
/// accounts as `lock_accounts` read them: the limited ones are locked and
/// their planned totals written as they are; the unlimited ones are locked
/// now, in id order, and the plan's change is carried onto their current
/// totals (`Balances::rebased`).
async fn write_balances(
    conn: &mut PgConnection,
    read: &HashMap<AccountId, AccountState>,
    planned: impl Iterator<Item = (AccountId, ledger::Balances)>,
) -> Result<(), AttemptError> {
    let mut totals: Vec<(AccountId, ledger::Balances)> = Vec::new();
    let mut unlimited: BTreeMap<Uuid, (AccountId, ledger::Balances, ledger::Balances)> =
        BTreeMap::new();
    for (id, balances) in planned {
        match read.get(&id) {
            Some(state) if state.account.limit == BalanceLimit::None => {
                unlimited.insert(id.as_uuid(), (id, state.balances, balances));
            }
            _ => totals.push((id, balances)),
        }
    }
    if !unlimited.is_empty() {
        let ids: Vec<Uuid> = unlimited.keys().copied().collect();
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM ledger.account WHERE account_id = ANY($1) \
             ORDER BY account_id FOR NO KEY UPDATE"
        );
        let rows = sqlx::query(&sql).bind(&ids).fetch_all(&mut *conn).await?;
        for row in &rows {
            let now = rows::account_from_row(row)?;
            if let Some((id, from, planned)) = unlimited.remove(&now.account.id.as_uuid()) {
                let rebased = planned.rebased(&from, &now.balances).map_err(|_| {
                    StoreError::Corrupt(format!("the totals of account {id} overflow"))
                })?;
                totals.push((id, rebased));
            }
        }
        if let Some((id, ..)) = unlimited.values().next() {
            return Err(StoreError::Corrupt(format!("account {id} vanished")).into());
        }
    }
    let (mut ids, mut dpe, mut dpo, mut cpe, mut cpo) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, b) in totals {
        ids.push(id.as_uuid());
        dpe.push(b.debits_pending.as_vnd());
        dpo.push(b.debits_posted.as_vnd());
        cpe.push(b.credits_pending.as_vnd());
        cpo.push(b.credits_posted.as_vnd());
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE ledger.account a SET debits_pending_vnd = v.dpe, debits_posted_vnd = v.dpo, \
           credits_pending_vnd = v.cpe, credits_posted_vnd = v.cpo \
         FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
           AS v(account_id, dpe, dpo, cpe, cpo) \
         WHERE a.account_id = v.account_id",
    )
    .bind(&ids)
    .bind(&dpe)
    .bind(&dpo)
    .bind(&cpe)
    .bind(&cpo)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
