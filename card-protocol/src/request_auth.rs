//! Terminal request authentication: per-terminal HMAC keys and signed requests.
//!
//! Every terminal holds its own 32-byte key, derived by the backend from one
//! master key with HKDF-SHA256, so a stolen device compromises only itself.
//! A request carries three headers (terminal id, timestamp, signature); the
//! signature is HMAC-SHA256 over a canonical string that binds the method, the
//! path with its query, the timestamp, the terminal id and a hash of the body.
//!
//! Check order in [`verify_request`] (SPEC.md §4): headers well formed →
//! timestamp within [`MAX_CLOCK_SKEW_S`] of `now` → HMAC (constant time).

use std::fmt;

use ring::{digest, hkdf, hmac};

use crate::ids::{TerminalId, parse_lower_hex, push_lower_hex};

/// Header carrying the terminal id.
pub const HEADER_TERMINAL: &str = "X-OT-Terminal";
/// Header carrying the signing time, unix seconds in decimal.
pub const HEADER_TIMESTAMP: &str = "X-OT-Timestamp";
/// Header carrying the signature, 64 lowercase hex digits.
pub const HEADER_SIGNATURE: &str = "X-OT-Signature";

/// Largest accepted difference between the request timestamp and the
/// verifier's clock, in seconds. Terminals resynchronise from `server_time_s`
/// in every reply, so a minute absorbs drift and transit latency while
/// keeping a captured request replayable for at most two minutes (the service
/// also dedupes taps on `(terminal, boot epoch, seq)`).
pub const MAX_CLOCK_SKEW_S: u64 = 60;

/// HKDF `info` prefix; the terminal id follows it directly. The version suffix
/// lets a future derivation coexist with this one.
pub const KEY_DERIVATION_INFO: &[u8] = b"oneticket terminal v1";

/// Shortest master key, in bytes: HKDF's security is bounded by the entropy of
/// its input key, and 32 bytes matches the 256-bit output.
pub const MIN_MASTER_KEY_BYTES: usize = 32;

/// Longest master key, in bytes: longer than SHA-256's block would be hashed
/// down first and buys nothing.
pub const MAX_MASTER_KEY_BYTES: usize = 64;

/// Bytes in a derived terminal key and in an HMAC-SHA256 tag.
pub const TERMINAL_KEY_BYTES: usize = 32;

/// Longest method, in bytes: longer than any registered HTTP method.
pub const MAX_METHOD_BYTES: usize = 16;

/// Longest request path with query, in bytes: terminal API paths are short;
/// 2 KiB bounds the canonical string well below any HTTP server's URI limit.
pub const MAX_PATH_BYTES: usize = 2048;

/// Longest timestamp header, in digits: `u64::MAX` has 20.
const MAX_TIMESTAMP_DIGITS: usize = 20;

/// Why a request was refused. [`RequestAuthError::verdict`] gives the stable
/// names used by the vectors and by problem+json `code`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestAuthError {
    /// A header, the method or the path is missing or not in its defined
    /// form; nothing was verified.
    #[error("malformed request authentication: {0}")]
    Malformed(MalformedRequest),
    /// The timestamp is more than [`MAX_CLOCK_SKEW_S`] from `now`.
    #[error("request timestamp outside the allowed clock skew")]
    Stale,
    /// The HMAC does not match.
    #[error("request signature does not match")]
    BadSignature,
}

impl RequestAuthError {
    /// The verdict name: `malformed`, `stale` or `bad_signature`.
    #[must_use]
    pub fn verdict(&self) -> &'static str {
        match self {
            RequestAuthError::Malformed(_) => "malformed",
            RequestAuthError::Stale => "stale",
            RequestAuthError::BadSignature => "bad_signature",
        }
    }
}

/// Which part of a request is not in its defined form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedRequest {
    /// `X-OT-Terminal` is not a valid terminal id.
    #[error("X-OT-Terminal is not a valid terminal id")]
    TerminalId,
    /// `X-OT-Timestamp` is not a canonical decimal `u64` (digits only, no
    /// leading zero).
    #[error("X-OT-Timestamp is not canonical decimal unix seconds")]
    Timestamp,
    /// `X-OT-Signature` is not 64 lowercase hex digits.
    #[error("X-OT-Signature is not 64 lowercase hex digits")]
    Signature,
    /// The method is empty, too long, or not an HTTP token.
    #[error("method is not an HTTP token of at most {MAX_METHOD_BYTES} bytes")]
    Method,
    /// The path does not start with `/`, is too long, or holds a byte outside
    /// visible ASCII.
    #[error("path is not `/`-rooted visible ASCII of at most {MAX_PATH_BYTES} bytes")]
    Path,
}

