//! Gate journal records: what gates decided offline (or online and
//! journaled) reaches the accounts when the journal arrives.
//!
//! fare-validation's `POST /v1/journal` stores every record, answers the
//! ack, and leaves parking records `unpriced`; [`apply_pending`] (run by the
//! journal worker) picks those up and applies them through the same saga as
//! online taps ([`crate::gate::decide`], same key `tap:<terminal>:<epoch>:<seq>`),
//! so a tap that was answered online and is journaled too is applied once.
//! Each record's outcome is kept in `parking.journal_applied`.
//!
//! Rules:
//! - A record the gate **denied** moved no vehicle: nothing to apply
//!   (`skipped`).
//! - An offline **entry** is priced at its device time corrected by the
//!   terminal's clock offset (never later than now), like validators'
//!   journals. The engine may still refuse it (`lot_full` when the counter
//!   is at capacity, `already_parked`, `insufficient_funds`): the vehicle
//!   is inside but the account has no stay; the record goes to the
//!   uncollected report, and the vehicle's exit is charged by the rule
//!   below.
//! - An offline **exit** of an account with an open stay at the lot is an
//!   exit like any other (fee charged even below zero).
//! - **An exit whose entry never arrived** is charged as a stay of
//!   [`ASSUMED_STAY_WITHOUT_ENTRY_S`] (24 h: a day of the lot's tariff, the
//!   industry's lost-ticket practice) ending at the exit: an entry at
//!   `exit − 24 h` and the exit are applied to the account (keys
//!   `parking_assumed_entry:<tap>` and the exit's own). The counter does not
//!   move (the vehicle was never counted in). To give the entry gate's own
//!   journal time to arrive, the rule waits [`EXIT_WITHOUT_ENTRY_GRACE_S`]
//!   after the exit record arrived; an entry record that arrives after its
//!   exit was charged this way is `superseded`. If the assumed entry is
//!   refused (already parked elsewhere, too little money), the exit is
//!   uncollected.

use std::collections::HashMap;

use card_protocol::TerminalId;
use card_protocol::messages::{Decision, JournalRecord, Tap, TapEvent};
use chrono::{DateTime, TimeDelta, Utc};
use fare_validation::taps::{self, Resolved};
use fares::engine::{Event, EventKind, LotOccupancy, ParkExit};
use ledger::AccountId;
use projection::{Change, EventKey, TapSource, Verdict};
use service_kit::ApiError;
use store_pg::parking::{
    EntrySource, ExitSource, GateJournalRecord, JournalOutcome, NewStay, Uncollected,
};
use store_pg::terminal::{TerminalRecord, Terminals};
use store_redis::occupancy;
use uuid::Uuid;

use crate::gate::{self, Direction, GateError, GateTap};
use crate::state::ParkingState;

/// Records applied per scan: bounds one scan's work; a backlog drains over
/// the next scans.
pub const MAX_RECORDS_PER_SCAN: u32 = 500;

/// How long an exit record without an open stay waits for its entry's
/// journal, s: an hour, the longest upload interval a terminal may be
/// configured with (card protocol `journal.upload_interval_s` ≤ 3600).
pub const EXIT_WITHOUT_ENTRY_GRACE_S: i64 = 3_600;

/// The stay charged for an exit whose entry never arrived, s: 24 hours, a
/// day of the lot's tariff.
pub const ASSUMED_STAY_WITHOUT_ENTRY_S: i64 = 24 * 3_600;

/// What one scan did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Records applied through the projection.
    pub applied: usize,
    /// Records with nothing to apply, superseded or conflicting.
    pub skipped: usize,
    /// Records that could not be charged.
    pub uncollected: usize,
    /// Exits waiting for their entry.
    pub deferred: usize,
    /// Records that failed (retried next scan).
    pub failed: usize,
}

/// Applies the gate journal records waiting for parking (see the module
/// docs).
///
/// # Errors
/// Only when the records or the terminals cannot be read; a record that
/// fails is logged and retried next scan.
pub async fn apply_pending(state: &ParkingState) -> Result<ScanReport, ApiError> {
    let records = state
        .store()
        .unapplied_gate_records(MAX_RECORDS_PER_SCAN)
        .await
        .map_err(ApiError::internal)?;
    let mut report = ScanReport::default();
    if records.is_empty() {
        return Ok(report);
    }
    let terminals: HashMap<String, TerminalRecord> = Terminals::new(state.inner.pool.clone())
        .all()
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|t| (t.terminal_id.clone(), t))
        .collect();
    for stored in &records {
        let now = state.clock().now();
        match apply_one(state, stored, &terminals, now).await {
            Ok(Some(outcome)) => {
                match outcome {
                    JournalOutcome::Applied => report.applied += 1,
                    JournalOutcome::Uncollected => report.uncollected += 1,
                    _ => report.skipped += 1,
                }
                if let Err(error) = state
                    .store()
                    .mark_gate_record(&stored.tap, outcome, now)
                    .await
                {
                    report.failed += 1;
                    tracing::error!(error = %error, "could not mark a gate journal record");
                }
            }
            Ok(None) => report.deferred += 1,
            Err(error) => {
                report.failed += 1;
                tracing::warn!(
                    terminal_id = %stored.tap.terminal_id,
                    seq = stored.tap.seq,
                    error = %error,
                    "a gate journal record failed; retried next scan"
                );
            }
        }
    }
    Ok(report)
}

