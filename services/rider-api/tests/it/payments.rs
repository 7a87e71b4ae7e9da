//! Top-ups end to end through the sandbox provider, and the IPN's defences:
//! forged, tampered, replayed and concurrent callbacks credit nothing more.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use http_body_util::BodyExt;
use rider_api::vnpay::{self, Merchant};
use serde_json::json;
use tower::ServiceExt;

use crate::support::{PUBLIC_URL, Session, TestApp, app, unsigned};

/// The ledger transfers crediting the rider's wallet.
async fn credits(app: &TestApp, rider: &Session) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger.transfer WHERE credit_account_id = $1::uuid")
        .bind(&rider.account_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("counts")
}

#[tokio::test]
async fn a_sandbox_top_up_credits_the_wallet_and_the_return_page_says_so() {
    let app = app().await;
    let rider = app.rider("0913000001").await;
    assert_eq!(app.balance(&rider).await, (0, 0));
    let (topup_id, params) = app.top_up(&rider, 150_000).await;
    assert_eq!(app.balance(&rider).await, (150_000, 150_000));
    assert_eq!(credits(&app, &rider).await, 1);
    let order = app
        .get(&format!("/v1/me/topups/{topup_id}"), Some(&rider.token))
        .await;
    assert_eq!(order.body["status"], json!("succeeded"));
    assert_eq!(order.body["payment_url"], json!(null));
    let query = app.signed_query(&app.merchant, &unsigned(&params));
    let shown = app
        .get(&format!("/v1/payments/vnpay/return?{query}"), None)
        .await;
    assert_eq!(shown.body["status"], json!("succeeded"), "{}", shown.body);
    assert_eq!(shown.body["amount_vnd"], json!(150_000));
    // A return page with a forged signature shows nothing.
    let forged = app.signed_query(&Merchant::new("OTSANDBX", b"forger"), &unsigned(&params));
    let shown = app
        .get(&format!("/v1/payments/vnpay/return?{forged}"), None)
        .await;
    assert_eq!(shown.body["status"], json!("invalid"));
    // The wallet transaction list shows the credit.
    let list = app
        .get("/v1/me/wallet/transactions", Some(&rider.token))
        .await;
    assert_eq!(list.body["items"][0]["code"], json!("top_up"));
    assert_eq!(list.body["items"][0]["direction"], json!("in"));
    assert_eq!(list.body["items"][0]["amount_vnd"], json!(150_000));
    app.finish().await;
}

#[tokio::test]
async fn a_cancelled_payment_fails_the_order_and_credits_nothing() {
    let app = app().await;
    let rider = app.rider("0913000002").await;
    let order = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "k1",
            &json!({"amount_vnd": 50_000}),
        )
        .await;
    let url = order.body["payment_url"].as_str().expect("a URL");
    let path = url.strip_prefix(PUBLIC_URL).expect("ours");
    let paid = app.get(&format!("{path}&outcome=cancel"), None).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER);
    assert_eq!(paid.header("x-sandbox-ipn-rspcode"), Some("00"));
    let topup_id = order.body["topup_id"].as_str().expect("an id");
    let order = app
        .get(&format!("/v1/me/topups/{topup_id}"), Some(&rider.token))
        .await;
    assert_eq!(order.body["status"], json!("failed"));
    assert_eq!(app.balance(&rider).await, (0, 0));
    app.finish().await;
}

