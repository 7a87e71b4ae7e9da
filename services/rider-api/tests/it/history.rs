//! Trips, parking stays and receipts from the account's recorded events,
//! newest first, with cursors that visit every item once.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use fares::engine::{Event, EventKind};
use projection::{EventKey, RequestHash};
use rider_api::clock::Clock;
use serde_json::{Value, json};

use crate::support::{Session, TestApp, app, t0};

/// Records an event as the projection's stream ingest would.
async fn record(
    app: &TestApp,
    rider: &Session,
    version: i64,
    kind: &str,
    at: DateTime<Utc>,
    fields: Value,
) {
    let text = |name: &str| fields[name].as_str().map(str::to_owned);
    sqlx::query(
        "INSERT INTO rider.account_event (account_id, version, event_key, kind, event_time, \
         service_day, route_id, station_id, lot_id, category_id, top_up_vnd, amount_vnd, \
         balance_vnd, reason, config_id, decided_at) \
         VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, 'test', $5)",
    )
    .bind(&rider.account_id)
    .bind(version)
    .bind(format!("test:{}:{version}", rider.account_id))
    .bind(kind)
    .bind(at)
    .bind((at + Duration::hours(3)).date_naive())
    .bind(text("route"))
    .bind(text("station"))
    .bind(text("lot"))
    .bind(text("category"))
    .bind(fields["top_up"].as_i64())
    .bind(fields["amount"].as_i64().unwrap_or(0))
    .bind(text("reason"))
    .execute(&app.db.pool)
    .await
    .expect("the event is recorded");
}

/// Records the rider's day as settled, as the settlement job does once it
/// has posted it (amounts are not what this test is about).
async fn settle_day(app: &TestApp, rider: &Session, day: &str) {
    sqlx::query(
        "INSERT INTO settlement.account_day (account_id, service_day, input_digest, event_count, \
         carry, carry_digest, provisional_vnd, settled_vnd, rider_debits_vnd, operator_credits_vnd, \
         penalties_vnd, platform_fees_vnd, pass_sales_vnd, pass_recognitions_vnd, adjustments_vnd, \
         rounds, settled_at) VALUES ($1::uuid, $2::date, $3, 0, '{}', $3, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
         1, now())",
    )
    .bind(&rider.account_id)
    .bind(day)
    .bind([0u8; 32].as_slice())
    .execute(&app.db.pool)
    .await
    .expect("the day is recorded as settled");
}

