//! The account hot state and the one way to change it.
//!
//! ```text
//! Projection::apply(account, event, key, hash)
//!   state: in-process cache ─miss─▶ Redis GET ─miss/other config─▶ rebuild from Postgres
//!   price: fares::Engine::decide(state, event)
//!   commit: one Lua script (store_redis::hot): idempotency on the key, CAS on the
//!           state version, write the state, XADD the entry to the shard stream
//!   version conflict → re-price with the state the script returned (bounded)
//! ingest::Ingest: shard streams ──XREADGROUP──▶ Postgres (unnest; a redelivery skips what exists) ──▶ XACK
//! ```
//!
//! Map:
//! - [`keys`]: virtual shards, the Redis key layout, [`EventKey`], [`RequestHash`].
//! - [`setup`]: [`FareSetup`] — the engine and the fingerprint of its configuration.
//! - [`record`]: stored state values, replies, stream entries, recorded events.
//! - [`entry`]: the stream entry's compact binary wire form (JSON read too).
//! - [`project`]: [`Projection`] — `apply`, `record_unpriced`, `rebuild`.
//! - [`ingest`]: the stream ingest worker.
//! - [`funding`]: fund a wallet (ledger transfer + top-up event), for tests and tools.
//! - [`cache`]: the bounded in-process cache of last committed states.
//!
//! **Invariant:** Redis is a projection. Every accepted event reaches
//! `rider.account_event` (through the stream) with the version it produced,
//! and folding those events through the engine gives the state back, so
//! Redis can be flushed at any time.
//!
//! **Invariant (balance):** the state's balance is *spendable*: the ledger
//! wallet balance minus the provisional charges not yet settled. Top-ups
//! move money in the ledger (provider clearing → wallet) and add the same
//! amount to the state in one `TopUp` event; fares, holds and fees lower the
//! state at once and reach the ledger only when settlement posts the day.
//! So `state balance = Σ top-ups − Σ provisional charges = ledger balance −
//! (provisional charges not yet settled)`. Settlement's adjustments (settled
//! ≠ provisional) must come back as events for the identity to keep holding.
//!
//! **Boundary:** no HTTP. The services build engine events and idempotency
//! keys; this crate prices, commits and records them.

pub mod cache;
pub mod entry;
pub mod funding;
pub mod ingest;
pub mod keys;
pub mod project;
pub mod record;
pub mod setup;

pub use keys::{EventKey, Layout, RequestHash, SHARD_COUNT, Shard};
pub use project::{
    Applied, Change, IDEMPOTENCY_RETENTION_S, MAX_COMMIT_ATTEMPTS, Projection, RebuildMode, Repeat,
    STATE_CACHE_ENTRIES,
};
pub use record::{RecordedEvent, RecordedKind, Reply, StreamEntry, TapContext, TapSource, Verdict};
pub use setup::{ConfigId, FareSetup, Verification};

/// Why an event could not be applied. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The key was used before for another request.
    #[error("the event key was used before for a different request")]
    KeyConflict,
    /// The state kept changing under us for `MAX_COMMIT_ATTEMPTS` tries.
    #[error("the account is too busy, retry later")]
    Busy,
    /// The engine refused the event (bad input or a state it cannot use).
    #[error(transparent)]
    Event(#[from] fares::engine::EventError),
    /// An id the configuration does not have.
    #[error("unknown {0} for this fare configuration")]
    UnknownId(&'static str),
    /// Redis failed.
    #[error("Redis failed")]
    Redis(#[from] store_redis::StoreError),
    /// Postgres failed.
    #[error("Postgres failed")]
    Postgres(#[from] store_pg::StoreError),
    /// A stored value that does not decode.
    #[error("corrupt value: {0}")]
    Corrupt(String),
}

/// `outer: middle: root`, for one log field.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
