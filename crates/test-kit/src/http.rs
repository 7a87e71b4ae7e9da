//! Router tests: requests signed as a terminal signs them, and answers read
//! back as JSON.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use card_protocol::TerminalId;
use card_protocol::request_auth::{
    HEADER_SIGNATURE, HEADER_TERMINAL, HEADER_TIMESTAMP, MasterKey, RequestParts,
    derive_terminal_key, sign_request,
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A JSON request signed by terminal `terminal` at `at_s` (unix seconds)
/// with the key derived from `master` (card protocol §4).
///
/// # Panics
/// On a malformed terminal id or master key: test input.
#[must_use]
pub fn signed_request(
    master: &[u8; 32],
    method: &str,
    path: &str,
    terminal: &str,
    body: &[u8],
    at_s: u64,
) -> Request<Body> {
    let id = TerminalId::parse(terminal).expect("terminal id");
    let key = derive_terminal_key(&MasterKey::new(master).expect("master"), &id);
    let signature =
        sign_request(&key, &RequestParts { method, path, body }, at_s, &id).expect("sign");
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header(HEADER_TERMINAL, terminal)
        .header(HEADER_TIMESTAMP, at_s.to_string())
        .header(HEADER_SIGNATURE, signature)
        .body(Body::from(body.to_vec()))
        .expect("request")
}

/// Sends `request` through `router`: the status and the body as JSON
/// (`Null` when empty, a string when it is not JSON).
///
/// # Panics
/// When the router or the body fails: a test failure.
pub async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, json)
}
