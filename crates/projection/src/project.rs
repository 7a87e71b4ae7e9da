//! [`Projection`]: read an account's hot state, price an event with the
//! engine, commit it atomically, and rebuild a state from Postgres.
//!
//! The steady state costs one Redis round trip per event: this instance
//! caches the last state it committed per account (bounded), prices against
//! it, and sends the version it expects. If another instance moved the
//! account meanwhile, the script answers with the current state in the same
//! reply and the event is priced again, at most [`MAX_COMMIT_ATTEMPTS`]
//! times. A state missing from Redis, or built with another configuration,
//! is rebuilt from `rider.account_event` (see [`Projection::rebuild`]).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use fares::engine::{AccountState, Decision, Event, EventKind, LotOccupancy};
use ledger::AccountId;
use redis::AsyncCommands;
use sqlx::PgPool;
use store_redis::ConnectionManager;
use store_redis::hot::{self, CommitArgs, CommitKeys, Committed};

use crate::ProjectionError;
use crate::cache::{Cache, FastHash};
use crate::keys::{EventKey, Layout, RequestHash, Shard};
use crate::record::{
    RecordedEvent, RecordedKind, Reply, StreamEntryRef, TapContext, decode_state, encode_state,
};
use crate::setup::FareSetup;

/// How long an event's first reply is kept, in seconds: 8 days, longer
/// than a terminal may run offline (7 days, card protocol `MAX_OFFLINE_S`)
/// plus a day to upload, so every retry within a terminal's horizon is
/// answered as a repeat.
pub const IDEMPOTENCY_RETENTION_S: u64 = 8 * 24 * 3_600;

/// Commit attempts before giving up with `Busy`. Each retry follows a
/// commit by another instance on the same account; a rider taps at most a
/// few gates at once, so 8 attempts only fail under a fault.
pub const MAX_COMMIT_ATTEMPTS: u32 = 8;

/// Accounts whose last committed state this instance keeps: about 300
/// bytes each, so 100,000 (×2 generations) stay under 60 MB while covering
/// every rider active within minutes at peak.
pub const STATE_CACHE_ENTRIES: usize = 100_000;

/// Events read per query when rebuilding: bounds one query's memory; a
/// rebuild pages through an account's history.
pub const REBUILD_PAGE_EVENTS: u32 = 5_000;

/// Metric: seconds per commit script call.
pub const METRIC_SCRIPT_SECONDS: &str = "projection_script_seconds";
/// Metric: commits retried after a version conflict.
pub const METRIC_COMMIT_RETRIES: &str = "projection_commit_retries_total";
/// Metric: states rebuilt from Postgres.
pub const METRIC_REBUILDS: &str = "projection_rebuilds_total";
/// Metric: recorded events the engine now denies when folded.
pub const METRIC_REBUILD_DIVERGENCES: &str = "projection_rebuild_divergences_total";

/// Whether an answer is the first or a repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// This call applied the event.
    First,
    /// The event had been applied; this is its first reply.
    Retry,
}

/// The answer to [`Projection::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The reply (the first one, for a repeat).
    pub reply: Reply,
    /// First or repeat.
    pub repeat: Repeat,
    /// The lot's new occupancy, for a first parking event: the caller owns
    /// lot counters.
    pub occupancy: Option<LotOccupancy>,
}

/// One event to apply to one account.
#[derive(Clone, Debug)]
pub struct Change<'a> {
    /// The account.
    pub account: AccountId,
    /// The idempotency key.
    pub key: &'a EventKey,
    /// The hash of the canonical request behind the event.
    pub hash: RequestHash,
    /// What to price.
    pub event: Event,
    /// The lot's counter, for parking events.
    pub occupancy: Option<LotOccupancy>,
    /// The tap behind the event, to record with it.
    pub tap: Option<TapContext>,
    /// When the backend decides (recorded; the event carries its own time).
    pub now: DateTime<Utc>,
}

/// How [`Projection::store_rebuilt`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebuildMode {
    /// Only where Redis has no state for the account (after a flush).
    IfMissing,
    /// Replace whatever Redis holds.
    Replace,
}

/// The state this instance last saw for an account, with the version text
/// Redis holds for it ("" when Redis holds none).
#[derive(Debug)]
struct Cached {
    version_text: String,
    state: AccountState,
}

struct Inner {
    redis: ConnectionManager,
    pool: PgPool,
    layout: Layout,
    setup: Arc<FareSetup>,
    cache: Cache<AccountId, Arc<Cached>, FastHash>,
    /// [`METRIC_SCRIPT_SECONDS`], registered once (the recorder must be
    /// installed before the projection is made, as `oneticket serve` does).
    script_seconds: metrics::Histogram,
}

