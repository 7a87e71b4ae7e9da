//! Key naming: every key starts with a [`KeyPrefix`] so tests and tenants live in their own
//! namespace, and keys that must share a Redis Cluster slot carry the same [`HashTag`].
//!
//! Keys look like `ot:deny_list` or `ot:{a42}:state`. Redis Cluster hashes only the part
//! between the first `{` and the next `}` when there is one, so braces are allowed nowhere
//! but around the tag: a prefix or a name with a brace would silently move keys to another
//! slot and break multi-key scripts. That is why every part is validated.

use std::fmt;

/// Keys repeat their prefix in every command and in memory for every key; 64 bytes leaves
/// room for an environment, a tenant and a test id without bloating millions of keys.
pub const MAX_KEY_PREFIX_LEN: usize = 64;

/// A tag is an account or shard identifier; 64 bytes holds a UUID with a kind prefix.
pub const MAX_HASH_TAG_LEN: usize = 64;

/// The separator between key parts, the Redis convention.
const SEPARATOR: char = ':';

/// Why a key part was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKeyPart {
    #[error("a key part must not be empty")]
    Empty,
    #[error("a key part has at most {max} bytes")]
    TooLong { max: usize },
    #[error("a key part uses only letters, digits, '_', '-', '.' and inner ':'")]
    BadCharacter,
}

/// Letters, digits, `_`, `-`, `.`; `:` too where `colons` allows it (not at either end).
const fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

fn validate(text: &str, max: usize, colons: Colons) -> Result<(), InvalidKeyPart> {
    if text.is_empty() {
        return Err(InvalidKeyPart::Empty);
    }
    if text.len() > max {
        return Err(InvalidKeyPart::TooLong { max });
    }
    let inner_colon_ok = matches!(colons, Colons::Inner);
    let ends_ok = !text.starts_with(SEPARATOR) && !text.ends_with(SEPARATOR);
    let bytes_ok = text
        .bytes()
        .all(|b| is_key_byte(b) || (inner_colon_ok && b == b':'));
    if bytes_ok && ends_ok {
        Ok(())
    } else {
        Err(InvalidKeyPart::BadCharacter)
    }
}

/// Whether a part may contain `:` separators.
#[derive(Debug, Clone, Copy)]
enum Colons {
    /// Between other characters only (`ot:test:1f2e`).
    Inner,
    /// Nowhere.
    None,
}

