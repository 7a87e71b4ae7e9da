//! What the generator sends: a fleet of terminals, a population of cards,
//! and for request `i` which card taps which terminal.
//!
//! Everything is a pure function of the [`Workload`] (terminal count, card
//! count, metro share), so `setup` and every later run agree on the same
//! ids without sharing state, and a run is reproducible.
//!
//! **Who taps what.** Request `i` is made by card `i mod cards`; a card's
//! `k`-th request is request `card + k × cards`. With many more cards than
//! requests in flight, one card never has two taps in flight, as with real
//! riders. A card is a bus rider or a metro rider for the whole run (by its
//! index and the metro share); a metro rider alternates entry (even `k`) and
//! exit (odd `k`) between two different stations, so trips are complete.
//! A parker (the next `parking_percent` of every hundred card indices)
//! alternates entering (even `k`) and leaving (odd `k`) one lot of the HCMC
//! site data, by the lot's entry and exit gates (`POST /v1/parking/entries`
//! and `/exits`), so every stay is closed and paid.

use card_protocol::TerminalId;
use card_protocol::messages::{CardUid, Medium, Tap, TapEvent, VehicleClass, WireId};
use ring::digest;
use uuid::Uuid;

/// The bus routes of the HCMC configuration (`config/hcmc/routes.txt`,
/// without the metro line `L1`).
pub const BUS_ROUTES: [&str; 8] = ["01", "56", "19", "53", "93", "33", "150", "13"];
/// The metro stations of Line 1 (`config/hcmc/stops.txt`), in line order.
pub const METRO_STATIONS: [&str; 14] = [
    "BTH", "NHT", "BSO", "VTH", "TCA", "TDI", "APH", "RCH", "PLO", "BTA", "TDU", "KCN", "DHQ",
    "BXS",
];
/// The parking lots of the HCMC configuration (`config/hcmc/oneticket.toml`
/// and `services/parking/data/hcmc_sites.toml`): lot, an entry gate, an
/// exit gate, the vehicle class it takes, its operator.
pub const PARKING_LOTS: [ParkingLot; 4] = [
    ParkingLot::new("BTH-P", "E1", "X1", VehicleClass::Motorbike, "hurc1"),
    ParkingLot::new("TDI-P", "E1", "X1", VehicleClass::Motorbike, "hurc1"),
    ParkingLot::new("BXS-P", "E1", "X1", VehicleClass::Motorbike, "hurc1"),
    ParkingLot::new("D1-CAR", "E1", "X1", VehicleClass::Car, "d1_parking"),
];
/// The bus operator of the HCMC configuration.
pub const BUS_OPERATOR: &str = "samco";
/// The metro operator of the HCMC configuration.
pub const METRO_OPERATOR: &str = "hurc1";

/// Most terminals a workload may have: each is registered and has a key;
/// 100,000 covers a city's whole fleet.
pub const MAX_TERMINALS: u32 = 100_000;
/// Most cards a workload may have: each is an account, a card and a funded
/// wallet in Postgres; 10 M is far beyond any run on one box.
pub const MAX_CARDS: u32 = 10_000_000;
/// The metro share is given in percent.
pub const PERCENT: u32 = 100;

/// The byte that starts every load-test card UID (`'L'`), so load-test
/// cards are recognisable in any table.
const CARD_UID_MARK: u8 = 0x4c;

/// Why a workload cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// Terminal count outside 1..=MAX_TERMINALS.
    #[error("terminals must be 1..={MAX_TERMINALS}")]
    Terminals,
    /// Card count outside 1..=MAX_CARDS.
    #[error("cards must be 1..={MAX_CARDS}")]
    Cards,
    /// Metro and parking shares above 100 together.
    #[error("the metro and parking shares are percentages adding up to at most 100")]
    Share,
    /// A metro share but too few terminals for an entry and an exit gate at
    /// two stations, or bus taps but no terminal left for a bus.
    #[error(
        "too few terminals for this mix: metro needs 4 gates, parking 8 (an entry and an exit at each of the 4 lots), bus 1 validator"
    )]
    Fleet,
}