/// The hot projection. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Projection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("prefix", &self.inner.layout.prefix().as_str())
            .finish_non_exhaustive()
    }
}

impl Projection {
    /// A projection on `redis` and `pool` under the key layout `layout`.
    #[must_use]
    pub fn new(
        redis: ConnectionManager,
        pool: PgPool,
        layout: Layout,
        setup: Arc<FareSetup>,
    ) -> Projection {
        Projection {
            inner: Arc::new(Inner {
                redis,
                pool,
                layout,
                setup,
                cache: Cache::with_hasher(STATE_CACHE_ENTRIES),
                script_seconds: metrics::histogram!(METRIC_SCRIPT_SECONDS),
            }),
        }
    }

    /// The fare configuration.
    #[must_use]
    pub fn setup(&self) -> &FareSetup {
        &self.inner.setup
    }

    /// The key layout.
    #[must_use]
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// Prices `change.event` for `change.account` and commits it; a repeat
    /// of the key with the same hash answers the first reply, with another
    /// hash `KeyConflict`.
    ///
    /// # Errors
    /// See [`ProjectionError`]; nothing changed.
    ///
    /// The span is debug-level: it would format two fields per tap, and at
    /// the default `info` level the request's own span already names it.
    #[tracing::instrument(level = "debug", skip_all, fields(account_id = %change.account, key = %change.key))]
    pub async fn apply(&self, change: Change<'_>) -> Result<Applied, ProjectionError> {
        let inner = &self.inner;
        let setup = &inner.setup;
        let engine = setup.engine();
        let account = change.account;
        let shard = Shard::of_account(account);
        let state_key = inner.layout.state(account);
        let idempotency_key = inner.layout.idempotency(shard, change.key);
        let stream = inner.layout.stream(shard);
        let hash = change.hash.to_hex();
        let recorded = RecordedEvent::of(engine, &change.event)?;
        let mut current = match inner.cache.get(&account) {
            Some(cached) => cached,
            // Boxed, as the retry's read below: rare paths (Postgres behind
            // them) that would otherwise make every tap's future kilobytes
            // larger, copied and touched on each tap.
            None => Box::pin(self.load(account)).await?,
        };
        let mut redis = store_redis::affinity::on_this_thread(&inner.redis);
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let decided = engine.decide(&current.state, change.occupancy, &change.event)?;
            let changed = decided.outcome.decision == Decision::Accept
                && decided.state.version != current.state.version;
            let reply = Reply::of_outcome(engine, &decided.outcome, decided.state.version);
            let entry = crate::entry::encode(&StreamEntryRef {
                key: change.key.as_str(),
                account_id: Some(account.as_uuid()),
                changed,
                event: Some(&recorded),
                reply: &reply,
                tap: change.tap.as_ref(),
                config_id: setup.config_id().as_str(),
                decided_at_ms: change.now.timestamp_millis(),
            });
            let reply_bytes = crate::entry::encode_reply(&reply);
            let new_state = if changed {
                encode_state(setup.config_id(), &decided.state)?
            } else {
                Vec::new()
            };
            let started = Instant::now();
            let committed = hot::commit(
                &mut redis,
                CommitKeys {
                    state: &state_key,
                    idempotency: &idempotency_key,
                    stream: &stream,
                },
                CommitArgs {
                    request_hash: &hash,
                    expected_version: &current.version_text,
                    new_state: &new_state,
                    reply: &reply_bytes,
                    retention_s: IDEMPOTENCY_RETENTION_S,
                    entry: &entry,
                },
            )
            .await?;
            inner.script_seconds.record(started.elapsed().as_secs_f64());
            match committed {
                Committed::Done { .. } => {
                    if changed {
                        inner.cache.put(
                            account,
                            Arc::new(Cached {
                                version_text: decided.state.version.to_string(),
                                state: decided.state,
                            }),
                        );
                    } else {
                        inner.cache.put(account, current);
                    }
                    return Ok(Applied {
                        reply,
                        repeat: Repeat::First,
                        occupancy: decided.occupancy,
                    });
                }
                Committed::Repeat(bytes) => {
                    let reply = crate::entry::decode_reply(&bytes)
                        .map_err(|e| ProjectionError::Corrupt(format!("stored reply: {e}")))?;
                    return Ok(Applied {
                        reply,
                        repeat: Repeat::Retry,
                        occupancy: None,
                    });
                }
                Committed::KeyConflict => return Err(ProjectionError::KeyConflict),
                Committed::VersionConflict(stored) => {
                    metrics::counter!(METRIC_COMMIT_RETRIES).increment(1);
                    current = Box::pin(self.state_of_stored(account, &stored)).await?;
                }
            }
        }
        inner.cache.remove(&account);
        Err(ProjectionError::Busy)
    }

    /// Records an event that reaches no account (a tap with an unknown
    /// medium, a rejected ticket): idempotent on `key`, appended to the
    /// stream so it reaches Postgres, never priced.
    ///
    /// # Errors
    /// `KeyConflict`, or Redis failing.
    pub async fn record_unpriced(
        &self,
        key: &EventKey,
        hash: RequestHash,
        reply: Reply,
        tap: Option<TapContext>,
        now: DateTime<Utc>,
    ) -> Result<Applied, ProjectionError> {
        let shard = Shard::of_key(key);
        let entry = crate::entry::encode(&StreamEntryRef {
            key: key.as_str(),
            account_id: None,
            changed: false,
            event: None,
            reply: &reply,
            tap: tap.as_ref(),
            config_id: self.inner.setup.config_id().as_str(),
            decided_at_ms: now.timestamp_millis(),
        });
        let reply_bytes = crate::entry::encode_reply(&reply);
        let mut redis = store_redis::affinity::on_this_thread(&self.inner.redis);
        let committed = hot::record(
            &mut redis,
            &self.inner.layout.idempotency(shard, key),
            &self.inner.layout.stream(shard),
            &hash.to_hex(),
            &reply_bytes,
            IDEMPOTENCY_RETENTION_S,
            &entry,
        )
        .await?;
        match committed {
            Committed::Done { .. } | Committed::VersionConflict(_) => Ok(Applied {
                reply,
                repeat: Repeat::First,
                occupancy: None,
            }),
            Committed::Repeat(bytes) => Ok(Applied {
                reply: crate::entry::decode_reply(&bytes)
                    .map_err(|e| ProjectionError::Corrupt(format!("stored reply: {e}")))?,
                repeat: Repeat::Retry,
                occupancy: None,
            }),
            Committed::KeyConflict => Err(ProjectionError::KeyConflict),
        }
    }

    /// The account's hot state as Redis holds it, rebuilding it (without
    /// storing) when Redis has none of this configuration.
    ///
    /// # Errors
    /// Redis or Postgres failing, or a recorded event the engine cannot read.
    pub async fn state(&self, account: AccountId) -> Result<AccountState, ProjectionError> {
        Ok(self.load(account).await?.state.clone())
    }

    /// Forgets what this instance cached (after Redis was flushed, in tests
    /// and tools; a live instance notices changes through the script).
    pub fn forget_cached(&self) {
        self.inner.cache.clear();
    }

    async fn load(&self, account: AccountId) -> Result<Arc<Cached>, ProjectionError> {
        let mut redis = store_redis::affinity::on_this_thread(&self.inner.redis);
        let stored: Option<Vec<u8>> = redis
            .get(self.inner.layout.state(account))
            .await
            .map_err(store_redis::StoreError::Command)?;
        self.state_of_stored(account, stored.as_deref().unwrap_or_default())
            .await
    }

    /// The state behind a stored value ("" = none): used as is when it is of
    /// this configuration, rebuilt from Postgres otherwise.
    async fn state_of_stored(
        &self,
        account: AccountId,
        stored: &[u8],
    ) -> Result<Arc<Cached>, ProjectionError> {
        if stored.is_empty() {
            let state = self.rebuild(account).await?;
            return Ok(Arc::new(Cached {
                version_text: String::new(),
                state,
            }));
        }
        let decoded = decode_state(stored);
        if let Some(state) = crate::record::usable(&decoded, &self.inner.setup) {
            return Ok(Arc::new(Cached {
                version_text: decoded.version_text,
                state,
            }));
        }
        let state = self.rebuild(account).await?;
        Ok(Arc::new(Cached {
            version_text: decoded.version_text,
            state,
        }))
    }

    /// The account's state rebuilt from Postgres: the latest snapshot of
    /// this configuration (if any), then every recorded event after it,
    /// folded through the engine in version order. Each step takes the
    /// recorded version, so versions continue where the records end.
    ///
    /// Events still in the stream (not yet ingested) are not in Postgres:
    /// after a Redis flush they are gone from Redis too and come back
    /// through the terminals' journals.
    ///
    /// # Errors
    /// Postgres failing, or a recorded event this configuration cannot read.
    pub async fn rebuild(&self, account: AccountId) -> Result<AccountState, ProjectionError> {
        metrics::counter!(METRIC_REBUILDS).increment(1);
        let setup = &self.inner.setup;
        let engine = setup.engine();
        let pool = &self.inner.pool;
        let uuid = account.as_uuid();
        let (mut state, mut after) =
            match store_pg::hot_events::latest_snapshot(pool, uuid, setup.config_id().as_str())
                .await?
            {
                Some((version, json)) => {
                    let state: AccountState = serde_json::from_value(json)
                        .map_err(|e| ProjectionError::Corrupt(format!("snapshot: {e}")))?;
                    (state, version)
                }
                None => (AccountState::default(), 0),
            };
        loop {
            let rows = store_pg::hot_events::account_events(pool, uuid, after, REBUILD_PAGE_EVENTS)
                .await?;
            let full = u32::try_from(rows.len()).is_ok_and(|n| n == REBUILD_PAGE_EVENTS);
            for row in &rows {
                let recorded = recorded_of_row(row)?;
                let event = recorded.to_event(engine)?;
                let occupancy = synthetic_occupancy(&event);
                let decided = engine.decide(&state, occupancy, &event)?;
                if decided.outcome.decision != Decision::Accept {
                    metrics::counter!(METRIC_REBUILD_DIVERGENCES).increment(1);
                    tracing::warn!(
                        version = row.version,
                        "a recorded event is denied when folded"
                    );
                }
                state = decided.state;
                state.version = u64::try_from(row.version)
                    .map_err(|_| ProjectionError::Corrupt(format!("version {}", row.version)))?;
                after = row.version;
            }
            if !full {
                break;
            }
        }
        Ok(state)
    }

    /// Rebuilds an account and writes the state to Redis (`hot rebuild`).
    /// Returns whether it was written.
    ///
    /// # Errors
    /// As [`Projection::rebuild`], or Redis failing.
    pub async fn store_rebuilt(
        &self,
        account: AccountId,
        mode: RebuildMode,
    ) -> Result<bool, ProjectionError> {
        let state = self.rebuild(account).await?;
        let value = encode_state(self.inner.setup.config_id(), &state)?;
        let key = self.inner.layout.state(account);
        let mut redis = store_redis::affinity::on_this_thread(&self.inner.redis);
        let mut command = redis::cmd("SET");
        command.arg(&key).arg(value);
        if mode == RebuildMode::IfMissing {
            command.arg("NX");
        }
        let written: Option<String> = command
            .query_async(&mut redis)
            .await
            .map_err(store_redis::StoreError::Command)?;
        self.inner.cache.remove(&account);
        Ok(written.is_some())
    }
}

