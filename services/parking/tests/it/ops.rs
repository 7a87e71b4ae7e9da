//! The operators' API: scoped keys, audited barrier lifts and occupancy
//! corrections, lost tickets, and the overstay job and report.

use axum::http::StatusCode;
use serde_json::json;
use store_pg::parking::ParkingStore;

use crate::support::*;

#[tokio::test]
async fn a_barrier_lift_needs_a_parking_key_and_is_audited() {
    let rig = Rig::new().await;
    let parking = rig.admin_key(&["parking"]).await;
    let terminals = rig.admin_key(&["terminals"]).await;
    let path = "/v1/admin/parking/lots/BTH-P/gates/X1/lift";
    let body = json!({"reason": "emergency_vehicle", "note": "ambulance leaving"});

    let (status, _) = send(&rig.router, admin("POST", path, None, Some(body.clone()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        &rig.router,
        admin("POST", path, Some("otk_forged"), Some(body.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        &rig.router,
        admin("POST", path, Some(&terminals), Some(body.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, reply) = send(
        &rig.router,
        admin(
            "POST",
            path,
            Some(&parking),
            Some(json!({"reason": "bored"})),
        ),
    )
    .await;
    assert_eq!(
        (status, reply["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("validation_failed"))
    );
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            path,
            Some(&parking),
            Some(json!({"reason": "other"})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/lots/BTH-P/gates/Z9/lift",
            Some(&parking),
            Some(body.clone()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.barrier_lift").await,
        0
    );

    rig.at(T0_S + 42);
    let (status, lift) = send(&rig.router, admin("POST", path, Some(&parking), Some(body))).await;
    assert_eq!(status, StatusCode::CREATED, "{lift}");
    assert_eq!(
        (
            lift["gate_id"].clone(),
            lift["reason"].clone(),
            lift["actor_label"].clone(),
            lift["lifted_at"].clone()
        ),
        (
            json!("X1"),
            json!("emergency_vehicle"),
            json!("test operator"),
            json!("2026-03-02T00:00:42Z")
        )
    );
    let (status, audit) = send(
        &rig.router,
        admin(
            "GET",
            "/v1/admin/parking/lots/BTH-P/audit",
            Some(&parking),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit["lifts"].as_array().map(Vec::len), Some(1));
    assert_eq!(audit["lifts"][0]["note"], json!("ambulance leaving"));
    // The audit trail cannot be edited.
    let edited = sqlx::query("UPDATE parking.barrier_lift SET reason = 'maintenance'")
        .execute(&rig.db.pool)
        .await;
    assert!(edited.is_err());
}

#[tokio::test]
async fn an_occupancy_correction_sets_the_count_and_records_what_it_replaced() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    rig.rider("04a1b2c3", 20_000).await;
    let token = rig.admin_key(&["parking"]).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let path = "/v1/admin/parking/lots/BTH-P/occupancy";

    let (status, reply) = send(
        &rig.router,
        admin("POST", path, Some(&token), Some(json!({"counted": 451}))),
    )
    .await;
    assert_eq!(
        (status, reply["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("above_capacity"))
    );
    let (status, reply) = send(
        &rig.router,
        admin("POST", path, Some(&token), Some(json!({"counted": -1}))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(rig.occupied("BTH-P").await, Some(1));

    let (status, reply) = send(
        &rig.router,
        admin(
            "POST",
            path,
            Some(&token),
            Some(json!({"counted": 37, "note": "morning count"})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        (reply["counted"].clone(), reply["previous"].clone()),
        (json!(37), json!(1))
    );
    assert_eq!(rig.occupied("BTH-P").await, Some(37));
    let (_, audit) = send(
        &rig.router,
        admin(
            "GET",
            "/v1/admin/parking/lots/BTH-P/audit",
            Some(&token),
            None,
        ),
    )
    .await;
    assert_eq!(audit["corrections"][0]["note"], json!("morning count"));
    assert_eq!(audit["corrections"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_lost_ticket_closes_the_stay_once_and_charges_the_stay_and_the_fee() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    rig.link_plate(account, "59X1-234.56").await;
    let token = rig.admin_key(&["parking"]).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, plate("59X1-234.56")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));

    rig.at(T0_S + 3 * HOUR_S);
    let body = json!({"lot_id": "BTH-P", "plate": "59-x1 234.56", "gate_id": "X1"});
    let (status, reply) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/stays/lost-ticket",
            Some(&token),
            Some(body.clone()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // 3 hours at BTH-P (4,000) plus the lot's lost-ticket fee (8,000),
    // both taken from the wallet by the engine's lost-ticket exit.
    assert_eq!(
        (
            reply["decision"].clone(),
            reply["amount_vnd"].clone(),
            reply["fee_vnd"].clone(),
            reply["lost_ticket_fee_vnd"].clone(),
            reply["balance_vnd"].clone(),
        ),
        (
            json!("accept"),
            json!(12_000),
            json!(4_000),
            json!(8_000),
            json!(8_000)
        )
    );
    assert_eq!(reply["stay"]["exit_source"], json!("lost_ticket"));
    assert_eq!(reply["stay"]["fee_vnd"], json!(4_000));
    assert_eq!(reply["stay"]["lost_ticket_fee_vnd"], json!(8_000));
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
    assert_eq!(rig.balance(account).await, 8_000);
    // The same request by plate again: the plate has no open stay any more.
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/stays/lost-ticket",
            Some(&token),
            Some(body.clone()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(rig.balance(account).await, 8_000);
    // Found by id this time: the same stay, already closed — the first
    // result again, nothing charged twice.
    let stay_id = reply["stay"]["stay_id"].clone();
    let again =
        json!({"lot_id": "BTH-P", "stay_id": stay_id, "plate": "59-x1 234.56", "gate_id": "X1"});
    let (status, repeat) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/stays/lost-ticket",
            Some(&token),
            Some(again),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{repeat}");
    assert_eq!(repeat["amount_vnd"], json!(12_000));
    assert_eq!(repeat["stay"], reply["stay"]);
    // Another closing of the same stay (another gate) is a conflict.
    let other = json!({"lot_id": "BTH-P", "stay_id": stay_id, "gate_id": "X2"});
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/stays/lost-ticket",
            Some(&token),
            Some(other),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(rig.balance(account).await, 8_000);
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/stays/lost-ticket",
            Some(&token),
            Some(json!({"lot_id": "BTH-P", "plate": "not a plate"})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_lost_ticket_by_stay_id_is_charged_once_and_recorded_for_settlement() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c4", 10_000).await;
    let token = rig.admin_key(&["parking"]).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04a1b2c4")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let stay_id = ParkingStore::new(rig.db.pool.clone())
        .current_stay(account)
        .await
        .expect("read")
        .expect("the stay is open")
        .stay_id;

    // 13 hours: two started blocks (8,000) plus the lost-ticket fee
    // (8,000), from a 10,000 wallet: the vehicle leaves, the wallet goes
    // negative, as at an exit gate.
    rig.at(T0_S + 13 * HOUR_S);
    let body = json!({"lot_id": "BTH-P", "stay_id": stay_id, "gate_id": "X1"});
    let lost = |body: serde_json::Value| {
        admin(
            "POST",
            "/v1/admin/parking/stays/lost-ticket",
            Some(&token),
            Some(body),
        )
    };
    let (status, first) = send(&rig.router, lost(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (
            first["amount_vnd"].clone(),
            first["fee_vnd"].clone(),
            first["lost_ticket_fee_vnd"].clone(),
            first["balance_vnd"].clone()
        ),
        (json!(16_000), json!(8_000), json!(8_000), json!(-6_000))
    );
    // A retry (a lost connection, a double click), also later: the first
    // answer, charged once, the counter moved once.
    rig.at(T0_S + 14 * HOUR_S);
    let (status, again) = send(&rig.router, lost(body)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["amount_vnd"], first["amount_vnd"]);
    assert_eq!(again["stay"], first["stay"]);
    assert_eq!(rig.balance(account).await, -6_000);
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
    // A gate exit after the stay was closed finds no stay.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(2, card("04a1b2c4")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("no_open_stay"));

    // Postgres records the lost-ticket exit as its own kind, with what it
    // charged, so settlement posts both fees and a rebuild gives the same
    // balance.
    rig.ingest().await;
    assert_eq!(
        rig.events(account).await,
        [
            ("top_up".to_owned(), -10_000),
            ("park_in".to_owned(), 0),
            ("park_out_lost_ticket".to_owned(), 16_000)
        ]
    );
    let rebuilt = rig
        .terminals
        .projection()
        .rebuild(account)
        .await
        .expect("rebuild");
    assert_eq!(rebuilt.balance.as_vnd(), -6_000);
    assert_eq!(rebuilt.open_stay, None);
}

#[tokio::test]
async fn the_overstay_job_flags_old_open_stays_once() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    rig.rider("04000001", 20_000).await;
    rig.rider("04000002", 20_000).await;
    let token = rig.admin_key(&["parking"]).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04000001")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    rig.at(T0_S + 2 * 24 * HOUR_S);
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(2, card("04000002")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));

    let after = parking_service::jobs::OVERSTAY_AFTER_S;
    let now = time(T0_S + after + 60);
    let flagged = parking_service::jobs::flag_overstays_once(&rig.parking, now, after)
        .await
        .expect("job");
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].entered_at, time(T0_S));
    assert!(
        parking_service::jobs::flag_overstays_once(&rig.parking, now, after)
            .await
            .expect("job")
            .is_empty()
    );
    let (status, report) = send(
        &rig.router,
        admin("GET", "/v1/admin/parking/overstays", Some(&token), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report.as_array().map(Vec::len), Some(1));
    assert_eq!(
        report[0]["overstay_flagged_at"],
        json!("2026-03-05T00:01:00Z")
    );
    let store = ParkingStore::new(rig.db.pool.clone());
    assert!(store.overstays().await.expect("read")[0].open);
}

#[tokio::test]
async fn an_operator_links_a_plate_in_any_spelling_once() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    let other = rig.rider("04a1b2c4", 20_000).await;
    let token = rig.admin_key(&["parking"]).await;
    let link = |account: ledger::AccountId, plate: &str| {
        admin(
            "POST",
            "/v1/admin/parking/plates",
            Some(&token),
            Some(json!({"account_id": account.as_uuid(), "plate": plate})),
        )
    };
    let (status, reply) = send(&rig.router, link(account, "59-x1\n234.56")).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["plate"], json!("59X1-234.56"));
    let (status, reply) = send(&rig.router, link(other, "59X1 23456")).await;
    assert_eq!(
        (status, reply["code"].clone()),
        (StatusCode::CONFLICT, json!("plate_linked"))
    );
    let (status, _) = send(&rig.router, link(other, "59X12345")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(
        &rig.router,
        link(
            ledger::AccountId::new(uuid::Uuid::now_v7()).expect("id"),
            "51A-123.45",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The camera's reading opens the gate for the account.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, plate("59X1-23456")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let stay = ParkingStore::new(rig.db.pool.clone())
        .current_stay(account)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(stay.plate.as_deref(), Some("59X1-234.56"));
}

#[tokio::test]
async fn seeding_twice_changes_nothing_and_a_new_tariff_is_a_new_version() {
    let rig = Rig::new().await;
    let again = parking_service::seed(&rig.parking, time(T0_S + 60))
        .await
        .expect("seed");
    assert_eq!(again, store_pg::parking::Seeded::default());
    assert_eq!(rig.count("SELECT count(*) FROM parking.site").await, 4);
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.tariff_version")
            .await,
        4
    );
    assert_eq!(rig.count("SELECT count(*) FROM parking.gate").await, 10);
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.right_spec WHERE kind = 'park_and_ride'")
            .await,
        3
    );
    let store = ParkingStore::new(rig.db.pool.clone());
    let mut seed = rig.parking.lots().seeds()[0].clone();
    seed.tariffs[0].lost_ticket_fee_vnd += 1_000;
    let changed = store
        .seed_site(&seed, time(T0_S + 120))
        .await
        .expect("seed");
    assert_eq!(changed.new_tariff_versions, 1);
    let site = store
        .site(&seed.site_id, time(T0_S + 180))
        .await
        .expect("read")
        .expect("site");
    let tariff = site.classes[0].tariff.clone().expect("a tariff in force");
    assert_eq!(
        (tariff.valid_from, tariff.lost_ticket_fee_vnd),
        (time(T0_S + 120), 9_000)
    );
    let before = store
        .site(&seed.site_id, time(T0_S + 100))
        .await
        .expect("read")
        .expect("site");
    assert_eq!(
        before.classes[0]
            .tariff
            .clone()
            .map(|t| t.lost_ticket_fee_vnd),
        Some(8_000)
    );
}
