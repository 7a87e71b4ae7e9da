//! A tap (terminal → backend) and its decision (backend → terminal).
//!
//! A tap is one device event: what was presented (the medium), where and how
//! (the event: bus boarding, metro entry or exit, parking entry or exit), and
//! the journal key `(terminal_id, boot_epoch, seq)` that makes a retry
//! idempotent. The decision echoes the key.

use serde::{Deserialize, Serialize};

use super::fields::{BankCardToken, CardUid, Plate, QrPayload, VehicleClass, WireId};
use super::{MessageError, check};
use crate::ids::{TerminalId, TicketId};
use crate::ticket::Verdict;

/// Largest charge or refund in one decision, in dong (absolute value): far
/// above any fare (19,000) or parking fee (a month of car parking is about
/// 4.5 M), so it only catches unit mistakes and corrupt values.
pub const MAX_ABS_AMOUNT_VND: i64 = 100_000_000;

/// Largest balance a decision reports, in dong (absolute value): a wallet
/// limit well above any top-up the product allows.
pub const MAX_ABS_BALANCE_VND: i64 = 1_000_000_000_000;

/// What the rider presented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Medium {
    /// A OneTicket transit card, by UID.
    TransitCard {
        /// The card's UID.
        card_id: CardUid,
    },
    /// A contactless bank card, by the provider's token.
    BankCard {
        /// The provider's token for the card.
        token: BankCardToken,
    },
    /// A QR ticket from the app, as scanned.
    Qr {
        /// The scanned bytes, base64url without padding.
        payload: QrPayload,
    },
    /// A vehicle's plate (parking gates only).
    Plate {
        /// The normalised plate.
        plate: Plate,
    },
}

/// Where the tap happened and what it means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TapEvent {
    /// Boarding a bus (buses take one tap).
    BusBoarding {
        /// The route the bus runs.
        route_id: WireId,
        /// The stop, when the validator knows it (GPS); fares do not depend
        /// on it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_id: Option<WireId>,
    },
    /// Entering a metro station's paid area.
    MetroEntry {
        /// The station.
        station_id: WireId,
    },
    /// Leaving a metro station's paid area.
    MetroExit {
        /// The station.
        station_id: WireId,
    },
    /// A vehicle entering a parking lot.
    ParkingEntry {
        /// The lot.
        lot_id: WireId,
        /// The lane or gate within the lot.
        gate_id: WireId,
        /// The vehicle class the gate detected.
        vehicle_class: VehicleClass,
    },
    /// A vehicle leaving a parking lot.
    ParkingExit {
        /// The lot.
        lot_id: WireId,
        /// The lane or gate within the lot.
        gate_id: WireId,
        /// The vehicle class the gate detected.
        vehicle_class: VehicleClass,
    },
}

impl TapEvent {
    fn is_parking(&self) -> bool {
        matches!(
            self,
            TapEvent::ParkingEntry { .. } | TapEvent::ParkingExit { .. }
        )
    }
}

/// A plate identifies a vehicle, not a rider: only parking gates send one.
pub(super) fn check_medium_for_event(
    medium: &Medium,
    event: &TapEvent,
) -> Result<(), MessageError> {
    if matches!(medium, Medium::Plate { .. }) && !event.is_parking() {
        return Err(MessageError::Invalid(
            "a plate medium is only valid at parking gates",
        ));
    }
    Ok(())
}

/// A tap, `POST /v1/taps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TapFields")]
pub struct Tap {
    /// The terminal; must equal the authenticated `X-OT-Terminal`.
    pub terminal_id: TerminalId,
    /// The terminal's boot epoch (see SPEC.md §5.1).
    pub boot_epoch: u32,
    /// The journal sequence number of this tap, from 1 within a boot epoch.
    pub seq: u64,
    /// The terminal's clock at the tap, unix seconds.
    pub device_time_s: u64,
    /// Where and what.
    pub event: TapEvent,
    /// What was presented.
    pub medium: Medium,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TapFields {
    terminal_id: TerminalId,
    boot_epoch: u32,
    seq: u64,
    device_time_s: u64,
    event: TapEvent,
    medium: Medium,
}

impl TryFrom<TapFields> for Tap {
    type Error = MessageError;
    fn try_from(f: TapFields) -> Result<Tap, MessageError> {
        check(f.seq >= 1, "seq starts at 1")?;
        check_medium_for_event(&f.medium, &f.event)?;
        Ok(Tap {
            terminal_id: f.terminal_id,
            boot_epoch: f.boot_epoch,
            seq: f.seq,
            device_time_s: f.device_time_s,
            event: f.event,
            medium: f.medium,
        })
    }
}

/// Accept or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Open the gate / let the rider board.
    Accept,
    /// Keep the gate closed; show the reason.
    Deny,
}