/// Parking events need their lot's counter; a fold replays accepted
/// events, so it passes a counter that cannot refuse them (the real counter
/// lives with the parking service).
fn synthetic_occupancy(event: &Event) -> Option<LotOccupancy> {
    match event.kind {
        EventKind::ParkIn { lot } => Some(LotOccupancy { lot, occupied: 0 }),
        EventKind::ParkOut { lot, .. } => Some(LotOccupancy { lot, occupied: 1 }),
        _ => None,
    }
}

fn recorded_of_row(row: &store_pg::hot_events::EventRow) -> Result<RecordedEvent, ProjectionError> {
    let need = |value: &Option<String>, what: &'static str| {
        value
            .clone()
            .ok_or_else(|| ProjectionError::Corrupt(format!("account event without {what}")))
    };
    let kind = match row.kind.as_str() {
        "top_up" => RecordedKind::TopUp {
            amount_vnd: row
                .top_up_vnd
                .ok_or_else(|| ProjectionError::Corrupt("top-up without amount".into()))?,
        },
        "bus" => RecordedKind::Bus {
            route_id: need(&row.route_id, "route")?,
            category_id: need(&row.category_id, "category")?,
        },
        "metro_in" => RecordedKind::MetroIn {
            station_id: need(&row.station_id, "station")?,
            category_id: need(&row.category_id, "category")?,
        },
        "metro_out" => RecordedKind::MetroOut {
            station_id: need(&row.station_id, "station")?,
        },
        "buy_pass" => RecordedKind::BuyPass {
            product_id: need(&row.product_id, "product")?,
            category_id: need(&row.category_id, "category")?,
        },
        "park_in" => RecordedKind::ParkIn {
            lot_id: need(&row.lot_id, "lot")?,
        },
        "park_out" => RecordedKind::ParkOut {
            lot_id: need(&row.lot_id, "lot")?,
        },
        "park_out_lost_ticket" => RecordedKind::ParkOutLostTicket {
            lot_id: need(&row.lot_id, "lot")?,
        },
        other => return Err(ProjectionError::Corrupt(format!("event kind {other:?}"))),
    };
    Ok(RecordedEvent {
        at: row.event_time,
        kind,
    })
}
