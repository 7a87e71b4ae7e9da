//! The background workers, started by the binary next to the router and
//! stopped on shutdown (each finishes the step in hand):
//!
//! - **saga sweep** ([`sweep_once`], every `sweep_interval_ms`): re-drives
//!   gate records pending longer than [`crate::gate::SAGA_STALE_AFTER_MS`]
//!   (see the saga in [`crate::gate`]) and lost-ticket closings;
//! - **gate journals** ([`crate::journal::apply_pending`], every
//!   `journal_interval_ms`);
//! - **overstays** ([`flag_overstays_once`], every `overstay_interval_s`):
//!   flags open stays older than `overstay_after_s`; the report is
//!   `GET /v1/admin/parking/overstays`;
//! - **counter check** ([`check_counters_once`], every `check_interval_s`):
//!   compares each lot's counter with its open stays in Postgres; when they
//!   agree the counter's source time is stamped (the feed stays fresh at a
//!   quiet lot), when they differ the drift is logged and exported
//!   (`parking_occupancy_drift`) for an operator to count and correct.
//!
//! Every worker's failures are logged and retried at its next tick; none
//! stops the others.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use card_protocol::messages::{Tap, TapEvent};
use chrono::{DateTime, TimeDelta, Utc};
use projection::TapSource;
use service_kit::ApiError;
use store_pg::parking::StayRecord;
use store_pg::terminal::{TerminalRecord, Terminals};
use store_redis::occupancy;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::gate::{self, Direction, GateTap, SAGA_STALE_AFTER_MS};
use crate::journal;
use crate::ops::{self, LostTicketRequest};
use crate::state::ParkingState;

/// How often the saga sweep runs, ms: a fifth of the staleness bound, so a
/// stuck record is finished within ~36 s.
pub const SWEEP_INTERVAL_MS: u64 = 6_000;
/// Stale records re-driven per lot per sweep: bounds one sweep; the rest
/// wait for the next.
pub const SWEEP_BATCH: usize = 100;
/// How often gate journal records are picked up, ms: offline records reach
/// the accounts within seconds of their upload.
pub const JOURNAL_INTERVAL_MS: u64 = 2_000;
/// How often the overstay job runs, s.
pub const OVERSTAY_INTERVAL_S: u64 = 600;
/// A stay open longer than this is an overstay, s: three days, longer than
/// any commuter's weekend, shorter than the weeks abandoned vehicles stay.
pub const OVERSTAY_AFTER_S: i64 = 3 * 24 * 3_600;
/// How often the counters are checked against the open stays, s: within
/// the feed's staleness bound (5 min), so a quiet but healthy lot stays
/// `open` in the feed.
pub const CHECK_INTERVAL_S: u64 = 60;

/// Metric: counter minus open stays, per lot (0 when they agree).
pub const METRIC_OCCUPANCY_DRIFT: &str = "parking_occupancy_drift";
/// Metric: stays flagged as overstays.
pub const METRIC_OVERSTAYS: &str = "parking_overstays_flagged_total";
/// Metric: saga records the sweep finished.
pub const METRIC_SWEPT: &str = "parking_saga_records_swept_total";

/// The workers' periods.
#[derive(Clone, Copy, Debug)]
pub struct JobSettings {
    /// See [`SWEEP_INTERVAL_MS`].
    pub sweep_interval_ms: u64,
    /// See [`JOURNAL_INTERVAL_MS`].
    pub journal_interval_ms: u64,
    /// See [`OVERSTAY_INTERVAL_S`].
    pub overstay_interval_s: u64,
    /// See [`OVERSTAY_AFTER_S`].
    pub overstay_after_s: i64,
    /// See [`CHECK_INTERVAL_S`].
    pub check_interval_s: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            sweep_interval_ms: SWEEP_INTERVAL_MS,
            journal_interval_ms: JOURNAL_INTERVAL_MS,
            overstay_interval_s: OVERSTAY_INTERVAL_S,
            overstay_after_s: OVERSTAY_AFTER_S,
            check_interval_s: CHECK_INTERVAL_S,
        }
    }
}

