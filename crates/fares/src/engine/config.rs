//! OneTicket's extensions file (`oneticket.toml`): its typed model, loader and validator.
//!
//! GTFS-Fares v2 says what a leg costs; it has no words for tap-in/tap-out
//! holds, incomplete journeys, fare caps, passes held as entitlements,
//! bus–metro discounts fixed at entry, or parking. Those rules live in one
//! TOML file beside the GTFS files. Everything the spec calls "OneTicket's
//! defaults" is data here, never code.
//!
//! Loading is two steps: `serde` reads the text into raw structs (unknown
//! keys are errors, so a typo cannot silently drop a rule), then
//! [`Extensions::from_toml`] checks every value and every internal
//! reference and reports **all** problems at once, each as `key.path:
//! reason`. References into the GTFS feed (network, route and stop ids) are
//! checked later, when the engine joins this file with the feed.

use std::collections::BTreeMap;
use std::fmt;

use chrono_tz::Tz;
use ledger::Money;
use serde::Deserialize;

use super::calendar::{SECONDS_PER_HOUR, SECONDS_PER_MIN, ServiceCalendar};

/// The only schema this loader understands; a future incompatible layout bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// Rider categories are interned into a `u8` in the per-account state; 64 is
/// far above any real fare system (HCMC has 3) and keeps the lookup tables small.
pub const MAX_RIDER_CATEGORIES: usize = 64;
/// Stations of one tap-in/tap-out network: the pair table grows with the
/// square, so 256 stations × 256 × categories stays a few MiB at most.
pub const MAX_STATIONS_PER_NETWORK: usize = 256;
/// Passes, lots, tariffs, groups and discount rules: interned into `u16`
/// indices; 4,096 is far beyond a city's catalogue and bounds load time.
pub const MAX_ITEMS_PER_LIST: usize = 4_096;
/// A pass longer than a year is a subscription, not a fare product; the
/// bound also keeps service-day arithmetic far from overflow.
pub const MAX_PASS_VALIDITY_DAYS: u16 = 366;
/// Durations in minutes (windows, grace, thresholds) are capped at a week:
/// no fare rule spans longer, and the bound keeps second arithmetic exact.
pub const MAX_DURATION_MIN: i64 = 7 * 24 * 60;
/// Parking blocks (hours) are capped at a week for the same reason.
pub const MAX_BLOCK_H: i64 = 7 * 24;
/// Any single configured amount: 100 million dong is far above any fare,
/// pass or parking fee, so a larger number is a typo (an extra zero or two).
pub const MAX_AMOUNT_VND: i64 = 100_000_000;
/// Lot capacities are stored in a `u32` counter; a million bays is beyond
/// any real car park and catches typos.
pub const MAX_LOT_CAPACITY: i64 = 1_000_000;

