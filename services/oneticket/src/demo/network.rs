//! The Ho Chi Minh City network as the demo seeds and rides it: bus routes
//! and their operators (`routes.txt`), Metro Line 1's stations and
//! operator (`oneticket.toml`, `routes.txt`), the passes on sale, and the
//! parking lots with their gates (the parking service's site data); and
//! the terminals the demo registers for them through the admin API — a
//! validator on every bus of every route, entry and exit lanes at every
//! station, every gate of every lot.
//!
//! Everything comes from the shipped configuration: change a route or a
//! lot there and the demo follows.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use card_protocol::TerminalId;
use card_protocol::messages::{GateDirection, Placement, VehicleClass, WireId};
use fares::engine::{EXTENSIONS_FILE, Extensions};

use super::scenario::{BUSES_PER_ROUTE, LANES_PER_DIRECTION, Lot, Network, Pass, Vehicle};

/// The GTFS routes file of a fare configuration.
const ROUTES_FILE: &str = "routes.txt";

/// A terminal to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// Its id.
    pub terminal_id: TerminalId,
    /// The operator its taps earn for.
    pub operator_id: WireId,
    /// What and where.
    pub placement: Placement,
}

/// A lot as the parking service describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotSite {
    /// The lot id.
    pub lot_id: String,
    /// Its operator.
    pub operator_id: String,
    /// The vehicle class its gates report.
    pub vehicle_class: VehicleClass,
    /// Its park-and-ride station, if any.
    pub linked_station: Option<String>,
    /// Its bays.
    pub capacity: u32,
    /// Gate id → true for an entry gate.
    pub gates: BTreeMap<String, bool>,
}

/// The city: the network the plan runs on, the operators, and the ids of
/// the terminals that serve each place.
#[derive(Debug, Clone)]
pub struct City {
    network: Network,
    /// Operator of each bus route (same order as the network's routes).
    bus_operators: Vec<String>,
    metro_operator: String,
    lots: Vec<LotSite>,
}

impl City {
    /// The city of a fare configuration's `files` and the parking `lots`.
    ///
    /// # Errors
    /// A file is missing or unreadable, or the network lacks something the
    /// day needs.
    pub fn from_config(
        files: &BTreeMap<String, String>,
        lots: Vec<LotSite>,
    ) -> anyhow::Result<City> {
        let toml = files
            .get(EXTENSIONS_FILE)
            .with_context(|| format!("the fare configuration has no {EXTENSIONS_FILE}"))?;
        let extensions = Extensions::from_toml(EXTENSIONS_FILE, toml)
            .map_err(|e| anyhow::anyhow!("{EXTENSIONS_FILE}: {e}"))?;
        let Some(metro) = extensions.tap_networks.first() else {
            bail!("the fare configuration has no tap-in/tap-out network");
        };
        let routes = route_agencies(
            files
                .get(ROUTES_FILE)
                .with_context(|| format!("the fare configuration has no {ROUTES_FILE}"))?,
        )?;
        let metro_operator = routes
            .iter()
            .find(|(route, _)| *route == metro.route_id)
            .map(|(_, agency)| agency.clone())
            .with_context(|| format!("route {} has no agency", metro.route_id))?;
        let (bus_routes, bus_operators): (Vec<String>, Vec<String>) = routes
            .into_iter()
            .filter(|(route, _)| {
                extensions
                    .tap_networks
                    .iter()
                    .all(|network| network.route_id != *route)
            })
            .unzip();
        let stations = metro.stations.clone();
        // The metro passes riders buy in the app (parking permits are the
        // lot office's).
        let passes = extensions
            .passes
            .iter()
            .filter(|p| p.covers_networks.contains(&metro.network_id))
            .map(|p| Pass {
                product_id: p.id.clone(),
                validity_days: p.validity_days,
            })
            .collect();
        let plan_lots = lots
            .iter()
            .map(|site| Lot {
                lot_id: site.lot_id.clone(),
                vehicle: match site.vehicle_class {
                    VehicleClass::Car | VehicleClass::LargeCar => Vehicle::Car,
                    _ => Vehicle::Motorbike,
                },
                linked_station: site
                    .linked_station
                    .as_ref()
                    .and_then(|s| stations.iter().position(|x| x == s)),
                entry_gates: gates(site, true),
                exit_gates: gates(site, false),
            })
            .collect();
        let network = Network::new(bus_routes, stations, plan_lots, passes)?;
        Ok(City {
            network,
            bus_operators,
            metro_operator,
            lots,
        })
    }

    /// The network the plan runs on.
    #[must_use]
    pub const fn network(&self) -> &Network {
        &self.network
    }

