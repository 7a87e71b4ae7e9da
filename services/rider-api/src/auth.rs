//! Who is calling: a rider with a session (`Authorization: Bearer <token>`),
//! or an operator with a scoped admin API key (`Authorization: Bearer
//! otk_…`, the keys `oneticket admin-key create` makes, table
//! `admin.api_key`).
//!
//! A session is valid until the first of: its absolute end
//! ([`SESSION_TTL_S`] after login), [`SESSION_IDLE_TIMEOUT_S`] without use,
//! or logout. Every failure is the same 401, so a caller learns nothing about
//! which check failed.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::Duration;
use ledger::AccountId;
use service_kit::ApiError;
use store_pg::terminal::ApiKeyRecord;
use uuid::Uuid;

use crate::state::AppState;
use crate::token::SessionToken;

/// A session's absolute lifetime, seconds (30 days): a phone stays logged in
/// for a month of daily use, then the rider proves the password again.
pub const SESSION_TTL_S: i64 = 30 * 24 * 3_600;
/// A session unused this long ends, seconds (7 days): a lost phone's
/// session does not linger for the whole month.
pub const SESSION_IDLE_TIMEOUT_S: i64 = 7 * 24 * 3_600;
/// `last_seen_at` is written at most this often per session, seconds: the
/// idle timeout needs minute precision at best, not a write per request.
pub const SESSION_TOUCH_INTERVAL_S: i64 = 60;
/// The scope an admin key needs for rider administration.
pub const RIDERS_SCOPE: &str = "riders";
/// Longest `Authorization` header read, bytes: a token is 50, a key ~80.
pub const MAX_AUTHORIZATION_BYTES: usize = 256;

/// The bearer credential of a request, if well formed.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= MAX_AUTHORIZATION_BYTES)
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized {
        detail:
            "a valid session is required (Authorization: Bearer <token> from POST /v1/sessions)"
                .to_owned(),
    }
}

/// A rider with a live session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rider {
    /// The rider's account (= wallet) id.
    pub account_id: AccountId,
    /// The session the request came with.
    pub session_id: Uuid,
}

impl FromRequestParts<AppState> for Rider {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)
            .and_then(SessionToken::parse)
            .ok_or_else(unauthorized)?;
        let session = state
            .logins
            .session_by_token(&token.hash().0)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(unauthorized)?;
        let now = state.now();
        let idle = now - session.last_seen_at;
        if session.revoked_at.is_some()
            || now >= session.expires_at
            || idle >= Duration::seconds(SESSION_IDLE_TIMEOUT_S)
        {
            return Err(unauthorized());
        }
        if idle >= Duration::seconds(SESSION_TOUCH_INTERVAL_S) {
            state
                .logins
                .touch_session(session.session_id, now)
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(Rider {
            account_id: session.account_id,
            session_id: session.session_id,
        })
    }
}

/// An operator with an unrevoked admin API key that has the `riders` scope.
#[derive(Clone, Debug)]
pub struct RiderAdmin(pub ApiKeyRecord);

impl FromRequestParts<AppState> for RiderAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::Unauthorized {
            detail: "a valid API key is required (Authorization: Bearer otk_…)".to_owned(),
        };
        let token = bearer(parts).ok_or_else(unauthorized)?;
        let record = state
            .api_keys
            .authenticate(token)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(unauthorized)?;
        if !record.has_scope(RIDERS_SCOPE) {
            return Err(ApiError::Forbidden {
                detail: format!("this API key lacks the `{RIDERS_SCOPE}` scope"),
            });
        }
        Ok(RiderAdmin(record))
    }
}
