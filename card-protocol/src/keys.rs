//! Ed25519 public keys, key ids, and the set of issuer keys a verifier
//! trusts.
//!
//! A key id (`kid`) is the first 4 bytes of SHA-256 of the raw 32-byte public
//! key. Four bytes keep the ticket small; they are a lookup hint, not an
//! identity: two keys may share a kid, so a verifier tries every key with the
//! ticket's kid (the EU digital COVID certificate rule).

use std::fmt;

use ring::{digest, signature};
use serde::{Deserialize, Serialize};

use crate::ids::parse_lower_hex;

/// Bytes in a raw Ed25519 public key (RFC 8032).
pub const ED25519_PUBLIC_KEY_BYTES: usize = 32;

/// Bytes in an Ed25519 signature (RFC 8032).
pub const ED25519_SIGNATURE_BYTES: usize = 64;

/// Bytes in a key id: enough to make accidental collisions among a handful
/// of live keys negligible, small enough for the QR budget.
pub const KID_BYTES: usize = 4;

/// A key or key id is not lowercase hex of the right length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {0} bytes as lowercase hex")]
pub struct InvalidKeyHex(pub usize);

/// A raw Ed25519 public key: an issuer key or a holder (phone) key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey([u8; ED25519_PUBLIC_KEY_BYTES]);

impl PublicKey {
    /// Wraps 32 raw bytes. Whether they are a point on the curve is found out
    /// when a signature is checked against them (and fails if not).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; ED25519_PUBLIC_KEY_BYTES]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The public half of a ring key pair.
    #[must_use]
    pub fn of(pair: &signature::Ed25519KeyPair) -> PublicKey {
        use signature::KeyPair;
        let bytes = pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("ring's Ed25519 public key is always 32 bytes (ED25519_PUBLIC_KEY_LEN)");
        PublicKey(bytes)
    }

    /// The raw 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; ED25519_PUBLIC_KEY_BYTES] {
        &self.0
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse_hex(text: &str) -> Result<PublicKey, InvalidKeyHex> {
        parse_lower_hex(text)
            .map(PublicKey)
            .ok_or(InvalidKeyHex(ED25519_PUBLIC_KEY_BYTES))
    }

    /// This key's id: the first 4 bytes of SHA-256 of the raw key.
    #[must_use]
    pub fn kid(&self) -> Kid {
        let hash = digest::digest(&digest::SHA256, &self.0);
        let mut kid = [0u8; KID_BYTES];
        kid.copy_from_slice(
            hash.as_ref()
                .get(..KID_BYTES)
                .expect("SHA-256 has 32 bytes"),
        );
        Kid(kid)
    }

    /// Whether `sig` is this key's Ed25519 signature of `message`. ring
    /// rejects non-canonical `S` and `R`, so a valid signature has exactly
    /// one byte spelling.
    #[must_use]
    pub fn verifies(&self, message: &[u8], sig: &[u8; ED25519_SIGNATURE_BYTES]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, sig)
            .is_ok()
    }
}

impl TryFrom<String> for PublicKey {
    type Error = InvalidKeyHex;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        PublicKey::parse_hex(&text)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        hex::encode(key.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

/// A 4-byte key id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kid([u8; KID_BYTES]);

impl Kid {
    /// Wraps 4 raw bytes (as read from a ticket header).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; KID_BYTES]) -> Kid {
        Kid(bytes)
    }

    /// The raw 4 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; KID_BYTES] {
        &self.0
    }

    /// Parses 8 lowercase hex digits.
    pub fn parse_hex(text: &str) -> Result<Kid, InvalidKeyHex> {
        parse_lower_hex(text)
            .map(Kid)
            .ok_or(InvalidKeyHex(KID_BYTES))
    }
}

impl TryFrom<String> for Kid {
    type Error = InvalidKeyHex;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Kid::parse_hex(&text)
    }
}

impl From<Kid> for String {
    fn from(kid: Kid) -> String {
        hex::encode(kid.0)
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", hex::encode(self.0))
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The issuer keys a verifier trusts right now. Build it from the published
/// key set with [`crate::messages::KeySet::verifying_keys_at`], or from bare
/// keys with `collect()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyingKeys {
    keys: Vec<(Kid, PublicKey)>,
}

impl VerifyingKeys {
    /// Every trusted key whose id is `kid` (usually one; more on a collision).
    pub fn with_kid(&self, kid: Kid) -> impl Iterator<Item = &PublicKey> {
        self.keys
            .iter()
            .filter(move |(k, _)| *k == kid)
            .map(|(_, key)| key)
    }

    /// How many keys are trusted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is trusted (every ticket is then `unknown_key`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<PublicKey> for VerifyingKeys {
    /// Trusts these keys; a key listed twice is kept once.
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Self {
        let mut keys: Vec<(Kid, PublicKey)> = iter.into_iter().map(|k| (k.kid(), k)).collect();
        keys.sort_unstable();
        keys.dedup();
        VerifyingKeys { keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(seed: u8) -> signature::Ed25519KeyPair {
        signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("any 32-byte seed")
    }

    #[test]
    fn kid_is_the_sha256_prefix_of_the_raw_key() {
        // Values from the research brief's vector, generated independently
        // with Python `cryptography`: issuer seed 01×32, holder seed 02×32.
        let check = |seed: u8, public: &str, kid: Option<&str>| {
            let key = PublicKey::of(&pair(seed));
            assert_eq!(hex::encode(key.as_bytes()), public);
            if let Some(kid) = kid {
                assert_eq!(key.kid().to_string(), kid);
            }
        };
        check(
            1,
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
            Some("34750f98"),
        );
        check(
            2,
            "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
            None,
        );
    }

    #[test]
    fn lookup_by_kid() {
        let (a, b) = (PublicKey::of(&pair(1)), PublicKey::of(&pair(2)));
        let keys: VerifyingKeys = [a, b, a].into_iter().collect();
        assert_eq!(keys.len(), 2);
        let check = |kid: Kid, expected: Vec<PublicKey>| {
            assert_eq!(keys.with_kid(kid).copied().collect::<Vec<_>>(), expected);
        };
        check(a.kid(), vec![a]);
        check(b.kid(), vec![b]);
        check(Kid::from_bytes([0; 4]), vec![]);
    }

    #[test]
    fn hex_forms() {
        let key = PublicKey::of(&pair(1));
        let text = String::from(key);
        assert_eq!(PublicKey::parse_hex(&text), Ok(key));
        assert!(PublicKey::parse_hex(&text.to_uppercase()).is_err());
        assert!(PublicKey::parse_hex(&text[2..]).is_err());
        assert_eq!(
            Kid::parse_hex("34750f98"),
            Ok(Kid::from_bytes([0x34, 0x75, 0x0f, 0x98]))
        );
        assert!(Kid::parse_hex("34750f9").is_err());
    }
}
