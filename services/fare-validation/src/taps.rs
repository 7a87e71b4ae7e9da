//! `POST /v1/taps` and the pricing of one tap, shared with journal uploads.
//!
//! A tap is: authenticated → decoded (body limit `Tap::MAX_BYTES`) → fits
//! the terminal (mode, station, direction) → medium resolved (card or bank
//! token via `rider.medium`; QR verified with the published keys, then
//! `rider.ticket`; deny list) → a fare `Event` → `Projection::apply` with
//! the key `tap:<terminal>:<boot_epoch>:<seq>`. A tap that reaches no
//! account (unknown medium, rejected ticket, deny-listed) is recorded
//! through `Projection::record_unpriced` with the same key.
//!
//! **Time:** an online tap is priced at the server's receive time, not the
//! device's clock: the server clock is the one the service trusts, and the
//! rider is at the gate now. A journaled tap is priced at its device time
//! corrected by the terminal's clock offset at upload.
//!
//! **Choices:** a QR tap is priced with the account's category (the
//! ticket's category code has no mapping to configuration ids yet); parking
//! taps are the parking service's (422 here); a valid QR's level-2 proof
//! used by another tap within its window is `ticket_rejected` /
//! `stale_proof` (a replayed proof is no longer fresh).

use axum::extract::{OriginalUri, Request, State};
use card_protocol::messages::{
    Decision, Medium, Message, Reason, Tap, TapDecision, TapEvent, WireId, decode,
};
use card_protocol::request_auth::BodyDigest;
use card_protocol::ticket::Verdict;
use card_protocol::{TicketId, verify_qr};
use chrono::{DateTime, Utc};
use fares::engine::{Event, EventKind};
use projection::{
    Change, EventKey, ProjectionError, Reply, RequestHash, TapContext, TapSource, Verification,
};
use service_kit::layers::Quiet;
use service_kit::problem::read_body;
use service_kit::{ApiError, Json, ProblemType};
use store_pg::deny_list::DenyKind;
use store_pg::rider::{CategoryStatus, MediumKind, MediumStatus, RiderAccount};
use store_pg::terminal::{Direction, Placement, TerminalRecord};

use crate::auth;
use crate::state::AppState;

/// How long a level-2 proof is remembered, in seconds: the proof window is
/// ±1 step of 30 s around the current step, so 90 s covers every time a
/// proof can still verify (card protocol §3.4 asks for at least 90 s).
pub const QR_REPLAY_WINDOW_S: u64 = 90;

/// Metric: taps decided, by decision, reason and terminal mode.
pub const METRIC_TAPS: &str = "taps_total";

/// 422: the tap's event does not fit the terminal.
pub const EVENT_MISMATCH: ProblemType = ProblemType::new(
    "event_does_not_fit_terminal",
    "The event does not fit this terminal",
);
/// 422: an id the fare configuration does not know.
pub const UNKNOWN_ID: ProblemType = ProblemType::new("unknown_id", "Unknown route, station or lot");
/// 422: parking taps go to the parking service.
pub const PARKING_NOT_SERVED: ProblemType = ProblemType::new(
    "parking_not_served",
    "Parking gates are served by the parking service",
);
/// 400: a body that is not a valid message.
pub const INVALID_MESSAGE: ProblemType =
    ProblemType::new("invalid_message", "The message is invalid");
/// 403: the body names another terminal than the signer.
pub const TERMINAL_MISMATCH: &str = "the body's terminal_id is not the authenticated terminal";
/// 409: the sequence number was used for another tap.
pub const SEQ_REUSED: ProblemType = ProblemType::new(
    "seq_reused",
    "This sequence number was used for another tap",
);

/// The largest seq stored: Postgres `bigint`. Terminals start at 1 and
/// count by one, so 2^63 − 1 is never reached in practice.
pub const MAX_STORED_SEQ: u64 = i64::MAX.unsigned_abs();

