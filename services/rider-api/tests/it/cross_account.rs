//! No cross-account access: every route that takes an id, tried by another
//! rider with the first rider's ids, answers 404 — exactly like an id that
//! does not exist — and changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::app;

#[tokio::test]
async fn another_riders_ids_are_not_found_and_nothing_changes() {
    let app = app().await;
    let alice = app.rider("0914000001").await;
    let mallory = app.rider("0914000002").await;
    // Alice's ids: a medium, a top-up, a pass purchase.
    let medium = app
        .post(
            "/v1/me/media",
            Some(&alice.token),
            &json!({"kind": "transit_card", "value": "04a22b1c"}),
        )
        .await;
    assert_eq!(medium.status, StatusCode::CREATED);
    let medium_id = medium.body["medium_id"].as_str().expect("an id").to_owned();
    let (topup_id, _) = app.top_up(&alice, 100_000).await;
    let purchase = app
        .post_idem(
            "/v1/me/passes",
            &alice.token,
            "p1",
            &json!({"product_id": "metro_day"}),
        )
        .await;
    assert_eq!(purchase.status, StatusCode::CREATED, "{}", purchase.body);
    let purchase_id = purchase.body["purchase_id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let snapshot = |app: &crate::support::TestApp| {
        let pool = app.db.pool.clone();
        async move {
            let row: (i64, i64, i64, i64, String) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM rider.medium WHERE status = 'active'), \
                 (SELECT count(*) FROM rider.topup), (SELECT count(*) FROM rider.pass_purchase), \
                 (SELECT count(*) FROM ledger.transfer), \
                 (SELECT string_agg(status, ',' ORDER BY topup_id) FROM rider.topup)",
            )
            .fetch_one(&pool)
            .await
            .expect("reads");
            row
        }
    };
    let before = snapshot(&app).await;
    let alice_wallet = app.balance(&alice).await;

    // Every id-bearing route, with Alice's ids, as Mallory.
    let table: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, format!("/v1/me/media/{medium_id}/lost"), None),
        (Method::GET, format!("/v1/me/topups/{topup_id}"), None),
        (Method::GET, format!("/v1/me/receipts/{topup_id}"), None),
        (Method::GET, format!("/v1/me/receipts/{purchase_id}"), None),
    ];
    for (method, path, body) in &table {
        let reply = app
            .send(
                method.clone(),
                path,
                Some(&mallory.token),
                &[],
                body.as_ref().map(|b| b.to_string().into()),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
        // Indistinguishable from an id that does not exist.
        let unknown = path
            .replace(&medium_id, &Uuid::new_v4().to_string())
            .replace(&topup_id, &Uuid::new_v4().to_string())
            .replace(&purchase_id, &Uuid::new_v4().to_string());
        let reply_unknown = app
            .send(method.clone(), &unknown, Some(&mallory.token), &[], None)
            .await;
        assert_eq!(reply_unknown.status, reply.status, "{unknown}");
        assert_eq!(
            reply_unknown.body["detail"], reply.body["detail"],
            "{unknown}"
        );
    }
    // Mallory's own lists do not show Alice's things.
    let media = app.get("/v1/me/media", Some(&mallory.token)).await;
    assert_eq!(media.body["items"], json!([]));
    let transactions = app
        .get("/v1/me/wallet/transactions", Some(&mallory.token))
        .await;
    assert_eq!(transactions.body["items"], json!([]));
    assert_eq!(app.balance(&mallory).await, (0, 0));

    assert_eq!(snapshot(&app).await, before);
    assert_eq!(app.balance(&alice).await, alice_wallet);
    // And Alice still reaches her own.
    for (method, path, _) in &table {
        if *method == Method::GET {
            assert_eq!(
                app.send(method.clone(), path, Some(&alice.token), &[], None)
                    .await
                    .status,
                StatusCode::OK,
                "{path}"
            );
        }
    }
    app.finish().await;
}
