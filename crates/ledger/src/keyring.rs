//! The ticket key ring: the issuer's Ed25519 keys, rotation with overlap, and
//! issuing QR tickets in the `card-protocol` format.
//!
//! One key signs at a time; the keys it replaced stay in the ring (and in the
//! published key set) until their `not_after_s`, which bounds the `exp` of
//! every ticket they signed, so a rotation never invalidates a ticket in a
//! rider's hand. A key's id is the first 4 bytes of SHA-256 of its public key
//! (`card_protocol::keys`).
//!
//! Pure: key material (32-byte Ed25519 seeds) and `now` are arguments. The
//! binary draws seeds from the OS, keeps them in its key store (an owner-only
//! directory, see `services/oneticket/src/keystore.rs`), and rebuilds the
//! ring with [`KeyRing::restore`] at start-up.
//!
//! **Boundary:** the ticket carries no account (the QR budget has no room for
//! it). [`KeyRing::issue`] returns an [`IssuedTicket`] binding the ticket id
//! to the account; the caller stores it, and the tap path resolves a QR to an
//! account through that record.

use std::fmt;

use card_protocol::messages::{KeySet, KeySetKey, MAX_KEY_SET_KEYS};
use card_protocol::ticket::{Issuer, ProductCode, RiderCategoryCode, Validity};
use card_protocol::{Kid, PublicKey, TicketClaims, TicketId, sign_ticket};
use ring::signature::Ed25519KeyPair;

use crate::ids::AccountId;

/// Bytes in an Ed25519 seed (RFC 8032 private key).
pub const SEED_BYTES: usize = 32;

/// Most keys the ring holds (signing plus still-verifying): every key must
/// fit in one published key set.
pub const MAX_RING_KEYS: usize = MAX_KEY_SET_KEYS;

/// An Ed25519 private key seed. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySeed([u8; SEED_BYTES]);

impl KeySeed {
    /// Wraps 32 secret bytes (every value is a valid Ed25519 seed).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; SEED_BYTES]) -> KeySeed {
        KeySeed(bytes)
    }

    /// The secret bytes, for storage.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; SEED_BYTES] {
        &self.0
    }
}

impl fmt::Debug for KeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySeed(<redacted>)")
    }
}

/// A stored key: its seed and validity, as the binary persists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMaterial {
    /// The secret seed.
    pub seed: KeySeed,
    /// From when the key signs, unix seconds.
    pub not_before_s: u64,
    /// No ticket the key signs expires later than this, unix seconds.
    pub not_after_s: u64,
}

/// Why the ring refused a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// `not_before_s ≥ not_after_s`, or a new key that is already expired.
    #[error("key validity window is empty")]
    EmptyKeyWindow,
    /// The key is already in the ring.
    #[error("key {0} is already in the ring")]
    DuplicateKey(Kid),
    /// The ring would hold more than [`MAX_RING_KEYS`] unexpired keys.
    #[error("the ring already holds {MAX_RING_KEYS} unexpired keys")]
    TooManyKeys,
    /// A rotation dated before the current signing key started.
    #[error("rotation at {now_s} precedes the signing key's not_before_s {not_before_s}")]
    RotationBeforeCurrentKey {
        /// The rotation time.
        now_s: u64,
        /// When the current key started signing.
        not_before_s: u64,
    },
}

/// Why a ticket was not issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// `now` is before the signing key's `not_before_s`.
    #[error("the signing key is not active yet")]
    SigningKeyNotYetActive,
    /// `now` is at or after the signing key's `not_after_s`: rotate first.
    #[error("the signing key has expired; rotate the ring")]
    SigningKeyExpired,
    /// The requested window is empty or beyond the ticket time range.
    #[error("invalid ticket validity: {0}")]
    Validity(#[from] card_protocol::ticket::InvalidValidity),
    /// The ticket would expire after the signing key's `not_after_s`, when
    /// verifiers may already have dropped the key.
    #[error("ticket exp {expires_s} is after the signing key's not_after_s {key_not_after_s}")]
    ExceedsKeyValidity {
        /// The requested `exp`.
        expires_s: u64,
        /// The signing key's limit.
        key_not_after_s: u64,
    },
    /// The ticket would already be expired at `now`.
    #[error("ticket would already be expired")]
    AlreadyExpired,
}

