//! The loaded fare feed: every adopted GTFS-Fares v2 file as typed rows
//! with ids interned to indices, and the indices leg matching and transfer
//! processing read.
//!
//! **Invariant:** a `Feed` only exists after [`Feed::load`] found no error,
//! so every index stored here points at an existing row (foreign keys were
//! checked), and matching code can look rows up without failing.

use chrono_tz::Tz;

use super::currency::Amount;
use super::error::FeedError;
use super::ids::{FastMap, Interner, ix};
use super::time::Service;

/// `stops.location_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocationType {
    /// 0 or empty: a stop or platform.
    Stop,
    /// 1: a station containing platforms.
    Station,
    /// 2, 3, 4: entrances, generic nodes and boarding areas (never areas' members by inheritance).
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct StopInfo {
    pub(crate) parent: Option<u32>,
    pub(crate) location_type: LocationType,
    pub(crate) timezone: Option<Tz>,
    /// The areas the stop is in, after the stop_areas.txt station rule.
    pub(crate) areas: Vec<u32>,
}

/// One timeframes.txt row of a group: `[start_s, end_s)` on the service's days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeframe {
    pub(crate) start_s: u32,
    pub(crate) end_s: u32,
    pub(crate) service: u32,
}

/// One fare_products.txt row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProductRow {
    pub(crate) product: u32,
    pub(crate) category: Option<u32>,
    pub(crate) media: Option<u32>,
    pub(crate) amount: Amount,
}

/// One fare_leg_rules.txt row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LegRule {
    pub(crate) leg_group: Option<u32>,
    pub(crate) network: Option<u32>,
    pub(crate) from_area: Option<u32>,
    pub(crate) to_area: Option<u32>,
    pub(crate) from_timeframe: Option<u32>,
    pub(crate) to_timeframe: Option<u32>,
    pub(crate) product: u32,
    pub(crate) priority: u32,
}

/// How empty `network_id`, `from_area_id` and `to_area_id` values of
/// fare_leg_rules.txt match, chosen by whether the `rule_priority` column
/// exists (not by whether it has values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyFieldMode {
    /// No `rule_priority` column: an empty value matches every value except
    /// those listed in the same column of another row.
    Exclusion,
    /// A `rule_priority` column: an empty value does not affect matching and
    /// the highest-priority matching rules win.
    Wildcard,
}

/// One fare_leg_join_rules.txt row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JoinRule {
    pub(crate) from_network: u32,
    pub(crate) to_network: u32,
    /// `(from_stop_id, to_stop_id)`: both or neither.
    pub(crate) stops: Option<(u32, u32)>,
}

/// `fare_transfer_rules.transfer_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TransferCount {
    /// At most this many consecutive transfers (≥ 1).
    AtMost(u32),
    /// `-1`, or no value: no limit.
    Unlimited,
}

impl TransferCount {
    pub(crate) fn allows(self, transfers: u32) -> bool {
        match self {
            TransferCount::AtMost(limit) => transfers <= limit,
            TransferCount::Unlimited => true,
        }
    }
}

/// `fare_transfer_rules.duration_limit_type`: which validations of the first
/// and last legs of the transfer sub-journey the limit runs between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DurationLimitType {
    /// 0: departure of the first leg → arrival of the last.
    DepartureToArrival,
    /// 1: departure → departure.
    DepartureToDeparture,
    /// 2: arrival → departure.
    ArrivalToDeparture,
    /// 3: arrival → arrival.
    ArrivalToArrival,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DurationLimit {
    pub(crate) limit_s: u32,
    pub(crate) kind: DurationLimitType,
}

/// `fare_transfer_rules.fare_transfer_type`: how the transfer is costed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FareTransferType {
    /// 0: from-leg fare + transfer product (A + AB).
    FromLegPlusTransfer,
    /// 1: from-leg fare + transfer product + to-leg fare (A + AB + B).
    FromLegPlusTransferPlusToLeg,
    /// 2: transfer product only (AB).
    TransferOnly,
}

/// One fare_transfer_rules.txt row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TransferRule {
    pub(crate) from_group: Option<u32>,
    pub(crate) to_group: Option<u32>,
    pub(crate) transfer_count: TransferCount,
    pub(crate) duration: Option<DurationLimit>,
    pub(crate) transfer_type: FareTransferType,
    pub(crate) product: Option<u32>,
}