#[tokio::test]
async fn forged_tampered_and_unknown_callbacks_change_nothing() {
    let app = app().await;
    let rider = app.rider("0913000003").await;
    let order = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "k1",
            &json!({"amount_vnd": 100_000}),
        )
        .await;
    let txn_ref = order.body["topup_id"]
        .as_str()
        .expect("an id")
        .replace('-', "");
    let good: BTreeMap<String, String> = [
        ("vnp_Amount", "10000000"),
        ("vnp_BankCode", "NCB"),
        ("vnp_OrderInfo", "Nap vi"),
        ("vnp_PayDate", "20260302080100"),
        ("vnp_ResponseCode", "00"),
        ("vnp_TmnCode", "OTSANDBX"),
        ("vnp_TransactionNo", "777"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_TxnRef", txn_ref.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let edit = |name: &str, value: &str| {
        let mut p = good.clone();
        p.insert(name.to_owned(), value.to_owned());
        p
    };
    let forger = Merchant::new("OTSANDBX", b"a guess at the secret");
    let signed = app.signed_query(&app.merchant, &good);
    let cases: Vec<(String, &str)> = vec![
        (app.signed_query(&forger, &good), "97"),
        // Signed, then the amount changed in transit.
        (
            signed.replace("vnp_Amount=10000000", "vnp_Amount=99900000"),
            "97",
        ),
        (vnpay::signed_text(&good), "97"),
        (String::new(), "97"),
        ("vnp_Amount=%zz".to_owned(), "97"),
        (
            app.signed_query(
                &app.merchant,
                &edit("vnp_TxnRef", "ffffffffffffffffffffffffffffffff"),
            ),
            "01",
        ),
        (
            app.signed_query(&app.merchant, &edit("vnp_Amount", "100")),
            "04",
        ),
        (
            app.signed_query(&app.merchant, &edit("vnp_TmnCode", "OTHERTMN")),
            "99",
        ),
    ];
    for (query, expected) in &cases {
        assert_eq!(app.ipn(query).await, *expected, "{query}");
    }
    assert_eq!(app.balance(&rider).await, (0, 0));
    assert_eq!(credits(&app, &rider).await, 0);
    let status = app
        .get(
            &format!(
                "/v1/me/topups/{}",
                order.body["topup_id"].as_str().unwrap_or_default()
            ),
            Some(&rider.token),
        )
        .await;
    assert_eq!(status.body["status"], json!("pending"));
    // The genuine callback still works afterwards, once.
    assert_eq!(app.ipn(&signed).await, "00");
    assert_eq!(app.ipn(&signed).await, "02");
    // POSTed as a form, the same callback is the same replay.
    let posted = app
        .send(
            Method::POST,
            "/v1/payments/vnpay/ipn",
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(signed.clone().into()),
        )
        .await;
    assert_eq!(posted.body["RspCode"], json!("02"));
    // Another transaction number for the same order is refused too.
    assert_eq!(
        app.ipn(&app.signed_query(&app.merchant, &edit("vnp_TransactionNo", "778")))
            .await,
        "02"
    );
    assert_eq!(app.balance(&rider).await, (100_000, 100_000));
    assert_eq!(credits(&app, &rider).await, 1);
    app.finish().await;
}

