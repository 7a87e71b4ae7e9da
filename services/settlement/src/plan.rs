//! The pure heart of settlement: one account's events of one service day in,
//! the transfers that settle them (with deterministic ids), one statement
//! line per priced thing, and the state to carry into the next day out.
//!
//! [`plan_day`] re-prices the day with the same fare engine the services
//! use, then turns the engine's outcomes into ledger transfers. It does no
//! I/O, reads no clock and draws no randomness: the same inputs always give
//! the same plan, transfer for transfer and id for id.
//!
//! # Rules (where the brief leaves a choice, the choice and its reason)
//!
//! - **What is re-priced.** Every event the gate or the app accepted, and
//!   every event with no provisional decision (a journal record), in the
//!   given order (non-decreasing time). An event the gate *denied* is not
//!   re-priced: the gate stayed shut, so nothing happened that could be
//!   charged (and a deny changes no engine state anyway). An accepted event
//!   that the re-pricing denies (say, a late offline tap used the money
//!   first) settles at 0 and shows as such in the reconciliation.
//! - **Legs.** A bus boarding debits the rider wallet and credits the
//!   revenue account of the operator of the terminal (from the terminal
//!   registry, passed in on each event); when an event has none, the
//!   engine's owner of the leg is used, its id upper-cased.
//! - **Metro holds are two-phase.** An accepted tap in with a hold places a
//!   *pending* transfer wallet → the tap-in operator for the hold (the
//!   maximum fare), with a timeout of [`HOLD_TIMEOUT_S`]. The tap out
//!   *posts* it: in part for the fare, in full when the fare equals the
//!   hold; a fare of 0 (a cancelled trip, or a cap that took it all)
//!   *voids* it. A tap in by an exempt rider or on a pass holds 0, and a
//!   ledger transfer cannot be 0, so no pending transfer is made at all. A
//!   trip still open at the end of the day keeps its pending transfer; the
//!   next day's plan resolves it (its id travels in the [`Carry`]).
//! - **Incomplete journeys** (a tap in while a trip is open, a tap out over
//!   the limit, or a trip overdue at the day's close, via
//!   `Engine::expire_trip` at the day's last second) post the hold in
//!   full, to the **operator**, with transfer code `Penalty`. Why the
//!   operator and not the penalties account: the rider did enter the
//!   operator's network and rode an unknown distance up to the longest
//!   trip, whose fare the hold is; and a rider who later proves the exit is
//!   refunded out of that operator's revenue, so the operator must hold the
//!   money. (The pending transfer's credit account is fixed when the hold is
//!   placed, which also makes the operator the only account a post can
//!   pay.) The `Penalty` code keeps these apart in every report. The
//!   penalties account is kept for penalty fares that are not fares.
//! - **Caps.** A day on which any leg was reduced by a daily or monthly cap
//!   is *capped*: the day's fare total (the sum of the engine's charges,
//!   which the caps bound) is apportioned to operators pro rata to their
//!   **full fares** (before discounts), with [`ledger::split::pro_rata`]:
//!   largest remainder, ties to the operator whose code sorts first. Each
//!   operator's share is then split over its own legs pro rata to their
//!   full fares (largest remainder, ties to the earlier leg), and every leg
//!   posts its share (bus directly, metro as the post of its hold). A
//!   share never exceeds its leg's full fare, so it fits in the hold. On an
//!   uncapped day each leg posts the engine's charge. Either way the day's
//!   wallet debits for fares equal the engine's.
//! - **Passes.** A purchase moves the price wallet → unearned pass revenue
//!   (code `PassSale`). Each ride the pass covers **recognises** revenue
//!   unearned → the ride's operator (code `PassRecognition`): the ride's
//!   full single fare (what the rider would have paid without the pass,
//!   priced by the engine), until the pass's unearned balance is used up.
//!   At the close of the pass's last valid day whatever is left is
//!   recognised to the operators pro rata to the full fares the pass
//!   covered (same remainder rule), or, for a pass never used, to its
//!   owner from the [`Chart`].
//! - **Parking.** A stay's exit fee moves wallet → the lot's operator (code
//!   `ParkingFee`). Settlement does not know lot
//!   occupancy and does not need it: the gate let the vehicle in, so entry
//!   is re-priced against an empty lot.
//! - **Lost tickets.** A stay an operator closed for a rider who lost the
//!   medium posts its fee as above, and the lot's lost-ticket fee as a
//!   transfer of its own (leg `lost_ticket`), also wallet → the **lot's
//!   operator**, code `ParkingFee`; the line shows it apart
//!   (`lost_ticket_fee`) and the statements count it in the operator's
//!   parking revenue. Why the operator and not the penalties account: the
//!   fee is an item of the lot's own tariff (`lost_ticket_vnd`, recorded in
//!   the site's tariff version), set by the operator and paying for its
//!   attendant's check that the vehicle is the rider's and for its exposure
//!   to a vehicle released to the wrong person; the penalties account is
//!   for penalty fares owed to no operator.
//! - **Parking permits** are passes that cover lots, sold like any pass
//!   (wallet → unearned, `PassSale`). A stay a permit covered (in whole or
//!   in part) recognises unearned → the lot's operator what the permit
//!   saved: the tariff's fee of the stay without permits (priced by the
//!   engine) minus the fee charged, until the permit's unearned balance is
//!   used up; the recognition is looked up on the permit valid on the
//!   exit's day, else on the entry's. At expiry the rest is recognised as
//!   for passes (`config::pass_owners` names the operator of a permit's
//!   first lot as its owner).
//! - **Settled charges are final**, so every settlement transfer may
//!   overdraw the wallet down to its overdraft limit (`Overdraft::Allowed`).
//!   The engine already decided, on its own timeline, that each charge
//!   could be paid (a parking exit is let out whatever the balance); the
//!   ledger's wallet at settlement time may reflect another timeline (a
//!   later day settled before an earlier day's late taps). The wallet's
//!   overdraft limit, set by whoever opens it, stays the hard floor: a
//!   batch that would pass it is refused and reported.
//! - **Top-ups** are posted when they happen (provider clearing → wallet);
//!   settlement re-prices them (they change the balance the engine sees)
//!   and posts nothing.
//! - **Totals balance:** `rider debits = operator credits + penalties +
//!   platform fees + (pass sales − pass recognitions)`; the last term is
//!   the change of the unearned-revenue liability. No platform fee is
//!   configured today, so that term is 0.
//! - **References.** Every transfer carries the reference
//!   `S:<day>:<account>`, so the ledger can list what settled an
//!   account-day (the adjustment step needs exactly that).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeDelta};
use fares::engine::state::{Coverage, PassIdx};
use fares::engine::{
    AccountState, Breakdown, Decision, Engine, Event, EventError, EventKind, LotOccupancy, Outcome,
    Reason, ServiceDay,
};
use ledger::split::{SplitError, pro_rata};
use ledger::{
    AccountId, Amount, Currency, MAX_BATCH_TRANSFERS, Money, Movement, OperatorId, Overdraft,
    PendingTimeout, PostAmount, Reference, Transfer, TransferBody, TransferCode, TransferId,
};
use serde::{Deserialize, Serialize};

