//! Leg fares by id, as the engine receives them before interning.
//!
//! A [`LegFareTable`] says, for each route, its network and operator, what a
//! bus leg costs per rider category, and what a metro trip costs per
//! ordered station pair and category. It is filled from the GTFS feed
//! (see `feed.rs`) or directly (tests, other sources). The
//! [`Engine`](super::Engine) checks it is complete and compiles it into
//! flat arrays indexed by interned ids.

use std::collections::BTreeMap;

use ledger::Money;

/// Network and operator of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    /// The GTFS `network_id` of the route.
    pub network_id: String,
    /// The GTFS `agency_id` operating the route.
    pub operator_id: String,
}

/// Leg fares keyed by GTFS ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegFareTable {
    routes: BTreeMap<String, RouteInfo>,
    route_fares: BTreeMap<(String, String), Money>,
    pair_fares: BTreeMap<(String, String, String), Money>,
    route_products: BTreeMap<(String, String), String>,
    pair_products: BTreeMap<(String, String, String), String>,
}

impl LegFareTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> LegFareTable {
        LegFareTable::default()
    }

    /// Declares `route_id`, in `network_id`, run by `operator_id`.
    pub fn add_route(&mut self, route_id: &str, network_id: &str, operator_id: &str) {
        self.routes.insert(
            route_id.to_owned(),
            RouteInfo {
                network_id: network_id.to_owned(),
                operator_id: operator_id.to_owned(),
            },
        );
    }

    /// Sets the fare of a single-tap leg on `route_id` for `category`.
    pub fn set_route_fare(&mut self, route_id: &str, category: &str, fare: Money) {
        self.route_fares
            .insert((route_id.to_owned(), category.to_owned()), fare);
    }

    /// Sets the fare of a tap-in/tap-out trip from `from` to `to` for `category`.
    pub fn set_pair_fare(&mut self, from: &str, to: &str, category: &str, fare: Money) {
        self.pair_fares
            .insert((from.to_owned(), to.to_owned(), category.to_owned()), fare);
    }

    /// Records the GTFS `fare_product_id` behind a route fare (for settlement exports).
    pub fn set_route_product(&mut self, route_id: &str, category: &str, product_id: &str) {
        self.route_products.insert(
            (route_id.to_owned(), category.to_owned()),
            product_id.to_owned(),
        );
    }

    /// Records the GTFS `fare_product_id` behind a station-pair fare.
    pub fn set_pair_product(&mut self, from: &str, to: &str, category: &str, product_id: &str) {
        self.pair_products.insert(
            (from.to_owned(), to.to_owned(), category.to_owned()),
            product_id.to_owned(),
        );
    }

    /// The fare product behind a route fare, if recorded.
    #[must_use]
    pub fn route_product(&self, route_id: &str, category: &str) -> Option<&str> {
        self.route_products
            .get(&(route_id.to_owned(), category.to_owned()))
            .map(String::as_str)
    }

    /// The fare product behind a station-pair fare, if recorded.
    #[must_use]
    pub fn pair_product(&self, from: &str, to: &str, category: &str) -> Option<&str> {
        self.pair_products
            .get(&(from.to_owned(), to.to_owned(), category.to_owned()))
            .map(String::as_str)
    }

    /// Every recorded fare product id, sorted and unique.
    #[must_use]
    pub fn product_ids(&self) -> Vec<&str> {
        let ids: std::collections::BTreeSet<&str> = self
            .route_products
            .values()
            .chain(self.pair_products.values())
            .map(String::as_str)
            .collect();
        ids.into_iter().collect()
    }

    /// The routes, by id.
    #[must_use]
    pub fn routes(&self) -> &BTreeMap<String, RouteInfo> {
        &self.routes
    }

    /// The fare of a single-tap leg, if set.
    #[must_use]
    pub fn route_fare(&self, route_id: &str, category: &str) -> Option<Money> {
        self.route_fares
            .get(&(route_id.to_owned(), category.to_owned()))
            .copied()
    }

    /// The fare of a trip between two stations, if set.
    #[must_use]
    pub fn pair_fare(&self, from: &str, to: &str, category: &str) -> Option<Money> {
        self.pair_fares
            .get(&(from.to_owned(), to.to_owned(), category.to_owned()))
            .copied()
    }
}