/// One problem in the extensions file: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path, e.g. `tap_in_tap_out[0].entry_hold_vnd`, or the file name
    /// for problems that are not about one key.
    pub path: String,
    /// What is wrong, in words an operator can act on.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Every problem found in a configuration, in the order found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration error(s)", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The raw file, as serde reads it.
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema_version: u32,
    currency: String,
    calendar: RawCalendar,
    rider_categories: BTreeMap<String, RawCategory>,
    #[serde(default)]
    tap_in_tap_out: Vec<RawTapNetwork>,
    #[serde(default)]
    transfer_groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    transfer_discounts: Vec<RawTransferDiscount>,
    #[serde(default)]
    caps: BTreeMap<String, RawCaps>,
    #[serde(default)]
    passes: BTreeMap<String, RawPass>,
    #[serde(default)]
    parking: RawParking,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    timezone: String,
    service_day_start: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    transit: TransitBehaviour,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTapNetwork {
    network_id: String,
    route_id: String,
    stations: Vec<String>,
    entry_hold_vnd: i64,
    same_station_cancel_min: i64,
    same_station_fare_vnd: i64,
    incomplete_after_min: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransferDiscount {
    from: String,
    to: String,
    discount_vnd: i64,
    within_min: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaps {
    daily_vnd: i64,
    monthly_vnd: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPass {
    name: String,
    validity_service_days: i64,
    #[serde(default)]
    covers_networks: Vec<String>,
    #[serde(default)]
    covers_lots: Vec<String>,
    price_vnd: BTreeMap<String, i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParking {
    #[serde(default)]
    vehicle_classes: BTreeMap<String, RawVehicleClass>,
    #[serde(default)]
    tariffs: BTreeMap<String, RawTariff>,
    #[serde(default)]
    lots: Vec<RawLot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVehicleClass {
    entry_min_balance_vnd: i64,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawTariff {
    PerStartedBlock {
        block_h: i64,
        block_vnd: i64,
        park_and_ride_block_vnd: Option<i64>,
        grace_min: i64,
        lost_ticket_vnd: i64,
    },
    HourlyWithBlockMax {
        hour_vnd: i64,
        max_block_h: i64,
        max_per_block_vnd: i64,
        grace_min: i64,
        lost_ticket_vnd: i64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLot {
    id: String,
    name: String,
    operator_id: String,
    vehicle_class: String,
    capacity: i64,
    linked_station: Option<String>,
    tariff: String,
}

// ---------------------------------------------------------------------------
// The validated model.
// ---------------------------------------------------------------------------

/// How a rider category rides transit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitBehaviour {
    /// Pays the feed's fare for the category (discounted, capped, covered by passes).
    Fares,
    /// Rides for 0 VND, and no hold is placed at a tap in.
    Exempt,
}

/// A rider category and its transit rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryRule {
    /// The GTFS `rider_category_id`.
    pub id: String,
    /// Fares or exempt.
    pub transit: TransitBehaviour,
    /// Daily and monthly caps; `None` means uncapped.
    pub caps: Option<Caps>,
}

/// Fare caps of one rider category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Most a rider pays for transit in one service day.
    pub daily: Money,
    /// Most a rider pays for transit in one service month.
    pub monthly: Money,
}

/// A tap-in/tap-out network (HCMC: Metro Line 1) and its trip rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapNetwork {
    /// The GTFS `network_id` of the network.
    pub network_id: String,
    /// The GTFS `route_id` whose leg rules price a trip between two stations.
    pub route_id: String,
    /// GTFS `stop_id`s of the stations, in line order.
    pub stations: Vec<String>,
    /// Placed at a tap in; also the incomplete-journey charge (the maximum fare).
    pub entry_hold: Money,
    /// An exit at the entry station within this many seconds is a cancelled trip.
    pub same_station_cancel_s: i64,
    /// The fare of a later exit at the entry station (a completed trip).
    pub same_station_fare: Money,
    /// A trip still open after this many seconds is incomplete.
    pub incomplete_after_s: i64,
}

/// A named set of GTFS networks that transfer discounts refer to (`bus`, `metro`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferGroup {
    /// The group's name.
    pub id: String,
    /// GTFS `network_id`s in the group; a network is in at most one group.
    pub network_ids: Vec<String>,
}

/// A directional transfer discount between two groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferDiscount {
    /// The group of the earlier (giving) leg.
    pub from_group: String,
    /// The group of the later (receiving) leg.
    pub to_group: String,
    /// Taken off the receiving leg's fare before caps, never below 0.
    pub discount: Money,
    /// The receiving leg's boarding or entry is at most this many seconds
    /// after the giving leg's boarding (bus) or exit (metro).
    pub within_s: i64,
}

/// A pass bought from the wallet and held as an entitlement: a transit
/// pass (it covers networks), a parking permit (it covers lots), or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassProduct {
    /// Product id (`metro_day`).
    pub id: String,
    /// Human-readable name for receipts.
    pub name: String,
    /// Valid on this many service days, starting with the day of purchase.
    pub validity_days: u16,
    /// GTFS `network_id`s whose legs (by boarding or entry day) it covers.
    pub covers_networks: Vec<String>,
    /// Parking lot ids whose stays it covers for the time of the stay that
    /// falls within its validity (a parking permit).
    pub covers_lots: Vec<String>,
    /// The price for each rider category (every category has one).
    pub price_by_category: BTreeMap<String, Money>,
}

/// A vehicle class at parking gates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VehicleClass {
    /// Class id (`motorbike`, `car`).
    pub id: String,
    /// An entry is denied when the balance is below this amount.
    pub entry_min_balance: Money,
}

