//! The day-close job: settle every account of a service day and record it.
//!
//! A [`Settler`] settles one day ([`Settler::settle_day`]) or every day up
//! to one ([`Settler::settle_through`]: the days never settled, and the
//! days that received late events since the last run, oldest first, so
//! each day starts from the day before it as now settled).
//!
//! One day runs as a stream of pages of accounts (in id order, at most
//! [`Settings::accounts_per_page`]): for each page, one read of the
//! accounts' events, start states and earlier settlement; a pure plan per
//! account ([`crate::plan`]); a reconciliation with what the ledger already
//! holds ([`crate::plan_adjust`], only for account-days settled before or
//! resolving an earlier day's hold); the transfers of many accounts posted
//! through [`Ledger::apply`] in batches of at most `MAX_BATCH_TRANSFERS`, one
//! transaction each (all or nothing; a refused batch is retried account by
//! account so one bad account cannot hold back the others); then one
//! transaction recording the page's account-days. Pages hold other
//! accounts, and the ledger locks the operators' shared revenue accounts
//! only for the moment of the final update, so [`Settings::pages_in_flight`]
//! pages post side by side while the next one is read and planned.
//!
//! **Idempotent.** An account-day whose inputs (start state and events)
//! have the fingerprint recorded for it is skipped; one recorded with
//! another fingerprint is re-planned and reconciled, which posts only the
//! difference (adjustments). A run stopped anywhere (killed, or the
//! [`Settings::stop_after_accounts`] test hook) leaves whole account-days
//! behind: the next run finds the ledger's transfers under their
//! deterministic ids ("exists") and completes the record.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use fares::engine::state::PassIdx;
use fares::engine::{Engine, ServiceDay};
use ledger::{
    Account, AccountId, AccountKind, MAX_BATCH_TRANSFERS, Money, OperatorId, Transfer, TransferBody,
};
use sqlx::PgPool;
use store_pg::settlement::{AccountDayWrite, EventInput, SettledRow, SettlementStore};
use store_pg::{Ledger, StoreError};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::inputs::{self, carry_digest, day_event, input_digest, operator_parts};
use crate::plan::{Carry, Chart, DayEvent, DayPlan, PlanError, account_day_reference, plan_day};
use crate::plan_adjust::{LedgerFacts, PendingFact, Reconciled, reconcile};
use crate::plan_ids::{operator_account_id, penalties_account_id, unearned_account_id};
use crate::progress::Progress;

/// Accounts per page: 500 accounts are a few thousand events and transfers
/// (one or two ledger batches), enough to amortise round trips, while a
/// page's rows stay a few megabytes.
pub const DEFAULT_ACCOUNTS_PER_PAGE: u32 = 500;

/// Pages posting at once: two keep both cores of the reference machine
/// busy (Postgres inserting one page's transfers while this process plans
/// the next and the other page commits). Pages hold other accounts, and
/// the ledger locks the operators' shared accounts only for the moment of
/// the update, so pages post side by side.
pub const DEFAULT_PAGES_IN_FLIGHT: usize = 2;

/// The most pages posting at once: each holds a connection and a page of
/// work in memory.
pub const MAX_PAGES_IN_FLIGHT: usize = 8;

/// How many operator accounts one plan may create before giving up: a day
/// names a handful of operators; more is a broken registry.
pub const MAX_NEW_OPERATORS_PER_PLAN: usize = 16;

/// Events ingested less than this long before a run started may still be
/// in transactions the run cannot see: the next run looks again from this
/// far back (10 minutes, far above an ingest batch's commit time).
pub const INGEST_VISIBILITY_MARGIN_S: i64 = 600;

/// How far back late events re-open settled days: 62 days covers a
/// terminal offline for a month plus the monthly cap's month. Older late
/// events are left to a manual `settle --day`.
pub const MAX_RESETTLE_DAYS: i64 = 62;

/// Why a run stopped. Account-days that cannot be settled are not errors
/// of the run: they are recorded as failures and reported.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A day outside the calendar.
    #[error("service day {0} cannot be settled")]
    Day(NaiveDate),
    /// A chart account could not be created.
    #[error("chart account: {0}")]
    Chart(String),
    /// A background read or write of the run failed to complete.
    #[error("settlement task: {0}")]
    Task(String),
}

