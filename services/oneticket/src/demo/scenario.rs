//! The day the demo plays, drawn from a seed: who the riders are, how they
//! pay, and every tap, top-up and pass purchase of the day with its time.
//!
//! Pure: the network comes in as data ([`Network`]) and the randomness from
//! [`Rng`], a SplitMix64 generator seeded by `--seed`, so one seed always
//! plays the same day. Times are seconds after the start of the service day
//! (04:00 in Ho Chi Minh City), so a ride home at 00:30 is still in the day.
//!
//! The city's rhythm: a morning peak (06:00–09:00) and an evening peak
//! (16:30–19:30) of bus boardings and metro trips, park-and-ride at the
//! station lots, cars in District 1 for the working day, a few riders in
//! the middle of the day and after midnight. Riders whose first top-up is
//! small are refused at the gate and top up at lunch; some buy a day pass
//! on the way, students hold a monthly pass; a few change their mind at the
//! gate (same-station cancellation) and one or two forget to tap out
//! (incomplete journeys).

use std::collections::BTreeMap;

/// Seconds in a service day (04:00 to 03:59 the next morning).
pub const SERVICE_DAY_S: u32 = 86_400;
/// Local hour at which a service day starts (the HCMC calendar's 04:00);
/// only used to write the plan's times as clock times.
pub const SERVICE_DAY_START_H: u32 = 4;
/// Most riders one demo plays: a day for a newcomer to watch; the load
/// generator (`oneticket-loadtest`) is the tool for more.
pub const MAX_RIDERS: u32 = 10_000;
/// Buses per route, each with its validator: enough that a route's
/// boardings spread over several terminals, as on the street.
pub const BUSES_PER_ROUTE: u32 = 3;
/// Gate lanes per station and direction (entry, exit): two keeps the
/// registry small while showing that a station has several gates.
pub const LANES_PER_DIRECTION: u32 = 2;
/// When riders install the app, sign up, link their card and top up:
/// 04:05, the first minutes of the service day, before the first bus.
pub const SIGN_UP_AT_S: u32 = at(4, 5);
/// When the back office verifies student and exempt claims: 04:30.
pub const VERIFY_AT_S: u32 = at(4, 30);
/// When verified students buy their monthly pass (at the student price):
/// from 04:45, before the morning peak.
pub const MONTH_PASS_AT_S: u32 = at(4, 45);
/// Riders who forget to tap out, at most: "an incomplete journey or two".
pub const MAX_INCOMPLETE_JOURNEYS: usize = 2;

/// Minutes a metro ride takes per station travelled: Line 1's 19.7 km and
/// 14 stations in about 30 minutes.
const RIDE_MIN_PER_STATION: u32 = 2;
/// First top-up of a rider who starts short, VND: the smallest top-up the
/// rider API takes, below the metro's 19,000 hold, so the gate refuses them.
pub const LOW_TOP_UP_VND: i64 = 10_000;
/// What a short rider tops up at lunch, VND.
pub const LUNCH_TOP_UP_VND: i64 = 100_000;
/// Top-ups of ordinary riders, VND: one of these.
const TOP_UPS_VND: [i64; 3] = [50_000, 100_000, 200_000];
/// First top-up of riders who hold a monthly pass or drive, VND: covers a
/// student month (150,000) or a day of car parking (at most 150,000).
pub const LARGE_TOP_UP_VND: i64 = 300_000;
/// First top-up of exempt riders, VND: they ride free but park at the full
/// tariff.
pub const EXEMPT_TOP_UP_VND: i64 = 20_000;

/// Percent of riders in each category (the rest are adults).
const STUDENT_PERCENT: u32 = 12;
const EXEMPT_PERCENT: u32 = 8;
/// Percent of riders paying with the app's QR ticket and with a bank card
/// (the rest with a OneTicket card).
const APP_QR_PERCENT: u32 = 20;
const BANK_CARD_PERCENT: u32 = 10;
/// Percent of riders whose first top-up is [`LOW_TOP_UP_VND`].
const LOW_BALANCE_PERCENT: u32 = 8;
/// Percent of metro-riding adults who buy a day pass on the way.
const DAY_PASS_PERCENT: u32 = 15;
/// Percent of metro-riding students who hold a monthly pass.
const MONTH_PASS_PERCENT: u32 = 50;
/// Percent of metro riders who tap in and change their mind at the gate.
const CANCEL_PERCENT: u32 = 8;
/// Percent of bus commuters with a midday ride, and with a ride home after
/// midnight (still the same service day).
const MIDDAY_BUS_PERCENT: u32 = 30;
const LATE_BUS_PERCENT: u32 = 10;
/// Percent of car drivers who only stop by (within the 10-minute grace).
const SHORT_CAR_STAY_PERCENT: u32 = 20;
/// Percent of riders who top up again in the afternoon.
const AFTERNOON_TOP_UP_PERCENT: u32 = 10;
/// How the riders' days are shared out, in percent (they add up to 100).
const PATTERN_PERCENT: [(Pattern, u32); 6] = [
    (Pattern::BusCommuter, 30),
    (Pattern::MetroCommuter, 25),
    (Pattern::BusToMetro, 15),
    (Pattern::ParkAndRide, 10),
    (Pattern::CarDriver, 8),
    (Pattern::Occasional, 12),
];

