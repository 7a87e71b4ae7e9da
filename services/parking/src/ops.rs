//! The operators' API (`/v1/admin/parking/…`), behind fare-validation's
//! API-key extractor with the `parking` scope: audited manual barrier
//! lifts, occupancy corrections, opening and closing a lot, closing the
//! stay of a rider who lost the medium, linking a vehicle's plate to an
//! account (the rider API links cards only), and the reports (overstays,
//! uncollected gate records, a lot's audit trail).
//!
//! **Lost ticket.** An attendant finds the stay (by id, or by plate at the
//! lot), and the service closes it through the engine with the lost-ticket
//! exit (`ParkOut` with `ParkExit::LostTicket`: the stay's own fee — tariff,
//! park and ride, permits — plus the lot's lost-ticket fee from its tariff
//! in the fare configuration), with the lot saga's idempotent counter step,
//! under the key `parking_lost_ticket:<stay>`. The projection takes the
//! whole amount from the spendable balance in the same event, and the
//! settlement posts both parts to the lot's operator, so "spendable =
//! ledger − unsettled" holds. The stay row keeps the two parts apart
//! (`fee_vnd`, `lost_ticket_fee_vnd`). The request is recorded with the
//! stay by id, however the attendant found it: a retry naming the stay by
//! id (the first answer carries it) with the same gate and note gets the
//! first answer, charged once; another gate or note is 409; a retry by
//! plate finds no open stay any more (404) and charges nothing.
//!
//! **Barrier lift.** The backend has no channel to a barrier: the operator
//! (or the lane controller) lifts it and this records who, when, why and
//! which gate. A lift moves no counter: the vehicle's direction is not
//! known; a drift is corrected with the occupancy endpoint.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use fare_validation::auth::AdminKey;
use fares::engine::{Event, EventKind, LotOccupancy, ParkExit};
use projection::{Change, EventKey, IDEMPOTENCY_RETENTION_S, RequestHash, Verdict};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, FieldError, Json, Path, ProblemType};
use store_pg::StoreError;
use store_pg::parking::{BarrierLift, ExitSource, OccupancyCorrection, StayRecord, Uncollected};
use store_pg::rider::{MediumKind, Riders};
use store_pg::terminal::ApiKeyRecord;
use store_redis::occupancy::{self, AboveCapacity, Answer, Begun, NewRecord};
use uuid::Uuid;

use crate::gate::{self, GateError};
use crate::opendata;
use crate::plate::Plate;
use crate::sites::Lot;
use crate::state::ParkingState;

/// The API-key scope of every route here.
pub const SCOPE: &str = "parking";
/// Longest free-text note, in characters (the tables' CHECK).
pub const MAX_NOTE_CHARS: usize = 1_000;
/// Lift reasons (the table's CHECK), after Bolink's abnormal-lift codes.
pub const LIFT_REASONS: [&str; 7] = [
    "emergency_vehicle",
    "equipment_fault",
    "medium_unreadable",
    "payment_dispute",
    "lost_ticket",
    "maintenance",
    "other",
];

/// 409: the stay was closed as a lost ticket by another request.
pub const LOST_TICKET_CONFLICT: ProblemType = ProblemType::new(
    "lost_ticket_conflict",
    "This stay was closed as a lost ticket by another request",
);
/// 409: the plate is linked to an account already.
pub const PLATE_LINKED: ProblemType =
    ProblemType::new("plate_linked", "This plate is linked to an account already");
/// 422: a counted value above the lot's capacity.
pub const ABOVE_CAPACITY: ProblemType = ProblemType::new(
    "above_capacity",
    "The counted value is above the lot's capacity",
);

/// A caller with an API key of the `parking` scope.
#[derive(Clone, Debug)]
pub struct ParkingAdmin(pub ApiKeyRecord);

impl FromRequestParts<ParkingState> for ParkingAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ParkingState) -> Result<Self, ApiError> {
        let key = AdminKey::from_request_parts(parts, state.terminals()).await?;
        key.require(SCOPE)?;
        Ok(ParkingAdmin(key.0))
    }
}

fn lot<'s>(state: &'s ParkingState, lot_id: &str) -> Result<&'s Lot, ApiError> {
    state
        .lots()
        .get(lot_id)
        .ok_or_else(|| ApiError::not_found("no lot with this id"))
}

