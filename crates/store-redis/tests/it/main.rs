//! store-redis against a real Redis (`OT_REDIS_URL`, default `redis://127.0.0.1:6379`):
//! connecting, the readiness ping, keys isolated by a unique prefix per test, and the
//! stream ingest's batched acknowledgements and trims, and the hot scripts'
//! reload after the server forgot them.

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

/// Entries left in `stream` (XLEN).
async fn length(connection: &mut ConnectionManager, stream: &str) -> u64 {
    redis::cmd("XLEN")
        .arg(stream)
        .query_async(connection)
        .await
        .expect("XLEN")
}

#[tokio::test]
async fn acks_and_trims_of_many_streams_keep_exactly_what_is_pending() {
    use store_redis::streams::{self, ReadFrom};
    let mut connection = redis().await;
    let prefix = unique_prefix();
    let streams: Vec<String> = (0..3)
        .map(|n| format!("{}:stream:{n}", prefix.as_str()))
        .collect();
    for stream in &streams {
        streams::ensure_group(&mut connection, stream, "g")
            .await
            .expect("group");
        for n in 0..4 {
            let _: String = connection
                .xadd(stream, "*", &[("d", n)])
                .await
                .expect("XADD");
        }
    }
    let read = streams::read_group(
        &mut connection,
        "g",
        "c",
        &streams,
        10,
        ReadFrom::New { block_ms: 0 },
    )
    .await
    .expect("read");
    assert_eq!(read.len(), 12);
    let ids_of = |stream: &str| -> Vec<&str> {
        read.iter()
            .filter(|e| e.stream == stream)
            .map(|e| e.id.as_str())
            .collect()
    };
    let (first, second, third) = (&streams[0], &streams[1], &streams[2]);
    // Everything of the first stream, the two oldest of the second, nothing of the third.
    let acks = vec![
        (first.as_str(), ids_of(first)),
        (second.as_str(), ids_of(second)[..2].to_vec()),
        (third.as_str(), Vec::new()),
    ];
    assert_eq!(
        streams::ack_many(&mut connection, "g", &acks)
            .await
            .expect("ack"),
        6
    );
    // Unacknowledged: the second's two pending, the third's four pending.
    assert_eq!(
        streams::backlog_many(&mut connection, &streams, "g")
            .await
            .expect("backlog"),
        2 + 4
    );
    let names: Vec<&str> = streams.iter().map(String::as_str).collect();
    let removed = streams::trim_acknowledged_many(&mut connection, &names, "g")
        .await
        .expect("trim");
    // First: all but the last delivered entry go; second: the two acked go;
    // third: nothing (its oldest entry is pending).
    assert_eq!(removed, 3 + 2);
    assert_eq!(length(&mut connection, first).await, 1);
    assert_eq!(length(&mut connection, second).await, 2);
    assert_eq!(length(&mut connection, third).await, 4);
    // The trim removed only acknowledged entries; an entry appended since
    // is not delivered yet (lag), and a stream without the group counts
    // whole, as does one that does not exist not at all.
    let _: String = connection
        .xadd(first, "*", &[("d", "late")])
        .await
        .expect("XADD");
    let ungrouped = format!("{}:ungrouped", prefix.as_str());
    for _ in 0..3 {
        let _: String = connection
            .xadd(&ungrouped, "*", &[("d", "x")])
            .await
            .expect("XADD");
    }
    let mut all = streams.clone();
    all.push(ungrouped.clone());
    all.push(format!("{}:missing", prefix.as_str()));
    assert_eq!(
        streams::backlog_many(&mut connection, &all, "g")
            .await
            .expect("backlog"),
        1 + 2 + 4 + 3
    );
    let _: () = connection.del(&all).await.expect("clean up");
}

/// After `SCRIPT FLUSH` (a restart or failover forgets scripts too) the
/// next commit or record loads its script and runs; each script still
/// answers by its contract.
#[tokio::test]
async fn the_hot_scripts_are_loaded_again_when_redis_forgot_them() {
    use store_redis::hot::{self, CommitArgs, CommitKeys, Committed};

    let mut connection = redis().await;
    let prefix = unique_prefix();
    let key = |name: &str| format!("{}:{{t}}:{name}", prefix.as_str());
    let (state, idempotency, recorded, stream) =
        (key("state"), key("idem:1"), key("idem:2"), key("stream"));
    let hash = "a".repeat(hot::REQUEST_HASH_HEX_LEN);
    let flush = || async {
        let mut connection = redis().await;
        let () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut connection)
            .await
            .expect("SCRIPT FLUSH");
    };
    let commit = |expected_version: &'static str| {
        let mut connection = connection.clone();
        let (state, idempotency, stream, hash) = (
            state.clone(),
            idempotency.clone(),
            stream.clone(),
            hash.clone(),
        );
        async move {
            hot::commit(
                &mut connection,
                CommitKeys {
                    state: &state,
                    idempotency: &idempotency,
                    stream: &stream,
                },
                CommitArgs {
                    request_hash: &hash,
                    expected_version,
                    new_state: b"1|config|{}",
                    reply: b"first reply",
                    retention_s: 60,
                    entry: b"entry",
                },
            )
            .await
            .expect("the commit script runs")
        }
    };

    flush().await;
    assert!(matches!(commit("").await, Committed::Done { .. }));
    flush().await;
    assert_eq!(commit("").await, Committed::Repeat(b"first reply".to_vec()));
    flush().await;
    let recorded_first = hot::record(
        &mut connection,
        &recorded,
        &stream,
        &hash,
        b"denied",
        60,
        b"entry",
    )
    .await
    .expect("the record script runs");
    assert!(matches!(recorded_first, Committed::Done { .. }));
    let stored: String = connection.get(&state).await.expect("state");
    assert_eq!(stored, "1|config|{}");
    let entries: u64 = redis::cmd("XLEN")
        .arg(&stream)
        .query_async(&mut connection)
        .await
        .expect("XLEN");
    assert_eq!(entries, 2, "the commit's and the record's entries");
    let _: u64 = connection
        .del(&[state, idempotency, recorded, stream])
        .await
        .expect("clean up");
}

/// The server's id of the connection a handle talks over.
async fn client_id(connection: &mut ConnectionManager) -> i64 {
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async(connection)
        .await
        .expect("CLIENT ID answers")
}

#[tokio::test]
async fn a_pinned_connection_serves_its_own_thread_only() {
    use store_redis::affinity::{on_this_thread, pin_to_thread};
    let shared = redis().await;
    let shared_id = client_id(&mut shared.clone()).await;
    assert_eq!(
        client_id(&mut on_this_thread(&shared)).await,
        shared_id,
        "a thread without a pinned connection uses the shared one"
    );
    let other_thread = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let own = redis().await;
                let own_id = client_id(&mut own.clone()).await;
                pin_to_thread(own);
                (own_id, client_id(&mut on_this_thread(&shared)).await)
            })
        })
        .join()
        .expect("the thread ran")
    };
    let (own_id, used_id) = other_thread;
    assert_ne!(own_id, shared_id, "two connections");
    assert_eq!(used_id, own_id, "the pinning thread uses its own");
    assert_eq!(
        client_id(&mut on_this_thread(&shared)).await,
        shared_id,
        "pinning on one thread leaves the others alone"
    );
}
