//! `POST /v1/parking/entries` and `POST /v1/parking/exits`: a gate's tap
//! (card protocol `Tap` with a `parking_entry` / `parking_exit` event),
//! authenticated, resolved and answered exactly like a validator's tap, and
//! the saga that keeps the lot's counter and the account's state in step.
//!
//! ## The saga
//!
//! The lot's counter (shared by every account) and the account's state live
//! in different Redis slots, so no one script can change both. A gate tap
//! crosses them in steps, each atomic and idempotent on the tap's key
//! `(terminal, boot_epoch, seq)`:
//!
//! ```text
//! entry  1. lot slot:     begin_entry — a place free? count it, record `held`
//!                                       none?         record `full`
//!        2. account slot: projection.apply(ParkIn) — `held`: a place is
//!                         ours, the engine checks already_parked and funds;
//!                         `full`: the engine is told the lot is full → lot_full
//!        3. Postgres:     accepted → open the stay row
//!        4. lot slot:     settle — accepted: `in`; denied: give the place
//!                         back (`released`)
//! exit   1. lot slot:     begin_exit — record `exiting` (no change yet)
//!        2. account slot: projection.apply(ParkOut) — the fee, no_open_stay
//!        3. Postgres:     accepted → close the stay row
//!        4. lot slot:     settle — accepted: take one off (`out`, never
//!                         below 0); denied: `kept`
//! ```
//!
//! **What a crash between steps does, and how it heals.** Every record
//! stays in the lot's `pending` set until step 4.
//! - After 1 (entry): a place is counted for a vehicle not let in yet; the
//!   lot looks one fuller than it is. After 1 (exit): nothing changed.
//! - After 2: the account's event is committed (with its reply) but the
//!   stay row or the counter lags.
//! - After 3: only the counter lags.
//!
//! Two things finish the saga, both by running it again from the top with
//! the same key: the terminal's retry of the tap (card protocol: a retry
//! reuses its seq), and the sweep ([`crate::jobs`]), which re-drives every
//! record pending longer than `SAGA_STALE_AFTER_MS` with the request, the
//! account and the event time the record kept. Step 1 answers the existing
//! record, step 2 answers the first reply (the projection's idempotency),
//! step 3 is idempotent on the tap key, step 4 moves a record one way only
//! (`held → in | released`, `exiting → out | kept`), so the counter moves
//! exactly once whatever was interrupted. The counter is never outside
//! `[0, capacity]`: step 1 only adds below capacity, step 4 only gives back
//! what step 1 took (or what an accepted exit frees), never below 0.
//!
//! A counter lost with Redis is rebuilt from the open stays in Postgres
//! (`ensure_counter`) the first time a gate needs it.
//!
//! **Choices:** an online tap is priced at the server's receive time (as
//! validators); a plate is normalised (Vietnamese plate rules) before it is
//! looked up, and a plate that is not a Vietnamese plate is `unknown_medium`
//! (the gate falls back to the card or QR); a vehicle class other than the
//! lot's is 422 (the lane takes one class); a closed lot answers
//! `lot_full` (the protocol has no closed reason).

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use card_protocol::TicketId;
use card_protocol::messages::{Medium, Message, Reason, Tap, TapDecision, TapEvent, decode};
use chrono::{DateTime, Utc};
use fare_validation::taps::{self, Resolved, TapInput};
use fares::engine::parking::parking_fee;
use fares::engine::state::ParkAndRide;
use fares::engine::{Event, EventKind, LotOccupancy, ParkExit};
use ledger::AccountId;
use projection::{
    Change, EventKey, IDEMPOTENCY_RETENTION_S, ProjectionError, Reply, RequestHash, TapContext,
    TapSource, Verdict,
};
use service_kit::{ApiError, Json, ProblemType};
use store_pg::StoreError;
use store_pg::parking::{CloseStay, EntrySource, ExitSource, NewStay, TapKey};
use store_pg::terminal::{Direction as LaneDirection, Placement, TerminalRecord};
use store_redis::occupancy::{self, Answer, Begun, NewRecord, Step};
use uuid::Uuid;

