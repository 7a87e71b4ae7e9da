//! Taps, journals, the deny list, auth and rebuilds, end to end.

use axum::http::StatusCode;
use card_protocol::messages::{Message, Tap};
use serde_json::{Value, json};
use store_pg::terminal::Direction;

use crate::support::{Rig, T0_S, card_tap, send, signed, tap, time, without_time};

const CARD: &str = "04a1b2c3d4e5f6";

fn bus(route: &str) -> Value {
    json!({"kind": "bus_boarding", "route_id": route})
}

#[tokio::test]
async fn a_retried_tap_answers_the_first_reply_and_charges_once() {
    let rig = Rig::new().await;
    rig.bus("bus-19-a", "19").await;
    let (account, _) = rig.rider(CARD, 50_000).await;

    let body = card_tap("bus-19-a", 1, bus("19"), CARD);
    let (status, first) = tap(&rig, &rig.router, "bus-19-a", &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["decision"], "accept");
    assert_eq!(first["amount_vnd"], 6_000);
    assert_eq!(first["balance_vnd"], 44_000);

    let (status, again) = tap(&rig, &rig.router, "bus-19-a", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(without_time(again), without_time(first.clone()));
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 44_000);

    // The record keeps the request hash (64 hex) and the binary reply. One
    // an earlier build wrote (the reply as JSON; records live 8 days)
    // answers a retry the same.
    let mut redis = rig.redis.clone();
    let pattern = format!("{}:*:idem:tap:bus-19-a:*", rig.layout.prefix().as_str());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    let [key] = keys.as_slice() else {
        panic!("one record: {keys:?}")
    };
    let record: Vec<u8> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut redis)
        .await
        .expect("GET");
    let (hash, reply) = record.split_at(64);
    assert_eq!(reply.first(), Some(&projection::entry::FORMAT_V1));
    assert!(record.len() < 100, "{} bytes", record.len());
    let reply = projection::entry::decode_reply(reply).expect("decodes");
    let earlier = [hash, &serde_json::to_vec(&reply).expect("JSON")].concat();
    let () = redis::cmd("SET")
        .arg(key)
        .arg(&earlier)
        .arg("KEEPTTL")
        .query_async(&mut redis)
        .await
        .expect("SET");
    rig.state.projection().forget_cached();
    let (status, from_json) = tap(&rig, &rig.router, "bus-19-a", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(without_time(from_json), without_time(first));

    // The same seq with another body is a conflict and changes nothing.
    let other = card_tap("bus-19-a", 1, bus("33"), CARD);
    let (status, problem) = tap(&rig, &rig.router, "bus-19-a", &other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "seq_reused");
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 44_000);
    rig.db.drop_now().await;
}

#[tokio::test]
async fn two_instances_tapping_one_card_concurrently_lose_no_update() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    rig.bus("bus-b", "19").await;
    let (account, _) = rig.rider(CARD, 30_000).await;
    let second = rig.second_router();
    // 10 taps of 6,000 on two instances at once; the daily cap (40,000)
    // is not reached, so sequentially 5 are accepted (30,000) and 5 denied.
    let mut tasks = Vec::new();
    for seq in 1..=5u64 {
        for (terminal, router) in [("bus-a", rig.router.clone()), ("bus-b", second.clone())] {
            let body = card_tap(terminal, seq, bus("19"), CARD);
            let request = signed("POST", "/v1/taps", terminal, &body, rig.clock.now_s());
            tasks.push(tokio::spawn(async move { send(&router, request).await }));
        }
    }
    let mut accepted = 0;
    for task in tasks {
        let (status, reply) = task.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{reply}");
        if reply["decision"] == "accept" {
            accepted += 1;
        } else {
            assert_eq!(reply["reason"], "insufficient_funds");
        }
    }
    assert_eq!(accepted, 5);
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 0);

    // Every tap reaches Postgres exactly once, even when ingested twice.
    let ingest = rig.ingest("it-1").await;
    ingest.drain().await.expect("drain");
    ingest.drain().await.expect("drain again");
    assert_eq!(rig.count("SELECT count(*) FROM transit.tap").await, 10);
    assert_eq!(
        rig.count("SELECT count(*) FROM transit.tap WHERE decision = 'accept'")
            .await,
        5
    );
    // One top-up and five fares changed the state.
    assert_eq!(
        rig.count("SELECT count(*) FROM rider.account_event").await,
        6
    );
    rig.db.drop_now().await;
}

