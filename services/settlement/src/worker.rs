//! The scheduled worker `oneticket serve` runs, and the lock that keeps
//! settlement runs one at a time.
//!
//! Every [`WorkerSettings::check_interval_s`] the worker settles through
//! the latest service day that closed at least
//! [`WorkerSettings::grace_s`] ago (the grace lets late journals arrive),
//! which also picks up late events of earlier days, and writes the
//! outputs of the days it settled when an output directory is set.
//!
//! **One run at a time**, across processes: a run holds a Postgres
//! session advisory lock on a connection taken out of the pool, so a
//! process that dies releases it with its connection. The worker only
//! tries the lock (another process is settling: try again next time);
//! `oneticket settle` waits for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use fares::engine::ServiceCalendar;
use sqlx::{Connection, PgConnection, PgPool};
use store_pg::StoreError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::job::{Scope, SettleError, Settler};
use crate::outputs;
use crate::progress::Log;

/// The advisory lock key of settlement runs ("otsettle" in ASCII).
pub const SETTLEMENT_LOCK_KEY: i64 = 0x6f74_7365_7474_6c65;

/// Default grace after a day's close before it is settled: 6 hours. Bus
/// validators upload their journals when they reach the depot at night;
/// six hours after the 04:00 close covers the morning pull-out and keeps
/// statements same-day.
pub const DEFAULT_GRACE_S: i64 = 6 * 60 * 60;

/// Default time between the worker's checks: 10 minutes, so a day is
/// settled within minutes of its grace ending and late journals are
/// adjusted the same hour, at the cost of one cheap query when idle.
pub const DEFAULT_CHECK_INTERVAL_S: u64 = 10 * 60;

/// A held settlement lock. Dropping it closes its connection, which
/// releases the lock.
pub struct SettlementLock {
    conn: PgConnection,
}

impl SettlementLock {
    /// Waits for the lock.
    ///
    /// # Errors
    /// The database failed.
    pub async fn acquire(pool: &PgPool) -> Result<SettlementLock, StoreError> {
        let mut conn = pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(SETTLEMENT_LOCK_KEY)
            .execute(&mut conn)
            .await?;
        Ok(SettlementLock { conn })
    }

    /// Takes the lock if it is free.
    ///
    /// # Errors
    /// The database failed.
    pub async fn try_acquire(pool: &PgPool) -> Result<Option<SettlementLock>, StoreError> {
        let mut conn = pool.acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(SETTLEMENT_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if got {
            Ok(Some(SettlementLock { conn }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Releases the lock.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(SETTLEMENT_LOCK_KEY)
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

/// The latest service day that closed at least `grace_s` before `now`.
#[must_use]
pub fn latest_closed_day(
    calendar: &ServiceCalendar,
    now: DateTime<Utc>,
    grace_s: i64,
) -> Option<NaiveDate> {
    let settled_by = now.checked_sub_signed(TimeDelta::seconds(grace_s))?;
    // The day holding `settled_by` has not closed `grace_s` ago; the day
    // before it has.
    calendar
        .service_day(settled_by.fixed_offset())
        .plus_days(-1)
        .date()
}

/// How the worker runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Seconds after a day's close before it is settled.
    pub grace_s: i64,
    /// Seconds between checks.
    pub check_interval_s: u64,
    /// Where to write the outputs of settled days, if anywhere.
    pub out_dir: Option<PathBuf>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            grace_s: DEFAULT_GRACE_S,
            check_interval_s: DEFAULT_CHECK_INTERVAL_S,
            out_dir: None,
        }
    }
}

/// The running worker.
pub struct SettleTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl SettleTask {
    /// Starts the worker with `settler` on `pool`.
    #[must_use]
    pub fn start(pool: PgPool, settler: Settler, settings: WorkerSettings) -> SettleTask {
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(run(pool, settler, settings, stopped));
        SettleTask { stop, handle }
    }

    /// Stops the worker: a run in progress is abandoned where it is (a run
    /// is resumable by design) and its lock released with its connection.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

async fn run(
    pool: PgPool,
    settler: Settler,
    settings: WorkerSettings,
    mut stopped: watch::Receiver<bool>,
) {
    let settler = Arc::new(tokio::sync::Mutex::new(settler));
    loop {
        let once = run_once(&pool, &settler, &settings);
        tokio::select! {
            result = once => {
                if let Err(error) = result {
                    tracing::error!(error = %error, "settlement run failed");
                }
            }
            _ = stopped.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(settings.check_interval_s)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// One check: settle through the latest closed day if the lock is free.
async fn run_once(
    pool: &PgPool,
    settler: &tokio::sync::Mutex<Settler>,
    settings: &WorkerSettings,
) -> Result<(), SettleError> {
    let now = Utc::now();
    let mut settler = settler.lock().await;
    let Some(through) = latest_closed_day(settler.engine().calendar(), now, settings.grace_s)
    else {
        return Ok(());
    };
    let Some(lock) = SettlementLock::try_acquire(pool).await? else {
        tracing::debug!("another process is settling");
        return Ok(());
    };
    let result = settler
        .settle_through(through, Scope::Needed, &Log::default(), now)
        .await;
    if let (Ok(reports), Some(dir)) = (&result, &settings.out_dir) {
        for report in reports.iter().filter(|r| r.settled > 0) {
            if let Err(error) = outputs::write_day(&settler, report.day, dir).await {
                tracing::error!(day = %report.day, error = %error, "writing the day's outputs failed");
            }
        }
    }
    lock.release().await;
    result.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fares::engine::Engine;

    #[test]
    fn a_day_is_due_once_closed_plus_grace() {
        let engine = Engine::hcmc().unwrap();
        let check = |now: &str, grace_s: i64, expected: &str| {
            let now = DateTime::parse_from_rfc3339(now).unwrap().to_utc();
            assert_eq!(
                latest_closed_day(engine.calendar(), now, grace_s),
                Some(expected.parse().unwrap()),
                "{now} grace {grace_s}"
            );
        };
        // 2026-03-02 closes at 2026-03-03 04:00 local.
        check("2026-03-03T04:00:00+07:00", 0, "2026-03-02");
        check("2026-03-03T03:59:59+07:00", 0, "2026-03-01");
        check("2026-03-03T09:59:59+07:00", DEFAULT_GRACE_S, "2026-03-01");
        check("2026-03-03T10:00:00+07:00", DEFAULT_GRACE_S, "2026-03-02");
    }
}
