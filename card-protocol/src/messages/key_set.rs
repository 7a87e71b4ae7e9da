//! The published issuer keys, `GET /v1/keys`: what terminals verify QR
//! tickets with.
//!
//! Rotation with overlap: the issuer signs with one key at a time and lists
//! every key whose tickets may still be valid. A ticket's `exp` never exceeds
//! its signing key's `not_after_s`, so a key can leave the set (or be
//! ignored by verifiers) once `not_after_s` has passed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{MessageError, check};
use crate::keys::{Kid, PublicKey, VerifyingKeys};

/// Most keys in a set: one signing key, the previous ones still inside their
/// validity, and one announced in advance; 16 leaves room for several
/// rotations inside the longest ticket validity.
pub const MAX_KEY_SET_KEYS: usize = 16;

/// One issuer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "KeySetKeyFields")]
pub struct KeySetKey {
    /// First 4 bytes of SHA-256 of `public_key`, lowercase hex.
    pub kid: Kid,
    /// The raw Ed25519 public key, lowercase hex.
    pub public_key: PublicKey,
    /// When the issuer starts signing with this key, unix seconds.
    pub not_before_s: u64,
    /// No ticket signed by this key is valid at or after this time, unix
    /// seconds; verifiers stop trusting the key then.
    pub not_after_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetKeyFields {
    kid: Kid,
    public_key: PublicKey,
    not_before_s: u64,
    not_after_s: u64,
}

impl TryFrom<KeySetKeyFields> for KeySetKey {
    type Error = MessageError;
    fn try_from(f: KeySetKeyFields) -> Result<Self, MessageError> {
        check(
            f.kid == f.public_key.kid(),
            "kid is not the SHA-256 prefix of public_key",
        )?;
        check(
            f.not_before_s < f.not_after_s,
            "not_before_s must precede not_after_s",
        )?;
        Ok(KeySetKey {
            kid: f.kid,
            public_key: f.public_key,
            not_before_s: f.not_before_s,
            not_after_s: f.not_after_s,
        })
    }
}

impl KeySetKey {
    /// A key entry with its kid derived from the key.
    pub fn new(
        public_key: PublicKey,
        not_before_s: u64,
        not_after_s: u64,
    ) -> Result<KeySetKey, MessageError> {
        KeySetKey::try_from(KeySetKeyFields {
            kid: public_key.kid(),
            public_key,
            not_before_s,
            not_after_s,
        })
    }
}

/// The issuer's public keys at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KeySetFields")]
pub struct KeySet {
    /// Increases whenever the set changes.
    pub version: u64,
    /// 1 to [`MAX_KEY_SET_KEYS`] keys, each public key once.
    pub keys: Vec<KeySetKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetFields {
    version: u64,
    keys: Vec<KeySetKey>,
}

impl TryFrom<KeySetFields> for KeySet {
    type Error = MessageError;
    fn try_from(f: KeySetFields) -> Result<Self, MessageError> {
        KeySet::new(f.version, f.keys)
    }
}

impl KeySet {
    /// Checks and builds a key set.
    pub fn new(version: u64, keys: Vec<KeySetKey>) -> Result<KeySet, MessageError> {
        check(
            !keys.is_empty() && keys.len() <= MAX_KEY_SET_KEYS,
            "a key set holds 1 to MAX_KEY_SET_KEYS keys",
        )?;
        let unique: BTreeSet<PublicKey> = keys.iter().map(|k| k.public_key).collect();
        check(unique.len() == keys.len(), "a public key is listed twice")?;
        Ok(KeySet { version, keys })
    }

    /// The keys a verifier trusts at `now_s`: those with `now_s <
    /// not_after_s`. `not_before_s` is not checked: a terminal whose clock
    /// runs a little behind must still accept tickets signed just after a
    /// rotation, and a key in the published set is one the issuer vouches
    /// for.
    #[must_use]
    pub fn verifying_keys_at(&self, now_s: u64) -> VerifyingKeys {
        self.keys
            .iter()
            .filter(|k| now_s < k.not_after_s)
            .map(|k| k.public_key)
            .collect()
    }
}
