//! Every error path comes out as problem+json with a stable code, including axum's own
//! rejections, timeouts and panics.

use axum::http::StatusCode;

use crate::support::{
    TEST_MAX_BODY_BYTES, UPLOAD_MAX_BODY_BYTES, app, assert_problem, get, post, send,
};

/// Sends `request` through the layered test router and checks the problem's status and code.
async fn check(
    request: axum::http::Request<axum::body::Body>,
    status: StatusCode,
    code: &str,
) -> (crate::support::Reply, serde_json::Value) {
    let reply = send(app(), request).await;
    let body = assert_problem(&reply, status, code);
    (reply, body)
}

#[tokio::test]
async fn malformed_json_is_400_malformed_json() {
    let (_, body) = check(
        post("/echo", Some("application/json"), "{\"amount_vnd\": "),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("JSON")),
        "{body}"
    );
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422_invalid_body() {
    check(
        post("/echo", Some("application/json"), r#"{"amount_vnd":"ten"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn a_missing_or_wrong_content_type_is_415() {
    check(
        post("/echo", None, r#"{"amount_vnd":1}"#),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    check(
        post("/echo", Some("text/plain"), r#"{"amount_vnd":1}"#),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let padding = "x".repeat(TEST_MAX_BODY_BYTES);
    let oversized = format!(r#"{{"amount_vnd":1,"pad":"{padding}"}}"#);
    check(
        post("/echo", Some("application/json"), oversized),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn a_router_may_raise_its_own_body_limit() {
    let fits_upload = format!(r#"{{"pad":"{}"}}"#, "x".repeat(TEST_MAX_BODY_BYTES));
    let reply = send(
        app(),
        post("/upload", Some("application/json"), fits_upload),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    let too_big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(UPLOAD_MAX_BODY_BYTES));
    check(
        post("/upload", Some("application/json"), too_big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn a_valid_body_passes_through() {
    let reply = send(
        app(),
        post("/echo", Some("application/json"), r#"{"amount_vnd":12000}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({ "amount_vnd": 12000 }));
}

#[tokio::test]
async fn an_unknown_route_is_404() {
    let (_, body) = check(get("/no/such/route"), StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/no/such/route")),
        "{body}"
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let (reply, _) = check(
        get("/echo"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn internal_errors_hide_their_cause() {
    let (reply, body) = check(
        get("/internal"),
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    )
    .await;
    let text = String::from_utf8_lossy(&reply.body);
    assert!(!text.contains("disk on fire"), "{text}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("request id")),
        "{body}"
    );
}

#[tokio::test]
async fn a_panicking_handler_is_500_internal() {
    let (reply, _) = check(get("/panic"), StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    let text = String::from_utf8_lossy(&reply.body);
    assert!(!text.contains("deliberate"), "{text}");
}

#[tokio::test]
async fn a_slow_handler_is_abandoned_with_503_request_timeout() {
    let started = std::time::Instant::now();
    check(
        get("/slow"),
        StatusCode::SERVICE_UNAVAILABLE,
        "request_timeout",
    )
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn rate_limited_carries_retry_after() {
    let (reply, _) = check(get("/rate"), StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(reply.header("retry-after"), Some("7"));
}

#[tokio::test]
async fn validation_lists_the_fields() {
    let (_, body) = check(
        get("/validation"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        body["errors"],
        serde_json::json!([{ "field": "amount_vnd", "message": "must be positive" }])
    );
}

#[tokio::test]
async fn services_define_their_own_codes() {
    let (_, body) = check(get("/conflict"), StatusCode::CONFLICT, "insufficient_funds").await;
    assert_eq!(body["title"], "Insufficient funds");
    assert_eq!(body["detail"], "balance 0 VND");
}

#[tokio::test]
async fn a_bare_error_status_becomes_a_problem() {
    check(get("/bare"), StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_bad_path_parameter_is_400_invalid_path() {
    let reply = send(app(), get("/accounts/42")).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (StatusCode::OK, &b"42"[..])
    );
    check(
        get("/accounts/forty-two"),
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
}

#[tokio::test]
async fn a_bad_query_string_is_400_invalid_query() {
    let reply = send(app(), get("/search?limit=5")).await;
    assert_eq!((reply.status, &reply.body[..]), (StatusCode::OK, &b"5"[..]));
    let (_, body) = check(
        get("/search?limit=-1"),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("limit")),
        "{body}"
    );
    check(get("/search"), StatusCode::BAD_REQUEST, "invalid_query").await;
}