    /// The lots, in the network's order.
    #[must_use]
    pub fn lots(&self) -> &[LotSite] {
        &self.lots
    }

    /// Every terminal of the city: bus validators, metro gate lanes,
    /// parking gates.
    ///
    /// # Errors
    /// An id of the configuration that is not a valid wire id.
    pub fn terminals(&self) -> anyhow::Result<Vec<Terminal>> {
        let wire = |text: &str| WireId::parse(text).with_context(|| format!("wire id {text:?}"));
        let terminal = |text: String| {
            TerminalId::parse(&text).map_err(|_| anyhow::anyhow!("terminal id {text:?}"))
        };
        let mut all = Vec::new();
        for (route, operator) in self.network.bus_routes().iter().zip(&self.bus_operators) {
            for vehicle in 0..BUSES_PER_ROUTE {
                all.push(Terminal {
                    terminal_id: terminal(bus_terminal_id(route, vehicle))?,
                    operator_id: wire(operator)?,
                    placement: Placement::BusValidator {
                        route_id: wire(route)?,
                    },
                });
            }
        }
        for station in self.network.stations() {
            for direction in [GateDirection::Entry, GateDirection::Exit] {
                for lane in 0..LANES_PER_DIRECTION {
                    all.push(Terminal {
                        terminal_id: terminal(gate_terminal_id(station, direction, lane))?,
                        operator_id: wire(&self.metro_operator)?,
                        placement: Placement::MetroGate {
                            station_id: wire(station)?,
                            direction,
                        },
                    });
                }
            }
        }
        for lot in &self.lots {
            for (gate, entry) in &lot.gates {
                all.push(Terminal {
                    terminal_id: terminal(parking_terminal_id(&lot.lot_id, gate))?,
                    operator_id: wire(&lot.operator_id)?,
                    placement: Placement::ParkingGate {
                        lot_id: wire(&lot.lot_id)?,
                        gate_id: wire(gate)?,
                        direction: if *entry {
                            GateDirection::Entry
                        } else {
                            GateDirection::Exit
                        },
                    },
                });
            }
        }
        Ok(all)
    }

    /// The route id of a planned bus action.
    #[must_use]
    pub fn route(&self, route: usize) -> Option<&str> {
        self.network.bus_routes().get(route).map(String::as_str)
    }

    /// The station id of a planned metro action.
    #[must_use]
    pub fn station(&self, station: usize) -> Option<&str> {
        self.network.stations().get(station).map(String::as_str)
    }

    /// A planned lot and one of its gates (`entry` or exit side).
    #[must_use]
    pub fn lot_gate(&self, lot: usize, gate: usize, entry: bool) -> Option<(&LotSite, &str)> {
        let plan_lot = self.network.lots().get(lot)?;
        let gates = if entry {
            &plan_lot.entry_gates
        } else {
            &plan_lot.exit_gates
        };
        Some((self.lots.get(lot)?, gates.get(gate)?.as_str()))
    }
}

fn gates(site: &LotSite, entry: bool) -> Vec<String> {
    site.gates
        .iter()
        .filter(|(_, e)| **e == entry)
        .map(|(g, _)| g.clone())
        .collect()
}

/// `(route_id, agency_id)` of every row of a GTFS `routes.txt`.
fn route_agencies(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().context(ROUTES_FILE)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .with_context(|| format!("{ROUTES_FILE} has no column {name}"))
    };
    let (route, agency) = (column("route_id")?, column("agency_id")?);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.context(ROUTES_FILE)?;
        if let (Some(r), Some(a)) = (record.get(route), record.get(agency)) {
            rows.push((r.to_owned(), a.to_owned()));
        }
    }
    Ok(rows)
}

/// The validator of bus `vehicle` (from 0) of `route`: `bus-19-02`.
#[must_use]
pub fn bus_terminal_id(route: &str, vehicle: u32) -> String {
    format!("bus-{}-{:02}", route.to_ascii_lowercase(), vehicle + 1)
}

/// A metro gate lane (`lane` from 0): `gate-bth-in-1`.
#[must_use]
pub fn gate_terminal_id(station: &str, direction: GateDirection, lane: u32) -> String {
    let side = match direction {
        GateDirection::Entry => "in",
        GateDirection::Exit => "out",
    };
    format!("gate-{}-{side}-{}", station.to_ascii_lowercase(), lane + 1)
}

/// A parking gate: `park-bth-p-e1`.
#[must_use]
pub fn parking_terminal_id(lot: &str, gate: &str) -> String {
    format!(
        "park-{}-{}",
        lot.to_ascii_lowercase(),
        gate.to_ascii_lowercase()
    )
}

