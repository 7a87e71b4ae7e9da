//! The rider API's state: stores, the projection, the ticket ring, the
//! payment provider, the clock and the settings, built once and shared by
//! every handler (cheap to clone).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ledger::{Account, AccountKind};
use projection::Projection;
use ring::rand::SystemRandom;
use sqlx::PgPool;
use store_pg::idempotency::Idempotency;
use store_pg::ledger::Ledger;
use store_pg::rider::Riders;
use store_pg::rider_history::RiderHistory;
use store_pg::rider_login::RiderLogins;
use store_pg::rider_orders::RiderOrders;
use store_pg::terminal::ApiKeys;
use store_redis::{ConnectionManager, KeyPrefix};

use crate::clock::Clock;
use crate::passes::PassCatalog;
use crate::password::Passwords;
use crate::payments::Payments;
use crate::ratelimit::Limiter;
use crate::settings::RiderSettings;
use crate::tickets::Tickets;

/// What the state is built from.
pub struct Parts {
    /// The Postgres pool (migrated).
    pub pool: PgPool,
    /// The Redis connection.
    pub redis: ConnectionManager,
    /// The prefix of the API's own Redis keys (rate limits).
    pub key_prefix: KeyPrefix,
    /// The hot projection (shared with the other services of the process).
    pub projection: Projection,
    /// The pass catalogue of the projection's fare configuration.
    pub passes: PassCatalog,
    /// The ticket ring.
    pub tickets: Tickets,
    /// The payment provider.
    pub payments: Payments,
    /// The password hasher.
    pub passwords: Passwords,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The settings.
    pub settings: RiderSettings,
}

/// The shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The state's parts (opaque outside this crate).
pub struct Inner {
    pub(crate) ledger: Ledger,
    pub(crate) riders: Riders,
    pub(crate) logins: RiderLogins,
    pub(crate) idempotency: Idempotency,
    pub(crate) orders: RiderOrders,
    pub(crate) history: RiderHistory,
    pub(crate) api_keys: ApiKeys,
    pub(crate) projection: Projection,
    pub(crate) passes: PassCatalog,
    pub(crate) tickets: Tickets,
    pub(crate) payments: Payments,
    pub(crate) passwords: Passwords,
    pub(crate) limiter: Limiter,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: SystemRandom,
    pub(crate) settings: RiderSettings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// Builds the state and makes sure the provider's clearing account
    /// exists in the ledger (top-ups post against it).
    ///
    /// # Errors
    /// When the ledger cannot be reached or refuses the account.
    pub async fn new(parts: Parts) -> Result<AppState, store_pg::StoreError> {
        let ledger = Ledger::new(parts.pool.clone());
        let provider_id = parts.payments.provider_id.clone();
        let clearing = Account::new(
            projection::funding::clearing_account_id(&provider_id),
            AccountKind::ProviderClearing { provider_id },
        );
        ledger.create_account(&clearing, parts.clock.now()).await?;
        Ok(AppState {
            inner: Arc::new(Inner {
                ledger,
                riders: Riders::new(parts.pool.clone()),
                logins: RiderLogins::new(parts.pool.clone()),
                idempotency: Idempotency::new(parts.pool.clone()),
                orders: RiderOrders::new(parts.pool.clone()),
                history: RiderHistory::new(parts.pool.clone()),
                api_keys: ApiKeys::new(parts.pool),
                projection: parts.projection,
                passes: parts.passes,
                tickets: parts.tickets,
                payments: parts.payments,
                passwords: parts.passwords,
                limiter: Limiter::new(parts.redis, parts.key_prefix),
                clock: parts.clock,
                rng: SystemRandom::new(),
                settings: parts.settings,
            }),
        })
    }

    /// Now, by the state's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The ticket ring (tests read its public key set; the binary refreshes it).
    #[must_use]
    pub fn tickets(&self) -> &Tickets {
        &self.inner.tickets
    }
}
