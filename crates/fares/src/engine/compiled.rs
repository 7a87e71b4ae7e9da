//! The compiled engine: the extensions and the leg fares joined, checked and
//! interned into flat arrays, built once at load time.
//!
//! Every id becomes a small index in sorted id order; fares become
//! `route × category` and `station pair × category` arrays, so pricing a
//! tap is a few array reads and no string is touched on the hot path.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger::Money;

use super::calendar::ServiceCalendar;
use super::config::{Caps, ConfigError, ConfigErrors, Extensions, TariffKind, TransitBehaviour};
use super::state::{
    CategoryIdx, FareProductIdx, GroupIdx, LotIdx, NetworkIdx, OperatorIdx, PassIdx, RouteIdx,
    StationIdx,
};
use super::tables::LegFareTable;

/// A rider category, compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledCategory {
    pub(crate) id: String,
    pub(crate) transit: TransitBehaviour,
    pub(crate) caps: Option<Caps>,
}

/// A single-tap route, compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRoute {
    pub(crate) id: String,
    pub(crate) network: NetworkIdx,
    pub(crate) operator: OperatorIdx,
    pub(crate) group: Option<GroupIdx>,
}

/// A tap-in/tap-out network, compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledTapNetwork {
    pub(crate) network: NetworkIdx,
    pub(crate) operator: OperatorIdx,
    pub(crate) group: Option<GroupIdx>,
    /// Number of stations.
    pub(crate) stations: usize,
    /// `(from × stations + to) × categories + category` → fare; the
    /// diagonal (same station) holds `same_station_fare`.
    pub(crate) fares: Vec<Money>,
    /// Parallel to `fares`: the GTFS product behind each fare.
    pub(crate) products: Vec<Option<FareProductIdx>>,
    pub(crate) entry_hold: Money,
    pub(crate) same_station_cancel_s: i64,
    pub(crate) incomplete_after_s: i64,
}

/// A station, compiled: which network it belongs to and its place there.
#[derive(Clone, Debug)]
pub(crate) struct CompiledStation {
    pub(crate) id: String,
    pub(crate) tap_network: usize,
    pub(crate) local: usize,
}

/// A pass product, compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledPass {
    pub(crate) id: String,
    pub(crate) validity_days: u16,
    pub(crate) covers: Vec<NetworkIdx>,
    /// The lots whose stays it covers (a parking permit).
    pub(crate) lots: Vec<LotIdx>,
    /// Price by category index.
    pub(crate) prices: Vec<Money>,
}

/// A parking lot with its class and tariff resolved.
#[derive(Clone, Debug)]
pub(crate) struct CompiledLot {
    pub(crate) id: String,
    pub(crate) operator: OperatorIdx,
    pub(crate) capacity: u32,
    pub(crate) linked_station: Option<StationIdx>,
    pub(crate) entry_min_balance: Money,
    pub(crate) tariff: TariffKind,
    pub(crate) grace_s: i64,
    /// Added to the fee of a stay closed as a lost ticket.
    pub(crate) lost_ticket: Money,
}

/// The fare engine for one configuration. Immutable and cheap to share
/// between threads; every decision is a pure function of the engine, a
/// state and an event.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) calendar: ServiceCalendar,
    pub(crate) categories: Vec<CompiledCategory>,
    pub(crate) routes: Vec<CompiledRoute>,
    /// `route × categories + category` → fare.
    pub(crate) route_fares: Vec<Money>,
    /// Parallel to `route_fares`: the GTFS product behind each fare.
    pub(crate) route_products: Vec<Option<FareProductIdx>>,
    /// GTFS fare product ids, sorted.
    pub(crate) fare_products: Vec<String>,
    pub(crate) tap_networks: Vec<CompiledTapNetwork>,
    pub(crate) stations: Vec<CompiledStation>,
    pub(crate) networks: Vec<String>,
    pub(crate) operators: Vec<String>,
    pub(crate) groups: Vec<String>,
    /// `from_group × groups + to_group` → (discount, window in seconds).
    pub(crate) discounts: Vec<Option<(Money, i64)>>,
    pub(crate) passes: Vec<CompiledPass>,
    pub(crate) lots: Vec<CompiledLot>,
    category_by_id: HashMap<String, CategoryIdx>,
    route_by_id: HashMap<String, RouteIdx>,
    station_by_id: HashMap<String, StationIdx>,
    pass_by_id: HashMap<String, PassIdx>,
    lot_by_id: HashMap<String, LotIdx>,
}