/// A parking lot the workload parks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParkingLot {
    /// The lot.
    pub lot_id: &'static str,
    /// Its entry gate.
    pub entry_gate: &'static str,
    /// Its exit gate.
    pub exit_gate: &'static str,
    /// What it takes.
    pub vehicle_class: VehicleClass,
    /// Its operator.
    pub operator_id: &'static str,
}

impl ParkingLot {
    const fn new(
        lot_id: &'static str,
        entry_gate: &'static str,
        exit_gate: &'static str,
        vehicle_class: VehicleClass,
        operator_id: &'static str,
    ) -> ParkingLot {
        ParkingLot {
            lot_id,
            entry_gate,
            exit_gate,
            vehicle_class,
            operator_id,
        }
    }
}

/// A terminal's role and place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A bus validator on a route.
    Bus {
        /// The route.
        route_id: &'static str,
    },
    /// A metro gate lane.
    Gate {
        /// The station.
        station_id: &'static str,
        /// Entry or exit lane.
        direction: Direction,
    },
    /// A parking gate.
    Parking {
        /// The lot.
        lot: ParkingLot,
        /// Entry or exit gate.
        direction: Direction,
    },
}

/// The path taps of a parking entry gate are posted to.
pub const PARKING_ENTRIES_PATH: &str = "/v1/parking/entries";
/// The path taps of a parking exit gate are posted to.
pub const PARKING_EXITS_PATH: &str = "/v1/parking/exits";
/// The path every other tap is posted to.
pub const TAPS_PATH: &str = "/v1/taps";

impl Role {
    /// Where this terminal posts its taps.
    #[must_use]
    pub const fn path(&self) -> &'static str {
        match self {
            Role::Parking {
                direction: Direction::Entry,
                ..
            } => PARKING_ENTRIES_PATH,
            Role::Parking {
                direction: Direction::Exit,
                ..
            } => PARKING_EXITS_PATH,
            Role::Bus { .. } | Role::Gate { .. } => TAPS_PATH,
        }
    }
}

/// A metro gate lane's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Into the paid area.
    Entry,
    /// Out of it.
    Exit,
}

/// One terminal of the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    /// Its id.
    pub id: TerminalId,
    /// Its operator.
    pub operator_id: &'static str,
    /// What and where.
    pub role: Role,
}

/// The shape of a run: how many terminals and cards, and which shares of
/// cards ride the metro and park.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    cards: u32,
    metro_percent: u32,
    parking_percent: u32,
    buses: Vec<Terminal>,
    /// Gate pairs: (entry, exit) at one station each.
    gates: Vec<(Terminal, Terminal)>,
    /// Parking gate pairs: (entry, exit) at one lot each.
    lots: Vec<(Terminal, Terminal)>,
}

/// What request `i` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned<'a> {
    /// The card's index.
    pub card: u32,
    /// The terminal it taps.
    pub terminal: &'a Terminal,
    /// Index of the terminal in [`Workload::terminals`].
    pub terminal_index: usize,
}

impl Workload {
    /// A fleet of `terminals` (metro gates in entry/exit pairs in proportion
    /// to the metro share, the rest bus validators) and `cards` cards.
    ///
    /// # Errors
    /// See [`WorkloadError`].
    pub fn new(terminals: u32, cards: u32, metro_percent: u32) -> Result<Workload, WorkloadError> {
        Workload::with_parking(terminals, cards, metro_percent, 0)
    }