/// A tap to price, online or from a journal.
pub struct TapInput<'a> {
    /// The terminal that sent it.
    pub terminal: &'a TerminalRecord,
    /// The tap.
    pub tap: &'a Tap,
    /// Online or journal.
    pub source: TapSource,
    /// The time to price with.
    pub event_time: DateTime<Utc>,
    /// The server's clock now.
    pub now: DateTime<Utc>,
}

/// What pricing a tap gave.
pub(crate) enum Priced {
    /// Answered (first or repeat).
    Answered(Reply, Option<TicketId>),
    /// The key was used for other content.
    Conflict,
    /// An id the configuration does not know, or an event this service does
    /// not price.
    Unpriceable(ApiError),
}

/// The hash a tap's idempotency key is checked against (its canonical JSON).
pub fn tap_hash(tap: &Tap) -> RequestHash {
    // Serialisation of a message is deterministic (fields in declaration order).
    RequestHash::of(&serde_json::to_vec(tap).unwrap_or_default())
}

/// [`tap_hash`] of a tap that arrived as `body`, whose SHA-256 the
/// signature check already took. When the body is the tap's canonical JSON
/// (what a terminal's serialiser writes), that digest is the hash and the
/// tap is not hashed twice (SHA-256 was ~3% of a tap's CPU); any other
/// spelling of the same tap (spaces, another field order) hashes its
/// canonical form, so a tap has one hash however it was sent, online or in
/// a journal.
pub fn tap_hash_of_body(tap: &Tap, body: &[u8], body_digest: &BodyDigest) -> RequestHash {
    let canonical = serde_json::to_vec(tap).unwrap_or_default();
    if canonical == body {
        RequestHash::from_sha256(*body_digest.as_bytes())
    } else {
        RequestHash::of(&canonical)
    }
}

/// `POST /v1/taps`. (A debug-level span: at the default `info` level the
/// request span of `service_kit::layers` names the request, and a fast
/// accepted or denied tap writes no line at all — its answer is
/// [`Quiet`]; errors and slow taps do.)
///
/// It takes the whole request and reads the body itself (limit
/// `Tap::MAX_BYTES`), and marks its answer [`Quiet`] itself: the `HeaderMap`
/// and `OriginalUri` extractors would clone the headers and the URI, and each
/// route layer is one more boxed service that axum clones on every request.
#[tracing::instrument(level = "debug", skip_all, fields(terminal_id, seq))]
pub(crate) async fn post_tap(
    State(state): State<AppState>,
    request: Request,
) -> Result<Quiet<Json<TapDecision>>, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, Tap::MAX_BYTES).await?;
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let now = state.clock().now();
    let now_s = state.clock().now_s();
    let auth::Signed {
        record: terminal,
        body: body_digest,
    } = auth::terminal(&state, &parts.method, uri, &parts.headers, &body, now_s).await?;
    tracing::Span::current().record("terminal_id", terminal.terminal_id.as_str());
    let tap: Tap = decode(&body).map_err(|e| message_error(&e, Tap::MAX_BYTES))?;
    tracing::Span::current().record("seq", tap.seq);
    if tap.terminal_id.as_str() != terminal.terminal_id {
        return Err(ApiError::Forbidden {
            detail: TERMINAL_MISMATCH.to_owned(),
        });
    }
    if tap.seq > MAX_STORED_SEQ {
        return Err(ApiError::Unprocessable {
            kind: INVALID_MESSAGE,
            detail: "seq above 2^63 - 1".to_owned(),
        });
    }
    let input = TapInput {
        terminal: &terminal,
        tap: &tap,
        source: TapSource::Online,
        event_time: now,
        now,
    };
    let hash = tap_hash_of_body(&tap, &body, &body_digest);
    match price(&state, &input, hash).await? {
        Priced::Answered(reply, ticket_id) => {
            Ok(Quiet(Json(decision_of(&tap, &reply, ticket_id, now_s))))
        }
        Priced::Conflict => Err(ApiError::conflict(
            SEQ_REUSED,
            "this (terminal, boot_epoch, seq) was used for a different tap",
        )),
        Priced::Unpriceable(error) => Err(error),
    }
}