/// Why a network cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// Something the day needs is missing.
    #[error("the network has no {0}")]
    Missing(&'static str),
    /// A lot names a station the network does not have.
    #[error("lot {lot} is linked to unknown station {station}")]
    UnknownStation {
        /// The lot.
        lot: String,
        /// The station it names.
        station: String,
    },
}

/// What a parking lot takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vehicle {
    /// Motorbikes (the station lots).
    Motorbike,
    /// Cars (District 1).
    Car,
}

/// A parking lot as the day uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    /// Its id (`BTH-P`).
    pub lot_id: String,
    /// What it takes.
    pub vehicle: Vehicle,
    /// The station it serves (park and ride), as an index into
    /// [`Network::stations`].
    pub linked_station: Option<usize>,
    /// Its entry gates.
    pub entry_gates: Vec<String>,
    /// Its exit gates.
    pub exit_gates: Vec<String>,
}

/// A pass on sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Its product id (`metro_day`).
    pub product_id: String,
    /// Service days it is valid.
    pub validity_days: u16,
}

/// The network the day runs on. Build it with [`Network::new`], which
/// checks that the day has everything it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    bus_routes: Vec<String>,
    stations: Vec<String>,
    lots: Vec<Lot>,
    passes: Vec<Pass>,
    /// Indices into `lots`: motorbike lots with a station.
    park_and_ride: Vec<usize>,
    /// Indices into `lots`: car lots.
    car_lots: Vec<usize>,
    /// Indices into `passes`: the shortest and the longest validity.
    day_pass: usize,
    month_pass: usize,
}

impl Network {
    /// Checks and builds a network: at least one bus route, two stations,
    /// one park-and-ride lot, one car lot (each lot with an entry and an
    /// exit gate) and one pass.
    ///
    /// # Errors
    /// [`NetworkError`] naming what is missing.
    pub fn new(
        bus_routes: Vec<String>,
        stations: Vec<String>,
        lots: Vec<Lot>,
        passes: Vec<Pass>,
    ) -> Result<Network, NetworkError> {
        if bus_routes.is_empty() {
            return Err(NetworkError::Missing("bus route"));
        }
        if stations.len() < 2 {
            return Err(NetworkError::Missing("two metro stations"));
        }
        for lot in &lots {
            if let Some(station) = lot.linked_station
                && station >= stations.len()
            {
                return Err(NetworkError::UnknownStation {
                    lot: lot.lot_id.clone(),
                    station: station.to_string(),
                });
            }
        }
        let usable = |lot: &Lot| !lot.entry_gates.is_empty() && !lot.exit_gates.is_empty();
        let park_and_ride: Vec<usize> = lots
            .iter()
            .enumerate()
            .filter(|(_, l)| l.vehicle == Vehicle::Motorbike && l.linked_station.is_some())
            .filter(|(_, l)| usable(l))
            .map(|(i, _)| i)
            .collect();
        let car_lots: Vec<usize> = lots
            .iter()
            .enumerate()
            .filter(|(_, l)| l.vehicle == Vehicle::Car && usable(l))
            .map(|(i, _)| i)
            .collect();
        if park_and_ride.is_empty() {
            return Err(NetworkError::Missing(
                "park-and-ride lot with entry and exit gates",
            ));
        }
        if car_lots.is_empty() {
            return Err(NetworkError::Missing("car lot with entry and exit gates"));
        }
        let by_validity = |pick: fn(u16, u16) -> bool| {
            passes
                .iter()
                .enumerate()
                .reduce(|best, next| {
                    if pick(next.1.validity_days, best.1.validity_days) {
                        next
                    } else {
                        best
                    }
                })
                .map(|(i, _)| i)
        };
        let day_pass = by_validity(|a, b| a < b).ok_or(NetworkError::Missing("pass"))?;
        let month_pass = by_validity(|a, b| a > b).ok_or(NetworkError::Missing("pass"))?;
        Ok(Network {
            bus_routes,
            stations,
            lots,
            passes,
            park_and_ride,
            car_lots,
            day_pass,
            month_pass,
        })
    }

