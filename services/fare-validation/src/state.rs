//! The service's state: stores, the projection, the key material, and the
//! in-memory caches of the terminal registry, media and the deny list.
//!
//! Every cache is bounded and refreshed on a named interval (the registry
//! and the deny list are reloaded when they changed; media follow a change
//! feed, see [`crate::media`]), and changes made through this process
//! (admin calls) refresh it at once; another instance sees them within its
//! refresh interval.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use card_protocol::TerminalId;
use card_protocol::messages::KeySet;
use card_protocol::request_auth::{MasterKey, VerifyingKey, derive_terminal_key};
use chrono::{DateTime, TimeZone, Utc};
use projection::Projection;
use projection::cache::{Cache, FastHash};
use sqlx::PgPool;
use store_pg::deny_list::{DenyKind, DenyListStore};
use store_pg::rider::{MediumKind, MediumRecord, Riders};

use crate::media::{MediaCache, Poll};
use store_pg::terminal::{TerminalRecord, Terminals};
use store_redis::ConnectionManager;

/// How long the terminal registry is trusted before it is reloaded, ms: a
/// terminal registered or disabled on another instance is seen within 2 s.
pub const REGISTRY_REFRESH_MS: u64 = 2_000;
/// Shortest time between two reloads forced by an unknown terminal id, ms:
/// bounds the load a stream of unregistered (but validly signed) ids makes.
pub const REGISTRY_MISS_RELOAD_MS: u64 = 200;
/// How often the deny-list version is checked, ms: a card blocked on
/// another instance is refused within a second.
pub const DENY_LIST_REFRESH_MS: u64 = 1_000;
/// Terminal keys kept (HKDF derivations cached): one per terminal.
pub const TERMINAL_KEY_CACHE_ENTRIES: usize = 100_000;

/// Where the service's clock comes from: the system, or a settable clock
/// (tests replay a day in minutes).
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed time, moved by the test.
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// Now.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(at) => *at.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Now in unix seconds (never negative in practice; 0 before 1970).
    #[must_use]
    pub fn now_s(&self) -> u64 {
        u64::try_from(self.now().timestamp()).unwrap_or(0)
    }

    /// A manual clock at `unix_s`.
    #[must_use]
    pub fn manual(unix_s: i64) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(
            Utc.timestamp_opt(unix_s, 0).single().unwrap_or_default(),
        )))
    }

    /// Moves a manual clock to `at` (no effect on the system clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Clock::Manual(time) = self {
            *time
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
        }
    }
}

/// What the service is built from.
pub struct Config {
    /// The hot projection.
    pub projection: Projection,
    /// The Postgres pool.
    pub pool: PgPool,
    /// The shared Redis connection (QR replay cache).
    pub redis: ConnectionManager,
    /// The terminal master key.
    pub master_key: MasterKey,
    /// The published ticket key set.
    pub key_set: KeySet,
    /// The clock.
    pub clock: Clock,
}

pub(crate) struct Registry {
    // Looked up by caller text, but only registered terminals are ever
    // inserted, so the fast hasher is safe.
    pub(crate) terminals: Arc<HashMap<String, Arc<TerminalRecord>, FastHash>>,
    pub(crate) loaded_at: Option<Instant>,
}

pub(crate) struct DenySet {
    pub(crate) version: u64,
    pub(crate) entries: Arc<HashSet<(DenyKind, String)>>,
    pub(crate) checked_at: Option<Instant>,
}

pub(crate) struct Inner {
    pub(crate) projection: Projection,
    pub(crate) pool: PgPool,
    pub(crate) redis: ConnectionManager,
    pub(crate) master_key: MasterKey,
    pub(crate) key_set: KeySet,
    pub(crate) clock: Clock,
    pub(crate) riders: Riders,
    pub(crate) terminals: Terminals,
    pub(crate) deny_list: DenyListStore,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) registry_reload: tokio::sync::Mutex<()>,
    pub(crate) terminal_keys: Cache<String, VerifyingKey>,
    pub(crate) media: MediaCache,
    pub(crate) deny: RwLock<DenySet>,
    pub(crate) deny_reload: tokio::sync::Mutex<()>,
    /// `taps_total` by (decision, reason, mode), registered once each.
    pub(crate) tap_counters: crate::taps::TapCounters,
}