/// Maps a decode failure: too large → 413, anything else → 400.
pub fn message_error(error: &card_protocol::messages::MessageError, limit: usize) -> ApiError {
    match error {
        card_protocol::messages::MessageError::TooLarge { .. } => ApiError::PayloadTooLarge {
            limit_bytes: Some(limit),
        },
        other => ApiError::bad_request(INVALID_MESSAGE, other.to_string()),
    }
}

fn mode_label(terminal: &TerminalRecord) -> &'static str {
    match terminal.placement {
        Placement::BusValidator { .. } => "bus_validator",
        Placement::MetroGate { .. } => "metro_gate",
        Placement::ParkingGate { .. } => "parking_gate",
    }
}

/// Whether the event fits the terminal: a bus validator sends boardings; a
/// metro gate sends entries (entry lane) or exits (exit lane) at its own
/// station; parking belongs to the parking service.
fn check_fit(terminal: &TerminalRecord, event: &TapEvent) -> Result<(), ApiError> {
    let mismatch = |detail: &str| ApiError::Unprocessable {
        kind: EVENT_MISMATCH,
        detail: detail.to_owned(),
    };
    match (&terminal.placement, event) {
        (Placement::BusValidator { .. }, TapEvent::BusBoarding { .. }) => Ok(()),
        (
            Placement::MetroGate {
                station_id,
                direction,
            },
            TapEvent::MetroEntry { station_id: at } | TapEvent::MetroExit { station_id: at },
        ) => {
            let entry = matches!(event, TapEvent::MetroEntry { .. });
            if at.as_str() != station_id {
                return Err(mismatch("the tap's station is not the gate's station"));
            }
            if entry != (*direction == Direction::Entry) {
                return Err(mismatch("the tap's direction is not the gate lane's"));
            }
            Ok(())
        }
        (_, TapEvent::ParkingEntry { .. } | TapEvent::ParkingExit { .. })
        | (Placement::ParkingGate { .. }, _) => Err(ApiError::Unprocessable {
            kind: PARKING_NOT_SERVED,
            detail: "parking entries and exits are decided by the parking service".to_owned(),
        }),
        _ => Err(mismatch("this terminal does not send this kind of event")),
    }
}

/// Who the medium belongs to, or why the tap is denied without pricing.
pub enum Resolved {
    /// The medium belongs to this account.
    Account {
        /// The account.
        account: RiderAccount,
        /// The linked medium, when not a QR.
        medium_id: Option<uuid::Uuid>,
    },
    /// Denied before pricing.
    Denied {
        /// Why.
        reason: Reason,
        /// The QR verdict, for a rejected ticket.
        verdict: Option<Verdict>,
    },
}

