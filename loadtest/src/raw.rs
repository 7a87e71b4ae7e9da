//! Raw mode: the tap path's Redis floor. The same commit script
//! (`store_redis::hot::commit`) with the same keys and arguments a tap
//! produces — state key, idempotency key and shard stream of the account's
//! virtual shard, a request hash, the expected version, a new state value,
//! the reply and the stream entry, each encoded by the projection's own
//! encoders from a real priced bus tap — but no HTTP, no authentication, no
//! pricing: what is left is the Redis round trip the service cannot avoid.
//!
//! Commands go over one multiplexed connection (as in the service: a
//! `ConnectionManager` pipelines concurrent commands on one socket), with
//! `connections` commands in flight at most. Raw accounts live under their
//! own key prefix, which is cleared before and after each run so every run
//! starts from empty states and leaves no stream behind.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use fares::engine::{AccountState, Event, EventKind};
use ledger::{AccountId, Money};
use projection::record::{
    RecordedEvent, Reply, StreamEntry, StreamEntryRef, TapContext, TapSource, encode_state,
};
use projection::{EventKey, FareSetup, IDEMPOTENCY_RETENTION_S, Layout, RequestHash, Shard};
use store_redis::ConnectionManager;
use store_redis::hot::{self, CommitArgs, CommitKeys, Committed};

use crate::report::Outcome;
use crate::runner::{Driver, Worker};
use crate::workload::{Workload, stable_uuid};

/// Keys deleted per `UNLINK` when clearing the raw prefix: big enough to
/// clear millions of keys in seconds, small enough to keep each command
/// short for anything else on the server.
pub const CLEAR_BATCH_KEYS: usize = 1_000;

/// The payloads every raw commit sends (the version prefix of the state is
/// set per commit).
#[derive(Clone, Debug)]
pub struct Payloads {
    /// The state value after the first `|` (configuration id and state).
    pub state_rest: Vec<u8>,
    /// The reply bytes.
    pub reply: Vec<u8>,
    /// The stream entry bytes.
    pub entry: Vec<u8>,
}

/// 2026-03-02 07:00 in Ho Chi Minh City: the time the template tap is
/// priced at (any weekday morning would do).
const TEMPLATE_TIME_S: i64 = 1_772_409_600;

impl Payloads {
    /// Prices a top-up and a bus boarding on a fresh account with the HCMC
    /// engine and encodes the result as the projection does for a tap.
    ///
    /// # Errors
    /// Only if the shipped configuration is broken.
    pub fn of_bus_tap(setup: &FareSetup) -> anyhow::Result<Payloads> {
        let engine = setup.engine();
        let at: DateTime<Utc> = Utc
            .timestamp_opt(TEMPLATE_TIME_S, 0)
            .single()
            .context("template time")?;
        let topped = engine.decide(
            &AccountState::default(),
            None,
            &Event {
                at: at.fixed_offset(),
                kind: EventKind::TopUp {
                    amount: Money::vnd(100_000),
                },
            },
        )?;
        let route = engine.route("19").context("route 19")?;
        let category = engine.category("adult").context("category adult")?;
        let event = Event {
            at: at.fixed_offset(),
            kind: EventKind::Bus { route, category },
        };
        let decided = engine.decide(&topped.state, None, &event)?;
        let reply = Reply::of_outcome(engine, &decided.outcome, decided.state.version);
        let state = encode_state(setup.config_id(), &decided.state)?;
        let bar = state
            .iter()
            .position(|b| *b == b'|')
            .context("a state value starts with its version and `|`")?;
        let entry = StreamEntry {
            key: "tap:lt-bus-00000:1772409600:1000000".to_owned(),
            account_id: Some(stable_uuid("raw-account", 0)),
            changed: true,
            event: Some(RecordedEvent::of(engine, &event)?),
            reply: reply.clone(),
            tap: Some(TapContext {
                terminal_id: "lt-bus-00000".to_owned(),
                boot_epoch: 1_772_409_600,
                seq: 1_000_000,
                source: TapSource::Online,
                device_time_s: 1_772_409_600,
                event_time: at,
                service_day: at.date_naive(),
                event_kind: "bus_boarding".to_owned(),
                route_id: Some("19".to_owned()),
                stop_id: None,
                station_id: None,
                lot_id: None,
                gate_id: None,
                vehicle_class: None,
                operator_id: "samco".to_owned(),
                medium_kind: "transit_card".to_owned(),
                medium_id: Some(stable_uuid("medium", 0)),
                ticket_id: None,
                category_id: Some("adult".to_owned()),
                ticket_verdict: None,
            }),
            config_id: setup.config_id().as_str().to_owned(),
            decided_at_ms: at.timestamp_millis(),
        };
        Ok(Payloads {
            state_rest: state.get(bar..).unwrap_or_default().to_vec(),
            reply: projection::entry::encode_reply(&reply),
            entry: projection::entry::encode(&StreamEntryRef::of(&entry)),
        })
    }
}

