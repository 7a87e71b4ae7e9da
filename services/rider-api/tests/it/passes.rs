//! The pass catalogue priced for the rider's category, and buying from the
//! wallet through the projection.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::accounts::admin_key;
use crate::support::app;

fn prices(catalog: &Value) -> Vec<(String, i64)> {
    catalog["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["product_id"].as_str().unwrap_or_default().to_owned(),
                i["price_vnd"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_catalogue_follows_the_verified_category() {
    let app = app().await;
    let student = app.rider_with("0917000001", Some("student")).await;
    let catalog = app.get("/v1/passes", Some(&student.token)).await;
    assert_eq!(catalog.status, StatusCode::OK);
    assert_eq!(catalog.body["category"], json!("adult"));
    let adult_prices = prices(&catalog.body);
    assert_eq!(
        adult_prices,
        [
            ("metro_3day".to_owned(), 90_000),
            ("metro_day".to_owned(), 40_000),
            ("metro_month".to_owned(), 300_000)
        ]
    );
    let key = admin_key(&app, &["riders"]).await;
    let decided = app
        .post(
            &format!("/v1/admin/riders/{}/category", student.account_id),
            Some(&key),
            &json!({"category": "student", "status": "verified"}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK);
    let catalog = app.get("/v1/passes", Some(&student.token)).await;
    assert_eq!(catalog.body["category"], json!("student"));
    let month = prices(&catalog.body)
        .into_iter()
        .find(|(id, _)| id == "metro_month");
    assert_eq!(month, Some(("metro_month".to_owned(), 150_000)));
    app.finish().await;
}

#[tokio::test]
async fn buying_a_pass_takes_its_price_once_and_needs_the_funds() {
    let app = app().await;
    let rider = app.rider("0917000002").await;
    // Nothing in the wallet: refused with a stable code, nothing bought.
    let broke = app
        .post_idem(
            "/v1/me/passes",
            &rider.token,
            "p0",
            &json!({"product_id": "metro_day"}),
        )
        .await;
    assert_eq!(
        (broke.status, broke.code()),
        (StatusCode::CONFLICT, "insufficient_funds"),
        "{}",
        broke.body
    );
    assert_eq!(app.count("rider.pass_purchase").await, 0);

    app.top_up(&rider, 100_000).await;
    let bought = app
        .post_idem(
            "/v1/me/passes",
            &rider.token,
            "p1",
            &json!({"product_id": "metro_3day"}),
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    assert_eq!(bought.body["price_vnd"], json!(90_000));
    assert_eq!(bought.body["balance_vnd"], json!(10_000));
    // 08:00 on 2 March is service day 2 March; three days of validity.
    assert_eq!(bought.body["first_day"], json!("2026-03-02"));
    assert_eq!(bought.body["last_day"], json!("2026-03-04"));
    // The same key again: the same purchase, no second charge.
    let again = app
        .post_idem(
            "/v1/me/passes",
            &rider.token,
            "p1",
            &json!({"product_id": "metro_3day"}),
        )
        .await;
    assert_eq!(again.body, bought.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // The wallet shows the spendable balance and the pass; the ledger has
    // not moved (settlement posts the sale when it settles the day).
    let wallet = app.get("/v1/me/wallet", Some(&rider.token)).await;
    assert_eq!(wallet.body["balance_vnd"], json!(10_000));
    assert_eq!(wallet.body["ledger_balance_vnd"], json!(100_000));
    assert_eq!(
        wallet.body["passes"],
        json!([{"product_id": "metro_3day", "first_day": "2026-03-02", "last_day": "2026-03-04"}])
    );
    // Not enough left for another.
    let short = app
        .post_idem(
            "/v1/me/passes",
            &rider.token,
            "p2",
            &json!({"product_id": "metro_day"}),
        )
        .await;
    assert_eq!(
        (short.status, short.code()),
        (StatusCode::CONFLICT, "insufficient_funds")
    );
    let unknown = app
        .post_idem(
            "/v1/me/passes",
            &rider.token,
            "p3",
            &json!({"product_id": "metro_decade"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(app.count("rider.pass_purchase").await, 1);
    // The receipt.
    let receipt = app
        .get(
            &format!(
                "/v1/me/receipts/{}",
                bought.body["purchase_id"].as_str().unwrap_or_default()
            ),
            Some(&rider.token),
        )
        .await;
    assert_eq!(receipt.body["kind"], json!("pass_purchase"));
    assert_eq!(receipt.body["amount_vnd"], json!(90_000));
    assert_eq!(receipt.body["valid_until"], json!("2026-03-04"));
    app.finish().await;
}
