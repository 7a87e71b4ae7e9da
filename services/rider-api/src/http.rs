//! HTTP helpers shared by the routes: the client's IP address, the
//! `Idempotency-Key` header and the replay of first answers, opaque page
//! cursors, and the problem+json schema the OpenAPI document refers to.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use ring::digest::{SHA256, digest};
use serde::Serialize;
use service_kit::problem::types;
use service_kit::{ApiError, FieldError, RequestId};
use store_pg::idempotency::Begin;
use utoipa::ToSchema;

use crate::auth::Rider;
use crate::problems;
use crate::settings::ClientIpSource;
use crate::state::AppState;

/// The header naming a money-moving request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on an answer replayed from the first request with the same key.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest `Idempotency-Key`, bytes: a UUID or a ULID with room to spare.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// A claimed key whose request has not answered after this long is taken
/// to be dead and may be claimed again, seconds: twelve times the default
/// request timeout (10 s), so no live request is ever overtaken.
pub const IDEMPOTENCY_STALE_AFTER_S: i64 = 120;
/// The most items one page of history returns.
pub const MAX_PAGE_ITEMS: u32 = 100;
/// Items per page when the client does not say.
pub const DEFAULT_PAGE_ITEMS: u32 = 20;

/// The client's address, when known (see `OT_TRUST_FORWARDED_FOR`).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = match state.settings.client_ip {
            // Our proxy appends the address it saw: the last entry is the
            // only one a client cannot forge.
            ClientIpSource::ForwardedFor => parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|last| last.trim().parse::<IpAddr>().ok()),
            ClientIpSource::Peer => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        };
        Ok(ClientIp(ip))
    }
}

/// The `Idempotency-Key` of a money-moving request: 1 to 255 visible ASCII
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(IDEMPOTENCY_KEY_HEADER).ok_or_else(|| {
            ApiError::bad_request(
                problems::IDEMPOTENCY_KEY_REQUIRED,
                "Send an Idempotency-Key header (e.g. a fresh UUID) with every request that moves money; repeat it to retry safely.",
            )
        })?;
        let valid = !value.is_empty()
            && value.len() <= MAX_IDEMPOTENCY_KEY_BYTES
            && value.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b));
        match value.to_str() {
            Ok(text) if valid => Ok(IdempotencyKey(text.to_owned())),
            _ => Err(ApiError::bad_request(
                problems::IDEMPOTENCY_KEY_INVALID,
                format!(
                    "An Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII characters."
                ),
            )),
        }
    }
}

/// Which money-moving operation a key was used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    TopUp,
    BuyPass,
}

impl Operation {
    const fn as_str(self) -> &'static str {
        match self {
            Operation::TopUp => "top_up",
            Operation::BuyPass => "buy_pass",
        }
    }
}