/// What to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketRequest {
    /// The ticket id (`cti`), chosen by the caller: e.g. the bytes of the
    /// purchase transfer's UUID, so the ticket and the payment share an id.
    pub ticket_id: TicketId,
    /// The account the ticket belongs to (recorded, not carried).
    pub account_id: AccountId,
    /// The phone key the ticket is bound to; `None` for an unbound ticket
    /// (accepted as a static QR, so only for low-value or paper tickets).
    pub holder: Option<PublicKey>,
    /// The product code from the fare configuration.
    pub product: ProductCode,
    /// The rider category code from the fare configuration.
    pub rider_category: RiderCategoryCode,
    /// `nbf`, unix seconds.
    pub not_before_s: u64,
    /// `exp`, unix seconds.
    pub expires_s: u64,
}

/// An issued ticket and the binding the caller must store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedTicket {
    /// The ticket id (`cti`).
    pub ticket_id: TicketId,
    /// The account the ticket id resolves to.
    pub account_id: AccountId,
    /// The key that signed it.
    pub kid: Kid,
    /// The signed claims.
    pub claims: TicketClaims,
    /// The level-1 ticket bytes (the app wraps them in level-2 proofs when
    /// bound).
    pub qr: Vec<u8>,
}

/// Everything needed to rebuild a ring with [`KeyRing::restore`]: what the
/// binary persists after every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingMaterial {
    /// The ring's version.
    pub version: u64,
    /// The signing key.
    pub signing: KeyMaterial,
    /// The previous keys still verifying, newest first.
    pub previous: Vec<KeyMaterial>,
}

/// A key in the ring.
struct RingKey {
    seed: KeySeed,
    pair: Ed25519KeyPair,
    public: PublicKey,
    not_before_s: u64,
    not_after_s: u64,
}

