//! Who is calling: terminals sign every request (card protocol §4: HMAC
//! with a per-terminal key derived from the master key, ±60 s), admins
//! present a scoped API key (`Authorization: Bearer otk_…`).
//!
//! Terminal check order: headers well formed, timestamp fresh, signature
//! (all 401) → registered (401) → active (403). A body's `terminal_id`
//! other than the signer's is 403 (checked by the handlers once decoded).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use card_protocol::request_auth::{AuthHeaders, BodyDigest, RequestParts, verify_request_with};
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use service_kit::ApiError;
use store_pg::terminal::{ApiKeyRecord, ApiKeys, TerminalRecord, TerminalStatus, api_key_hash};
use uuid::Uuid;

use crate::state::AppState;

/// Bytes of randomness in an API key's secret: 256 bits.
pub const API_KEY_SECRET_BYTES: usize = 32;
/// The prefix of every API key, so a leaked key is recognisable in scans.
pub use store_pg::terminal::API_KEY_PREFIX;
/// Longest `Authorization` header accepted, in bytes: a key is ~80 bytes.
pub const MAX_AUTHORIZATION_BYTES: usize = 256;
/// The scopes an API key may carry (`parking`: the parking operations API,
/// migration 0061).
pub const SCOPES: [&str; 4] = ["terminals", "riders", "finance", "parking"];

fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

// The signature headers as `HeaderName`s (lowercase, as `from_static` asks;
// a test holds them to the protocol's names): a lookup by text parses the
// text again each time, three times a tap.
static TERMINAL: HeaderName = HeaderName::from_static("x-ot-terminal");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-ot-timestamp");
static SIGNATURE: HeaderName = HeaderName::from_static("x-ot-signature");

/// A verified terminal request.
pub struct Signed {
    /// The signer's registry record.
    pub record: Arc<TerminalRecord>,
    /// SHA-256 of the body, taken by the verification.
    pub body: BodyDigest,
}

/// Verifies a terminal's signed request: its registry record, and the
/// body's digest the signature covered.
///
/// # Errors
/// 401 for a missing, malformed, stale or wrong signature and for an
/// unregistered terminal; 403 for a disabled one; 500 if the registry
/// cannot be read.
pub async fn terminal(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now_s: u64,
) -> Result<Signed, ApiError> {
    let parsed = AuthHeaders::parse(
        header_text(headers, &TERMINAL),
        header_text(headers, &TIMESTAMP),
        header_text(headers, &SIGNATURE),
    )
    .map_err(|e| ApiError::Unauthorized {
        detail: format!("terminal authentication failed: {}", e.verdict()),
    })?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let key = state.terminal_key(&parsed.terminal_id);
    let digest = verify_request_with(
        &key,
        &parsed,
        &RequestParts {
            method: method.as_str(),
            path,
            body,
        },
        now_s,
    )
    .map_err(|e| ApiError::Unauthorized {
        detail: format!("terminal authentication failed: {}", e.verdict()),
    })?;
    let record = state
        .terminal(parsed.terminal_id.as_str())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::Unauthorized {
            detail: "terminal authentication failed: unknown_terminal".to_owned(),
        })?;
    if record.status == TerminalStatus::Disabled {
        return Err(ApiError::Forbidden {
            detail: "this terminal is disabled".to_owned(),
        });
    }
    Ok(Signed {
        record,
        body: digest,
    })
}

/// A caller that presented a valid, unrevoked API key.
#[derive(Clone, Debug)]
pub struct AdminKey(pub ApiKeyRecord);

impl AdminKey {
    /// 403 unless the key has `scope`.
    ///
    /// # Errors
    /// 403 naming the missing scope.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.0.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                detail: format!("this API key lacks the `{scope}` scope"),
            })
        }
    }
}

impl FromRequestParts<AppState> for AdminKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::Unauthorized {
            detail: "a valid API key is required (Authorization: Bearer otk_…)".to_owned(),
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_AUTHORIZATION_BYTES)
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        let record = ApiKeys::new(state.inner.pool.clone())
            .authenticate(token)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(unauthorized)?;
        Ok(AdminKey(record))
    }
}

/// Why an API key cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// A scope outside [`SCOPES`], or none.
    #[error("scopes must be one or more of terminals, riders, finance, parking")]
    Scopes,
    /// The system's random generator failed.
    #[error("no randomness available")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store_pg::StoreError),
}

/// Creates an API key with `scopes`; returns the key (shown once, never
/// stored) and its record.
///
/// # Errors
/// See [`ApiKeyError`].
pub async fn create_api_key(
    keys: &ApiKeys,
    scopes: &[String],
    label: &str,
    now: DateTime<Utc>,
) -> Result<(String, ApiKeyRecord), ApiKeyError> {
    if scopes.is_empty() || !scopes.iter().all(|s| SCOPES.contains(&s.as_str())) {
        return Err(ApiKeyError::Scopes);
    }
    let mut secret = [0u8; API_KEY_SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| ApiKeyError::Random)?;
    let key_id = Uuid::now_v7();
    let token = format!(
        "{API_KEY_PREFIX}{}_{}",
        key_id.simple(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let record = keys
        .create(key_id, &api_key_hash(&token), scopes, label, now)
        .await?;
    Ok((token, record))
}

#[cfg(test)]
mod tests {
    use card_protocol::request_auth::{HEADER_SIGNATURE, HEADER_TERMINAL, HEADER_TIMESTAMP};

    use super::*;

    #[test]
    fn header_names_are_the_protocols() {
        for (name, spec) in [
            (&TERMINAL, HEADER_TERMINAL),
            (&TIMESTAMP, HEADER_TIMESTAMP),
            (&SIGNATURE, HEADER_SIGNATURE),
        ] {
            assert_eq!(name.as_str(), spec.to_ascii_lowercase());
        }
    }
}
