//! store-redis against a real Redis (`OT_REDIS_URL`, default `redis://127.0.0.1:6379`):
//! connecting, the readiness ping, and keys isolated by a unique prefix per test.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use store_redis::{ConnectionManager, HashTag, KeyName, KeyPrefix, StoreError, connect, ping};

const COUNTER: KeyName = KeyName::new("counter");
const STATE: KeyName = KeyName::new("state");

/// How long a failed connect may take: the retries and delays of `connect` add up to about
/// two seconds; anything near this bound means a timeout is not applied.
const FAILED_CONNECT_BOUND_S: u64 = 10;

fn redis_url() -> String {
    std::env::var("OT_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn redis() -> ConnectionManager {
    connect(&redis_url())
        .await
        .expect("Redis must run for these tests (./dev services starts it)")
}

/// A namespace no other test (or run) shares, until test-kit offers one.
fn unique_prefix() -> KeyPrefix {
    KeyPrefix::new(&format!("test:{}", uuid::Uuid::new_v4().simple()))
        .expect("test: and 32 hex digits make a valid prefix")
}

#[tokio::test]
async fn connect_and_ping() {
    let connection = redis().await;
    ping(&connection).await.expect("PING answers PONG");
}

#[tokio::test]
async fn keys_under_different_prefixes_do_not_meet() {
    let mut connection = redis().await;
    let (mine, theirs) = (unique_prefix(), unique_prefix());
    let tag = HashTag::new("a42").expect("valid tag");

    let _: () = connection.set(mine.key(COUNTER), 7).await.expect("SET");
    let _: () = connection
        .set(mine.tagged_key(&tag, STATE), "open")
        .await
        .expect("SET");

    let mine_counter: Option<i64> = connection.get(mine.key(COUNTER)).await.expect("GET");
    let theirs_counter: Option<i64> = connection.get(theirs.key(COUNTER)).await.expect("GET");
    let mine_state: Option<String> = connection
        .get(mine.tagged_key(&tag, STATE))
        .await
        .expect("GET");
    assert_eq!(mine_counter, Some(7));
    assert_eq!(theirs_counter, None);
    assert_eq!(mine_state.as_deref(), Some("open"));

    let removed: i64 = connection
        .del(&[mine.key(COUNTER), mine.tagged_key(&tag, STATE)])
        .await
        .expect("DEL");
    assert_eq!(removed, 2);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_connect_error_within_bounded_time() {
    // A port where nothing listens: bound by us, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let started = Instant::now();
    let outcome = connect(&format!("redis://127.0.0.1:{port}")).await;
    assert!(
        matches!(outcome, Err(StoreError::Connect(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(FAILED_CONNECT_BOUND_S));
}

#[tokio::test]
async fn a_malformed_url_is_rejected_without_echoing_it() {
    let outcome = connect("http://:hunter2@127.0.0.1:6379").await;
    let Err(error) = outcome else {
        panic!("a non-Redis scheme must be rejected");
    };
    assert!(matches!(error, StoreError::InvalidUrl(_)), "{error:?}");
    assert!(!error.to_string().contains("hunter2"));
}
