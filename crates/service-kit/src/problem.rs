//! `ApiError`: the one error type of every handler, rendered as RFC 9457 problem+json.
//!
//! Every error response of every service has the same shape:
//!
//! ```json
//! {"type": "https://oneticket.vn/problems/not_found", "title": "Not found", "status": 404,
//!  "detail": "no account 42", "code": "not_found", "request_id": "0190…"}
//! ```
//!
//! `code` is stable and snake_case: clients branch on it, never on `detail`. Internal
//! errors are logged once, with their cause chain, where they are turned into a response;
//! the client sees only a generic message and the request id to quote to support.
//!
//! The request id is filled in by the request layer ([`crate::layers`]), which sees every
//! response on its way out; a handler does not need to know it.

use std::error::Error as StdError;
use std::fmt;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The base of every problem `type` URI; the code is appended.
pub const PROBLEM_TYPE_BASE: &str = "https://oneticket.vn/problems/";

/// A kind of problem: a stable snake_case code and its human title.
///
/// Services declare their own as constants, so a malformed code fails at compile time:
/// `const INSUFFICIENT_FUNDS: ProblemType = ProblemType::new("insufficient_funds", "Insufficient funds");`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    code: &'static str,
    title: &'static str,
}

impl ProblemType {
    /// # Panics
    /// When `code` is not snake_case (`[a-z][a-z0-9_]*`) or `title` is empty: both are
    /// literals written by a programmer, and in a `const` the panic is a compile error.
    #[must_use]
    pub const fn new(code: &'static str, title: &'static str) -> Self {
        assert!(is_snake_case(code), "problem codes are snake_case");
        assert!(!title.is_empty(), "problem titles are not empty");
        Self { code, title }
    }

    #[must_use]
    pub const fn code(&self) -> &'static str {
        self.code
    }

    #[must_use]
    pub const fn title(&self) -> &'static str {
        self.title
    }
}