    /// The bus route ids.
    #[must_use]
    pub fn bus_routes(&self) -> &[String] {
        &self.bus_routes
    }

    /// The metro station ids, in line order.
    #[must_use]
    pub fn stations(&self) -> &[String] {
        &self.stations
    }

    /// The parking lots.
    #[must_use]
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// The passes on sale.
    #[must_use]
    pub fn passes(&self) -> &[Pass] {
        &self.passes
    }
}

/// A SplitMix64 generator: tiny, fast, and the same sequence for a seed on
/// every machine (the demo needs repeatable days, not secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        // The remainder is below n, so it fits.
        u32::try_from(self.next_u64() % u64::from(n)).unwrap_or(0)
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }

    /// An index into a slice of `len` elements (0 when empty).
    pub fn index(&mut self, len: usize) -> usize {
        let n = u32::try_from(len).unwrap_or(u32::MAX);
        usize::try_from(self.below(n)).unwrap_or(0)
    }

    /// Around the middle of `lo..=hi`, more often than at the edges (the
    /// sum of two uniform draws): a rush hour rather than a flat day.
    pub fn peak(&mut self, lo: u32, hi: u32) -> u32 {
        let half = hi.saturating_sub(lo) / 2;
        lo + self.between(0, half) + self.between(0, hi.saturating_sub(lo) - half)
    }
}

/// A rider category as the rider API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Full fares.
    Adult,
    /// Verified pupils and students.
    Student,
    /// Elderly, disabled, young children (verified): free transit.
    Exempt,
}

impl Category {
    /// The fare configuration's id.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Adult => "adult",
            Category::Student => "student",
            Category::Exempt => "exempt",
        }
    }
}

/// What a rider shows at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pays {
    /// A OneTicket transit card linked in the app.
    Card,
    /// A contactless bank card (its provider token) linked in the app.
    BankCard,
    /// The app's QR ticket, fetched before each tap.
    AppQr,
}

impl Pays {
    /// How the summary names it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Pays::Card => "transit_card",
            Pays::BankCard => "bank_card",
            Pays::AppQr => "app_qr",
        }
    }
}

/// The shape of a rider's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// A bus to work and one home.
    BusCommuter,
    /// The metro to work and home.
    MetroCommuter,
    /// A bus to the metro, and back.
    BusToMetro,
    /// A motorbike to a station lot, then the metro.
    ParkAndRide,
    /// A car parked in District 1.
    CarDriver,
    /// One trip in the middle of the day.
    Occasional,
}

/// A rider of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rider {
    /// Its number, from 0.
    pub index: u32,
    /// The category claimed at sign-up (students and exempt riders are
    /// verified by the back office before the first ride).
    pub category: Category,
    /// What it taps with.
    pub pays: Pays,
    /// Its day.
    pub pattern: Pattern,
    /// The top-up made at sign-up, VND.
    pub opening_top_up_vnd: i64,
    /// A pass bought once the category is verified (index into
    /// [`Network::passes`]).
    pub signup_pass: Option<usize>,
}

/// Something a rider does during the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Board bus `vehicle` of route `route` (an index into
    /// [`Network::bus_routes`]).
    Bus {
        /// The route.
        route: usize,
        /// Which bus of the route (its validator).
        vehicle: u32,
    },
    /// Tap in at a station's entry lane.
    MetroIn {
        /// The station.
        station: usize,
        /// The lane.
        lane: u32,
    },
    /// Tap out at a station's exit lane.
    MetroOut {
        /// The station.
        station: usize,
        /// The lane.
        lane: u32,
    },
    /// Enter a lot through one of its entry gates.
    ParkIn {
        /// The lot.
        lot: usize,
        /// Index into the lot's entry gates.
        gate: usize,
    },
    /// Leave a lot through one of its exit gates.
    ParkOut {
        /// The lot.
        lot: usize,
        /// Index into the lot's exit gates.
        gate: usize,
    },
    /// Top up in the app through the payment provider.
    TopUp {
        /// The amount, VND.
        amount_vnd: i64,
    },
    /// Buy a pass in the app.
    BuyPass {
        /// Index into [`Network::passes`].
        pass: usize,
    },
}

