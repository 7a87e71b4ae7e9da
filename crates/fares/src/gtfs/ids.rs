//! Typed GTFS ids for the values the fare API hands out, and the interner
//! that turns id text into small indices at load time.
//!
//! GTFS ids are any non-empty UTF-8 text. Inside a loaded feed every id is a
//! `u32` index into one table per kind, so matching compares integers and
//! never allocates; the text comes back only in answers.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

/// An id was empty; GTFS ids are never empty (an empty field means "no id").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an id cannot be empty")]
pub struct EmptyId;

macro_rules! feed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id `text`, which must not be empty.
            pub fn new(text: &str) -> Result<Self, EmptyId> {
                if text.is_empty() {
                    Err(EmptyId)
                } else {
                    Ok(Self(text.to_owned()))
                }
            }

            /// The id as written in the feed.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// An id taken from the feed's interner, where only non-empty
            /// field values are ever stored.
            pub(crate) fn from_interned(text: &str) -> Self {
                debug_assert!(!text.is_empty(), "the interner stores non-empty ids only");
                Self(text.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

feed_id!(
    /// `fare_products.fare_product_id`.
    FareProductId
);
feed_id!(
    /// `rider_categories.rider_category_id`.
    RiderCategoryId
);
feed_id!(
    /// `fare_media.fare_media_id`.
    FareMediaId
);
feed_id!(
    /// `fare_leg_rules.leg_group_id`.
    LegGroupId
);

/// A fast non-cryptographic hasher (the multiply-rotate scheme of rustc's
/// FxHash) for the feed's lookup tables. Their keys come from the feed,
/// which the operator publishes; requests only look keys up, so hash
/// flooding is not a concern here and SipHash's cost is (it was most of a
/// quote's time).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

/// The FxHash multiplier (a 64-bit odd constant with well-spread bits).
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0_u8; 8];
            for (slot, byte) in word.iter_mut().zip(chunk) {
                *slot = *byte;
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(u64::try_from(i).unwrap_or(u64::MAX));
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Maps id text to dense `u32` indices, in order of first appearance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    index: FastMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    /// The index of `id`, adding it when new. `None` only past `u32::MAX` ids.
    pub(crate) fn intern(&mut self, id: &str) -> Option<u32> {
        if let Some(&i) = self.index.get(id) {
            return Some(i);
        }
        let i = u32::try_from(self.names.len()).ok()?;
        self.index.insert(id.to_owned(), i);
        self.names.push(id.to_owned());
        Some(i)
    }

    /// The index of a known `id`.
    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The text of index `i`.
    pub(crate) fn name(&self, i: u32) -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.names.get(i))
            .map_or("", String::as_str)
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// `u32` index → `usize` for slice access (lossless on every supported target).
pub(crate) fn ix(i: u32) -> usize {
    usize::try_from(i).expect("OneTicket targets have at least 32-bit usize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_empty() {
        assert_eq!(FareProductId::new(""), Err(EmptyId));
        assert_eq!(
            FareProductId::new("single").map(|id| id.as_str().to_owned()),
            Ok("single".to_owned())
        );
    }

    #[test]
    fn interner_is_dense_and_stable() {
        let mut interner = Interner::default();
        assert_eq!(interner.intern("a"), Some(0));
        assert_eq!(interner.intern("b"), Some(1));
        assert_eq!(interner.intern("a"), Some(0));
        assert_eq!(interner.get("b"), Some(1));
        assert_eq!(interner.get("c"), None);
        assert_eq!(interner.name(1), "b");
        assert_eq!(interner.len(), 2);
    }
}
