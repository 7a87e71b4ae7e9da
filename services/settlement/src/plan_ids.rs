//! Deterministic ids for everything settlement writes to the ledger.
//!
//! Settlement never draws a random id: a transfer's id is a pure function of
//! what it settles, so re-running a day asks the ledger for the same ids and
//! the ledger answers "exists" (its idempotency), and two runs that disagree
//! about a body collide on the id instead of paying twice.
//!
//! An id is the first 16 bytes of SHA-256 over a domain tag and
//! length-prefixed fields, with the UUID version nibble set to 8 (custom)
//! and the RFC 4122 variant bits set. Length prefixes make the encoding
//! injective (no two field lists hash the same bytes); the version nibble
//! means an id can never be the nil or the max UUID, which the ledger
//! refuses. Other writers (a rider API posting a pass sale at purchase, say)
//! can call these functions to land on the same ids.
//!
//! **Locality prefix.** A transfer id's first six bytes are then replaced by
//! where it sits in a day close: the service day number (low 16 bits, big
//! endian) and the first four bytes of the account id (riders' accounts are
//! UUIDv7, so those are the account's creation time in ~65 s steps); a
//! resolution's by its pending transfer's first six bytes. A day close
//! walks accounts in id order, so its inserts land next to each other in
//! every index that leads with the transfer id (the primary key and the
//! three composite target keys) instead of on a random leaf of each: a
//! fifth to a third less time to settle a million taps
//! (`cargo bench -p settlement --bench settle`, BENCHMARKS.md). What stays
//! hashed is 74 bits per account-day (a handful of transfers), far from any
//! collision.

use fares::engine::ServiceDay;
use ledger::{AccountId, OperatorId, TransferId};
use ring::digest::{Context, SHA256};
use uuid::Uuid;

/// Domain tag of settlement transfer ids.
const TRANSFER_DOMAIN: &[u8] = b"ot-settle";
/// Domain tag of the ids of chart accounts settlement creates.
const ACCOUNT_DOMAIN: &[u8] = b"ot-account";

/// What an id is derived from, field by field.
struct IdHasher(Context);

impl IdHasher {
    fn new(domain: &[u8]) -> IdHasher {
        let mut hasher = IdHasher(Context::new(&SHA256));
        hasher.field(domain);
        hasher
    }

    fn field(&mut self, bytes: &[u8]) -> &mut IdHasher {
        // A field longer than 4 GiB cannot be built from the bounded inputs
        // (event keys, codes and UUIDs are all short), so saturating the
        // length prefix never merges two real inputs.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.update(&len.to_be_bytes());
        self.0.update(bytes);
        self
    }

    fn uuid(self) -> Uuid {
        let digest = self.0.finish();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[0u8; 16]));
        // Version 8 (custom) and the RFC 4122 variant: never nil, never max.
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid::from_bytes(bytes)
    }
}

fn account_id(hasher: IdHasher) -> AccountId {
    AccountId::new(hasher.uuid()).expect("a version-8 UUID is neither nil nor max")
}