    /// [`Workload::new`] with `parking_percent` of the cards parking: the
    /// fleet then also has an entry and an exit gate at each of
    /// [`PARKING_LOTS`] (taken from `terminals`).
    ///
    /// # Errors
    /// See [`WorkloadError`].
    pub fn with_parking(
        terminals: u32,
        cards: u32,
        metro_percent: u32,
        parking_percent: u32,
    ) -> Result<Workload, WorkloadError> {
        if !(1..=MAX_TERMINALS).contains(&terminals) {
            return Err(WorkloadError::Terminals);
        }
        if !(1..=MAX_CARDS).contains(&cards) {
            return Err(WorkloadError::Cards);
        }
        if metro_percent.saturating_add(parking_percent) > PERCENT {
            return Err(WorkloadError::Share);
        }
        let lot_gates = if parking_percent == 0 {
            0
        } else {
            2 * u32::try_from(PARKING_LOTS.len()).unwrap_or(u32::MAX)
        };
        if terminals < lot_gates {
            return Err(WorkloadError::Fleet);
        }
        let terminals = terminals - lot_gates;
        let pairs = if metro_percent == 0 {
            0
        } else {
            // At least two stations so a trip goes somewhere.
            (terminals * metro_percent / PERCENT / 2).max(2)
        };
        let buses = terminals.saturating_sub(pairs * 2);
        let bus_riders = metro_percent + parking_percent < PERCENT;
        if (metro_percent > 0 && terminals < 4) || (bus_riders && buses == 0) {
            return Err(WorkloadError::Fleet);
        }
        let buses = (0..buses)
            .map(|n| Terminal {
                id: terminal_id(&format!("lt-bus-{n:05}")),
                operator_id: BUS_OPERATOR,
                role: Role::Bus {
                    route_id: cycle(&BUS_ROUTES, n),
                },
            })
            .collect();
        let gates = (0..pairs)
            .map(|n| {
                let station_id = cycle(&METRO_STATIONS, n);
                let gate = |direction: Direction, lane: &str| Terminal {
                    id: terminal_id(&format!("lt-gate-{n:05}-{lane}")),
                    operator_id: METRO_OPERATOR,
                    role: Role::Gate {
                        station_id,
                        direction,
                    },
                };
                (gate(Direction::Entry, "in"), gate(Direction::Exit, "out"))
            })
            .collect();
        let lots = if parking_percent == 0 {
            Vec::new()
        } else {
            PARKING_LOTS
                .iter()
                .map(|lot| {
                    let gate = |direction: Direction, gate_id: &str| Terminal {
                        id: terminal_id(&format!(
                            "lt-park-{}-{}",
                            lot.lot_id.to_ascii_lowercase(),
                            gate_id.to_ascii_lowercase()
                        )),
                        operator_id: lot.operator_id,
                        role: Role::Parking {
                            lot: *lot,
                            direction,
                        },
                    };
                    (
                        gate(Direction::Entry, lot.entry_gate),
                        gate(Direction::Exit, lot.exit_gate),
                    )
                })
                .collect()
        };
        Ok(Workload {
            cards,
            metro_percent,
            parking_percent,
            buses,
            gates,
            lots,
        })
    }

    /// Cards in the workload.
    #[must_use]
    pub const fn cards(&self) -> u32 {
        self.cards
    }

    /// Every terminal: bus validators, then gates (entry, exit) by pair,
    /// then parking gates (entry, exit) by lot.
    pub fn terminals(&self) -> impl Iterator<Item = &Terminal> {
        self.buses
            .iter()
            .chain(self.gates.iter().flat_map(|(entry, exit)| [entry, exit]))
            .chain(self.lots.iter().flat_map(|(entry, exit)| [entry, exit]))
    }

    /// How many terminals.
    #[must_use]
    pub fn terminal_count(&self) -> usize {
        self.buses.len() + 2 * self.gates.len() + 2 * self.lots.len()
    }

    /// Whether `card` parks: the `parking_percent` card indices of every
    /// hundred after the metro riders'.
    #[must_use]
    pub const fn is_parker(&self, card: u32) -> bool {
        let at = card % PERCENT;
        at >= self.metro_percent && at < self.metro_percent + self.parking_percent
    }

    /// Whether `card` rides the metro: the first `metro_percent` of every
    /// hundred card indices.
    #[must_use]
    pub const fn is_metro_rider(&self, card: u32) -> bool {
        card % PERCENT < self.metro_percent
    }

