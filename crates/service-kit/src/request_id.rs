//! Request ids: taken from `X-Request-Id` when the caller sent a sane one, else a UUIDv7.
//!
//! The id ties together a client's report, the response header, the problem body and every
//! log line of the request. An incoming id is accepted only when short and made of safe
//! characters, because it is copied into logs and headers verbatim: anything else could
//! forge log lines or bloat every record, so it is replaced by a fresh id.

use std::convert::Infallible;
use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;

/// The header carrying the id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Room for a UUID (36), a W3C trace id (32 hex) or a proxy's id with a short prefix,
/// while keeping every log line that repeats it small.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// The id of one request. Valid by construction: 1..=64 of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

/// Why a text is not accepted as a request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequestId {
    #[error("a request id must not be empty")]
    Empty,
    #[error("a request id has at most {MAX_REQUEST_ID_LEN} characters")]
    TooLong,
    #[error("a request id uses only letters, digits, '.', '_', ':' and '-'")]
    BadCharacter,
}

impl RequestId {
    /// Accepts an id from outside.
    ///
    /// # Errors
    /// When empty, longer than [`MAX_REQUEST_ID_LEN`] or holding other characters.
    pub fn parse(text: &str) -> Result<Self, InvalidRequestId> {
        if text.is_empty() {
            return Err(InvalidRequestId::Empty);
        }
        if text.len() > MAX_REQUEST_ID_LEN {
            return Err(InvalidRequestId::TooLong);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        {
            return Err(InvalidRequestId::BadCharacter);
        }
        Ok(Self(text.to_owned()))
    }

    /// A fresh id: a UUIDv7, so ids sort by creation time in logs. Its 74
    /// random bits come from a per-thread generator seeded once from the
    /// system's randomness ([`next_random`]): an id names a request, it
    /// guards nothing, and `Uuid::now_v7` asked the kernel for fresh
    /// randomness on every request (a system call on every tap).
    #[must_use]
    pub fn generate() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let bytes = next_random().to_le_bytes();
        let mut random = [0u8; 10];
        random.copy_from_slice(&bytes[..10]);
        Self(
            uuid::Builder::from_unix_timestamp_millis(millis, &random)
                .into_uuid()
                .to_string(),
        )
    }

    /// The caller's id if it sent a valid one, otherwise a fresh one.
    #[must_use]
    pub fn from_header_or_generate(header: Option<&HeaderValue>) -> Self {
        header
            .and_then(|value| value.to_str().ok())
            .and_then(|text| Self::parse(text).ok())
            .unwrap_or_else(Self::generate)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a header value.
    #[must_use]
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0)
            .expect("a request id holds only visible ASCII, which is always a valid header value")
    }
}

thread_local! {
    /// This thread's generator state: seeded from a system-random UUID the
    /// first time the thread makes an id.
    static RANDOM_STATE: std::cell::Cell<u128> = std::cell::Cell::new(seed());
}

/// A thread's first generator state: two system-random UUIDs folded.
fn seed() -> u128 {
    uuid::Uuid::now_v7().as_u128() ^ uuid::Uuid::now_v7().as_u128().rotate_left(64)
}

/// The next 80 bits (as 10 bytes of a `u128`'s low end) of this thread's
/// generator: a 128-bit counter stepped by an odd constant, then mixed
/// (splitmix-style), so two threads seeded differently never walk the same
/// sequence in practice and no two draws of one thread repeat before 2^128.
fn next_random() -> u128 {
    RANDOM_STATE.with(|state| {
        let next = state
            .get()
            .wrapping_add(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 67)).wrapping_mul(0xbf58_476d_1ce4_e5b9_94d0_49bb_1331_11eb);
        z = (z ^ (z >> 61)).wrapping_mul(0x94d0_49bb_1331_11eb_bf58_476d_1ce4_e5b9);
        z ^ (z >> 64)
    })
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Handlers may take the id as an argument. Outside the request layer (which always sets
/// it) a fresh id is made, so the extractor never fails.
impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(Self::generate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, InvalidRequestId>) {
        assert_eq!(
            RequestId::parse(text)
                .as_ref()
                .map(RequestId::as_str)
                .map_err(|e| *e),
            expected,
            "parsing {text:?}"
        );
    }

    #[test]
    fn parse_accepts_safe_ids_and_rejects_the_rest() {
        check("abc-123", Ok("abc-123"));
        check(
            "0190a6c2-7b1e-7cc3-9a43-1f2b3c4d5e6f",
            Ok("0190a6c2-7b1e-7cc3-9a43-1f2b3c4d5e6f"),
        );
        check("lb:1.2_x", Ok("lb:1.2_x"));
        check(
            &"a".repeat(MAX_REQUEST_ID_LEN),
            Ok(&"a".repeat(MAX_REQUEST_ID_LEN)),
        );
        check("", Err(InvalidRequestId::Empty));
        check(
            &"a".repeat(MAX_REQUEST_ID_LEN + 1),
            Err(InvalidRequestId::TooLong),
        );
        check("a b", Err(InvalidRequestId::BadCharacter));
        check("a\nlevel=error", Err(InvalidRequestId::BadCharacter));
        check("ü", Err(InvalidRequestId::BadCharacter));
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(RequestId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn generated_ids_are_uuid_v7_in_time_order_and_never_repeat() {
        let ids: Vec<RequestId> = (0..20_000).map(|_| RequestId::generate()).collect();
        let parsed: Vec<uuid::Uuid> = ids
            .iter()
            .map(|id| uuid::Uuid::parse_str(id.as_str()).expect("a UUID"))
            .collect();
        assert!(parsed.iter().all(|u| u.get_version_num() == 7));
        let millis = |u: &uuid::Uuid| u.get_timestamp().map(|t| t.to_unix()).expect("v7");
        assert!(parsed.windows(2).all(|w| millis(&w[0]) <= millis(&w[1])));
        let distinct: std::collections::HashSet<_> = parsed.iter().collect();
        assert_eq!(distinct.len(), parsed.len());
        // Another thread draws another sequence.
        let other = std::thread::spawn(|| RequestId::generate().as_str()[15..].to_owned())
            .join()
            .expect("thread");
        assert!(ids.iter().all(|id| id.as_str()[15..] != other));
    }

    #[test]
    fn a_bad_header_is_replaced() {
        let bad = HeaderValue::from_static("has space");
        let id = RequestId::from_header_or_generate(Some(&bad));
        assert_ne!(id.as_str(), "has space");
        let good = HeaderValue::from_static("req-1");
        assert_eq!(
            RequestId::from_header_or_generate(Some(&good)).as_str(),
            "req-1"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_header_yields_a_valid_id(text in "\\PC{0,80}") {
            if let Ok(value) = HeaderValue::from_str(&text) {
                let id = RequestId::from_header_or_generate(Some(&value));
                proptest::prop_assert!(RequestId::parse(id.as_str()).is_ok());
                proptest::prop_assert!(id.as_str().len() <= MAX_REQUEST_ID_LEN);
            }
        }

        #[test]
        fn valid_ids_round_trip(text in "[A-Za-z0-9._:-]{1,64}") {
            let id = RequestId::parse(&text).expect("generated from the allowed alphabet");
            proptest::prop_assert_eq!(id.as_str(), text.as_str());
            let header = id.header_value();
            proptest::prop_assert_eq!(header.to_str().ok(), Some(text.as_str()));
        }
    }
}