fn note_ok(note: Option<&String>) -> Result<(), ApiError> {
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS || n.trim().is_empty()) {
        return Err(ApiError::validation(
            "invalid note",
            vec![FieldError::new(
                "note",
                format!("1 to {MAX_NOTE_CHARS} characters when present"),
            )],
        ));
    }
    Ok(())
}

/// `POST …/lift` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftRequest {
    /// One of [`LIFT_REASONS`].
    pub reason: String,
    /// Free text; required for `other`.
    pub note: Option<String>,
}

/// A recorded lift.
#[derive(Debug, Serialize)]
pub struct LiftRecord {
    lift_id: Uuid,
    lot_id: String,
    gate_id: String,
    reason: String,
    note: Option<String>,
    actor_key_id: Uuid,
    actor_label: String,
    lifted_at: DateTime<Utc>,
}

impl From<BarrierLift> for LiftRecord {
    fn from(lift: BarrierLift) -> LiftRecord {
        LiftRecord {
            lift_id: lift.lift_id,
            lot_id: lift.site_id,
            gate_id: lift.gate_id,
            reason: lift.reason,
            note: lift.note,
            actor_key_id: lift.actor_key_id,
            actor_label: lift.actor_label,
            lifted_at: lift.lifted_at,
        }
    }
}

/// `POST /v1/admin/parking/lots/{lot}/gates/{gate}/lift`.
#[tracing::instrument(skip_all, fields(lot_id = %lot_id, gate_id = %gate_id))]
pub(crate) async fn lift(
    State(state): State<ParkingState>,
    ParkingAdmin(key): ParkingAdmin,
    Path((lot_id, gate_id)): Path<(String, String)>,
    Json(body): Json<LiftRequest>,
) -> Result<Response, ApiError> {
    let lot = lot(&state, &lot_id)?;
    if !lot.gates.contains_key(&gate_id) {
        return Err(ApiError::not_found("no gate with this id at the lot"));
    }
    if !LIFT_REASONS.contains(&body.reason.as_str()) {
        return Err(ApiError::validation(
            "unknown lift reason",
            vec![FieldError::new(
                "reason",
                format!("one of {}", LIFT_REASONS.join(", ")),
            )],
        ));
    }
    note_ok(body.note.as_ref())?;
    if body.reason == "other" && body.note.is_none() {
        return Err(ApiError::validation(
            "a lift for another reason needs a note",
            vec![FieldError::new("note", "required when reason is other")],
        ));
    }
    let lift = BarrierLift {
        lift_id: Uuid::now_v7(),
        site_id: lot.lot_id.clone(),
        gate_id,
        reason: body.reason,
        note: body.note,
        actor_key_id: key.key_id,
        actor_label: key.label.clone(),
        lifted_at: state.clock().now(),
    };
    state
        .store()
        .record_lift(&lift)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(lift_id = %lift.lift_id, reason = %lift.reason, actor_key_id = %lift.actor_key_id, "manual barrier lift recorded");
    Ok((StatusCode::CREATED, Json(LiftRecord::from(lift))).into_response())
}

/// `POST …/occupancy` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// The vehicles counted in the lot.
    pub counted: u32,
    /// Free text.
    pub note: Option<String>,
}

/// A recorded correction.
#[derive(Debug, Serialize)]
pub struct CorrectionRecord {
    correction_id: Uuid,
    lot_id: String,
    counted: u32,
    previous: Option<u32>,
    note: Option<String>,
    actor_key_id: Uuid,
    actor_label: String,
    corrected_at: DateTime<Utc>,
}

impl From<OccupancyCorrection> for CorrectionRecord {
    fn from(c: OccupancyCorrection) -> CorrectionRecord {
        CorrectionRecord {
            correction_id: c.correction_id,
            lot_id: c.site_id,
            counted: c.counted,
            previous: c.previous,
            note: c.note,
            actor_key_id: c.actor_key_id,
            actor_label: c.actor_label,
            corrected_at: c.corrected_at,
        }
    }
}