/// Prices one tap (see the module docs).
/// `hash` is the tap's [`tap_hash`].
pub(crate) async fn price(
    state: &AppState,
    input: &TapInput<'_>,
    hash: RequestHash,
) -> Result<Priced, ApiError> {
    let tap = input.tap;
    let terminal = input.terminal;
    if let Err(error) = check_fit(terminal, &tap.event) {
        return Ok(Priced::Unpriceable(error));
    }
    let setup = state.projection().setup();
    let engine = setup.engine();
    let key = EventKey::tap(terminal.terminal_id.as_str(), tap.boot_epoch, tap.seq);
    let event_time_s = u64::try_from(input.event_time.timestamp()).unwrap_or(0);
    let (resolved, ticket_id) = resolve(state, tap, &key, event_time_s, input.source).await?;
    let service_day = engine
        .calendar()
        .service_day(input.event_time.fixed_offset())
        .date()
        .unwrap_or_default();
    let mut context = tap_context(tap, terminal, input, service_day, ticket_id);
    let (account, medium_id) = match resolved {
        Resolved::Account { account, medium_id } => (account, medium_id),
        Resolved::Denied { reason, verdict } => {
            let mut reply = Reply::denied(reason_code(reason));
            reply.ticket_verdict = verdict.map(|v| v.as_str().to_owned());
            context.ticket_verdict.clone_from(&reply.ticket_verdict);
            // Boxed (as the QR path): a path most taps do not take keeps
            // their future small.
            let recorded = Box::pin(state.projection().record_unpriced(
                &key,
                hash,
                reply,
                Some(context),
                input.now,
            ))
            .await;
            return finish(state, recorded, ticket_id, terminal);
        }
    };
    let verification = if account.category_status == CategoryStatus::Verified {
        Verification::Verified
    } else {
        Verification::Unverified
    };
    let category = setup.category_for(&account.category_id, verification);
    let unknown = |what: &str| {
        Ok(Priced::Unpriceable(ApiError::Unprocessable {
            kind: UNKNOWN_ID,
            detail: format!("this {what} is not in the fare configuration"),
        }))
    };
    let kind = match &tap.event {
        TapEvent::BusBoarding { route_id, .. } => match engine.route(route_id.as_str()) {
            Some(route) => EventKind::Bus { route, category },
            None => return unknown("route"),
        },
        TapEvent::MetroEntry { station_id } => match engine.station(station_id.as_str()) {
            Some(station) => EventKind::MetroIn { station, category },
            None => return unknown("station"),
        },
        TapEvent::MetroExit { station_id } => match engine.station(station_id.as_str()) {
            Some(station) => EventKind::MetroOut { station },
            None => return unknown("station"),
        },
        TapEvent::ParkingEntry { .. } | TapEvent::ParkingExit { .. } => return unknown("lot"),
    };
    context.medium_id = medium_id;
    context.category_id = engine.category_id(category).map(str::to_owned);
    // Boxed: `apply`'s future is ~3 KB, and each enclosing future holds it
    // whole, so unboxed it is copied once per level on every tap (memcpy
    // was ~5% of the tap's CPU); boxed it is copied once.
    let applied = Box::pin(state.projection().apply(Change {
        account: account.account_id,
        key: &key,
        hash,
        event: Event {
            at: input.event_time.fixed_offset(),
            kind,
        },
        occupancy: None,
        tap: Some(context),
        now: input.now,
    }))
    .await;
    finish(state, applied, ticket_id, terminal)
}

/// The `taps_total` counters by (decision, reason, mode), each registered
/// with the recorder the first time it is counted: a labelled
/// `metrics::counter!` looks its key up in the recorder on every call (an
/// allocation and a lock per tap). Bounded: every label is one of a fixed
/// set of static texts.
#[derive(Default)]
pub(crate) struct TapCounters {
    known: std::sync::RwLock<
        std::collections::HashMap<
            (&'static str, &'static str, &'static str),
            metrics::Counter,
            projection::cache::FastHash,
        >,
    >,
}

impl TapCounters {
    fn count(&self, decision: &'static str, reason: &'static str, mode: &'static str) {
        let key = (decision, reason, mode);
        let found = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        let counter = found.unwrap_or_else(|| {
            let counter = metrics::counter!(
                METRIC_TAPS,
                "decision" => decision,
                "reason" => reason,
                "mode" => mode,
            );
            self.known
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, counter.clone());
            counter
        });
        counter.increment(1);
    }
}

fn finish(
    state: &AppState,
    applied: Result<projection::Applied, ProjectionError>,
    ticket_id: Option<TicketId>,
    terminal: &TerminalRecord,
) -> Result<Priced, ApiError> {
    match applied {
        Ok(applied) => {
            let reply = applied.reply;
            state.inner.tap_counters.count(
                match reply.decision {
                    projection::Verdict::Accept => "accept",
                    projection::Verdict::Deny => "deny",
                },
                reason_label(reply.reason.as_deref()),
                mode_label(terminal),
            );
            Ok(Priced::Answered(reply, ticket_id))
        }
        Err(ProjectionError::KeyConflict) => Ok(Priced::Conflict),
        Err(ProjectionError::Busy) => Err(ApiError::Unavailable {
            detail: "the account is busy; retry the tap".to_owned(),
            retry_after_s: Some(1),
        }),
        Err(other) => Err(ApiError::internal(other)),
    }
}

