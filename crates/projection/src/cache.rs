//! A bounded in-process cache: two generations of a hash map. Lookups look
//! in the young generation, then in the old one (promoting a hit); when the
//! young one is full it becomes the old one and the previous old one is
//! dropped. So memory stays under twice the capacity, recently used entries
//! survive, and no operation scans: an LRU's behaviour at a hash map's cost.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;

/// The hasher for caches keyed by what the system made (account ids), not
/// by what a caller sent: foldhash, several times cheaper than the default
/// SipHash on short keys. Caches keyed by caller input keep SipHash, which
/// resists keys chosen to collide.
pub type FastHash = foldhash::fast::RandomState;

/// A bounded cache safe to share between tasks (one short lock per call).
#[derive(Debug)]
pub struct Cache<K, V, S = RandomState> {
    capacity: usize,
    inner: Mutex<Generations<K, V, S>>,
}

#[derive(Debug)]
struct Generations<K, V, S> {
    young: HashMap<K, V, S>,
    old: HashMap<K, V, S>,
}

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    /// A cache holding at least `capacity` and at most `2 × capacity`
    /// entries (at least one), hashing with SipHash.
    #[must_use]
    pub fn new(capacity: usize) -> Cache<K, V> {
        Cache::with_hasher(capacity)
    }
}

impl<K: Eq + Hash + Clone, V: Clone, S: BuildHasher + Default> Cache<K, V, S> {
    /// [`Cache::new`] with the hasher `S` (e.g. [`FastHash`]).
    #[must_use]
    pub fn with_hasher(capacity: usize) -> Cache<K, V, S> {
        Cache {
            capacity: capacity.max(1),
            inner: Mutex::new(Generations {
                young: HashMap::default(),
                old: HashMap::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<K, V, S>> {
        // A panic while holding the lock leaves maps that are still valid
        // (every operation is a single insert or remove), so use them.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached value of `key` (a borrowed form of the key, as a `&str`
    /// for a `String`, needs no owned key unless it is promoted).
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut generations = self.lock();
        if let Some(value) = generations.young.get(key) {
            return Some(value.clone());
        }
        let value = generations.old.remove(key)?;
        Self::insert_young(
            &mut generations,
            self.capacity,
            key.to_owned(),
            value.clone(),
        );
        Some(value)
    }

    /// Caches `value` under `key`.
    pub fn put(&self, key: K, value: V) {
        let mut generations = self.lock();
        generations.old.remove(&key);
        Self::insert_young(&mut generations, self.capacity, key, value);
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        let mut generations = self.lock();
        generations.young.remove(key);
        generations.old.remove(key);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut generations = self.lock();
        generations.young.clear();
        generations.old.clear();
    }

    fn insert_young(generations: &mut Generations<K, V, S>, capacity: usize, key: K, value: V) {
        if generations.young.len() >= capacity && !generations.young.contains_key(&key) {
            generations.old = std::mem::take(&mut generations.young);
        }
        generations.young.insert(key, value);
    }

    /// How many entries are held (both generations).
    pub fn len(&self) -> usize {
        let generations = self.lock();
        generations.young.len() + generations.old.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recent_entries_survive_a_generation_change() {
        let cache = Cache::new(2);
        cache.put(1, "a");
        cache.put(2, "b");
        cache.put(3, "c"); // 1 and 2 move to the old generation
        assert_eq!(cache.get(&1), Some("a")); // promoted
        cache.put(4, "d"); // young {3,1} full → old; 2 dropped
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.get(&1), Some("a"));
        cache.remove(&1);
        assert_eq!(cache.get(&1), None);
    }

    proptest! {
        #[test]
        fn never_holds_more_than_twice_its_capacity(
            capacity in 1usize..16,
            keys in proptest::collection::vec(0u16..64, 0..300),
        ) {
            let cache = Cache::new(capacity);
            for key in keys {
                if key % 3 == 0 { let _ = cache.get(&key); } else { cache.put(key, key); }
                prop_assert!(cache.len() <= 2 * capacity);
            }
        }

        #[test]
        fn the_last_put_is_always_found(keys in proptest::collection::vec(0u16..64, 1..200)) {
            let cache = Cache::new(4);
            for key in &keys {
                cache.put(*key, *key);
                prop_assert_eq!(cache.get(key), Some(*key));
            }
        }
    }
}
