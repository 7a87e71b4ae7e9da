//! Test helpers: fresh Postgres databases and Redis key prefixes.
//!
//! Every test that touches Postgres gets its own database, created from
//! scratch and migrated with `store_pg::MIGRATOR`, so tests run in parallel
//! without seeing each other's rows. Databases are named
//! `ot_test_<unix seconds>_<random>`: [`TestDatabase::drop_now`] removes one
//! when a test finishes, and every [`fresh_database`] call sweeps those left
//! behind by crashed runs once they are older than
//! `STALE_TEST_DATABASE_AGE_S`.
//!
//! Servers: `OT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432`) and `OT_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). When one is unreachable the helper panics with
//! a message naming the URL, which is what a test wants.

pub mod http;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

/// Where the test Postgres server is, unless `OT_TEST_DATABASE_URL` says.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// Where the test Redis server is, unless `OT_TEST_REDIS_URL` says.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The prefix of every test database name, so a sweep finds them.
pub const TEST_DATABASE_PREFIX: &str = "ot_test_";
/// Test databases older than this are dropped by the next `fresh_database`:
/// one hour is far longer than any test run, so no live test loses its
/// database.
pub const STALE_TEST_DATABASE_AGE_S: u64 = 60 * 60;
/// Connections per test pool: enough for the concurrency tests (20 writers
/// share them) while many test databases fit under Postgres's default
/// `max_connections` of 100.
pub const TEST_POOL_MAX_CONNECTIONS: u32 = 10;
/// How long a test waits for a connection or a server before failing: long
/// enough for a loaded 2-core CI machine, short enough to fail fast.
pub const TEST_CONNECT_TIMEOUT_S: u64 = 30;

/// A database made for one test.
pub struct TestDatabase {
    /// A pool on the new database, already migrated.
    pub pool: PgPool,
    /// The database's name.
    pub name: String,
    server_url: String,
}

impl TestDatabase {
    /// The URL of the new database, for code that connects by itself.
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}/{}", self.server_url.trim_end_matches('/'), self.name)
    }

    /// Closes the pool and drops the database. Tests call it at the end; one
    /// that panics first leaves the database to the next sweep.
    pub async fn drop_now(self) {
        self.pool.close().await;
        let mut admin = admin_connection(&self.server_url).await;
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(error) = sqlx::query(&sql).execute(&mut admin).await {
            panic!("could not drop test database {}: {error}", self.name);
        }
    }
}

fn database_server_url() -> String {
    std::env::var("OT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

async fn admin_connection(server_url: &str) -> PgConnection {
    let options: PgConnectOptions = server_url.parse().unwrap_or_else(|error| {
        panic!("OT_TEST_DATABASE_URL {server_url:?} is not a Postgres URL: {error}")
    });
    let options = options.database("postgres").disable_statement_logging();
    let connect = options.connect();
    match tokio::time::timeout(Duration::from_secs(TEST_CONNECT_TIMEOUT_S), connect).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => panic!(
            "cannot reach the test Postgres at {server_url} (set OT_TEST_DATABASE_URL): {error}"
        ),
        Err(_) => panic!(
            "timed out after {TEST_CONNECT_TIMEOUT_S} s reaching the test Postgres at {server_url}"
        ),
    }
}

/// Drops test databases older than `STALE_TEST_DATABASE_AGE_S`. Best
/// effort: another run may be dropping the same one.
async fn sweep_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'ot\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    let now_s = unix_now_s();
    for name in names {
        let created_s = name
            .strip_prefix(TEST_DATABASE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created_s
            .is_some_and(|created_s| now_s.saturating_sub(created_s) > STALE_TEST_DATABASE_AGE_S)
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::query(&sql).execute(&mut *admin).await;
        }
    }
}

/// Creates a new, uniquely named, migrated database and returns a pool on it.
/// Panics with the server URL if Postgres cannot be reached.
pub async fn fresh_database() -> TestDatabase {
    let server_url = database_server_url();
    let mut admin = admin_connection(&server_url).await;
    sweep_stale(&mut admin).await;
    let name = format!(
        "{TEST_DATABASE_PREFIX}{}_{}",
        unix_now_s(),
        Uuid::new_v4().simple()
    );
    if let Err(error) = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
    {
        panic!("could not create test database {name} on {server_url}: {error}");
    }
    let _ = admin.close().await;
    let options: PgConnectOptions = server_url
        .parse::<PgConnectOptions>()
        .unwrap_or_else(|error| panic!("bad OT_TEST_DATABASE_URL {server_url:?}: {error}"))
        .database(&name)
        .disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(TEST_POOL_MAX_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(TEST_CONNECT_TIMEOUT_S))
        .connect_with(options)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot connect to test database {name} on {server_url}: {error}")
        });
    if let Err(error) = store_pg::MIGRATOR.run(&pool).await {
        panic!("migrating test database {name} failed: {error}");
    }
    TestDatabase {
        pool,
        name,
        server_url,
    }
}

/// A unique key prefix for one Redis test, e.g. `ot_test:4f1c…:`. Keys under
/// it never collide with another test's; the Redis here keeps nothing on
/// disk, so they need no cleanup beyond a test's own.
#[must_use]
pub fn redis_prefix() -> String {
    format!("ot_test:{}:", Uuid::new_v4().simple())
}

/// Keys scanned per `SCAN` step by [`delete_prefix`].
pub const SCAN_COUNT: usize = 1_000;

/// Deletes every key under `prefix` (a test's own, from [`redis_prefix`])
/// and returns how many there were. Walks the keyspace with `SCAN … MATCH`
/// in steps rather than one `KEYS`, which blocks Redis and can time out when
/// the shared server holds millions of other keys (a load test's riders).
pub async fn delete_prefix<C>(redis: &mut C, prefix: &str) -> usize
where
    C: redis::aio::ConnectionLike + Send,
{
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(redis)
            .await
            .unwrap_or_else(|error| panic!("SCAN {pattern}: {error}"));
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(SCAN_COUNT) {
        let () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(redis)
            .await
            .unwrap_or_else(|error| panic!("DEL under {prefix}: {error}"));
    }
    keys.len()
}

/// The Redis URL tests use.
#[must_use]
pub fn redis_url() -> String {
    std::env::var("OT_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// A multiplexed connection to the test Redis. Panics with the URL if the
/// server cannot be reached.
pub async fn redis_connection() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str())
        .unwrap_or_else(|error| panic!("OT_TEST_REDIS_URL {url:?} is not a Redis URL: {error}"));
    let connect = client.get_multiplexed_async_connection();
    match tokio::time::timeout(Duration::from_secs(TEST_CONNECT_TIMEOUT_S), connect).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            panic!("cannot reach the test Redis at {url} (set OT_TEST_REDIS_URL): {error}")
        }
        Err(_) => {
            panic!("timed out after {TEST_CONNECT_TIMEOUT_S} s reaching the test Redis at {url}")
        }
    }
}
