//! What goes into the engine (an [`Event`]) and what comes out (an [`Outcome`]).
//!
//! An outcome carries the decision the terminal shows and the breakdown the
//! settlement posts to the ledger. The breakdown obeys one identity, checked
//! by the property tests:
//!
//! ```text
//! amount = hold_placed − hold_released − top_up + fare_charged + pass_price
//!          + parking_fee + lost_ticket_fee
//! ```
//!
//! and an incomplete-journey charge is taken from a hold already placed
//! (`incomplete_charge` moves held money to revenue without touching the
//! balance).

use chrono::{DateTime, FixedOffset};
use ledger::Money;

use super::calendar::ServiceDay;
use super::state::{
    CategoryIdx, Coverage, FareProductIdx, LotIdx, NetworkIdx, OperatorIdx, PassIdx, RouteIdx,
    StationIdx,
};

/// What happened, with ids already interned by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Money added to the wallet (a positive amount).
    TopUp {
        /// The amount added.
        amount: Money,
    },
    /// A bus boarding (one tap).
    Bus {
        /// The route boarded.
        route: RouteIdx,
        /// The rider category presented.
        category: CategoryIdx,
    },
    /// A metro tap in.
    MetroIn {
        /// Entry station.
        station: StationIdx,
        /// The rider category presented; the trip is priced with it.
        category: CategoryIdx,
    },
    /// A metro tap out (priced with the category given at the tap in).
    MetroOut {
        /// Exit station.
        station: StationIdx,
    },
    /// A pass bought from the wallet.
    BuyPass {
        /// The pass product.
        product: PassIdx,
        /// The rider category (prices differ by category).
        category: CategoryIdx,
    },
    /// A vehicle entering a lot.
    ParkIn {
        /// The lot.
        lot: LotIdx,
    },
    /// A vehicle leaving a lot.
    ParkOut {
        /// The lot.
        lot: LotIdx,
        /// Through a gate with the medium, or closed by an operator as a
        /// lost ticket (the lot's lost-ticket fee on top of the stay's fee).
        exit: ParkExit,
    },
}

/// How a stay is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParkExit {
    /// The rider presented the medium of the stay (card, QR, plate read)
    /// at an exit gate.
    WithMedium,
    /// An operator closed the stay for a rider who lost the medium: the
    /// stay's fee plus the lot's lost-ticket fee.
    LostTicket,
}

/// One event of one account, at a wall-clock time the caller supplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// When it happened (the engine never reads the clock).
    pub at: DateTime<FixedOffset>,
    /// What happened.
    pub kind: EventKind,
}

/// Accept or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The event is accepted and the state changes.
    Accept,
    /// The event is refused; nothing changes.
    Deny,
}

impl Decision {
    /// `accept` or `deny`, as the replay prints it.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Deny => "deny",
        }
    }
}

/// Why an event was denied, or the note on an accepted late tap out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The balance is below the charge, the hold, the pass price or the
    /// lot's entry minimum.
    InsufficientFunds,
    /// A tap out with no open trip.
    NoOpenTrip,
    /// A tap out more than the threshold after the tap in (accepted, amount 0).
    IncompleteJourney,
    /// The lot is at capacity.
    LotFull,
    /// The account already has an open stay somewhere.
    AlreadyParked,
    /// A parking exit at a lot where the account has no open stay.
    NoOpenStay,
    /// The account already holds the most passes the state can carry.
    PassLimit,
}

impl Reason {
    /// The machine-readable code of the replay contract.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Reason::InsufficientFunds => "insufficient_funds",
            Reason::NoOpenTrip => "no_open_trip",
            Reason::IncompleteJourney => "incomplete_journey",
            Reason::LotFull => "lot_full",
            Reason::AlreadyParked => "already_parked",
            Reason::NoOpenStay => "no_open_stay",
            Reason::PassLimit => "pass_limit",
        }
    }
}

/// The network and operator a leg (or a stay) is owed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegOwner {
    /// The GTFS network of the leg (`None` for parking).
    pub network: Option<NetworkIdx>,
    /// The operator whose revenue account is credited.
    pub operator: OperatorIdx,
}

/// The ledger-relevant parts of an outcome. All amounts are ≥ 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// Money added by a top-up.
    pub top_up: Money,
    /// Hold placed at a metro tap in (taken from the balance).
    pub hold_placed: Money,
    /// Hold given back at a metro tap out (the fare is charged separately).
    pub hold_released: Money,
    /// The leg's fare before discount and caps (0 when exempt or covered by a pass).
    pub full_fare: Money,
    /// Transfer discount applied.
    pub discount: Money,
    /// How much the caps took off the discounted fare.
    pub cap_reduction: Money,
    /// Fare charged to the wallet; counted toward the caps.
    pub fare_charged: Money,
    /// Incomplete-journey charge, taken from the trip's hold (not a balance
    /// change, not discounted, outside the caps).
    pub incomplete_charge: Money,
    /// Pass purchase price.
    pub pass_price: Money,
    /// Parking fee: the tariff's fee of the part of the stay no permit covers.
    pub parking_fee: Money,
    /// The lot's lost-ticket fee, on a stay closed as a lost ticket (apart
    /// from `parking_fee`: no permit covers it).
    pub lost_ticket_fee: Money,
}

/// The engine's answer to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Accept or deny.
    pub decision: Decision,
    /// Why (always set on deny; `IncompleteJourney` on a late tap out).
    pub reason: Option<Reason>,
    /// How much the balance went down (negative for a top-up or a refund); 0 on deny.
    pub amount: Money,
    /// The balance after the event.
    pub balance: Money,
    /// The service day of the event.
    pub service_day: ServiceDay,
    /// What paid for the leg (transit events), or the permit that covered
    /// (part of) a stay at a parking exit.
    pub coverage: Option<Coverage>,
    /// The pass or permit bought or used, if any.
    pub pass: Option<PassIdx>,
    /// The GTFS fare product that priced the leg (bus, or a completed metro
    /// trip between two stations), when the feed named one.
    pub fare_product: Option<FareProductIdx>,
    /// Who the money of the leg or stay is owed to.
    pub owner: Option<LegOwner>,
    /// The lot of a parking event.
    pub lot: Option<LotIdx>,
    /// Amounts for the ledger.
    pub breakdown: Breakdown,
}

/// An event the engine cannot process: bad input or a state from another
/// configuration. Nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A top-up must add a positive amount.
    #[error("a top-up amount must be positive, got {0}")]
    NonPositiveTopUp(Money),
    /// An amount or balance left the range of `Money`.
    #[error("amount overflow")]
    Overflow,
    /// An index (in the event or the state) that this engine does not have.
    #[error("{0} index out of range for this configuration")]
    UnknownIndex(&'static str),
    /// A parking event came without the occupancy of its lot.
    #[error("a parking event needs the occupancy counter of its own lot")]
    LotOccupancyMismatch,
}

impl From<ledger::Overflow> for EventError {
    fn from(_: ledger::Overflow) -> EventError {
        EventError::Overflow
    }
}