fn seconds(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

async fn apply_one(
    state: &ParkingState,
    stored: &GateJournalRecord,
    terminals: &HashMap<String, TerminalRecord>,
    now: DateTime<Utc>,
) -> Result<Option<JournalOutcome>, GateError> {
    let Ok(record) = serde_json::from_value::<JournalRecord>(stored.record.clone()) else {
        return Ok(Some(JournalOutcome::Skipped));
    };
    let (Some(terminal), Ok(terminal_id)) = (
        terminals.get(&stored.tap.terminal_id),
        TerminalId::parse(&stored.tap.terminal_id),
    ) else {
        return Ok(Some(JournalOutcome::Skipped));
    };
    if record.decision == Decision::Deny {
        return Ok(Some(JournalOutcome::Skipped));
    }
    let direction = match record.event {
        TapEvent::ParkingEntry { .. } => Direction::Entry,
        TapEvent::ParkingExit { .. } => Direction::Exit,
        _ => return Ok(Some(JournalOutcome::Skipped)),
    };
    let tap = Tap {
        terminal_id,
        boot_epoch: stored.tap.boot_epoch,
        seq: record.seq,
        device_time_s: record.device_time_s,
        event: record.event,
        medium: record.medium,
    };
    let Ok(lot) = gate::fit(state, terminal, &tap, direction) else {
        return Ok(Some(JournalOutcome::Skipped));
    };
    let event_time = DateTime::from_timestamp(seconds(tap.device_time_s), 0)
        .unwrap_or(now)
        .checked_add_signed(TimeDelta::seconds(stored.clock_offset_s))
        .unwrap_or(now)
        .min(now);
    let input = GateTap {
        terminal,
        tap: &tap,
        source: TapSource::Journal,
        event_time,
        now,
        lot,
        direction,
        hash: taps::tap_hash(&tap),
    };
    let mut redis = state.redis();
    let begun_before = occupancy::record(&mut redis, &lot.keys, &gate::tap_id(&tap))
        .await
        .map_err(|e| GateError::Internal(ApiError::internal(e)))?
        .is_some();
    let account = if begun_before {
        None
    } else {
        account_of(state, &input).await?
    };
    if let Some(account) = account {
        match direction {
            Direction::Entry => {
                let superseded = state
                    .store()
                    .charged_without_entry_after(account, &lot.lot_id, event_time)
                    .await
                    .map_err(|e| GateError::Internal(ApiError::internal(e)))?;
                if superseded {
                    return Ok(Some(JournalOutcome::Superseded));
                }
            }
            Direction::Exit => {
                let hot = state
                    .projection()
                    .state(account)
                    .await
                    .map_err(|e| GateError::Internal(ApiError::internal(e)))?;
                let parked_here = hot.open_stay.is_some_and(|s| s.lot == lot.idx);
                if !parked_here {
                    let waited_s = now.signed_duration_since(stored.received_at).num_seconds();
                    if waited_s < EXIT_WITHOUT_ENTRY_GRACE_S {
                        return Ok(None);
                    }
                    return exit_without_entry(state, &input, account).await.map(Some);
                }
            }
        }
    }
    let decided = match gate::decide(state, &input).await {
        Ok(decided) => decided,
        Err(GateError::Conflict) => return Ok(Some(JournalOutcome::Conflict)),
        Err(other) => return Err(other),
    };
    if decided.reply.decision == Verdict::Accept {
        return Ok(Some(JournalOutcome::Applied));
    }
    uncollected(
        state,
        &input,
        decided.account,
        decided.reply.reason.as_deref(),
    )
    .await?;
    Ok(Some(JournalOutcome::Uncollected))
}

/// The account a tap's medium belongs to, if any.
async fn account_of(
    state: &ParkingState,
    input: &GateTap<'_>,
) -> Result<Option<AccountId>, GateError> {
    let key = EventKey::tap(
        input.tap.terminal_id.as_str(),
        input.tap.boot_epoch,
        input.tap.seq,
    );
    let Some(lookup) = gate::normalised_tap(input.tap) else {
        return Ok(None);
    };
    let at_s = u64::try_from(input.event_time.timestamp()).unwrap_or(0);
    let (resolved, _) = taps::resolve(state.terminals(), &lookup, &key, at_s, input.source).await?;
    Ok(match resolved {
        Resolved::Account { account, .. } => Some(account.account_id),
        Resolved::Denied { .. } => None,
    })
}

async fn uncollected(
    state: &ParkingState,
    input: &GateTap<'_>,
    account: Option<AccountId>,
    reason: Option<&str>,
) -> Result<(), GateError> {
    state
        .store()
        .record_uncollected(&Uncollected {
            tap: gate::tap_key(input.tap),
            site_id: input.lot.lot_id.clone(),
            event_kind: match input.direction {
                Direction::Entry => "parking_entry".to_owned(),
                Direction::Exit => "parking_exit".to_owned(),
            },
            account_id: account,
            reason: reason.unwrap_or("unknown").to_owned(),
            device_time: DateTime::from_timestamp(seconds(input.tap.device_time_s), 0)
                .unwrap_or_default(),
            recorded_at: input.now,
        })
        .await
        .map_err(|e| GateError::Internal(ApiError::internal(e)))
}

/// The exit-without-entry rule (see the module docs).
async fn exit_without_entry(
    state: &ParkingState,
    input: &GateTap<'_>,
    account: AccountId,
) -> Result<JournalOutcome, GateError> {
    let lot = input.lot;
    let tap = input.tap;
    let internal =
        |e: &dyn std::fmt::Display| GateError::Internal(ApiError::internal(e.to_string()));
    // Done before (the outcome was not recorded): nothing to do twice.
    if state
        .store()
        .stay_closed_by(&gate::tap_key(tap))
        .await
        .map_err(|e| internal(&e))?
        .is_some()
    {
        return Ok(JournalOutcome::Applied);
    }
    let assumed_at = input
        .event_time
        .checked_sub_signed(TimeDelta::seconds(ASSUMED_STAY_WITHOUT_ENTRY_S))
        .unwrap_or(input.event_time);
    let entry_key = EventKey::parse(&format!("parking_assumed_entry:{}", gate::tap_id(tap)))
        .map_err(|e| internal(&e))?;
    let hash = input.hash;
    let service_day = state
        .projection()
        .setup()
        .engine()
        .calendar()
        .service_day(input.event_time.fixed_offset())
        .date()
        .unwrap_or_default();
    let context = gate::context_of(input, service_day, None);
    let entered = state
        .projection()
        .apply(Change {
            account,
            key: &entry_key,
            hash,
            event: Event {
                at: assumed_at.fixed_offset(),
                kind: EventKind::ParkIn { lot: lot.idx },
            },
            // The vehicle is not counted in: the place check must pass.
            occupancy: Some(LotOccupancy {
                lot: lot.idx,
                occupied: 0,
            }),
            tap: None,
            now: input.now,
        })
        .await
        .map_err(gate::projection_error)?;
    if entered.reply.decision == Verdict::Deny {
        uncollected(state, input, Some(account), entered.reply.reason.as_deref()).await?;
        return Ok(JournalOutcome::Uncollected);
    }
    let open = state
        .store()
        .current_stay(account)
        .await
        .map_err(|e| internal(&e))?;
    let has_row = open.as_ref().is_some_and(|s| {
        s.site_id == lot.lot_id && s.entry_source == EntrySource::ExitWithoutEntry
    });
    if !has_row {
        state
            .store()
            .open_stay(&NewStay {
                stay_id: Uuid::now_v7(),
                site_id: lot.lot_id.clone(),
                vehicle_class: lot.class_id.clone(),
                account_id: account,
                medium_kind: context.medium_kind.clone(),
                plate: gate::normalised_plate(tap).map(|p| p.as_str().to_owned()),
                entry: None,
                entry_gate_id: None,
                entered_at: assumed_at,
                entry_source: EntrySource::ExitWithoutEntry,
            })
            .await
            .map_err(|e| internal(&e))?;
    }
    let key = EventKey::tap(tap.terminal_id.as_str(), tap.boot_epoch, tap.seq);
    let left = state
        .projection()
        .apply(Change {
            account,
            key: &key,
            hash,
            event: Event {
                at: input.event_time.fixed_offset(),
                kind: EventKind::ParkOut {
                    lot: lot.idx,
                    exit: ParkExit::WithMedium,
                },
            },
            occupancy: Some(LotOccupancy {
                lot: lot.idx,
                occupied: lot.capacity,
            }),
            tap: Some(context.clone()),
            now: input.now,
        })
        .await
        .map_err(gate::projection_error)?;
    if left.reply.decision == Verdict::Deny {
        uncollected(state, input, Some(account), left.reply.reason.as_deref()).await?;
        return Ok(JournalOutcome::Uncollected);
    }
    gate::close_stay_row(
        state,
        lot,
        account,
        Some(gate::tap_key(tap)),
        context.gate_id.clone(),
        input.event_time,
        ExitSource::Journal,
        gate::ExitCharge::at_gate(&left.reply),
    )
    .await?;
    Ok(JournalOutcome::Applied)
}