/// Interns `ids` (already sorted and unique) into indices of type `T`.
fn intern<T>(
    ids: impl IntoIterator<Item = String>,
    what: &str,
    make: impl Fn(usize) -> Option<T>,
    errors: &mut Vec<ConfigError>,
) -> HashMap<String, T> {
    let mut map = HashMap::new();
    for (i, id) in ids.into_iter().enumerate() {
        if let Some(idx) = make(i) {
            map.insert(id, idx);
        } else {
            errors.push(ConfigError::new(
                what,
                format!("too many entries (at `{id}`)"),
            ));
            break;
        }
    }
    map
}

fn index_of(list: &[String], id: &str) -> Option<usize> {
    list.binary_search_by(|x| x.as_str().cmp(id)).ok()
}

impl Engine {
    /// Joins the extensions with the leg fares and compiles the lookup tables.
    ///
    /// # Errors
    /// Every problem found: references from the extensions to networks,
    /// routes or stations the fares do not have; a category without a fare
    /// on some route or station pair; a hold below a fare it must cover.
    #[allow(clippy::too_many_lines)] // One pass over the configuration, in order.
    pub fn new(ext: Extensions, table: &LegFareTable) -> Result<Engine, ConfigErrors> {
        let mut errors = Vec::new();
        let categories: Vec<CompiledCategory> = ext
            .categories
            .iter()
            .map(|c| CompiledCategory {
                id: c.id.clone(),
                transit: c.transit,
                caps: c.caps,
            })
            .collect();
        let category_by_id = intern(
            categories.iter().map(|c| c.id.clone()),
            "rider_categories",
            |i| u8::try_from(i).ok().map(CategoryIdx),
            &mut errors,
        );

        // Networks and operators named anywhere, sorted.
        // Routes of tap-in/tap-out networks are priced by station pair, never per boarding.
        let tap_routes: BTreeSet<&str> = ext
            .tap_networks
            .iter()
            .map(|t| t.route_id.as_str())
            .collect();
        let tap_network_ids: BTreeSet<&str> = ext
            .tap_networks
            .iter()
            .map(|t| t.network_id.as_str())
            .collect();
        let mut network_set: BTreeSet<String> = table
            .routes()
            .values()
            .map(|r| r.network_id.clone())
            .collect();
        network_set.extend(ext.tap_networks.iter().map(|t| t.network_id.clone()));
        let networks: Vec<String> = network_set.into_iter().collect();
        let mut operator_set: BTreeSet<String> = table
            .routes()
            .values()
            .map(|r| r.operator_id.clone())
            .collect();
        operator_set.extend(ext.parking.lots.iter().map(|l| l.operator_id.clone()));
        let operators: Vec<String> = operator_set.into_iter().collect();
        let network_idx = |id: &str| {
            index_of(&networks, id)
                .and_then(|i| u16::try_from(i).ok())
                .map(NetworkIdx)
        };
        let operator_idx = |id: &str| {
            index_of(&operators, id)
                .and_then(|i| u16::try_from(i).ok())
                .map(OperatorIdx)
        };
        if u16::try_from(networks.len()).is_err() || u16::try_from(operators.len()).is_err() {
            errors.push(ConfigError::new(
                "routes.txt",
                "too many networks or operators",
            ));
        }

        // Transfer groups.
        let groups: Vec<String> = ext.transfer_groups.iter().map(|g| g.id.clone()).collect();
        if u8::try_from(groups.len()).is_err() {
            errors.push(ConfigError::new("transfer_groups", "at most 255 groups"));
        }
        let mut group_of_network: BTreeMap<&str, GroupIdx> = BTreeMap::new();
        for (gi, group) in ext.transfer_groups.iter().enumerate() {
            for (j, network) in group.network_ids.iter().enumerate() {
                if network_idx(network).is_none() {
                    errors.push(ConfigError::new(
                        format!("transfer_groups.{}[{j}]", group.id),
                        format!("no network `{network}` in the feed's routes"),
                    ));
                }
                if let Ok(g) = u8::try_from(gi) {
                    group_of_network.insert(network, GroupIdx(g));
                }
            }
        }
        let group_of = |network: &str| group_of_network.get(network).copied();
        let mut discounts = vec![None; groups.len() * groups.len()];
        for rule in &ext.transfer_discounts {
            if let (Some(from), Some(to)) = (
                index_of(&groups, &rule.from_group),
                index_of(&groups, &rule.to_group),
            ) && let Some(slot) = discounts.get_mut(from * groups.len() + to)
            {
                *slot = Some((rule.discount, rule.within_s));
            }
        }

        // Fare products named by the table.
        let fare_products: Vec<String> =
            table.product_ids().into_iter().map(str::to_owned).collect();
        if u16::try_from(fare_products.len()).is_err() {
            errors.push(ConfigError::new(
                "fare_products.txt",
                "too many fare products",
            ));
        }
        let product_idx = |id: Option<&str>| {
            id.and_then(|id| index_of(&fare_products, id))
                .and_then(|i| u16::try_from(i).ok())
                .map(FareProductIdx)
        };

        // Single-tap routes and their fares.
        let n_categories = categories.len();
        let mut routes = Vec::new();
        let mut route_fares = Vec::new();
        let mut route_products = Vec::new();
        for (route_id, info) in table.routes() {
            if tap_routes.contains(route_id.as_str())
                || tap_network_ids.contains(info.network_id.as_str())
            {
                continue;
            }
            let (Some(network), Some(operator)) = (
                network_idx(&info.network_id),
                operator_idx(&info.operator_id),
            ) else {
                continue; // Both sets were built from these very routes.
            };
            for category in &categories {
                route_products.push(product_idx(table.route_product(route_id, &category.id)));
                let fare = table.route_fare(route_id, &category.id);
                match fare {
                    Some(fare) if !fare.is_negative() => route_fares.push(fare),
                    Some(fare) => {
                        errors.push(ConfigError::new(
                            "fare_leg_rules.txt",
                            format!(
                                "route `{route_id}`, category `{}`: negative fare {fare}",
                                category.id
                            ),
                        ));
                        route_fares.push(Money::ZERO);
                    }
                    None => {
                        errors.push(ConfigError::new(
                            "fare_leg_rules.txt",
                            format!(
                                "route `{route_id}` has no fare for rider category `{}`; every tap must have a price",
                                category.id
                            ),
                        ));
                        route_fares.push(Money::ZERO);
                    }
                }
            }
            routes.push(CompiledRoute {
                id: route_id.clone(),
                network,
                operator,
                group: group_of(&info.network_id),
            });
        }
        let route_by_id = intern(
            routes.iter().map(|r| r.id.clone()),
            "routes.txt",
            |i| u16::try_from(i).ok().map(RouteIdx),
            &mut errors,
        );

        // Tap-in/tap-out networks and their station-pair fares.
        let mut tap_networks = Vec::new();
        let mut stations = Vec::new();
        for (ti, tap) in ext.tap_networks.iter().enumerate() {
            let path = format!("tap_in_tap_out[{}]", tap.network_id);
            let Some(route) = table.routes().get(&tap.route_id) else {
                errors.push(ConfigError::new(
                    format!("{path}.route_id"),
                    format!("no route `{}` in routes.txt", tap.route_id),
                ));
                continue;
            };
            if route.network_id != tap.network_id {
                errors.push(ConfigError::new(
                    format!("{path}.network_id"),
                    format!(
                        "route `{}` belongs to network `{}` in the feed",
                        tap.route_id, route.network_id
                    ),
                ));
            }
            let (Some(network), Some(operator)) = (
                network_idx(&tap.network_id),
                operator_idx(&route.operator_id),
            ) else {
                continue;
            };
            let n = tap.stations.len();
            let mut fares = Vec::with_capacity(n * n * n_categories);
            let mut products = Vec::with_capacity(n * n * n_categories);
            let mut max_fare = tap.same_station_fare;
            for from in &tap.stations {
                for to in &tap.stations {
                    for category in &categories {
                        products.push(if from == to {
                            None
                        } else {
                            product_idx(table.pair_product(from, to, &category.id))
                        });
                        let fare = if from == to {
                            Some(tap.same_station_fare)
                        } else {
                            table.pair_fare(from, to, &category.id)
                        };
                        let fare = fare.unwrap_or_else(|| {
                            errors.push(ConfigError::new(
                                "fare_leg_rules.txt",
                                format!(
                                    "no fare from `{from}` to `{to}` for rider category `{}` on route `{}`",
                                    category.id, tap.route_id
                                ),
                            ));
                            Money::ZERO
                        });
                        if fare.is_negative() {
                            errors.push(ConfigError::new(
                                "fare_leg_rules.txt",
                                format!(
                                    "negative fare from `{from}` to `{to}` for `{}`",
                                    category.id
                                ),
                            ));
                        }
                        if category.transit == TransitBehaviour::Fares {
                            max_fare = max_fare.max(fare);
                        }
                        fares.push(fare);
                    }
                }
            }
            if tap.entry_hold < max_fare {
                errors.push(ConfigError::new(
                    format!("{path}.entry_hold_vnd"),
                    format!(
                        "the hold {} is below the highest fare {max_fare}; the hold must cover every fare",
                        tap.entry_hold
                    ),
                ));
            }
            for (local, id) in tap.stations.iter().enumerate() {
                stations.push(CompiledStation {
                    id: id.clone(),
                    tap_network: ti,
                    local,
                });
            }
            tap_networks.push(CompiledTapNetwork {
                network,
                operator,
                group: group_of(&tap.network_id),
                stations: n,
                fares,
                products,
                entry_hold: tap.entry_hold,
                same_station_cancel_s: tap.same_station_cancel_s,
                incomplete_after_s: tap.incomplete_after_s,
            });
        }
        // Sorted station indices; `tap_network`/`local` keep line order within the network.
        stations.sort_by(|a, b| a.id.cmp(&b.id));
        let station_by_id = intern(
            stations.iter().map(|s| s.id.clone()),
            "tap_in_tap_out.stations",
            |i| u16::try_from(i).ok().map(StationIdx),
            &mut errors,
        );

        // Parking lots.
        let mut lots = Vec::new();
        for lot in &ext.parking.lots {
            let class = ext
                .parking
                .vehicle_classes
                .iter()
                .find(|v| v.id == lot.vehicle_class);
            let tariff = ext.parking.tariffs.iter().find(|t| t.id == lot.tariff);
            let (Some(class), Some(tariff), Some(operator)) =
                (class, tariff, operator_idx(&lot.operator_id))
            else {
                continue; // Checked when the extensions were read.
            };
            let linked_station = lot
                .linked_station
                .as_ref()
                .and_then(|s| station_by_id.get(s).copied());
            lots.push(CompiledLot {
                id: lot.id.clone(),
                operator,
                capacity: lot.capacity,
                linked_station,
                entry_min_balance: class.entry_min_balance,
                tariff: tariff.kind,
                grace_s: tariff.grace_s,
                lost_ticket: tariff.lost_ticket,
            });
        }
        let lot_by_id = intern(
            lots.iter().map(|l| l.id.clone()),
            "parking.lots",
            |i| u16::try_from(i).ok().map(LotIdx),
            &mut errors,
        );

        // Passes.
        let mut passes = Vec::new();
        for pass in &ext.passes {
            let mut covers = Vec::new();
            for network in &pass.covers_networks {
                match network_idx(network) {
                    Some(n) => covers.push(n),
                    None => errors.push(ConfigError::new(
                        format!("passes.{}.covers_networks", pass.id),
                        format!("no network `{network}` in the feed's routes"),
                    )),
                }
            }
            let mut lots = Vec::new();
            for lot in &pass.covers_lots {
                match lot_by_id.get(lot) {
                    Some(idx) => lots.push(*idx),
                    None => errors.push(ConfigError::new(
                        format!("passes.{}.covers_lots", pass.id),
                        format!("no lot `{lot}` in parking.lots"),
                    )),
                }
            }
            let prices = categories
                .iter()
                .map(|c| {
                    pass.price_by_category
                        .get(&c.id)
                        .copied()
                        .unwrap_or(Money::ZERO)
                })
                .collect();
            passes.push(CompiledPass {
                id: pass.id.clone(),
                validity_days: pass.validity_days,
                covers,
                lots,
                prices,
            });
        }
        let pass_by_id = intern(
            passes.iter().map(|p| p.id.clone()),
            "passes",
            |i| u16::try_from(i).ok().map(PassIdx),
            &mut errors,
        );

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Engine {
            calendar: ext.calendar,
            categories,
            routes,
            route_fares,
            route_products,
            fare_products,
            tap_networks,
            stations,
            networks,
            operators,
            groups,
            discounts,
            passes,
            lots,
            category_by_id,
            route_by_id,
            station_by_id,
            pass_by_id,
            lot_by_id,
        })
    }

    /// The service calendar.
    #[must_use]
    pub fn calendar(&self) -> &ServiceCalendar {
        &self.calendar
    }

    /// The rider category with GTFS id `id`.
    #[must_use]
    pub fn category(&self, id: &str) -> Option<CategoryIdx> {
        self.category_by_id.get(id).copied()
    }

    /// The single-tap route with GTFS id `id`.
    #[must_use]
    pub fn route(&self, id: &str) -> Option<RouteIdx> {
        self.route_by_id.get(id).copied()
    }

    /// The tap-in/tap-out station with GTFS stop id `id`.
    #[must_use]
    pub fn station(&self, id: &str) -> Option<StationIdx> {
        self.station_by_id.get(id).copied()
    }

    /// The pass product with id `id`.
    #[must_use]
    pub fn pass(&self, id: &str) -> Option<PassIdx> {
        self.pass_by_id.get(id).copied()
    }

    /// The parking lot with id `id`.
    #[must_use]
    pub fn lot(&self, id: &str) -> Option<LotIdx> {
        self.lot_by_id.get(id).copied()
    }

    /// Id of a category index.
    #[must_use]
    pub fn category_id(&self, idx: CategoryIdx) -> Option<&str> {
        self.categories.get(idx.get()).map(|c| c.id.as_str())
    }

    /// Id of a route index.
    #[must_use]
    pub fn route_id(&self, idx: RouteIdx) -> Option<&str> {
        self.routes.get(idx.get()).map(|r| r.id.as_str())
    }

    /// Id of a station index.
    #[must_use]
    pub fn station_id(&self, idx: StationIdx) -> Option<&str> {
        self.stations.get(idx.get()).map(|s| s.id.as_str())
    }

    /// Id of a pass index.
    #[must_use]
    pub fn pass_id(&self, idx: PassIdx) -> Option<&str> {
        self.passes.get(idx.get()).map(|p| p.id.as_str())
    }

    /// Id of a lot index.
    #[must_use]
    pub fn lot_id(&self, idx: LotIdx) -> Option<&str> {
        self.lots.get(idx.get()).map(|l| l.id.as_str())
    }

    /// GTFS id of a network index.
    #[must_use]
    pub fn network_id(&self, idx: NetworkIdx) -> Option<&str> {
        self.networks.get(idx.get()).map(String::as_str)
    }

    /// Id of an operator index (GTFS agency or parking operator).
    #[must_use]
    pub fn operator_id(&self, idx: OperatorIdx) -> Option<&str> {
        self.operators.get(idx.get()).map(String::as_str)
    }

    /// Capacity of a lot.
    #[must_use]
    pub fn lot_capacity(&self, idx: LotIdx) -> Option<u32> {
        self.lots.get(idx.get()).map(|l| l.capacity)
    }

    /// Number of lots (their indices are `0..lot_count()`).
    #[must_use]
    pub fn lot_count(&self) -> usize {
        self.lots.len()
    }

    /// The lost-ticket fee of a lot (its tariff's).
    #[must_use]
    pub fn lot_lost_ticket_fee(&self, idx: LotIdx) -> Option<Money> {
        self.lots.get(idx.get()).map(|l| l.lost_ticket)
    }

    /// The operator a lot's fees are owed to.
    #[must_use]
    pub fn lot_operator(&self, idx: LotIdx) -> Option<OperatorIdx> {
        self.lots.get(idx.get()).map(|l| l.operator)
    }

    /// Every pass index, in id order (transit passes and parking permits).
    pub fn pass_indices(&self) -> impl Iterator<Item = PassIdx> + '_ {
        (0..self.passes.len()).filter_map(|i| u16::try_from(i).ok().map(PassIdx))
    }

    /// The lots whose stays a pass covers (empty for a transit-only pass).
    #[must_use]
    pub fn pass_lots(&self, idx: PassIdx) -> Option<&[LotIdx]> {
        self.passes.get(idx.get()).map(|p| p.lots.as_slice())
    }

    /// Service days of validity of a pass, from the day of purchase.
    #[must_use]
    pub fn pass_validity_days(&self, idx: PassIdx) -> Option<u16> {
        self.passes.get(idx.get()).map(|p| p.validity_days)
    }

    /// The price of a pass for a rider category.
    #[must_use]
    pub fn pass_price(&self, idx: PassIdx, category: CategoryIdx) -> Option<Money> {
        self.passes
            .get(idx.get())?
            .prices
            .get(category.get())
            .copied()
    }

    /// Every lot index, in id order.
    pub fn lot_indices(&self) -> impl Iterator<Item = LotIdx> + '_ {
        (0..self.lots.len()).filter_map(|i| u16::try_from(i).ok().map(LotIdx))
    }

    /// The single-tap fare of `route` for `category`, before discounts and caps.
    #[must_use]
    pub fn route_fare(&self, route: RouteIdx, category: CategoryIdx) -> Option<Money> {
        self.route_fares
            .get(route.get() * self.categories.len() + category.get())
            .copied()
            .filter(|_| category.get() < self.categories.len())
    }

    /// The GTFS fare product behind `route`'s fare for `category`.
    #[must_use]
    pub fn route_product(&self, route: RouteIdx, category: CategoryIdx) -> Option<FareProductIdx> {
        if category.get() >= self.categories.len() {
            return None;
        }
        self.route_products
            .get(route.get() * self.categories.len() + category.get())
            .copied()
            .flatten()
    }

    /// The GTFS fare product behind the fare from `from` to `to` for `category`.
    #[must_use]
    pub fn pair_product(
        &self,
        from: StationIdx,
        to: StationIdx,
        category: CategoryIdx,
    ) -> Option<FareProductIdx> {
        let from = self.stations.get(from.get())?;
        let to = self.stations.get(to.get())?;
        if from.tap_network != to.tap_network || category.get() >= self.categories.len() {
            return None;
        }
        let net = self.tap_networks.get(from.tap_network)?;
        net.products
            .get((from.local * net.stations + to.local) * self.categories.len() + category.get())
            .copied()
            .flatten()
    }

    /// GTFS id of a fare product index.
    #[must_use]
    pub fn fare_product_id(&self, idx: FareProductIdx) -> Option<&str> {
        self.fare_products.get(idx.get()).map(String::as_str)
    }

    /// The fare of a trip from `from` to `to` for `category`, before
    /// discounts and caps (the same-station completed fare when equal);
    /// `None` when the stations are on different networks.
    #[must_use]
    pub fn pair_fare(
        &self,
        from: StationIdx,
        to: StationIdx,
        category: CategoryIdx,
    ) -> Option<Money> {
        let from = self.stations.get(from.get())?;
        let to = self.stations.get(to.get())?;
        if from.tap_network != to.tap_network || category.get() >= self.categories.len() {
            return None;
        }
        let net = self.tap_networks.get(from.tap_network)?;
        net.fares
            .get((from.local * net.stations + to.local) * self.categories.len() + category.get())
            .copied()
    }
}