impl Action {
    /// True for the terminal's taps (bus, metro, parking).
    #[must_use]
    pub const fn is_tap(&self) -> bool {
        !matches!(self, Action::TopUp { .. } | Action::BuyPass { .. })
    }
}

/// One step of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Seconds after the start of the service day.
    pub at_s: u32,
    /// The rider.
    pub rider: u32,
    /// What the rider does.
    pub action: Action,
}

/// The whole day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every rider.
    pub riders: Vec<Rider>,
    /// Every step, in time order (a rider's own steps in their order).
    pub steps: Vec<Step>,
}

impl Plan {
    /// Taps in the plan.
    #[must_use]
    pub fn taps(&self) -> usize {
        self.steps.iter().filter(|s| s.action.is_tap()).count()
    }
}

/// Seconds after the service day's start of local time `hh:mm` (hours from
/// 4 to 27: 25:30 is 01:30 the next morning, still the same service day).
#[must_use]
pub const fn at(hh: u32, mm: u32) -> u32 {
    (hh.saturating_sub(SERVICE_DAY_START_H) * 60 + mm) * 60
}

/// Local `hh:mm` of a time of the plan.
#[must_use]
pub fn clock_time(at_s: u32) -> String {
    let minutes = at_s / 60;
    let hh = (minutes / 60 + SERVICE_DAY_START_H) % 24;
    format!("{hh:02}:{:02}", minutes % 60)
}

/// Plans a day of `riders` riders (at most [`MAX_RIDERS`]) on `network`
/// from `seed`.
#[must_use]
pub fn plan_day(network: &Network, riders: u32, seed: u64) -> Plan {
    let mut rng = Rng::new(seed);
    let mut planner = Planner {
        network,
        steps: Vec::new(),
        incomplete_left: MAX_INCOMPLETE_JOURNEYS,
    };
    let riders: Vec<Rider> = (0..riders.min(MAX_RIDERS))
        .map(|index| planner.rider(&mut rng, index))
        .collect();
    // Stable: a rider's steps with equal times keep their order.
    planner.steps.sort_by_key(|s| s.at_s);
    Plan {
        riders,
        steps: planner.steps,
    }
}

struct Planner<'a> {
    network: &'a Network,
    steps: Vec<Step>,
    incomplete_left: usize,
}

/// How one metro trip ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Taps out after the ride.
    Normal,
    /// Forgets to tap out (the next tap in closes the trip as incomplete).
    Forgotten,
    /// Taps out hours later (over the 180-minute limit).
    Late,
}