use crate::day::day_bounds;
use crate::plan_ids::{Source, resolution_id, settlement_transfer_id};

/// The most events one account-day may have. A rider taps a few dozen
/// times on a busy day; 2,000 is far beyond any real use (a card tapped
/// that often is a fault or a fraud, settled by hand), and it keeps a
/// day's plan (at most two transfers per event) inside one ledger batch.
pub const MAX_EVENTS_PER_ACCOUNT_DAY: usize = 2_000;

/// The longest event key, in bytes. A tap's key is
/// `terminal:boot_epoch:seq` (well under 100 bytes); 128 leaves room for
/// other sources' keys (a top-up's transfer id) while bounding the hash
/// input and the lines.
pub const MAX_EVENT_KEY_BYTES: usize = 128;

/// How long a metro hold stays pending before the ledger expires it, in
/// seconds: 7 days. A trip open at a day's close is resolved by the next
/// day's settlement, which runs after that day plus its grace period for
/// late journals (about two days at most); a week covers a job stalled over
/// a long holiday. A hold that does expire gives the money back to the
/// rider, and the next settlement of its day posts the fare as an
/// adjustment instead.
pub const HOLD_TIMEOUT_S: u32 = 7 * 24 * 60 * 60;

/// A balance large enough that pricing a ride "as if without the pass"
/// never fails for lack of money: that pricing only asks for the full fare.
const HYPOTHETICAL_BALANCE: Money = Money::vnd(i64::MAX / 4);

/// The stable identity of an event across ingest paths (an online tap and
/// its journal copy share it): 1 to [`MAX_EVENT_KEY_BYTES`] bytes of
/// printable ASCII.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventKey(String);

/// A string that is not a valid event key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventKeyError {
    /// Empty or longer than [`MAX_EVENT_KEY_BYTES`].
    #[error("an event key is 1 to {max} bytes, got {0}", max = MAX_EVENT_KEY_BYTES)]
    Length(usize),
    /// A byte outside printable ASCII.
    #[error("an event key is printable ASCII")]
    Character,
}

impl EventKey {
    /// Parses a key.
    pub fn parse(key: &str) -> Result<EventKey, EventKeyError> {
        if key.is_empty() || key.len() > MAX_EVENT_KEY_BYTES {
            return Err(EventKeyError::Length(key.len()));
        }
        if !key.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(EventKeyError::Character);
        }
        Ok(EventKey(key.to_owned()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventKey {
    type Error = EventKeyError;
    fn try_from(key: String) -> Result<Self, EventKeyError> {
        EventKey::parse(&key)
    }
}

impl From<EventKey> for String {
    fn from(key: EventKey) -> String {
        key.0
    }
}

impl std::fmt::Display for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the gate (or the app) decided when the event happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Let through.
    Accept,
    /// Refused: the gate stayed shut.
    Deny,
}

/// The provisional decision and charge recorded with the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisional {
    /// Accept or deny.
    pub verdict: Verdict,
    /// How much the balance went down (negative for a refund or top-up).
    pub amount: Money,
}

/// One recorded event of the account, as settlement reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayEvent {
    /// Its stable key.
    pub key: EventKey,
    /// When it happened.
    pub at: DateTime<FixedOffset>,
    /// What happened (ids interned by the engine).
    pub kind: EventKind,
    /// The operator of the terminal, from the terminal registry.
    pub operator: Option<OperatorId>,
    /// The decision taken when it happened, when known.
    pub provisional: Option<Provisional>,
}

/// The metro trip open at a day boundary, as settlement tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedTrip {
    /// The operator of the tap in (the hold's credit account).
    pub operator: OperatorId,
    /// The pending transfer of the hold; `None` when the hold is 0.
    pub pending_id: Option<TransferId>,
}

/// A sold pass and what is left of its price to recognise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassBalance {
    /// The id of the sale transfer (also names the pass in expiry ids).
    pub sale_id: TransferId,
    /// The pass product.
    pub product: PassIdx,
    /// First service day of validity.
    pub first_day: ServiceDay,
    /// Last service day of validity.
    pub last_day: ServiceDay,
    /// Price not yet recognised.
    pub unearned: Money,
    /// Full fares of the rides it covered, by operator: the weights of the
    /// expiry split.
    pub covered_fares: BTreeMap<OperatorId, Money>,
}

impl PassBalance {
    fn valid_on(&self, day: ServiceDay) -> bool {
        self.first_day <= day && day <= self.last_day
    }
}

/// What one account-day hands to the next: the engine's state and what
/// settlement tracks beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carry {
    /// The engine's account state.
    pub state: AccountState,
    /// The open metro trip, when `state` has one.
    pub trip: Option<CarriedTrip>,
    /// Passes with price still to recognise, in purchase order.
    pub passes: Vec<PassBalance>,
}

/// The ledger accounts a plan pays into, besides the rider's wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    /// Unearned pass revenue.
    pub unearned: AccountId,
    /// Penalties.
    pub penalties: AccountId,
    /// The revenue account of each operator.
    pub operators: BTreeMap<OperatorId, AccountId>,
    /// Who receives the price of a pass that was never used.
    pub pass_owners: BTreeMap<PassIdx, OperatorId>,
}

