//! Builds the engine from a configuration directory's text: the GTFS-Fares
//! v2 feed (through [`crate::gtfs::Feed`]) plus `oneticket.toml`.
//!
//! The engine does not read GTFS itself: it asks the feed what each leg
//! costs (`Feed::leg_fares`) for every single-tap route × rider category
//! and every ordered station pair × category of the tap-in/tap-out
//! networks, and keeps the answers in a [`LegFareTable`]. So the engine
//! charges exactly what a trip planner reading the same feed quotes.
//!
//! **Boundary:** compiled fares do not depend on the time of day. The
//! compiler asks at two reference times (night and noon) and refuses a
//! feed whose answers differ, rather than silently freezing one of them.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use ledger::Money;

use super::compiled::Engine;
use super::config::{ConfigError, ConfigErrors, Extensions};
use super::tables::LegFareTable;
use crate::gtfs::{Feed, LegQuery, LegQueryError};

/// The extensions file's name in a configuration directory.
pub const EXTENSIONS_FILE: &str = "oneticket.toml";
/// routes.txt: read here only for `agency_id` (the operator of a route),
/// which the feed model does not expose.
const ROUTES_FILE: &str = "routes.txt";

/// Local times of day (hour) at which fares are compiled and compared:
/// 03:00 is outside any peak and inside the previous service day, 12:00 is
/// mid-service; a time-of-day fare shows up as a difference between them.
const REFERENCE_HOURS: [u32; 2] = [3, 12];
/// The reference date (any ordinary weekday works; calendars are not used
/// by time-independent fares).
const REFERENCE_DATE: (i32, u32, u32) = (2026, 1, 7);

impl Engine {
    /// Loads a configuration from its files' text (file name → contents):
    /// the GTFS files and `oneticket.toml`.
    ///
    /// # Errors
    /// Every problem found in the feed, in the extensions, or in joining them.
    pub fn from_files(files: &BTreeMap<String, String>) -> Result<Engine, ConfigErrors> {
        let Some(toml_text) = files.get(EXTENSIONS_FILE) else {
            return Err(ConfigErrors(vec![ConfigError::new(
                EXTENSIONS_FILE,
                "missing: the configuration needs its OneTicket extensions file",
            )]));
        };
        let feed = Feed::load(files);
        let ext = Extensions::from_toml(EXTENSIONS_FILE, toml_text);
        let (feed, ext) = match (feed, ext) {
            (Ok(feed), Ok(ext)) => (feed, ext),
            (feed, ext) => {
                let mut errors = Vec::new();
                if let Err(e) = feed {
                    errors.extend(
                        e.errors
                            .iter()
                            .map(|f| ConfigError::new(f.file, f.to_string())),
                    );
                }
                if let Err(e) = ext {
                    errors.extend(e.0);
                }
                return Err(ConfigErrors(errors));
            }
        };
        let routes_text = files.get(ROUTES_FILE).map_or("", String::as_str);
        let table = leg_fares_from_feed(&feed, &ext, routes_text)?;
        Engine::new(ext, &table)
    }
}

/// `route_id` → `agency_id` from routes.txt; a route without `agency_id`
/// (allowed in a single-agency feed) maps to `""`.
fn route_agencies(routes_text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let bad = |e: csv::Error| ConfigError::new(ROUTES_FILE, format!("unreadable: {e}"));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(routes_text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().map_err(bad)?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let route_col = column("route_id");
    let agency_col = column("agency_id");
    let mut agencies = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(bad)?;
        let Some(route) = route_col.and_then(|c| record.get(c)) else {
            continue;
        };
        let agency = agency_col.and_then(|c| record.get(c)).unwrap_or("");
        agencies.insert(route.trim().to_owned(), agency.trim().to_owned());
    }
    Ok(agencies)
}

/// The reference instants in the feed's time zone.
fn reference_times(feed: &Feed) -> Vec<DateTime<FixedOffset>> {
    let (y, m, d) = REFERENCE_DATE;
    REFERENCE_HOURS
        .iter()
        .filter_map(|&h| {
            let naive = NaiveDate::from_ymd_opt(y, m, d)?.and_hms_opt(h, 0, 0)?;
            let local = feed.timezone().from_local_datetime(&naive).earliest()?;
            Some(local.fixed_offset())
        })
        .collect()
}

/// What one leg query resolved to.
enum LegFare {
    Fare(Money, String),
    Missing,
    Error(ConfigError),
}