impl Planner<'_> {
    fn rider(&mut self, rng: &mut Rng, index: u32) -> Rider {
        let roll = rng.below(100);
        let category = if roll < EXEMPT_PERCENT {
            Category::Exempt
        } else if roll < EXEMPT_PERCENT + STUDENT_PERCENT {
            Category::Student
        } else {
            Category::Adult
        };
        let roll = rng.below(100);
        let pays = if roll < APP_QR_PERCENT {
            Pays::AppQr
        } else if roll < APP_QR_PERCENT + BANK_CARD_PERCENT {
            Pays::BankCard
        } else {
            Pays::Card
        };
        let pattern = pick_pattern(rng);
        let rides_metro = matches!(
            pattern,
            Pattern::MetroCommuter | Pattern::BusToMetro | Pattern::ParkAndRide
        );
        let signup_pass =
            (category == Category::Student && rides_metro && rng.percent(MONTH_PASS_PERCENT))
                .then_some(self.network.month_pass);
        let low = signup_pass.is_none()
            && category != Category::Exempt
            && pattern != Pattern::CarDriver
            && rng.percent(LOW_BALANCE_PERCENT);
        let opening_top_up_vnd = if low {
            LOW_TOP_UP_VND
        } else if signup_pass.is_some() || pattern == Pattern::CarDriver {
            LARGE_TOP_UP_VND
        } else if category == Category::Exempt {
            EXEMPT_TOP_UP_VND
        } else {
            *TOP_UPS_VND
                .get(rng.index(TOP_UPS_VND.len()))
                .unwrap_or(&LARGE_TOP_UP_VND)
        };
        let rider = Rider {
            index,
            category,
            pays,
            pattern,
            opening_top_up_vnd,
            signup_pass,
        };
        let first = self.steps.len();
        if let Some(pass) = signup_pass {
            let when = MONTH_PASS_AT_S + rng.below(15 * 60);
            self.push(when, index, Action::BuyPass { pass });
        }
        self.day(rng, &rider);
        if low {
            let lunch = rng.between(at(11, 30), at(13, 0));
            self.push(
                lunch,
                index,
                Action::TopUp {
                    amount_vnd: LUNCH_TOP_UP_VND,
                },
            );
        } else if category != Category::Exempt && rng.percent(AFTERNOON_TOP_UP_PERCENT) {
            let amount_vnd = *TOP_UPS_VND.first().unwrap_or(&LUNCH_TOP_UP_VND);
            let when = rng.between(at(14, 0), at(16, 0));
            self.push(when, index, Action::TopUp { amount_vnd });
        }
        // A day pass on the way to the first metro trip.
        let first_metro = self
            .steps
            .get(first..)
            .unwrap_or_default()
            .iter()
            .filter(|s| matches!(s.action, Action::MetroIn { .. }))
            .map(|s| s.at_s)
            .min();
        if let Some(first_metro) = first_metro
            && category == Category::Adult
            && !low
            && rng.percent(DAY_PASS_PERCENT)
        {
            self.push(
                first_metro.saturating_sub(10 * 60),
                index,
                Action::BuyPass {
                    pass: self.network.day_pass,
                },
            );
        }
        rider
    }

    fn push(&mut self, at_s: u32, rider: u32, action: Action) {
        self.steps.push(Step {
            at_s: at_s.min(SERVICE_DAY_S - 1),
            rider,
            action,
        });
    }

    fn day(&mut self, rng: &mut Rng, rider: &Rider) {
        let me = rider.index;
        let morning = rng.peak(at(6, 0), at(9, 0));
        let evening = rng.peak(at(16, 30), at(19, 30));
        let stations = self.network.stations.len();
        match rider.pattern {
            Pattern::BusCommuter => {
                let route = rng.index(self.network.bus_routes.len());
                self.bus(rng, morning, me, route);
                if rng.percent(MIDDAY_BUS_PERCENT) {
                    let midday = rng.between(at(11, 30), at(14, 0));
                    let other = rng.index(self.network.bus_routes.len());
                    self.bus(rng, midday, me, other);
                }
                self.bus(rng, evening, me, route);
                if rng.percent(LATE_BUS_PERCENT) {
                    let late = rng.between(at(23, 0), at(25, 30));
                    let other = rng.index(self.network.bus_routes.len());
                    self.bus(rng, late, me, other);
                }
            }
            Pattern::MetroCommuter => {
                let (home, work) = two_stations(rng, stations);
                let exit = if self.incomplete_left > 0 {
                    self.incomplete_left -= 1;
                    if self.incomplete_left % 2 == 1 {
                        Exit::Forgotten
                    } else {
                        Exit::Late
                    }
                } else {
                    Exit::Normal
                };
                self.metro(rng, morning, me, home, work, exit);
                // A late tap out may run into midday: no cancellation then.
                if exit == Exit::Normal {
                    self.maybe_cancel(rng, me, home);
                }
                self.metro(rng, evening, me, work, home, Exit::Normal);
            }
            Pattern::BusToMetro => {
                let route = rng.index(self.network.bus_routes.len());
                let (near, far) = two_stations(rng, stations);
                self.bus(rng, morning, me, route);
                let entry = morning + rng.between(10, 40) * 60;
                self.metro(rng, entry, me, near, far, Exit::Normal);
                self.maybe_cancel(rng, me, far);
                let back = self.metro(rng, evening, me, far, near, Exit::Normal);
                let home = back + rng.between(5, 30) * 60;
                self.bus(rng, home, me, route);
            }
            Pattern::ParkAndRide => {
                let lot_index = *pick(rng, &self.network.park_and_ride);
                let (home, gates) = match self.network.lots.get(lot_index) {
                    Some(lot) => (
                        lot.linked_station.unwrap_or(0),
                        (lot.entry_gates.len(), lot.exit_gates.len()),
                    ),
                    None => (0, (1, 1)),
                };
                let mut work = rng.index(stations);
                if work == home {
                    work = (home + 1) % stations;
                }
                self.push(
                    morning,
                    me,
                    Action::ParkIn {
                        lot: lot_index,
                        gate: rng.index(gates.0),
                    },
                );
                let entry = morning + rng.between(3, 8) * 60;
                self.metro(rng, entry, me, home, work, Exit::Normal);
                self.maybe_cancel(rng, me, work);
                let back = self.metro(rng, evening, me, work, home, Exit::Normal);
                self.push(
                    back + rng.between(3, 8) * 60,
                    me,
                    Action::ParkOut {
                        lot: lot_index,
                        gate: rng.index(gates.1),
                    },
                );
            }
            Pattern::CarDriver => {
                let lot_index = *pick(rng, &self.network.car_lots);
                let gates = self
                    .network
                    .lots
                    .get(lot_index)
                    .map_or((1, 1), |l| (l.entry_gates.len(), l.exit_gates.len()));
                let (enter, leave) = if rng.percent(SHORT_CAR_STAY_PERCENT) {
                    let enter = rng.between(at(10, 0), at(15, 0));
                    (enter, enter + rng.between(3, 9) * 60)
                } else {
                    (
                        rng.between(at(7, 30), at(9, 30)),
                        rng.between(at(16, 0), at(19, 0)),
                    )
                };
                self.push(
                    enter,
                    me,
                    Action::ParkIn {
                        lot: lot_index,
                        gate: rng.index(gates.0),
                    },
                );
                self.push(
                    leave,
                    me,
                    Action::ParkOut {
                        lot: lot_index,
                        gate: rng.index(gates.1),
                    },
                );
            }
            Pattern::Occasional => {
                let (from, to) = two_stations(rng, stations);
                let entry = rng.between(at(10, 0), at(11, 30));
                self.metro(rng, entry, me, from, to, Exit::Normal);
                self.maybe_cancel(rng, me, to);
                let route = rng.index(self.network.bus_routes.len());
                let home = rng.between(at(15, 0), at(16, 0));
                self.bus(rng, home, me, route);
            }
        }
    }

    fn bus(&mut self, rng: &mut Rng, at_s: u32, rider: u32, route: usize) {
        let vehicle = rng.below(BUSES_PER_ROUTE);
        self.push(at_s, rider, Action::Bus { route, vehicle });
    }

    /// One metro trip from `from` to `to` entering at `entry`; returns when
    /// the rider is out (or would have been).
    fn metro(
        &mut self,
        rng: &mut Rng,
        entry: u32,
        rider: u32,
        from: usize,
        to: usize,
        exit: Exit,
    ) -> u32 {
        let hops = u32::try_from(from.abs_diff(to)).unwrap_or(1);
        let ride = (hops * RIDE_MIN_PER_STATION + rng.between(2, 6)) * 60;
        self.push(
            entry,
            rider,
            Action::MetroIn {
                station: from,
                lane: rng.below(LANES_PER_DIRECTION),
            },
        );
        let out = entry + ride;
        match exit {
            Exit::Normal => self.push(
                out,
                rider,
                Action::MetroOut {
                    station: to,
                    lane: rng.below(LANES_PER_DIRECTION),
                },
            ),
            Exit::Forgotten => {}
            Exit::Late => {
                // Over the 180-minute limit: accepted as incomplete.
                let late = entry + rng.between(190, 230) * 60;
                self.push(
                    late,
                    rider,
                    Action::MetroOut {
                        station: to,
                        lane: rng.below(LANES_PER_DIRECTION),
                    },
                );
                return late;
            }
        }
        out
    }

    /// Sometimes, at midday: tap in, change one's mind, tap out at the same
    /// station within the 20-minute cancellation window.
    fn maybe_cancel(&mut self, rng: &mut Rng, rider: u32, station: usize) {
        if rng.percent(CANCEL_PERCENT) {
            let entry = rng.between(at(12, 30), at(14, 30));
            self.push(
                entry,
                rider,
                Action::MetroIn {
                    station,
                    lane: rng.below(LANES_PER_DIRECTION),
                },
            );
            self.push(
                entry + rng.between(1, 15) * 60,
                rider,
                Action::MetroOut {
                    station,
                    lane: rng.below(LANES_PER_DIRECTION),
                },
            );
        }
    }
}