/// How a parking fee is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TariffKind {
    /// `block` per started block of `block_s`; `park_and_ride_block` instead
    /// when the stay earned park and ride.
    PerStartedBlock {
        /// Length of one block, in seconds.
        block_s: i64,
        /// Price of one started block.
        block: Money,
        /// Price of one started block with park and ride, if the tariff offers it.
        park_and_ride_block: Option<Money>,
    },
    /// `hour` per started hour, at most `max_per_block` per started block of `max_block_s`.
    HourlyWithBlockMax {
        /// Price of one started hour.
        hour: Money,
        /// Length of the capped block (24 h), in seconds.
        max_block_s: i64,
        /// Most charged for one block.
        max_per_block: Money,
    },
}

/// A parking tariff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tariff {
    /// Tariff id (`metro_motorbike`).
    pub id: String,
    /// The fee rule.
    pub kind: TariffKind,
    /// A stay of at most this many seconds costs 0.
    pub grace_s: i64,
    /// Added to the stay's fee when an operator closes the stay of a rider
    /// who lost the medium (a lost ticket).
    pub lost_ticket: Money,
}

/// A parking lot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lot {
    /// Lot id (`BTH-P`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The operator whose revenue account receives the fees.
    pub operator_id: String,
    /// The vehicle class the lot takes.
    pub vehicle_class: String,
    /// Bays; entries are denied at this occupancy.
    pub capacity: u32,
    /// A metro station whose tap in during the stay earns park and ride.
    pub linked_station: Option<String>,
    /// The tariff id.
    pub tariff: String,
}

/// The parking part of the extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parking {
    /// Vehicle classes, sorted by id.
    pub vehicle_classes: Vec<VehicleClass>,
    /// Tariffs, sorted by id.
    pub tariffs: Vec<Tariff>,
    /// Lots, sorted by id.
    pub lots: Vec<Lot>,
}

/// The validated extensions file. Lists are sorted by id so that interned
/// indices are stable for a given set of ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions {
    /// Time zone and service-day start.
    pub calendar: ServiceCalendar,
    /// Rider categories, sorted by id.
    pub categories: Vec<CategoryRule>,
    /// Tap-in/tap-out networks, sorted by network id.
    pub tap_networks: Vec<TapNetwork>,
    /// Transfer groups, sorted by id.
    pub transfer_groups: Vec<TransferGroup>,
    /// Transfer discounts, in file order (each ordered pair at most once).
    pub transfer_discounts: Vec<TransferDiscount>,
    /// Passes, sorted by id.
    pub passes: Vec<PassProduct>,
    /// Parking.
    pub parking: Parking,
}

/// Collects errors while walking the raw file.
struct Checker {
    errors: Vec<ConfigError>,
}

impl Checker {
    fn error(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError::new(path, reason));
    }

    /// An amount in `[min, MAX_AMOUNT_VND]`.
    fn amount(&mut self, path: &str, value: i64, min: i64) -> Money {
        if value < min || value > MAX_AMOUNT_VND {
            self.error(
                path,
                format!("must be a whole number of VND in {min}..={MAX_AMOUNT_VND}, got {value}"),
            );
        }
        Money::vnd(value)
    }

    /// Minutes in `[min, MAX_DURATION_MIN]`, returned as seconds.
    fn minutes(&mut self, path: &str, value: i64, min: i64) -> i64 {
        if value < min || value > MAX_DURATION_MIN {
            self.error(
                path,
                format!("must be minutes in {min}..={MAX_DURATION_MIN}, got {value}"),
            );
            return 0;
        }
        value * SECONDS_PER_MIN
    }

    /// Hours in `[1, MAX_BLOCK_H]`, returned as seconds.
    fn hours(&mut self, path: &str, value: i64) -> i64 {
        if !(1..=MAX_BLOCK_H).contains(&value) {
            self.error(
                path,
                format!("must be hours in 1..={MAX_BLOCK_H}, got {value}"),
            );
            return SECONDS_PER_HOUR;
        }
        value * SECONDS_PER_HOUR
    }

    /// An id: non-empty, no surrounding spaces.
    fn id(&mut self, path: &str, id: &str) {
        if id.is_empty() || id.trim() != id {
            self.error(
                path,
                format!("`{id}` is not a valid id (empty or padded with spaces)"),
            );
        }
    }

    fn list_len(&mut self, path: &str, len: usize, max: usize) {
        if len > max {
            self.error(
                path,
                format!("has {len} entries, more than the limit {max}"),
            );
        }
    }
}