impl Chart {
    fn operator(&self, operator: &OperatorId) -> Result<AccountId, PlanError> {
        self.operators
            .get(operator)
            .copied()
            .ok_or_else(|| PlanError::NoOperatorAccount(operator.clone()))
    }
}

/// Why an account-day cannot be planned. Nothing is planned then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// More than [`MAX_EVENTS_PER_ACCOUNT_DAY`] events.
    #[error("{0} events in one account-day, at most {max}", max = MAX_EVENTS_PER_ACCOUNT_DAY)]
    TooManyEvents(usize),
    /// An event earlier than the one before it.
    #[error("event {0} is earlier than the event before it")]
    OutOfOrder(EventKey),
    /// An event of another service day.
    #[error("event {key} belongs to service day {actual}, not {expected}")]
    WrongDay {
        /// The event.
        key: EventKey,
        /// The day being planned.
        expected: ServiceDay,
        /// The event's day.
        actual: ServiceDay,
    },
    /// A day outside the calendar's range.
    #[error("service day {0} cannot be represented")]
    DayOutOfRange(ServiceDay),
    /// The carried state and settlement's own tracking disagree.
    #[error("the carried state is inconsistent: {0}")]
    CarryMismatch(&'static str),
    /// The engine refused an event (an index of another configuration, an
    /// overflow, a non-positive top-up).
    #[error("the engine cannot price event {key:?}: {error}")]
    Engine {
        /// The event (`None` for the day close).
        key: Option<EventKey>,
        /// Why.
        error: EventError,
    },
    /// A chargeable event with no operator, from the terminal or the engine.
    #[error("event {0} has no operator")]
    NoOperator(EventKey),
    /// An operator without a revenue account in the chart.
    #[error("operator {0} has no revenue account")]
    NoOperatorAccount(OperatorId),
    /// A pass with nobody to receive its unused price.
    #[error("pass product {0:?} has no owner to recognise its unused price")]
    NoPassOwner(PassIdx),
    /// An exact split was refused.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// A sum left the range of `Money`.
    #[error("amount overflow")]
    Overflow,
    /// The plan would not fit in one ledger batch.
    #[error("{0} transfers do not fit in one ledger batch")]
    TooManyTransfers(usize),
}

impl From<ledger::Overflow> for PlanError {
    fn from(_: ledger::Overflow) -> PlanError {
        PlanError::Overflow
    }
}

/// Where a statement line comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "key")]
pub enum LineSource {
    /// A recorded event.
    Event(EventKey),
    /// The close of the day (an overdue trip, an expiring pass).
    DayClose,
}

/// What a statement line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A top-up (posted when it happened).
    TopUp,
    /// A bus boarding.
    Bus,
    /// A metro tap in.
    MetroIn,
    /// A metro tap out.
    MetroOut,
    /// A pass purchase.
    PassSale,
    /// A vehicle entering a lot.
    ParkIn,
    /// A vehicle leaving a lot.
    ParkOut,
    /// A metro trip closed as incomplete (by the next tap in, a late tap
    /// out, or the day's close).
    IncompleteTrip,
    /// A pass's unused price recognised at its expiry.
    PassExpiry,
}

/// How the re-pricing treated a line's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// Re-priced and accepted.
    Accept,
    /// Re-priced and denied: nothing charged.
    Deny,
    /// Denied at the gate: not re-priced, nothing charged.
    GateDenied,
}

/// One line of the statements: an event (or a day-close step), who it is
/// owed to, and every amount settlement decided for it. Amounts are ≥ 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Its source.
    pub source: LineSource,
    /// When.
    pub at: DateTime<FixedOffset>,
    /// What.
    pub kind: LineKind,
    /// The event, for exports that name routes and stations.
    #[serde(skip)]
    pub event: Option<EventKind>,
    /// Whose revenue it is.
    pub operator: Option<OperatorId>,
    /// The gate's decision.
    pub provisional: Option<Provisional>,
    /// The re-pricing's decision.
    pub settled: Settled,
    /// The engine's reason (deny reasons, `incomplete_journey`).
    pub reason: Option<String>,
    /// What paid for a transit leg.
    pub coverage: Option<Coverage>,
    /// The pass bought or used.
    pub pass: Option<PassIdx>,
    /// The leg's full fare (0 when exempt or on a pass).
    pub full_fare: Money,
    /// Transfer discount.
    pub discount: Money,
    /// What the caps took off.
    pub cap_reduction: Money,
    /// The engine's charge for the leg.
    pub fare_charged: Money,
    /// The fare the ledger posts for the leg (the apportioned share on a
    /// capped day, the engine's charge otherwise).
    pub fare_settled: Money,
    /// An incomplete journey's charge.
    pub incomplete_charge: Money,
    /// A pass's price.
    pub pass_price: Money,
    /// Pass revenue recognised for the operator.
    pub pass_recognised: Money,
    /// Parking fee.
    pub parking_fee: Money,
    /// The lot's lost-ticket fee, on a stay closed as a lost ticket.
    #[serde(default)]
    pub lost_ticket_fee: Money,
    /// Top-up amount.
    pub top_up: Money,
    /// Hold placed (informative: a hold is not a charge).
    pub hold_placed: Money,
    /// The spendable balance after the event, as the re-pricing left it.
    pub balance: Option<Money>,
}

impl Line {
    fn new(
        source: LineSource,
        at: DateTime<FixedOffset>,
        kind: LineKind,
        settled: Settled,
    ) -> Line {
        Line {
            source,
            at,
            kind,
            event: None,
            operator: None,
            provisional: None,
            settled,
            reason: None,
            coverage: None,
            pass: None,
            full_fare: Money::ZERO,
            discount: Money::ZERO,
            cap_reduction: Money::ZERO,
            fare_charged: Money::ZERO,
            fare_settled: Money::ZERO,
            incomplete_charge: Money::ZERO,
            pass_price: Money::ZERO,
            pass_recognised: Money::ZERO,
            parking_fee: Money::ZERO,
            lost_ticket_fee: Money::ZERO,
            top_up: Money::ZERO,
            hold_placed: Money::ZERO,
            balance: None,
        }
    }