/// How a run is bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Accounts per page (1..=`MAX_ACCOUNTS_PER_PAGE`).
    pub accounts_per_page: u32,
    /// Pages posting to the ledger at once (1..=`MAX_PAGES_IN_FLIGHT`).
    pub pages_in_flight: usize,
    /// Test hook: stop a day after at least this many accounts, as a killed
    /// run would.
    pub stop_after_accounts: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            accounts_per_page: DEFAULT_ACCOUNTS_PER_PAGE,
            pages_in_flight: DEFAULT_PAGES_IN_FLIGHT,
            stop_after_accounts: None,
        }
    }
}

/// Which days [`Settler::settle_through`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only the days that need it (the scheduled worker: an idle check
    /// reads nothing).
    Needed,
    /// Those, and the requested day in any case (`oneticket settle --day`).
    IncludingThrough,
}

/// What a run of one day did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DayReport {
    /// The day.
    pub day: NaiveDate,
    /// Accounts looked at.
    pub accounts: u64,
    /// Account-days settled (first time or again).
    pub settled: u64,
    /// Account-days skipped: nothing new since they were settled.
    pub unchanged: u64,
    /// Account-days that could not be settled (see `settlement.failure`).
    pub failed: u64,
    /// Events re-priced.
    pub events: u64,
    /// Transfers posted (new in the ledger).
    pub transfers: u64,
    /// Of which adjustments.
    pub adjustments: u64,
    /// Stopped by the test hook before the end.
    pub stopped_early: bool,
}

impl DayReport {
    /// Adds what one page's posting did.
    fn add(&mut self, page: &DayReport) {
        self.settled += page.settled;
        self.failed += page.failed;
        self.transfers += page.transfers;
        self.adjustments += page.adjustments;
    }
}

/// One account-day on its way to the ledger.
struct Work {
    account: Uuid,
    rows: Vec<EventInput>,
    plan: DayPlan,
    digest: [u8; 32],
    start_hold: Money,
    prior_rounds: Option<i32>,
    prior_adjustments: i64,
    reconciled: Option<Reconciled>,
}

/// Settles days.
pub struct Settler {
    store: SettlementStore,
    ledger: Ledger,
    engine: Arc<Engine>,
    chart: Chart,
    settings: Settings,
}

impl Settler {
    /// A settler on `pool` pricing with `engine`; creates the unearned
    /// revenue, penalties and pass owners' revenue accounts if missing.
    ///
    /// # Errors
    /// The database failed or a chart account conflicts.
    pub async fn new(
        pool: PgPool,
        engine: Arc<Engine>,
        pass_owners: BTreeMap<PassIdx, OperatorId>,
        settings: Settings,
        now: DateTime<Utc>,
    ) -> Result<Settler, SettleError> {
        let ledger = Ledger::new(pool.clone());
        for (id, kind) in [
            (unearned_account_id(), AccountKind::UnearnedPassRevenue),
            (penalties_account_id(), AccountKind::Penalties),
        ] {
            ledger
                .create_account(&Account::new(id, kind), now)
                .await
                .map_err(|e| SettleError::Chart(e.to_string()))?;
        }
        let mut settler = Settler {
            store: SettlementStore::new(pool),
            ledger,
            engine,
            chart: Chart {
                unearned: unearned_account_id(),
                penalties: penalties_account_id(),
                operators: BTreeMap::new(),
                pass_owners: pass_owners.clone(),
            },
            settings,
        };
        settler.load_operators().await?;
        for owner in pass_owners.values() {
            settler.ensure_operator(owner, now).await?;
        }
        Ok(settler)
    }

    /// The store it writes.
    #[must_use]
    pub const fn store(&self) -> &SettlementStore {
        &self.store
    }

    /// The engine it prices with.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The chart it pays into.
    #[must_use]
    pub const fn chart(&self) -> &Chart {
        &self.chart
    }