/// `POST /v1/admin/parking/lots/{lot}/occupancy`: sets the counter to a
/// counted value (never above capacity) and records the correction with
/// the value it replaced.
#[tracing::instrument(skip_all, fields(lot_id = %lot_id))]
pub(crate) async fn correct_occupancy(
    State(state): State<ParkingState>,
    ParkingAdmin(key): ParkingAdmin,
    Path(lot_id): Path<String>,
    Json(body): Json<CorrectionRequest>,
) -> Result<Json<CorrectionRecord>, ApiError> {
    let lot = lot(&state, &lot_id)?;
    note_ok(body.note.as_ref())?;
    let now = state.clock().now();
    let mut redis = state.redis();
    let previous = occupancy::set(
        &mut redis,
        &lot.keys,
        body.counted,
        lot.capacity,
        now.timestamp_millis(),
    )
    .await
    .map_err(ApiError::internal)?
    .map_err(|AboveCapacity| ApiError::Unprocessable {
        kind: ABOVE_CAPACITY,
        detail: format!("lot {} has {} places", lot.lot_id, lot.capacity),
    })?;
    let correction = OccupancyCorrection {
        correction_id: Uuid::now_v7(),
        site_id: lot.lot_id.clone(),
        vehicle_class: lot.class_id.clone(),
        counted: body.counted,
        previous,
        note: body.note,
        actor_key_id: key.key_id,
        actor_label: key.label.clone(),
        corrected_at: now,
    };
    state
        .store()
        .record_correction(&correction)
        .await
        .map_err(ApiError::internal)?;
    opendata::invalidate(&state);
    tracing::info!(counted = correction.counted, previous = ?correction.previous, "occupancy corrected");
    Ok(Json(CorrectionRecord::from(correction)))
}

/// `POST …/status` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `open` or `closed`.
    pub status: String,
}

/// `POST /v1/admin/parking/lots/{lot}/status`: opens or closes a lot (a
/// closed lot's entries are denied `lot_full`; the feed says `closed`).
#[tracing::instrument(skip_all, fields(lot_id = %lot_id))]
pub(crate) async fn set_status(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
    Path(lot_id): Path<String>,
    Json(body): Json<StatusRequest>,
) -> Result<StatusCode, ApiError> {
    let lot = lot(&state, &lot_id)?;
    let open = match body.status.as_str() {
        "open" => true,
        "closed" => false,
        _ => {
            return Err(ApiError::validation(
                "unknown status",
                vec![FieldError::new("status", "open or closed")],
            ));
        }
    };
    let now = state.clock().now();
    state
        .store()
        .set_site_status(&lot.lot_id, open, now)
        .await
        .map_err(ApiError::internal)?;
    gate::ensure_counter(&state, lot).await?;
    let mut redis = state.redis();
    occupancy::set_closed(&mut redis, &lot.keys, !open)
        .await
        .map_err(ApiError::internal)?;
    opendata::invalidate(&state);
    Ok(StatusCode::NO_CONTENT)
}

/// A lot's audit trail.
#[derive(Debug, Serialize)]
pub struct Audit {
    lifts: Vec<LiftRecord>,
    corrections: Vec<CorrectionRecord>,
}

/// `GET /v1/admin/parking/lots/{lot}/audit`: the latest lifts and
/// corrections.
pub(crate) async fn audit(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
    Path(lot_id): Path<String>,
) -> Result<Json<Audit>, ApiError> {
    let lot = lot(&state, &lot_id)?;
    let store = state.store();
    let lifts = store.lifts(&lot.lot_id).await.map_err(ApiError::internal)?;
    let corrections = store
        .corrections(&lot.lot_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Audit {
        lifts: lifts.into_iter().map(LiftRecord::from).collect(),
        corrections: corrections
            .into_iter()
            .map(CorrectionRecord::from)
            .collect(),
    }))
}

/// A stay as operators and riders see it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct StayView {
    /// The stay.
    pub stay_id: Uuid,
    /// The lot.
    pub lot_id: String,
    /// The vehicle class.
    pub vehicle_class: String,
    /// The account.
    pub account_id: Uuid,
    /// The plate, when read.
    pub plate: Option<String>,
    /// Open or closed.
    pub status: &'static str,
    /// Entry time.
    pub entered_at: DateTime<Utc>,
    /// How the entry was learned (`online`, `journal`, `exit_without_entry`).
    pub entry_source: &'static str,
    /// Exit time.
    pub exited_at: Option<DateTime<Utc>>,
    /// How it closed (`online`, `journal`, `lost_ticket`).
    pub exit_source: Option<&'static str>,
    /// The fee charged (provisional).
    pub fee_vnd: Option<i64>,
    /// Whether park and ride applied.
    pub park_and_ride: Option<bool>,
    /// The lost-ticket fee charged.
    pub lost_ticket_fee_vnd: Option<i64>,
    /// The permit that covered (part of) the stay.
    pub permit_id: Option<String>,
    /// When the overstay job flagged it.
    pub overstay_flagged_at: Option<DateTime<Utc>>,
}

