//! Session tokens: 32 random bytes from the OS (`ring::rand::SystemRandom`),
//! shown to the rider once as unpadded base64url (43 characters). Only the
//! SHA-256 of a token is stored, so a leaked database opens no session.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// Random bytes in a token: 256 bits, beyond any guessing.
pub const TOKEN_BYTES: usize = 32;
/// Characters of the base64url form of a token.
pub const TOKEN_CHARS: usize = 43;

/// A token as the rider holds it. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// The stored form of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

/// The RNG failed (the OS refused randomness).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

impl SessionToken {
    /// A fresh token.
    ///
    /// # Errors
    /// When the OS gives no randomness.
    pub fn generate(rng: &SystemRandom) -> Result<SessionToken, RandomError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        rng.fill(&mut bytes).map_err(|_| RandomError)?;
        Ok(SessionToken(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token presented by a client; `None` unless it has the exact shape
    /// of one we issue (so junk never reaches the database).
    #[must_use]
    pub fn parse(text: &str) -> Option<SessionToken> {
        if text.len() != TOKEN_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == TOKEN_BYTES).then(|| SessionToken(text.to_owned()))
    }

    /// The text the rider sends back in `Authorization: Bearer …`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token text: what the database keeps.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, self.0.as_bytes()).as_ref());
        TokenHash(out)
    }
}

/// 16 random bytes shaped as a UUID version 4 (ids of sessions, orders, media).
///
/// # Errors
/// When the OS gives no randomness.
pub fn random_uuid(rng: &SystemRandom) -> Result<uuid::Uuid, RandomError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let rng = SystemRandom::new();
        let a = SessionToken::generate(&rng).expect("random");
        let b = SessionToken::generate(&rng).expect("random");
        assert_eq!(a.as_str().len(), TOKEN_CHARS);
        assert_eq!(SessionToken::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let check = |text: &str| assert_eq!(SessionToken::parse(text), None, "{text:?}");
        check("");
        check(&"A".repeat(42));
        check(&"A".repeat(44));
        check(&format!("{}=", "A".repeat(42)));
        check(&"+".repeat(43));
    }

    #[test]
    fn random_uuids_are_version_4() {
        let id = random_uuid(&SystemRandom::new()).expect("random");
        assert_eq!(id.get_version_num(), 4);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,60}") {
            let _ = SessionToken::parse(&text);
        }
    }
}