/// The namespace every key starts with, e.g. `ot` in production or `test:<uuid>` in a test.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// # Errors
    /// When empty, longer than [`MAX_KEY_PREFIX_LEN`], or holding characters other than
    /// letters, digits, `_`, `-`, `.` and inner `:` (no braces: see the module docs).
    pub fn new(text: &str) -> Result<Self, InvalidKeyPart> {
        validate(text, MAX_KEY_PREFIX_LEN, Colons::Inner)?;
        Ok(Self(text.to_owned()))
    }

    /// A nested namespace: `ot` + `tenant7` → `ot:tenant7`.
    ///
    /// # Errors
    /// As [`KeyPrefix::new`] for the segment, or when the result is too long.
    pub fn child(&self, segment: &str) -> Result<Self, InvalidKeyPart> {
        validate(segment, MAX_KEY_PREFIX_LEN, Colons::None)?;
        Self::new(&format!("{}{SEPARATOR}{segment}", self.0))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key with no hash tag: `ot:deny_list`.
    #[must_use]
    pub fn key(&self, name: KeyName) -> String {
        format!("{}{SEPARATOR}{}", self.0, name.0)
    }

    /// A key in the slot of `tag`: `ot:{a42}:state`. All keys with one tag (one account's
    /// state, its idempotency records, its shard's stream) can be used in one script even
    /// on a Redis Cluster.
    #[must_use]
    pub fn tagged_key(&self, tag: &HashTag, name: KeyName) -> String {
        format!("{}{SEPARATOR}{{{}}}{SEPARATOR}{}", self.0, tag.0, name.0)
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last part of a key, written in code: `KeyName::new("state")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyName(&'static str);

impl KeyName {
    /// # Panics
    /// When `name` is empty or holds characters other than letters, digits, `_`, `-`, `.`
    /// and inner `:`. Names are literals, so in a `const` this is a compile error.
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        let bytes = name.as_bytes();
        assert!(!bytes.is_empty(), "key names are not empty");
        assert!(
            bytes[0] != b':' && bytes[bytes.len() - 1] != b':',
            "key names do not start or end with ':'"
        );
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                is_key_byte(bytes[i]) || bytes[i] == b':',
                "key names use only letters, digits, '_', '-', '.' and ':'"
            );
            i += 1;
        }
        Self(name)
    }

    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        self.0
    }
}

/// The part of a key Redis Cluster hashes: keys with equal tags share a slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HashTag(String);

impl HashTag {
    /// # Errors
    /// When empty, longer than [`MAX_HASH_TAG_LEN`], or holding characters other than
    /// letters, digits, `_`, `-`, `.` and inner `:`.
    pub fn new(text: &str) -> Result<Self, InvalidKeyPart> {
        validate(text, MAX_HASH_TAG_LEN, Colons::Inner)?;
        Ok(Self(text.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The hash tag Redis Cluster uses for `key`: the text between the first `{` and the next
/// `}`, when that is not empty (the rule of the Redis Cluster specification).
#[must_use]
pub fn hash_tag_of(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = key.get(open + 1..)?;
    let close = rest.find('}')?;
    let tag = rest.get(..close)?;
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: KeyName = KeyName::new("state");
    const DENY_LIST: KeyName = KeyName::new("deny_list");

    fn check_prefix(text: &str, expected: Result<&str, InvalidKeyPart>) {
        assert_eq!(
            KeyPrefix::new(text)
                .as_ref()
                .map(KeyPrefix::as_str)
                .map_err(|e| *e),
            expected,
            "prefix {text:?}"
        );
    }

    #[test]
    fn prefixes_are_validated() {
        check_prefix("ot", Ok("ot"));
        check_prefix("test:0f3a-9b", Ok("test:0f3a-9b"));
        check_prefix("", Err(InvalidKeyPart::Empty));
        check_prefix(
            &"a".repeat(MAX_KEY_PREFIX_LEN + 1),
            Err(InvalidKeyPart::TooLong {
                max: MAX_KEY_PREFIX_LEN,
            }),
        );
        check_prefix("ot{x}", Err(InvalidKeyPart::BadCharacter));
        check_prefix("ot:", Err(InvalidKeyPart::BadCharacter));
        check_prefix(":ot", Err(InvalidKeyPart::BadCharacter));
        check_prefix("o t", Err(InvalidKeyPart::BadCharacter));
    }

    #[test]
    fn keys_are_built_from_their_parts() {
        let prefix = KeyPrefix::new("ot").expect("valid");
        let tag = HashTag::new("a42").expect("valid");
        assert_eq!(prefix.key(DENY_LIST), "ot:deny_list");
        assert_eq!(prefix.tagged_key(&tag, STATE), "ot:{a42}:state");
        let tenant = prefix.child("tenant7").expect("valid");
        assert_eq!(tenant.key(DENY_LIST), "ot:tenant7:deny_list");
        assert_eq!(prefix.child("a:b"), Err(InvalidKeyPart::BadCharacter));
    }

    #[test]
    fn hash_tag_follows_the_cluster_rule() {
        assert_eq!(hash_tag_of("ot:{a42}:state"), Some("a42"));
        assert_eq!(hash_tag_of("ot:deny_list"), None);
        assert_eq!(hash_tag_of("ot:{}:x{y}"), None);
        assert_eq!(hash_tag_of("ot:{a{b}c}"), Some("a{b"));
        assert_eq!(hash_tag_of("ot:{open"), None);
    }

    proptest::proptest! {
        #[test]
        fn a_tagged_key_hashes_on_its_tag_alone(
            prefix in "[a-z]{1,8}(:[a-z0-9]{1,8}){0,3}",
            tag in "[A-Za-z0-9_.-]{1,16}(:[a-z0-9]{1,8})?",
            name in proptest::sample::select(vec![STATE, DENY_LIST, KeyName::new("pass:day")]),
        ) {
            let prefix = KeyPrefix::new(&prefix).expect("generated prefixes are valid");
            let tag = HashTag::new(&tag).expect("generated tags are valid");
            let key = prefix.tagged_key(&tag, name);
            proptest::prop_assert_eq!(hash_tag_of(&key), Some(tag.as_str()));
            let starts_with_prefix = key.starts_with(&format!("{}:", prefix.as_str()));
            proptest::prop_assert!(starts_with_prefix, "{}", key);
            let untagged = prefix.key(name);
            proptest::prop_assert_eq!(hash_tag_of(&untagged), None);
        }

        #[test]
        fn validation_never_panics_and_accepted_prefixes_have_no_braces(text in "\\PC{0,80}") {
            if let Ok(prefix) = KeyPrefix::new(&text) {
                let has_brace = prefix.as_str().contains(['{', '}']);
                proptest::prop_assert!(!has_brace, "{}", prefix);
                proptest::prop_assert!(prefix.as_str().len() <= MAX_KEY_PREFIX_LEN);
            }
            let _ = hash_tag_of(&text);
        }
    }
}
