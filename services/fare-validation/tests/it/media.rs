//! Media resolved from memory and kept true by the change feed: links,
//! category decisions and blocks made by another writer count at the next
//! tap once the feed is read (`AppState::refresh_media`, what every
//! instance does on its own at most a second later).

use axum::http::StatusCode;
use card_protocol::messages::{Reason, Tap, decode};
use fare_validation::taps::{Resolved, resolve};
use projection::{EventKey, TapSource};
use serde_json::{Value, json};
use store_pg::rider::{CategoryStatus, MediumKind, Riders};
use store_pg::rider_login::RiderLogins;
use uuid::Uuid;

use crate::support::{Rig, T0_S, card_tap, tap, time};

const CARD: &str = "04c0ffee00beef";
const PLATE: &str = "51F12345";

fn bus(route: &str) -> Value {
    json!({"kind": "bus_boarding", "route_id": route})
}

/// Taps `CARD` on bus `bus-a` with `seq` and checks (decision, reason,
/// amount).
async fn check_tap(rig: &Rig, seq: u64, expected: (&str, Option<&str>, i64)) {
    let body = card_tap("bus-a", seq, bus("19"), CARD);
    let (status, reply) = tap(rig, &rig.router, "bus-a", &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let got = (
        reply["decision"].as_str().unwrap_or_default(),
        reply["reason"].as_str(),
        reply["amount_vnd"].as_i64().unwrap_or(-1),
    );
    assert_eq!(got, expected, "tap {seq}: {reply}");
}

#[tokio::test]
async fn a_card_linked_and_a_category_decided_elsewhere_count_once_the_feed_is_read() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    check_tap(&rig, 1, ("deny", Some("unknown_medium"), 0)).await;

    // Linked by another writer (the rider API, a tool): the unknown card
    // this instance remembered is forgotten by the feed.
    let (account, _) = rig.rider(CARD, 50_000).await;
    rig.state.refresh_media().await.expect("feed");
    check_tap(&rig, 2, ("accept", None, 6_000)).await;

    // A category decision elsewhere: exempt riders ride free.
    let decided = RiderLogins::new(rig.db.pool.clone())
        .set_category(account, "exempt", CategoryStatus::Verified, time(T0_S))
        .await
        .expect("category");
    assert!(decided);
    rig.state.refresh_media().await.expect("feed");
    check_tap(&rig, 3, ("accept", None, 0)).await;

    // Back to adult: the next tap pays again.
    RiderLogins::new(rig.db.pool.clone())
        .set_category(account, "adult", CategoryStatus::Verified, time(T0_S))
        .await
        .expect("category");
    rig.state.refresh_media().await.expect("feed");
    check_tap(&rig, 4, ("accept", None, 6_000)).await;
    rig.db.drop_now().await;
}

fn plate_entry(seq: u64) -> Tap {
    let body = json!({
        "terminal_id": "lot-gate", "boot_epoch": 1, "seq": seq, "device_time_s": T0_S,
        "event": {"kind": "parking_entry", "lot_id": "BTH-P", "gate_id": "in-1",
                  "vehicle_class": "motorbike"},
        "medium": {"kind": "plate", "plate": PLATE}
    });
    decode(&serde_json::to_vec(&body).expect("json")).expect("a valid tap")
}

/// Resolves a plate tap as the parking gates do; returns the account's id
/// or the deny reason.
async fn check_plate(rig: &Rig, seq: u64, expected: Result<Uuid, Reason>) {
    let tap = plate_entry(seq);
    let key = EventKey::tap("lot-gate", 1, seq);
    let at_s = u64::try_from(T0_S).expect("positive");
    let (resolved, _) = resolve(&rig.state, &tap, &key, at_s, TapSource::Online)
        .await
        .expect("resolves");
    let got = match resolved {
        Resolved::Account { account, .. } => Ok(account.account_id.as_uuid()),
        Resolved::Denied { reason, .. } => Err(reason),
    };
    assert_eq!(got, expected, "plate tap {seq}");
}

#[tokio::test]
async fn a_plate_blocked_elsewhere_is_refused_once_the_feed_is_read() {
    let rig = Rig::new().await;
    let (account, _) = rig.rider(CARD, 0).await;
    let riders = Riders::new(rig.db.pool.clone());
    let plate = Uuid::now_v7();
    riders
        .link_medium(plate, account, MediumKind::Plate, PLATE, time(T0_S))
        .await
        .expect("plate");
    check_plate(&rig, 1, Ok(account.as_uuid())).await;
    // Plates are not on the terminals' deny list: only the feed tells.
    riders
        .block_medium(plate, "sold the motorbike", time(T0_S))
        .await
        .expect("block")
        .expect("exists");
    rig.state.refresh_media().await.expect("feed");
    check_plate(&rig, 2, Err(Reason::DenyListed)).await;
    rig.db.drop_now().await;
}

#[tokio::test]
async fn another_instance_reads_the_feed_on_its_own_within_the_poll_interval() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    let (account, _) = rig.rider(CARD, 50_000).await;
    let second = rig.second_router();
    let second_tap = |seq: u64| {
        let body = card_tap("bus-a", seq, bus("19"), CARD);
        let second = second.clone();
        let rig = &rig;
        async move {
            let (status, reply) = tap(rig, &second, "bus-a", &body).await;
            assert_eq!(status, StatusCode::OK, "{reply}");
            reply["amount_vnd"].as_i64()
        }
    };
    assert_eq!(second_tap(1).await, Some(6_000));
    RiderLogins::new(rig.db.pool.clone())
        .set_category(account, "exempt", CategoryStatus::Verified, time(T0_S))
        .await
        .expect("category");
    // Nobody tells the second instance; its own poll is due after the
    // interval (as in the deny-list test, real time passes).
    tokio::time::sleep(std::time::Duration::from_millis(
        fare_validation::media::MEDIA_FEED_POLL_MS + 100,
    ))
    .await;
    assert_eq!(second_tap(2).await, Some(0));
    rig.db.drop_now().await;
}