impl From<StayRecord> for StayView {
    fn from(stay: StayRecord) -> StayView {
        StayView {
            stay_id: stay.stay_id,
            lot_id: stay.site_id,
            vehicle_class: stay.vehicle_class,
            account_id: stay.account_id.as_uuid(),
            plate: stay.plate,
            status: if stay.open { "open" } else { "closed" },
            entered_at: stay.entered_at,
            entry_source: stay.entry_source.as_str(),
            exited_at: stay.exited_at,
            exit_source: stay.exit_source.map(ExitSource::as_str),
            fee_vnd: stay.fee_vnd,
            park_and_ride: stay.park_and_ride,
            lost_ticket_fee_vnd: stay.lost_ticket_fee_vnd,
            permit_id: stay.permit_id,
            overstay_flagged_at: stay.overstay_flagged_at,
        }
    }
}

/// `GET /v1/admin/parking/overstays`: open stays the overstay job flagged.
pub(crate) async fn overstays(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
) -> Result<Json<Vec<StayView>>, ApiError> {
    let stays = state
        .store()
        .overstays()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(stays.into_iter().map(StayView::from).collect()))
}

/// An uncollected gate record.
#[derive(Debug, Serialize)]
pub struct UncollectedView {
    terminal_id: String,
    boot_epoch: u32,
    seq: u64,
    lot_id: String,
    event_kind: String,
    account_id: Option<Uuid>,
    reason: String,
    device_time: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
}

/// `GET /v1/admin/parking/uncollected`: gate records that could not be
/// charged (the "offline, unable to collect" report).
pub(crate) async fn uncollected(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
) -> Result<Json<Vec<UncollectedView>>, ApiError> {
    let rows = state
        .store()
        .uncollected()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        rows.into_iter()
            .map(|u: Uncollected| UncollectedView {
                terminal_id: u.tap.terminal_id,
                boot_epoch: u.tap.boot_epoch,
                seq: u.tap.seq,
                lot_id: u.site_id,
                event_kind: u.event_kind,
                account_id: u.account_id.map(ledger::AccountId::as_uuid),
                reason: u.reason,
                device_time: u.device_time,
                recorded_at: u.recorded_at,
            })
            .collect(),
    ))
}

/// `POST …/stays/lost-ticket` body: the stay by id, or by plate at a lot.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LostTicketRequest {
    /// The lot the vehicle leaves.
    pub lot_id: String,
    /// The stay, when the attendant found it by id.
    pub stay_id: Option<Uuid>,
    /// The vehicle's plate, any spelling.
    pub plate: Option<String>,
    /// The gate it leaves by.
    pub gate_id: Option<String>,
    /// Free text.
    pub note: Option<String>,
}

/// The answer to a lost-ticket closing.
#[derive(Debug, Serialize)]
pub struct LostTicketReply {
    decision: &'static str,
    reason: Option<String>,
    /// What the wallet was charged: the stay's fee and the lost-ticket fee.
    amount_vnd: i64,
    /// The stay's fee (the tariff, less what a permit covered).
    fee_vnd: i64,
    /// The lot's lost-ticket fee.
    lost_ticket_fee_vnd: i64,
    /// The permit that covered (part of) the stay.
    permit_id: Option<String>,
    balance_vnd: Option<i64>,
    stay: Option<StayView>,
}

/// The tap-id part of a lost-ticket record in the lot's saga.
pub(crate) fn lost_ticket_tap(stay_id: Uuid) -> String {
    format!("lost:{}", stay_id.simple())
}