/// The metric label of a reply's reason: the known codes as static text (no
/// allocation per tap), anything else as `other` so the label's cardinality
/// stays bounded.
fn reason_label(reason: Option<&str>) -> &'static str {
    const KNOWN: [&str; 10] = [
        "insufficient_funds",
        "no_open_trip",
        "incomplete_journey",
        "lot_full",
        "already_parked",
        "no_open_stay",
        "pass_limit",
        "unknown_medium",
        "deny_listed",
        "ticket_rejected",
    ];
    match reason {
        None => "none",
        Some(code) => KNOWN
            .iter()
            .find(|k| **k == code)
            .copied()
            .unwrap_or("other"),
    }
}

/// The wire code of a reason.
pub fn reason_code(reason: Reason) -> &'static str {
    match reason {
        Reason::InsufficientFunds => "insufficient_funds",
        Reason::NoOpenTrip => "no_open_trip",
        Reason::IncompleteJourney => "incomplete_journey",
        Reason::LotFull => "lot_full",
        Reason::AlreadyParked => "already_parked",
        Reason::NoOpenStay => "no_open_stay",
        Reason::UnknownMedium => "unknown_medium",
        Reason::DenyListed => "deny_listed",
        Reason::TicketRejected => "ticket_rejected",
    }
}

fn denied(reason: Reason) -> Resolved {
    Resolved::Denied {
        reason,
        verdict: None,
    }
}

/// Resolves a tap's medium to its account (cards and bank tokens through
/// `rider.medium`, plates as sent, QR tickets verified then `rider.ticket`),
/// or to the deny it gets first (deny list, unknown medium, rejected ticket).
/// Shared with the parking service's gates.
pub async fn resolve(
    state: &AppState,
    tap: &Tap,
    key: &EventKey,
    at_s: u64,
    source: TapSource,
) -> Result<(Resolved, Option<TicketId>), ApiError> {
    let (kind, value, deny_kind) = match &tap.medium {
        Medium::TransitCard { card_id } => {
            (MediumKind::TransitCard, card_id.as_str(), DenyKind::CardId)
        }
        Medium::BankCard { token } => (
            MediumKind::BankCard,
            token.as_str(),
            DenyKind::BankCardToken,
        ),
        Medium::Plate { plate } => {
            let found = state
                .medium(MediumKind::Plate, plate.as_str())
                .await
                .map_err(ApiError::internal)?;
            return Ok((medium_resolution(found), None));
        }
        Medium::Qr { payload } => {
            return Box::pin(resolve_qr(state, payload.as_bytes(), key, at_s, source)).await;
        }
    };
    if state
        .denied(deny_kind, value)
        .await
        .map_err(ApiError::internal)?
    {
        return Ok((denied(Reason::DenyListed), None));
    }
    let found = state
        .medium(kind, value)
        .await
        .map_err(ApiError::internal)?;
    Ok((medium_resolution(found), None))
}

fn medium_resolution(found: Option<store_pg::rider::MediumRecord>) -> Resolved {
    match found {
        None => denied(Reason::UnknownMedium),
        Some(record) if record.status == MediumStatus::Blocked => denied(Reason::DenyListed),
        Some(record) => Resolved::Account {
            account: record.account,
            medium_id: Some(record.medium_id),
        },
    }
}