    async fn load_operators(&mut self) -> Result<(), SettleError> {
        for (code, id) in self.store.operator_accounts().await? {
            if let Ok(operator) = OperatorId::parse(&code) {
                self.chart.operators.insert(operator, id);
            }
        }
        Ok(())
    }

    /// The revenue account of `operator`, created with its deterministic
    /// id on first use (an account another writer created first is used).
    async fn ensure_operator(
        &mut self,
        operator: &OperatorId,
        now: DateTime<Utc>,
    ) -> Result<AccountId, SettleError> {
        if let Some(id) = self.chart.operators.get(operator) {
            return Ok(*id);
        }
        let account = Account::new(
            operator_account_id(operator),
            AccountKind::OperatorRevenue {
                operator_id: operator.clone(),
            },
        );
        match self.ledger.create_account(&account, now).await {
            Ok(_) => {
                self.chart.operators.insert(operator.clone(), account.id);
                Ok(account.id)
            }
            Err(error) => {
                // Created meanwhile under another id: use that one.
                self.load_operators().await?;
                self.chart
                    .operators
                    .get(operator)
                    .copied()
                    .ok_or_else(|| SettleError::Chart(format!("operator {operator}: {error}")))
            }
        }
    }

    /// Plans an account-day, creating operator accounts it names.
    async fn plan(
        &mut self,
        wallet: AccountId,
        day: ServiceDay,
        start: &Carry,
        events: &[DayEvent],
        now: DateTime<Utc>,
    ) -> Result<DayPlan, String> {
        for _ in 0..=MAX_NEW_OPERATORS_PER_PLAN {
            match plan_day(&self.engine, &self.chart, wallet, day, start, events) {
                Err(PlanError::NoOperatorAccount(operator)) => {
                    self.ensure_operator(&operator, now)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                other => return other.map_err(|e| e.to_string()),
            }
        }
        Err(format!(
            "more than {MAX_NEW_OPERATORS_PER_PLAN} new operators in one account-day"
        ))
    }

    /// Settles every day that needs it up to `through`: the days after the
    /// latest settled one (from the earliest event if none is), and any day
    /// with events ingested since the last run (at most
    /// [`MAX_RESETTLE_DAYS`] back), oldest first; with
    /// [`Scope::IncludingThrough`], `through` itself is looked at even when
    /// nothing says it needs it (an operator asked for it).
    ///
    /// # Errors
    /// See [`SettleError`].
    pub async fn settle_through(
        &mut self,
        through: NaiveDate,
        scope: Scope,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<Vec<DayReport>, SettleError> {
        let mut first = match self.store.latest_settled_day().await? {
            Some(latest) => latest.succ_opt().unwrap_or(latest),
            None => self.store.earliest_event_day().await?.unwrap_or(through),
        };
        if scope == Scope::Needed && first > through {
            // Everything through `through` is settled; only late events
            // (below) can reopen a day.
            first = through.succ_opt().unwrap_or(through);
        }
        if let Some(since) = self.store.latest_seen_through().await?
            && let Some(late) = self.store.late_days(since, through).await?.first()
        {
            first = first.min(*late);
        }
        let floor = through - TimeDelta::days(MAX_RESETTLE_DAYS);
        if first < floor {
            tracing::warn!(%first, %floor, "late events older than the re-settlement window are not settled");
            first = floor;
        }
        let mut reports = Vec::new();
        let mut day = match scope {
            Scope::IncludingThrough => first.min(through),
            Scope::Needed => first,
        };
        while day <= through {
            let report = self.settle_day(day, progress, now).await?;
            let stopped = report.stopped_early;
            reports.push(report);
            if stopped {
                break;
            }
            day = day.succ_opt().ok_or(SettleError::Day(day))?;
        }
        Ok(reports)
    }

    /// Settles every account of `day` that needs it.
    ///
    /// # Errors
    /// See [`SettleError`].
    #[tracing::instrument(skip_all, fields(%day))]
    pub async fn settle_day(
        &mut self,
        day: NaiveDate,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<DayReport, SettleError> {
        let seen_through = now - TimeDelta::seconds(INGEST_VISIBILITY_MARGIN_S);
        let mut report = DayReport {
            day,
            ..DayReport::default()
        };
        progress.start(day, self.store.count_candidates(day).await?);
        let limit = self.settings.accounts_per_page;
        let in_flight = self.settings.pages_in_flight.clamp(1, MAX_PAGES_IN_FLIGHT);
        // While pages post to the ledger (and record their account-days),
        // the next is read and planned: pages hold other accounts, so the
        // overlap is safe.
        let mut next = tokio::spawn(read_page(self.store.clone(), day, None, limit));
        let mut posting: VecDeque<JoinHandle<Result<DayReport, SettleError>>> = VecDeque::new();
        let mut stopped = false;
        loop {
            let input = next.await.map_err(joined)??;
            let Some(last) = input.accounts.last().copied() else {
                break;
            };
            let count = u64::try_from(input.accounts.len()).unwrap_or(u64::MAX);
            let stop = self
                .settings
                .stop_after_accounts
                .is_some_and(|n| report.accounts.saturating_add(count) >= n);
            next = if stop {
                tokio::spawn(async { Ok(PageInput::default()) })
            } else {
                tokio::spawn(read_page(self.store.clone(), day, Some(last), limit))
            };
            let work = self.prepare_page(day, input, now, &mut report).await?;
            while posting.len() >= in_flight {
                if let Some(page) = posting.pop_front() {
                    report.add(&page.await.map_err(joined)??);
                }
            }
            let books = self.books();
            posting.push_back(tokio::spawn(async move {
                books.post_page(day, work, now).await
            }));
            report.accounts = report.accounts.saturating_add(count);
            progress.advance(count);
            if stop {
                stopped = true;
                break;
            }
        }
        while let Some(page) = posting.pop_front() {
            report.add(&page.await.map_err(joined)??);
        }
        if stopped {
            report.stopped_early = true;
            progress.finish();
            return Ok(report);
        }
        self.store.mark_day(day, seen_through, now).await?;
        progress.finish();
        tracing::info!(
            %day,
            accounts = report.accounts,
            settled = report.settled,
            unchanged = report.unchanged,
            failed = report.failed,
            transfers = report.transfers,
            adjustments = report.adjustments,
            "settled service day"
        );
        Ok(report)
    }

    /// Plans and reconciles one page; returns the account-days to post.
    async fn prepare_page(
        &mut self,
        day: NaiveDate,
        input: PageInput,
        now: DateTime<Utc>,
        report: &mut DayReport,
    ) -> Result<Vec<Work>, SettleError> {
        let service_day = ServiceDay::from_date(day);
        let started = std::time::Instant::now();
        let PageInput {
            accounts,
            mut events,
            starts,
            settled,
        } = input;
        let mut work = Vec::new();
        for &account in &accounts {
            let rows = events.remove(&account).unwrap_or_default();
            let start: Carry = match starts.get(&account) {
                Some(json) => match serde_json::from_value(json.clone()) {
                    Ok(carry) => carry,
                    Err(e) => {
                        let error = inputs::InputError::Carry(e.to_string()).to_string();
                        self.books().fail(account, day, &error, now, report).await?;
                        continue;
                    }
                },
                None => Carry::default(),
            };
            let refs: Vec<&EventInput> = rows.iter().collect();
            let digest = input_digest(&carry_digest(&start), &refs);
            let prior = settled.get(&account);
            if prior.is_some_and(|p| p.input_digest.as_slice() == digest.as_slice()) {
                report.unchanged += 1;
                continue;
            }
            let Ok(wallet) = AccountId::new(account) else {
                self.books()
                    .fail(account, day, "the account id is reserved", now, report)
                    .await?;
                continue;
            };
            let day_events: Result<Vec<DayEvent>, _> =
                rows.iter().map(|r| day_event(&self.engine, r)).collect();
            let day_events = match day_events {
                Ok(events) => events,
                Err(e) => {
                    self.books()
                        .fail(account, day, &e.to_string(), now, report)
                        .await?;
                    continue;
                }
            };
            let plan = match self
                .plan(wallet, service_day, &start, &day_events, now)
                .await
            {
                Ok(plan) => plan,
                Err(e) => {
                    self.books().fail(account, day, &e, now, report).await?;
                    continue;
                }
            };
            report.events += u64::try_from(rows.len()).unwrap_or(u64::MAX);
            work.push(Work {
                account,
                rows,
                plan,
                digest,
                start_hold: start.state.open_trip.map_or(Money::ZERO, |t| t.hold),
                prior_rounds: prior.map(|p| p.rounds),
                prior_adjustments: prior.map_or(0, |p| p.adjustments_vnd),
                reconciled: None,
            });
        }

        // Facts only for account-days the ledger may already hold, or
        // whose plan resolves a hold of an earlier day.
        let needs_facts: Vec<usize> = work
            .iter()
            .enumerate()
            .filter(|(_, w)| w.prior_rounds.is_some() || resolves_earlier_hold(&w.plan))
            .map(|(i, _)| i)
            .collect();
        let facts = self
            .books()
            .facts(
                needs_facts
                    .iter()
                    .filter_map(|&i| work.get(i))
                    .map(|w| &w.plan),
            )
            .await?;
        for (i, w) in work.iter_mut().enumerate() {
            let empty = LedgerFacts::default();
            let f = if needs_facts.contains(&i) {
                facts.get(&w.account).unwrap_or(&empty)
            } else {
                &empty
            };
            match reconcile(&w.plan, f) {
                Ok(r) => w.reconciled = Some(r),
                Err(e) => {
                    self.store
                        .record_failure(w.account, day, &e.to_string(), now)
                        .await?;
                    report.failed += 1;
                }
            }
        }
        work.retain(|w| w.reconciled.is_some());

        tracing::debug!(
            accounts = accounts.len(),
            plan_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "planned page"
        );
        Ok(work)
    }

    /// The ledger and the settlement records, for a page posting on its
    /// own task.
    fn books(&self) -> Books {
        Books {
            store: self.store.clone(),
            ledger: self.ledger.clone(),
        }
    }
}

/// What a page posts to: the ledger, and the store recording account-days.
#[derive(Clone)]
struct Books {
    store: SettlementStore,
    ledger: Ledger,
}

impl Books {
    /// Posts a planned page and records its account-days; returns what it
    /// did (transfers, adjustments, settled and failed account-days).
    async fn post_page(
        &self,
        day: NaiveDate,
        mut work: Vec<Work>,
        now: DateTime<Utc>,
    ) -> Result<DayReport, SettleError> {
        let started = std::time::Instant::now();
        let mut report = DayReport::default();
        let posted = self.post(day, &mut work, now, &mut report).await?;
        let post_done = started.elapsed();
        let mut writes = Vec::with_capacity(posted.len());
        for w in work.iter().filter(|w| posted.contains(&w.account)) {
            match account_day_write(day, w) {
                Ok(write) => writes.push(write),
                Err(e) => {
                    self.store.record_failure(w.account, day, &e, now).await?;
                    report.failed += 1;
                }
            }
        }
        report.settled += u64::try_from(writes.len()).unwrap_or(u64::MAX);
        self.store.save(&writes, now).await?;
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(
            accounts = work.len(),
            post_ms = ms(post_done),
            save_ms = ms(started.elapsed().saturating_sub(post_done)),
            "posted page"
        );
        Ok(report)
    }

    async fn fail(
        &self,
        account: Uuid,
        day: NaiveDate,
        error: &str,
        now: DateTime<Utc>,
        report: &mut DayReport,
    ) -> Result<(), SettleError> {
        tracing::warn!(%account, %day, error, "account-day not settled");
        self.store.record_failure(account, day, error, now).await?;
        report.failed += 1;
        Ok(())
    }

    /// What the ledger holds for each plan's account-day, by account.
    async fn facts<'p>(
        &self,
        plans: impl Iterator<Item = &'p DayPlan>,
    ) -> Result<BTreeMap<Uuid, LedgerFacts>, SettleError> {
        let plans: Vec<&DayPlan> = plans.collect();
        if plans.is_empty() {
            return Ok(BTreeMap::new());
        }
        let references: Vec<String> = plans
            .iter()
            .map(|p| account_day_reference(p.day, p.account).as_str().to_owned())
            .collect();
        let posted = self.store.posted(&references).await?;
        let mut by_reference: BTreeMap<String, Vec<ledger::TransferRecord>> = BTreeMap::new();
        for record in posted {
            if let Some(reference) = &record.transfer.reference {
                by_reference
                    .entry(reference.as_str().to_owned())
                    .or_default()
                    .push(record);
            }
        }
        let mut pending_ids = BTreeSet::new();
        for plan in &plans {
            pending_ids.extend(plan.transfers.iter().filter_map(pending_named));
        }
        for records in by_reference.values() {
            pending_ids.extend(
                records
                    .iter()
                    .filter(|r| matches!(r.transfer.body, TransferBody::Pending { .. }))
                    .map(ledger::TransferRecord::id),
            );
        }
        let ids: Vec<_> = pending_ids.into_iter().collect();
        let pendings: BTreeMap<_, _> = self
            .store
            .pendings(&ids)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.id,
                    PendingFact {
                        debit: p.debit,
                        credit: p.credit,
                        amount: p.amount,
                        open: p.open,
                    },
                )
            })
            .collect();
        Ok(plans
            .iter()
            .map(|plan| {
                let reference = account_day_reference(plan.day, plan.account);
                let posted = by_reference.remove(reference.as_str()).unwrap_or_default();
                (
                    plan.account.as_uuid(),
                    LedgerFacts {
                        posted,
                        pendings: pendings.clone(),
                    },
                )
            })
            .collect())
    }

    /// Posts the reconciled transfers in batches; returns the accounts
    /// whose account-day is now in the ledger.
    async fn post(
        &self,
        day: NaiveDate,
        work: &mut [Work],
        now: DateTime<Utc>,
        report: &mut DayReport,
    ) -> Result<BTreeSet<Uuid>, SettleError> {
        let mut done = BTreeSet::new();
        let mut start = 0;
        while start < work.len() {
            // Whole account-days up to the ledger's batch limit.
            let mut end = start;
            let mut size = 0usize;
            while let Some(w) = work.get(end) {
                let n = w.reconciled.as_ref().map_or(0, |r| r.transfers.len());
                if end > start && size + n > MAX_BATCH_TRANSFERS {
                    break;
                }
                size += n;
                end += 1;
            }
            let chunk = work.get_mut(start..end).unwrap_or_default();
            let batch: Vec<Transfer> = chunk
                .iter()
                .flat_map(|w| {
                    w.reconciled
                        .iter()
                        .flat_map(|r| r.transfers.iter().cloned())
                })
                .collect();
            if batch.is_empty() {
                done.extend(chunk.iter().map(|w| w.account));
            } else {
                match self.ledger.apply(&batch, now).await {
                    Ok(outcomes) => {
                        count(report, chunk, &outcomes);
                        done.extend(chunk.iter().map(|w| w.account));
                    }
                    Err(error) => {
                        tracing::debug!(%error, accounts = chunk.len(), "batch refused, posting account by account");
                        for w in chunk.iter_mut() {
                            if self.post_one(day, w, now, report).await? {
                                done.insert(w.account);
                            }
                        }
                    }
                }
            }
            start = end;
        }
        Ok(done)
    }

    /// Posts one account-day alone; on refusal, reconciles it against the
    /// ledger (a run that died after posting, inputs changed since) and
    /// tries once more. Returns whether it is in the ledger.
    async fn post_one(
        &self,
        day: NaiveDate,
        w: &mut Work,
        now: DateTime<Utc>,
        report: &mut DayReport,
    ) -> Result<bool, SettleError> {
        let transfers = w
            .reconciled
            .as_ref()
            .map(|r| r.transfers.clone())
            .unwrap_or_default();
        if transfers.is_empty() {
            return Ok(true);
        }
        let first_error = match self.ledger.apply(&transfers, now).await {
            Ok(outcomes) => {
                count(report, std::slice::from_ref(w), &outcomes);
                return Ok(true);
            }
            Err(error) => error,
        };
        let facts = self.facts(std::iter::once(&w.plan)).await?;
        let facts = facts.get(&w.account).cloned().unwrap_or_default();
        let reconciled = match reconcile(&w.plan, &facts) {
            Ok(r) => r,
            Err(e) => {
                self.fail(w.account, day, &e.to_string(), now, report)
                    .await?;
                return Ok(false);
            }
        };
        let result = if reconciled.transfers.is_empty() {
            Ok(Vec::new())
        } else {
            self.ledger.apply(&reconciled.transfers, now).await
        };
        w.reconciled = Some(reconciled);
        match result {
            Ok(outcomes) => {
                count(report, std::slice::from_ref(w), &outcomes);
                Ok(true)
            }
            Err(error) => {
                let message =
                    format!("the ledger refused the account-day: {error} (first: {first_error})");
                self.fail(w.account, day, &message, now, report).await?;
                Ok(false)
            }
        }
    }
}