fn pick_pattern(rng: &mut Rng) -> Pattern {
    let mut roll = rng.below(100);
    for (pattern, percent) in PATTERN_PERCENT {
        if roll < percent {
            return pattern;
        }
        roll -= percent;
    }
    Pattern::Occasional
}

/// Two different stations (the network has at least two).
fn two_stations(rng: &mut Rng, stations: usize) -> (usize, usize) {
    let a = rng.index(stations);
    let offset = 1 + rng.index(stations.saturating_sub(1));
    (a, (a + offset) % stations.max(1))
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    items
        .get(rng.index(items.len()))
        .expect("Network::new checked the list is not empty")
}

/// How many riders of each category, payment and pattern a plan has.
#[must_use]
pub fn census(riders: &[Rider]) -> BTreeMap<&'static str, u64> {
    let mut counts = BTreeMap::new();
    for rider in riders {
        *counts.entry(rider.category.as_str()).or_insert(0) += 1;
        *counts.entry(rider.pays.as_str()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hcmc_like() -> Network {
        let gates = |n: &str| vec![format!("{n}1")];
        Network::new(
            ["01", "19", "150"].map(str::to_owned).to_vec(),
            ["BTH", "NHT", "BSO", "TDI", "BXS"]
                .map(str::to_owned)
                .to_vec(),
            vec![
                Lot {
                    lot_id: "BTH-P".to_owned(),
                    vehicle: Vehicle::Motorbike,
                    linked_station: Some(0),
                    entry_gates: gates("E"),
                    exit_gates: gates("X"),
                },
                Lot {
                    lot_id: "D1-CAR".to_owned(),
                    vehicle: Vehicle::Car,
                    linked_station: None,
                    entry_gates: gates("E"),
                    exit_gates: gates("X"),
                },
            ],
            vec![
                Pass {
                    product_id: "metro_month".to_owned(),
                    validity_days: 30,
                },
                Pass {
                    product_id: "metro_day".to_owned(),
                    validity_days: 1,
                },
            ],
        )
        .expect("a complete network")
    }

    fn check_clock(at_s: u32, expected: &str) {
        assert_eq!(clock_time(at_s), expected, "{at_s}");
    }

    #[test]
    fn plan_times_read_as_local_clock_times() {
        check_clock(0, "04:00");
        check_clock(at(7, 5), "07:05");
        check_clock(at(23, 59), "23:59");
        check_clock(at(25, 30), "01:30");
        check_clock(SERVICE_DAY_S - 1, "03:59");
    }

    fn check_network(
        routes: &[&str],
        stations: &[&str],
        lots: Vec<Lot>,
        expected: Result<(), NetworkError>,
    ) {
        let passes = vec![Pass {
            product_id: "metro_day".to_owned(),
            validity_days: 1,
        }];
        let built = Network::new(
            routes.iter().map(|r| (*r).to_owned()).collect(),
            stations.iter().map(|s| (*s).to_owned()).collect(),
            lots,
            passes,
        );
        assert_eq!(built.map(drop), expected);
    }

    #[test]
    fn a_network_missing_what_the_day_needs_is_refused() {
        let lot = |id: &str, vehicle, station, exits: Vec<String>| Lot {
            lot_id: id.to_owned(),
            vehicle,
            linked_station: station,
            entry_gates: vec!["E1".to_owned()],
            exit_gates: exits,
        };
        let x1 = || vec!["X1".to_owned()];
        let both = || {
            vec![
                lot("P", Vehicle::Motorbike, Some(0), x1()),
                lot("C", Vehicle::Car, None, x1()),
            ]
        };
        check_network(&["01"], &["A", "B"], both(), Ok(()));
        check_network(
            &[],
            &["A", "B"],
            both(),
            Err(NetworkError::Missing("bus route")),
        );
        check_network(
            &["01"],
            &["A"],
            both(),
            Err(NetworkError::Missing("two metro stations")),
        );
        check_network(
            &["01"],
            &["A", "B"],
            vec![
                lot("P", Vehicle::Motorbike, Some(0), Vec::new()),
                lot("C", Vehicle::Car, None, x1()),
            ],
            Err(NetworkError::Missing(
                "park-and-ride lot with entry and exit gates",
            )),
        );
        check_network(
            &["01"],
            &["A", "B"],
            vec![lot("P", Vehicle::Motorbike, Some(0), x1())],
            Err(NetworkError::Missing("car lot with entry and exit gates")),
        );
        check_network(
            &["01"],
            &["A", "B"],
            vec![lot("P", Vehicle::Motorbike, Some(7), x1())],
            Err(NetworkError::UnknownStation {
                lot: "P".to_owned(),
                station: "7".to_owned(),
            }),
        );
    }

    #[test]
    fn the_day_and_month_passes_are_the_shortest_and_longest() {
        let network = hcmc_like();
        assert_eq!(network.passes()[network.day_pass].product_id, "metro_day");
        assert_eq!(
            network.passes()[network.month_pass].product_id,
            "metro_month"
        );
    }

    /// What one rider's taps must look like for the day to make sense.
    fn check_rider_sequence(plan: &Plan, network: &Network, rider: u32) {
        let mut open_trip: Option<u32> = None;
        let mut open_stay: Option<usize> = None;
        let mut last = 0;
        for step in plan.steps.iter().filter(|s| s.rider == rider) {
            assert!(step.at_s >= last, "rider {rider}'s steps go back in time");
            last = step.at_s;
            match step.action {
                Action::Bus { route, vehicle } => {
                    assert!(route < network.bus_routes().len());
                    assert!(vehicle < BUSES_PER_ROUTE);
                }
                Action::MetroIn { station, lane } => {
                    assert!(station < network.stations().len());
                    assert!(lane < LANES_PER_DIRECTION);
                    // A second tap in is the planned "forgotten tap out".
                    open_trip = Some(step.at_s);
                }
                Action::MetroOut { station, lane } => {
                    assert!(station < network.stations().len());
                    assert!(lane < LANES_PER_DIRECTION);
                    assert!(
                        open_trip.take().is_some(),
                        "rider {rider} taps out unopened"
                    );
                }
                Action::ParkIn { lot, gate } => {
                    let lot_data = &network.lots()[lot];
                    assert!(gate < lot_data.entry_gates.len());
                    assert!(
                        open_stay.replace(lot).is_none(),
                        "rider {rider} parks twice"
                    );
                }
                Action::ParkOut { lot, gate } => {
                    assert!(gate < network.lots()[lot].exit_gates.len());
                    assert_eq!(
                        open_stay.take(),
                        Some(lot),
                        "rider {rider} leaves another lot"
                    );
                }
                Action::TopUp { amount_vnd } => assert!(amount_vnd >= LOW_TOP_UP_VND),
                Action::BuyPass { pass } => assert!(pass < network.passes().len()),
            }
        }
        assert_eq!(open_stay, None, "rider {rider} never leaves the lot");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_planned_day_is_in_time_order_within_the_service_day(seed: u64, riders in 0u32..300) {
            let network = hcmc_like();
            let plan = plan_day(&network, riders, seed);
            prop_assert_eq!(plan.riders.len(), usize::try_from(riders).unwrap());
            prop_assert!(plan.steps.windows(2).all(|w| w[0].at_s <= w[1].at_s));
            prop_assert!(plan.steps.iter().all(|s| s.at_s < SERVICE_DAY_S && s.rider < riders));
            for (index, rider) in plan.riders.iter().enumerate() {
                prop_assert_eq!(usize::try_from(rider.index).unwrap(), index);
                check_rider_sequence(&plan, &network, rider.index);
            }
        }

        #[test]
        fn a_seed_always_plays_the_same_day(seed: u64, riders in 0u32..100) {
            let network = hcmc_like();
            prop_assert_eq!(plan_day(&network, riders, seed), plan_day(&network, riders, seed));
        }

        #[test]
        fn every_rider_does_something_and_few_forget_to_tap_out(seed: u64, riders in 1u32..300) {
            let network = hcmc_like();
            let plan = plan_day(&network, riders, seed);
            for rider in &plan.riders {
                prop_assert!(plan.steps.iter().any(|s| s.rider == rider.index && s.action.is_tap()));
            }
            // A tap in followed by another tap in is a forgotten tap out.
            let mut forgotten = 0;
            for rider in &plan.riders {
                let metro: Vec<bool> = plan.steps.iter()
                    .filter(|s| s.rider == rider.index)
                    .filter_map(|s| match s.action {
                        Action::MetroIn { .. } => Some(true),
                        Action::MetroOut { .. } => Some(false),
                        _ => None,
                    })
                    .collect();
                forgotten += metro.windows(2).filter(|w| w[0] && w[1]).count();
            }
            prop_assert!(forgotten <= MAX_INCOMPLETE_JOURNEYS);
        }

        #[test]
        fn draws_stay_in_their_ranges(seed: u64, lo in 0u32..100_000, span in 0u32..100_000, n in 0u32..1_000) {
            let mut rng = super::Rng::new(seed);
            let hi = lo + span;
            let x = rng.between(lo, hi);
            prop_assert!((lo..=hi).contains(&x));
            let p = rng.peak(lo, hi);
            prop_assert!((lo..=hi).contains(&p));
            let b = rng.below(n);
            prop_assert!(b < n.max(1));
        }
    }

    #[test]
    fn a_census_counts_categories_and_payments() {
        let network = hcmc_like();
        let plan = plan_day(&network, 50, 7);
        let counts = census(&plan.riders);
        let categories: u64 = ["adult", "student", "exempt"]
            .iter()
            .filter_map(|c| counts.get(c))
            .sum();
        let payments: u64 = ["transit_card", "bank_card", "app_qr"]
            .iter()
            .filter_map(|c| counts.get(c))
            .sum();
        assert_eq!((categories, payments), (50, 50));
    }
}
