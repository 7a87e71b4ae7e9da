//! The rider API's housekeeping, run beside the server: deletes idempotency
//! records past their retention and sessions long ended, in bounded
//! batches, once per [`MAINTENANCE_INTERVAL_S`]. Stopping waits for the
//! current batch.

use std::time::Duration;

use chrono::Duration as Age;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// How often housekeeping runs, seconds: the tables grow by at most a few
/// rows per request, so hourly keeps them small without ever mattering.
pub const MAINTENANCE_INTERVAL_S: u64 = 3_600;
/// How long an `Idempotency-Key` answer is kept, seconds (7 days): far
/// beyond any client's retry horizon; past it a retry with the same key is
/// still safe, because the projection (8 days) and the ledger (forever)
/// dedupe the money by keys derived from it.
pub const IDEMPOTENCY_RETENTION_S: i64 = 7 * 24 * 3_600;
/// Ended sessions are kept this long for support questions, seconds (30 days).
pub const ENDED_SESSION_RETENTION_S: i64 = 30 * 24 * 3_600;
/// Rows deleted per statement: a short transaction that never holds locks
/// long enough to slow a request.
pub const PURGE_BATCH_ROWS: u32 = 1_000;

/// The running housekeeping task.
#[derive(Debug)]
pub struct Maintenance {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Maintenance {
    /// Starts the task; its first run is one interval from now.
    #[must_use]
    pub fn start(state: AppState) -> Maintenance {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(MAINTENANCE_INTERVAL_S));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => run_once(&state).await,
                    _ = stopped.changed() => break,
                }
            }
        });
        Maintenance { stop, task }
    }

    /// Stops after the current batch.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the rider API housekeeping task failed");
        }
    }
}

/// One housekeeping pass: every batch until a table has nothing left to
/// delete. Errors are logged; the next pass retries.
pub async fn run_once(state: &AppState) {
    let now = state.now();
    let idempotency_before = now - Age::seconds(IDEMPOTENCY_RETENTION_S);
    let sessions_before = now - Age::seconds(ENDED_SESSION_RETENTION_S);
    let mut purged = (0u64, 0u64);
    loop {
        match state
            .idempotency
            .purge(idempotency_before, PURGE_BATCH_ROWS)
            .await
        {
            Ok(n) => {
                purged.0 += n;
                if n < u64::from(PURGE_BATCH_ROWS) {
                    break;
                }
            }
            Err(error) => {
                tracing::error!(%error, "purging idempotency records failed");
                break;
            }
        }
    }
    loop {
        match state
            .logins
            .purge_sessions(sessions_before, PURGE_BATCH_ROWS)
            .await
        {
            Ok(n) => {
                purged.1 += n;
                if n < u64::from(PURGE_BATCH_ROWS) {
                    break;
                }
            }
            Err(error) => {
                tracing::error!(%error, "purging ended sessions failed");
                break;
            }
        }
    }
    tracing::info!(
        idempotency_records = purged.0,
        sessions = purged.1,
        "rider API housekeeping done"
    );
}