/// The cheapest VND fare of a leg, the same at every reference time.
fn leg_fare(feed: &Feed, times: &[DateTime<FixedOffset>], query: LegQuery<'_>) -> LegFare {
    let describe = || {
        format!(
            "route `{}`{}{} for rider category `{}`",
            query.route_id,
            query
                .from_stop_id
                .map(|s| format!(" from `{s}`"))
                .unwrap_or_default(),
            query
                .to_stop_id
                .map(|s| format!(" to `{s}`"))
                .unwrap_or_default(),
            query.rider_category.unwrap_or("(default)"),
        )
    };
    let mut seen: Option<Option<(Money, String)>> = None;
    for &at in times {
        let q = LegQuery {
            departure: at,
            arrival: at,
            ..query
        };
        let fare = match feed.leg_fares(&q) {
            Ok(Some(products)) => {
                let mut cheapest: Option<(Money, String)> = None;
                for product in products {
                    let Some(money) = product.amount.to_money() else {
                        return LegFare::Error(ConfigError::new(
                            "fare_products.txt",
                            format!(
                                "product `{}` is not in VND; OneTicket charges whole dong",
                                product.fare_product_id.as_str()
                            ),
                        ));
                    };
                    let id = product.fare_product_id.as_str();
                    // Cheapest first; equal prices resolved by product id, so the choice is stable.
                    if cheapest
                        .as_ref()
                        .is_none_or(|(c, cid)| (money, id) < (*c, cid.as_str()))
                    {
                        cheapest = Some((money, id.to_owned()));
                    }
                }
                cheapest
            }
            Ok(None) => None,
            Err(e) => {
                let error = match e {
                    LegQueryError::UnknownStop(stop) => ConfigError::new(
                        "tap_in_tap_out.stations",
                        format!("station `{stop}` is not in stops.txt"),
                    ),
                    LegQueryError::UnknownRiderCategory(category) => ConfigError::new(
                        format!("rider_categories.{category}"),
                        "not in rider_categories.txt",
                    ),
                    LegQueryError::UnknownRoute(route) => ConfigError::new(
                        "tap_in_tap_out.route_id",
                        format!("route `{route}` is not in routes.txt"),
                    ),
                    other => {
                        ConfigError::new("fare_leg_rules.txt", format!("{}: {other}", describe()))
                    }
                };
                return LegFare::Error(error);
            }
        };
        match seen {
            Some(previous) if previous != fare => {
                return LegFare::Error(ConfigError::new(
                    "fare_leg_rules.txt",
                    format!(
                        "{}: the fare depends on the time of day, which the engine does not support",
                        describe()
                    ),
                ));
            }
            _ => seen = Some(fare),
        }
    }
    match seen.flatten() {
        Some((fare, product)) => LegFare::Fare(fare, product),
        None => LegFare::Missing,
    }
}

/// Keeps a fare, or the error; a missing fare is reported by `Engine::new`,
/// which checks that every tap has a price.
fn record(errors: &mut Vec<ConfigError>, fare: LegFare, set: impl FnOnce(Money, &str)) {
    match fare {
        LegFare::Fare(fare, product) => set(fare, &product),
        LegFare::Missing => {}
        LegFare::Error(e) => errors.push(e),
    }
}

/// Asks the feed for every leg fare the engine needs.
fn leg_fares_from_feed(
    feed: &Feed,
    ext: &Extensions,
    routes_text: &str,
) -> Result<LegFareTable, ConfigErrors> {
    let mut errors = Vec::new();
    let agencies = route_agencies(routes_text).map_err(|e| ConfigErrors(vec![e]))?;
    let times = reference_times(feed);
    let mut table = LegFareTable::new();
    for route_id in feed.route_ids() {
        let Some(network_id) = feed.route_network(route_id) else {
            errors.push(ConfigError::new(
                ROUTES_FILE,
                format!("route `{route_id}` has no network; OneTicket groups transfers and passes by network"),
            ));
            continue;
        };
        let operator = agencies.get(route_id).map_or("", String::as_str);
        table.add_route(route_id, network_id, operator);
        let tap = ext.tap_networks.iter().find(|t| t.route_id == route_id);
        if tap.is_none() && ext.tap_networks.iter().any(|t| t.network_id == network_id) {
            continue;
        }
        for category in &ext.categories {
            let base = LegQuery {
                route_id,
                from_stop_id: None,
                to_stop_id: None,
                departure: DateTime::UNIX_EPOCH.fixed_offset(),
                arrival: DateTime::UNIX_EPOCH.fixed_offset(),
                rider_category: Some(&category.id),
                fare_media: None,
            };
            match tap {
                None => {
                    let fare = leg_fare(feed, &times, base);
                    record(&mut errors, fare, |f, product| {
                        table.set_route_fare(route_id, &category.id, f);
                        table.set_route_product(route_id, &category.id, product);
                    });
                }
                Some(tap) => {
                    for from in &tap.stations {
                        for to in tap.stations.iter().filter(|to| *to != from) {
                            let query = LegQuery {
                                from_stop_id: Some(from),
                                to_stop_id: Some(to),
                                ..base
                            };
                            let fare = leg_fare(feed, &times, query);
                            record(&mut errors, fare, |f, product| {
                                table.set_pair_fare(from, to, &category.id, f);
                                table.set_pair_product(from, to, &category.id, product);
                            });
                        }
                    }
                }
            }
        }
    }
    // One unknown station or category repeats for every pair: report it once.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.to_string()));
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(ConfigErrors(errors))
    }
}