/// `POST /v1/admin/parking/stays/lost-ticket` (see the module docs).
#[tracing::instrument(skip_all, fields(lot_id = %body.lot_id))]
pub(crate) async fn lost_ticket(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
    Json(body): Json<LostTicketRequest>,
) -> Result<Json<LostTicketReply>, ApiError> {
    let lot = lot(&state, &body.lot_id)?;
    note_ok(body.note.as_ref())?;
    if let Some(gate_id) = &body.gate_id
        && lot.gates.get(gate_id) != Some(&false)
    {
        return Err(ApiError::validation(
            "unknown exit gate",
            vec![FieldError::new("gate_id", "an exit gate of the lot")],
        ));
    }
    let stay = match (body.stay_id, &body.plate) {
        (Some(stay_id), _) => state
            .store()
            .stay(stay_id)
            .await
            .map_err(ApiError::internal)?,
        (None, Some(plate)) => {
            let plate = Plate::parse(plate).map_err(|e| {
                ApiError::validation(
                    "invalid plate",
                    vec![FieldError::new("plate", e.to_string())],
                )
            })?;
            state
                .store()
                .open_stay_by_plate(&lot.lot_id, plate.as_str())
                .await
                .map_err(ApiError::internal)?
        }
        (None, None) => {
            return Err(ApiError::validation(
                "name the stay",
                vec![FieldError::new("stay_id", "stay_id or plate is required")],
            ));
        }
    };
    let stay = stay
        .filter(|s| s.site_id == lot.lot_id)
        .ok_or_else(|| ApiError::not_found("no such stay at this lot"))?;
    // The request as recorded: the stay by id, however it was found, so a
    // retry by id after a lookup by plate is the same request, and the
    // sweep can always find the stay again.
    let canonical = LostTicketRequest {
        lot_id: lot.lot_id.clone(),
        stay_id: Some(stay.stay_id),
        plate: None,
        gate_id: body.gate_id.clone(),
        note: body.note.clone(),
    };
    let request = serde_json::to_vec(&canonical).map_err(ApiError::internal)?;
    let now = state.clock().now();
    let reply = close_lost(&state, lot, &stay, &request, body.gate_id.clone(), now, now)
        .await
        .map_err(|error| match error {
            GateError::Conflict => ApiError::conflict(
                LOST_TICKET_CONFLICT,
                "this stay was closed as a lost ticket with another request",
            ),
            other => other.into(),
        })?;
    Ok(Json(reply))
}

