//! Event keys, request hashes, virtual shards and the Redis key layout.
//!
//! Accounts map to [`SHARD_COUNT`] virtual shards by a stable hash of the
//! account id; the shard is the hash tag, so an account's state, its
//! idempotency records and its shard's stream share one Redis Cluster slot:
//!
//! ```text
//! <prefix>:{s17}:state:<account uuid>     the account's hot state
//! <prefix>:{s17}:idem:<event key>         first reply of an event (expires)
//! <prefix>:{s17}:events                   the shard's stream
//! ```
//!
//! Events that reach no account (an unknown card) are sharded by their
//! event key instead.

use std::fmt;
use std::sync::Arc;

use ledger::AccountId;
use ring::digest;
use store_redis::{HashTag, KeyName, KeyPrefix};

/// Virtual shards: a fixed number, so an account's shard never changes.
/// 64 spreads the streams over a cluster of up to 64 primaries and keeps
/// the ingest's multi-stream read to 64 keys.
pub const SHARD_COUNT: u16 = 64;

/// Longest event key, in bytes: a tap key is at most
/// `tap:` + 64 + `:` + 10 + `:` + 20 = 100 bytes; 160 leaves room for other
/// kinds while bounding every idempotency key in memory.
pub const MAX_EVENT_KEY_BYTES: usize = 160;

const STATE: KeyName = KeyName::new("state");
const IDEMPOTENCY: KeyName = KeyName::new("idem");
const EVENTS: KeyName = KeyName::new("events");

/// A virtual shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard(u16);

/// FNV-1a, 64-bit: stable across processes and versions (unlike std's
/// hasher), cheap, and well mixed for ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl Shard {
    /// The shard of an account.
    #[must_use]
    pub fn of_account(account: AccountId) -> Shard {
        Shard::of_bytes(account.as_uuid().as_bytes())
    }

    /// The shard of an event that reaches no account.
    #[must_use]
    pub fn of_key(key: &EventKey) -> Shard {
        Shard::of_bytes(key.as_str().as_bytes())
    }

    fn of_bytes(bytes: &[u8]) -> Shard {
        let shard = fnv1a(bytes) % u64::from(SHARD_COUNT);
        Shard(u16::try_from(shard).expect("a value below SHARD_COUNT fits u16"))
    }

    /// Every shard.
    pub fn all() -> impl Iterator<Item = Shard> {
        (0..SHARD_COUNT).map(Shard)
    }

    /// The shard number.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }

    fn tag(self) -> HashTag {
        HashTag::new(&format!("s{:02}", self.0)).expect("s + digits is a valid hash tag")
    }
}

/// The Redis key layout under one prefix.
///
/// Each shard's key stems (`<prefix>:{sNN}:state:`, `…:idem:`, and the
/// stream's whole name) are written once, when the layout is made: a tap
/// needs three keys, and formatting each from its parts cost three
/// allocations and a `format!` apiece on the hot path.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: KeyPrefix,
    shards: Arc<[ShardKeys]>,
}

/// One shard's key stems.
#[derive(Debug)]
struct ShardKeys {
    /// `<prefix>:{sNN}:state:`
    state: String,
    /// `<prefix>:{sNN}:idem:`
    idempotency: String,
    /// `<prefix>:{sNN}:events`
    stream: String,
}

fn stem(prefix: &KeyPrefix, tag: &HashTag, name: KeyName) -> String {
    let mut key = prefix.tagged_key(tag, name);
    key.push(':');
    key
}