/// The master key the backend derives every terminal key from.
pub struct MasterKey(Vec<u8>);

/// A master key of the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("master key must be {MIN_MASTER_KEY_BYTES}..={MAX_MASTER_KEY_BYTES} bytes")]
pub struct InvalidMasterKey;

impl MasterKey {
    /// Wraps key material of [`MIN_MASTER_KEY_BYTES`] to
    /// [`MAX_MASTER_KEY_BYTES`] bytes.
    pub fn new(bytes: &[u8]) -> Result<MasterKey, InvalidMasterKey> {
        if !(MIN_MASTER_KEY_BYTES..=MAX_MASTER_KEY_BYTES).contains(&bytes.len()) {
            return Err(InvalidMasterKey);
        }
        Ok(MasterKey(bytes.to_vec()))
    }
}

impl fmt::Debug for MasterKey {
    /// Secrets never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// One terminal's HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct TerminalKey([u8; TERMINAL_KEY_BYTES]);

impl TerminalKey {
    /// Wraps a key provisioned on a terminal.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; TERMINAL_KEY_BYTES]) -> TerminalKey {
        TerminalKey(bytes)
    }

    /// The raw key, for provisioning a terminal.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; TERMINAL_KEY_BYTES] {
        &self.0
    }
}

impl fmt::Debug for TerminalKey {
    /// Secrets never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TerminalKey(<redacted>)")
    }
}

/// `HKDF-SHA256(ikm = master, salt = none, info = "oneticket terminal v1" ‖
/// terminal_id, L = 32)`.
#[must_use]
pub fn derive_terminal_key(master: &MasterKey, terminal: &TerminalId) -> TerminalKey {
    // An empty salt is RFC 5869's "not provided": HMAC pads it to a block of
    // zeros, exactly as the all-zero HashLen salt the RFC prescribes.
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&master.0);
    let info = [KEY_DERIVATION_INFO, terminal.as_str().as_bytes()];
    let mut key = [0u8; TERMINAL_KEY_BYTES];
    prk.expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut key))
        .expect("HKDF-SHA256 can expand 32 bytes: the limit is 255 × 32");
    TerminalKey(key)
}

/// The parts of a request that the signature covers.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    /// The HTTP method exactly as sent, e.g. `POST`.
    pub method: &'a str,
    /// The request target: path and query string exactly as sent, e.g.
    /// `/v1/deny-list/delta?from_version=41`.
    pub path: &'a str,
    /// The request body (empty for `GET`).
    pub body: &'a [u8],
}

impl RequestParts<'_> {
    fn check(&self) -> Result<(), RequestAuthError> {
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let method_ok = !self.method.is_empty()
            && self.method.len() <= MAX_METHOD_BYTES
            && self.method.bytes().all(tchar);
        if !method_ok {
            return Err(RequestAuthError::Malformed(MalformedRequest::Method));
        }
        let path_ok = self.path.starts_with('/')
            && self.path.len() <= MAX_PATH_BYTES
            && self.path.bytes().all(|b| b.is_ascii_graphic());
        if !path_ok {
            return Err(RequestAuthError::Malformed(MalformedRequest::Path));
        }
        Ok(())
    }
}

/// The string the HMAC covers:
/// `METHOD \n PATH \n TIMESTAMP \n TERMINAL_ID \n hex(SHA-256(body))`, with
/// no trailing newline.
pub fn canonical_string(
    parts: &RequestParts<'_>,
    timestamp_s: u64,
    terminal: &TerminalId,
) -> Result<String, RequestAuthError> {
    parts.check()?;
    let body = BodyDigest::of(parts.body);
    Ok(canonical_string_with(parts, timestamp_s, terminal, &body))
}

/// [`canonical_string`] with the body's digest already taken (parts checked).
fn canonical_string_with(
    parts: &RequestParts<'_>,
    timestamp_s: u64,
    terminal: &TerminalId,
    body: &BodyDigest,
) -> String {
    let timestamp = timestamp_s.to_string();
    // Built by hand, once per request: `format!` and a separate hex string
    // were a measurable share of the tap path (BENCHMARKS.md).
    let mut text = String::with_capacity(
        parts.method.len()
            + parts.path.len()
            + timestamp.len()
            + terminal.as_str().len()
            + 2 * body.0.len()
            + 4,
    );
    for part in [parts.method, parts.path, &timestamp, terminal.as_str()] {
        text.push_str(part);
        text.push('\n');
    }
    push_lower_hex(&mut text, &body.0);
    text
}