/// Closes `stay` as a lost ticket: lot saga (exit) + the lost-ticket
/// `ParkOut` through the projection + the stay row. Idempotent on the stay:
/// a repeat answers the first result and charges nothing again. Shared with
/// the sweep, which passes the first request.
pub(crate) async fn close_lost(
    state: &ParkingState,
    lot: &Lot,
    stay: &StayRecord,
    request: &[u8],
    gate_id: Option<String>,
    exit_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<LostTicketReply, GateError> {
    let internal =
        |e: &dyn std::fmt::Display| GateError::Internal(ApiError::internal(e.to_string()));
    let tap = lost_ticket_tap(stay.stay_id);
    let key = EventKey::parse(&format!("parking_lost_ticket:{}", stay.stay_id.simple()))
        .map_err(|e| internal(&e))?;
    let hash = RequestHash::of(request);
    let account_text = stay.account_id.as_uuid().to_string();
    let hash_hex = hash.to_hex();
    let mut redis = state.redis();
    let record = NewRecord {
        tap: &tap,
        request_hash: &hash_hex,
        request,
        account: &account_text,
        event_ms: exit_time.timestamp_millis(),
        now_ms: now.timestamp_millis(),
        retention_s: IDEMPOTENCY_RETENTION_S,
        origin: "lost_ticket",
    };
    let mut begun = occupancy::begin_exit(&mut redis, &lot.keys, record)
        .await
        .map_err(|e| internal(&e))?;
    if begun == Begun::NoCounter {
        gate::ensure_counter(state, lot).await?;
        begun = occupancy::begin_exit(&mut redis, &lot.keys, record)
            .await
            .map_err(|e| internal(&e))?;
    }
    let (step, exit_time) = match begun {
        Begun::New { step, .. } => (step, exit_time),
        // A repeat with the same request: resume with its time.
        Begun::Seen(seen) => (
            seen.step,
            DateTime::from_timestamp_millis(seen.event_ms).unwrap_or(exit_time),
        ),
        Begun::Conflict | Begun::NoCounter => return Err(GateError::Conflict),
    };
    let applied = state
        .projection()
        .apply(Change {
            account: stay.account_id,
            key: &key,
            hash,
            event: Event {
                at: exit_time.fixed_offset(),
                kind: EventKind::ParkOut {
                    lot: lot.idx,
                    exit: ParkExit::LostTicket,
                },
            },
            occupancy: Some(LotOccupancy {
                lot: lot.idx,
                occupied: lot.capacity,
            }),
            tap: None,
            now,
        })
        .await
        .map_err(|e| match e {
            projection::ProjectionError::KeyConflict => GateError::Conflict,
            projection::ProjectionError::Busy => GateError::Busy,
            other => internal(&other),
        })?;
    let accepted = applied.reply.decision == Verdict::Accept;
    // The engine adds the lot's lost-ticket fee to every accepted
    // lost-ticket exit (a fixed amount of the configuration), so the reply's
    // amount splits into the stay's fee and that fee.
    let lost_fee = if accepted {
        lot.lost_ticket_fee.as_vnd()
    } else {
        0
    };
    let fee = applied.reply.amount_vnd.saturating_sub(lost_fee);
    // A repeat finds the row closed by the first request: nothing to write.
    if accepted && stay.open {
        gate::close_stay_row(
            state,
            lot,
            stay.account_id,
            None,
            gate_id,
            exit_time,
            ExitSource::LostTicket,
            gate::ExitCharge {
                fee_vnd: fee,
                lost_ticket_fee_vnd: Some(lost_fee),
                permit_id: applied.reply.pass_id.clone(),
            },
        )
        .await?;
    }
    if step.is_open() {
        let answer = if accepted {
            Answer::Accept
        } else {
            Answer::Deny
        };
        occupancy::settle(&mut redis, &lot.keys, &tap, answer, now.timestamp_millis())
            .await
            .map_err(|e| internal(&e))?;
    }
    let closed = state
        .store()
        .stay(stay.stay_id)
        .await
        .map_err(|e| internal(&e))?;
    Ok(LostTicketReply {
        decision: if accepted { "accept" } else { "deny" },
        reason: applied.reply.reason.clone(),
        amount_vnd: applied.reply.amount_vnd,
        fee_vnd: fee,
        lost_ticket_fee_vnd: lost_fee,
        permit_id: applied.reply.pass_id.clone(),
        balance_vnd: applied.reply.balance_vnd,
        stay: closed.map(StayView::from),
    })
}

/// `POST /v1/admin/parking/plates` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlateLinkRequest {
    /// The account the vehicle belongs to.
    pub account_id: Uuid,
    /// The plate, any spelling.
    pub plate: String,
}

/// A linked plate.
#[derive(Debug, Serialize)]
pub struct PlateLink {
    medium_id: Uuid,
    account_id: Uuid,
    /// The canonical plate the gates match.
    plate: String,
}

/// `POST /v1/admin/parking/plates`: links a vehicle's plate (normalised) to
/// an account, so the gates' cameras open for it. One account per plate.
#[tracing::instrument(skip_all)]
pub(crate) async fn link_plate(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
    Json(body): Json<PlateLinkRequest>,
) -> Result<Response, ApiError> {
    let plate = Plate::parse(&body.plate).map_err(|e| {
        ApiError::validation(
            "invalid plate",
            vec![FieldError::new("plate", e.to_string())],
        )
    })?;
    let account = ledger::AccountId::new(body.account_id).map_err(|e| {
        ApiError::validation(
            "invalid account",
            vec![FieldError::new("account_id", e.to_string())],
        )
    })?;
    let riders = Riders::new(state.inner.pool.clone());
    if riders
        .account(account)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::not_found("no account with this id"));
    }
    let medium_id = Uuid::now_v7();
    match riders
        .link_medium(
            medium_id,
            account,
            MediumKind::Plate,
            plate.as_str(),
            state.clock().now(),
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Duplicate { .. }) => {
            return Err(ApiError::conflict(
                PLATE_LINKED,
                "this plate is linked to an account already",
            ));
        }
        Err(error) => return Err(ApiError::internal(error)),
    }
    Ok((
        StatusCode::CREATED,
        Json(PlateLink {
            medium_id,
            account_id: account.as_uuid(),
            plate: plate.as_str().to_owned(),
        }),
    )
        .into_response())
}