/// Drives the commit script directly.
pub struct RawDriver {
    redis: ConnectionManager,
    layout: Layout,
    workload: Arc<Workload>,
    payloads: Payloads,
    /// The version each raw account is at (0: no state yet).
    versions: Vec<AtomicU64>,
    seqs: Vec<AtomicU64>,
    boot_epoch: u32,
}

impl RawDriver {
    /// A driver on `redis` with keys under `layout` (a prefix of its own).
    #[must_use]
    pub fn new(
        redis: ConnectionManager,
        layout: Layout,
        workload: Arc<Workload>,
        payloads: Payloads,
        boot_epoch: u32,
    ) -> RawDriver {
        let versions = (0..workload.cards()).map(|_| AtomicU64::new(0)).collect();
        let seqs = (0..workload.terminal_count())
            .map(|_| AtomicU64::new(0))
            .collect();
        RawDriver {
            redis,
            layout,
            workload,
            payloads,
            versions,
            seqs,
            boot_epoch,
        }
    }
}

/// Deletes every key under `layout`'s prefix (`SCAN` + `UNLINK`).
///
/// # Errors
/// Redis failing.
pub async fn clear(redis: &ConnectionManager, layout: &Layout) -> anyhow::Result<u64> {
    let mut redis = redis.clone();
    let pattern = format!("{}:*", layout.prefix().as_str());
    let mut cursor: u64 = 0;
    let mut removed = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(CLEAR_BATCH_KEYS)
            .query_async(&mut redis)
            .await?;
        if !keys.is_empty() {
            removed += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(&mut redis)
                .await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// One in-flight slot on the shared connection.
pub struct RawWorker {
    driver: Arc<RawDriver>,
    redis: ConnectionManager,
}

impl Driver for Arc<RawDriver> {
    type Worker = RawWorker;

    async fn worker(&self, _n: u32) -> anyhow::Result<RawWorker> {
        Ok(RawWorker {
            driver: Arc::clone(self),
            redis: self.redis.clone(),
        })
    }
}

impl Worker for RawWorker {
    async fn send(&mut self, index: u64) -> (Outcome, bool) {
        let driver = &self.driver;
        let planned = driver.workload.plan(index);
        let Some(seq) = driver.seqs.get(planned.terminal_index) else {
            return (Cow::Borrowed("generator:terminal"), false);
        };
        let seq = seq.fetch_add(1, Ordering::Relaxed) + 1;
        driver
            .commit_tap(
                &mut self.redis,
                planned.card,
                planned.terminal.id.as_str(),
                driver.boot_epoch,
                seq,
            )
            .await
    }
}

impl RawDriver {
    /// Commits one tap of card `card` from `(terminal, boot_epoch, seq)`:
    /// the script with the keys and arguments such a tap produces (shared
    /// with the floor server).
    pub async fn commit_tap(
        &self,
        redis: &mut ConnectionManager,
        card: u32,
        terminal: &str,
        boot_epoch: u32,
        seq: u64,
    ) -> (Outcome, bool) {
        let Some(version) = self
            .versions
            .get(usize::try_from(card).unwrap_or(usize::MAX))
        else {
            return (Cow::Borrowed("generator:card"), false);
        };
        let Ok(account) = AccountId::new(stable_uuid("raw-account", card)) else {
            return (Cow::Borrowed("generator:account"), false);
        };
        let shard = Shard::of_account(account);
        let key = EventKey::tap(terminal, boot_epoch, seq);
        let state_key = self.layout.state(account);
        let idempotency_key = self.layout.idempotency(shard, &key);
        let stream = self.layout.stream(shard);
        let hash = RequestHash::of(key.as_str().as_bytes()).to_hex();
        let mut current = version.load(Ordering::Relaxed);
        // One retry: a conflict only happens if the prefix was not cleared
        // (or, on the floor server, when two taps of a card race).
        for _ in 0..2 {
            let expected = if current == 0 {
                String::new()
            } else {
                current.to_string()
            };
            let mut new_state = (current + 1).to_string().into_bytes();
            new_state.extend_from_slice(&self.payloads.state_rest);
            let committed = hot::commit(
                redis,
                CommitKeys {
                    state: &state_key,
                    idempotency: &idempotency_key,
                    stream: &stream,
                },
                CommitArgs {
                    request_hash: &hash,
                    expected_version: &expected,
                    new_state: &new_state,
                    reply: &self.payloads.reply,
                    retention_s: IDEMPOTENCY_RETENTION_S,
                    entry: &self.payloads.entry,
                },
            )
            .await;
            match committed {
                Ok(Committed::Done { .. }) => {
                    version.store(current + 1, Ordering::Relaxed);
                    return (Cow::Borrowed("raw:ok"), true);
                }
                Ok(Committed::VersionConflict(stored)) => {
                    let text = String::from_utf8_lossy(&stored);
                    current = text
                        .split('|')
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                }
                Ok(Committed::Repeat(_)) => return (Cow::Borrowed("raw:repeat"), false),
                Ok(Committed::KeyConflict) => return (Cow::Borrowed("raw:key_conflict"), false),
                Err(_) => return (Cow::Borrowed("raw:redis_error"), false),
            }
        }
        (Cow::Borrowed("raw:version_conflict"), false)
    }
}