    /// What request `index` is (see the module docs).
    #[must_use]
    pub fn plan(&self, index: u64) -> Planned<'_> {
        let cards = u64::from(self.cards);
        let card = u32::try_from(index % cards).expect("a value below cards (a u32) fits u32");
        let round = index / cards;
        if self.is_metro_rider(card) && !self.gates.is_empty() {
            let pairs = self.gates.len();
            let home = usize::try_from(card).unwrap_or(usize::MAX) % pairs;
            // A station other than home: 1..pairs-1 steps further on.
            let away = (home + 1 + usize::try_from(card / 7).unwrap_or(0) % (pairs - 1)) % pairs;
            let exiting = round % 2 == 1;
            let pair = if exiting { away } else { home };
            let (terminal, offset) = if exiting {
                (&self.gates[pair].1, 1)
            } else {
                (&self.gates[pair].0, 0)
            };
            return Planned {
                card,
                terminal,
                terminal_index: self.buses.len() + 2 * pair + offset,
            };
        }
        if self.is_parker(card) && !self.lots.is_empty() {
            let lot = usize::try_from(card).unwrap_or(usize::MAX) % self.lots.len();
            let leaving = round % 2 == 1;
            let (terminal, offset) = if leaving {
                (&self.lots[lot].1, 1)
            } else {
                (&self.lots[lot].0, 0)
            };
            return Planned {
                card,
                terminal,
                terminal_index: self.buses.len() + 2 * self.gates.len() + 2 * lot + offset,
            };
        }
        let bus = usize::try_from(index % u64::try_from(self.buses.len()).unwrap_or(1))
            .unwrap_or_default();
        Planned {
            card,
            terminal: &self.buses[bus],
            terminal_index: bus,
        }
    }
}

fn cycle(items: &[&'static str], n: u32) -> &'static str {
    items[usize::try_from(n).unwrap_or(0) % items.len()]
}

fn terminal_id(text: &str) -> TerminalId {
    TerminalId::parse(text)
        .expect("lt-bus-/lt-gate-/lt-park- ids are short and of the allowed characters")
}

/// The UID of card `index`: 7 bytes, `4c` then the index big-endian on 6
/// bytes (lowercase hex, as the card protocol wants).
#[must_use]
pub fn card_uid(index: u32) -> CardUid {
    let mut bytes = [0u8; 7];
    bytes[0] = CARD_UID_MARK;
    bytes[3..].copy_from_slice(&index.to_be_bytes());
    CardUid::parse(&hex::encode(bytes)).expect("14 lowercase hex digits are a valid 7-byte UID")
}

/// A stable UUID for `(purpose, index)`: the first 16 bytes of
/// SHA-256(`"oneticket-loadtest" ‖ purpose ‖ index`) as a UUIDv8, so setup
/// is idempotent without a lookup table.
#[must_use]
pub fn stable_uuid(purpose: &str, index: u32) -> Uuid {
    let digest = digest::digest(
        &digest::SHA256,
        [
            b"oneticket-loadtest".as_slice(),
            purpose.as_bytes(),
            &index.to_be_bytes(),
        ]
        .concat()
        .as_slice(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The tap of a planned request.
#[must_use]
pub fn tap(planned: &Planned<'_>, boot_epoch: u32, seq: u64, device_time_s: u64) -> Tap {
    let wire = |text: &str| WireId::parse(text).expect("HCMC ids are valid wire ids");
    let event = match &planned.terminal.role {
        Role::Bus { route_id } => TapEvent::BusBoarding {
            route_id: wire(route_id),
            stop_id: None,
        },
        Role::Gate {
            station_id,
            direction: Direction::Entry,
        } => TapEvent::MetroEntry {
            station_id: wire(station_id),
        },
        Role::Gate {
            station_id,
            direction: Direction::Exit,
        } => TapEvent::MetroExit {
            station_id: wire(station_id),
        },
        Role::Parking {
            lot,
            direction: Direction::Entry,
        } => TapEvent::ParkingEntry {
            lot_id: wire(lot.lot_id),
            gate_id: wire(lot.entry_gate),
            vehicle_class: lot.vehicle_class,
        },
        Role::Parking {
            lot,
            direction: Direction::Exit,
        } => TapEvent::ParkingExit {
            lot_id: wire(lot.lot_id),
            gate_id: wire(lot.exit_gate),
            vehicle_class: lot.vehicle_class,
        },
    };
    Tap {
        terminal_id: planned.terminal.id.clone(),
        boot_epoch,
        seq,
        device_time_s,
        event,
        medium: Medium::TransitCard {
            card_id: card_uid(planned.card),
        },
    }
}
