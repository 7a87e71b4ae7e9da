//! Redis adapter: the hot projection, commit scripts and streams.
//!
//! - the connection ([`connect`], a reconnecting `ConnectionManager` with bounded
//!   timeouts), the readiness check ([`ping`]) and key naming ([`KeyPrefix`], [`HashTag`]);
//! - [`hot`]: the hot projection's atomic commit scripts (idempotency, compare-and-set on
//!   the state version, state write and stream append in one `EVALSHA`);
//! - [`affinity`]: a serving thread's own connection, so a command never crosses threads
//!   (`serve --threads`);
//! - [`streams`]: consumer-group reads of the shard streams (read, reclaim, ack, trim) on
//!   a connection of their own for blocking reads.
//! - [`occupancy`]: parking lot counters and the gate saga's reservations (one atomic
//!   script per step on the lot's slot).
//!
//! **Invariant**: Redis is a projection, not the book of record; everything here can be
//! rebuilt from Postgres and terminal journals.

pub mod affinity;
mod connection;
pub mod hot;
mod keys;
pub mod occupancy;
pub mod streams;

pub use connection::{
    CONNECTION_TIMEOUT_MS, RECONNECT_MAX_DELAY_MS, RECONNECT_RETRIES, RESPONSE_TIMEOUT_MS,
    StoreError, connect, ping,
};
pub use keys::{
    HashTag, InvalidKeyPart, KeyName, KeyPrefix, MAX_HASH_TAG_LEN, MAX_KEY_PREFIX_LEN, hash_tag_of,
};
pub use redis::aio::ConnectionManager;