#[tokio::test]
async fn a_replayed_ipn_credits_once() {
    let app = app().await;
    let rider = app.rider("0913000004").await;
    let (_, params) = app.top_up(&rider, 20_000).await;
    let query = app.signed_query(&app.merchant, &unsigned(&params));
    for _ in 0..3 {
        assert_eq!(app.ipn(&query).await, "02");
    }
    assert_eq!(app.balance(&rider).await, (20_000, 20_000));
    assert_eq!(credits(&app, &rider).await, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ipns_credit_once() {
    let app = app().await;
    let rider = app.rider("0913000005").await;
    let order = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "k1",
            &json!({"amount_vnd": 30_000}),
        )
        .await;
    let txn_ref = order.body["topup_id"]
        .as_str()
        .expect("an id")
        .replace('-', "");
    let params: BTreeMap<String, String> = [
        ("vnp_Amount", "3000000"),
        ("vnp_ResponseCode", "00"),
        ("vnp_TmnCode", "OTSANDBX"),
        ("vnp_TransactionNo", "4242"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_TxnRef", txn_ref.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let query = app.signed_query(&app.merchant, &params);
    // Four deliveries at once, on separate tasks of a multi-threaded runtime.
    let calls = (0..4).map(|_| {
        let router = app.router.clone();
        let uri = format!("/v1/payments/vnpay/ipn?{query}");
        tokio::spawn(async move {
            let request = axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .expect("a request");
            let response = router.oneshot(request).await.expect("infallible");
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("a body")
                .to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            body["RspCode"].as_str().unwrap_or_default().to_owned()
        })
    });
    let codes: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("the task finishes"))
        .collect();
    assert!(codes.iter().all(|c| c == "00" || c == "02"), "{codes:?}");
    assert!(codes.iter().any(|c| c == "00"), "{codes:?}");
    assert_eq!(app.balance(&rider).await, (30_000, 30_000));
    assert_eq!(credits(&app, &rider).await, 1);
    app.finish().await;
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer_and_refuse_other_requests() {
    let app = app().await;
    let rider = app.rider("0913000006").await;
    let first = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "same-key",
            &json!({"amount_vnd": 40_000}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    // Same key, same request (even spelled differently): the same order.
    let again = app
        .send(
            Method::POST,
            "/v1/me/topups",
            Some(&rider.token),
            &[("idempotency-key", "same-key")],
            Some("{ \"amount_vnd\" : 40000 }".into()),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // Same key, another amount: refused.
    let other = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "same-key",
            &json!({"amount_vnd": 50_000}),
        )
        .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );
    // A first answer that was an error is replayed too.
    let small = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "small",
            &json!({"amount_vnd": 1}),
        )
        .await;
    assert_eq!(
        (small.status, small.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let small_again = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "small",
            &json!({"amount_vnd": 1}),
        )
        .await;
    assert_eq!(small_again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(small_again.header("idempotent-replayed"), Some("true"));
    assert_eq!(small_again.code(), "validation_failed");
    // A replayed problem carries this request's id, like any other.
    assert_eq!(
        small_again.body["request_id"].as_str(),
        small_again.header("x-request-id")
    );
    // Keys belong to one rider: another rider's same key is their own.
    let other_rider = app.rider("0913000007").await;
    let theirs = app
        .post_idem(
            "/v1/me/topups",
            &other_rider.token,
            "same-key",
            &json!({"amount_vnd": 40_000}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["topup_id"], first.body["topup_id"]);
    // No key, or a bad one: 400, nothing made.
    let before = app.count("rider.topup").await;
    let none = app
        .post(
            "/v1/me/topups",
            Some(&rider.token),
            &json!({"amount_vnd": 40_000}),
        )
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::BAD_REQUEST, "idempotency_key_required")
    );
    let bad = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            &"k".repeat(256),
            &json!({"amount_vnd": 40_000}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "idempotency_key_invalid")
    );
    assert_eq!(app.count("rider.topup").await, before);
    assert_eq!(before, 2);
    app.finish().await;
}

#[tokio::test]
async fn the_payment_url_is_signed_for_the_amount_asked() {
    let app = app().await;
    let rider = app.rider("0913000008").await;
    let order = app
        .post_idem(
            "/v1/me/topups",
            &rider.token,
            "k",
            &json!({"amount_vnd": 12_345}),
        )
        .await;
    let url = order.body["payment_url"].as_str().expect("a URL");
    let (base, query) = url.split_once('?').expect("a query");
    assert_eq!(base, format!("{PUBLIC_URL}/sandbox/vnpay/pay"));
    let params = vnpay::parse_query(query).expect("valid");
    assert_eq!(params["vnp_Amount"], "1234500");
    assert_eq!(params["vnp_Version"], "2.1.0");
    assert_eq!(params["vnp_Command"], "pay");
    assert_eq!(params["vnp_CurrCode"], "VND");
    assert_eq!(params["vnp_IpAddr"], "198.51.100.1");
    assert_eq!(
        params["vnp_ReturnUrl"],
        format!("{PUBLIC_URL}/v1/payments/vnpay/return")
    );
    assert!(app.merchant.verifies(&params, &params[vnpay::SECURE_HASH]));
    // The sandbox refuses a request whose amount was changed.
    let path = url
        .strip_prefix(PUBLIC_URL)
        .expect("ours")
        .replace("vnp_Amount=1234500", "vnp_Amount=100");
    let refused = app.get(&path, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.balance(&rider).await, (0, 0));
    app.finish().await;
}