impl Settler {
    /// The plans of up to `limit` settled account-days of `day` after
    /// `after` (in account order), re-planned read-only from the same
    /// inputs, with their event rows: what the exports list line by line.
    /// Returns the page's last account (`None`: no more pages) and the
    /// plans. An account-day that no longer plans is skipped (it was
    /// settled under another configuration).
    ///
    /// # Errors
    /// The database failed.
    pub async fn settled_plans(
        &self,
        day: NaiveDate,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<(Option<Uuid>, Vec<(Vec<EventInput>, DayPlan)>), SettleError> {
        let accounts: Vec<Uuid> = self
            .store
            .account_totals(day, after, limit)
            .await?
            .into_iter()
            .map(|a| a.account_id)
            .collect();
        let Some(last) = accounts.last().copied() else {
            return Ok((None, Vec::new()));
        };
        let mut events: BTreeMap<Uuid, Vec<EventInput>> = BTreeMap::new();
        for row in self.store.events(day, &accounts).await? {
            events.entry(row.account_id).or_default().push(row);
        }
        let starts: BTreeMap<Uuid, serde_json::Value> = self
            .store
            .starts(day, &accounts)
            .await?
            .into_iter()
            .map(|r| (r.account_id, r.carry))
            .collect();
        let mut plans = Vec::with_capacity(accounts.len());
        for account in accounts {
            let rows = events.remove(&account).unwrap_or_default();
            let start: Carry = match starts.get(&account) {
                Some(json) => match serde_json::from_value(json.clone()) {
                    Ok(carry) => carry,
                    Err(_) => continue,
                },
                None => Carry::default(),
            };
            let Ok(wallet) = AccountId::new(account) else {
                continue;
            };
            let Ok(day_events) = rows
                .iter()
                .map(|r| day_event(&self.engine, r))
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            match plan_day(
                &self.engine,
                &self.chart,
                wallet,
                ServiceDay::from_date(day),
                &start,
                &day_events,
            ) {
                Ok(plan) => plans.push((rows, plan)),
                Err(error) => {
                    tracing::warn!(%account, %day, %error, "settled account-day no longer plans")
                }
            }
        }
        Ok((Some(last), plans))
    }
}

/// One page's inputs.
#[derive(Default)]
struct PageInput {
    accounts: Vec<Uuid>,
    events: BTreeMap<Uuid, Vec<EventInput>>,
    starts: BTreeMap<Uuid, serde_json::Value>,
    settled: BTreeMap<Uuid, SettledRow>,
}

/// Reads the page of accounts after `after`: the accounts, their events,
/// their start carries and their earlier settlement (three queries at once).
async fn read_page(
    store: SettlementStore,
    day: NaiveDate,
    after: Option<Uuid>,
    limit: u32,
) -> Result<PageInput, StoreError> {
    let accounts = store.candidates(day, after, limit).await?;
    if accounts.is_empty() {
        return Ok(PageInput::default());
    }
    let (rows, starts, settled) = tokio::try_join!(
        store.events(day, &accounts),
        store.starts(day, &accounts),
        store.settled(day, &accounts),
    )?;
    let mut events: BTreeMap<Uuid, Vec<EventInput>> = BTreeMap::new();
    for row in rows {
        events.entry(row.account_id).or_default().push(row);
    }
    Ok(PageInput {
        accounts,
        events,
        starts: starts
            .into_iter()
            .map(|r| (r.account_id, r.carry))
            .collect(),
        settled: settled.into_iter().map(|r| (r.account_id, r)).collect(),
    })
}

/// A background task that panicked or was cancelled.
fn joined(error: tokio::task::JoinError) -> SettleError {
    SettleError::Task(error.to_string())
}

/// Adds the transfers the ledger created for `chunk` to the report.
fn count(report: &mut DayReport, chunk: &[Work], outcomes: &[ledger::Outcome]) {
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, ledger::Outcome::Created(_)))
        .count();
    report.transfers += u64::try_from(created).unwrap_or(u64::MAX);
    let adjustments: usize = chunk
        .iter()
        .filter_map(|w| w.reconciled.as_ref())
        .map(|r| r.adjustments.len())
        .sum();
    report.adjustments += u64::try_from(adjustments).unwrap_or(u64::MAX);
}