    /// What this line takes from the rider's wallet.
    pub fn wallet_debit(&self) -> Result<Money, ledger::Overflow> {
        Money::checked_sum([
            self.fare_settled,
            self.incomplete_charge,
            self.pass_price,
            self.parking_fee,
            self.lost_ticket_fee,
        ])
    }

    /// What this line credits to its operator.
    pub fn operator_credit(&self) -> Result<Money, ledger::Overflow> {
        Money::checked_sum([
            self.fare_settled,
            self.incomplete_charge,
            self.pass_recognised,
            self.parking_fee,
            self.lost_ticket_fee,
        ])
    }
}

/// The posted money of a plan, by side. See the module docs for the
/// identity they obey.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Posted debits of the rider's wallet.
    pub rider_debits: Money,
    /// Posted credits of operator revenue accounts.
    pub operator_credits: Money,
    /// Posted credits of the penalties account.
    pub penalties: Money,
    /// Posted credits of the platform fee account.
    pub platform_fees: Money,
    /// Posted credits of unearned pass revenue (sales).
    pub pass_sales: Money,
    /// Posted debits of unearned pass revenue (recognitions).
    pub pass_recognitions: Money,
}

impl Totals {
    /// True when `rider debits = operator credits + penalties + platform
    /// fees + pass sales − pass recognitions`.
    #[must_use]
    pub fn balanced(&self) -> bool {
        let right = Money::checked_sum([
            self.operator_credits,
            self.penalties,
            self.platform_fees,
            self.pass_sales,
        ])
        .and_then(|sum| sum.checked_sub(self.pass_recognitions));
        right == Ok(self.rider_debits)
    }
}

/// The settlement of one account-day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayPlan {
    /// The rider's wallet account.
    pub account: AccountId,
    /// The service day.
    pub day: ServiceDay,
    /// Transfers in posting order; all in one batch.
    pub transfers: Vec<Transfer>,
    /// Statement lines in time order.
    pub lines: Vec<Line>,
    /// What the next day starts from.
    pub end: Carry,
    /// Posted money by side.
    pub totals: Totals,
}

/// The reference every transfer of an account-day carries.
#[must_use]
pub fn account_day_reference(day: ServiceDay, account: AccountId) -> Reference {
    Reference::parse(&format!("S:{day}:{account}"))
        .expect("'S:' + a 10-character date + ':' + a 36-character UUID is 49 printable bytes")
}

/// One engine step of the day, before transfers are made.
struct Step {
    /// Index into `events`, or `None` for the day close.
    event: Option<usize>,
    at: DateTime<FixedOffset>,
    outcome: Option<Outcome>,
    /// The trip open before the step, as settlement tracks it.
    trip_before: Option<CarriedTrip>,
    /// The entry day of the trip open before the step.
    trip_entry_day: Option<ServiceDay>,
    /// For a ride on a pass: its full single fare; for a stay a permit
    /// covered: its fee without permits.
    would_be_fare: Money,
    /// The service day of the entry of the stay open before the step.
    stay_entry_day: Option<ServiceDay>,
    /// For a pass purchase: its last valid day.
    pass_last_day: Option<ServiceDay>,
    /// The trip open after the step.
    trip_after: Option<CarriedTrip>,
}

/// Plans `account`'s settlement of `day`, starting from `start`.
///
/// # Errors
/// See [`PlanError`]; nothing is planned on error.
pub fn plan_day(
    engine: &Engine,
    chart: &Chart,
    account: AccountId,
    day: ServiceDay,
    start: &Carry,
    events: &[DayEvent],
) -> Result<DayPlan, PlanError> {
    if events.len() > MAX_EVENTS_PER_ACCOUNT_DAY {
        return Err(PlanError::TooManyEvents(events.len()));
    }
    check_carry(start)?;
    let (_, day_end) = day_bounds(engine.calendar(), day).ok_or(PlanError::DayOutOfRange(day))?;
    let mut last_at: Option<DateTime<FixedOffset>> = None;
    for event in events {
        let actual = engine.calendar().service_day(event.at);
        if actual != day {
            return Err(PlanError::WrongDay {
                key: event.key.clone(),
                expected: day,
                actual,
            });
        }
        if last_at.is_some_and(|last| event.at < last) {
            return Err(PlanError::OutOfOrder(event.key.clone()));
        }
        last_at = Some(event.at);
    }

    let (steps, end_state) = reprice(engine, account, day, start, events, day_end)?;
    let shares = apportion(engine, events, &steps)?;
    let mut emitter = Emitter::new(chart, account, day, start);
    for (index, step) in steps.iter().enumerate() {
        let event = step.event.and_then(|i| events.get(i));
        let share = shares.get(&index).copied();
        emitter.step(engine, event, step, share)?;
    }
    emitter.expire_passes(day)?;
    emitter.finish(end_state)
}

fn check_carry(carry: &Carry) -> Result<(), PlanError> {
    match (&carry.state.open_trip, &carry.trip) {
        (None, None) => Ok(()),
        (Some(trip), Some(carried)) => {
            if trip.hold.is_positive() == carried.pending_id.is_some() {
                Ok(())
            } else {
                Err(PlanError::CarryMismatch(
                    "a trip holds money exactly when it has a pending transfer",
                ))
            }
        }
        _ => Err(PlanError::CarryMismatch(
            "the engine's open trip and the carried trip disagree",
        )),
    }
}

/// The operator of a chargeable event: the terminal's, else the engine's
/// owner of the leg (its id upper-cased into an operator code).
fn event_operator(
    engine: &Engine,
    event: &DayEvent,
    outcome: &Outcome,
) -> Result<OperatorId, PlanError> {
    if let Some(operator) = &event.operator {
        return Ok(operator.clone());
    }
    outcome
        .owner
        .and_then(|owner| engine.operator_id(owner.operator))
        .and_then(|id| OperatorId::parse(&id.to_ascii_uppercase()).ok())
        .ok_or_else(|| PlanError::NoOperator(event.key.clone()))
}

