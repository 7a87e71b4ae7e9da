//! Per-account fare state and per-lot occupancy: what the services keep in
//! Redis between taps.
//!
//! The state is small and string-free: every id is an index interned by the
//! [`Engine`](super::Engine) at load time, times are Unix seconds, days are
//! integers. Indices are assigned in sorted id order, so a state stays valid
//! across reloads of a configuration whose id sets did not change; a changed
//! configuration needs its states migrated (or closed) by the services.
//!
//! **Invariant:** the engine never indexes with a value read from a state
//! without checking it: a corrupted state gives an error, never a panic.

use ledger::Money;
use serde::{Deserialize, Serialize};

use super::calendar::{ServiceDay, ServiceMonth};

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub(crate) $int);

        impl $name {
            /// The position in the engine's table (for compact external keys).
            #[must_use]
            pub fn get(self) -> usize {
                usize::from(self.0)
            }
        }
    };
}

index_type!(
    /// A rider category interned by the engine.
    CategoryIdx(u8)
);
index_type!(
    /// A single-tap (bus) route interned by the engine.
    RouteIdx(u16)
);
index_type!(
    /// A station of a tap-in/tap-out network interned by the engine.
    StationIdx(u16)
);
index_type!(
    /// A pass product interned by the engine.
    PassIdx(u16)
);
index_type!(
    /// A GTFS fare product interned by the engine.
    FareProductIdx(u16)
);
index_type!(
    /// A parking lot interned by the engine.
    LotIdx(u16)
);
index_type!(
    /// A GTFS network interned by the engine.
    NetworkIdx(u16)
);
index_type!(
    /// An operator (GTFS agency or parking operator) interned by the engine.
    OperatorIdx(u16)
);
index_type!(
    /// A transfer group interned by the engine.
    GroupIdx(u8)
);

/// What pays for a trip or a bus leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coverage {
    /// The wallet pays the fare.
    Fare,
    /// The rider category rides free.
    Exempt,
    /// A held pass covers the leg.
    Pass(PassIdx),
}

/// A metro trip between its tap in and its tap out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTrip {
    /// Entry station.
    pub station: StationIdx,
    /// Tap-in instant, Unix seconds.
    pub entered_at_s: i64,
    /// Service day of the tap in (pass coverage is decided by it).
    pub entry_day: ServiceDay,
    /// Amount held at the tap in (already taken from the balance).
    pub hold: Money,
    /// Rider category given at the tap in; the trip is priced with it.
    pub category: CategoryIdx,
    /// Transfer discount earned at the tap in, applied at the tap out.
    pub discount: Money,
    /// Fare, exempt, or the pass that covers the trip.
    pub coverage: Coverage,
}

/// The account's latest completed leg, which a next leg may transfer from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastLeg {
    /// Transfer group of the leg's network (`None`: in no group).
    pub group: Option<GroupIdx>,
    /// Bus boarding or metro exit instant, Unix seconds.
    pub at_s: i64,
}

/// Transit spending counted toward the caps for the latest service day and month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spent {
    /// The service day of `day_vnd`.
    pub day: ServiceDay,
    /// Counted spending on `day`.
    pub day_vnd: Money,
    /// The service month of `month_vnd`.
    pub month: ServiceMonth,
    /// Counted spending in `month`.
    pub month_vnd: Money,
}

impl Spent {
    /// Counted spending on `day`: 0 when the counter is for another day.
    #[must_use]
    pub fn on_day(this: Option<Spent>, day: ServiceDay) -> Money {
        match this {
            Some(s) if s.day == day => s.day_vnd,
            _ => Money::ZERO,
        }
    }

    /// Counted spending in `month`: 0 when the counter is for another month.
    #[must_use]
    pub fn in_month(this: Option<Spent>, month: ServiceMonth) -> Money {
        match this {
            Some(s) if s.month == month => s.month_vnd,
            _ => Money::ZERO,
        }
    }
}

/// A pass held by the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPass {
    /// The pass product.
    pub product: PassIdx,
    /// First service day of validity (the day of purchase).
    pub first_day: ServiceDay,
    /// Last service day of validity.
    pub last_day: ServiceDay,
}

impl HeldPass {
    /// True when `day` is within the validity.
    #[must_use]
    pub fn valid_on(&self, day: ServiceDay) -> bool {
        self.first_day <= day && day <= self.last_day
    }
}

/// Whether a parking stay has earned the park-and-ride price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParkAndRide {
    /// No accepted metro tap in at the lot's linked station during the stay yet.
    NotEarned,
    /// An accepted metro tap in at the linked station happened during the stay.
    Earned,
}

/// An open parking stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStay {
    /// The lot.
    pub lot: LotIdx,
    /// Entry instant, Unix seconds.
    pub entered_at_s: i64,
    /// Park-and-ride status.
    pub park_and_ride: ParkAndRide,
}

/// Everything the engine remembers about one account between events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Bumped on every change, for the services' compare-and-set.
    pub version: u64,
    /// Spendable balance: holds are already deducted. Negative only after a parking exit.
    pub balance: Money,
    /// The open metro trip, if any.
    pub open_trip: Option<OpenTrip>,
    /// The latest completed leg (bus boarding or completed metro exit).
    pub last_leg: Option<LastLeg>,
    /// Cap counters.
    pub spent: Option<Spent>,
    /// Passes held; expired ones are pruned at the next purchase.
    pub passes: Vec<HeldPass>,
    /// The open parking stay, if any.
    pub open_stay: Option<OpenStay>,
}

/// Occupancy of one parking lot: shared by every account, so kept apart
/// from [`AccountState`] and passed in with parking events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotOccupancy {
    /// The lot this counter belongs to.
    pub lot: LotIdx,
    /// Vehicles inside; never above the lot's capacity by the engine's hand.
    pub occupied: u32,
}