const fn is_snake_case(code: &str) -> bool {
    let bytes = code.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// The problem types service-kit itself produces.
pub mod types {
    use super::ProblemType;

    pub const BAD_REQUEST: ProblemType = ProblemType::new("bad_request", "Bad request");
    pub const MALFORMED_JSON: ProblemType =
        ProblemType::new("malformed_json", "The body is not valid JSON");
    pub const INVALID_BODY: ProblemType = ProblemType::new(
        "invalid_body",
        "The JSON body does not match the expected shape",
    );
    pub const BODY_READ_FAILED: ProblemType =
        ProblemType::new("body_read_failed", "The request body could not be read");
    pub const INVALID_QUERY: ProblemType =
        ProblemType::new("invalid_query", "The query string is invalid");
    pub const INVALID_PATH: ProblemType =
        ProblemType::new("invalid_path", "A path parameter is invalid");
    pub const VALIDATION_FAILED: ProblemType =
        ProblemType::new("validation_failed", "Some fields are invalid");
    pub const UNAUTHORIZED: ProblemType =
        ProblemType::new("unauthorized", "Authentication is required");
    pub const FORBIDDEN: ProblemType = ProblemType::new("forbidden", "Not allowed");
    pub const NOT_FOUND: ProblemType = ProblemType::new("not_found", "Not found");
    pub const METHOD_NOT_ALLOWED: ProblemType =
        ProblemType::new("method_not_allowed", "Method not allowed");
    pub const CONFLICT: ProblemType = ProblemType::new("conflict", "Conflict");
    pub const PAYLOAD_TOO_LARGE: ProblemType =
        ProblemType::new("payload_too_large", "The request body is too large");
    pub const UNSUPPORTED_MEDIA_TYPE: ProblemType =
        ProblemType::new("unsupported_media_type", "Unsupported media type");
    pub const RATE_LIMITED: ProblemType = ProblemType::new("rate_limited", "Too many requests");
    pub const UNAVAILABLE: ProblemType =
        ProblemType::new("unavailable", "The service is unavailable");
    pub const REQUEST_TIMEOUT: ProblemType =
        ProblemType::new("request_timeout", "The request took too long");
    pub const NOT_READY: ProblemType = ProblemType::new("not_ready", "The service is not ready");
    pub const INTERNAL: ProblemType = ProblemType::new("internal", "Internal error");
    pub const CLIENT_ERROR: ProblemType =
        ProblemType::new("client_error", "The request was not accepted");
    pub const SERVER_ERROR: ProblemType =
        ProblemType::new("server_error", "The server could not answer");
}

/// The generic detail of internal errors: nothing about the cause reaches the client.
const INTERNAL_DETAIL: &str =
    "An internal error occurred. Quote the request id when contacting support.";

/// One invalid field of a validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A JSON pointer-like path such as `amount_vnd` or `items[2].stop_id`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The error of a handler. Convert it into a response with `?` or `IntoResponse`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is wrong in a way the client must fix.
    #[error("{detail}")]
    BadRequest { kind: ProblemType, detail: String },
    /// 422: the request is well formed but some fields are invalid.
    #[error("{detail}")]
    Validation {
        detail: String,
        fields: Vec<FieldError>,
    },
    /// 422: well formed, but not processable as sent (e.g. JSON of the wrong shape).
    #[error("{detail}")]
    Unprocessable { kind: ProblemType, detail: String },
    /// 401: no or bad credentials.
    #[error("{detail}")]
    Unauthorized { detail: String },
    /// 403: authenticated, but not allowed to do this.
    #[error("{detail}")]
    Forbidden { detail: String },
    /// 404: no such resource (or route).
    #[error("{detail}")]
    NotFound { kind: ProblemType, detail: String },
    /// 405: the route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the current state (duplicate, version mismatch).
    #[error("{detail}")]
    Conflict { kind: ProblemType, detail: String },
    /// 413: the body exceeds the route's limit.
    #[error("body too large")]
    PayloadTooLarge { limit_bytes: Option<usize> },
    /// 415: the body's content type is not accepted.
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    /// 429: the client must slow down; `Retry-After` says for how long.
    #[error("rate limited")]
    RateLimited { retry_after_s: u64 },
    /// 503: a dependency is down or the service is shedding load.
    #[error("{detail}")]
    Unavailable {
        detail: String,
        retry_after_s: Option<u64>,
    },
    /// 503: the request exceeded its time limit and was abandoned.
    #[error("request timed out after {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    /// 500: a bug or an unexpected failure. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

impl ApiError {
    #[must_use]
    pub fn bad_request(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            kind,
            detail: detail.into(),
        }
    }

    #[must_use]
    pub fn validation(detail: impl Into<String>, fields: Vec<FieldError>) -> Self {
        Self::Validation {
            detail: detail.into(),
            fields,
        }
    }

    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound {
            kind: types::NOT_FOUND,
            detail: detail.into(),
        }
    }

    #[must_use]
    pub fn conflict(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            detail: detail.into(),
        }
    }

    /// Wraps an unexpected error; its chain is logged when the response is built.
    #[must_use]
    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::Internal(cause.into())
    }

    /// The HTTP status of this error.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation { .. } | Self::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem body (without request id) and the seconds for `Retry-After`, if any.
    fn into_problem(self) -> (Problem, Option<u64>) {
        let status = self.status();
        let (kind, detail, retry_after_s, extensions) = match self {
            Self::BadRequest { kind, detail }
            | Self::NotFound { kind, detail }
            | Self::Conflict { kind, detail }
            | Self::Unprocessable { kind, detail } => (kind, detail, None, Extensions::new()),
            Self::Validation { detail, fields } => {
                let mut extensions = Extensions::new();
                extensions.insert("errors".to_owned(), serde_json::json!(fields));
                (types::VALIDATION_FAILED, detail, None, extensions)
            }
            Self::Unauthorized { detail } => (types::UNAUTHORIZED, detail, None, Extensions::new()),
            Self::Forbidden { detail } => (types::FORBIDDEN, detail, None, Extensions::new()),
            Self::MethodNotAllowed => (
                types::METHOD_NOT_ALLOWED,
                "This route does not accept this method; the Allow header lists those it does."
                    .to_owned(),
                None,
                Extensions::new(),
            ),
            Self::PayloadTooLarge { limit_bytes } => {
                let detail = match limit_bytes {
                    Some(limit) => format!("The request body exceeds the limit of {limit} bytes."),
                    None => "The request body exceeds this route's limit.".to_owned(),
                };
                (types::PAYLOAD_TOO_LARGE, detail, None, Extensions::new())
            }
            Self::UnsupportedMediaType { detail } => (
                types::UNSUPPORTED_MEDIA_TYPE,
                detail,
                None,
                Extensions::new(),
            ),
            Self::RateLimited { retry_after_s } => (
                types::RATE_LIMITED,
                format!("Too many requests; retry after {retry_after_s} s."),
                Some(retry_after_s),
                Extensions::new(),
            ),
            Self::Unavailable {
                detail,
                retry_after_s,
            } => (types::UNAVAILABLE, detail, retry_after_s, Extensions::new()),
            Self::Timeout { limit_ms } => (
                types::REQUEST_TIMEOUT,
                format!("The request did not finish within {limit_ms} ms and was abandoned."),
                None,
                Extensions::new(),
            ),
            Self::Internal(cause) => {
                tracing::error!(error.chain = %ErrorChain(&*cause), "internal error");
                (
                    types::INTERNAL,
                    INTERNAL_DETAIL.to_owned(),
                    None,
                    Extensions::new(),
                )
            }
        };
        (
            Problem::new(kind, status, detail, extensions),
            retry_after_s,
        )
    }
}

/// Formats an error and its sources as `outer: middle: root`.
pub struct ErrorChain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (problem, retry_after_s) = self.into_problem();
        let mut response = problem.into_response();
        if let Some(seconds) = retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type Extensions = serde_json::Map<String, serde_json::Value>;