/// Runs the engine over the day and records what each step needs.
fn reprice(
    engine: &Engine,
    account: AccountId,
    day: ServiceDay,
    start: &Carry,
    events: &[DayEvent],
    day_end: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<Step>, AccountState), PlanError> {
    let mut state = start.state.clone();
    let mut trip = start.trip.clone();
    let mut steps = Vec::with_capacity(events.len().saturating_add(1));
    for (index, event) in events.iter().enumerate() {
        let gate_denied = event
            .provisional
            .is_some_and(|p| p.verdict == Verdict::Deny);
        let trip_before = trip.clone();
        let trip_entry_day = state.open_trip.map(|t| t.entry_day);
        let stay_entry_day = state
            .open_stay
            .and_then(|stay| DateTime::from_timestamp(stay.entered_at_s, 0))
            .map(|entered| engine.calendar().service_day(entered.fixed_offset()));
        if gate_denied {
            steps.push(Step {
                event: Some(index),
                at: event.at,
                outcome: None,
                trip_before,
                trip_entry_day,
                would_be_fare: Money::ZERO,
                stay_entry_day,
                pass_last_day: None,
                trip_after: trip.clone(),
            });
            continue;
        }
        let occupancy = match event.kind {
            EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => {
                Some(LotOccupancy { lot, occupied: 0 })
            }
            _ => None,
        };
        let engine_event = Event {
            at: event.at,
            kind: event.kind,
        };
        let engine_error = |error| PlanError::Engine {
            key: Some(event.key.clone()),
            error,
        };
        let decided = engine
            .decide(&state, occupancy, &engine_event)
            .map_err(engine_error)?;
        let outcome = decided.outcome;
        let accepted = outcome.decision == Decision::Accept;
        let mut would_be_fare = Money::ZERO;
        let mut pass_last_day = None;
        if accepted {
            match event.kind {
                EventKind::Bus { route, category } => {
                    if matches!(outcome.coverage, Some(Coverage::Pass(_))) {
                        would_be_fare = engine
                            .route_fare(route, category)
                            .ok_or(engine_error(EventError::UnknownIndex("route fare")))?;
                    }
                }
                EventKind::MetroIn { .. } => {
                    let operator = event_operator(engine, event, &outcome)?;
                    let pending_id = outcome.breakdown.hold_placed.is_positive().then(|| {
                        settlement_transfer_id(
                            day,
                            account,
                            Source::Event(event.key.as_str()),
                            "hold",
                        )
                    });
                    trip = Some(CarriedTrip {
                        operator,
                        pending_id,
                    });
                }
                EventKind::MetroOut { .. } => {
                    if matches!(outcome.coverage, Some(Coverage::Pass(_)))
                        && outcome.reason.is_none()
                    {
                        would_be_fare = fare_without_pass(engine, &state, &engine_event)
                            .map_err(engine_error)?;
                    }
                    trip = None;
                }
                EventKind::BuyPass { .. } => {
                    pass_last_day = decided.state.passes.last().map(|p| p.last_day);
                }
                EventKind::ParkOut { .. } => {
                    if outcome.pass.is_some() {
                        would_be_fare = fee_without_permits(engine, &state, &engine_event)
                            .map_err(engine_error)?;
                    }
                }
                EventKind::TopUp { .. } | EventKind::ParkIn { .. } => {}
            }
        }
        state = decided.state;
        steps.push(Step {
            event: Some(index),
            at: event.at,
            outcome: Some(outcome),
            trip_before,
            trip_entry_day,
            would_be_fare,
            stay_entry_day,
            pass_last_day,
            trip_after: trip.clone(),
        });
    }
    // The day's close: the last second of the day, so the close belongs to it.
    let close_at = (day_end - TimeDelta::seconds(1)).fixed_offset();
    let trip_before = trip.clone();
    let trip_entry_day = state.open_trip.map(|t| t.entry_day);
    let closed = engine
        .expire_trip(&mut state, close_at)
        .map_err(|error| PlanError::Engine { key: None, error })?;
    if closed.is_some() {
        trip = None;
    }
    steps.push(Step {
        event: None,
        at: close_at,
        outcome: closed,
        trip_before,
        trip_entry_day,
        would_be_fare: Money::ZERO,
        stay_entry_day: None,
        pass_last_day: None,
        trip_after: trip,
    });
    Ok((steps, state))
}

/// The fee of a parking exit a permit covered, priced as if the account
/// held no permit: the engine's own answer, park and ride and grace
/// included (the lost-ticket fee is never covered, so it is left out).
fn fee_without_permits(
    engine: &Engine,
    state: &AccountState,
    event: &Event,
) -> Result<Money, EventError> {
    let mut paid = state.clone();
    paid.balance = HYPOTHETICAL_BALANCE;
    paid.passes.clear();
    let occupancy = match event.kind {
        EventKind::ParkOut { lot, .. } => Some(LotOccupancy { lot, occupied: 1 }),
        _ => None,
    };
    let decided = engine.decide(&paid, occupancy, event)?;
    Ok(decided.outcome.breakdown.parking_fee)
}

/// The full fare of a pass-covered tap out, priced as if the trip had been
/// paid: the engine's own answer, cancellations and all.
fn fare_without_pass(
    engine: &Engine,
    state: &AccountState,
    event: &Event,
) -> Result<Money, EventError> {
    let mut paid = state.clone();
    paid.balance = HYPOTHETICAL_BALANCE;
    if let Some(trip) = paid.open_trip.as_mut() {
        trip.coverage = Coverage::Fare;
    }
    let decided = engine.decide(&paid, None, event)?;
    Ok(decided.outcome.breakdown.full_fare)
}