/// SHA-256 of a request's body: what the canonical string covers, returned
/// by [`verify_request_with`] so a verifier that needs the body's digest for
/// something else (a tap's idempotency hash) does not hash it twice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BodyDigest([u8; 32]);

impl BodyDigest {
    /// SHA-256 of `body`.
    #[must_use]
    pub fn of(body: &[u8]) -> BodyDigest {
        let digest = digest::digest(&digest::SHA256, body);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        BodyDigest(bytes)
    }

    /// The digest's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = String::with_capacity(2 * self.0.len());
        push_lower_hex(&mut hex, &self.0);
        write!(f, "BodyDigest({hex})")
    }
}

/// The `X-OT-Signature` value for a request: lowercase hex of
/// HMAC-SHA256(key, canonical string).
pub fn sign_request(
    key: &TerminalKey,
    parts: &RequestParts<'_>,
    timestamp_s: u64,
    terminal: &TerminalId,
) -> Result<String, RequestAuthError> {
    sign_request_with(&SigningKey::new(key), parts, timestamp_s, terminal)
}

/// A terminal key prepared for [`sign_request_with`]: the HMAC's padded
/// inner and outer hashes computed once, where [`sign_request`] computes
/// them on each call (two SHA-256 blocks). What a terminal, or a load
/// generator signing thousands of requests a second, keeps.
#[derive(Clone)]
pub struct SigningKey(hmac::Key);