fn summary(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            format!(
                "{} {} {}",
                t["mode"]
                    .as_str()
                    .or(t["lot_id"].as_str())
                    .unwrap_or_default(),
                t["status"].as_str().unwrap_or_default(),
                t["fare_vnd"]
                    .as_i64()
                    .or(t["fee_vnd"].as_i64())
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn trips_pair_metro_taps_and_pages_cover_everything_once() {
    let app = app().await;
    let rider = app.rider("0919000001").await;
    let m = |minutes: i64| t0() + Duration::minutes(minutes);
    record(
        &app,
        &rider,
        1,
        "top_up",
        m(0),
        json!({"top_up": 100_000, "amount": -100_000}),
    )
    .await;
    record(
        &app,
        &rider,
        2,
        "bus",
        m(5),
        json!({"route": "19", "category": "adult", "amount": 6_000}),
    )
    .await;
    record(
        &app,
        &rider,
        3,
        "metro_in",
        m(40),
        json!({"station": "BTH", "category": "adult", "amount": 19_000}),
    )
    .await;
    record(
        &app,
        &rider,
        4,
        "metro_out",
        m(62),
        json!({"station": "BXS", "amount": -6_000}),
    )
    .await;
    record(&app, &rider, 5, "park_in", m(70), json!({"lot": "BXS-P"})).await;
    record(
        &app,
        &rider,
        6,
        "park_out",
        m(190),
        json!({"lot": "BXS-P", "amount": 4_000}),
    )
    .await;
    record(
        &app,
        &rider,
        7,
        "metro_in",
        m(200),
        json!({"station": "BTH", "category": "adult", "amount": 19_000}),
    )
    .await;
    record(
        &app,
        &rider,
        8,
        "metro_in",
        m(500),
        json!({"station": "TDI", "category": "adult", "amount": 19_000}),
    )
    .await;
    record(
        &app,
        &rider,
        9,
        "metro_out",
        m(800),
        json!({"station": "BTH", "reason": "incomplete_journey"}),
    )
    .await;

    let all = app.get("/v1/me/trips", Some(&rider.token)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(
        summary(&all.body),
        [
            "metro incomplete 19000",
            "metro incomplete 19000",
            "metro completed 13000",
            "bus completed 6000"
        ]
    );
    assert_eq!(all.body["next_cursor"], json!(null));
    let completed = &all.body["items"][2];
    assert_eq!(completed["from_station"], json!("BTH"));
    assert_eq!(completed["to_station"], json!("BXS"));
    assert_eq!(completed["fare_status"], json!("provisional"));

    // Page by one: the same trips, each once, in the same order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/me/trips?limit=1&cursor={c}"),
            None => "/v1/me/trips?limit=1".to_owned(),
        };
        let page = app.get(&path, Some(&rider.token)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        paged.extend(summary(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, summary(&all.body));

    let stays = app.get("/v1/me/parking-stays", Some(&rider.token)).await;
    assert_eq!(summary(&stays.body), ["BXS-P closed 4000"]);
    assert_eq!(stays.body["items"][0]["fee_status"], json!("provisional"));

    // Settlement posts the day: what it saw is settled; a late tap is not.
    settle_day(&app, &rider, "2026-03-02").await;
    record(
        &app,
        &rider,
        10,
        "bus",
        m(900),
        json!({"route": "19", "category": "adult", "amount": 6_000}),
    )
    .await;
    let all = app.get("/v1/me/trips", Some(&rider.token)).await;
    let statuses: Vec<&str> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["fare_status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["provisional", "settled", "settled", "settled", "settled"]
    );
    let stays = app.get("/v1/me/parking-stays", Some(&rider.token)).await;
    assert_eq!(stays.body["items"][0]["fee_status"], json!("settled"));
    // A cursor of one list is refused by another.
    let trip_cursor = app
        .get("/v1/me/trips?limit=1", Some(&rider.token))
        .await
        .body["next_cursor"]
        .clone();
    let wrong = app
        .get(
            &format!(
                "/v1/me/wallet/transactions?cursor={}",
                trip_cursor.as_str().unwrap_or_default()
            ),
            Some(&rider.token),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another rider sees none of it.
    let other = app.rider("0919000002").await;
    assert_eq!(
        app.get("/v1/me/trips", Some(&other.token)).await.body["items"],
        json!([])
    );
    app.finish().await;
}

#[tokio::test]
async fn a_stay_closed_as_a_lost_ticket_shows_as_closed() {
    let app = app().await;
    let rider = app.rider("0919000005").await;
    let m = |minutes: i64| t0() + Duration::minutes(minutes);
    record(&app, &rider, 1, "park_in", m(10), json!({"lot": "BTH-P"})).await;
    record(
        &app,
        &rider,
        2,
        "park_out_lost_ticket",
        m(130),
        json!({"lot": "BTH-P", "amount": 12_000}),
    )
    .await;
    record(&app, &rider, 3, "park_in", m(140), json!({"lot": "BTH-P"})).await;
    let stays = app.get("/v1/me/parking-stays", Some(&rider.token)).await;
    assert_eq!(stays.status, StatusCode::OK, "{}", stays.body);
    assert_eq!(summary(&stays.body), ["BTH-P open 0", "BTH-P closed 12000"]);
    app.finish().await;
}

#[tokio::test]
async fn an_open_metro_trip_shows_as_open() {
    let app = app().await;
    let rider = app.rider("0919000003").await;
    app.top_up(&rider, 50_000).await;
    let account = ledger::AccountId::new(rider.account_id.parse().expect("a uuid")).expect("an id");
    let engine = app.state_engine();
    let at = app.clock.now();
    let key = EventKey::parse("tap:T1:1:1").expect("a key");
    let applied = app
        .projection()
        .apply(projection::project::Change {
            account,
            key: &key,
            hash: RequestHash::of(b"tap"),
            event: Event {
                at: at.fixed_offset(),
                kind: EventKind::MetroIn {
                    station: engine.station("BTH").expect("a station"),
                    category: engine.category("adult").expect("a category"),
                },
            },
            occupancy: None,
            tap: None,
            now: at,
        })
        .await
        .expect("applied");
    assert_eq!(applied.reply.amount_vnd, 19_000);
    record(
        &app,
        &rider,
        2,
        "metro_in",
        at,
        json!({"station": "BTH", "category": "adult", "amount": 19_000}),
    )
    .await;
    let trips = app.get("/v1/me/trips", Some(&rider.token)).await;
    assert_eq!(summary(&trips.body), ["metro open 19000"]);
    let wallet = app.get("/v1/me/wallet", Some(&rider.token)).await;
    assert_eq!(wallet.body["balance_vnd"], json!(31_000));
    assert_eq!(wallet.body["metro_trip_open"], json!(true));
    app.finish().await;
}

#[tokio::test]
async fn a_top_up_has_a_receipt() {
    let app = app().await;
    let rider = app.rider("0919000004").await;
    let (topup_id, params) = app.top_up(&rider, 70_000).await;
    let receipt = app
        .get(&format!("/v1/me/receipts/{topup_id}"), Some(&rider.token))
        .await;
    assert_eq!(receipt.status, StatusCode::OK);
    assert_eq!(receipt.body["kind"], json!("top_up"));
    assert_eq!(receipt.body["status"], json!("succeeded"));
    assert_eq!(receipt.body["amount_vnd"], json!(70_000));
    assert_eq!(
        receipt.body["provider_transaction"],
        json!(params["vnp_TransactionNo"])
    );
    app.finish().await;
}