/// The census of a city's terminals by kind, for the narrative.
#[must_use]
pub fn terminal_counts(terminals: &[Terminal]) -> (usize, usize, usize) {
    let count = |f: fn(&Placement) -> bool| terminals.iter().filter(|t| f(&t.placement)).count();
    (
        count(|p| matches!(p, Placement::BusValidator { .. })),
        count(|p| matches!(p, Placement::MetroGate { .. })),
        count(|p| matches!(p, Placement::ParkingGate { .. })),
    )
}

/// The parking service's lots as the demo needs them.
#[must_use]
pub fn lot_sites(lots: &parking_service::Lots) -> Vec<LotSite> {
    lots.iter()
        .map(|lot| LotSite {
            lot_id: lot.lot_id.clone(),
            operator_id: lot.operator_id.clone(),
            vehicle_class: lot.vehicle_class,
            linked_station: lot.linked_station.clone(),
            capacity: lot.capacity,
            gates: lot.gates.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_id(made: String, expected: &str) {
        assert_eq!(made, expected);
        assert!(TerminalId::parse(&made).is_ok(), "{made} is a terminal id");
    }

    #[test]
    fn terminal_ids_name_the_place() {
        check_id(bus_terminal_id("19", 0), "bus-19-01");
        check_id(bus_terminal_id("150", 2), "bus-150-03");
        check_id(
            gate_terminal_id("BTH", GateDirection::Entry, 0),
            "gate-bth-in-1",
        );
        check_id(
            gate_terminal_id("BXS", GateDirection::Exit, 1),
            "gate-bxs-out-2",
        );
        check_id(parking_terminal_id("D1-CAR", "X1"), "park-d1-car-x1");
    }

    fn hcmc() -> City {
        let engine = fares::engine::Engine::hcmc().expect("the shipped configuration");
        let prefix = store_redis::KeyPrefix::new("demo-test").expect("prefix");
        let lots = parking_service::Lots::hcmc(&engine, &prefix).expect("the shipped lots");
        City::from_config(&fares::engine::hcmc_files(), lot_sites(&lots)).expect("the city")
    }

    #[test]
    fn the_hcmc_city_has_every_route_station_and_gate() {
        let city = hcmc();
        let network = city.network();
        assert_eq!(network.stations().len(), 14);
        assert_eq!(network.stations().first().map(String::as_str), Some("BTH"));
        assert_eq!(network.stations().last().map(String::as_str), Some("BXS"));
        assert_eq!(
            network.bus_routes(),
            ["01", "56", "19", "53", "93", "33", "150", "13"]
        );
        let terminals = city.terminals().expect("terminals");
        let gates_in_site_data: usize = city.lots().iter().map(|l| l.gates.len()).sum();
        let (bus, metro, parking) = terminal_counts(&terminals);
        let per_route = usize::try_from(BUSES_PER_ROUTE).expect("small");
        let per_station = 2 * usize::try_from(LANES_PER_DIRECTION).expect("small");
        assert_eq!(
            (bus, metro, parking),
            (8 * per_route, 14 * per_station, gates_in_site_data)
        );
        let passes: Vec<&str> = network
            .passes()
            .iter()
            .map(|p| p.product_id.as_str())
            .collect();
        assert_eq!(passes, ["metro_3day", "metro_day", "metro_month"]);
        let operators: std::collections::BTreeSet<&str> =
            terminals.iter().map(|t| t.operator_id.as_str()).collect();
        assert_eq!(
            operators.into_iter().collect::<Vec<_>>(),
            ["d1_parking", "hurc1", "samco"]
        );
        let mut ids: Vec<&str> = terminals.iter().map(|t| t.terminal_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), terminals.len(), "terminal ids are unique");
    }

    #[test]
    fn planned_places_resolve_to_configured_ids() {
        let city = hcmc();
        assert_eq!(city.route(2), Some("19"));
        assert_eq!(city.route(99), None);
        assert_eq!(city.station(13), Some("BXS"));
        let (lot, gate) = city.lot_gate(0, 0, true).expect("a lot with a gate");
        assert_eq!((lot.lot_id.as_str(), gate), ("BTH-P", "E1"));
        assert_eq!(city.lot_gate(0, 9, false), None);
    }

    #[test]
    fn a_routes_file_without_agencies_is_refused() {
        let error = route_agencies("route_id,route_type\n01,3\n").expect_err("no agency column");
        assert_eq!(error.to_string(), "routes.txt has no column agency_id");
    }
}
