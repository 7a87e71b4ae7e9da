//! Bad input gets a clear problem and changes nothing: malformed JSON,
//! wrong types, unknown fields, oversized bodies, wrong content types, bad
//! query parameters.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::app;

/// Path, token, extra headers, body, expected status and problem code.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    String,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let app = app().await;
    let rider = app.rider("0915000001").await;
    let counts = || async {
        (
            app.count("rider.account").await,
            app.count("rider.login").await,
            app.count("rider.medium").await,
            app.count("rider.topup").await,
            app.count("rider.idempotency_record").await,
        )
    };
    let before = counts().await;
    let big = format!(
        "{{\"login\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(20_000)
    );
    let cases: Vec<Case> = vec![
        (
            "/v1/accounts",
            None,
            vec![],
            "{\"login\": ".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "/v1/accounts",
            None,
            vec![],
            json!({"login": 912, "password": "correct horse"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/accounts",
            None,
            vec![],
            json!({"login": "0915000002", "password": "correct horse", "admin": true}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/accounts",
            None,
            vec![],
            json!({"login": "0915000002", "password": "short"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/v1/accounts",
            None,
            vec![("content-type", "text/plain")],
            json!({"login": "0915000002", "password": "correct horse"}).to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "/v1/accounts",
            None,
            vec![],
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "/v1/me/media",
            Some(&rider.token),
            vec![],
            json!({"kind": "passport", "value": "x"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/me/media",
            Some(&rider.token),
            vec![],
            json!({"kind": "transit_card", "value": "nothex!!"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "/v1/me/topups",
            Some(&rider.token),
            vec![("idempotency-key", "a")],
            json!({"amount_vnd": "lots"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/me/topups",
            Some(&rider.token),
            vec![("idempotency-key", "b")],
            json!({"amount_vnd": 50_000, "bonus": 1}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/me/topups",
            Some(&rider.token),
            vec![("idempotency-key", "c")],
            json!({"amount_vnd": 1.5}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (path, token, headers, body, status, code) in cases {
        let reply = app
            .send(
                Method::POST,
                path,
                token,
                &headers,
                Some(body.clone().into()),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{path} {}",
            &body[..body.len().min(80)]
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
    }
    // Out-of-range amounts are validation failures (stored as the key's answer).
    for (key, amount) in [("d", 9_999), ("e", 2_000_001), ("f", -5)] {
        let reply = app
            .post_idem(
                "/v1/me/topups",
                &rider.token,
                key,
                &json!({"amount_vnd": amount}),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{amount}"
        );
    }
    let after = counts().await;
    assert_eq!(
        (after.0, after.1, after.2, after.3),
        (before.0, before.1, before.2, before.3)
    );
    app.finish().await;
}

#[tokio::test]
async fn bad_paths_and_queries_are_refused() {
    let app = app().await;
    let rider = app.rider("0915000003").await;
    let check = |method: Method, path: &str, expected: (StatusCode, &'static str)| {
        let (app, token, path) = (&app, rider.token.clone(), path.to_owned());
        async move {
            let reply = app.send(method, &path, Some(&token), &[], None).await;
            assert_eq!(
                (reply.status, reply.code()),
                expected,
                "{path}: {}",
                reply.body
            );
        }
    };
    check(
        Method::GET,
        "/v1/me/topups/not-a-uuid",
        (StatusCode::BAD_REQUEST, "invalid_path"),
    )
    .await;
    check(
        Method::POST,
        "/v1/me/media/123/lost",
        (StatusCode::BAD_REQUEST, "invalid_path"),
    )
    .await;
    check(
        Method::GET,
        "/v1/me/trips?limit=0",
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    )
    .await;
    check(
        Method::GET,
        "/v1/me/trips?limit=abc",
        (StatusCode::BAD_REQUEST, "invalid_query"),
    )
    .await;
    check(
        Method::GET,
        "/v1/me/trips?cursor=bogus",
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    )
    .await;
    check(
        Method::GET,
        "/v1/me/trips?sort=asc",
        (StatusCode::BAD_REQUEST, "invalid_query"),
    )
    .await;
    check(
        Method::GET,
        "/v1/nowhere",
        (StatusCode::NOT_FOUND, "not_found"),
    )
    .await;
    check(
        Method::PATCH,
        "/v1/me",
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    )
    .await;
    app.finish().await;
}