async fn resolve_qr(
    state: &AppState,
    qr: &[u8],
    key: &EventKey,
    at_s: u64,
    source: TapSource,
) -> Result<(Resolved, Option<TicketId>), ApiError> {
    let keys = state.inner.key_set.verifying_keys_at(at_s);
    let verified = match verify_qr(qr, &keys, at_s) {
        Ok(verified) => verified,
        Err(error) => {
            return Ok((
                Resolved::Denied {
                    reason: Reason::TicketRejected,
                    verdict: Some(error.verdict()),
                },
                None,
            ));
        }
    };
    let ticket_id = verified.claims.ticket_id;
    let id_hex = hex::encode(ticket_id.as_bytes());
    if state
        .denied(DenyKind::TicketId, &id_hex)
        .await
        .map_err(ApiError::internal)?
    {
        return Ok((denied(Reason::DenyListed), Some(ticket_id)));
    }
    if let Some(holder) = verified.claims.holder {
        let holder_hex = hex::encode(holder.as_bytes());
        if state
            .denied(DenyKind::HolderKey, &holder_hex)
            .await
            .map_err(ApiError::internal)?
        {
            return Ok((denied(Reason::DenyListed), Some(ticket_id)));
        }
    }
    if let (Some(step), TapSource::Online) = (verified.proof_step, source) {
        // One proof opens one gate: the first tap to use (cti, step) owns it;
        // a retry of that very tap (same key) passes.
        let replay_key = format!(
            "{}:qr_proof:{id_hex}:{step}",
            state.projection().layout().prefix().as_str()
        );
        let mut redis = store_redis::affinity::on_this_thread(&state.inner.redis);
        let previous: Option<String> = redis::cmd("SET")
            .arg(&replay_key)
            .arg(key.as_str())
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(QR_REPLAY_WINDOW_S)
            .query_async(&mut redis)
            .await
            .map_err(ApiError::internal)?;
        if previous.is_some_and(|owner| owner != key.as_str()) {
            return Ok((
                Resolved::Denied {
                    reason: Reason::TicketRejected,
                    verdict: Some(Verdict::StaleProof),
                },
                Some(ticket_id),
            ));
        }
    }
    let found = state
        .inner
        .riders
        .find_ticket(ticket_id.as_bytes())
        .await
        .map_err(ApiError::internal)?;
    Ok(match found {
        None => (denied(Reason::UnknownMedium), Some(ticket_id)),
        Some(ticket) => (
            Resolved::Account {
                account: ticket.account,
                medium_id: None,
            },
            Some(ticket_id),
        ),
    })
}

/// The tap as `transit.tap` records it.
pub fn tap_context(
    tap: &Tap,
    terminal: &TerminalRecord,
    input: &TapInput<'_>,
    service_day: chrono::NaiveDate,
    ticket_id: Option<TicketId>,
) -> TapContext {
    let text = |id: &WireId| Some(id.as_str().to_owned());
    let mut context = TapContext {
        terminal_id: terminal.terminal_id.clone(),
        boot_epoch: tap.boot_epoch,
        seq: tap.seq,
        source: input.source,
        device_time_s: tap.device_time_s,
        event_time: input.event_time,
        service_day,
        event_kind: String::new(),
        route_id: None,
        stop_id: None,
        station_id: None,
        lot_id: None,
        gate_id: None,
        vehicle_class: None,
        operator_id: terminal.operator_id.clone(),
        medium_kind: match tap.medium {
            Medium::TransitCard { .. } => "transit_card",
            Medium::BankCard { .. } => "bank_card",
            Medium::Qr { .. } => "qr",
            Medium::Plate { .. } => "plate",
        }
        .to_owned(),
        medium_id: None,
        ticket_id: ticket_id.map(|t| hex::encode(t.as_bytes())),
        category_id: None,
        ticket_verdict: ticket_id.map(|_| "valid".to_owned()),
    };
    match &tap.event {
        TapEvent::BusBoarding { route_id, stop_id } => {
            context.event_kind = "bus_boarding".into();
            context.route_id = text(route_id);
            context.stop_id = stop_id.as_ref().and_then(text);
        }
        TapEvent::MetroEntry { station_id } => {
            context.event_kind = "metro_entry".into();
            context.station_id = text(station_id);
        }
        TapEvent::MetroExit { station_id } => {
            context.event_kind = "metro_exit".into();
            context.station_id = text(station_id);
        }
        TapEvent::ParkingEntry {
            lot_id, gate_id, ..
        }
        | TapEvent::ParkingExit {
            lot_id, gate_id, ..
        } => {
            context.event_kind = if matches!(tap.event, TapEvent::ParkingEntry { .. }) {
                "parking_entry".into()
            } else {
                "parking_exit".into()
            };
            context.lot_id = text(lot_id);
            context.gate_id = text(gate_id);
        }
    }
    context
}