/// Runs `work` at most once per (rider, key): the first answer (success or
/// a client error) is stored and replayed to every repeat of the same
/// request; the same key with another request is 409
/// `idempotency_key_reused`. A server error stores nothing, so the retry
/// runs again (everything below is idempotent on keys derived from it).
///
/// `canonical` is the request as the handler parsed it, serialised
/// deterministically: the same JSON with keys in another order is the same
/// request.
pub async fn idempotent<F, Fut>(
    state: &AppState,
    rider: Rider,
    request_id: &RequestId,
    key: &IdempotencyKey,
    operation: Operation,
    canonical: &[u8],
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let mut hash = [0u8; 32];
    hash.copy_from_slice(
        digest(
            &SHA256,
            &[operation.as_str().as_bytes(), b"\0", canonical].concat(),
        )
        .as_ref(),
    );
    let begun = state
        .idempotency
        .begin(
            rider.account_id,
            &key.0,
            operation.as_str(),
            &hash,
            state.now(),
            Duration::seconds(IDEMPOTENCY_STALE_AFTER_S),
        )
        .await;
    match begun {
        Err(error) => ApiError::internal(error).into_response(),
        Ok(Begin::Mismatch) => ApiError::conflict(
            problems::IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
        )
        .into_response(),
        Ok(Begin::InProgress) => ApiError::conflict(
            problems::IDEMPOTENCY_IN_PROGRESS,
            "The first request with this Idempotency-Key is still running; retry shortly.",
        )
        .into_response(),
        Ok(Begin::Replay { status, response }) => replay(status, response, request_id),
        Ok(Begin::Started) => {
            let (status, body, problem) = match work().await {
                Ok((status, body)) => (status, body, false),
                Err(error) if error.status().is_client_error() => {
                    let status = error.status();
                    let response = error.into_response();
                    match problem_body(response).await {
                        Some(body) => (status, body, true),
                        None => {
                            let _ = state.idempotency.abandon(rider.account_id, &key.0).await;
                            return ApiError::internal(IdempotencyError("unreadable problem body")).into_response();
                        }
                    }
                }
                Err(error) => {
                    if let Err(abandon) = state.idempotency.abandon(rider.account_id, &key.0).await {
                        tracing::error!(error = %abandon, "could not release an idempotency key");
                    }
                    return error.into_response();
                }
            };
            if let Err(error) = state
                .idempotency
                .complete(rider.account_id, &key.0, status.as_u16(), &body, state.now())
                .await
            {
                // The work is done and idempotent below; a retry redoes the
                // bookkeeping, never the money.
                tracing::error!(%error, "could not store an idempotent answer");
            }
            respond(status, &body, problem, false)
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("idempotency: {0}")]
struct IdempotencyError(&'static str);

async fn problem_body(response: Response) -> Option<serde_json::Value> {
    let bytes = axum::body::to_bytes(response.into_body(), MAX_STORED_PROBLEM_BYTES)
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A problem body is a few hundred bytes; anything bigger is not one.
const MAX_STORED_PROBLEM_BYTES: usize = 16 * 1024;

/// A stored answer again; a stored problem gets this request's id (the
/// first request's id was never stored: the request layer adds it later).
fn replay(status: u16, mut body: serde_json::Value, request_id: &RequestId) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let problem = body.get("code").is_some() && body.get("type").is_some();
    if problem && let Some(fields) = body.as_object_mut() {
        fields.insert(
            "request_id".to_owned(),
            serde_json::Value::from(request_id.to_string()),
        );
    }
    respond(status, &body, problem, true)
}

fn respond(
    status: StatusCode,
    body: &serde_json::Value,
    problem: bool,
    replayed: bool,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if problem {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(service_kit::problem::PROBLEM_JSON),
        );
    }
    if replayed {
        headers.insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Serialises a DTO for [`idempotent`]: the response body it stores.
///
/// # Errors
/// A DTO that does not serialise (a bug) is an internal error.
pub fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// The cursor kinds: a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// Account events (trips, stays), by state version.
    Events,
    /// Wallet transfers, by ledger log position.
    Transfers,
}

impl CursorKind {
    const fn tag(self) -> &'static str {
        match self {
            CursorKind::Events => "ev",
            CursorKind::Transfers => "tr",
        }
    }
}

/// Encodes a position as an opaque cursor.
#[must_use]
pub fn encode_cursor(kind: CursorKind, position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{position}", kind.tag()))
}

/// Decodes a cursor of `kind`.
///
/// # Errors
/// 422 `validation_failed` naming `cursor` when it is not one of ours.
pub fn decode_cursor(kind: CursorKind, cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::validation(
            "The cursor is not valid for this list.",
            vec![FieldError::new(
                "cursor",
                "pass back a next_cursor from this list",
            )],
        )
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let position = text
        .strip_prefix(kind.tag())
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(invalid)?;
    Ok(Some(position))
}

/// The page size asked for, bounded.
///
/// # Errors
/// 422 naming `limit` outside 1..=`MAX_PAGE_ITEMS`.
pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE_ITEMS),
        Some(n) if (1..=MAX_PAGE_ITEMS).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(
            "The page size is out of range.",
            vec![FieldError::new("limit", format!("1 to {MAX_PAGE_ITEMS}"))],
        )),
    }
}

/// An error body (RFC 9457 problem+json) as every error response carries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    /// `https://oneticket.vn/problems/<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The code's human title.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// The stable snake_case code clients branch on.
    pub code: String,
    /// The id to quote to support.
    pub request_id: Option<String>,
    /// Per-field messages of a `validation_failed` problem.
    pub errors: Option<Vec<FieldErrorDoc>>,
}

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorDoc {
    /// The field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A validation failure with one field.
#[must_use]
pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(
        format!("The field `{field}` is invalid."),
        vec![FieldError::new(field, message)],
    )
}

/// A 404 that names nothing (another rider's ids look exactly like unknown ones).
#[must_use]
pub fn not_found(what: &str) -> ApiError {
    ApiError::NotFound {
        kind: types::NOT_FOUND,
        detail: format!("No such {what}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let cursor = encode_cursor(CursorKind::Events, 42);
        assert_eq!(
            decode_cursor(CursorKind::Events, Some(&cursor)).ok(),
            Some(Some(42))
        );
        assert!(decode_cursor(CursorKind::Transfers, Some(&cursor)).is_err());
        assert_eq!(decode_cursor(CursorKind::Events, None).ok(), Some(None));
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("tr:1"),
            &URL_SAFE_NO_PAD.encode("ev:-1"),
            &URL_SAFE_NO_PAD.encode("ev:x"),
        ] {
            assert!(
                decode_cursor(CursorKind::Events, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        let check = |limit: Option<u32>, expected: Option<u32>| {
            assert_eq!(page_size(limit).ok(), expected, "{limit:?}");
        };
        check(None, Some(DEFAULT_PAGE_ITEMS));
        check(Some(1), Some(1));
        check(Some(MAX_PAGE_ITEMS), Some(MAX_PAGE_ITEMS));
        check(Some(0), None);
        check(Some(MAX_PAGE_ITEMS + 1), None);
    }

    proptest! {
        #[test]
        fn any_position_round_trips(position in 1..i64::MAX) {
            let cursor = encode_cursor(CursorKind::Transfers, position);
            prop_assert_eq!(decode_cursor(CursorKind::Transfers, Some(&cursor)).ok(), Some(Some(position)));
        }

        #[test]
        fn decoding_never_panics(text in "\\PC{0,40}") {
            let _ = decode_cursor(CursorKind::Events, Some(&text));
        }
    }
}