/// `stem` followed by `rest`, allocated once.
fn joined(stem: &str, rest: &str) -> String {
    let mut key = String::with_capacity(stem.len() + rest.len());
    key.push_str(stem);
    key.push_str(rest);
    key
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

impl Layout {
    /// Keys under `prefix`.
    #[must_use]
    pub fn new(prefix: KeyPrefix) -> Layout {
        let shards = Shard::all()
            .map(|shard| {
                let tag = shard.tag();
                ShardKeys {
                    state: stem(&prefix, &tag, STATE),
                    idempotency: stem(&prefix, &tag, IDEMPOTENCY),
                    stream: prefix.tagged_key(&tag, EVENTS),
                }
            })
            .collect();
        Layout { prefix, shards }
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &KeyPrefix {
        &self.prefix
    }

    fn shard(&self, shard: Shard) -> &ShardKeys {
        // Every `Shard` is below SHARD_COUNT, and `new` made one entry each.
        &self.shards[usize::from(shard.0)]
    }

    /// An account's state key.
    #[must_use]
    pub fn state(&self, account: AccountId) -> String {
        let mut id = uuid::Uuid::encode_buffer();
        let id = account.as_uuid().simple().encode_lower(&mut id);
        joined(&self.shard(Shard::of_account(account)).state, id)
    }

    /// An event's idempotency key in `shard`.
    #[must_use]
    pub fn idempotency(&self, shard: Shard, key: &EventKey) -> String {
        joined(&self.shard(shard).idempotency, key.as_str())
    }

    /// A shard's stream.
    #[must_use]
    pub fn stream(&self, shard: Shard) -> String {
        self.shard(shard).stream.clone()
    }

    /// Every shard's stream, in shard order.
    #[must_use]
    pub fn streams(&self) -> Vec<String> {
        Shard::all().map(|s| self.stream(s)).collect()
    }
}

/// Why text is not an event key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an event key is 1..={MAX_EVENT_KEY_BYTES} bytes of A-Z a-z 0-9 . _ - :")]
pub struct InvalidEventKey;

/// The idempotency key of an event: what makes a retry a repeat.
///
/// `tap:<terminal>:<boot_epoch>:<seq>` for taps (online or journaled: the
/// same key, so a tap that also arrives in a journal is applied once),
/// `top_up:<transfer id>` for top-ups; other producers choose their own
/// `<kind>:<id>` form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventKey(String);

impl EventKey {
    /// Checks and wraps a key.
    ///
    /// # Errors
    /// Empty, too long, or a character outside the set.
    pub fn parse(text: &str) -> Result<EventKey, InvalidEventKey> {
        let ok = !text.is_empty()
            && text.len() <= MAX_EVENT_KEY_BYTES
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
        if ok {
            Ok(EventKey(text.to_owned()))
        } else {
            Err(InvalidEventKey)
        }
    }

    /// The key of a tap.
    #[must_use]
    pub fn tap(terminal_id: &str, boot_epoch: u32, seq: u64) -> EventKey {
        // Terminal ids are `A-Z a-z 0-9 . _ -`, at most 64 bytes. Built by
        // hand (once per tap): `format!` costs about three times as much.
        let mut key = String::with_capacity(4 + terminal_id.len() + 1 + 10 + 1 + 20);
        key.push_str("tap:");
        key.push_str(terminal_id);
        key.push(':');
        push_decimal(&mut key, u64::from(boot_epoch));
        key.push(':');
        push_decimal(&mut key, seq);
        EventKey(key)
    }

    /// The key of a top-up, by its ledger transfer id.
    #[must_use]
    pub fn top_up(transfer_id: ledger::TransferId) -> EventKey {
        EventKey(format!("top_up:{}", transfer_id.as_uuid().simple()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of a request's canonical bytes: the same key with another hash
/// is a conflict, not a repeat.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestHash([u8; 32]);

impl RequestHash {
    /// The hash of `canonical` (the request as its producer serialises it,
    /// deterministically).
    #[must_use]
    pub fn of(canonical: &[u8]) -> RequestHash {
        let digest = digest::digest(&digest::SHA256, canonical);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        RequestHash(bytes)
    }

    /// A SHA-256 digest of the canonical bytes someone else already took
    /// (the signature check hashes a tap's body; when the body is the
    /// canonical form, that digest is this hash).
    #[must_use]
    pub const fn from_sha256(digest: [u8; 32]) -> RequestHash {
        RequestHash(digest)
    }

    /// Lowercase hex (what the script stores and compares).
    #[must_use]
    pub fn to_hex(&self) -> String {
        // Once per tap: pushing into a sized string is ~4× cheaper than
        // `hex::encode`'s char-by-char collect.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(2 * self.0.len());
        for byte in self.0 {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn check_key(text: &str, ok: bool) {
        assert_eq!(EventKey::parse(text).is_ok(), ok, "{text:?}");
    }

    #[test]
    fn event_keys_are_validated() {
        check_key("tap:bus-19-a:3:42", true);
        check_key("top_up:0190aa", true);
        check_key("", false);
        check_key("tap:{x}", false);
        check_key("tap: x", false);
        check_key(&"a".repeat(MAX_EVENT_KEY_BYTES + 1), false);
        assert!(
            EventKey::parse(EventKey::tap(&"t".repeat(64), u32::MAX, u64::MAX).as_str()).is_ok()
        );
    }

    #[test]
    fn keys_of_an_account_share_its_shard_tag() {
        let layout = Layout::new(KeyPrefix::new("ot").expect("valid"));
        let account = AccountId::new(Uuid::from_u128(42)).expect("not reserved");
        let shard = Shard::of_account(account);
        let key = EventKey::tap("g1", 1, 7);
        let tag = store_redis::hash_tag_of(&layout.state(account)).map(str::to_owned);
        assert_eq!(
            tag.as_deref(),
            store_redis::hash_tag_of(&layout.idempotency(shard, &key))
        );
        assert_eq!(
            tag.as_deref(),
            store_redis::hash_tag_of(&layout.stream(shard))
        );
    }

    /// The layout is a stored contract (a restarted service must find the
    /// states it wrote), so the exact texts are pinned.
    #[test]
    fn key_texts_are_the_documented_layout() {
        let layout = Layout::new(KeyPrefix::new("ot").expect("valid"));
        let account = AccountId::new(Uuid::from_u128(42)).expect("not reserved");
        let shard = Shard::of_account(account);
        let tag = format!("{{s{:02}}}", shard.get());
        assert_eq!(
            layout.state(account),
            format!("ot:{tag}:state:0000000000000000000000000000002a")
        );
        let key = EventKey::tap("g1", 1, 7);
        assert_eq!(
            layout.idempotency(shard, &key),
            format!("ot:{tag}:idem:tap:g1:1:7")
        );
        assert_eq!(layout.stream(shard), format!("ot:{tag}:events"));
        let streams = layout.streams();
        assert_eq!(streams.len(), usize::from(SHARD_COUNT));
        assert_eq!(streams.first().map(String::as_str), Some("ot:{s00}:events"));
        assert_eq!(streams.last().map(String::as_str), Some("ot:{s63}:events"));
    }

    proptest! {
        #[test]
        fn shards_are_stable_and_in_range(raw in 1u128..u128::MAX) {
            let account = AccountId::new(Uuid::from_u128(raw)).expect("not reserved");
            let shard = Shard::of_account(account);
            prop_assert!(shard.get() < SHARD_COUNT);
            prop_assert_eq!(shard, Shard::of_account(account));
        }

        /// A tap's key is the text the format has always had.
        #[test]
        fn tap_keys_are_as_formatted(terminal in "[A-Za-z0-9._-]{1,64}", boot_epoch: u32, seq: u64) {
            let key = EventKey::tap(&terminal, boot_epoch, seq);
            prop_assert_eq!(key.as_str(), format!("tap:{terminal}:{boot_epoch}:{seq}"));
        }

        /// The stored hash text is the `hex` crate's lowercase hex.
        #[test]
        fn request_hash_hex_is_lowercase_hex(canonical in proptest::collection::vec(any::<u8>(), 0..300)) {
            let hash = RequestHash::of(&canonical);
            prop_assert_eq!(hash.to_hex(), hex::encode(hash.as_bytes()));
        }
    }
}