/// On a capped day, the fare each leg posts, by step index; empty on an
/// uncapped day (each leg then posts the engine's charge).
fn apportion(
    engine: &Engine,
    events: &[DayEvent],
    steps: &[Step],
) -> Result<BTreeMap<usize, Money>, PlanError> {
    // (step index, operator, full fare, charge) of every accepted leg.
    let mut legs: Vec<(usize, OperatorId, Money, Money)> = Vec::new();
    let mut capped = false;
    for (index, step) in steps.iter().enumerate() {
        let (Some(outcome), Some(event)) = (&step.outcome, step.event.and_then(|i| events.get(i)))
        else {
            continue;
        };
        if outcome.decision != Decision::Accept {
            continue;
        }
        let operator = match event.kind {
            EventKind::Bus { .. } => event_operator(engine, event, outcome)?,
            EventKind::MetroOut { .. } => leg_trip(step)?.operator.clone(),
            _ => continue,
        };
        let b = outcome.breakdown;
        capped |= b.cap_reduction.is_positive();
        legs.push((index, operator, b.full_fare, b.fare_charged));
    }
    if !capped {
        return Ok(BTreeMap::new());
    }
    let total = Money::checked_sum(legs.iter().map(|l| l.3))?;
    let mut by_operator: BTreeMap<&OperatorId, Vec<(usize, u64)>> = BTreeMap::new();
    for (index, operator, full_fare, _) in &legs {
        let weight = u64::try_from(full_fare.as_vnd()).map_err(|_| PlanError::Overflow)?;
        by_operator
            .entry(operator)
            .or_default()
            .push((*index, weight));
    }
    let operator_weights: Vec<u64> = by_operator
        .values()
        .map(|legs| legs.iter().map(|l| l.1).try_fold(0u64, u64::checked_add))
        .collect::<Option<_>>()
        .ok_or(PlanError::Overflow)?;
    let operator_shares = pro_rata(total, &operator_weights)?;
    let mut shares = BTreeMap::new();
    for ((legs, share), weight) in by_operator
        .values()
        .zip(operator_shares)
        .zip(operator_weights)
    {
        if weight == 0 {
            // Only legs with no full fare (exempt, on a pass): nothing to post.
            shares.extend(legs.iter().map(|l| (l.0, Money::ZERO)));
            continue;
        }
        let weights: Vec<u64> = legs.iter().map(|l| l.1).collect();
        let parts = pro_rata(share, &weights)?;
        shares.extend(legs.iter().map(|l| l.0).zip(parts));
    }
    Ok(shares)
}

/// The trip a tap out closes, as settlement tracked it.
fn leg_trip(step: &Step) -> Result<&CarriedTrip, PlanError> {
    step.trip_before.as_ref().ok_or(PlanError::CarryMismatch(
        "a tap out closed a trip settlement did not track",
    ))
}

fn movement(debit: AccountId, credit: AccountId, amount: Amount, overdraft: Overdraft) -> Movement {
    Movement {
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        currency: Currency::VND,
        overdraft,
    }
}

/// The line kind of an event.
fn kind_of(event: &EventKind) -> LineKind {
    match event {
        EventKind::TopUp { .. } => LineKind::TopUp,
        EventKind::Bus { .. } => LineKind::Bus,
        EventKind::MetroIn { .. } => LineKind::MetroIn,
        EventKind::MetroOut { .. } => LineKind::MetroOut,
        EventKind::BuyPass { .. } => LineKind::PassSale,
        EventKind::ParkIn { .. } => LineKind::ParkIn,
        EventKind::ParkOut { .. } => LineKind::ParkOut,
    }
}

/// Builds the transfers and lines of a day, step by step.
struct Emitter<'c> {
    chart: &'c Chart,
    account: AccountId,
    day: ServiceDay,
    reference: Reference,
    transfers: Vec<Transfer>,
    lines: Vec<Line>,
    passes: Vec<PassBalance>,
    /// The open trip and what its pending transfer holds.
    trip: Option<(CarriedTrip, Money)>,
    totals: Totals,
    close_at: Option<DateTime<FixedOffset>>,
}

