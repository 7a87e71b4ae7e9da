//! The stream ingest as a background worker with a graceful stop: the
//! binary starts it next to the HTTP server and stops it on shutdown; the
//! batch in hand is written and acknowledged before the worker ends.
//!
//! The worker runs on a thread of its own ([`INGEST_THREAD`]) with a
//! single-threaded runtime and its own connections (Redis, and a Postgres
//! pool of [`INGEST_PG_CONNECTIONS`]), so everything it does — parsing the
//! stream reads, decoding entries, encoding a batch's column arrays — runs
//! there. On the server's runtime, a batch of a few hundred entries held a
//! tap worker for milliseconds at a time, and the taps queued behind it made
//! the latency tail (BENCHMARKS.md, "session 6"); on its own thread the
//! kernel interleaves it with the taps instead.

use projection::ingest::{Ingest, IngestSettings};
use projection::{Layout, ProjectionError};
use sqlx::PgPool;
use tokio::sync::{oneshot, watch};

/// The ingest thread's name (as `top -H` and `perf` show it).
pub const INGEST_THREAD: &str = "ot-ingest";
/// Postgres connections of the ingest's own pool: one writes a batch while
/// another may reclaim.
pub const INGEST_PG_CONNECTIONS: u32 = 2;

/// Why the ingest did not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestStartError {
    /// Redis failed while the worker joined the consumer groups.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The worker's runtime or thread could not be made.
    #[error("the ingest's thread could not start")]
    Thread(#[source] std::io::Error),
    /// The worker's thread ended before it said whether it started.
    #[error("the ingest's thread ended while starting")]
    Ended,
}

/// A running ingest.
pub struct IngestTask {
    stop: watch::Sender<bool>,
    stopped: oneshot::Receiver<()>,
}

impl IngestTask {
    /// Starts the ingest on its own thread, with connections to
    /// `redis_url` and to the database of `pool` (its options, not its
    /// connections: `store_pg::sibling_pool`), and waits until it has joined
    /// the consumer groups.
    ///
    /// # Errors
    /// See [`IngestStartError`].
    pub async fn start(
        redis_url: &str,
        pool: &PgPool,
        layout: &Layout,
        settings: IngestSettings,
    ) -> Result<IngestTask, IngestStartError> {
        let redis_url = redis_url.to_owned();
        let main_pool = pool.clone();
        let layout = layout.clone();
        let (stop, stop_seen) = watch::channel(false);
        let (ready_tx, ready) = oneshot::channel::<Result<(), ProjectionError>>();
        let (stopped_tx, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(IngestStartError::Thread)?;
        std::thread::Builder::new()
            .name(INGEST_THREAD.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let started = async {
                        let blocking = store_redis::streams::connect_for_blocking(
                            &redis_url,
                            settings.block_ms,
                        )
                        .await?;
                        let redis = store_redis::connect(&redis_url).await?;
                        // Opened here, so its connections (and its reaper)
                        // belong to this thread's runtime.
                        let pool = store_pg::sibling_pool(&main_pool, INGEST_PG_CONNECTIONS);
                        drop(main_pool);
                        Ingest::new(blocking, redis, pool, &layout, settings).await
                    };
                    match started.await {
                        Ok(ingest) => {
                            let _ = ready_tx.send(Ok(()));
                            ingest.run(stop_seen).await;
                        }
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                        }
                    }
                    let _ = stopped_tx.send(());
                });
            })
            .map_err(IngestStartError::Thread)?;
        match ready.await {
            Ok(Ok(())) => Ok(IngestTask { stop, stopped }),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(IngestStartError::Ended),
        }
    }

    /// Asks the ingest to stop and waits until its current batch is done.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if self.stopped.await.is_err() {
            tracing::error!("the ingest thread ended abnormally");
        }
    }
}

/// Metric: stream entries the ingest has not yet written to Postgres
/// (pending plus not yet delivered, over every shard stream). Published by
/// the terminal API's processes, so it keeps counting while no process runs
/// the ingest (`serve --services settlement` stopped or unreachable).
pub const METRIC_BACKLOG_ENTRIES: &str = "ingest_backlog_entries";
/// How often the backlog is measured, ms (two round trips to Redis).
pub const BACKLOG_INTERVAL_MS: u64 = 5_000;

/// The periodic measure of [`METRIC_BACKLOG_ENTRIES`].
pub struct BacklogGauge {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl BacklogGauge {
    /// Measures now and every [`BACKLOG_INTERVAL_MS`] until stopped; a
    /// failed measure is logged and leaves the last value.
    #[must_use]
    pub fn start(redis: store_redis::ConnectionManager, layout: &Layout) -> BacklogGauge {
        let streams = layout.streams();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut redis = redis;
            let mut tick =
                tokio::time::interval(std::time::Duration::from_millis(BACKLOG_INTERVAL_MS));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                match store_redis::streams::backlog_many(
                    &mut redis,
                    &streams,
                    projection::ingest::INGEST_GROUP,
                )
                .await
                {
                    #[allow(clippy::cast_precision_loss)] // a gauge; exact below 2^53
                    Ok(entries) => metrics::gauge!(METRIC_BACKLOG_ENTRIES).set(entries as f64),
                    Err(error) => tracing::warn!(%error, "measuring the ingest backlog failed"),
                }
            }
        });
        BacklogGauge { stop, task }
    }

    /// Stops measuring.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