use crate::plate::Plate;
use crate::sites::Lot;
use crate::state::ParkingState;

/// A gate record pending longer than this, ms, is re-driven by the sweep:
/// far above a healthy saga (a few ms) and a terminal's retry timeout, so
/// the sweep only finishes what a crash or a lost connection left.
pub const SAGA_STALE_AFTER_MS: i64 = 30_000;

/// Metric: gate taps decided, by direction, decision and reason.
pub const METRIC_GATE_TAPS: &str = "parking_gate_taps_total";
/// Metric: accepted events whose stay row could not be written as expected.
pub const METRIC_STAY_ROW_MISMATCH: &str = "parking_stay_row_mismatch_total";

/// 422: the tap does not fit the gate that signed it.
pub const EVENT_MISMATCH: ProblemType = ProblemType::new(
    "event_does_not_fit_terminal",
    "The event does not fit this terminal",
);
/// 422: a lot or gate the service does not run.
pub const UNKNOWN_LOT: ProblemType = ProblemType::new("unknown_lot", "Unknown lot or gate");
/// 422: the lane does not take this vehicle class.
pub const VEHICLE_CLASS_NOT_SERVED: ProblemType = ProblemType::new(
    "vehicle_class_not_served",
    "This lot does not take this vehicle class",
);

/// Into the lot or out of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `parking_entry`.
    Entry,
    /// `parking_exit`.
    Exit,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::Entry => "entry",
            Direction::Exit => "exit",
        }
    }
}

/// A gate tap to decide, online or from a journal.
pub(crate) struct GateTap<'a> {
    pub(crate) terminal: &'a TerminalRecord,
    pub(crate) tap: &'a Tap,
    pub(crate) source: TapSource,
    /// The time to price with (a new record's; a resumed record keeps its own).
    pub(crate) event_time: DateTime<Utc>,
    pub(crate) now: DateTime<Utc>,
    pub(crate) lot: &'a Lot,
    pub(crate) direction: Direction,
    /// The tap's [`taps::tap_hash`].
    pub(crate) hash: RequestHash,
}

/// The answer to a gate tap.
#[derive(Clone, Debug)]
pub(crate) struct Decided {
    pub(crate) reply: Reply,
    pub(crate) ticket_id: Option<TicketId>,
    /// The account, when the medium resolved to one.
    pub(crate) account: Option<AccountId>,
}

/// Why a gate tap got no answer.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The key was used for another tap.
    #[error("the tap key was used for another tap")]
    Conflict,
    /// The account or the lot was too busy; retry.
    #[error("busy")]
    Busy,
    /// Anything else; logged.
    #[error(transparent)]
    Internal(#[from] ApiError),
}

impl From<GateError> for ApiError {
    fn from(error: GateError) -> ApiError {
        match error {
            GateError::Conflict => ApiError::conflict(
                taps::SEQ_REUSED,
                "this (terminal, boot_epoch, seq) was used for a different tap",
            ),
            GateError::Busy => ApiError::Unavailable {
                detail: "the account or the lot is busy; retry the tap".to_owned(),
                retry_after_s: Some(1),
            },
            GateError::Internal(error) => error,
        }
    }
}

fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> GateError {
    GateError::Internal(ApiError::internal(error))
}

