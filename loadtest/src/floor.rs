//! The floor server: the bare tap server the service is measured against —
//! HTTP/1.1, the terminal's HMAC signature checked, the tap decoded, one
//! commit script on Redis (raw mode's, [`RawDriver::commit_tap`]), a fixed
//! JSON answer — and nothing else: no registry, no medium resolution, no
//! pricing, no request metrics or logs, no stream ingest. (`GET /metrics`
//! gives its process CPU, for `compare`'s CPU a tap.)
//!
//! `compare --floor-url` runs the generator's service mode against it in
//! each pair, so one run shows both how far the machine's HTTP floor is
//! from raw Redis and how far the service is from that floor.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use card_protocol::messages::{Medium, Tap, decode};
use card_protocol::request_auth::{
    AuthHeaders, HEADER_SIGNATURE, HEADER_TERMINAL, HEADER_TIMESTAMP, MasterKey, RequestParts,
    TerminalKey, derive_terminal_key, verify_request,
};
use store_redis::ConnectionManager;

use crate::raw::RawDriver;
use crate::service::unix_now_s;
use crate::workload::{Workload, card_uid};

/// The answer to an accepted tap (fixed: the floor prices nothing).
pub const ACCEPTED: &str = r#"{"decision":"accept"}"#;

/// The floor server's state.
pub struct Floor {
    driver: Arc<RawDriver>,
    redis: ConnectionManager,
    master: MasterKey,
    keys: RwLock<HashMap<String, TerminalKey>>,
    cards: HashMap<String, u32>,
}

impl Floor {
    /// A floor committing through `driver` (its layout: a prefix of its
    /// own), checking signatures under `master`, knowing `workload`'s cards.
    #[must_use]
    pub fn new(
        driver: Arc<RawDriver>,
        redis: ConnectionManager,
        master: MasterKey,
        workload: &Workload,
    ) -> Floor {
        let cards = (0..workload.cards())
            .map(|n| (card_uid(n).as_str().to_owned(), n))
            .collect();
        Floor {
            driver,
            redis,
            master,
            keys: RwLock::new(HashMap::new()),
            cards,
        }
    }

    fn key(&self, parsed: &AuthHeaders) -> TerminalKey {
        let id = parsed.terminal_id.as_str();
        if let Some(key) = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return key.clone();
        }
        let key = derive_terminal_key(&self.master, &parsed.terminal_id);
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), key.clone());
        key
    }
}

/// `POST /v1/taps` (and the parking gates' paths) on the floor.
pub fn router(floor: Arc<Floor>) -> Router {
    // The parking gates' paths too: a mix with parkers sends there, and the
    // floor does for them what it does for a tap (HMAC over the path, one
    // script).
    Router::new()
        .route(crate::workload::TAPS_PATH, post(tap))
        .route(crate::workload::PARKING_ENTRIES_PATH, post(tap))
        .route(crate::workload::PARKING_EXITS_PATH, post(tap))
        .route("/metrics", get(metrics))
        .with_state(floor)
}

/// `GET /metrics`: the process metrics only, so `compare` reads the floor
/// server's CPU a tap as it reads the service's.
async fn metrics() -> Response {
    let mut text = String::new();
    if let Some(stats) = service_kit::process::read_self() {
        service_kit::process::render(&stats, &mut text);
    }
    (
        [(header::CONTENT_TYPE, service_kit::health::PROMETHEUS_TEXT)],
        text,
    )
        .into_response()
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn tap(
    State(floor): State<Arc<Floor>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(parsed) = AuthHeaders::parse(
        text(&headers, HEADER_TERMINAL),
        text(&headers, HEADER_TIMESTAMP),
        text(&headers, HEADER_SIGNATURE),
    ) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let key = floor.key(&parsed);
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path_and_query().map_or("/", |p| p.as_str()),
        body: &body,
    };
    if verify_request(&key, &parsed, &parts, unix_now_s()).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(tap) = decode::<Tap>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let card = match &tap.medium {
        Medium::TransitCard { card_id } => floor.cards.get(card_id.as_str()).copied(),
        _ => None,
    };
    let Some(card) = card else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let mut redis = store_redis::affinity::on_this_thread(&floor.redis);
    let (_, ok) = floor
        .driver
        .commit_tap(
            &mut redis,
            card,
            tap.terminal_id.as_str(),
            tap.boot_epoch,
            tap.seq,
        )
        .await;
    if ok {
        ([(header::CONTENT_TYPE, "application/json")], ACCEPTED).into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}