/// Why a tap was decided as it was, beyond a plain accept. The engine's
/// codes (`insufficient_funds` … `no_open_stay`) mean what the fare
/// specification says; the rest concern the medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Deny: the balance is below the charge or hold.
    InsufficientFunds,
    /// Deny: a metro exit with no open trip.
    NoOpenTrip,
    /// Accept: a metro exit more than 180 minutes after entry; the hold was
    /// kept as the charge.
    IncompleteJourney,
    /// Deny: the lot is at capacity.
    LotFull,
    /// Deny: the account already has an open parking stay.
    AlreadyParked,
    /// Deny: a parking exit with no open stay at this lot.
    NoOpenStay,
    /// Deny: the card, token or plate is not linked to an account.
    UnknownMedium,
    /// Deny: the medium, ticket or holder key is on the deny list.
    DenyListed,
    /// Deny: the QR ticket did not verify; `ticket_verdict` says why.
    TicketRejected,
}

impl Reason {
    /// The only decision this reason can come with.
    #[must_use]
    pub const fn decision(self) -> Decision {
        match self {
            Reason::IncompleteJourney => Decision::Accept,
            _ => Decision::Deny,
        }
    }
}

/// Deserialises an `Option` that must be present, as a value or `null`
/// (plain `Option` fields may be omitted). Used for `reason`, whose absence
/// would hide a misspelt field name.
pub(super) fn present_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::deserialize(d)
}

/// The rules every decision — online reply or journaled — obeys.
pub(super) fn check_outcome(
    decision: Decision,
    reason: Option<Reason>,
    amount_vnd: i64,
    ticket_verdict: Option<Verdict>,
) -> Result<(), MessageError> {
    check(
        reason.map_or(decision == Decision::Accept, |r| r.decision() == decision),
        "reason does not go with the decision (a deny needs a deny reason; a plain accept has none)",
    )?;
    check(
        decision == Decision::Accept || amount_vnd == 0,
        "a deny moves no money: amount_vnd must be 0",
    )?;
    check(
        amount_vnd.unsigned_abs() <= MAX_ABS_AMOUNT_VND.unsigned_abs(),
        "amount_vnd out of range",
    )?;
    let rejected = reason == Some(Reason::TicketRejected);
    check(
        rejected == ticket_verdict.is_some_and(|v| v != Verdict::Valid),
        "reason ticket_rejected goes with a ticket_verdict other than valid, and only with it",
    )?;
    Ok(())
}

/// The backend's answer to a [`Tap`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TapDecisionFields")]
pub struct TapDecision {
    /// Echo of the tap's terminal.
    pub terminal_id: TerminalId,
    /// Echo of the tap's boot epoch.
    pub boot_epoch: u32,
    /// Echo of the tap's sequence number.
    pub seq: u64,
    /// Accept or deny.
    pub decision: Decision,
    /// Why, when it is not a plain accept.
    pub reason: Option<Reason>,
    /// How much the balance went down, in dong: a fare or fee (positive), a
    /// refund of an unused hold (negative), 0 on deny.
    pub amount_vnd: i64,
    /// The wallet balance after the tap, in dong; absent when the medium has
    /// no wallet (bank card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_vnd: Option<i64>,
    /// The pass that covered the tap (fare product id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<WireId>,
    /// The QR ticket used (its `cti`), if the medium was a QR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<TicketId>,
    /// The backend's verdict on a QR medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_verdict: Option<Verdict>,
    /// The backend's clock, unix seconds: terminals correct their clock
    /// offset with it.
    pub server_time_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TapDecisionFields {
    terminal_id: TerminalId,
    boot_epoch: u32,
    seq: u64,
    decision: Decision,
    #[serde(deserialize_with = "present_or_null")]
    reason: Option<Reason>,
    amount_vnd: i64,
    #[serde(default)]
    balance_vnd: Option<i64>,
    #[serde(default)]
    product_id: Option<WireId>,
    #[serde(default)]
    ticket_id: Option<TicketId>,
    #[serde(default)]
    ticket_verdict: Option<Verdict>,
    server_time_s: u64,
}

impl TryFrom<TapDecisionFields> for TapDecision {
    type Error = MessageError;
    fn try_from(f: TapDecisionFields) -> Result<TapDecision, MessageError> {
        check(f.seq >= 1, "seq starts at 1")?;
        check_outcome(f.decision, f.reason, f.amount_vnd, f.ticket_verdict)?;
        check(
            f.balance_vnd
                .is_none_or(|b| b.unsigned_abs() <= MAX_ABS_BALANCE_VND.unsigned_abs()),
            "balance_vnd out of range",
        )?;
        Ok(TapDecision {
            terminal_id: f.terminal_id,
            boot_epoch: f.boot_epoch,
            seq: f.seq,
            decision: f.decision,
            reason: f.reason,
            amount_vnd: f.amount_vnd,
            balance_vnd: f.balance_vnd,
            product_id: f.product_id,
            ticket_id: f.ticket_id,
            ticket_verdict: f.ticket_verdict,
            server_time_s: f.server_time_s,
        })
    }
}
