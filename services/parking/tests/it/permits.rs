//! Monthly permits: sold from the wallet by an operator through the fare
//! engine, recorded as rights, and honoured at the exit gates.

use axum::http::StatusCode;
use serde_json::{Value, json};
use store_pg::parking::ParkingStore;
use uuid::Uuid;

use crate::support::*;

const PERMITS: &str = "/v1/admin/parking/permits";

fn issue(token: &str, body: Value) -> axum::http::Request<axum::body::Body> {
    admin("POST", PERMITS, Some(token), Some(body))
}

/// Enters BTH-P at the rig's clock and leaves `stay_h` hours later.
async fn park(rig: &Rig, card_id: &str, seq: u64, stay_h: i64) -> Value {
    let now_s = i64::try_from(rig.clock.now_s()).expect("a 2026 time");
    let (_, reply) = gate(
        rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(seq, card(card_id)),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0), "{reply}");
    rig.at(now_s + stay_h * HOUR_S);
    let (_, reply) = gate(
        rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(seq, card(card_id)),
    )
    .await;
    reply
}

#[tokio::test]
async fn a_permit_holder_leaves_free_and_a_non_holder_pays() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let holder = rig.rider("04b00001", 150_000).await;
    let other = rig.rider("04b00002", 150_000).await;
    let token = rig.admin_key(&["parking"]).await;
    let permit_id = Uuid::now_v7();
    let body = json!({
        "permit_id": permit_id,
        "account_id": holder.as_uuid(),
        "product_id": "parking_month_motorbike",
        "plate": "59-x1 234.56",
    });

    let (status, sold) = send(&rig.router, issue(&token, body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{sold}");
    assert_eq!(
        (
            sold["price_vnd"].clone(),
            sold["balance_vnd"].clone(),
            sold["first_day"].clone(),
            sold["last_day"].clone()
        ),
        (
            json!(100_000),
            json!(50_000),
            json!("2026-03-02"),
            json!("2026-03-31")
        )
    );
    let lots: Vec<&str> = sold["rights"]
        .as_array()
        .expect("rights")
        .iter()
        .filter_map(|r| r["lot_id"].as_str())
        .collect();
    assert_eq!(lots, ["BTH-P", "BXS-P", "TDI-P"]);
    // Valid from 04:00 on the day of purchase to 04:00 after its 30th day,
    // for the vehicle named (recorded in canonical form).
    assert_eq!(
        sold["rights"][0]["valid_from"],
        json!("2026-03-01T21:00:00Z")
    );
    assert_eq!(
        sold["rights"][0]["valid_until"],
        json!("2026-03-31T21:00:00Z")
    );
    assert_eq!(sold["rights"][0]["kind"], json!("monthly_permit"));
    assert!(sold["rights"][0]["plate"].is_string());
    assert_eq!(rig.balance(holder).await, 50_000);

    // The holder's 3-hour stay is free; the other rider's costs 4,000.
    let reply = park(&rig, "04b00001", 1, 3).await;
    assert_eq!(verdict(&reply), accepted(0), "{reply}");
    rig.at(T0_S);
    let reply = park(&rig, "04b00002", 2, 3).await;
    assert_eq!(verdict(&reply), accepted(4_000), "{reply}");
    assert_eq!(rig.balance(holder).await, 50_000);
    assert_eq!(rig.balance(other).await, 146_000);
    // The stay says which permit covered it (and no park and ride).
    let store = ParkingStore::new(rig.db.pool.clone());
    let stays = store.stay_history(holder, None, 10).await.expect("history");
    assert_eq!(
        (
            stays[0].fee_vnd,
            stays[0].permit_id.as_deref(),
            stays[0].park_and_ride
        ),
        (Some(0), Some("parking_month_motorbike"), Some(false))
    );
    let stays = store.stay_history(other, None, 10).await.expect("history");
    assert_eq!(
        (stays[0].fee_vnd, stays[0].permit_id.as_deref()),
        (Some(4_000), None)
    );

    // The same sale again: the first answer, paid once, recorded once.
    let (status, again) = send(&rig.router, issue(&token, body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["rights"], sold["rights"]);
    assert_eq!(again["price_vnd"], json!(100_000));
    assert_eq!(rig.balance(holder).await, 50_000);
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.assigned_right")
            .await,
        3
    );
    // The same id for another sale is a conflict that charges nothing.
    let mut changed = body.clone();
    changed["product_id"] = json!("parking_month_car");
    let (status, reply) = send(&rig.router, issue(&token, changed)).await;
    assert_eq!(
        (status, reply["code"].clone()),
        (StatusCode::CONFLICT, json!("permit_conflict"))
    );
    assert_eq!(rig.balance(holder).await, 50_000);

    // Operators list an account's permits.
    let (status, list) = send(
        &rig.router,
        admin(
            "GET",
            &format!("/v1/admin/parking/accounts/{}/permits", holder.as_uuid()),
            Some(&token),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(3));

    // The sale reaches Postgres as the account's pass purchase, which
    // settlement posts to unearned revenue and recognises to the operator.
    rig.ingest().await;
    let events = rig.events(holder).await;
    assert_eq!(
        events,
        [
            ("top_up".to_owned(), -150_000),
            ("buy_pass".to_owned(), 100_000),
            ("park_in".to_owned(), 0),
            ("park_out".to_owned(), 0)
        ]
    );
}

#[tokio::test]
async fn a_permit_is_refused_below_its_price_and_bad_requests_change_nothing() {
    let rig = Rig::new().await;
    let poor = rig.rider("04b00003", 60_000).await;
    let token = rig.admin_key(&["parking"]).await;
    let terminals = rig.admin_key(&["terminals"]).await;
    let body = |account: Uuid, product: &str| json!({"permit_id": Uuid::now_v7(), "account_id": account, "product_id": product});

    let (status, reply) = send(
        &rig.router,
        issue(&token, body(poor.as_uuid(), "parking_month_motorbike")),
    )
    .await;
    assert_eq!(
        (status, reply["code"].clone()),
        (StatusCode::CONFLICT, json!("insufficient_funds"))
    );
    // A transit pass is not a parking permit; an unknown account is 404;
    // a bad plate is refused; only parking keys may sell.
    let (status, _) = send(
        &rig.router,
        issue(&token, body(poor.as_uuid(), "metro_day")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(
        &rig.router,
        issue(&token, body(Uuid::now_v7(), "parking_month_motorbike")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut bad_plate = body(poor.as_uuid(), "parking_month_motorbike");
    bad_plate["plate"] = json!("not a plate");
    let (status, _) = send(&rig.router, issue(&token, bad_plate)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(
        &rig.router,
        issue(&terminals, body(poor.as_uuid(), "parking_month_motorbike")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            PERMITS,
            None,
            Some(body(poor.as_uuid(), "parking_month_motorbike")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(rig.balance(poor).await, 60_000);
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.assigned_right")
            .await,
        0
    );
    // The configuration's permits are seeded as right specs, one per lot.
    assert_eq!(
        rig.count("SELECT count(*) FROM parking.right_spec WHERE kind = 'monthly_permit'")
            .await,
        4
    );
}