impl RingKey {
    fn from_material(material: &KeyMaterial) -> Result<RingKey, KeyRingError> {
        if material.not_before_s >= material.not_after_s {
            return Err(KeyRingError::EmptyKeyWindow);
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(material.seed.as_bytes())
            .expect("every 32-byte seed is an Ed25519 private key");
        Ok(RingKey {
            seed: material.seed.clone(),
            public: PublicKey::of(&pair),
            pair,
            not_before_s: material.not_before_s,
            not_after_s: material.not_after_s,
        })
    }
}

/// The issuer's keys: one signing, the replaced ones still verifying.
pub struct KeyRing {
    issuer: Issuer,
    /// Increases with every change to the set of keys.
    version: u64,
    signing: RingKey,
    /// Replaced signing keys, newest first.
    previous: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("issuer", &self.issuer)
            .field("version", &self.version)
            .field("signing", &self.signing.public.kid())
            .field(
                "previous",
                &self
                    .previous
                    .iter()
                    .map(|k| k.public.kid())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRing {
    /// A ring with one key, at version 1.
    pub fn new(issuer: Issuer, first: &KeyMaterial) -> Result<KeyRing, KeyRingError> {
        KeyRing::restore(issuer, 1, first, &[])
    }

    /// Rebuilds a stored ring: its version, its signing key and the previous
    /// keys still verifying (any order).
    pub fn restore(
        issuer: Issuer,
        version: u64,
        signing: &KeyMaterial,
        previous: &[KeyMaterial],
    ) -> Result<KeyRing, KeyRingError> {
        if previous.len() >= MAX_RING_KEYS {
            return Err(KeyRingError::TooManyKeys);
        }
        let mut ring = KeyRing {
            issuer,
            version,
            signing: RingKey::from_material(signing)?,
            previous: Vec::with_capacity(previous.len()),
        };
        for material in previous {
            let key = RingKey::from_material(material)?;
            ring.refuse_duplicate(&key.public)?;
            ring.previous.push(key);
        }
        ring.previous
            .sort_by_key(|k| std::cmp::Reverse(k.not_before_s));
        Ok(ring)
    }

    fn refuse_duplicate(&self, public: &PublicKey) -> Result<(), KeyRingError> {
        let mut keys = std::iter::once(&self.signing).chain(&self.previous);
        if keys.any(|k| k.public == *public) {
            return Err(KeyRingError::DuplicateKey(public.kid()));
        }
        Ok(())
    }

    /// Makes `next` the signing key from `now_s` until `not_after_s`. The
    /// replaced key keeps verifying until its own `not_after_s`; keys already
    /// past theirs are dropped. On error the ring is unchanged.
    pub fn rotate(
        &mut self,
        next: &KeySeed,
        now_s: u64,
        not_after_s: u64,
    ) -> Result<(), KeyRingError> {
        if now_s < self.signing.not_before_s {
            return Err(KeyRingError::RotationBeforeCurrentKey {
                now_s,
                not_before_s: self.signing.not_before_s,
            });
        }
        let key = RingKey::from_material(&KeyMaterial {
            seed: next.clone(),
            not_before_s: now_s,
            not_after_s,
        })?;
        self.refuse_duplicate(&key.public)?;
        let unexpired = std::iter::once(&self.signing)
            .chain(&self.previous)
            .filter(|k| now_s < k.not_after_s)
            .count();
        if unexpired >= MAX_RING_KEYS {
            return Err(KeyRingError::TooManyKeys);
        }
        let replaced = std::mem::replace(&mut self.signing, key);
        self.previous.insert(0, replaced);
        self.previous.retain(|k| now_s < k.not_after_s);
        self.version = self.version.saturating_add(1);
        Ok(())
    }

    /// Drops previous keys whose `not_after_s` has passed: every ticket they
    /// signed has expired. Returns whether anything was dropped.
    pub fn prune(&mut self, now_s: u64) -> bool {
        let before = self.previous.len();
        self.previous.retain(|k| now_s < k.not_after_s);
        let dropped = self.previous.len() != before;
        if dropped {
            self.version = self.version.saturating_add(1);
        }
        dropped
    }

    /// The current signing key's id.
    #[must_use]
    pub fn signing_kid(&self) -> Kid {
        self.signing.public.kid()
    }

    /// The ring's version (what the published key set carries).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Signs a level-1 ticket at `now_s`. Refused when the signing key is
    /// not active at `now_s`, or when the ticket would outlive the key.
    pub fn issue(&self, request: &TicketRequest, now_s: u64) -> Result<IssuedTicket, IssueError> {
        let key = &self.signing;
        if now_s < key.not_before_s {
            return Err(IssueError::SigningKeyNotYetActive);
        }
        if now_s >= key.not_after_s {
            return Err(IssueError::SigningKeyExpired);
        }
        let validity = Validity::new(request.not_before_s, request.expires_s)?;
        if request.expires_s > key.not_after_s {
            return Err(IssueError::ExceedsKeyValidity {
                expires_s: request.expires_s,
                key_not_after_s: key.not_after_s,
            });
        }
        if request.expires_s <= now_s {
            return Err(IssueError::AlreadyExpired);
        }
        let claims = TicketClaims {
            issuer: self.issuer.clone(),
            ticket_id: request.ticket_id,
            validity,
            holder: request.holder,
            product: request.product,
            rider_category: request.rider_category,
        };
        let qr = sign_ticket(&claims, &key.pair);
        Ok(IssuedTicket {
            ticket_id: request.ticket_id,
            account_id: request.account_id,
            kid: key.public.kid(),
            claims,
            qr,
        })
    }

    /// The ring's secrets and validity windows, to persist after a change.
    #[must_use]
    pub fn material(&self) -> RingMaterial {
        let material = |k: &RingKey| KeyMaterial {
            seed: k.seed.clone(),
            not_before_s: k.not_before_s,
            not_after_s: k.not_after_s,
        };
        RingMaterial {
            version: self.version,
            signing: material(&self.signing),
            previous: self.previous.iter().map(material).collect(),
        }
    }

    /// The public keys to publish (`GET /v1/keys`): the signing key and
    /// every previous key, with the ring's version.
    #[must_use]
    pub fn key_set(&self) -> KeySet {
        let keys = std::iter::once(&self.signing)
            .chain(&self.previous)
            .map(|k| {
                KeySetKey::new(k.public, k.not_before_s, k.not_after_s)
                    .expect("ring keys have non-empty windows (checked when added)")
            })
            .collect();
        KeySet::new(self.version, keys)
            .expect("the ring holds 1..=MAX_KEY_SET_KEYS distinct keys (checked on every change)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use card_protocol::ticket::time_step;
    use card_protocol::{TicketError, Verdict, sign_level2, verify_qr};
    use proptest::prelude::*;
    use uuid::Uuid;

    /// 2026-01-01T00:00:00Z.
    const T0_S: u64 = 1_767_225_600;
    const HOUR_S: u64 = 3_600;
    const DAY_S: u64 = 24 * HOUR_S;

    fn seed(n: u8) -> KeySeed {
        KeySeed::from_bytes([n; SEED_BYTES])
    }

    fn material(n: u8, not_before_s: u64, not_after_s: u64) -> KeyMaterial {
        KeyMaterial {
            seed: seed(n),
            not_before_s,
            not_after_s,
        }
    }

    fn ring() -> KeyRing {
        KeyRing::new(
            Issuer::parse("OT").expect("valid"),
            &material(1, T0_S, T0_S + 30 * DAY_S),
        )
        .expect("valid key")
    }

    fn account() -> AccountId {
        AccountId::new(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)).expect("not nil")
    }

    fn request(cti: u8, not_before_s: u64, expires_s: u64) -> TicketRequest {
        TicketRequest {
            ticket_id: TicketId::from_bytes([cti; 16]),
            account_id: account(),
            holder: None,
            product: ProductCode(12),
            rider_category: RiderCategoryCode(1),
            not_before_s,
            expires_s,
        }
    }

    /// The verdict a terminal holding `ring`'s published key set gives at
    /// `now_s`.
    fn verdict(ring: &KeyRing, qr: &[u8], now_s: u64) -> Verdict {
        match verify_qr(qr, &ring.key_set().verifying_keys_at(now_s), now_s) {
            Ok(_) => Verdict::Valid,
            Err(e) => e.verdict(),
        }
    }

    #[test]
    fn issued_tickets_verify_with_the_published_keys() {
        let ring = ring();
        let issued = ring
            .issue(&request(7, T0_S, T0_S + DAY_S), T0_S + 60)
            .expect("issues");
        assert_eq!(issued.account_id, account());
        assert_eq!(issued.kid, ring.signing_kid());
        let verified = verify_qr(
            &issued.qr,
            &ring.key_set().verifying_keys_at(T0_S + 60),
            T0_S + 60,
        )
        .expect("valid");
        assert_eq!(verified.claims, issued.claims);
        assert_eq!(verified.claims.issuer.as_str(), "OT");
        assert_eq!(verified.kid, ring.signing_kid());
    }

    #[test]
    fn bound_tickets_need_the_phone() {
        let ring = ring();
        let phone = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).expect("seed");
        let req = TicketRequest {
            holder: Some(PublicKey::of(&phone)),
            ..request(8, T0_S, T0_S + DAY_S)
        };
        let issued = ring.issue(&req, T0_S).expect("issues");
        let now = T0_S + HOUR_S;
        assert_eq!(verdict(&ring, &issued.qr, now), Verdict::BadProof);
        let qr = sign_level2(&issued.qr, &phone, time_step(now)).expect("bound");
        assert_eq!(verdict(&ring, &qr, now), Verdict::Valid);
    }

    #[test]
    fn issuing_rules() {
        let ring = ring();
        let key_end = T0_S + 30 * DAY_S;
        let check = |req: TicketRequest, now_s: u64, expected: Result<(), IssueError>| {
            assert_eq!(
                ring.issue(&req, now_s).map(drop),
                expected,
                "{req:?} at {now_s}"
            );
        };
        check(request(1, T0_S, key_end), T0_S, Ok(()));
        check(
            request(1, T0_S, key_end + 1),
            T0_S,
            Err(IssueError::ExceedsKeyValidity {
                expires_s: key_end + 1,
                key_not_after_s: key_end,
            }),
        );
        check(
            request(1, T0_S, T0_S + DAY_S),
            T0_S - 1,
            Err(IssueError::SigningKeyNotYetActive),
        );
        check(
            request(1, key_end - 1, key_end),
            key_end,
            Err(IssueError::SigningKeyExpired),
        );
        check(
            request(1, T0_S + DAY_S, T0_S + DAY_S),
            T0_S,
            Err(card_protocol::ticket::InvalidValidity.into()),
        );
        check(
            request(1, T0_S, T0_S + HOUR_S),
            T0_S + HOUR_S,
            Err(IssueError::AlreadyExpired),
        );
        // A ticket that starts before it is bought (a day pass from 04:00
        // bought at 10:00) is fine.
        check(request(1, T0_S, T0_S + DAY_S), T0_S + 6 * HOUR_S, Ok(()));
    }

    #[test]
    fn rotation_keeps_old_tickets_valid_until_they_expire() {
        let mut ring = ring();
        let old_key_end = T0_S + 30 * DAY_S;
        // Bought just before the rotation, valid for two days.
        let rotation_s = T0_S + 10 * DAY_S;
        let old = ring
            .issue(
                &request(1, rotation_s - HOUR_S, rotation_s + 2 * DAY_S),
                rotation_s - HOUR_S,
            )
            .expect("issues");
        ring.rotate(&seed(2), rotation_s, rotation_s + 30 * DAY_S)
            .expect("rotates");
        assert_ne!(ring.signing_kid(), old.kid);
        assert_eq!(ring.key_set().keys.len(), 2);
        assert_eq!(ring.version(), 2);
        let new = ring
            .issue(&request(2, rotation_s, rotation_s + DAY_S), rotation_s)
            .expect("issues with the new key");
        assert_eq!(new.kid, ring.signing_kid());
        // During the overlap both verify.
        assert_eq!(verdict(&ring, &old.qr, rotation_s + HOUR_S), Verdict::Valid);
        assert_eq!(verdict(&ring, &new.qr, rotation_s + HOUR_S), Verdict::Valid);
        // The old ticket then expires on its own.
        assert_eq!(
            verdict(&ring, &old.qr, rotation_s + 2 * DAY_S),
            Verdict::Expired
        );
        // Once the old key's not_after passes, terminals drop it...
        assert_eq!(verdict(&ring, &old.qr, old_key_end), Verdict::UnknownKey);
        // ...and the ring prunes it from the published set.
        assert!(!ring.prune(old_key_end - 1));
        assert!(ring.prune(old_key_end));
        assert_eq!(ring.key_set().keys.len(), 1);
        assert_eq!(ring.version(), 3);
        assert_eq!(
            verify_qr(
                &old.qr,
                &ring.key_set().verifying_keys_at(rotation_s),
                rotation_s
            ),
            Err(TicketError::UnknownKey)
        );
    }

    /// A ring rotated through seeds 2..=n, each key outliving the test.
    fn ring_with_keys(n: u8) -> KeyRing {
        let mut ring = ring();
        for k in 2..=n {
            ring.rotate(&seed(k), T0_S + u64::from(k), T0_S + 60 * DAY_S)
                .expect("room for the key");
        }
        ring
    }

    #[test]
    fn rotation_rules() {
        let check = |mut ring: KeyRing,
                     (next, now_s, not_after_s): (u8, u64, u64),
                     expected: Result<(), KeyRingError>| {
            let before = ring.key_set();
            let got = ring.rotate(&seed(next), now_s, not_after_s);
            assert_eq!(got, expected);
            if got.is_err() {
                assert_eq!(
                    ring.key_set(),
                    before,
                    "a refused rotation leaves the ring as it was"
                );
            }
        };
        let kid_of = |n: u8| {
            PublicKey::of(&Ed25519KeyPair::from_seed_unchecked(&[n; 32]).expect("seed")).kid()
        };
        check(ring(), (2, T0_S + DAY_S, T0_S + 40 * DAY_S), Ok(()));
        check(
            ring(),
            (1, T0_S + DAY_S, T0_S + 40 * DAY_S),
            Err(KeyRingError::DuplicateKey(kid_of(1))),
        );
        check(
            ring(),
            (2, T0_S + DAY_S, T0_S + DAY_S),
            Err(KeyRingError::EmptyKeyWindow),
        );
        check(
            ring(),
            (2, T0_S - 1, T0_S + DAY_S),
            Err(KeyRingError::RotationBeforeCurrentKey {
                now_s: T0_S - 1,
                not_before_s: T0_S,
            }),
        );
        // Sixteen unexpired keys fill the ring; an expired one makes room.
        check(
            ring_with_keys(15),
            (16, T0_S + DAY_S, T0_S + 60 * DAY_S),
            Ok(()),
        );
        check(
            ring_with_keys(16),
            (17, T0_S + DAY_S, T0_S + 60 * DAY_S),
            Err(KeyRingError::TooManyKeys),
        );
        check(
            ring_with_keys(16),
            (17, T0_S + 30 * DAY_S, T0_S + 60 * DAY_S),
            Ok(()),
        );
    }

    #[test]
    fn a_restored_ring_signs_and_publishes_the_same() {
        let mut ring = ring();
        ring.rotate(&seed(2), T0_S + DAY_S, T0_S + 40 * DAY_S)
            .expect("rotates");
        let restored = KeyRing::restore(
            Issuer::parse("OT").expect("valid"),
            ring.version(),
            &material(2, T0_S + DAY_S, T0_S + 40 * DAY_S),
            &[material(1, T0_S, T0_S + 30 * DAY_S)],
        )
        .expect("restores");
        assert_eq!(restored.key_set(), ring.key_set());
        let saved = ring.material();
        let again = KeyRing::restore(
            Issuer::parse("OT").expect("valid"),
            saved.version,
            &saved.signing,
            &saved.previous,
        )
        .expect("what the ring saved restores");
        assert_eq!(again.material(), saved);
        assert_eq!(again.key_set(), ring.key_set());
        let req = request(3, T0_S + DAY_S, T0_S + 2 * DAY_S);
        assert_eq!(
            restored.issue(&req, T0_S + DAY_S),
            ring.issue(&req, T0_S + DAY_S)
        );
        let twice = KeyRing::restore(
            Issuer::parse("OT").expect("valid"),
            1,
            &material(2, T0_S, T0_S + DAY_S),
            &[material(2, T0_S, T0_S + DAY_S)],
        );
        assert!(matches!(twice, Err(KeyRingError::DuplicateKey(_))));
    }

    proptest! {
        /// Whatever the rotation schedule, a terminal holding the key set
        /// the ring publishes (pruned) at any later time finds every issued
        /// ticket `valid` until its `exp`, and never after.
        #[test]
        fn rotations_never_break_issued_tickets(
            steps in proptest::collection::vec(
                (1u64..5 * DAY_S, 1u64..20 * DAY_S, 1u64..10 * DAY_S),
                1..12,
            ),
        ) {
            let mut ring = KeyRing::new(
                Issuer::parse("OT").expect("valid"),
                &material(0, T0_S, T0_S + 10 * DAY_S),
            )
            .expect("valid key");
            let mut now = T0_S;
            let mut issued: Vec<IssuedTicket> = Vec::new();
            for (i, (advance, key_life, ticket_life)) in (1u8..).zip(&steps) {
                now += advance;
                ring.prune(now);
                for ticket in &issued {
                    let got = verdict(&ring, &ticket.qr, now);
                    if now < ticket.claims.validity.expires_s() {
                        prop_assert_eq!(got, Verdict::Valid);
                    } else {
                        prop_assert!(matches!(got, Verdict::Expired | Verdict::UnknownKey));
                    }
                }
                // Rotate when the signing key cannot cover the new ticket.
                let req = request(i, now, now + ticket_life);
                if ring.issue(&req, now).is_err() {
                    ring.rotate(&seed(i), now, now + key_life + ticket_life)
                        .expect("a fresh seed with a window past now");
                }
                issued.push(ring.issue(&req, now).expect("the signing key covers the ticket"));
            }
        }
    }
}
