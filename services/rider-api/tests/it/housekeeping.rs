//! Housekeeping deletes idempotency records past their retention and
//! sessions long ended, and nothing younger.

use axum::http::{Method, StatusCode};
use chrono::Duration;
use rider_api::worker::{ENDED_SESSION_RETENTION_S, IDEMPOTENCY_RETENTION_S, run_once};
use serde_json::json;

use crate::support::app;

#[tokio::test]
async fn old_records_go_and_recent_ones_stay() {
    let app = app().await;
    let old = app.rider("0920000001").await;
    let order = app
        .post_idem(
            "/v1/me/topups",
            &old.token,
            "old-key",
            &json!({"amount_vnd": 20_000}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED);
    let out = app
        .send(
            Method::DELETE,
            "/v1/sessions/current",
            Some(&old.token),
            &[],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    // Past both retentions, a new rider makes fresh rows.
    app.clock.advance(Duration::seconds(
        IDEMPOTENCY_RETENTION_S.max(ENDED_SESSION_RETENTION_S) + 60,
    ));
    let fresh = app.rider("0920000002").await;
    let order = app
        .post_idem(
            "/v1/me/topups",
            &fresh.token,
            "new-key",
            &json!({"amount_vnd": 20_000}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED);
    assert_eq!(app.count("rider.idempotency_record").await, 2);
    assert_eq!(app.count("rider.session").await, 2);
    run_once(&app.state).await;
    assert_eq!(app.count("rider.idempotency_record").await, 1);
    assert_eq!(app.count("rider.session").await, 1);
    // The survivor is the fresh rider's, still working.
    assert_eq!(
        app.get("/v1/me", Some(&fresh.token)).await.status,
        StatusCode::OK
    );
    // Orders are receipts: housekeeping never touches them.
    assert_eq!(app.count("rider.topup").await, 2);
    app.finish().await;
}
