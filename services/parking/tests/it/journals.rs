//! Offline gate journals: uploaded to fare-validation's `POST /v1/journal`
//! as gates upload them, then applied by the parking journal worker.

use axum::http::StatusCode;
use parking_service::journal::{self, EXIT_WITHOUT_ENTRY_GRACE_S, ScanReport};
use serde_json::{Value, json};
use store_pg::parking::{EntrySource, ParkingStore};

use crate::support::*;

fn record(
    seq: u64,
    device_time_s: i64,
    kind: &str,
    gate_id: &str,
    card_id: &str,
    decision: &str,
) -> Value {
    json!({
        "seq": seq, "device_time_s": device_time_s,
        "event": {"kind": kind, "lot_id": "BTH-P", "gate_id": gate_id, "vehicle_class": "motorbike"},
        "medium": card(card_id),
        "decided_by": "offline", "decision": decision,
        "reason": if decision == "deny" { json!("lot_full") } else { Value::Null },
        "amount_vnd": 0, "deny_list_version": 1, "key_set_version": 1,
    })
}

/// Uploads `records` of `terminal` at the rig's clock (no clock offset).
async fn upload(rig: &Rig, terminal: &str, records: Vec<Value>) {
    let now_s = rig.clock.now_s();
    let body = serde_json::to_vec(&json!({
        "terminal_id": terminal, "boot_epoch": 1, "device_time_s": now_s, "records": records,
    }))
    .expect("json");
    let (status, ack) = send(
        &rig.validators,
        signed("POST", "/v1/journal", terminal, &body, now_s),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
}

async fn scan(rig: &Rig) -> ScanReport {
    journal::apply_pending(&rig.parking).await.expect("scan")
}

#[tokio::test]
async fn offline_entries_and_exits_are_charged_when_their_journals_arrive() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    // The network was down all morning; the exit gate uploads first.
    rig.at(T0_S + 6 * HOUR_S);
    upload(
        &rig,
        "BTH-X1",
        vec![record(
            1,
            T0_S + 5 * HOUR_S,
            "parking_exit",
            "X1",
            "04a1b2c3",
            "accept",
        )],
    )
    .await;
    assert_eq!(
        scan(&rig).await,
        ScanReport {
            deferred: 1,
            ..ScanReport::default()
        }
    );
    rig.at(T0_S + 6 * HOUR_S + 60);
    upload(
        &rig,
        "BTH-E1",
        vec![record(1, T0_S, "parking_entry", "E1", "04a1b2c3", "accept")],
    )
    .await;
    // Oldest upload first: the exit still waits, then the entry applies.
    let first = scan(&rig).await;
    assert_eq!((first.applied, first.deferred), (1, 1));
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    let second = scan(&rig).await;
    assert_eq!((second.applied, second.deferred), (1, 0));
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
    // Five hours at the device's times: one block.
    assert_eq!(rig.balance(account).await, 16_000);
    let stays = ParkingStore::new(rig.db.pool.clone())
        .stay_history(account, None, 10)
        .await
        .expect("read");
    assert_eq!(stays.len(), 1);
    assert_eq!(
        (stays[0].entered_at, stays[0].exited_at, stays[0].fee_vnd),
        (time(T0_S), Some(time(T0_S + 5 * HOUR_S)), Some(4_000))
    );
    assert_eq!(scan(&rig).await, ScanReport::default());
    assert_eq!(
        rig.count("SELECT count(*) FROM transit.journal_record WHERE pricing = 'applied'")
            .await,
        2
    );
}

#[tokio::test]
async fn an_exit_whose_entry_never_arrived_is_charged_a_day() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    rig.at(T0_S + 6 * HOUR_S);
    upload(
        &rig,
        "BTH-X1",
        vec![record(
            1,
            T0_S + 5 * HOUR_S,
            "parking_exit",
            "X1",
            "04a1b2c3",
            "accept",
        )],
    )
    .await;
    assert_eq!(scan(&rig).await.deferred, 1);
    rig.at(T0_S + 6 * HOUR_S + EXIT_WITHOUT_ENTRY_GRACE_S + 1);
    assert_eq!(scan(&rig).await.applied, 1);
    // 24 hours of the motorbike tariff: two started 12-hour blocks.
    assert_eq!(rig.balance(account).await, 12_000);
    assert_eq!(rig.occupied("BTH-P").await, None);
    let store = ParkingStore::new(rig.db.pool.clone());
    let stays = store.stay_history(account, None, 10).await.expect("read");
    assert_eq!(stays.len(), 1);
    assert_eq!(
        (
            stays[0].entry_source,
            stays[0].entered_at,
            stays[0].fee_vnd,
            stays[0].open
        ),
        (
            EntrySource::ExitWithoutEntry,
            time(T0_S - 19 * HOUR_S),
            Some(8_000),
            false
        )
    );
    // The entry record, very late: its stay was already charged.
    upload(
        &rig,
        "BTH-E1",
        vec![record(1, T0_S, "parking_entry", "E1", "04a1b2c3", "accept")],
    )
    .await;
    assert_eq!(scan(&rig).await.skipped, 1);
    assert!(store.current_stay(account).await.expect("read").is_none());
    assert_eq!(rig.balance(account).await, 12_000);
}

#[tokio::test]
async fn journaled_online_taps_apply_once_and_denied_records_move_nothing() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    rig.rider("04a1b2c4", 20_000).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let mut online = record(1, T0_S, "parking_entry", "E1", "04a1b2c3", "accept");
    online["decided_by"] = json!("online");
    let refused = record(2, T0_S, "parking_entry", "E1", "04a1b2c4", "deny");
    upload(&rig, "BTH-E1", vec![online, refused]).await;
    let report = scan(&rig).await;
    assert_eq!((report.applied, report.skipped), (1, 1));
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    assert_eq!(rig.count("SELECT count(*) FROM parking.stay").await, 1);
    assert_eq!(rig.balance(account).await, 20_000);
}