/// The running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts every worker on `state`.
    #[must_use]
    pub fn start(state: &ParkingState, settings: JobSettings) -> Workers {
        let (stop, stopped) = watch::channel(false);
        let handles = vec![
            every(
                "parking saga sweep",
                Duration::from_millis(settings.sweep_interval_ms),
                stopped.clone(),
                {
                    let state = state.clone();
                    move || {
                        let state = state.clone();
                        async move { sweep_once(&state).await.map(drop) }
                    }
                },
            ),
            every(
                "parking gate journals",
                Duration::from_millis(settings.journal_interval_ms),
                stopped.clone(),
                {
                    let state = state.clone();
                    move || {
                        let state = state.clone();
                        async move { journal::apply_pending(&state).await.map(drop) }
                    }
                },
            ),
            every(
                "parking overstays",
                Duration::from_secs(settings.overstay_interval_s),
                stopped.clone(),
                {
                    let state = state.clone();
                    move || {
                        let state = state.clone();
                        async move {
                            let now = state.clock().now();
                            flag_overstays_once(&state, now, settings.overstay_after_s)
                                .await
                                .map(drop)
                        }
                    }
                },
            ),
            every(
                "parking counter check",
                Duration::from_secs(settings.check_interval_s),
                stopped,
                {
                    let state = state.clone();
                    move || {
                        let state = state.clone();
                        async move { check_counters_once(&state).await.map(drop) }
                    }
                },
            ),
        ];
        Workers { stop, handles }
    }

    /// Asks every worker to stop and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            if let Err(error) = handle.await {
                tracing::error!(%error, "a parking worker ended abnormally");
            }
        }
    }
}

fn every<F, Fut>(
    name: &'static str,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
    run: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = stopped.changed() => {
                    if changed.is_err() || *stopped.borrow() {
                        return;
                    }
                }
            }
            if *stopped.borrow() {
                return;
            }
            if let Err(error) = run().await {
                tracing::warn!(worker = name, error = %error, "a parking worker run failed; retrying next tick");
            }
        }
    })
}

/// Finishes every gate record pending longer than the staleness bound.
/// Returns how many were finished.
///
/// # Errors
/// Reading the pending sets or the terminals failing; a record that fails
/// is logged and left for the next sweep.
pub async fn sweep_once(state: &ParkingState) -> Result<usize, ApiError> {
    let now = state.clock().now();
    let older_than_ms = now.timestamp_millis().saturating_sub(SAGA_STALE_AFTER_MS);
    let mut redis = state.redis();
    let mut terminals: Option<HashMap<String, TerminalRecord>> = None;
    let mut finished = 0;
    for lot in state.lots().iter() {
        let stale = occupancy::stale(&mut redis, &lot.keys, older_than_ms, SWEEP_BATCH)
            .await
            .map_err(ApiError::internal)?;
        for tap_id in stale {
            let Some(record) = occupancy::record(&mut redis, &lot.keys, &tap_id)
                .await
                .map_err(ApiError::internal)?
            else {
                occupancy::forget(&mut redis, &lot.keys, &tap_id)
                    .await
                    .map_err(ApiError::internal)?;
                continue;
            };
            let exit_time = DateTime::from_timestamp_millis(record.event_ms).unwrap_or(now);
            let result = if tap_id.starts_with("lost:") {
                redrive_lost(state, lot, &record.request, exit_time, now).await
            } else {
                if terminals.is_none() {
                    terminals = Some(
                        Terminals::new(state.inner.pool.clone())
                            .all()
                            .await
                            .map_err(ApiError::internal)?
                            .into_iter()
                            .map(|t| (t.terminal_id.clone(), t))
                            .collect(),
                    );
                }
                let registry = terminals.as_ref().map_or_else(HashMap::new, Clone::clone);
                redrive_tap(
                    state,
                    lot,
                    &record.request,
                    &record.origin,
                    exit_time,
                    now,
                    &registry,
                )
                .await
            };
            match result {
                Ok(()) => {
                    finished += 1;
                    metrics::counter!(METRIC_SWEPT).increment(1);
                }
                Err(error) => {
                    tracing::warn!(lot_id = %lot.lot_id, error = %error, "the sweep could not finish a gate record");
                }
            }
        }
    }
    Ok(finished)
}