/// The card-protocol decision for a reply.
pub fn decision_of(
    tap: &Tap,
    reply: &Reply,
    ticket_id: Option<TicketId>,
    server_time_s: u64,
) -> TapDecision {
    let reason: Option<Reason> = reply
        .reason
        .as_deref()
        .and_then(|code| serde_json::from_value(serde_json::Value::String(code.to_owned())).ok());
    let verdict: Option<Verdict> = reply
        .ticket_verdict
        .as_deref()
        .and_then(|code| serde_json::from_value(serde_json::Value::String(code.to_owned())).ok())
        .or(ticket_id.map(|_| Verdict::Valid));
    TapDecision {
        terminal_id: tap.terminal_id.clone(),
        boot_epoch: tap.boot_epoch,
        seq: tap.seq,
        decision: match reply.decision {
            projection::Verdict::Accept => Decision::Accept,
            projection::Verdict::Deny => Decision::Deny,
        },
        reason,
        amount_vnd: reply.amount_vnd,
        balance_vnd: reply.balance_vnd,
        product_id: reply.pass_id.as_deref().and_then(|p| WireId::parse(p).ok()),
        ticket_id,
        ticket_verdict: verdict,
        server_time_s,
    }
}

#[cfg(test)]
mod tests {
    use card_protocol::TerminalId;
    use card_protocol::messages::CardUid;
    use proptest::prelude::*;

    use super::*;

    fn a_tap(boot_epoch: u32, seq: u64, device_time_s: u64, card: u32, metro: bool) -> Tap {
        let wire = |text: &str| WireId::parse(text).expect("a valid wire id");
        Tap {
            terminal_id: TerminalId::parse("HCMC-BUS-0001").expect("a valid terminal id"),
            boot_epoch,
            seq,
            device_time_s,
            event: if metro {
                TapEvent::MetroEntry {
                    station_id: wire("BEN_THANH"),
                }
            } else {
                TapEvent::BusBoarding {
                    route_id: wire("HCMC-BUS-19"),
                    stop_id: None,
                }
            },
            medium: Medium::TransitCard {
                card_id: CardUid::parse(&format!("04{card:012x}")).expect("a valid UID"),
            },
        }
    }

    proptest! {
        /// A tap has one hash however it was sent: the signature check's
        /// digest of a canonical body is reused, any other spelling is
        /// hashed in canonical form.
        #[test]
        fn a_taps_hash_does_not_depend_on_how_its_body_was_spelled(
            boot_epoch in any::<u32>(),
            seq in 1..=MAX_STORED_SEQ,
            device_time_s in any::<u64>(),
            card in any::<u32>(),
            metro in any::<bool>(),
        ) {
            let tap = a_tap(boot_epoch, seq, device_time_s, card, metro);
            let expected = tap_hash(&tap);
            let canonical = serde_json::to_vec(&tap).expect("a tap serialises");
            prop_assert_eq!(
                tap_hash_of_body(&tap, &canonical, &BodyDigest::of(&canonical)),
                expected
            );
            // The same tap pretty-printed: another body, another digest.
            let spaced = serde_json::to_vec_pretty(&tap).expect("a tap serialises");
            prop_assert_eq!(decode::<Tap>(&spaced).ok(), Some(tap.clone()));
            let spaced_digest = BodyDigest::of(&spaced);
            prop_assert_ne!(
                RequestHash::from_sha256(*spaced_digest.as_bytes()),
                expected
            );
            prop_assert_eq!(tap_hash_of_body(&tap, &spaced, &spaced_digest), expected);
        }
    }

    fn check(reason: Option<&str>, expected: &str) {
        assert_eq!(reason_label(reason), expected, "{reason:?}");
    }

    #[test]
    fn reasons_are_labelled_by_code_with_a_bounded_set() {
        check(None, "none");
        check(Some("insufficient_funds"), "insufficient_funds");
        check(Some("pass_limit"), "pass_limit");
        check(Some(reason_code(Reason::TicketRejected)), "ticket_rejected");
        check(Some("something_new"), "other");
    }
}