/// A rig whose rider (funded once) made three accepted taps on `bus-a`:
/// four stream entries of one account, none ingested.
async fn rider_with_three_bus_taps() -> Rig {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    rig.rider(CARD, 30_000).await;
    for seq in 1..=3u64 {
        let (status, _) = tap(
            &rig,
            &rig.router,
            "bus-a",
            &card_tap("bus-a", seq, bus("19"), CARD),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    rig
}

#[tokio::test]
async fn a_restarted_ingest_reclaims_what_a_dead_one_left() {
    let rig = rider_with_three_bus_taps().await;
    // A consumer reads a batch and dies before writing it.
    let dead = rig.ingest("dead").await;
    assert_eq!(dead.read_without_ack().await.expect("read"), 4);
    assert_eq!(rig.count("SELECT count(*) FROM transit.tap").await, 0);
    // Its replacement reclaims the idle entries once they pass min-idle.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let fresh = rig.ingest("fresh").await;
    let report = fresh.reclaim_batch().await.expect("reclaim");
    assert_eq!(report.entries, 4);
    assert_eq!(rig.count("SELECT count(*) FROM transit.tap").await, 3);
    assert_eq!(
        rig.count("SELECT count(*) FROM rider.account_event").await,
        4
    );
    rig.db.drop_now().await;
}

/// `XREADGROUP`'s `COUNT` is per stream: a read asks each shard stream for
/// its share of the batch, so a backlog in one stream comes in batches of
/// that share, and a drain still takes all of it.
#[tokio::test]
async fn a_read_takes_each_stream_its_share_of_the_batch() {
    let rig = rider_with_three_bus_taps().await;
    // The top-up and three taps of one account: four entries in one stream.
    let shards = usize::from(projection::keys::SHARD_COUNT);
    let ingest = rig.ingest_reading("share", 2 * shards).await;
    assert_eq!(ingest.per_stream(), 2);
    assert_eq!(ingest.read_without_ack().await.expect("read"), 2);
    let report = ingest.next_batch().await.expect("batch");
    assert_eq!((report.entries, report.stream_full), (2, true));
    assert_eq!(rig.count("SELECT count(*) FROM transit.tap").await, 2);
    // The drain writes the two read first (still pending), then finds none.
    let drained = ingest.drain().await.expect("drain");
    assert_eq!((drained.entries, drained.taps), (2, 1));
    assert_eq!(rig.count("SELECT count(*) FROM transit.tap").await, 3);
    rig.db.drop_now().await;
}

/// One entry of an `XRANGE` reply: its id and its fields.
type StreamRange = (String, Vec<(String, Vec<u8>)>);

/// Entries are binary since session 6 (`projection::entry`): an entry left
/// in a stream as JSON by an earlier build is still ingested, and one that
/// decodes as neither is dead-lettered with its bytes (hex), while the rest
/// of its batch is written.
#[tokio::test]
async fn json_entries_of_an_earlier_build_are_ingested_and_damaged_ones_dead_lettered() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    rig.rider(CARD, 30_000).await;
    let (status, _) = tap(
        &rig,
        &rig.router,
        "bus-a",
        &card_tap("bus-a", 1, bus("19"), CARD),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The tap's entry, as this build wrote it, re-written as JSON for a
    // second tap of the same terminal (what an earlier build appended).
    let mut redis = rig.redis.clone();
    let mut written = None;
    for stream in rig.layout.streams() {
        let found: Vec<StreamRange> = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut redis)
            .await
            .expect("xrange");
        for (_, fields) in found {
            let entry = projection::entry::decode(&fields[0].1).expect("a binary entry decodes");
            if entry.tap.is_some() {
                written = Some((stream.clone(), entry));
            }
        }
    }
    let (stream, mut entry) = written.expect("the tap's entry");
    let tap_context = entry.tap.as_mut().expect("tap");
    tap_context.seq = 2;
    entry.key = format!("tap:bus-a:{}:2", tap_context.boot_epoch);
    entry.account_id = None;
    entry.changed = false;
    entry.event = None;
    let json = serde_json::to_vec(&entry).expect("json");
    for data in [json, vec![projection::entry::FORMAT_V1, 0xff]] {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("d")
            .arg(data)
            .query_async(&mut redis)
            .await
            .expect("xadd");
    }
    let report = rig
        .ingest("after-upgrade")
        .await
        .drain()
        .await
        .expect("drain");
    assert_eq!(report.dead, 1);
    assert_eq!(
        rig.count("SELECT count(*) FROM transit.tap WHERE terminal_id = 'bus-a'")
            .await,
        2,
        "the binary entry's tap and the JSON entry's tap"
    );
    let body: String = sqlx::query_scalar("SELECT body FROM transit.ingest_dead_letter")
        .fetch_one(&rig.db.pool)
        .await
        .expect("the dead letter");
    assert_eq!(body, "hex:01ff");
    rig.db.drop_now().await;
}

fn record(seq: u64, decided_by: &str, device_time_s: i64, event: Value) -> Value {
    json!({
        "seq": seq, "device_time_s": device_time_s, "event": event,
        "medium": {"kind": "transit_card", "card_id": CARD},
        "decided_by": decided_by, "decision": "accept", "reason": null, "amount_vnd": 0,
        "deny_list_version": 0, "key_set_version": 1
    })
}

#[tokio::test]
async fn journals_are_stored_once_acked_contiguously_and_priced_once() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    let (account, _) = rig.rider(CARD, 50_000).await;
    // seq 1 is answered online first.
    let (status, _) = tap(
        &rig,
        &rig.router,
        "bus-a",
        &card_tap("bus-a", 1, bus("19"), CARD),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The journal holds 1 (online, same tap), 2 and 4 (offline); 3 is missing.
    let batch = |records: Vec<Value>| {
        serde_json::to_vec(&json!({
            "terminal_id": "bus-a", "boot_epoch": 1, "device_time_s": T0_S, "records": records
        }))
        .expect("json")
    };
    let body = batch(vec![
        record(1, "online", T0_S, bus("19")),
        record(2, "offline", T0_S + 600, bus("19")),
        record(4, "offline", T0_S + 1_200, bus("19")),
    ]);
    let (status, ack) = send(
        &rig.router,
        signed("POST", "/v1/journal", "bus-a", &body, rig.clock.now_s()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["ack_watermark"], 2);
    assert_eq!(ack["missing"], json!([{"from_seq": 3, "to_seq": 3}]));
    // Two offline boardings priced, the online one not again: 3 × 6,000.
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 50_000 - 18_000);

    // A retry stores nothing new and charges nothing; the hole filled moves the watermark.
    let body = batch(vec![
        record(2, "offline", T0_S + 600, bus("19")),
        record(3, "offline", T0_S + 900, bus("19")),
    ]);
    let (status, ack) = send(
        &rig.router,
        signed("POST", "/v1/journal", "bus-a", &body, rig.clock.now_s()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["ack_watermark"], 4);
    assert_eq!(ack["missing"], json!([]));
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 50_000 - 24_000);

    // Same seq, other content: 409 and nothing stored.
    let body = batch(vec![record(3, "offline", T0_S + 901, bus("19"))]);
    let (status, problem) = send(
        &rig.router,
        signed("POST", "/v1/journal", "bus-a", &body, rig.clock.now_s()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        rig.count("SELECT count(*) FROM transit.journal_record")
            .await,
        4
    );
    rig.db.drop_now().await;
}

#[tokio::test]
async fn a_blocked_card_is_denied_at_the_next_tap_and_listed_in_the_next_version() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    let (_, medium) = rig.rider(CARD, 50_000).await;
    let now_s = rig.clock.now_s();
    let (status, snapshot) = send(
        &rig.router,
        signed("GET", "/v1/deny-list", "bus-a", b"", now_s),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{snapshot}");
    assert_eq!(snapshot["version"], 0);
    let (status, _) = tap(
        &rig,
        &rig.router,
        "bus-a",
        &card_tap("bus-a", 1, bus("19"), CARD),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let outcome = store_pg::rider::Riders::new(rig.db.pool.clone())
        .block_medium(medium, "reported stolen", time(T0_S))
        .await
        .expect("block")
        .expect("exists");
    assert_eq!(outcome.deny_list_version, Some(1));
    // This instance's caches expire within their intervals; move time on.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, reply) = tap(
        &rig,
        &rig.router,
        "bus-a",
        &card_tap("bus-a", 2, bus("19"), CARD),
    )
    .await;
    assert_eq!(reply["decision"], "deny", "{reply}");
    assert_eq!(reply["reason"], "deny_listed");

    let path = "/v1/deny-list/delta?from_version=0";
    let (status, delta) = send(&rig.router, signed("GET", path, "bus-a", b"", now_s)).await;
    assert_eq!(status, StatusCode::OK, "{delta}");
    assert_eq!(delta["to_version"], 1);
    assert_eq!(delta["added"], json!([{"kind": "card_id", "value": CARD}]));
    let (status, _) = send(
        &rig.router,
        signed("GET", "/v1/denylist?since=1", "bus-a", b"", now_s),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, snapshot) = send(
        &rig.router,
        signed("GET", "/v1/denylist?since=99", "bus-a", b"", now_s),
    )
    .await;
    assert_eq!(snapshot["version"], 1);
    rig.db.drop_now().await;
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    rig.gate("gate-x", "BTH", Direction::Entry).await;
    let (account, _) = rig.rider(CARD, 50_000).await;
    let now_s = rig.clock.now_s();
    let body = card_tap("bus-a", 1, bus("19"), CARD);
    let check = |status: StatusCode, expected: StatusCode, reply: &Value| {
        assert_eq!(status, expected, "{reply}");
    };
    // Stale timestamp, wrong signature, unknown terminal: 401.
    let (status, reply) = send(
        &rig.router,
        signed("POST", "/v1/taps", "bus-a", &body, now_s - 120),
    )
    .await;
    check(status, StatusCode::UNAUTHORIZED, &reply);
    let mut request = signed("POST", "/v1/taps", "bus-a", &body, now_s);
    request
        .headers_mut()
        .insert("x-ot-signature", "0".repeat(64).parse().expect("header"));
    let (status, reply) = send(&rig.router, request).await;
    check(status, StatusCode::UNAUTHORIZED, &reply);
    let (status, reply) = send(
        &rig.router,
        signed(
            "POST",
            "/v1/taps",
            "nobody",
            &card_tap("nobody", 1, bus("19"), CARD),
            now_s,
        ),
    )
    .await;
    check(status, StatusCode::UNAUTHORIZED, &reply);
    // Another terminal's id in the body: 403.
    let (status, reply) = send(
        &rig.router,
        signed("POST", "/v1/taps", "gate-x", &body, now_s),
    )
    .await;
    check(status, StatusCode::FORBIDDEN, &reply);
    // Malformed and oversized bodies: 400 and 413, as problem+json.
    let (status, reply) = send(
        &rig.router,
        signed("POST", "/v1/taps", "bus-a", b"{not json", now_s),
    )
    .await;
    check(status, StatusCode::BAD_REQUEST, &reply);
    assert_eq!(reply["code"], "invalid_message");
    let big = vec![b' '; Tap::MAX_BYTES + 1];
    let (status, reply) = send(
        &rig.router,
        signed("POST", "/v1/taps", "bus-a", &big, now_s),
    )
    .await;
    check(status, StatusCode::PAYLOAD_TOO_LARGE, &reply);
    // A metro exit at an entry gate does not fit: 422.
    let exit = card_tap(
        "gate-x",
        1,
        json!({"kind": "metro_exit", "station_id": "BTH"}),
        CARD,
    );
    let (status, reply) = send(
        &rig.router,
        signed("POST", "/v1/taps", "gate-x", &exit, now_s),
    )
    .await;
    check(status, StatusCode::UNPROCESSABLE_ENTITY, &reply);
    // A disabled terminal: 403.
    store_pg::terminal::Terminals::new(rig.db.pool.clone())
        .disable("bus-a", time(T0_S))
        .await
        .expect("disable");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (status, reply) = send(
        &rig.router,
        signed("POST", "/v1/taps", "bus-a", &body, now_s),
    )
    .await;
    check(status, StatusCode::FORBIDDEN, &reply);
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 50_000);
    assert_eq!(state.version, 1);
    rig.db.drop_now().await;
}

#[tokio::test]
async fn a_flushed_redis_rebuilds_the_same_balances_and_next_decisions() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    rig.gate("gate-in", "BTH", Direction::Entry).await;
    rig.gate("gate-out", "BXS", Direction::Exit).await;
    let (account, _) = rig.rider(CARD, 60_000).await;
    let step = |minutes: i64| rig.clock.set(time(T0_S + minutes * 60));
    let entry = |seq| {
        card_tap(
            "gate-in",
            seq,
            json!({"kind": "metro_entry", "station_id": "BTH"}),
            CARD,
        )
    };
    let exit = |seq| {
        card_tap(
            "gate-out",
            seq,
            json!({"kind": "metro_exit", "station_id": "BXS"}),
            CARD,
        )
    };
    tap(
        &rig,
        &rig.router,
        "bus-a",
        &card_tap("bus-a", 1, bus("19"), CARD),
    )
    .await;
    step(30);
    tap(&rig, &rig.router, "gate-in", &entry(1)).await;
    step(60);
    tap(&rig, &rig.router, "gate-out", &exit(1)).await;
    step(90);
    tap(&rig, &rig.router, "gate-in", &entry(2)).await; // a trip left open
    let before = rig.state.projection().state(account).await.expect("state");
    rig.ingest("it").await.drain().await.expect("drain");

    // Flush every key of this test, as a Redis restart without persistence would.
    let mut redis = rig.redis.clone();
    let flushed =
        test_kit::delete_prefix(&mut redis, &format!("{}:", rig.layout.prefix().as_str())).await;
    assert!(flushed > 0, "the taps left hot state in Redis");
    rig.state.projection().forget_cached();

    let rebuilt = rig
        .state
        .projection()
        .state(account)
        .await
        .expect("rebuilt");
    assert_eq!(rebuilt, before);
    // The next decision is the one the original state gives: the exit closes the open trip.
    step(100);
    let (_, reply) = tap(&rig, &rig.router, "gate-out", &exit(2)).await;
    let expected = rig
        .setup
        .engine()
        .decide(
            &before,
            None,
            &fares::engine::Event {
                at: time(T0_S + 6_000).fixed_offset(),
                kind: fares::engine::EventKind::MetroOut {
                    station: rig.setup.engine().station("BXS").expect("station"),
                },
            },
        )
        .expect("decide");
    assert_eq!(reply["decision"], "accept", "{reply}");
    assert_eq!(reply["amount_vnd"], expected.outcome.amount.as_vnd());
    assert_eq!(reply["balance_vnd"], expected.outcome.balance.as_vnd());
    rig.db.drop_now().await;
}
