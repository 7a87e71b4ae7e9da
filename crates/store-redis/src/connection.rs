//! Connecting to Redis and checking that it answers.
//!
//! One `ConnectionManager` per process: it multiplexes every command over one connection
//! (cheap to clone, safe to share) and reconnects by itself after a drop, with bounded
//! retries. Every wait is bounded so a sick Redis fails requests fast instead of piling
//! them up behind the 20 ms tap budget.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Connecting to a Redis on the same network takes well under a millisecond; 1 s covers a
/// loaded host, yet start-up and reconnects fail quickly enough to be noticed.
pub const CONNECTION_TIMEOUT_MS: u64 = 1_000;

/// A healthy Redis answers in about a millisecond, and the whole tap must be decided in
/// 20 ms (p99); a command still unanswered after 500 ms means Redis is sick, and failing is
/// better than queueing. Blocking reads (`XREAD BLOCK`) need a connection of their own with
/// a longer timeout.
pub const RESPONSE_TIMEOUT_MS: u64 = 500;

/// Reconnect attempts (exponential backoff with jitter) before a command gives up; also
/// the attempts of the first connect. With the delays below that is about two seconds.
pub const RECONNECT_RETRIES: usize = 3;

/// The first backoff delay.
const RECONNECT_MIN_DELAY_MS: u64 = 100;

/// The longest backoff delay, so a reconnect never waits longer than a probe's period.
pub const RECONNECT_MAX_DELAY_MS: u64 = 1_000;

/// What a caller of this adapter can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL does not parse (wrong scheme, bad port). The URL itself is not repeated, as it
    /// may hold a password.
    #[error("invalid Redis URL")]
    InvalidUrl(#[source] redis::RedisError),
    /// Redis could not be reached within the timeouts and retries.
    #[error("cannot connect to Redis")]
    Connect(#[source] redis::RedisError),
    /// A command failed or timed out.
    #[error("Redis command failed")]
    Command(#[source] redis::RedisError),
    /// Redis answered, but not as the protocol says it should.
    #[error("unexpected reply from Redis: {0:?}")]
    UnexpectedReply(String),
}

/// Connects to the Redis at `url` (`redis://[:password@]host[:port][/db]`).
///
/// # Errors
/// [`StoreError::InvalidUrl`] when the URL does not parse, [`StoreError::Connect`] when no
/// connection could be made within the timeouts and retries.
pub async fn connect(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url).map_err(StoreError::InvalidUrl)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(CONNECTION_TIMEOUT_MS)))
        .set_response_timeout(Some(Duration::from_millis(RESPONSE_TIMEOUT_MS)))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(Duration::from_millis(RECONNECT_MIN_DELAY_MS))
        .set_max_delay(Duration::from_millis(RECONNECT_MAX_DELAY_MS));
    let manager = ConnectionManager::new_with_config(client, config)
        .await
        .map_err(StoreError::Connect)?;
    tracing::debug!("connected to Redis");
    Ok(manager)
}

/// The readiness check: `PING` must answer `PONG`.
///
/// Takes the manager by reference and clones it (a cheap handle) so callers can share one.
///
/// # Errors
/// [`StoreError::Command`] when the command fails or times out,
/// [`StoreError::UnexpectedReply`] when Redis answers something else.
pub async fn ping(connection: &ConnectionManager) -> Result<(), StoreError> {
    let mut connection = connection.clone();
    let reply: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .map_err(StoreError::Command)?;
    if reply == "PONG" {
        Ok(())
    } else {
        Err(StoreError::UnexpectedReply(reply))
    }
}