/// `POST /v1/parking/entries`.
#[tracing::instrument(skip_all, fields(terminal_id, seq))]
pub(crate) async fn post_entry(
    State(state): State<ParkingState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TapDecision>, ApiError> {
    handle(&state, Direction::Entry, &method, &uri, &headers, &body).await
}

/// `POST /v1/parking/exits`.
#[tracing::instrument(skip_all, fields(terminal_id, seq))]
pub(crate) async fn post_exit(
    State(state): State<ParkingState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TapDecision>, ApiError> {
    handle(&state, Direction::Exit, &method, &uri, &headers, &body).await
}

async fn handle(
    state: &ParkingState,
    direction: Direction,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Json<TapDecision>, ApiError> {
    let now = state.clock().now();
    let now_s = state.clock().now_s();
    let fare_validation::auth::Signed {
        record: terminal,
        body: body_digest,
    } = fare_validation::auth::terminal(state.terminals(), method, uri, headers, body, now_s)
        .await?;
    tracing::Span::current().record("terminal_id", terminal.terminal_id.as_str());
    let tap: Tap = decode(body).map_err(|e| taps::message_error(&e, Tap::MAX_BYTES))?;
    tracing::Span::current().record("seq", tap.seq);
    if tap.terminal_id.as_str() != terminal.terminal_id {
        return Err(ApiError::Forbidden {
            detail: taps::TERMINAL_MISMATCH.to_owned(),
        });
    }
    if tap.seq > taps::MAX_STORED_SEQ {
        return Err(ApiError::Unprocessable {
            kind: taps::INVALID_MESSAGE,
            detail: "seq above 2^63 - 1".to_owned(),
        });
    }
    let lot = fit(state, &terminal, &tap, direction)?;
    let decided = decide(
        state,
        &GateTap {
            terminal: &terminal,
            tap: &tap,
            source: TapSource::Online,
            event_time: now,
            now,
            lot,
            direction,
            hash: taps::tap_hash_of_body(&tap, body, &body_digest),
        },
    )
    .await?;
    Ok(Json(taps::decision_of(
        &tap,
        &decided.reply,
        decided.ticket_id,
        now_s,
    )))
}

/// The lot of a tap that fits its gate: a parking gate of this direction,
/// at the tap's lot and gate, for the lot's vehicle class.
pub(crate) fn fit<'s>(
    state: &'s ParkingState,
    terminal: &TerminalRecord,
    tap: &Tap,
    direction: Direction,
) -> Result<&'s Lot, ApiError> {
    let mismatch = |detail: &str| ApiError::Unprocessable {
        kind: EVENT_MISMATCH,
        detail: detail.to_owned(),
    };
    let Placement::ParkingGate {
        lot_id,
        gate_id,
        direction: lane,
    } = &terminal.placement
    else {
        return Err(mismatch("only parking gates send parking events"));
    };
    let (event_lot, event_gate, class) = match (&tap.event, direction) {
        (
            TapEvent::ParkingEntry {
                lot_id,
                gate_id,
                vehicle_class,
            },
            Direction::Entry,
        )
        | (
            TapEvent::ParkingExit {
                lot_id,
                gate_id,
                vehicle_class,
            },
            Direction::Exit,
        ) => (lot_id, gate_id, *vehicle_class),
        _ => {
            return Err(mismatch(
                "entries go to /v1/parking/entries, exits to /v1/parking/exits",
            ));
        }
    };
    if event_lot.as_str() != lot_id || event_gate.as_str() != gate_id {
        return Err(mismatch("the tap's lot and gate are not the terminal's"));
    }
    if (*lane == LaneDirection::Entry) != (direction == Direction::Entry) {
        return Err(mismatch("the tap's direction is not the gate lane's"));
    }
    let lot = state
        .lots()
        .get(lot_id)
        .ok_or_else(|| ApiError::Unprocessable {
            kind: UNKNOWN_LOT,
            detail: "this lot is not run by the parking service".to_owned(),
        })?;
    if lot.gates.get(gate_id.as_str()) != Some(&(direction == Direction::Entry)) {
        return Err(ApiError::Unprocessable {
            kind: UNKNOWN_LOT,
            detail: "this gate is not a gate of the lot in this direction".to_owned(),
        });
    }
    if class != lot.vehicle_class {
        return Err(ApiError::Unprocessable {
            kind: VEHICLE_CLASS_NOT_SERVED,
            detail: format!("lot {} takes {} only", lot.lot_id, lot.class_id),
        });
    }
    Ok(lot)
}

/// `<terminal>:<epoch>:<seq>`: the tap's part of its lot record key.
pub(crate) fn tap_id(tap: &Tap) -> String {
    format!(
        "{}:{}:{}",
        tap.terminal_id.as_str(),
        tap.boot_epoch,
        tap.seq
    )
}

pub(crate) fn tap_key(tap: &Tap) -> TapKey {
    TapKey {
        terminal_id: tap.terminal_id.as_str().to_owned(),
        boot_epoch: tap.boot_epoch,
        seq: tap.seq,
    }
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The tap with its plate in canonical form (`None`: the plate is not a
/// Vietnamese plate).
pub(crate) fn normalised_tap(tap: &Tap) -> Option<Cow<'_, Tap>> {
    normalised(tap).map(|(tap, _)| tap)
}

/// The tap's plate in canonical form, if it carries a valid one.
pub(crate) fn normalised_plate(tap: &Tap) -> Option<Plate> {
    normalised(tap).and_then(|(_, plate)| plate)
}

/// The tap with its plate in canonical form (`None`: the plate is not a
/// Vietnamese plate), and the canonical plate.
fn normalised(tap: &Tap) -> Option<(Cow<'_, Tap>, Option<Plate>)> {
    let Medium::Plate { plate } = &tap.medium else {
        return Some((Cow::Borrowed(tap), None));
    };
    let canonical = Plate::parse(plate.as_str()).ok()?;
    let wire = card_protocol::messages::Plate::parse(canonical.as_str()).ok()?;
    let mut copy = tap.clone();
    copy.medium = Medium::Plate { plate: wire };
    Some((Cow::Owned(copy), Some(canonical)))
}

/// Decides a gate tap (see the module docs). Idempotent on the tap's key.
pub(crate) async fn decide(
    state: &ParkingState,
    input: &GateTap<'_>,
) -> Result<Decided, GateError> {
    let tap = input.tap;
    let key = EventKey::tap(tap.terminal_id.as_str(), tap.boot_epoch, tap.seq);
    let hash = input.hash;
    let setup = state.projection().setup();
    let service_day = setup
        .engine()
        .calendar()
        .service_day(input.event_time.fixed_offset())
        .date()
        .unwrap_or_default();
    let mut redis = state.redis();
    // A tap seen before resumes with the account it was resolved to then.
    let seen = occupancy::record(&mut redis, &input.lot.keys, &tap_id(tap))
        .await
        .map_err(internal)?;
    let (resolved, ticket_id, plate, medium_id) = match (&seen, normalised(tap)) {
        (Some(record), normalised) => {
            let account = Uuid::parse_str(&record.account)
                .ok()
                .and_then(|u| AccountId::new(u).ok())
                .ok_or_else(|| {
                    internal(format!("gate record with account {:?}", record.account))
                })?;
            // A QR retry answers with its ticket id again, as the first reply did.
            let ticket_id = if matches!(tap.medium, Medium::Qr { .. }) {
                let at_s = u64::try_from(record.event_ms / 1_000).unwrap_or(0);
                taps::resolve(state.terminals(), tap, &key, at_s, input.source)
                    .await?
                    .1
            } else {
                None
            };
            (
                Some(account),
                ticket_id,
                normalised.and_then(|(_, p)| p),
                None,
            )
        }
        (None, None) => (None, None, None, None),
        (None, Some((lookup, plate))) => {
            let at_s = u64::try_from(input.event_time.timestamp()).unwrap_or(0);
            let (resolved, ticket_id) =
                taps::resolve(state.terminals(), &lookup, &key, at_s, input.source).await?;
            match resolved {
                Resolved::Account { account, medium_id } => {
                    (Some(account.account_id), ticket_id, plate, medium_id)
                }
                Resolved::Denied { reason, verdict } => {
                    let context = context_of(input, service_day, ticket_id);
                    return unpriced(
                        state, input, &key, hash, context, reason, verdict, ticket_id,
                    )
                    .await;
                }
            }
        }
    };
    let Some(account) = resolved else {
        // Not a Vietnamese plate: no account can own it.
        let context = context_of(input, service_day, None);
        return unpriced(
            state,
            input,
            &key,
            hash,
            context,
            Reason::UnknownMedium,
            None,
            None,
        )
        .await;
    };
    let mut context = context_of(input, service_day, ticket_id);
    context.medium_id = medium_id;
    let request = serde_json::to_vec(tap).map_err(internal)?;
    let reply = match input.direction {
        Direction::Entry => {
            entry(state, input, account, &key, hash, &request, context, plate).await?
        }
        Direction::Exit => exit(state, input, account, &key, hash, &request, context).await?,
    };
    count(input.direction, &reply);
    Ok(Decided {
        reply,
        ticket_id,
        account: Some(account),
    })
}

fn count(direction: Direction, reply: &Reply) {
    metrics::counter!(
        METRIC_GATE_TAPS,
        "direction" => direction.label(),
        "decision" => match reply.decision { Verdict::Accept => "accept", Verdict::Deny => "deny" },
        "reason" => reply.reason.clone().unwrap_or_else(|| "none".to_owned()),
    )
    .increment(1);
}

/// The tap as `transit.tap` records it.
pub(crate) fn context_of(
    input: &GateTap<'_>,
    service_day: chrono::NaiveDate,
    ticket_id: Option<TicketId>,
) -> TapContext {
    let tap_input = TapInput {
        terminal: input.terminal,
        tap: input.tap,
        source: input.source,
        event_time: input.event_time,
        now: input.now,
    };
    let mut context = taps::tap_context(
        input.tap,
        input.terminal,
        &tap_input,
        service_day,
        ticket_id,
    );
    context.vehicle_class = Some(input.lot.class_id.clone());
    context
}

#[allow(clippy::too_many_arguments)] // One tap's parts, passed through once.
async fn unpriced(
    state: &ParkingState,
    input: &GateTap<'_>,
    key: &EventKey,
    hash: RequestHash,
    mut context: TapContext,
    reason: Reason,
    verdict: Option<card_protocol::ticket::Verdict>,
    ticket_id: Option<TicketId>,
) -> Result<Decided, GateError> {
    let mut reply = Reply::denied(taps::reason_code(reason));
    reply.ticket_verdict = verdict.map(|v| v.as_str().to_owned());
    context.ticket_verdict.clone_from(&reply.ticket_verdict);
    let applied = state
        .projection()
        .record_unpriced(key, hash, reply, Some(context), input.now)
        .await
        .map_err(projection_error)?;
    count(input.direction, &applied.reply);
    Ok(Decided {
        reply: applied.reply,
        ticket_id,
        account: None,
    })
}

pub(crate) fn projection_error(error: ProjectionError) -> GateError {
    match error {
        ProjectionError::KeyConflict => GateError::Conflict,
        ProjectionError::Busy => GateError::Busy,
        other => internal(other),
    }
}

/// Creates the lot's counter from the open stays in Postgres when Redis has
/// none (first use, or after a flush).
///
/// # Errors
/// The stores failing.
pub async fn ensure_counter(state: &ParkingState, lot: &Lot) -> Result<(), GateError> {
    let now = state.clock().now();
    let open: u32 = state
        .store()
        .open_stay_counts()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|(site, class, _)| *site == lot.lot_id && *class == lot.class_id)
        .map(|(_, _, n)| n)
        .sum();
    let closed = state
        .store()
        .site(&lot.lot_id, now)
        .await
        .map_err(internal)?
        .is_some_and(|site| site.status == "closed");
    let mut redis = state.redis();
    occupancy::init(
        &mut redis,
        &lot.keys,
        open,
        lot.capacity,
        now.timestamp_millis(),
        closed,
    )
    .await
    .map_err(internal)?;
    Ok(())
}

/// Step 1 of either saga, creating the counter first when it is missing.
async fn begin(
    state: &ParkingState,
    input: &GateTap<'_>,
    account: AccountId,
    hash: RequestHash,
    request: &[u8],
) -> Result<Begun, GateError> {
    let tap = tap_id(input.tap);
    let hash_hex = hash.to_hex();
    let account_text = account.as_uuid().to_string();
    let record = NewRecord {
        tap: &tap,
        request_hash: &hash_hex,
        request,
        account: &account_text,
        event_ms: input.event_time.timestamp_millis(),
        now_ms: input.now.timestamp_millis(),
        retention_s: IDEMPOTENCY_RETENTION_S,
        origin: match input.source {
            TapSource::Online => "online",
            TapSource::Journal => "journal",
        },
    };
    let lot = input.lot;
    let mut redis = state.redis();
    for _ in 0..2 {
        let begun = match input.direction {
            Direction::Entry => {
                occupancy::begin_entry(&mut redis, &lot.keys, record, lot.capacity).await
            }
            Direction::Exit => occupancy::begin_exit(&mut redis, &lot.keys, record).await,
        }
        .map_err(internal)?;
        if begun == Begun::NoCounter {
            ensure_counter(state, lot).await?;
            continue;
        }
        return Ok(begun);
    }
    Err(internal(
        "the lot counter vanished twice while starting a tap",
    ))
}

/// Where a begun record stands: its step, and the event time to price with.
fn resumed(begun: Begun, input: &GateTap<'_>) -> Result<(Step, DateTime<Utc>), GateError> {
    match begun {
        Begun::New { step, .. } => Ok((step, input.event_time)),
        Begun::Seen(record) => Ok((record.step, ms_time(record.event_ms))),
        Begun::Conflict => Err(GateError::Conflict),
        Begun::NoCounter => Err(internal("the lot has no counter")),
    }
}

#[allow(clippy::too_many_arguments)] // One tap's parts, passed through once.
async fn entry(
    state: &ParkingState,
    input: &GateTap<'_>,
    account: AccountId,
    key: &EventKey,
    hash: RequestHash,
    request: &[u8],
    context: TapContext,
    plate: Option<Plate>,
) -> Result<Reply, GateError> {
    let lot = input.lot;
    let begun = begin(state, input, account, hash, request).await?;
    let (step, event_time) = resumed(begun, input)?;
    let occupied = match step {
        // A place is ours: the engine must not refuse for the counter.
        Step::Held | Step::In => 0,
        // No place (or the earlier answer gave it back): the engine sees a
        // full lot, so a first pricing denies lot_full.
        Step::Full | Step::Released => lot.capacity,
        Step::Exiting | Step::Out | Step::Kept => return Err(GateError::Conflict),
    };
    let applied = state
        .projection()
        .apply(Change {
            account,
            key,
            hash,
            event: Event {
                at: event_time.fixed_offset(),
                kind: EventKind::ParkIn { lot: lot.idx },
            },
            occupancy: Some(LotOccupancy {
                lot: lot.idx,
                occupied,
            }),
            tap: Some(context.clone()),
            now: input.now,
        })
        .await
        .map_err(projection_error)?;
    let accepted = applied.reply.decision == Verdict::Accept;
    if accepted {
        let stay = NewStay {
            stay_id: Uuid::now_v7(),
            site_id: lot.lot_id.clone(),
            vehicle_class: lot.class_id.clone(),
            account_id: account,
            medium_kind: context.medium_kind.clone(),
            plate: plate.map(|p| p.as_str().to_owned()),
            entry: Some(tap_key(input.tap)),
            entry_gate_id: context.gate_id.clone(),
            entered_at: event_time,
            entry_source: match input.source {
                TapSource::Online => EntrySource::Online,
                TapSource::Journal => EntrySource::Journal,
            },
        };
        match state.store().open_stay(&stay).await {
            Ok(_) => {}
            Err(StoreError::Duplicate { constraint }) if constraint == "stay_open_account_key" => {
                // The engine, which decides, has no open stay for the
                // account; Postgres has one it missed the exit of. The new
                // stay wins the gate; the old row is left for the overstay
                // report.
                metrics::counter!(METRIC_STAY_ROW_MISMATCH, "kind" => "open_stay_exists")
                    .increment(1);
                tracing::warn!(lot_id = %lot.lot_id, "an accepted entry found another open stay row for the account");
            }
            Err(error) => return Err(internal(error)),
        }
    }
    if step.is_open() {
        let answer = if accepted {
            Answer::Accept
        } else {
            Answer::Deny
        };
        let mut redis = state.redis();
        occupancy::settle(
            &mut redis,
            &lot.keys,
            &tap_id(input.tap),
            answer,
            input.now.timestamp_millis(),
        )
        .await
        .map_err(internal)?;
    }
    Ok(applied.reply)
}

async fn exit(
    state: &ParkingState,
    input: &GateTap<'_>,
    account: AccountId,
    key: &EventKey,
    hash: RequestHash,
    request: &[u8],
    context: TapContext,
) -> Result<Reply, GateError> {
    let lot = input.lot;
    let begun = begin(state, input, account, hash, request).await?;
    let (step, event_time) = resumed(begun, input)?;
    if !matches!(step, Step::Exiting | Step::Out | Step::Kept) {
        return Err(GateError::Conflict);
    }
    let applied = state
        .projection()
        .apply(Change {
            account,
            key,
            hash,
            event: Event {
                at: event_time.fixed_offset(),
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
        .map_err(projection_error)?;
    let accepted = applied.reply.decision == Verdict::Accept;
    if accepted {
        close_stay_row(
            state,
            lot,
            account,
            Some(tap_key(input.tap)),
            context.gate_id.clone(),
            event_time,
            match input.source {
                TapSource::Online => ExitSource::Online,
                TapSource::Journal => ExitSource::Journal,
            },
            ExitCharge::at_gate(&applied.reply),
        )
        .await?;
    }
    if step.is_open() {
        let answer = if accepted {
            Answer::Accept
        } else {
            Answer::Deny
        };
        let mut redis = state.redis();
        occupancy::settle(
            &mut redis,
            &lot.keys,
            &tap_id(input.tap),
            answer,
            input.now.timestamp_millis(),
        )
        .await
        .map_err(internal)?;
    }
    Ok(applied.reply)
}

/// What an accepted exit charged for a stay, from the engine's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExitCharge {
    /// The tariff's fee (the reply's amount less a lost-ticket fee).
    pub(crate) fee_vnd: i64,
    /// The lot's lost-ticket fee, on a stay closed as a lost ticket.
    pub(crate) lost_ticket_fee_vnd: Option<i64>,
    /// The permit that covered (part of) the stay (the reply's pass).
    pub(crate) permit_id: Option<String>,
}

impl ExitCharge {
    /// The charge of an exit through a gate: the whole amount is the fee.
    pub(crate) fn at_gate(reply: &Reply) -> ExitCharge {
        ExitCharge {
            fee_vnd: reply.amount_vnd,
            lost_ticket_fee_vnd: None,
            permit_id: reply.pass_id.clone(),
        }
    }
}

/// Closes the account's open stay row at the lot after the engine accepted
/// its exit, working out whether the fee was the park-and-ride one (a fee
/// below the tariff's with no permit involved: a permit's saving is the
/// permit's).
#[allow(clippy::too_many_arguments)] // The closing's parts, passed through once.
pub(crate) async fn close_stay_row(
    state: &ParkingState,
    lot: &Lot,
    account: AccountId,
    exit: Option<TapKey>,
    exit_gate_id: Option<String>,
    exited_at: DateTime<Utc>,
    source: ExitSource,
    charge: ExitCharge,
) -> Result<(), GateError> {
    let open = state
        .store()
        .current_stay(account)
        .await
        .map_err(internal)?;
    let fee_vnd = charge.fee_vnd;
    let park_and_ride = charge.permit_id.is_none()
        && open.as_ref().is_some_and(|stay| {
            let stay_s = exited_at
                .timestamp()
                .saturating_sub(stay.entered_at.timestamp());
            parking_fee(lot.tariff, lot.grace_s, stay_s, ParkAndRide::NotEarned)
                .is_ok_and(|full| fee_vnd < full.as_vnd())
        });
    let closed = state
        .store()
        .close_stay(&CloseStay {
            account_id: account,
            site_id: lot.lot_id.clone(),
            exit,
            exit_gate_id,
            exited_at,
            exit_source: source,
            fee_vnd,
            park_and_ride,
            lost_ticket_fee_vnd: charge.lost_ticket_fee_vnd,
            permit_id: charge.permit_id,
        })
        .await
        .map_err(internal)?;
    if closed.is_none() {
        metrics::counter!(METRIC_STAY_ROW_MISMATCH, "kind" => "no_open_stay_row").increment(1);
        tracing::warn!(lot_id = %lot.lot_id, "an accepted exit found no open stay row to close");
    }
    Ok(())
}