/// `HH:MM` → seconds after midnight.
fn parse_hh_mm(text: &str) -> Option<i64> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i64 = hours.parse().ok()?;
    let minutes: i64 = minutes.parse().ok()?;
    ((0..24).contains(&hours) && (0..60).contains(&minutes))
        .then_some(hours * SECONDS_PER_HOUR + minutes * SECONDS_PER_MIN)
}

impl Extensions {
    /// Reads and validates `oneticket.toml`. `file_name` prefixes syntax errors.
    ///
    /// # Errors
    /// Every problem found: TOML syntax, unknown or missing keys, values out
    /// of range, dangling references between sections.
    pub fn from_toml(file_name: &str, text: &str) -> Result<Extensions, ConfigErrors> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError::new(
                file_name,
                e.to_string().trim_end().replace('\n', " "),
            )])
        })?;
        let mut c = Checker { errors: Vec::new() };
        let extensions = validate(&mut c, raw);
        if c.errors.is_empty() {
            Ok(extensions)
        } else {
            Err(ConfigErrors(c.errors))
        }
    }

    /// The category rule with `id`.
    #[must_use]
    pub fn category(&self, id: &str) -> Option<&CategoryRule> {
        self.categories.iter().find(|c| c.id == id)
    }
}

#[allow(clippy::too_many_lines)] // One linear walk over the file reads better than many fragments.
fn validate(c: &mut Checker, raw: RawFile) -> Extensions {
    if raw.schema_version != SCHEMA_VERSION {
        c.error(
            "schema_version",
            format!(
                "this engine reads schema {SCHEMA_VERSION}, the file says {}",
                raw.schema_version
            ),
        );
    }
    if raw.currency != "VND" {
        c.error(
            "currency",
            format!(
                "amounts are whole dong; only `VND` is supported, got `{}`",
                raw.currency
            ),
        );
    }

    let timezone = raw.calendar.timezone.parse::<Tz>().unwrap_or_else(|_| {
        c.error(
            "calendar.timezone",
            format!("`{}` is not an IANA time zone", raw.calendar.timezone),
        );
        Tz::UTC
    });
    let day_start_s = parse_hh_mm(&raw.calendar.service_day_start).unwrap_or_else(|| {
        c.error(
            "calendar.service_day_start",
            format!(
                "`{}` is not a local time HH:MM",
                raw.calendar.service_day_start
            ),
        );
        0
    });
    let calendar = ServiceCalendar::new(timezone, day_start_s)
        .expect("parse_hh_mm returns a time of day below 24:00");

    // Rider categories and their caps.
    c.list_len(
        "rider_categories",
        raw.rider_categories.len(),
        MAX_RIDER_CATEGORIES,
    );
    if raw.rider_categories.is_empty() {
        c.error("rider_categories", "at least one rider category is needed");
    }
    for id in raw.caps.keys() {
        if !raw.rider_categories.contains_key(id) {
            c.error(format!("caps.{id}"), "no rider category with this id");
        }
    }
    let mut categories = Vec::new();
    for (id, category) in &raw.rider_categories {
        c.id(&format!("rider_categories.{id}"), id);
        let caps = raw.caps.get(id).map(|caps| {
            let path = format!("caps.{id}");
            let daily = c.amount(&format!("{path}.daily_vnd"), caps.daily_vnd, 0);
            let monthly = c.amount(&format!("{path}.monthly_vnd"), caps.monthly_vnd, 0);
            if category.transit == TransitBehaviour::Exempt {
                c.error(&path, "an exempt category pays nothing and needs no cap");
            }
            Caps { daily, monthly }
        });
        categories.push(CategoryRule {
            id: id.clone(),
            transit: category.transit,
            caps,
        });
    }

    // Tap-in/tap-out networks.
    c.list_len(
        "tap_in_tap_out",
        raw.tap_in_tap_out.len(),
        MAX_ITEMS_PER_LIST,
    );
    let mut tap_networks = Vec::new();
    let mut station_owner: BTreeMap<String, String> = BTreeMap::new();
    for (i, net) in raw.tap_in_tap_out.into_iter().enumerate() {
        let path = format!("tap_in_tap_out[{i}]");
        c.id(&format!("{path}.network_id"), &net.network_id);
        c.id(&format!("{path}.route_id"), &net.route_id);
        if net.stations.len() < 2 {
            c.error(
                format!("{path}.stations"),
                "a tap-in/tap-out network needs at least 2 stations",
            );
        }
        c.list_len(
            &format!("{path}.stations"),
            net.stations.len(),
            MAX_STATIONS_PER_NETWORK,
        );
        for (j, station) in net.stations.iter().enumerate() {
            c.id(&format!("{path}.stations[{j}]"), station);
            if let Some(other) = station_owner.insert(station.clone(), net.network_id.clone()) {
                c.error(
                    format!("{path}.stations[{j}]"),
                    format!("station `{station}` is already listed (network `{other}`); a tap in must name one network"),
                );
            }
        }
        let entry_hold = c.amount(&format!("{path}.entry_hold_vnd"), net.entry_hold_vnd, 0);
        let same_station_fare = c.amount(
            &format!("{path}.same_station_fare_vnd"),
            net.same_station_fare_vnd,
            0,
        );
        if same_station_fare > entry_hold {
            c.error(
                format!("{path}.same_station_fare_vnd"),
                "must not exceed entry_hold_vnd: the hold must cover every fare",
            );
        }
        let same_station_cancel_s = c.minutes(
            &format!("{path}.same_station_cancel_min"),
            net.same_station_cancel_min,
            0,
        );
        let incomplete_after_s = c.minutes(
            &format!("{path}.incomplete_after_min"),
            net.incomplete_after_min,
            1,
        );
        if tap_networks
            .iter()
            .any(|t: &TapNetwork| t.network_id == net.network_id)
        {
            c.error(
                format!("{path}.network_id"),
                format!("network `{}` is listed twice", net.network_id),
            );
        }
        tap_networks.push(TapNetwork {
            network_id: net.network_id,
            route_id: net.route_id,
            stations: net.stations,
            entry_hold,
            same_station_cancel_s,
            same_station_fare,
            incomplete_after_s,
        });
    }
    tap_networks.sort_by(|a, b| a.network_id.cmp(&b.network_id));

    // Transfer groups and discounts.
    c.list_len(
        "transfer_groups",
        raw.transfer_groups.len(),
        MAX_ITEMS_PER_LIST,
    );
    let mut network_group: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, networks) in &raw.transfer_groups {
        c.id(&format!("transfer_groups.{id}"), id);
        if networks.is_empty() {
            c.error(
                format!("transfer_groups.{id}"),
                "a group needs at least one network",
            );
        }
        for (j, network) in networks.iter().enumerate() {
            if let Some(other) = network_group.insert(network, id) {
                c.error(
                    format!("transfer_groups.{id}[{j}]"),
                    format!("network `{network}` is already in group `{other}`"),
                );
            }
        }
    }
    let transfer_groups: Vec<TransferGroup> = raw
        .transfer_groups
        .into_iter()
        .map(|(id, network_ids)| TransferGroup { id, network_ids })
        .collect();

    c.list_len(
        "transfer_discounts",
        raw.transfer_discounts.len(),
        MAX_ITEMS_PER_LIST,
    );
    let mut transfer_discounts: Vec<TransferDiscount> = Vec::new();
    for (i, rule) in raw.transfer_discounts.into_iter().enumerate() {
        let path = format!("transfer_discounts[{i}]");
        for (key, group) in [("from", &rule.from), ("to", &rule.to)] {
            if !transfer_groups.iter().any(|g| &g.id == group) {
                c.error(
                    format!("{path}.{key}"),
                    format!("no transfer group `{group}`"),
                );
            }
        }
        if rule.from == rule.to {
            c.error(
                &path,
                "a discount within one group is not a transfer between modes",
            );
        }
        if transfer_discounts
            .iter()
            .any(|d| d.from_group == rule.from && d.to_group == rule.to)
        {
            c.error(
                &path,
                format!(
                    "`{}` → `{}` is listed twice; a leg gets at most one discount",
                    rule.from, rule.to
                ),
            );
        }
        let discount = c.amount(&format!("{path}.discount_vnd"), rule.discount_vnd, 0);
        let within_s = c.minutes(&format!("{path}.within_min"), rule.within_min, 0);
        transfer_discounts.push(TransferDiscount {
            from_group: rule.from,
            to_group: rule.to,
            discount,
            within_s,
        });
    }

    // Passes.
    c.list_len("passes", raw.passes.len(), MAX_ITEMS_PER_LIST);
    let mut passes = Vec::new();
    for (id, pass) in raw.passes {
        let path = format!("passes.{id}");
        c.id(&path, &id);
        let validity_days = match u16::try_from(pass.validity_service_days) {
            Ok(days) if (1..=MAX_PASS_VALIDITY_DAYS).contains(&days) => days,
            _ => {
                c.error(
                    format!("{path}.validity_service_days"),
                    format!(
                        "must be service days in 1..={MAX_PASS_VALIDITY_DAYS}, got {}",
                        pass.validity_service_days
                    ),
                );
                1
            }
        };
        if pass.covers_networks.is_empty() && pass.covers_lots.is_empty() {
            c.error(
                format!("{path}.covers_networks"),
                "a pass must cover at least one network or lot (covers_lots)",
            );
        }
        c.list_len(
            &format!("{path}.covers_lots"),
            pass.covers_lots.len(),
            MAX_ITEMS_PER_LIST,
        );
        let mut price_by_category = BTreeMap::new();
        for (category, price) in &pass.price_vnd {
            if !categories.iter().any(|r| &r.id == category) {
                c.error(
                    format!("{path}.price_vnd.{category}"),
                    "no rider category with this id",
                );
            }
            let price = c.amount(&format!("{path}.price_vnd.{category}"), *price, 0);
            price_by_category.insert(category.clone(), price);
        }
        for category in &categories {
            if !price_by_category.contains_key(&category.id) {
                c.error(
                    format!("{path}.price_vnd"),
                    format!("missing a price for rider category `{}`", category.id),
                );
            }
        }
        passes.push(PassProduct {
            id,
            name: pass.name,
            validity_days,
            covers_networks: pass.covers_networks,
            covers_lots: pass.covers_lots,
            price_by_category,
        });
    }

    let parking = validate_parking(c, raw.parking, &station_owner);
    for pass in &passes {
        for (j, lot) in pass.covers_lots.iter().enumerate() {
            if !parking.lots.iter().any(|l| &l.id == lot) {
                c.error(
                    format!("passes.{}.covers_lots[{j}]", pass.id),
                    format!("no lot `{lot}` in parking.lots"),
                );
            }
            if pass
                .covers_lots
                .get(..j)
                .is_some_and(|seen| seen.contains(lot))
            {
                c.error(
                    format!("passes.{}.covers_lots[{j}]", pass.id),
                    format!("lot `{lot}` is listed twice"),
                );
            }
        }
    }

    Extensions {
        calendar,
        categories,
        tap_networks,
        transfer_groups,
        transfer_discounts,
        passes,
        parking,
    }
}

