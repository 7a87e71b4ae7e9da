//! The lot counter under pressure: concurrent entries at a nearly full lot,
//! a saga interrupted between its steps, and a counter lost with Redis.

use axum::http::StatusCode;
use ledger::AccountId;
use redis::AsyncCommands;
use serde_json::json;
use store_pg::parking::ParkingStore;
use store_redis::occupancy::{self, Begun, NewRecord, Step};

use crate::support::*;

/// Places left free at BTH-P (capacity 450) before the rush.
const FREE_PLACES: u32 = 5;
/// Riders racing for them.
const RIDERS: u64 = 50;

#[tokio::test]
async fn concurrent_entries_at_a_nearly_full_lot_never_pass_capacity() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let token = rig.admin_key(&["parking"]).await;
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/lots/BTH-P/occupancy",
            Some(&token),
            Some(json!({"counted": 450 - FREE_PLACES})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for n in 0..RIDERS {
        rig.rider(&format!("05{n:06x}"), 20_000).await;
    }
    // Two service instances take the taps as they come.
    let routers = [rig.router.clone(), rig.second_router()];
    let now_s = rig.clock.now_s();
    let tasks: Vec<_> = (0..RIDERS)
        .map(|n| {
            let router = routers[usize::try_from(n % 2).expect("small")].clone();
            let body = bth_entry(n + 1, card(&format!("05{n:06x}")));
            tokio::spawn(async move {
                send(&router, signed("POST", ENTRIES, "BTH-E1", &body, now_s)).await
            })
        })
        .collect();
    let mut accepted_count = 0;
    let mut full = 0;
    for task in tasks {
        let (status, reply) = task.await.expect("joins");
        assert_eq!(status, StatusCode::OK, "{reply}");
        match verdict(&reply) {
            v if v == accepted(0) => accepted_count += 1,
            v if v == denied("lot_full") => full += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((accepted_count, full), (5, 45));
    assert_eq!(rig.occupied("BTH-P").await, Some(450));
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.stay WHERE status = 'open'")
            .await,
        i64::from(FREE_PLACES)
    );
}

#[tokio::test]
async fn a_saga_stopped_after_its_first_step_is_finished_by_the_sweep() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account: AccountId = rig.rider("04a1b2c3", 20_000).await;
    let lot = rig.parking.lots().get("BTH-P").expect("lot").clone();
    let mut redis = rig.redis.clone();
    parking_service::gate::ensure_counter(&rig.parking, &lot)
        .await
        .expect("counter");

    // The process dies right after reserving the place: the counter says 1,
    // the account knows nothing, no stay row.
    let body = bth_entry(1, card("04a1b2c3"));
    let tap: card_protocol::messages::Tap = serde_json::from_slice(&body).expect("tap");
    let hash = fare_validation::taps::tap_hash(&tap).to_hex();
    let account_text = account.as_uuid().to_string();
    let begun = occupancy::begin_entry(
        &mut redis,
        &lot.keys,
        NewRecord {
            tap: "BTH-E1:1:1",
            request_hash: &hash,
            request: &serde_json::to_vec(&tap).expect("json"),
            account: &account_text,
            event_ms: T0_S * 1_000,
            now_ms: T0_S * 1_000,
            retention_s: 3_600,
            origin: "online",
        },
        lot.capacity,
    )
    .await
    .expect("runs");
    assert_eq!(
        begun,
        Begun::New {
            step: Step::Held,
            occupied: 1
        }
    );
    let store = ParkingStore::new(rig.db.pool.clone());
    assert!(store.current_stay(account).await.expect("read").is_none());

    // Too early for the sweep.
    assert_eq!(
        parking_service::jobs::sweep_once(&rig.parking)
            .await
            .expect("sweep"),
        0
    );
    // Past the staleness bound the sweep finishes it: the entry is applied
    // at its original time, the stay row written, the record settled.
    rig.at(T0_S + 60);
    assert_eq!(
        parking_service::jobs::sweep_once(&rig.parking)
            .await
            .expect("sweep"),
        1
    );
    let stay = store
        .current_stay(account)
        .await
        .expect("read")
        .expect("open stay");
    assert_eq!(stay.entered_at, time(T0_S));
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    assert_eq!(
        parking_service::jobs::sweep_once(&rig.parking)
            .await
            .expect("sweep"),
        0
    );
    // The gate's late retry gets the decision the sweep made.
    let (_, reply) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", &body).await;
    assert_eq!(verdict(&reply), accepted(0));
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    assert_eq!(rig.count("SELECT count(*) FROM parking.stay").await, 1);
}

#[tokio::test]
async fn a_counter_lost_with_redis_is_rebuilt_from_the_open_stays() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    for (seq, card_id) in [(1, "04000001"), (2, "04000002"), (3, "04000003")] {
        rig.rider(card_id, 20_000).await;
        let (_, reply) = gate(
            &rig,
            &rig.router,
            ENTRIES,
            "BTH-E1",
            &bth_entry(seq, card(card_id)),
        )
        .await;
        assert_eq!(verdict(&reply), accepted(0));
    }
    let lot = rig.parking.lots().get("BTH-P").expect("lot").clone();
    let mut redis = rig.redis.clone();
    let _: i64 = redis.del(lot.keys.occupancy()).await.expect("DEL");
    assert_eq!(rig.occupied("BTH-P").await, None);
    rig.rider("04000004", 20_000).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(4, card("04000004")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    assert_eq!(rig.occupied("BTH-P").await, Some(4));
    let checks = parking_service::jobs::check_counters_once(&rig.parking)
        .await
        .expect("check");
    let bth = checks
        .iter()
        .find(|c| c.lot_id == "BTH-P")
        .expect("checked");
    assert_eq!((bth.counter, bth.open_stays), (Some(4), 4));
}
