//! Postgres adapter: the book of record.
//!
//! - [`MIGRATOR`]: every migration of the workspace (`migrations/`), embedded.
//! - [`connect`]: a pool with explicit, bounded settings.
//! - [`Ledger`]: the double-entry ledger (schema `ledger`): accounts, batches
//!   of transfers, two-phase holds, expiry, reads, and [`audit`].
//! - [`StoreError`]: the one error type; `error.rs` maps database codes and
//!   constraint names to it.
//! - [`rider`]: rider accounts (with their wallet, in one transaction),
//!   media, QR tickets (schema `rider`).
//! - [`terminal`]: the terminal registry and scoped admin API keys.
//! - [`deny_list`]: the versioned deny list, snapshots and deltas.
//! - [`journal`]: terminal journal records, ack watermarks, pricing status.
//! - [`hot_events`]: the stream ingest's bulk writes (taps, account events)
//!   and the rebuild's reads.
//! - [`rider_login`], [`idempotency`], [`rider_orders`], [`rider_history`]:
//!   the rider API's logins and sessions, `Idempotency-Key` records, top-up
//!   orders and pass purchases, and its read models (media, events, wallet
//!   transfers).
//! - [`parking`]: sites, capacities, tariff versions, rights, stays and
//!   the audit of manual operations (schema `parking`).
//! - [`settlement`]: the day-close job's records (schema `settlement`),
//!   its paged reads of events and ledger postings, reports, and
//!   [`settlement::audit_settlement`].
//!
//! **Boundary:** the rules of the ledger live in the pure `ledger` crate;
//! this crate locks, loads, asks `ledger::engine` for a plan, and writes it.

pub mod audit;
pub mod deny_list;
pub mod error;
pub mod hot_events;
pub mod idempotency;
pub mod journal;
pub mod ledger;
pub mod parking;
pub mod rider;
pub mod rider_history;
pub mod rider_login;
pub mod rider_orders;
mod rows;
pub mod settlement;
pub mod terminal;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use crate::audit::{AuditReport, Finding, audit};
pub use crate::error::{Conflict, Missing, StoreError};
pub use crate::ledger::{
    Cursor, Ledger, MAX_EXPIRE_BATCH, MAX_PAGE_TRANSFERS, MAX_TRANSACTION_ATTEMPTS, Page,
    PageRequest,
};

/// Every migration in `migrations/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How a pool is sized and bounded. `Default` gives the values below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most open connections. Default `DEFAULT_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// How long a caller waits for a free connection, in ms.
    pub acquire_timeout_ms: u64,
    /// How long an idle connection is kept, in s.
    pub idle_timeout_s: u64,
    /// The server-side limit on one statement, in ms.
    pub statement_timeout_ms: u64,
}

/// Connections per pool: twice the cores of the box the system is sized
/// for (2 cores) plus headroom for waits on locks; more only adds context
/// switches on the Postgres side.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
/// A caller waits at most 5 s for a connection: beyond that the system is
/// overloaded and failing fast beats queueing.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 5_000;
/// Idle connections close after 10 minutes, so a quiet service gives
/// Postgres its memory back.
pub const DEFAULT_IDLE_TIMEOUT_S: u64 = 600;
/// No statement runs longer than 30 s: a ledger write takes milliseconds,
/// and the audit of a day's log takes seconds; anything longer is stuck.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 30_000;

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout_ms: DEFAULT_ACQUIRE_TIMEOUT_MS,
            idle_timeout_s: DEFAULT_IDLE_TIMEOUT_S,
            statement_timeout_ms: DEFAULT_STATEMENT_TIMEOUT_MS,
        }
    }
}

/// Opens a pool on `url` with `settings`; fails if the server cannot be
/// reached within the acquire timeout.
pub async fn connect(url: &str, settings: &PoolSettings) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.options([(
        "statement_timeout",
        settings.statement_timeout_ms.to_string(),
    )]);
    let pool = pool_options(settings).connect_with(options).await?;
    Ok(pool)
}

/// A pool of its own on the database and connection options of `pool`
/// (its statement timeout included), with at most `max_connections`, for a
/// worker that runs on a runtime of its own: connections belong to the
/// runtime that opens them. Connects on first use.
#[must_use]
pub fn sibling_pool(pool: &PgPool, max_connections: u32) -> PgPool {
    let settings = PoolSettings {
        max_connections,
        ..PoolSettings::default()
    };
    pool_options(&settings).connect_lazy_with((*pool.connect_options()).clone())
}

fn pool_options(settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        // No `SELECT 1`-style ping before each checkout: it was a round trip
        // per query on the hot paths. A connection that died meanwhile (a
        // Postgres restart) fails the one statement that uses it, and the
        // pool drops it; callers already treat store errors as retryable.
        .test_before_acquire(false)
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_s))
}