/// The service state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl AppState {
    /// The state for `config`.
    #[must_use]
    pub fn new(config: Config) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                riders: Riders::new(config.pool.clone()),
                terminals: Terminals::new(config.pool.clone()),
                deny_list: DenyListStore::new(config.pool.clone()),
                projection: config.projection,
                pool: config.pool,
                redis: config.redis,
                master_key: config.master_key,
                key_set: config.key_set,
                clock: config.clock,
                registry: RwLock::new(Registry {
                    terminals: Arc::new(HashMap::default()),
                    loaded_at: None,
                }),
                registry_reload: tokio::sync::Mutex::new(()),
                terminal_keys: Cache::new(TERMINAL_KEY_CACHE_ENTRIES),
                media: MediaCache::new(),
                deny: RwLock::new(DenySet {
                    version: 0,
                    entries: Arc::new(HashSet::new()),
                    checked_at: None,
                }),
                deny_reload: tokio::sync::Mutex::new(()),
                tap_counters: crate::taps::TapCounters::default(),
            }),
        }
    }

    /// The projection.
    #[must_use]
    pub fn projection(&self) -> &Projection {
        &self.inner.projection
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The HMAC key of a terminal (HKDF from the master key), prepared for
    /// verifying and cached.
    pub(crate) fn terminal_key(&self, terminal: &TerminalId) -> VerifyingKey {
        if let Some(key) = self.inner.terminal_keys.get(terminal.as_str()) {
            return key;
        }
        let key = VerifyingKey::new(&derive_terminal_key(&self.inner.master_key, terminal));
        self.inner
            .terminal_keys
            .put(terminal.as_str().to_owned(), key.clone());
        key
    }

    /// A registered terminal, reloading the registry when it is stale or the
    /// id is unknown (at most every `REGISTRY_MISS_RELOAD_MS`).
    ///
    /// Reloads are single-flight: of the requests that find the registry
    /// stale, one reloads it and the others go on with the registry they
    /// hold (a known terminal) or wait for that reload (an unknown id, or
    /// no registry yet) — never one reload each.
    pub(crate) async fn terminal(
        &self,
        id: &str,
    ) -> Result<Option<Arc<TerminalRecord>>, store_pg::StoreError> {
        let (found, loaded_at) = self.registry_entry(id);
        let age = loaded_at.map(|at| at.elapsed());
        let stale = age.is_none_or(|a| a >= Duration::from_millis(REGISTRY_REFRESH_MS));
        let miss_reload = found.is_none()
            && age.is_none_or(|a| a >= Duration::from_millis(REGISTRY_MISS_RELOAD_MS));
        if found.is_some() && stale {
            // Whoever takes the lock reloads (and gets the fresh record);
            // the others keep the record they hold, at most one reload old.
            if let Ok(_guard) = self.inner.registry_reload.try_lock() {
                if self.registry_entry(id).1 == loaded_at {
                    Box::pin(self.load_registry()).await?;
                }
                return Ok(self.registry_entry(id).0);
            }
            return Ok(found);
        }
        if stale || miss_reload {
            let _guard = self.inner.registry_reload.lock().await;
            // A reload that finished while we waited answers for us.
            if self.registry_entry(id).1 == loaded_at {
                Box::pin(self.load_registry()).await?;
            }
            return Ok(self.registry_entry(id).0);
        }
        Ok(found)
    }

    /// The registry's record of `id` and when the registry was loaded.
    fn registry_entry(&self, id: &str) -> (Option<Arc<TerminalRecord>>, Option<Instant>) {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (registry.terminals.get(id).cloned(), registry.loaded_at)
    }

    /// Reloads the terminal registry now (after an admin change).
    pub(crate) async fn reload_registry(&self) -> Result<(), store_pg::StoreError> {
        let _guard = self.inner.registry_reload.lock().await;
        self.load_registry().await
    }

    /// Loads the registry; the caller holds `registry_reload`.
    async fn load_registry(&self) -> Result<(), store_pg::StoreError> {
        let all = self.inner.terminals.all().await?;
        let map: HashMap<String, Arc<TerminalRecord>, FastHash> = all
            .into_iter()
            .map(|t| (t.terminal_id.clone(), Arc::new(t)))
            .collect();
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registry.terminals = Arc::new(map);
        registry.loaded_at = Some(Instant::now());
        Ok(())
    }

    /// The medium with this value and its account (kept in memory and
    /// refreshed by the change feed, see [`crate::media`]).
    pub(crate) async fn medium(
        &self,
        kind: MediumKind,
        value: &str,
    ) -> Result<Option<MediumRecord>, store_pg::StoreError> {
        self.inner
            .media
            .resolve(&self.inner.riders, kind, value)
            .await
    }

    /// Forgets a cached medium (after blocking it here).
    pub(crate) fn forget_medium(&self, kind: MediumKind, value: &str) {
        self.inner.media.forget(kind, value);
    }

    /// Reads the media change feed now instead of within
    /// `media::MEDIA_FEED_POLL_MS`: links, blocks and category decisions
    /// committed before the call take effect at the next tap.
    ///
    /// # Errors
    /// Postgres failing.
    pub async fn refresh_media(&self) -> Result<(), store_pg::StoreError> {
        self.inner
            .media
            .follow_feed(&self.inner.riders, Poll::Now)
            .await
    }

    /// Whether an entry is on the deny list (refreshed every
    /// `DENY_LIST_REFRESH_MS`).
    ///
    /// Single-flight like the registry: when a check is due, one request
    /// checks the version (and reloads if it moved) while the others use the
    /// list they hold; only before the first load does everyone wait.
    pub(crate) async fn denied(
        &self,
        kind: DenyKind,
        value: &str,
    ) -> Result<bool, store_pg::StoreError> {
        let checked_at = self.deny_checked_at();
        let due =
            checked_at.is_none_or(|at| at.elapsed() >= Duration::from_millis(DENY_LIST_REFRESH_MS));
        if due {
            let guard = if checked_at.is_none() {
                Some(self.inner.deny_reload.lock().await)
            } else {
                self.inner.deny_reload.try_lock().ok()
            };
            // A check that finished while we waited answers for us.
            if let Some(_guard) = guard
                && self.deny_checked_at() == checked_at
            {
                Box::pin(self.load_deny_list()).await?;
            }
        }
        let deny = self
            .inner
            .deny
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(deny.entries.contains(&(kind, value.to_owned())))
    }

    fn deny_checked_at(&self) -> Option<Instant> {
        self.inner
            .deny
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .checked_at
    }

    /// Reloads the deny list if its version moved.
    pub(crate) async fn refresh_deny_list(&self) -> Result<(), store_pg::StoreError> {
        let _guard = self.inner.deny_reload.lock().await;
        self.load_deny_list().await
    }

    /// Checks the version and reloads on a change; the caller holds
    /// `deny_reload`.
    async fn load_deny_list(&self) -> Result<(), store_pg::StoreError> {
        let version = self.inner.deny_list.version().await?;
        let held = self
            .inner
            .deny
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .version;
        let entries = if version == held {
            None
        } else {
            let snapshot = self.inner.deny_list.snapshot().await?;
            Some((
                snapshot.version,
                snapshot.entries.into_iter().collect::<HashSet<_>>(),
            ))
        };
        let mut deny = self
            .inner
            .deny
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((version, entries)) = entries {
            deny.version = version;
            deny.entries = Arc::new(entries);
        }
        deny.checked_at = Some(Instant::now());
        Ok(())
    }
}