/// A GTFS-Fares v2 feed, loaded and checked. Build it with [`Feed::load`].
#[derive(Debug)]
pub struct Feed {
    pub(crate) timezone: Tz,
    pub(crate) stops: Interner,
    pub(crate) stop_info: Vec<StopInfo>,
    pub(crate) routes: Interner,
    pub(crate) route_network: Vec<Option<u32>>,
    pub(crate) networks: Interner,
    pub(crate) areas: Interner,
    pub(crate) services: Vec<Service>,
    /// Timeframes per group index.
    pub(crate) timeframes: Vec<Vec<Timeframe>>,
    pub(crate) rider_categories: Interner,
    pub(crate) category_is_default: Vec<bool>,
    pub(crate) fare_media: Interner,
    pub(crate) products: Interner,
    pub(crate) product_rows: Vec<ProductRow>,
    /// Product row indices per product index.
    pub(crate) rows_of_product: Vec<Vec<u32>>,
    /// Per product index: its position when products are sorted by id, so
    /// answers sort by id without comparing strings.
    pub(crate) product_rank: Vec<u32>,
    /// Per product index: the one default category among its rows' categories.
    pub(crate) product_default_category: Vec<Option<u32>>,
    pub(crate) leg_groups: Interner,
    pub(crate) leg_rules: Vec<LegRule>,
    pub(crate) empty_fields: EmptyFieldMode,
    /// Leg rule indices per network index.
    pub(crate) leg_rules_by_network: FastMap<u32, Vec<u32>>,
    /// Leg rules with an empty `network_id`.
    pub(crate) leg_rules_any_network: Vec<u32>,
    /// Per area index: listed in `fare_leg_rules.from_area_id`.
    pub(crate) listed_from_area: Vec<bool>,
    /// Per area index: listed in `fare_leg_rules.to_area_id`.
    pub(crate) listed_to_area: Vec<bool>,
    pub(crate) join_rules: Vec<JoinRule>,
    pub(crate) transfer_rules: Vec<TransferRule>,
    /// Transfer rule indices per `(from_leg_group_id, to_leg_group_id)` as written.
    pub(crate) transfer_rules_by_groups: FastMap<(Option<u32>, Option<u32>), Vec<u32>>,
    /// Per leg group index: listed in `fare_transfer_rules.from_leg_group_id`.
    pub(crate) listed_from_group: Vec<bool>,
    /// Per leg group index: listed in `fare_transfer_rules.to_leg_group_id`.
    pub(crate) listed_to_group: Vec<bool>,
    pub(crate) warnings: Vec<FeedError>,
}

impl Feed {
    /// The agency timezone, used for timeframes unless a stop has its own.
    #[must_use]
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// How empty fields of fare_leg_rules.txt match (from its header).
    #[must_use]
    pub fn empty_field_mode(&self) -> EmptyFieldMode {
        self.empty_fields
    }

    /// Problems found while loading that do not change fares.
    #[must_use]
    pub fn warnings(&self) -> &[FeedError] {
        &self.warnings
    }

    /// Every `route_id`, in file order.
    pub fn route_ids(&self) -> impl Iterator<Item = &str> {
        self.routes.names()
    }

    /// Every `stop_id`, in file order.
    pub fn stop_ids(&self) -> impl Iterator<Item = &str> {
        self.stops.names()
    }

    /// Every `rider_category_id`, in file order.
    pub fn rider_category_ids(&self) -> impl Iterator<Item = &str> {
        self.rider_categories.names()
    }

    /// The rider category marked `is_default_fare_category = 1`, when
    /// exactly one is.
    #[must_use]
    pub fn default_rider_category(&self) -> Option<&str> {
        let mut defaults = (0_u32..)
            .zip(&self.category_is_default)
            .filter(|(_, is_default)| **is_default);
        match (defaults.next(), defaults.next()) {
            (Some((c, _)), None) => Some(self.rider_categories.name(c)),
            _ => None,
        }
    }

    /// Every `fare_media_id`, in file order.
    pub fn fare_media_ids(&self) -> impl Iterator<Item = &str> {
        self.fare_media.names()
    }

    /// Every `fare_product_id`, in file order.
    pub fn fare_product_ids(&self) -> impl Iterator<Item = &str> {
        self.products.names()
    }

    /// The network of `route_id`, from routes.txt or route_networks.txt.
    #[must_use]
    pub fn route_network(&self, route_id: &str) -> Option<&str> {
        let route = self.routes.get(route_id)?;
        let network = self.route_network.get(ix(route)).copied().flatten()?;
        Some(self.networks.name(network))
    }

    /// The areas `stop_id` is in (after the station rule of stop_areas.txt:
    /// a platform without areas of its own is in its station's areas).
    #[must_use]
    pub fn stop_area_ids(&self, stop_id: &str) -> Vec<&str> {
        self.stops
            .get(stop_id)
            .and_then(|s| self.stop(s))
            .map(|info| info.areas.iter().map(|&a| self.areas.name(a)).collect())
            .unwrap_or_default()
    }

    /// The parent station of `stop_id`, if it has one.
    #[must_use]
    pub fn parent_station(&self, stop_id: &str) -> Option<&str> {
        let stop = self.stops.get(stop_id)?;
        let parent = self.stop_info.get(ix(stop))?.parent?;
        Some(self.stops.name(parent))
    }

    /// The amounts of every fare_products.txt row of `fare_product_id`, with
    /// their rider category and fare media (`None` = any / unknown).
    #[must_use]
    pub fn fare_product_rows(
        &self,
        fare_product_id: &str,
    ) -> Vec<(Option<&str>, Option<&str>, Amount)> {
        let Some(product) = self.products.get(fare_product_id) else {
            return Vec::new();
        };
        self.rows_of_product
            .get(ix(product))
            .map(|rows| {
                rows.iter()
                    .filter_map(|&r| self.product_rows.get(ix(r)))
                    .map(|row| {
                        (
                            row.category.map(|c| self.rider_categories.name(c)),
                            row.media.map(|m| self.fare_media.name(m)),
                            row.amount,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn stop(&self, stop: u32) -> Option<&StopInfo> {
        self.stop_info.get(ix(stop))
    }

    /// The timezone of a stop's validations: its own, its parent station's,
    /// else the agency's (timeframes.txt "Local Time Semantics").
    pub(crate) fn stop_timezone(&self, stop: Option<u32>) -> Tz {
        let Some(info) = stop.and_then(|s| self.stop(s)) else {
            return self.timezone;
        };
        // A stop with a parent station takes the station's timezone.
        let parent_tz = info.parent.and_then(|p| self.stop(p)).map(|p| p.timezone);
        match parent_tz {
            Some(tz) => tz.unwrap_or(self.timezone),
            None => info.timezone.unwrap_or(self.timezone),
        }
    }
}
