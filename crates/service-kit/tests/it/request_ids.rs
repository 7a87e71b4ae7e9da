//! Request ids are echoed when sane, generated (UUIDv7) otherwise, and reach handlers.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use service_kit::request_id::MAX_REQUEST_ID_LEN;

use crate::support::{app, get, send};

fn get_with_id(uri: &str, id: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-request-id", id)
        .body(Body::empty())
        .expect("valid request")
}

/// Sends `/id` with `incoming` as X-Request-Id; `expected` is the id that must come back,
/// or `None` when a fresh UUIDv7 must replace it.
async fn check(incoming: Option<&str>, expected: Option<&str>) {
    let request = match incoming {
        Some(id) => get_with_id("/id", id),
        None => get("/id"),
    };
    let reply = send(app(), request).await;
    assert_eq!(reply.status, StatusCode::OK);
    let header = reply
        .header("x-request-id")
        .expect("request id header")
        .to_owned();
    // The handler saw the same id as the client.
    assert_eq!(String::from_utf8_lossy(&reply.body), header);
    match expected {
        Some(id) => assert_eq!(header, id),
        None => {
            let uuid = uuid::Uuid::parse_str(&header).expect("a generated id is a UUID");
            assert_eq!(uuid.get_version_num(), 7, "{header}");
            if let Some(incoming) = incoming {
                assert_ne!(header, incoming);
            }
        }
    }
}

#[tokio::test]
async fn a_sane_incoming_id_is_echoed() {
    check(Some("lb-7f3a:42"), Some("lb-7f3a:42")).await;
}

#[tokio::test]
async fn a_missing_id_is_generated() {
    check(None, None).await;
}

#[tokio::test]
async fn an_unsafe_or_overlong_id_is_replaced() {
    check(Some("a b"), None).await;
    check(Some("x\"}{"), None).await;
    check(Some(&"a".repeat(MAX_REQUEST_ID_LEN + 1)), None).await;
}