/// The pending transfer a post or void names.
fn pending_named(t: &Transfer) -> Option<ledger::TransferId> {
    match t.body {
        TransferBody::Post { pending_id, .. } | TransferBody::Void { pending_id } => {
            Some(pending_id)
        }
        TransferBody::Pending { .. } => Some(t.id),
        TransferBody::Direct(_) => None,
    }
}

/// Whether a plan resolves a pending transfer it does not create (a hold
/// carried from an earlier day).
fn resolves_earlier_hold(plan: &DayPlan) -> bool {
    let created: BTreeSet<_> = plan
        .transfers
        .iter()
        .filter(|t| matches!(t.body, TransferBody::Pending { .. }))
        .map(|t| t.id)
        .collect();
    plan.transfers.iter().any(|t| match t.body {
        TransferBody::Post { pending_id, .. } | TransferBody::Void { pending_id } => {
            !created.contains(&pending_id)
        }
        _ => false,
    })
}

/// The day an account must be settled next even without events: the day
/// after, while a trip is open; a pass's last day, while one has price
/// left to recognise.
fn due_day(day: NaiveDate, end: &Carry) -> Option<NaiveDate> {
    let after_trip = end.trip.as_ref().and_then(|_| day.succ_opt());
    let pass_end = end
        .passes
        .iter()
        .filter_map(|p| p.last_day.date())
        .filter(|d| *d > day)
        .min();
    match (after_trip, pass_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn account_day_write(day: NaiveDate, w: &Work) -> Result<AccountDayWrite, String> {
    let plan = &w.plan;
    let refs: Vec<&EventInput> = w.rows.iter().collect();
    let end_hold = plan.end.state.open_trip.map_or(Money::ZERO, |t| t.hold);
    let settled = plan
        .totals
        .rider_debits
        .checked_add(end_hold)
        .and_then(|m| m.checked_sub(w.start_hold))
        .map_err(|e| e.to_string())?;
    let adjustments: i64 = w
        .reconciled
        .iter()
        .flat_map(|r| r.adjustments.iter())
        .map(|a| a.amount.as_vnd())
        .fold(w.prior_adjustments, i64::saturating_add);
    let t = plan.totals;
    Ok(AccountDayWrite {
        account_id: w.account,
        service_day: day,
        input_digest: w.digest.to_vec(),
        event_count: i32::try_from(w.rows.len()).map_err(|e| e.to_string())?,
        carry: serde_json::to_value(&plan.end).map_err(|e| e.to_string())?,
        carry_digest: carry_digest(&plan.end).to_vec(),
        provisional_vnd: inputs::provisional_total(&refs),
        settled_vnd: settled.as_vnd(),
        rider_debits_vnd: t.rider_debits.as_vnd(),
        operator_credits_vnd: t.operator_credits.as_vnd(),
        penalties_vnd: t.penalties.as_vnd(),
        platform_fees_vnd: t.platform_fees.as_vnd(),
        pass_sales_vnd: t.pass_sales.as_vnd(),
        pass_recognitions_vnd: t.pass_recognitions.as_vnd(),
        adjustments_vnd: adjustments,
        rounds: w.prior_rounds.map_or(1, |r| r.saturating_add(1)),
        due_day: due_day(day, &plan.end),
        parts: operator_parts(&plan.lines).map_err(|e| e.to_string())?,
    })
}