impl SigningKey {
    /// Prepares `key`.
    #[must_use]
    pub fn new(key: &TerminalKey) -> SigningKey {
        SigningKey(hmac::Key::new(hmac::HMAC_SHA256, &key.0))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// [`sign_request`] with a prepared key.
///
/// # Errors
/// As [`sign_request`]: the parts are malformed.
pub fn sign_request_with(
    key: &SigningKey,
    parts: &RequestParts<'_>,
    timestamp_s: u64,
    terminal: &TerminalId,
) -> Result<String, RequestAuthError> {
    let canonical = canonical_string(parts, timestamp_s, terminal)?;
    let tag = hmac::sign(&key.0, canonical.as_bytes());
    let mut signature = String::with_capacity(2 * tag.as_ref().len());
    push_lower_hex(&mut signature, tag.as_ref());
    Ok(signature)
}

/// The three authentication headers, checked for form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthHeaders {
    /// Which terminal claims to sign; the verifier derives its key from this.
    pub terminal_id: TerminalId,
    /// The signing time, unix seconds.
    pub timestamp_s: u64,
    signature: [u8; TERMINAL_KEY_BYTES],
}

impl AuthHeaders {
    /// Parses the raw header values. Form only: nothing is verified yet.
    pub fn parse(
        terminal: &str,
        timestamp: &str,
        signature: &str,
    ) -> Result<AuthHeaders, RequestAuthError> {
        let malformed = RequestAuthError::Malformed;
        let terminal_id =
            TerminalId::parse(terminal).map_err(|_| malformed(MalformedRequest::TerminalId))?;
        let timestamp_s =
            parse_canonical_decimal(timestamp).ok_or(malformed(MalformedRequest::Timestamp))?;
        let signature = parse_lower_hex::<TERMINAL_KEY_BYTES>(signature)
            .ok_or(malformed(MalformedRequest::Signature))?;
        Ok(AuthHeaders {
            terminal_id,
            timestamp_s,
            signature,
        })
    }
}

/// Digits only, no sign, no leading zero (except `0` itself), fits `u64`:
/// then the header text equals the decimal the canonical string holds.
fn parse_canonical_decimal(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if !digits_only || leading_zero || text.len() > MAX_TIMESTAMP_DIGITS {
        return None;
    }
    text.parse().ok()
}

/// Verifies a request signed by the terminal named in `headers`, whose key
/// the caller derived with [`derive_terminal_key`]. `now_s` is the verifier's
/// clock in unix seconds.
///
/// Order: parts well formed → `|now − timestamp| ≤ MAX_CLOCK_SKEW_S` (else
/// `Stale`) → HMAC compared in constant time (else `BadSignature`).
pub fn verify_request(
    key: &TerminalKey,
    headers: &AuthHeaders,
    parts: &RequestParts<'_>,
    now_s: u64,
) -> Result<(), RequestAuthError> {
    verify_request_with(&VerifyingKey::new(key), headers, parts, now_s).map(|_| ())
}

/// A terminal key prepared for [`verify_request_with`]: the HMAC's padded
/// inner and outer hashes computed once, where [`verify_request`] computes
/// them on each call (two SHA-256 blocks). What a verifier caches per
/// terminal.
#[derive(Clone)]
pub struct VerifyingKey(hmac::Key);

impl VerifyingKey {
    /// Prepares `key`.
    #[must_use]
    pub fn new(key: &TerminalKey) -> VerifyingKey {
        VerifyingKey(hmac::Key::new(hmac::HMAC_SHA256, &key.0))
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyingKey(..)")
    }
}

/// [`verify_request`] with a prepared key; a verified request's body
/// digest is returned (see [`BodyDigest`]).
///
/// # Errors
/// As [`verify_request`].
pub fn verify_request_with(
    key: &VerifyingKey,
    headers: &AuthHeaders,
    parts: &RequestParts<'_>,
    now_s: u64,
) -> Result<BodyDigest, RequestAuthError> {
    parts.check()?;
    if now_s.abs_diff(headers.timestamp_s) > MAX_CLOCK_SKEW_S {
        return Err(RequestAuthError::Stale);
    }
    let body = BodyDigest::of(parts.body);
    let canonical = canonical_string_with(parts, headers.timestamp_s, &headers.terminal_id, &body);
    hmac::verify(&key.0, canonical.as_bytes(), &headers.signature)
        .map_err(|_| RequestAuthError::BadSignature)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW_S: u64 = 1_767_225_600;

    fn master() -> MasterKey {
        let bytes: Vec<u8> = (0u8..32).collect();
        MasterKey::new(&bytes).expect("32 bytes is a valid master key length")
    }

    fn terminal(id: &str) -> TerminalId {
        TerminalId::parse(id).expect("test ids are valid")
    }

    fn signed(id: &str, parts: &RequestParts<'_>, timestamp_s: u64) -> AuthHeaders {
        let key = derive_terminal_key(&master(), &terminal(id));
        let sig = sign_request(&key, parts, timestamp_s, &terminal(id)).expect("valid parts");
        AuthHeaders::parse(id, &timestamp_s.to_string(), &sig).expect("own output parses")
    }

    #[test]
    fn master_key_length() {
        let check = |len: usize, ok: bool| assert_eq!(MasterKey::new(&vec![7; len]).is_ok(), ok);
        check(MIN_MASTER_KEY_BYTES - 1, false);
        check(MIN_MASTER_KEY_BYTES, true);
        check(MAX_MASTER_KEY_BYTES, true);
        check(MAX_MASTER_KEY_BYTES + 1, false);
    }

    #[test]
    fn derived_keys_differ_per_terminal_and_per_master() {
        let a = derive_terminal_key(&master(), &terminal("BUS-1"));
        let b = derive_terminal_key(&master(), &terminal("BUS-2"));
        let other = MasterKey::new(&[9; 32]).expect("valid length");
        let c = derive_terminal_key(&other, &terminal("BUS-1"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, derive_terminal_key(&master(), &terminal("BUS-1")));
    }

    #[test]
    fn canonical_string_layout() {
        let parts = RequestParts {
            method: "GET",
            path: "/v1/keys?after=3",
            body: b"",
        };
        let text = canonical_string(&parts, 17, &terminal("G-1")).expect("valid parts");
        assert_eq!(
            text,
            "GET\n/v1/keys?after=3\n17\nG-1\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn header_forms() {
        let sig = "ab".repeat(32);
        let check = |t: &str, ts: &str, s: &str, expected: Result<u64, MalformedRequest>| {
            let got = AuthHeaders::parse(t, ts, s).map(|h| h.timestamp_s);
            assert_eq!(
                got,
                expected.map_err(RequestAuthError::Malformed),
                "{t:?} {ts:?}"
            );
        };
        check("G-1", "1767225600", &sig, Ok(1_767_225_600));
        check("G-1", "0", &sig, Ok(0));
        check("G 1", "1", &sig, Err(MalformedRequest::TerminalId));
        check("G-1", "01", &sig, Err(MalformedRequest::Timestamp));
        check("G-1", "+1", &sig, Err(MalformedRequest::Timestamp));
        check("G-1", "", &sig, Err(MalformedRequest::Timestamp));
        check(
            "G-1",
            "18446744073709551616",
            &sig,
            Err(MalformedRequest::Timestamp),
        );
        check(
            "G-1",
            "1",
            &sig.to_uppercase(),
            Err(MalformedRequest::Signature),
        );
        check("G-1", "1", &sig[2..], Err(MalformedRequest::Signature));
    }

    #[test]
    fn verification_verdicts() {
        let body = br#"{"seq":1}"#;
        let parts = RequestParts {
            method: "POST",
            path: "/v1/taps",
            body,
        };
        let key = derive_terminal_key(&master(), &terminal("BUS-1"));
        let check =
            |headers: &AuthHeaders, parts: &RequestParts<'_>, expected: Result<(), &str>| {
                let got = verify_request(&key, headers, parts, NOW_S).map_err(|e| e.verdict());
                assert_eq!(got, expected);
            };
        check(&signed("BUS-1", &parts, NOW_S), &parts, Ok(()));
        check(&signed("BUS-1", &parts, NOW_S - 60), &parts, Ok(()));
        check(&signed("BUS-1", &parts, NOW_S + 60), &parts, Ok(()));
        check(&signed("BUS-1", &parts, NOW_S - 61), &parts, Err("stale"));
        check(&signed("BUS-1", &parts, NOW_S + 61), &parts, Err("stale"));
        // Signed by another terminal's key but claiming BUS-1.
        let mut forged = signed("BUS-2", &parts, NOW_S);
        forged.terminal_id = terminal("BUS-1");
        check(&forged, &parts, Err("bad_signature"));
        let headers = signed("BUS-1", &parts, NOW_S);
        let other_body = RequestParts {
            body: br#"{"seq":2}"#,
            ..parts
        };
        check(&headers, &other_body, Err("bad_signature"));
        let other_path = RequestParts {
            path: "/v1/taps?x=1",
            ..parts
        };
        check(&headers, &other_path, Err("bad_signature"));
        let bad_path = RequestParts {
            path: "/v1/taps\n",
            ..parts
        };
        check(&headers, &bad_path, Err("malformed"));
        let bad_method = RequestParts {
            method: "PO ST",
            ..parts
        };
        check(&headers, &bad_method, Err("malformed"));
    }

    proptest! {
        #[test]
        fn a_signature_verifies_only_for_what_it_signed(
            body in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<prop::sample::Index>(),
            skew in -60i64..=60,
        ) {
            let parts = RequestParts { method: "POST", path: "/v1/journal", body: &body };
            let ts = NOW_S.checked_add_signed(skew).expect("small skew");
            let headers = signed("GATE-7", &parts, ts);
            let key = derive_terminal_key(&master(), &terminal("GATE-7"));
            let prepared = VerifyingKey::new(&key);
            prop_assert_eq!(verify_request(&key, &headers, &parts, NOW_S), Ok(()));
            // A verified request gives its body's SHA-256 (and a prepared
            // signing key signs as the plain one).
            let digest = verify_request_with(&prepared, &headers, &parts, NOW_S);
            prop_assert_eq!(
                digest.map(|d| *d.as_bytes()),
                Ok(<[u8; 32]>::try_from(digest::digest(&digest::SHA256, &body).as_ref())
                    .expect("SHA-256 is 32 bytes"))
            );
            prop_assert_eq!(
                sign_request_with(&SigningKey::new(&key), &parts, ts, &terminal("GATE-7")),
                sign_request(&key, &parts, ts, &terminal("GATE-7"))
            );
            let mut tampered = body.clone();
            if tampered.is_empty() { tampered.push(0) } else {
                let i = flip.index(tampered.len());
                tampered[i] ^= 1;
            }
            let parts = RequestParts { body: &tampered, ..parts };
            prop_assert_eq!(
                verify_request(&key, &headers, &parts, NOW_S),
                Err(RequestAuthError::BadSignature)
            );
            prop_assert_eq!(
                verify_request_with(&prepared, &headers, &parts, NOW_S).map(|_| ()),
                Err(RequestAuthError::BadSignature)
            );
            // Another terminal's prepared key refuses it too.
            let other = VerifyingKey::new(&derive_terminal_key(&master(), &terminal("GATE-8")));
            let parts = RequestParts { body: &body, ..parts };
            prop_assert_eq!(
                verify_request_with(&other, &headers, &parts, NOW_S).map(|_| ()),
                Err(RequestAuthError::BadSignature)
            );
        }

        #[test]
        fn header_parsing_never_panics(t in ".{0,80}", ts in ".{0,30}", s in ".{0,80}") {
            // Whatever parses has one spelling: the canonical string then
            // holds exactly the header text that was signed.
            if let Ok(headers) = AuthHeaders::parse(&t, &ts, &s) {
                prop_assert_eq!(headers.timestamp_s.to_string(), ts);
                prop_assert_eq!(headers.terminal_id.as_str(), t.as_str());
            }
        }
    }
}
