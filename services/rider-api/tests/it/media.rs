//! Linking cards and tokens, listing them, and reporting one lost: blocked,
//! and on the deny list in its next version.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::app;

#[tokio::test]
async fn link_list_and_report_lost() {
    let app = app().await;
    let rider = app.rider("0916000001").await;
    let other = app.rider("0916000002").await;
    let card = app
        .post(
            "/v1/me/media",
            Some(&rider.token),
            &json!({"kind": "transit_card", "value": "04A2 2B1C 9F5E 80"}),
        )
        .await;
    assert_eq!(card.status, StatusCode::CREATED, "{}", card.body);
    assert_eq!(card.body["kind"], json!("transit_card"));
    assert_eq!(card.body["status"], json!("active"));
    assert_eq!(card.body["value_hint"], json!("••••••••••5e80"));
    app.clock.advance(chrono::Duration::seconds(1));
    let token = app
        .post(
            "/v1/me/media",
            Some(&rider.token),
            &json!({"kind": "bank_card", "value": "tok_4111111111111111"}),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED);
    // The same card cannot open a second account.
    let taken = app
        .post(
            "/v1/me/media",
            Some(&other.token),
            &json!({"kind": "transit_card", "value": "04a22b1c9f5e80"}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "medium_taken")
    );
    let list = app.get("/v1/me/media", Some(&rider.token)).await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["medium_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            card.body["medium_id"].as_str().unwrap_or_default(),
            token.body["medium_id"].as_str().unwrap_or_default()
        ]
    );

    let deny_before: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM transit.deny_list_change")
            .fetch_one(&app.db.pool)
            .await
            .expect("reads");
    let path = format!(
        "/v1/me/media/{}/lost",
        card.body["medium_id"].as_str().unwrap_or_default()
    );
    let lost = app.post(&path, Some(&rider.token), &json!({})).await;
    assert_eq!(lost.status, StatusCode::OK, "{}", lost.body);
    assert_eq!(lost.body["medium"]["status"], json!("blocked"));
    let version = lost.body["deny_list_version"]
        .as_i64()
        .expect("a deny-list version");
    assert!(version > deny_before);
    let on_list: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM transit.deny_list_entry WHERE entry_value = '04a22b1c9f5e80')",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("reads");
    assert!(on_list);
    // Reporting again changes nothing.
    let again = app.post(&path, Some(&rider.token), &json!({})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["deny_list_version"], json!(null));
    let deny_after: i64 = sqlx::query_scalar("SELECT max(version) FROM transit.deny_list_change")
        .fetch_one(&app.db.pool)
        .await
        .expect("reads");
    assert_eq!(deny_after, version);
    // Once blocked, the card may be linked again (a found card, a new account).
    let relinked = app
        .post(
            "/v1/me/media",
            Some(&other.token),
            &json!({"kind": "transit_card", "value": "04a22b1c9f5e80"}),
        )
        .await;
    assert_eq!(relinked.status, StatusCode::CREATED);
    app.finish().await;
}

#[tokio::test]
async fn an_account_holds_a_bounded_number_of_active_media() {
    let app = app().await;
    let rider = app.rider("0916000003").await;
    let max = rider_api::routes::media::MAX_ACTIVE_MEDIA;
    for n in 0..max {
        let reply = app
            .post(
                "/v1/me/media",
                Some(&rider.token),
                &json!({"kind": "transit_card", "value": format!("{n:08x}")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let over = app
        .post(
            "/v1/me/media",
            Some(&rider.token),
            &json!({"kind": "transit_card", "value": "ffffffff"}),
        )
        .await;
    assert_eq!(over.status, StatusCode::CONFLICT);
    assert_eq!(app.count("rider.medium").await, max);
    app.finish().await;
}