fn validate_parking(
    c: &mut Checker,
    raw: RawParking,
    station_owner: &BTreeMap<String, String>,
) -> Parking {
    c.list_len(
        "parking.vehicle_classes",
        raw.vehicle_classes.len(),
        MAX_ITEMS_PER_LIST,
    );
    c.list_len("parking.tariffs", raw.tariffs.len(), MAX_ITEMS_PER_LIST);
    c.list_len("parking.lots", raw.lots.len(), MAX_ITEMS_PER_LIST);

    let vehicle_classes: Vec<VehicleClass> = raw
        .vehicle_classes
        .into_iter()
        .map(|(id, class)| {
            let path = format!("parking.vehicle_classes.{id}");
            c.id(&path, &id);
            let entry_min_balance = c.amount(
                &format!("{path}.entry_min_balance_vnd"),
                class.entry_min_balance_vnd,
                0,
            );
            VehicleClass {
                id,
                entry_min_balance,
            }
        })
        .collect();

    let tariffs: Vec<Tariff> = raw
        .tariffs
        .into_iter()
        .map(|(id, tariff)| {
            let path = format!("parking.tariffs.{id}");
            c.id(&path, &id);
            let (kind, grace_min, lost_ticket_vnd) = match tariff {
                RawTariff::PerStartedBlock {
                    block_h,
                    block_vnd,
                    park_and_ride_block_vnd,
                    grace_min,
                    lost_ticket_vnd,
                } => {
                    let block = c.amount(&format!("{path}.block_vnd"), block_vnd, 0);
                    let park_and_ride_block = park_and_ride_block_vnd.map(|v| {
                        let p = c.amount(&format!("{path}.park_and_ride_block_vnd"), v, 0);
                        if p > block {
                            c.error(
                                format!("{path}.park_and_ride_block_vnd"),
                                "a park-and-ride price above the normal price is no discount",
                            );
                        }
                        p
                    });
                    let kind = TariffKind::PerStartedBlock {
                        block_s: c.hours(&format!("{path}.block_h"), block_h),
                        block,
                        park_and_ride_block,
                    };
                    (kind, grace_min, lost_ticket_vnd)
                }
                RawTariff::HourlyWithBlockMax {
                    hour_vnd,
                    max_block_h,
                    max_per_block_vnd,
                    grace_min,
                    lost_ticket_vnd,
                } => {
                    let kind = TariffKind::HourlyWithBlockMax {
                        hour: c.amount(&format!("{path}.hour_vnd"), hour_vnd, 0),
                        max_block_s: c.hours(&format!("{path}.max_block_h"), max_block_h),
                        max_per_block: c.amount(
                            &format!("{path}.max_per_block_vnd"),
                            max_per_block_vnd,
                            0,
                        ),
                    };
                    (kind, grace_min, lost_ticket_vnd)
                }
            };
            let grace_s = c.minutes(&format!("{path}.grace_min"), grace_min, 0);
            let lost_ticket = c.amount(&format!("{path}.lost_ticket_vnd"), lost_ticket_vnd, 0);
            Tariff {
                id,
                kind,
                grace_s,
                lost_ticket,
            }
        })
        .collect();

    let mut lots: Vec<Lot> = Vec::new();
    for (i, lot) in raw.lots.into_iter().enumerate() {
        let path = format!("parking.lots[{i}]");
        c.id(&format!("{path}.id"), &lot.id);
        c.id(&format!("{path}.operator_id"), &lot.operator_id);
        if lots.iter().any(|l| l.id == lot.id) {
            c.error(
                format!("{path}.id"),
                format!("lot `{}` is listed twice", lot.id),
            );
        }
        if !vehicle_classes.iter().any(|v| v.id == lot.vehicle_class) {
            c.error(
                format!("{path}.vehicle_class"),
                format!(
                    "no vehicle class `{}` in parking.vehicle_classes",
                    lot.vehicle_class
                ),
            );
        }
        if !tariffs.iter().any(|t| t.id == lot.tariff) {
            c.error(
                format!("{path}.tariff"),
                format!("no tariff `{}` in parking.tariffs", lot.tariff),
            );
        }
        if let Some(station) = &lot.linked_station
            && !station_owner.contains_key(station)
        {
            c.error(
                format!("{path}.linked_station"),
                format!("`{station}` is not a station of any tap_in_tap_out network"),
            );
        }
        let capacity = match u32::try_from(lot.capacity) {
            Ok(cap) if lot.capacity >= 1 && lot.capacity <= MAX_LOT_CAPACITY => cap,
            _ => {
                c.error(
                    format!("{path}.capacity"),
                    format!(
                        "must be bays in 1..={MAX_LOT_CAPACITY}, got {}",
                        lot.capacity
                    ),
                );
                0
            }
        };
        lots.push(Lot {
            id: lot.id,
            name: lot.name,
            operator_id: lot.operator_id,
            vehicle_class: lot.vehicle_class,
            capacity,
            linked_station: lot.linked_station,
            tariff: lot.tariff,
        });
    }
    lots.sort_by(|a, b| a.id.cmp(&b.id));

    Parking {
        vehicle_classes,
        tariffs,
        lots,
    }
}
