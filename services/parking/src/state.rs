//! The service's state: the terminal side it shares with fare-validation
//! (terminal authentication, media, deny list, the projection, the clock),
//! the lot table, the stores, the open-data cache and the rate limiter.

use std::sync::Arc;

use fare_validation::{AppState, Clock};
use projection::Projection;
use sqlx::PgPool;
use store_pg::parking::ParkingStore;
use store_redis::ConnectionManager;

use crate::opendata::{FeedCache, FeedSettings};
use crate::ratelimit::RateLimiter;
use crate::sites::Lots;

/// What the service is built from.
pub struct Config {
    /// fare-validation's state: the gates authenticate, resolve media and
    /// price exactly as validators do.
    pub terminals: AppState,
    /// The Postgres pool.
    pub pool: PgPool,
    /// The shared Redis connection (lot counters).
    pub redis: ConnectionManager,
    /// The lots.
    pub lots: Lots,
    /// The open-data feed's settings.
    pub feed: FeedSettings,
}

pub(crate) struct Inner {
    pub(crate) terminals: AppState,
    pub(crate) pool: PgPool,
    pub(crate) redis: ConnectionManager,
    pub(crate) lots: Lots,
    pub(crate) store: ParkingStore,
    pub(crate) feed: FeedSettings,
    pub(crate) feed_cache: FeedCache,
    pub(crate) limiter: RateLimiter,
}

/// The parking service's state; cheap to clone.
#[derive(Clone)]
pub struct ParkingState {
    pub(crate) inner: Arc<Inner>,
}

impl ParkingState {
    /// The state for `config`.
    #[must_use]
    pub fn new(config: Config) -> ParkingState {
        ParkingState {
            inner: Arc::new(Inner {
                store: ParkingStore::new(config.pool.clone()),
                limiter: RateLimiter::new(config.feed.rate_per_minute, config.feed.burst),
                feed_cache: FeedCache::default(),
                terminals: config.terminals,
                pool: config.pool,
                redis: config.redis,
                lots: config.lots,
                feed: config.feed,
            }),
        }
    }

    /// The clock (fare-validation's: one clock for every terminal reply).
    #[must_use]
    pub fn clock(&self) -> &Clock {
        self.inner.terminals.clock()
    }

    /// The projection.
    #[must_use]
    pub fn projection(&self) -> &Projection {
        self.inner.terminals.projection()
    }

    /// The parking store.
    #[must_use]
    pub fn store(&self) -> &ParkingStore {
        &self.inner.store
    }

    /// The lots.
    #[must_use]
    pub fn lots(&self) -> &Lots {
        &self.inner.lots
    }

    /// fare-validation's state.
    #[must_use]
    pub fn terminals(&self) -> &AppState {
        &self.inner.terminals
    }

    pub(crate) fn redis(&self) -> ConnectionManager {
        store_redis::affinity::on_this_thread(&self.inner.redis)
    }
}
