//! The stream ingest as a background task with a graceful stop: the
//! binary spawns it next to the HTTP server and stops it on shutdown; the
//! batch in hand is written and acknowledged before the task ends.

use projection::ingest::{Ingest, IngestSettings};
use projection::{Layout, ProjectionError};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running ingest.
pub struct IngestTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl IngestTask {
    /// Starts the ingest on `redis_url` (a blocking-read connection of its
    /// own) with the shared connection `redis`.
    ///
    /// # Errors
    /// Redis failing at start.
    pub async fn start(
        redis_url: &str,
        redis: store_redis::ConnectionManager,
        pool: PgPool,
        layout: &Layout,
        settings: IngestSettings,
    ) -> Result<IngestTask, ProjectionError> {
        let blocking =
            store_redis::streams::connect_for_blocking(redis_url, settings.block_ms).await?;
        let ingest = Ingest::new(blocking, redis, pool, layout, settings).await?;
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(ingest.run(stopped));
        Ok(IngestTask { stop, handle })
    }

    /// Asks the ingest to stop and waits until its current batch is done.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.handle.await {
            tracing::error!(%error, "the ingest task ended abnormally");
        }
    }
}