/// What a transfer settles, besides its account-day. Each variant hashes
/// with its own tag, so a source of one kind never collides with another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// One recorded event, by its key.
    Event(&'a str),
    /// The close of the service day (an overdue trip closed as incomplete).
    DayClose,
    /// A pass, by the id of the transfer that sold it (its expiry).
    Pass(TransferId),
    /// The day's postings as they stood before an adjustment, by a digest
    /// of them (so each adjustment round has its own ids).
    Adjustment(&'a [u8; 32]),
}

/// The id of the transfer of `leg` for `source` in `account`'s settlement
/// of `day`.
#[must_use]
pub fn settlement_transfer_id(
    day: ServiceDay,
    account: AccountId,
    source: Source<'_>,
    leg: &str,
) -> TransferId {
    let mut hasher = IdHasher::new(TRANSFER_DOMAIN);
    hasher
        .field(day.to_string().as_bytes())
        .field(account.as_uuid().as_bytes());
    match source {
        Source::Event(key) => hasher.field(b"event").field(key.as_bytes()),
        Source::DayClose => hasher.field(b"day-close"),
        Source::Pass(sale) => hasher.field(b"pass").field(sale.as_uuid().as_bytes()),
        Source::Adjustment(digest) => hasher.field(b"adjustment").field(digest),
    };
    hasher.field(leg.as_bytes());
    let day_bytes = u16::try_from(day.number().rem_euclid(1 << 16))
        .unwrap_or(0)
        .to_be_bytes();
    let account_uuid = account.as_uuid();
    let mut prefix = [0u8; LOCALITY_PREFIX_BYTES];
    prefix[..2].copy_from_slice(&day_bytes);
    prefix[2..].copy_from_slice(&account_uuid.as_bytes()[..4]);
    transfer_id_with_prefix(hasher, prefix)
}

/// Bytes of a transfer id taken from where it sits rather than the hash
/// (see the module docs); the version nibble (byte 6) and everything after
/// stay hashed.
pub const LOCALITY_PREFIX_BYTES: usize = 6;

fn transfer_id_with_prefix(hasher: IdHasher, prefix: [u8; LOCALITY_PREFIX_BYTES]) -> TransferId {
    let mut bytes = *hasher.uuid().as_bytes();
    bytes[..LOCALITY_PREFIX_BYTES].copy_from_slice(&prefix);
    // Version 8 stays in byte 6, so the id is still neither nil nor max.
    TransferId::new(Uuid::from_bytes(bytes)).expect("a version-8 UUID is neither nil nor max")
}

/// The id of the post or void that resolves the pending transfer
/// `pending_id`. A pending transfer is resolved at most once, so its
/// resolution needs no other input: whichever day's settlement resolves a
/// hold, it uses this id.
#[must_use]
pub fn resolution_id(pending_id: TransferId) -> TransferId {
    let mut hasher = IdHasher::new(TRANSFER_DOMAIN);
    hasher
        .field(b"resolve")
        .field(pending_id.as_uuid().as_bytes());
    let mut prefix = [0u8; LOCALITY_PREFIX_BYTES];
    prefix.copy_from_slice(&pending_id.as_uuid().as_bytes()[..LOCALITY_PREFIX_BYTES]);
    transfer_id_with_prefix(hasher, prefix)
}

/// The id settlement gives the revenue account of `operator` when it
/// creates it (a revenue account another writer created first is used as
/// it is).
#[must_use]
pub fn operator_account_id(operator: &OperatorId) -> AccountId {
    let mut hasher = IdHasher::new(ACCOUNT_DOMAIN);
    hasher
        .field(b"operator_revenue")
        .field(operator.as_str().as_bytes());
    account_id(hasher)
}

/// The id of the one unearned-pass-revenue account.
#[must_use]
pub fn unearned_account_id() -> AccountId {
    let mut hasher = IdHasher::new(ACCOUNT_DOMAIN);
    hasher.field(b"unearned_pass_revenue");
    account_id(hasher)
}

/// The id of the one penalties account.
#[must_use]
pub fn penalties_account_id() -> AccountId {
    let mut hasher = IdHasher::new(ACCOUNT_DOMAIN);
    hasher.field(b"penalties");
    account_id(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> ServiceDay {
        ServiceDay::from_date(s.parse().expect("test dates are ISO dates"))
    }

    fn account(n: u128) -> AccountId {
        AccountId::new(Uuid::from_u128(n)).expect("test ids are not reserved")
    }

    /// The documented encoding, written out by hand: SHA-256 over
    /// length-prefixed fields, first 16 bytes, version 8, RFC 4122 variant.
    fn by_hand(fields: &[&[u8]]) -> Uuid {
        let mut bytes = Vec::new();
        for field in fields {
            bytes.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
            bytes.extend_from_slice(field);
        }
        let digest = ring::digest::digest(&SHA256, &bytes);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest.as_ref()[..16]);
        id[6] = (id[6] & 0x0f) | 0x80;
        id[8] = (id[8] & 0x3f) | 0x80;
        Uuid::from_bytes(id)
    }

    #[test]
    fn ids_follow_the_documented_encoding() {
        let check = |got: Uuid, expected: Uuid| {
            assert_eq!(got, expected);
            assert_eq!(got.get_version_num(), 8, "{got}");
            assert_eq!(got.get_variant(), uuid::Variant::RFC4122, "{got}");
        };
        // Prefixed by hand: two bytes of the day number, four of the account.
        let prefixed = |hashed: Uuid, prefix: [u8; 6]| {
            let mut bytes = *hashed.as_bytes();
            bytes[..6].copy_from_slice(&prefix);
            Uuid::from_bytes(bytes)
        };
        let acct = AccountId::new(Uuid::from_u128(0x0193_4a5b_c6d7_7e8f_9000_0000_0000_0001))
            .expect("not reserved");
        // 2026-03-02 is day 739,677 from 0001-01-01: 0x000B_495D, low 16 bits 0x495D.
        assert_eq!(day("2026-03-02").number(), 739_677);
        let fare = settlement_transfer_id(day("2026-03-02"), acct, Source::Event("T1:0:1"), "fare");
        check(
            fare.as_uuid(),
            prefixed(
                by_hand(&[
                    b"ot-settle",
                    b"2026-03-02",
                    acct.as_uuid().as_bytes(),
                    b"event",
                    b"T1:0:1",
                    b"fare",
                ]),
                [0x49, 0x5D, 0x01, 0x93, 0x4a, 0x5b],
            ),
        );
        let pending = settlement_transfer_id(day("2026-03-02"), acct, Source::DayClose, "x");
        let mut pending_prefix = [0u8; 6];
        pending_prefix.copy_from_slice(&pending.as_uuid().as_bytes()[..6]);
        check(
            resolution_id(pending).as_uuid(),
            prefixed(
                by_hand(&[b"ot-settle", b"resolve", pending.as_uuid().as_bytes()]),
                pending_prefix,
            ),
        );
        check(
            operator_account_id(&OperatorId::parse("HURC1").unwrap()).as_uuid(),
            by_hand(&[b"ot-account", b"operator_revenue", b"HURC1"]),
        );
        check(
            penalties_account_id().as_uuid(),
            by_hand(&[b"ot-account", b"penalties"]),
        );
    }

    #[test]
    fn every_input_field_matters() {
        let base = settlement_transfer_id(day("2026-03-02"), account(1), Source::Event("k"), "a");
        let variants = [
            settlement_transfer_id(day("2026-03-03"), account(1), Source::Event("k"), "a"),
            settlement_transfer_id(day("2026-03-02"), account(2), Source::Event("k"), "a"),
            settlement_transfer_id(day("2026-03-02"), account(1), Source::Event("k2"), "a"),
            settlement_transfer_id(day("2026-03-02"), account(1), Source::Event("k"), "b"),
            settlement_transfer_id(day("2026-03-02"), account(1), Source::DayClose, "a"),
            settlement_transfer_id(
                day("2026-03-02"),
                account(1),
                Source::Adjustment(&[0; 32]),
                "a",
            ),
            resolution_id(base),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
        assert_ne!(unearned_account_id(), penalties_account_id());
    }

    #[test]
    fn a_day_close_in_account_order_writes_ids_in_order() {
        // Accounts as the rider API makes them (UUIDv7, a minute or more
        // apart): their transfers' ids sort as the accounts do, so a day
        // close appends to the transfer indexes instead of scattering.
        let accounts: Vec<AccountId> = (0..50u64)
            .map(|i| {
                let ms = 1_700_000_000_000 + i * 70_000;
                let id = (u128::from(ms) << 80) | (0x7 << 76) | (0x8 << 60) | u128::from(i);
                AccountId::new(Uuid::from_u128(id)).expect("not reserved")
            })
            .collect();
        let mut ids = Vec::new();
        for account in &accounts {
            for leg in ["fare", "cap"] {
                let id = settlement_transfer_id(day("2026-03-02"), *account, Source::DayClose, leg);
                ids.push(id.as_uuid());
            }
        }
        let firsts: Vec<[u8; 6]> = ids
            .iter()
            .map(|id| id.as_bytes()[..6].try_into().expect("six bytes"))
            .collect();
        assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "{firsts:?}");
        // The next day's ids come after this day's.
        let next = settlement_transfer_id(day("2026-03-03"), accounts[0], Source::DayClose, "fare");
        assert!(ids.iter().all(|id| *id < next.as_uuid()));
    }

    proptest! {
        #[test]
        fn ids_stay_version_8_and_distinct_per_input(
            a in any::<u128>(), b in any::<u128>(), key in "[a-z0-9:]{1,12}", n in 700_000i32..800_000,
        ) {
            let d = ServiceDay::from_date(
                chrono::NaiveDate::from_num_days_from_ce_opt(n).expect("in range"),
            );
            let (Ok(a), Ok(b)) = (AccountId::new(Uuid::from_u128(a)), AccountId::new(Uuid::from_u128(b)))
            else {
                return Ok(());
            };
            let x = settlement_transfer_id(d, a, Source::Event(&key), "fare");
            let y = settlement_transfer_id(d, b, Source::Event(&key), "fare");
            prop_assert_eq!(x.as_uuid().get_version_num(), 8);
            prop_assert_eq!(x.as_uuid().get_variant(), uuid::Variant::RFC4122);
            prop_assert_eq!(x == y, a == b);
            prop_assert_eq!(resolution_id(x).as_uuid().get_version_num(), 8);
        }

        #[test]
        fn length_prefixes_keep_field_boundaries(a in "[a-z]{0,6}", b in "[a-z]{0,6}") {
            // ("ab", "c") and ("a", "bc") must not share an id.
            let joined = format!("{a}{b}");
            let split = settlement_transfer_id(day("2026-03-02"), account(1), Source::Event(&a), &b);
            let moved = settlement_transfer_id(day("2026-03-02"), account(1), Source::Event(&joined), "");
            prop_assert_eq!(split == moved, b.is_empty());
        }
    }
}
