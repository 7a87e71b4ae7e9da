//! The ParkAPI v3 feed through HTTP: statuses from the live counters
//! (open, full, unknown when stale, closed), one site by uid, caching
//! headers and the per-client rate limit.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use parking_service::FeedSettings;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::*;

fn get(path: &str, client: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("x-forwarded-for", format!("203.0.113.9, {client}"))
        .body(Body::empty())
        .expect("request")
}

fn item<'a>(list: &'a Value, uid: &str) -> &'a Value {
    list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["uid"] == json!(uid)))
        .unwrap_or_else(|| panic!("no item {uid} in {list}"))
}

#[tokio::test]
async fn the_feed_reports_open_full_unknown_and_closed() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    rig.rider("04a1b2c3", 20_000).await;
    let token = rig.admin_key(&["parking"]).await;

    // Before any gate counted: no live data yet.
    let (status, list) = send(&rig.router, get("/v1/parking/sites", "198.51.100.1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total_count"], json!(4));
    let bth = item(&list, "BTH-P");
    assert_eq!(
        (
            bth["status"].clone(),
            bth["realtime_opening_status"].clone()
        ),
        (json!("unknown"), json!("UNKNOWN"))
    );
    assert_eq!(
        (
            bth["purpose"].clone(),
            bth["capacity"].clone(),
            bth["park_and_ride_type"].clone()
        ),
        (json!("MOTORCYCLE"), json!(450), json!(["TRAIN"]))
    );
    assert_eq!(
        (bth["lat"].clone(), bth["lon"].clone()),
        (json!("10.772200"), json!("106.698100"))
    );
    assert_eq!(item(&list, "D1-CAR")["purpose"], json!("CAR"));

    // One vehicle in: open, 449 free, source time = the entry.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let (_, site) = send(&rig.router, get("/v1/parking/sites/BTH-P", "198.51.100.1")).await;
    assert_eq!(
        (
            site["status"].clone(),
            site["realtime_free_capacity"].clone(),
            site["realtime_data_updated_at"].clone()
        ),
        (json!("open"), json!(449), json!("2026-03-02T00:00:00Z"))
    );
    // Counted full.
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/lots/BTH-P/occupancy",
            Some(&token),
            Some(json!({"counted": 450})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, site) = send(&rig.router, get("/v1/parking/sites/BTH-P", "198.51.100.1")).await;
    assert_eq!(
        (
            site["status"].clone(),
            site["realtime_free_capacity"].clone(),
            site["realtime_opening_status"].clone()
        ),
        (json!("full"), json!(0), json!("OPEN"))
    );
    // Six minutes without a gate or a check: unknown, and no free count.
    rig.at(T0_S + 6 * 60);
    let (_, site) = send(&rig.router, get("/v1/parking/sites/BTH-P", "198.51.100.1")).await;
    assert_eq!(
        (site["status"].clone(), site.get("realtime_free_capacity")),
        (json!("unknown"), None)
    );
    // The counter check (it disagrees: 450 counted, 1 open stay) does not
    // make a drifted counter fresh; a correction to the truth does, and then
    // the check keeps it fresh.
    parking_service::jobs::check_counters_once(&rig.parking)
        .await
        .expect("check");
    let (_, site) = send(&rig.router, get("/v1/parking/sites/BTH-P", "198.51.100.1")).await;
    assert_eq!(site["status"], json!("unknown"));
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/lots/BTH-P/occupancy",
            Some(&token),
            Some(json!({"counted": 1})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    rig.at(T0_S + 12 * 60);
    parking_service::jobs::check_counters_once(&rig.parking)
        .await
        .expect("check");
    let (_, site) = send(&rig.router, get("/v1/parking/sites/BTH-P", "198.51.100.1")).await;
    assert_eq!(
        (
            site["status"].clone(),
            site["realtime_free_capacity"].clone()
        ),
        (json!("open"), json!(449))
    );
    // Closed by the operator: closed, and entries are refused.
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/lots/BTH-P/status",
            Some(&token),
            Some(json!({"status": "closed"})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, site) = send(&rig.router, get("/v1/parking/sites/BTH-P", "198.51.100.1")).await;
    assert_eq!(
        (
            site["status"].clone(),
            site["realtime_opening_status"].clone()
        ),
        (json!("closed"), json!("CLOSED"))
    );
    rig.rider("04a1b2c4", 20_000).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(2, card("04a1b2c4")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("lot_full"));

    let (status, reply) = send(&rig.router, get("/v1/parking/sites/NOPE", "198.51.100.1")).await;
    assert_eq!(
        (status, reply["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
}

#[tokio::test]
async fn the_feed_is_cached_and_rate_limited_per_client() {
    let rig = Rig::with_feed(FeedSettings {
        rate_per_minute: 60,
        burst: 2,
        ..feed_settings()
    })
    .await;
    let response = rig
        .router
        .clone()
        .oneshot(get("/v1/parking/sites", "198.51.100.7"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=10")
    );
    let (status, _) = send(&rig.router, get("/v1/parking/sites", "198.51.100.7")).await;
    assert_eq!(status, StatusCode::OK);
    let response = rig
        .router
        .clone()
        .oneshot(get("/v1/parking/sites", "198.51.100.7"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Another client is not affected.
    let (status, _) = send(&rig.router, get("/v1/parking/sites", "198.51.100.8")).await;
    assert_eq!(status, StatusCode::OK);
}
