//! Shared test fixtures: a router exercising every error path, a request helper for
//! `oneshot`, and a minimal HTTP/1.1 client for tests over real sockets.

use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing;
use serde::{Deserialize, Serialize};
use service_kit::problem::{PROBLEM_JSON, PROBLEM_TYPE_BASE};
use service_kit::{ApiError, FieldError, HttpLimits, Json, Path, ProblemType, Query, RequestId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// Short, so the timeout test is quick, yet far above what the other handlers take even on
/// a loaded CI machine.
pub const TEST_REQUEST_TIMEOUT_MS: u64 = 1_000;
/// Small, so an oversized body is easy to build.
pub const TEST_MAX_BODY_BYTES: usize = 256;
/// The larger limit of the `/upload` router, to show a per-router override.
pub const UPLOAD_MAX_BODY_BYTES: usize = 1024;
/// The message of the deliberate panic; the test panic hook keeps it off stderr.
pub const DELIBERATE_PANIC: &str = "deliberate test panic";

pub const INSUFFICIENT_FUNDS: ProblemType =
    ProblemType::new("insufficient_funds", "Insufficient funds");

#[derive(Debug, Serialize, Deserialize)]
pub struct Echo {
    pub amount_vnd: i64,
}

#[derive(Debug, Deserialize)]
pub struct Search {
    pub limit: u32,
}

pub fn limits() -> HttpLimits {
    HttpLimits {
        request_timeout: Duration::from_millis(TEST_REQUEST_TIMEOUT_MS),
        max_body_bytes: TEST_MAX_BODY_BYTES,
    }
}

/// Every route a test needs, before the common layers.
pub fn routes() -> Router {
    let upload = Router::new()
        .route(
            "/upload",
            routing::post(|Json(v): Json<serde_json::Value>| async move { Json(v) }),
        )
        .layer(DefaultBodyLimit::max(UPLOAD_MAX_BODY_BYTES));
    Router::new()
        .route(
            "/echo",
            routing::post(|Json(e): Json<Echo>| async move { Json(e) }),
        )
        .route("/internal", routing::get(internal))
        .route(
            "/quiet",
            routing::get(|| async { "ok" }).layer(service_kit::layers::quiet_when_ok()),
        )
        .route(
            "/quiet/answer",
            routing::get(|| async { service_kit::layers::Quiet("ok") }),
        )
        .route(
            "/quiet/answer/refused",
            routing::get(|| async { service_kit::layers::Quiet((StatusCode::FORBIDDEN, "no")) }),
        )
        .route(
            "/quiet/refused",
            routing::get(|| async { StatusCode::FORBIDDEN })
                .layer(service_kit::layers::quiet_when_ok()),
        )
        .route(
            "/quiet/slow",
            routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(
                    service_kit::layers::SLOW_REQUEST_MS + 50,
                ))
                .await;
                "late"
            })
            .layer(service_kit::layers::quiet_when_ok()),
        )
        .route("/panic", routing::get(panics))
        .route(
            "/slow",
            routing::get(|| async { tokio::time::sleep(Duration::from_secs(30)).await }),
        )
        .route(
            "/rate",
            routing::get(|| async { ApiError::RateLimited { retry_after_s: 7 } }),
        )
        .route("/validation", routing::get(validation))
        .route(
            "/conflict",
            routing::get(|| async { ApiError::conflict(INSUFFICIENT_FUNDS, "balance 0 VND") }),
        )
        .route("/bare", routing::get(|| async { StatusCode::FORBIDDEN }))
        .route(
            "/id",
            routing::get(|id: RequestId| async move { id.to_string() }),
        )
        .route("/probe", routing::get(|| async { "ok" }))
        .route(
            "/accounts/{account_id}",
            routing::get(|Path(id): Path<u64>| async move { id.to_string() }),
        )
        .route(
            "/search",
            routing::get(|Query(q): Query<Search>| async move { q.limit.to_string() }),
        )
        .merge(upload)
}

/// The test router with service-kit's fallbacks and layers.
pub fn app() -> Router {
    service_kit::layers::apply(routes(), limits())
}

async fn internal() -> Result<(), ApiError> {
    Err(ApiError::internal(std::io::Error::other("disk on fire")))
}

async fn panics() -> &'static str {
    silence_deliberate_panics();
    panic!("{DELIBERATE_PANIC}");
}

async fn validation() -> ApiError {
    ApiError::validation(
        "The top-up is invalid.",
        vec![FieldError::new("amount_vnd", "must be positive")],
    )
}

/// Keeps the deliberate panic's message off stderr (tests are silent unless they fail);
/// every other panic still goes to the default hook.
pub fn silence_deliberate_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if message != DELIBERATE_PANIC {
                previous(info);
            }
        }));
    });
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn send(app: Router, request: Request<Body>) -> Reply {
    let response = app.oneshot(request).await.expect("routers are infallible");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("test bodies are readable");
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .body(Body::empty())
        .expect("valid request")
}

pub fn post(uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("valid request")
}

/// Checks that `reply` is a problem+json of `status` and `code` whose `request_id` is the
/// one in the response header; returns the body for further checks.
pub fn assert_problem(reply: &Reply, status: StatusCode, code: &str) -> serde_json::Value {
    assert_eq!(
        reply.status,
        status,
        "body: {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));
    let body = reply.json();
    assert_eq!(body["type"], format!("{PROBLEM_TYPE_BASE}{code}"), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    let header_id = reply
        .header("x-request-id")
        .expect("every response has a request id");
    assert_eq!(body["request_id"], header_id, "{body}");
    body
}

/// A minimal HTTP/1.1 GET over a fresh connection: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}