impl<'c> Emitter<'c> {
    fn new(chart: &'c Chart, account: AccountId, day: ServiceDay, start: &Carry) -> Emitter<'c> {
        let hold = start.state.open_trip.map_or(Money::ZERO, |trip| trip.hold);
        Emitter {
            chart,
            account,
            day,
            reference: account_day_reference(day, account),
            transfers: Vec::new(),
            lines: Vec::new(),
            passes: start.passes.clone(),
            trip: start.trip.clone().map(|trip| (trip, hold)),
            totals: Totals::default(),
            close_at: None,
        }
    }

    fn id(&self, source: Source<'_>, leg: &str) -> TransferId {
        settlement_transfer_id(self.day, self.account, source, leg)
    }

    /// Counts a posted movement into the totals.
    fn count(
        &mut self,
        debit: AccountId,
        credit: AccountId,
        amount: Money,
    ) -> Result<(), PlanError> {
        let t = &mut self.totals;
        if debit == self.account {
            t.rider_debits = t.rider_debits.checked_add(amount)?;
        }
        if debit == self.chart.unearned {
            t.pass_recognitions = t.pass_recognitions.checked_add(amount)?;
        }
        if credit == self.chart.unearned {
            t.pass_sales = t.pass_sales.checked_add(amount)?;
        } else if credit == self.chart.penalties {
            t.penalties = t.penalties.checked_add(amount)?;
        } else if self.chart.operators.values().any(|id| *id == credit) {
            t.operator_credits = t.operator_credits.checked_add(amount)?;
        }
        Ok(())
    }

    fn direct(
        &mut self,
        id: TransferId,
        code: TransferCode,
        debit: AccountId,
        credit: AccountId,
        amount: Money,
        overdraft: Overdraft,
    ) -> Result<(), PlanError> {
        let Ok(positive) = Amount::new(amount) else {
            return Ok(());
        };
        self.transfers.push(Transfer {
            id,
            code,
            reference: Some(self.reference.clone()),
            body: TransferBody::Direct(movement(debit, credit, positive, overdraft)),
        });
        self.count(debit, credit, amount)
    }

    /// Places the hold of a new trip.
    fn hold(&mut self, trip: &CarriedTrip, amount: Money) -> Result<(), PlanError> {
        let credit = self.chart.operator(&trip.operator)?;
        if let (Some(pending_id), Ok(positive)) = (trip.pending_id, Amount::new(amount)) {
            let timeout = PendingTimeout::from_secs(HOLD_TIMEOUT_S)
                .expect("HOLD_TIMEOUT_S is within the ledger's pending timeout range");
            self.transfers.push(Transfer {
                id: pending_id,
                code: TransferCode::Fare,
                reference: Some(self.reference.clone()),
                body: TransferBody::Pending {
                    movement: movement(self.account, credit, positive, Overdraft::Allowed),
                    timeout,
                },
            });
        }
        self.trip = Some((trip.clone(), amount));
        Ok(())
    }

    /// Resolves the open trip's hold by posting `fare` of it (voiding it
    /// when `fare` is 0); returns the trip's operator.
    fn resolve(&mut self, fare: Money, code: TransferCode) -> Result<OperatorId, PlanError> {
        let (trip, held) = self.trip.take().ok_or(PlanError::CarryMismatch(
            "a trip closed that settlement did not track",
        ))?;
        let Some(pending_id) = trip.pending_id else {
            if fare.is_positive() {
                return Err(PlanError::CarryMismatch(
                    "a fare charged on a trip with no hold",
                ));
            }
            return Ok(trip.operator);
        };
        if fare > held {
            return Err(PlanError::CarryMismatch("a fare above the trip's hold"));
        }
        let body = match Amount::new(fare) {
            Err(_) => TransferBody::Void { pending_id },
            Ok(_) if fare == held => TransferBody::Post {
                pending_id,
                amount: PostAmount::Full,
            },
            Ok(part) => TransferBody::Post {
                pending_id,
                amount: PostAmount::Partial(part),
            },
        };
        self.transfers.push(Transfer {
            id: resolution_id(pending_id),
            code,
            reference: Some(self.reference.clone()),
            body,
        });
        let credit = self.chart.operator(&trip.operator)?;
        self.count(self.account, credit, fare)?;
        Ok(trip.operator)
    }

    /// Recognises a covered ride's revenue from its pass; returns the amount.
    fn recognise(
        &mut self,
        key: &EventKey,
        product: Option<PassIdx>,
        coverage_day: Option<ServiceDay>,
        operator: &OperatorId,
        full_fare: Money,
    ) -> Result<Money, PlanError> {
        let (Some(product), Some(coverage_day)) = (product, coverage_day) else {
            return Ok(Money::ZERO);
        };
        let Some(pass) = self
            .passes
            .iter_mut()
            .find(|p| p.product == product && p.valid_on(coverage_day))
        else {
            // Sold before settlement tracked it, or already expired (a trip
            // that outlived its pass): nothing left to recognise.
            return Ok(Money::ZERO);
        };
        let amount = full_fare.min(pass.unearned).clamp_non_negative();
        pass.unearned = pass.unearned.checked_sub(amount)?;
        let covered = pass.covered_fares.entry(operator.clone()).or_default();
        *covered = covered.checked_add(full_fare)?;
        let credit = self.chart.operator(operator)?;
        let id = self.id(Source::Event(key.as_str()), "recognise");
        self.direct(
            id,
            TransferCode::PassRecognition,
            self.chart.unearned,
            credit,
            amount,
            Overdraft::Allowed,
        )?;
        Ok(amount)
    }

    /// The day on which to look up the permit that covered a stay: the
    /// exit's day when a sold permit of that product is valid then, else
    /// the entry's (a stay that outlived its permit).
    fn permit_day(
        &self,
        product: Option<PassIdx>,
        exit_day: ServiceDay,
        entry_day: Option<ServiceDay>,
    ) -> Option<ServiceDay> {
        let product = product?;
        let valid = |day: ServiceDay| {
            self.passes
                .iter()
                .any(|p| p.product == product && p.valid_on(day))
        };
        if valid(exit_day) {
            Some(exit_day)
        } else {
            entry_day.filter(|day| valid(*day)).or(Some(exit_day))
        }
    }

    /// An incomplete trip's line: the charge posted from its hold.
    fn incomplete(
        &mut self,
        source: LineSource,
        at: DateTime<FixedOffset>,
        charge: Money,
    ) -> Result<(), PlanError> {
        let operator = self.resolve(charge, TransferCode::Penalty)?;
        let mut line = Line::new(source, at, LineKind::IncompleteTrip, Settled::Accept);
        line.operator = Some(operator);
        line.reason = Some(Reason::IncompleteJourney.code().to_owned());
        line.incomplete_charge = charge;
        self.lines.push(line);
        Ok(())
    }

    fn step(
        &mut self,
        engine: &Engine,
        event: Option<&DayEvent>,
        step: &Step,
        share: Option<Money>,
    ) -> Result<(), PlanError> {
        let Some(event) = event else {
            // The day's close.
            self.close_at = Some(step.at);
            if let Some(outcome) = &step.outcome {
                self.incomplete(
                    LineSource::DayClose,
                    step.at,
                    outcome.breakdown.incomplete_charge,
                )?;
            }
            return Ok(());
        };
        let source = LineSource::Event(event.key.clone());
        let mut line = Line::new(
            source.clone(),
            event.at,
            kind_of(&event.kind),
            Settled::Accept,
        );
        line.event = Some(event.kind);
        line.provisional = event.provisional;
        let Some(outcome) = &step.outcome else {
            line.settled = Settled::GateDenied;
            line.operator.clone_from(&event.operator);
            self.lines.push(line);
            return Ok(());
        };
        line.reason = outcome.reason.map(|r| r.code().to_owned());
        line.balance = Some(outcome.balance);
        line.coverage = outcome.coverage;
        line.pass = outcome.pass;
        if outcome.decision == Decision::Deny {
            line.settled = Settled::Deny;
            line.operator.clone_from(&event.operator);
            self.lines.push(line);
            return Ok(());
        }
        let b: Breakdown = outcome.breakdown;
        let key = &event.key;
        match event.kind {
            EventKind::TopUp { .. } => line.top_up = b.top_up,
            EventKind::Bus { .. } => {
                let operator = event_operator(engine, event, outcome)?;
                let fare = share.unwrap_or(b.fare_charged);
                let credit = self.chart.operator(&operator)?;
                let id = self.id(Source::Event(key.as_str()), "fare");
                self.direct(
                    id,
                    TransferCode::Fare,
                    self.account,
                    credit,
                    fare,
                    Overdraft::Allowed,
                )?;
                line.pass_recognised = self.recognise(
                    key,
                    outcome.pass,
                    Some(outcome.service_day),
                    &operator,
                    step.would_be_fare,
                )?;
                set_leg(&mut line, b, fare);
                line.operator = Some(operator);
            }
            EventKind::MetroIn { .. } => {
                if b.incomplete_charge.is_positive() || step.trip_before.is_some() {
                    // The open trip was closed as incomplete by this tap in.
                    self.incomplete(source, event.at, b.incomplete_charge)?;
                }
                let trip = step.trip_after.clone().ok_or(PlanError::CarryMismatch(
                    "an accepted tap in opened no trip",
                ))?;
                self.hold(&trip, b.hold_placed)?;
                line.hold_placed = b.hold_placed;
                line.operator = Some(trip.operator);
            }
            EventKind::MetroOut { .. } => {
                if outcome.reason == Some(Reason::IncompleteJourney) {
                    line.operator = Some(leg_trip(step)?.operator.clone());
                    self.lines.push(line);
                    return self.incomplete(source, event.at, b.incomplete_charge);
                }
                let fare = share.unwrap_or(b.fare_charged);
                let operator = self.resolve(fare, TransferCode::Fare)?;
                line.pass_recognised = self.recognise(
                    key,
                    outcome.pass,
                    step.trip_entry_day,
                    &operator,
                    step.would_be_fare,
                )?;
                set_leg(&mut line, b, fare);
                line.operator = Some(operator);
            }
            EventKind::BuyPass { .. } => {
                let sale_id = self.id(Source::Event(key.as_str()), "pass_sale");
                self.direct(
                    sale_id,
                    TransferCode::PassSale,
                    self.account,
                    self.chart.unearned,
                    b.pass_price,
                    Overdraft::Allowed,
                )?;
                if let (Some(product), Some(last_day)) = (outcome.pass, step.pass_last_day) {
                    self.passes.push(PassBalance {
                        sale_id,
                        product,
                        first_day: outcome.service_day,
                        last_day,
                        unearned: b.pass_price,
                        covered_fares: BTreeMap::new(),
                    });
                }
                line.pass_price = b.pass_price;
                line.operator.clone_from(&event.operator);
            }
            EventKind::ParkIn { .. } => {
                line.operator = Some(event_operator(engine, event, outcome)?);
            }
            EventKind::ParkOut { .. } => {
                let operator = event_operator(engine, event, outcome)?;
                let credit = self.chart.operator(&operator)?;
                let id = self.id(Source::Event(key.as_str()), "parking");
                self.direct(
                    id,
                    TransferCode::ParkingFee,
                    self.account,
                    credit,
                    b.parking_fee,
                    Overdraft::Allowed,
                )?;
                let id = self.id(Source::Event(key.as_str()), "lost_ticket");
                self.direct(
                    id,
                    TransferCode::ParkingFee,
                    self.account,
                    credit,
                    b.lost_ticket_fee,
                    Overdraft::Allowed,
                )?;
                let covered = step
                    .would_be_fare
                    .checked_sub(b.parking_fee)?
                    .clamp_non_negative();
                let day = self.permit_day(outcome.pass, outcome.service_day, step.stay_entry_day);
                line.pass_recognised =
                    self.recognise(key, outcome.pass, day, &operator, covered)?;
                line.parking_fee = b.parking_fee;
                line.lost_ticket_fee = b.lost_ticket_fee;
                line.operator = Some(operator);
            }
        }
        self.lines.push(line);
        Ok(())
    }

    /// Recognises what is left of every pass whose validity ends today.
    fn expire_passes(&mut self, day: ServiceDay) -> Result<(), PlanError> {
        let close_at = self
            .close_at
            .ok_or(PlanError::CarryMismatch("the day was not closed"))?;
        let (expiring, kept): (Vec<PassBalance>, Vec<PassBalance>) =
            std::mem::take(&mut self.passes)
                .into_iter()
                .partition(|p| p.last_day <= day);
        self.passes = kept;
        for pass in expiring {
            if !pass.unearned.is_positive() {
                continue;
            }
            let weighted: Vec<(&OperatorId, u64)> = pass
                .covered_fares
                .iter()
                .map(|(op, fare)| Ok((op, u64::try_from(fare.as_vnd())?)))
                .collect::<Result<_, std::num::TryFromIntError>>()
                .map_err(|_| PlanError::Overflow)?;
            let parts: Vec<(OperatorId, Money)> = if weighted.iter().any(|w| w.1 > 0) {
                let weights: Vec<u64> = weighted.iter().map(|w| w.1).collect();
                let shares = pro_rata(pass.unearned, &weights)?;
                weighted.iter().map(|w| w.0.clone()).zip(shares).collect()
            } else {
                let owner = self
                    .chart
                    .pass_owners
                    .get(&pass.product)
                    .ok_or(PlanError::NoPassOwner(pass.product))?;
                vec![(owner.clone(), pass.unearned)]
            };
            for (operator, share) in parts {
                if !share.is_positive() {
                    continue;
                }
                let credit = self.chart.operator(&operator)?;
                let id = self.id(Source::Pass(pass.sale_id), &format!("expiry:{operator}"));
                self.direct(
                    id,
                    TransferCode::PassRecognition,
                    self.chart.unearned,
                    credit,
                    share,
                    Overdraft::Allowed,
                )?;
                let mut line = Line::new(
                    LineSource::DayClose,
                    close_at,
                    LineKind::PassExpiry,
                    Settled::Accept,
                );
                line.operator = Some(operator);
                line.pass = Some(pass.product);
                line.pass_recognised = share;
                self.lines.push(line);
            }
        }
        Ok(())
    }

    fn finish(self, state: AccountState) -> Result<DayPlan, PlanError> {
        if self.transfers.len() > MAX_BATCH_TRANSFERS {
            return Err(PlanError::TooManyTransfers(self.transfers.len()));
        }
        Ok(DayPlan {
            account: self.account,
            day: self.day,
            transfers: self.transfers,
            lines: self.lines,
            end: Carry {
                state,
                trip: self.trip.map(|(trip, _)| trip),
                passes: self.passes,
            },
            totals: self.totals,
        })
    }
}

/// Copies a leg's engine figures into its line, with the fare it posts.
fn set_leg(line: &mut Line, b: Breakdown, fare_settled: Money) {
    line.full_fare = b.full_fare;
    line.discount = b.discount;
    line.cap_reduction = b.cap_reduction;
    line.fare_charged = b.fare_charged;
    line.fare_settled = fare_settled;
}