/// The wire body of every error response (RFC 9457, plus `code` and `request_id`).
///
/// A rendered problem response carries a copy of this in its extensions, so the request
/// layer can add the request id without parsing the body back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub request_id: Option<String>,
    /// Extra members of this problem type (`errors` of a validation, `checks` of readiness).
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl Problem {
    #[must_use]
    pub fn new(
        kind: ProblemType,
        status: StatusCode,
        detail: String,
        extensions: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            type_uri: format!("{PROBLEM_TYPE_BASE}{}", kind.code()),
            title: kind.title().to_owned(),
            status: status.as_u16(),
            detail,
            code: kind.code().to_owned(),
            request_id: None,
            extensions,
        }
    }

    /// The generic problem for a bare error status (a framework rejection with a plain body).
    #[must_use]
    pub fn for_status(status: StatusCode) -> Self {
        let (kind, detail) = match status {
            StatusCode::BAD_REQUEST => (types::BAD_REQUEST, "The request is malformed."),
            StatusCode::UNAUTHORIZED => (types::UNAUTHORIZED, "Authentication is required."),
            StatusCode::FORBIDDEN => (types::FORBIDDEN, "Not allowed."),
            StatusCode::NOT_FOUND => (types::NOT_FOUND, "No resource at this path."),
            StatusCode::METHOD_NOT_ALLOWED => (
                types::METHOD_NOT_ALLOWED,
                "This route does not accept this method; the Allow header lists those it does.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                types::PAYLOAD_TOO_LARGE,
                "The request body exceeds this route's limit.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                types::UNSUPPORTED_MEDIA_TYPE,
                "The request body's content type is not accepted here.",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => (
                types::INVALID_BODY,
                "The request is well formed but cannot be processed.",
            ),
            StatusCode::TOO_MANY_REQUESTS => (types::RATE_LIMITED, "Too many requests."),
            StatusCode::SERVICE_UNAVAILABLE => (types::UNAVAILABLE, "The service is unavailable."),
            StatusCode::INTERNAL_SERVER_ERROR => (types::INTERNAL, INTERNAL_DETAIL),
            s if s.is_server_error() => (types::SERVER_ERROR, "The server could not answer."),
            _ => (types::CLIENT_ERROR, "The request was not accepted."),
        };
        Self::new(kind, status, detail.to_owned(), Extensions::new())
    }

    /// The problem of an internal error whose cause was already logged (e.g. a panic).
    #[must_use]
    pub fn internal() -> Self {
        Self::for_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = match serde_json::to_vec(&self) {
            Ok(body) => body,
            Err(error) => {
                // Only a custom extension could fail to serialise; answer without it.
                tracing::error!(%error, "problem body failed to serialise");
                br#"{"type":"https://oneticket.vn/problems/internal","title":"Internal error","status":500,"code":"internal"}"#.to_vec()
            }
        };
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
}

/// A JSON body extractor whose rejections are problem+json with stable codes.
///
/// | Rejection | Status | Code |
/// |---|---|---|
/// | not JSON syntax | 400 | `malformed_json` |
/// | JSON of the wrong shape | 422 | `invalid_body` |
/// | no `Content-Type: application/json` | 415 | `unsupported_media_type` |
/// | body over the limit | 413 | `payload_too_large` |
/// | body unreadable | 400 | `body_read_failed` |
///
/// As a response it serialises like `axum::Json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(types::MALFORMED_JSON, e.body_text())
        }
        // A schema mismatch gets its own code so clients can tell it from a broken rule.
        JsonRejection::JsonDataError(e) => ApiError::Unprocessable {
            kind: types::INVALID_BODY,
            detail: e.body_text(),
        },
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType {
            detail: "Expected a body with Content-Type: application/json.".to_owned(),
        },
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge { limit_bytes: None }
        }
        other => ApiError::bad_request(types::BODY_READ_FAILED, other.body_text()),
    }
}

/// Reads a request body of at most `limit` bytes: 413 `payload_too_large` naming the limit
/// beyond it, 400 `body_read_failed` when the body breaks off.
///
/// For the hottest handlers, which take the whole `Request` (its headers by reference,
/// where the `HeaderMap` extractor clones them) and would otherwise need a
/// `DefaultBodyLimit` route layer: each route layer is one more boxed service that axum
/// clones, with everything beneath it, on every request.
///
/// # Errors
/// As above.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let error = error.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                Err(ApiError::PayloadTooLarge {
                    limit_bytes: Some(limit),
                })
            } else {
                Err(ApiError::bad_request(
                    types::BODY_READ_FAILED,
                    format!("Failed to read the request body: {error}"),
                ))
            }
        }
    }
}

/// A query-string extractor whose rejection is 400 `invalid_query` with the parser's reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request(types::INVALID_QUERY, rejection.body_text())
}

/// A path-parameter extractor whose rejection is 400 `invalid_path` with the reason.
///
/// A route whose parameters do not match the handler's type is a programmer error that
/// axum reports as 500; it stays a 500 (`internal`, logged) here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    if rejection.status().is_server_error() {
        ApiError::internal(rejection)
    } else {
        ApiError::bad_request(types::INVALID_PATH, rejection.body_text())
    }
}

/// Fallback for unknown routes: 404 `not_found` naming the path.
pub async fn not_found_fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("No route for {}.", uri.path()))
}

/// Fallback for a known route with the wrong method: 405 `method_not_allowed`.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::MethodNotAllowed
}