async fn redrive_tap(
    state: &ParkingState,
    lot: &crate::sites::Lot,
    request: &[u8],
    origin: &str,
    event_time: DateTime<Utc>,
    now: DateTime<Utc>,
    terminals: &HashMap<String, TerminalRecord>,
) -> Result<(), ApiError> {
    let tap: Tap = serde_json::from_slice(request).map_err(ApiError::internal)?;
    let terminal = terminals
        .get(tap.terminal_id.as_str())
        .ok_or_else(|| ApiError::internal("a gate record of an unregistered terminal"))?;
    let direction = match tap.event {
        TapEvent::ParkingEntry { .. } => Direction::Entry,
        _ => Direction::Exit,
    };
    let input = GateTap {
        terminal,
        tap: &tap,
        source: if origin == "journal" {
            TapSource::Journal
        } else {
            TapSource::Online
        },
        event_time,
        now,
        lot,
        direction,
        hash: fare_validation::taps::tap_hash(&tap),
    };
    gate::decide(state, &input)
        .await
        .map(drop)
        .map_err(ApiError::from)
}

async fn redrive_lost(
    state: &ParkingState,
    lot: &crate::sites::Lot,
    request: &[u8],
    exit_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let body: LostTicketRequest = serde_json::from_slice(request).map_err(ApiError::internal)?;
    let stay = match body.stay_id {
        Some(stay_id) => state
            .store()
            .stay(stay_id)
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    let Some(stay) = stay else {
        return Err(ApiError::internal("a lost-ticket record without its stay"));
    };
    ops::close_lost(state, lot, &stay, request, body.gate_id, exit_time, now)
        .await
        .map(drop)
        .map_err(ApiError::from)
}

/// Flags open stays older than `overstay_after_s` at `now`; returns the
/// newly flagged.
///
/// # Errors
/// The store failing.
pub async fn flag_overstays_once(
    state: &ParkingState,
    now: DateTime<Utc>,
    overstay_after_s: i64,
) -> Result<Vec<StayRecord>, ApiError> {
    let cutoff = now
        .checked_sub_signed(TimeDelta::seconds(overstay_after_s))
        .unwrap_or(now);
    let flagged = state
        .store()
        .flag_overstays(cutoff, now)
        .await
        .map_err(ApiError::internal)?;
    for stay in &flagged {
        tracing::info!(stay_id = %stay.stay_id, lot_id = %stay.site_id, entered_at = %stay.entered_at, "overstay flagged");
    }
    metrics::counter!(METRIC_OVERSTAYS).increment(u64::try_from(flagged.len()).unwrap_or(u64::MAX));
    Ok(flagged)
}

/// A lot's counter against its open stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterCheck {
    /// The lot.
    pub lot_id: String,
    /// The counter (`None`: no counter yet).
    pub counter: Option<u32>,
    /// Open stays in Postgres.
    pub open_stays: u32,
}

/// Compares every lot's counter with its open stays (see the module docs).
///
/// # Errors
/// The stores failing.
pub async fn check_counters_once(state: &ParkingState) -> Result<Vec<CounterCheck>, ApiError> {
    let counts = state
        .store()
        .open_stay_counts()
        .await
        .map_err(ApiError::internal)?;
    let now_ms = state.clock().now().timestamp_millis();
    let mut redis = state.redis();
    let mut checks = Vec::new();
    for lot in state.lots().iter() {
        let open_stays: u32 = counts
            .iter()
            .filter(|(site, class, _)| *site == lot.lot_id && *class == lot.class_id)
            .map(|(_, _, n)| *n)
            .sum();
        let counter = occupancy::touch(&mut redis, &lot.keys, open_stays, now_ms)
            .await
            .map_err(ApiError::internal)?;
        if let Some(counter) = counter {
            let drift = i64::from(counter) - i64::from(open_stays);
            #[allow(clippy::cast_precision_loss)] // A gauge of a few bays; exact far below 2^52.
            metrics::gauge!(METRIC_OCCUPANCY_DRIFT, "lot" => lot.lot_id.clone()).set(drift as f64);
            if drift != 0 {
                tracing::info!(lot_id = %lot.lot_id, counter, open_stays, "occupancy counter differs from the open stays");
            }
        }
        checks.push(CounterCheck {
            lot_id: lot.lot_id.clone(),
            counter,
            open_stays,
        });
    }
    Ok(checks)
}
