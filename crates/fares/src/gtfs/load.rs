//! The feed reader and validator: [`Feed::load`] turns the text of the GTFS
//! files into a checked [`Feed`] or the complete list of what is wrong.
//!
//! Every file is read even after errors, and every row even after a bad
//! field, so one run reports all the problems of a feed. Ids are collected
//! before fields are checked so that one bad row does not cascade into
//! spurious foreign-key errors elsewhere.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono_tz::Tz;

use super::currency::{Amount, Currency};
use super::error::{FeedErrorCode as Code, FeedErrors, Sink};
use super::ids::{FastMap, Interner, ix};
use super::model::{
    DurationLimit, DurationLimitType, EmptyFieldMode, FareTransferType, Feed, JoinRule, LegRule,
    LocationType, ProductRow, StopInfo, Timeframe, TransferCount, TransferRule,
};
use super::table::{Rec, Table};
use super::time::{Exception, SECONDS_PER_DAY, Service, WeeklyPattern};

/// The GTFS file names this reader uses.
pub mod files {
    /// agency.txt (required: the timezone).
    pub const AGENCY: &str = "agency.txt";
    /// stops.txt (required: areas and timezones of stops).
    pub const STOPS: &str = "stops.txt";
    /// routes.txt (required: the route of a leg and its network).
    pub const ROUTES: &str = "routes.txt";
    /// calendar.txt.
    pub const CALENDAR: &str = "calendar.txt";
    /// calendar_dates.txt.
    pub const CALENDAR_DATES: &str = "calendar_dates.txt";
    /// networks.txt.
    pub const NETWORKS: &str = "networks.txt";
    /// route_networks.txt.
    pub const ROUTE_NETWORKS: &str = "route_networks.txt";
    /// areas.txt.
    pub const AREAS: &str = "areas.txt";
    /// stop_areas.txt.
    pub const STOP_AREAS: &str = "stop_areas.txt";
    /// timeframes.txt.
    pub const TIMEFRAMES: &str = "timeframes.txt";
    /// rider_categories.txt.
    pub const RIDER_CATEGORIES: &str = "rider_categories.txt";
    /// fare_media.txt.
    pub const FARE_MEDIA: &str = "fare_media.txt";
    /// fare_products.txt.
    pub const FARE_PRODUCTS: &str = "fare_products.txt";
    /// fare_leg_rules.txt.
    pub const FARE_LEG_RULES: &str = "fare_leg_rules.txt";
    /// fare_leg_join_rules.txt.
    pub const FARE_LEG_JOIN_RULES: &str = "fare_leg_join_rules.txt";
    /// fare_transfer_rules.txt.
    pub const FARE_TRANSFER_RULES: &str = "fare_transfer_rules.txt";
}
use files::*;

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Feed {
    /// Loads a feed from the text of its files, keyed by file name
    /// (`"fare_products.txt"` → contents). Absent optional files are absent
    /// keys; files this reader does not use are ignored.
    ///
    /// Returns every error found (each with file, line and field), or the
    /// feed; warnings of an accepted feed are in [`Feed::warnings`].
    pub fn load(files: &BTreeMap<String, String>) -> Result<Feed, FeedErrors> {
        let mut loader = Loader {
            files,
            sink: Sink::default(),
        };
        let feed = loader.load();
        let Loader { sink, .. } = loader;
        if sink.errors.is_empty() {
            let mut feed = feed;
            feed.warnings = sink.warnings;
            Ok(feed)
        } else {
            Err(FeedErrors {
                errors: sink.errors,
                warnings: sink.warnings,
            })
        }
    }
}

struct Loader<'f> {
    files: &'f BTreeMap<String, String>,
    sink: Sink,
}

/// Reports a duplicate primary key when `key` was seen before in the file.
fn check_unique<K: std::hash::Hash + Eq>(
    seen: &mut HashSet<K>,
    key: K,
    rec: &Rec<'_>,
    field: &'static str,
    sink: &mut Sink,
) -> bool {
    if seen.insert(key) {
        true
    } else {
        rec.error(
            sink,
            Code::DuplicateKey,
            field,
            "another row has the same primary key".into(),
        );
        false
    }
}

/// Looks `field` up in `interner`; a value no file defines is a foreign-key
/// violation. Returns `None` when the field is empty or unknown.
fn foreign(
    rec: &Rec<'_>,
    field: &'static str,
    interner: &Interner,
    target: &str,
    sink: &mut Sink,
) -> Option<u32> {
    let value = rec.get(field)?;
    let found = interner.get(value);
    if found.is_none() {
        rec.error(
            sink,
            Code::ForeignKeyViolation,
            field,
            format!("{value:?} is not defined in {target}"),
        );
    }
    found
}

/// Like [`foreign`], for a required field.
fn req_foreign(
    rec: &Rec<'_>,
    field: &'static str,
    interner: &Interner,
    target: &str,
    sink: &mut Sink,
) -> Option<u32> {
    rec.req(field, sink)?;
    foreign(rec, field, interner, target, sink)
}

/// Interns `value`; an id beyond `u32::MAX` distinct values is reported.
fn intern(
    interner: &mut Interner,
    value: &str,
    rec: &Rec<'_>,
    field: &'static str,
    sink: &mut Sink,
) -> Option<u32> {
    let interned = interner.intern(value);
    if interned.is_none() {
        rec.error(
            sink,
            Code::NumberOutOfRange,
            field,
            "more distinct ids than this reader can index".into(),
        );
    }
    interned
}

impl Loader<'_> {
    fn table(&mut self, file: &'static str, required_columns: &[&'static str]) -> Option<Table> {
        let text = self.files.get(file)?;
        Some(Table::parse(file, text, required_columns, &mut self.sink))
    }

    fn required_table(
        &mut self,
        file: &'static str,
        required_columns: &[&'static str],
    ) -> Option<Table> {
        let table = self.table(file, required_columns);
        if table.is_none() {
            self.sink.error(
                Code::MissingRequiredFile,
                file,
                None,
                None,
                format!("{file} is required"),
            );
        }
        table
    }

    fn load(&mut self) -> Feed {
        let (timezone, agency_ids) = self.load_agency();
        let (stops, mut stop_info) = self.load_stops();
        let routes_table = self.required_table(ROUTES, &["route_id"]);
        let (networks, routes, route_network) =
            self.load_routes_and_networks(routes_table.as_ref(), &agency_ids);
        let (service_ids, services) = self.load_calendars();
        let areas = self.load_areas(&stops, &mut stop_info);
        let (rider_categories, category_is_default) = self.load_rider_categories();
        let fare_media = self.load_fare_media();
        let products =
            self.load_fare_products(&rider_categories, &category_is_default, &fare_media);
        let (timeframe_groups, timeframes) = self.load_timeframes(&service_ids);
        let timeframe_groups = &timeframe_groups;
        let leg = self.load_leg_rules(&networks, &areas, timeframe_groups, &products.ids);
        let join_rules = self.load_join_rules(&networks, &stops);
        let transfers = self.load_transfer_rules(&leg.groups, &products.ids);

        let mut leg_rules_by_network: FastMap<u32, Vec<u32>> = FastMap::default();
        let mut leg_rules_any_network = Vec::new();
        let mut listed_from_area = vec![false; areas.len()];
        let mut listed_to_area = vec![false; areas.len()];
        for (i, rule) in (0_u32..).zip(&leg.rules) {
            match rule.network {
                Some(n) => leg_rules_by_network.entry(n).or_default().push(i),
                None => leg_rules_any_network.push(i),
            }
            for (area, listed) in [
                (rule.from_area, &mut listed_from_area),
                (rule.to_area, &mut listed_to_area),
            ] {
                if let Some(flag) = area.and_then(|a| listed.get_mut(ix(a))) {
                    *flag = true;
                }
            }
        }
        let mut transfer_rules_by_groups: FastMap<(Option<u32>, Option<u32>), Vec<u32>> =
            FastMap::default();
        let mut listed_from_group = vec![false; leg.groups.len()];
        let mut listed_to_group = vec![false; leg.groups.len()];
        for (i, rule) in (0_u32..).zip(&transfers) {
            transfer_rules_by_groups
                .entry((rule.from_group, rule.to_group))
                .or_default()
                .push(i);
            for (group, listed) in [
                (rule.from_group, &mut listed_from_group),
                (rule.to_group, &mut listed_to_group),
            ] {
                if let Some(flag) = group.and_then(|g| listed.get_mut(ix(g))) {
                    *flag = true;
                }
            }
        }

        let mut by_name: Vec<u32> = (0_u32..).take(products.ids.len()).collect();
        by_name.sort_by(|&a, &b| products.ids.name(a).cmp(products.ids.name(b)));
        let mut product_rank = vec![0_u32; by_name.len()];
        for (rank, &product) in (0_u32..).zip(&by_name) {
            if let Some(slot) = product_rank.get_mut(ix(product)) {
                *slot = rank;
            }
        }

        Feed {
            timezone: timezone.unwrap_or(Tz::UTC),
            stops,
            stop_info,
            routes,
            route_network,
            networks,
            areas,
            services,
            timeframes,
            rider_categories,
            category_is_default,
            fare_media,
            products: products.ids,
            product_rows: products.rows,
            rows_of_product: products.rows_of_product,
            product_default_category: products.default_category,
            product_rank,
            leg_groups: leg.groups,
            leg_rules: leg.rules,
            empty_fields: leg.mode,
            leg_rules_by_network,
            leg_rules_any_network,
            listed_from_area,
            listed_to_area,
            join_rules,
            transfer_rules: transfers,
            transfer_rules_by_groups,
            listed_from_group,
            listed_to_group,
            warnings: Vec::new(),
        }
    }

    fn load_agency(&mut self) -> (Option<Tz>, Interner) {
        let mut ids = Interner::default();
        let Some(table) = self.required_table(AGENCY, &["agency_timezone"]) else {
            return (None, ids);
        };
        let sink = &mut self.sink;
        let mut timezone: Option<Tz> = None;
        let mut seen_ids = HashSet::new();
        let mut rows = 0_usize;
        for rec in table.records() {
            rows += 1;
            if let Some(id) = rec.get("agency_id")
                && check_unique(&mut seen_ids, id, &rec, "agency_id", sink)
            {
                intern(&mut ids, id, &rec, "agency_id", sink);
            }
            if rec.req("agency_timezone", sink).is_none() {
                continue;
            }
            let Some(tz) = rec.timezone("agency_timezone", sink) else {
                continue;
            };
            match timezone {
                None => timezone = Some(tz),
                Some(first) if first != tz => rec.error(
                    sink,
                    Code::InconsistentAgencyTimezone,
                    "agency_timezone",
                    format!("{tz} differs from the first agency's {first}"),
                ),
                Some(_) => {}
            }
        }
        if rows == 0 && table.has_column("agency_timezone") {
            sink.error(
                Code::MissingRequiredField,
                AGENCY,
                None,
                Some("agency_timezone"),
                "agency.txt defines no agency".into(),
            );
        }
        (timezone, ids)
    }

    fn load_stops(&mut self) -> (Interner, Vec<StopInfo>) {
        let mut stops = Interner::default();
        let mut info = Vec::new();
        let Some(table) = self.required_table(STOPS, &["stop_id"]) else {
            return (stops, info);
        };
        let sink = &mut self.sink;
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        for rec in table.records() {
            let Some(id) = rec.req("stop_id", sink) else {
                continue;
            };
            if !check_unique(&mut seen, id, &rec, "stop_id", sink) {
                continue;
            }
            let Some(stop) = intern(&mut stops, id, &rec, "stop_id", sink) else {
                continue;
            };
            let location_type = match rec.enumeration("location_type", &[0, 1, 2, 3, 4], sink) {
                None | Some(0) => LocationType::Stop,
                Some(1) => LocationType::Station,
                Some(_) => LocationType::Other,
            };
            info.push(StopInfo {
                parent: None,
                location_type,
                timezone: rec.timezone("stop_timezone", sink),
                areas: Vec::new(),
            });
            rows.push((stop, rec));
        }
        for (stop, rec) in rows {
            let parent = foreign(&rec, "parent_station", &stops, STOPS, sink);
            if let Some(slot) = info.get_mut(ix(stop)) {
                slot.parent = parent;
            }
        }
        (stops, info)
    }

    fn load_routes_and_networks(
        &mut self,
        routes_table: Option<&Table>,
        agency_ids: &Interner,
    ) -> (Interner, Interner, Vec<Option<u32>>) {
        let mut networks = Interner::default();
        let mut routes = Interner::default();
        let mut route_network = Vec::new();
        let routes_have_networks = routes_table.is_some_and(|t| t.has_column("network_id"));
        if let Some(table) = routes_table {
            let sink = &mut self.sink;
            let mut seen = HashSet::new();
            for rec in table.records() {
                let Some(id) = rec.req("route_id", sink) else {
                    continue;
                };
                if !check_unique(&mut seen, id, &rec, "route_id", sink) {
                    continue;
                }
                if intern(&mut routes, id, &rec, "route_id", sink).is_none() {
                    continue;
                }
                // A single-agency feed may leave agency ids out entirely.
                if !agency_ids.is_empty() {
                    foreign(&rec, "agency_id", agency_ids, AGENCY, sink);
                }
                let network = rec
                    .get("network_id")
                    .and_then(|n| intern(&mut networks, n, &rec, "network_id", sink));
                route_network.push(network);
            }
        }
        let networks_table = self.table(NETWORKS, &["network_id"]);
        let route_networks_table = self.table(ROUTE_NETWORKS, &["network_id", "route_id"]);
        let sink = &mut self.sink;
        if routes_have_networks {
            for (present, file) in [
                (networks_table.is_some(), NETWORKS),
                (route_networks_table.is_some(), ROUTE_NETWORKS),
            ] {
                if present {
                    sink.error(
                        Code::RouteNetworksSpecifiedInMoreThanOneFile,
                        file,
                        None,
                        Some("network_id"),
                        format!("routes.txt has a network_id column, so {file} is forbidden"),
                    );
                }
            }
        }
        if let Some(table) = &networks_table {
            let mut seen = HashSet::new();
            for rec in table.records() {
                if let Some(id) = rec.req("network_id", sink)
                    && check_unique(&mut seen, id, &rec, "network_id", sink)
                {
                    intern(&mut networks, id, &rec, "network_id", sink);
                }
            }
        }
        if let Some(table) = &route_networks_table {
            let mut seen = HashSet::new();
            for rec in table.records() {
                let network = req_foreign(&rec, "network_id", &networks, NETWORKS, sink);
                let Some(route_id) = rec.req("route_id", sink) else {
                    continue;
                };
                if !check_unique(&mut seen, route_id, &rec, "route_id", sink) {
                    continue;
                }
                let route = foreign(&rec, "route_id", &routes, ROUTES, sink);
                if let (Some(route), Some(network)) = (route, network)
                    && let Some(slot) = route_network.get_mut(ix(route))
                {
                    *slot = Some(network);
                }
            }
        }
        (networks, routes, route_network)
    }

    fn load_calendars(&mut self) -> (Interner, Vec<Service>) {
        let mut ids = Interner::default();
        let mut services: Vec<Service> = Vec::new();
        let mut calendar_columns = vec!["service_id", "start_date", "end_date"];
        calendar_columns.extend(WEEKDAYS);
        if let Some(table) = self.table(CALENDAR, &calendar_columns) {
            let sink = &mut self.sink;
            let mut seen = HashSet::new();
            for rec in table.records() {
                let Some(id) = rec.req("service_id", sink) else {
                    continue;
                };
                if !check_unique(&mut seen, id, &rec, "service_id", sink) {
                    continue;
                }
                let mut days = [false; 7];
                for (day, name) in days.iter_mut().zip(WEEKDAYS) {
                    *day = rec.req_enumeration(name, &[0, 1], sink) == Some(1);
                }
                let start = rec.req_date("start_date", sink);
                let end = rec.req_date("end_date", sink);
                let Some(service) = intern(&mut ids, id, &rec, "service_id", sink) else {
                    continue;
                };
                if services.len() <= ix(service) {
                    services.resize(ix(service) + 1, Service::default());
                }
                if let (Some(start), Some(end), Some(slot)) =
                    (start, end, services.get_mut(ix(service)))
                {
                    slot.weekly = Some(WeeklyPattern { days, start, end });
                }
            }
        }
        if let Some(table) = self.table(CALENDAR_DATES, &["service_id", "date", "exception_type"]) {
            let sink = &mut self.sink;
            let mut seen = HashSet::new();
            for rec in table.records() {
                let id = rec.req("service_id", sink);
                let date = rec.req_date("date", sink);
                let exception = match rec.req_enumeration("exception_type", &[1, 2], sink) {
                    Some(1) => Some(Exception::Added),
                    Some(_) => Some(Exception::Removed),
                    None => None,
                };
                let (Some(id), Some(date)) = (id, date) else {
                    continue;
                };
                if !check_unique(&mut seen, (id, date), &rec, "date", sink) {
                    continue;
                }
                let Some(service) = intern(&mut ids, id, &rec, "service_id", sink) else {
                    continue;
                };
                if services.len() <= ix(service) {
                    services.resize(ix(service) + 1, Service::default());
                }
                if let (Some(exception), Some(slot)) = (exception, services.get_mut(ix(service))) {
                    slot.exceptions.insert(date, exception);
                }
            }
        }
        (ids, services)
    }

    fn load_areas(&mut self, stops: &Interner, stop_info: &mut [StopInfo]) -> Interner {
        let mut areas = Interner::default();
        if let Some(table) = self.table(AREAS, &["area_id"]) {
            let sink = &mut self.sink;
            let mut seen = HashSet::new();
            for rec in table.records() {
                if let Some(id) = rec.req("area_id", sink)
                    && check_unique(&mut seen, id, &rec, "area_id", sink)
                {
                    intern(&mut areas, id, &rec, "area_id", sink);
                }
            }
        }
        let mut direct: Vec<Vec<u32>> = vec![Vec::new(); stop_info.len()];
        if let Some(table) = self.table(STOP_AREAS, &["area_id", "stop_id"]) {
            let sink = &mut self.sink;
            let mut seen = HashSet::new();
            for rec in table.records() {
                let area = req_foreign(&rec, "area_id", &areas, AREAS, sink);
                let stop = req_foreign(&rec, "stop_id", stops, STOPS, sink);
                let (Some(area), Some(stop)) = (area, stop) else {
                    continue;
                };
                if check_unique(&mut seen, (area, stop), &rec, "stop_id", sink)
                    && let Some(list) = direct.get_mut(ix(stop))
                {
                    list.push(area);
                }
            }
        }
        // stop_areas.txt: a station's areas include its platforms unless a
        // platform is assigned to areas of its own.
        let inherited: Vec<Vec<u32>> = stop_info
            .iter()
            .zip(&direct)
            .map(|(info, own)| {
                if !own.is_empty() || info.location_type != LocationType::Stop {
                    return own.clone();
                }
                info.parent
                    .filter(|&p| {
                        stop_info
                            .get(ix(p))
                            .is_some_and(|p| p.location_type == LocationType::Station)
                    })
                    .and_then(|p| direct.get(ix(p)).cloned())
                    .unwrap_or_default()
            })
            .collect();
        for (info, areas) in stop_info.iter_mut().zip(inherited) {
            info.areas = areas;
        }
        areas
    }

    fn load_rider_categories(&mut self) -> (Interner, Vec<bool>) {
        let mut ids = Interner::default();
        let mut is_default = Vec::new();
        let Some(table) = self.table(
            RIDER_CATEGORIES,
            &[
                "rider_category_id",
                "rider_category_name",
                "is_default_fare_category",
            ],
        ) else {
            return (ids, is_default);
        };
        let sink = &mut self.sink;
        let mut seen = HashSet::new();
        for rec in table.records() {
            rec.req("rider_category_name", sink);
            // "0 or empty" is not the default, so an empty value is valid.
            let default = rec.enumeration("is_default_fare_category", &[0, 1], sink) == Some(1);
            if let Some(id) = rec.req("rider_category_id", sink)
                && check_unique(&mut seen, id, &rec, "rider_category_id", sink)
                && intern(&mut ids, id, &rec, "rider_category_id", sink).is_some()
            {
                is_default.push(default);
            }
        }
        (ids, is_default)
    }

    fn load_fare_media(&mut self) -> Interner {
        let mut ids = Interner::default();
        let Some(table) = self.table(FARE_MEDIA, &["fare_media_id", "fare_media_type"]) else {
            return ids;
        };
        let sink = &mut self.sink;
        let mut seen = HashSet::new();
        let mut seen_name_type: HashMap<(Option<&str>, i64), u64> = HashMap::new();
        for rec in table.records() {
            let media_type = rec.req_enumeration("fare_media_type", &[0, 1, 2, 3, 4], sink);
            if let Some(media_type) = media_type {
                let name = rec.get("fare_media_name");
                if let Some(first_line) = seen_name_type.get(&(name, media_type)) {
                    sink.warning(
                        Code::DuplicateFareMedia,
                        FARE_MEDIA,
                        Some(rec.line()),
                        Some("fare_media_name"),
                        format!("same name and type as the fare media on line {first_line}"),
                    );
                } else {
                    seen_name_type.insert((name, media_type), rec.line());
                }
            }
            if let Some(id) = rec.req("fare_media_id", sink)
                && check_unique(&mut seen, id, &rec, "fare_media_id", sink)
            {
                intern(&mut ids, id, &rec, "fare_media_id", sink);
            }
        }
        ids
    }

    fn load_fare_products(
        &mut self,
        categories: &Interner,
        category_is_default: &[bool],
        media: &Interner,
    ) -> Products {
        let mut products = Products::default();
        let Some(table) = self.table(FARE_PRODUCTS, &["fare_product_id", "amount", "currency"])
        else {
            return products;
        };
        let sink = &mut self.sink;
        // Ids first, so that a bad amount does not make rules referencing
        // the product fail as well.
        for rec in table.records() {
            if let Some(id) = rec.get("fare_product_id") {
                intern(&mut products.ids, id, &rec, "fare_product_id", sink);
            }
        }
        products.rows_of_product = vec![Vec::new(); products.ids.len()];
        products.default_category = vec![None; products.ids.len()];
        let mut seen = HashSet::new();
        // Per product: the default categories seen, for the one-default rule.
        let mut defaults_seen: Vec<Vec<u32>> = vec![Vec::new(); products.ids.len()];
        for rec in table.records() {
            let product = rec
                .req("fare_product_id", sink)
                .and_then(|id| products.ids.get(id));
            let category = foreign(
                &rec,
                "rider_category_id",
                categories,
                RIDER_CATEGORIES,
                sink,
            );
            let fare_media = foreign(&rec, "fare_media_id", media, FARE_MEDIA, sink);
            let amount = read_amount(&rec, sink);
            let Some(product) = product else {
                continue;
            };
            let key = (
                product,
                rec.get("rider_category_id"),
                rec.get("fare_media_id"),
            );
            if !check_unique(&mut seen, key, &rec, "fare_product_id", sink) {
                continue;
            }
            if let Some(c) = category
                && category_is_default.get(ix(c)).copied().unwrap_or(false)
                && let Some(seen_defaults) = defaults_seen.get_mut(ix(product))
                && !seen_defaults.contains(&c)
            {
                seen_defaults.push(c);
                if let [first, second] = seen_defaults.as_slice() {
                    rec.error(
                        sink,
                        Code::FareProductWithMultipleDefaultRiderCategories,
                        "rider_category_id",
                        format!(
                            "fare product {:?} is eligible for default categories {:?} and {:?}",
                            products.ids.name(product),
                            categories.name(*first),
                            categories.name(*second)
                        ),
                    );
                }
                if let Some(slot) = products.default_category.get_mut(ix(product)) {
                    slot.get_or_insert(c);
                }
            }
            let Some(amount) = amount else {
                continue;
            };
            let Ok(row) = u32::try_from(products.rows.len()) else {
                continue;
            };
            products.rows.push(ProductRow {
                product,
                category,
                media: fare_media,
                amount,
            });
            if let Some(list) = products.rows_of_product.get_mut(ix(product)) {
                list.push(row);
            }
        }
        products
    }

    fn load_timeframes(&mut self, service_ids: &Interner) -> (Interner, Vec<Vec<Timeframe>>) {
        let mut groups = Interner::default();
        let mut timeframes: Vec<Vec<Timeframe>> = Vec::new();
        let Some(table) = self.table(TIMEFRAMES, &["timeframe_group_id", "service_id"]) else {
            return (groups, timeframes);
        };
        let sink = &mut self.sink;
        let mut seen = HashSet::new();
        // Per (group, service): (start, end, line) for the overlap check.
        let mut intervals: BTreeMap<(u32, u32), Vec<Interval>> = BTreeMap::new();
        for rec in table.records() {
            let group = rec
                .req("timeframe_group_id", sink)
                .and_then(|g| intern(&mut groups, g, &rec, "timeframe_group_id", sink));
            let service = req_foreign(
                &rec,
                "service_id",
                service_ids,
                "calendar.txt or calendar_dates.txt",
                sink,
            );
            let start = rec.time("start_time", sink);
            let end = rec.time("end_time", sink);
            let mut times_ok = true;
            match (rec.get("start_time"), rec.get("end_time")) {
                (Some(_), None) | (None, Some(_)) => {
                    let missing = if rec.get("start_time").is_none() {
                        "start_time"
                    } else {
                        "end_time"
                    };
                    rec.error(
                        sink,
                        Code::TimeframeOnlyStartOrEndTimeSpecified,
                        missing,
                        "start_time and end_time must both be set or both be empty".into(),
                    );
                    times_ok = false;
                }
                _ => {}
            }
            for (field, value) in [("start_time", start), ("end_time", end)] {
                if value.is_some_and(|v| v > SECONDS_PER_DAY) {
                    rec.error(
                        sink,
                        Code::TimeframeStartOrEndTimeGreaterThanTwentyFourHours,
                        field,
                        "timeframe times cannot be later than 24:00:00".into(),
                    );
                    times_ok = false;
                }
            }
            let key = (
                rec.get("timeframe_group_id"),
                rec.get("start_time"),
                rec.get("end_time"),
                rec.get("service_id"),
            );
            if !check_unique(&mut seen, key, &rec, "timeframe_group_id", sink) {
                continue;
            }
            let (Some(group), Some(service)) = (group, service) else {
                continue;
            };
            if !times_ok
                || (rec.get("start_time").is_some() && start.is_none())
                || (rec.get("end_time").is_some() && end.is_none())
            {
                continue;
            }
            let start_s = start.unwrap_or(0);
            let end_s = end.unwrap_or(SECONDS_PER_DAY);
            if timeframes.len() <= ix(group) {
                timeframes.resize(ix(group) + 1, Vec::new());
            }
            if let Some(list) = timeframes.get_mut(ix(group)) {
                list.push(Timeframe {
                    start_s,
                    end_s,
                    service,
                });
            }
            intervals
                .entry((group, service))
                .or_default()
                .push((start_s, end_s, rec.line()));
        }
        for ((group, service), mut list) in intervals {
            list.sort_unstable();
            for pair in list.windows(2) {
                if let [(_, prev_end, prev_line), (start, _, line)] = pair
                    && start < prev_end
                {
                    sink.error(
                        Code::TimeframeOverlap,
                        TIMEFRAMES,
                        Some(*line),
                        Some("start_time"),
                        format!(
                            "overlaps the timeframe on line {prev_line} (group {:?}, service {:?})",
                            groups.name(group),
                            service_ids.name(service)
                        ),
                    );
                }
            }
        }
        if timeframes.len() < groups.len() {
            timeframes.resize(groups.len(), Vec::new());
        }
        (groups, timeframes)
    }

    fn load_leg_rules(
        &mut self,
        networks: &Interner,
        areas: &Interner,
        timeframe_groups: &Interner,
        products: &Interner,
    ) -> LegRules {
        let mut out = LegRules {
            groups: Interner::default(),
            rules: Vec::new(),
            mode: EmptyFieldMode::Exclusion,
        };
        let Some(table) = self.table(FARE_LEG_RULES, &["fare_product_id"]) else {
            return out;
        };
        if table.has_column("rule_priority") {
            out.mode = EmptyFieldMode::Wildcard;
        }
        let sink = &mut self.sink;
        let mut seen = HashSet::new();
        let network_files = "networks.txt or routes.txt";
        for rec in table.records() {
            let leg_group = rec
                .get("leg_group_id")
                .and_then(|g| intern(&mut out.groups, g, &rec, "leg_group_id", sink));
            let network = foreign(&rec, "network_id", networks, network_files, sink);
            let from_area = foreign(&rec, "from_area_id", areas, AREAS, sink);
            let to_area = foreign(&rec, "to_area_id", areas, AREAS, sink);
            let from_timeframe = foreign(
                &rec,
                "from_timeframe_group_id",
                timeframe_groups,
                TIMEFRAMES,
                sink,
            );
            let to_timeframe = foreign(
                &rec,
                "to_timeframe_group_id",
                timeframe_groups,
                TIMEFRAMES,
                sink,
            );
            let product = req_foreign(&rec, "fare_product_id", products, FARE_PRODUCTS, sink);
            let priority = match rec.int("rule_priority", sink) {
                None => Some(0),
                Some(p) => {
                    let converted = u32::try_from(p).ok();
                    if converted.is_none() {
                        rec.error(
                            sink,
                            Code::NumberOutOfRange,
                            "rule_priority",
                            format!("{p} is not a non-negative integer"),
                        );
                    }
                    converted
                }
            };
            let key = (
                rec.get("network_id"),
                rec.get("from_area_id"),
                rec.get("to_area_id"),
                rec.get("from_timeframe_group_id"),
                rec.get("to_timeframe_group_id"),
                rec.get("fare_product_id"),
            );
            // The primary key leaves out leg_group_id, so one rule in two
            // leg groups is reported here.
            if !check_unique(&mut seen, key, &rec, "fare_product_id", sink) {
                continue;
            }
            let (Some(product), Some(priority)) = (product, priority) else {
                continue;
            };
            out.rules.push(LegRule {
                leg_group,
                network,
                from_area,
                to_area,
                from_timeframe,
                to_timeframe,
                product,
                priority,
            });
        }
        out
    }

    fn load_join_rules(&mut self, networks: &Interner, stops: &Interner) -> Vec<JoinRule> {
        let mut rules = Vec::new();
        let Some(table) = self.table(FARE_LEG_JOIN_RULES, &["from_network_id", "to_network_id"])
        else {
            return rules;
        };
        let sink = &mut self.sink;
        let network_files = "networks.txt or routes.txt";
        let mut seen = HashSet::new();
        for rec in table.records() {
            let from_network = req_foreign(&rec, "from_network_id", networks, network_files, sink);
            let to_network = req_foreign(&rec, "to_network_id", networks, network_files, sink);
            let from_stop = foreign(&rec, "from_stop_id", stops, STOPS, sink);
            let to_stop = foreign(&rec, "to_stop_id", stops, STOPS, sink);
            let mut stops_ok = true;
            for (present, missing) in [
                (
                    rec.get("from_stop_id").is_some() && rec.get("to_stop_id").is_none(),
                    "to_stop_id",
                ),
                (
                    rec.get("to_stop_id").is_some() && rec.get("from_stop_id").is_none(),
                    "from_stop_id",
                ),
            ] {
                if present {
                    rec.error(
                        sink,
                        Code::MissingRequiredField,
                        missing,
                        "from_stop_id and to_stop_id must both be set or both be empty".into(),
                    );
                    stops_ok = false;
                }
            }
            let key = (
                rec.get("from_network_id"),
                rec.get("to_network_id"),
                rec.get("from_stop_id"),
                rec.get("to_stop_id"),
            );
            if !check_unique(&mut seen, key, &rec, "from_network_id", sink) || !stops_ok {
                continue;
            }
            let (Some(from_network), Some(to_network)) = (from_network, to_network) else {
                continue;
            };
            let stop_pair = match (rec.get("from_stop_id"), from_stop, to_stop) {
                (None, _, _) => None,
                (Some(_), Some(f), Some(t)) => Some((f, t)),
                (Some(_), _, _) => continue,
            };
            rules.push(JoinRule {
                from_network,
                to_network,
                stops: stop_pair,
            });
        }
        rules
    }

    fn load_transfer_rules(
        &mut self,
        leg_groups: &Interner,
        products: &Interner,
    ) -> Vec<TransferRule> {
        let mut rules = Vec::new();
        let Some(table) = self.table(FARE_TRANSFER_RULES, &["fare_transfer_type"]) else {
            return rules;
        };
        let sink = &mut self.sink;
        let mut seen = HashSet::new();
        for rec in table.records() {
            let from_group = foreign(&rec, "from_leg_group_id", leg_groups, FARE_LEG_RULES, sink);
            let to_group = foreign(&rec, "to_leg_group_id", leg_groups, FARE_LEG_RULES, sink);
            let product = foreign(&rec, "fare_product_id", products, FARE_PRODUCTS, sink);
            let transfer_type = match rec.req_enumeration("fare_transfer_type", &[0, 1, 2], sink) {
                Some(0) => Some(FareTransferType::FromLegPlusTransfer),
                Some(1) => Some(FareTransferType::FromLegPlusTransferPlusToLeg),
                Some(2) => Some(FareTransferType::TransferOnly),
                _ => None,
            };
            let mut row_ok = transfer_type.is_some()
                && (rec.get("from_leg_group_id").is_none() || from_group.is_some())
                && (rec.get("to_leg_group_id").is_none() || to_group.is_some())
                && (rec.get("fare_product_id").is_none() || product.is_some());

            // transfer_count: required when both groups are set and equal,
            // forbidden otherwise (as the gtfs-validator checks it).
            let count = rec.int("transfer_count", sink);
            let same_groups = matches!(
                (rec.get("from_leg_group_id"), rec.get("to_leg_group_id")),
                (Some(f), Some(t)) if f == t
            );
            let transfer_count = match (same_groups, count, rec.get("transfer_count")) {
                (true, Some(-1), _) => TransferCount::Unlimited,
                (true, Some(n), _) if n >= 1 => match u32::try_from(n) {
                    Ok(n) => TransferCount::AtMost(n),
                    Err(_) => TransferCount::Unlimited,
                },
                (true, Some(n), _) => {
                    rec.error(
                        sink,
                        Code::FareTransferRuleInvalidTransferCount,
                        "transfer_count",
                        format!("{n} is neither -1 nor a positive count"),
                    );
                    row_ok = false;
                    TransferCount::Unlimited
                }
                (true, None, None) => {
                    rec.error(
                        sink,
                        Code::FareTransferRuleMissingTransferCount,
                        "transfer_count",
                        "transfer_count is required when from_leg_group_id equals to_leg_group_id"
                            .into(),
                    );
                    row_ok = false;
                    TransferCount::Unlimited
                }
                (false, _, Some(_)) => {
                    rec.error(
                        sink,
                        Code::FareTransferRuleWithForbiddenTransferCount,
                        "transfer_count",
                        "transfer_count is forbidden unless from_leg_group_id equals to_leg_group_id"
                            .into(),
                    );
                    row_ok = false;
                    TransferCount::Unlimited
                }
                // An unreadable count was reported by `int`.
                (true, None, Some(_)) => {
                    row_ok = false;
                    TransferCount::Unlimited
                }
                (false, _, None) => TransferCount::Unlimited,
            };

            let limit = rec.int("duration_limit", sink);
            let limit_s = match limit {
                Some(l) => {
                    let positive = u32::try_from(l).ok().filter(|&l| l > 0);
                    if positive.is_none() {
                        rec.error(
                            sink,
                            Code::NumberOutOfRange,
                            "duration_limit",
                            format!("{l} is not a positive number of seconds"),
                        );
                        row_ok = false;
                    }
                    positive
                }
                None => None,
            };
            let limit_type = match rec.enumeration("duration_limit_type", &[0, 1, 2, 3], sink) {
                Some(0) => Some(DurationLimitType::DepartureToArrival),
                Some(1) => Some(DurationLimitType::DepartureToDeparture),
                Some(2) => Some(DurationLimitType::ArrivalToDeparture),
                Some(3) => Some(DurationLimitType::ArrivalToArrival),
                _ => None,
            };
            let has_limit = rec.get("duration_limit").is_some();
            let has_type = rec.get("duration_limit_type").is_some();
            if has_limit && !has_type {
                rec.error(
                    sink,
                    Code::FareTransferRuleDurationLimitWithoutType,
                    "duration_limit_type",
                    "duration_limit_type is required when duration_limit is set".into(),
                );
                row_ok = false;
            }
            if has_type && !has_limit {
                rec.error(
                    sink,
                    Code::FareTransferRuleDurationLimitTypeWithoutDurationLimit,
                    "duration_limit",
                    "duration_limit_type is forbidden without duration_limit".into(),
                );
                row_ok = false;
            }
            let key = (
                rec.get("from_leg_group_id"),
                rec.get("to_leg_group_id"),
                rec.get("fare_product_id"),
                rec.get("transfer_count"),
                rec.get("duration_limit"),
            );
            if !check_unique(&mut seen, key, &rec, "from_leg_group_id", sink) || !row_ok {
                continue;
            }
            let duration = match (limit_s, limit_type) {
                (Some(limit_s), Some(kind)) => Some(DurationLimit { limit_s, kind }),
                (None, None) => None,
                _ => continue,
            };
            let Some(transfer_type) = transfer_type else {
                continue;
            };
            rules.push(TransferRule {
                from_group,
                to_group,
                transfer_count,
                duration,
                transfer_type,
                product,
            });
        }
        rules
    }
}

/// Reads `amount` in the row's `currency`, reporting either problem.
fn read_amount(rec: &Rec<'_>, sink: &mut Sink) -> Option<Amount> {
    let currency_text = rec.req("currency", sink);
    let amount_text = rec.req("amount", sink);
    let currency = match currency_text.map(Currency::from_code) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            rec.error(sink, Code::InvalidCurrency, "currency", e.to_string());
            return None;
        }
        None => return None,
    };
    match Amount::parse(amount_text?, currency) {
        Ok(amount) => Some(amount),
        Err(e) => {
            rec.error(sink, Code::InvalidCurrencyAmount, "amount", e.to_string());
            None
        }
    }
}

/// `(start_s, end_s, line)` of one timeframe, for the overlap check.
type Interval = (u32, u32, u64);

#[derive(Default)]
struct Products {
    ids: Interner,
    rows: Vec<ProductRow>,
    rows_of_product: Vec<Vec<u32>>,
    default_category: Vec<Option<u32>>,
}

struct LegRules {
    groups: Interner,
    rules: Vec<LegRule>,
    mode: EmptyFieldMode,
}

#[cfg(test)]
mod tests {
    use super::super::error::FeedErrorCode as C;
    use super::super::test_support::{errors, files};
    use super::*;

    type Expected<'a> = (C, &'a str, Option<u64>, Option<&'a str>);

    /// Loads the base feed plus `extra` and compares every error (and
    /// warning) with `expected`, in any order.
    fn check(
        extra: &[(&str, &str)],
        expected: &[Expected<'_>],
        expected_warnings: &[Expected<'_>],
    ) {
        let got = errors(extra);
        let sorted = |list: &[super::super::error::FeedError]| {
            let mut v: Vec<(C, String, Option<u64>, Option<String>)> = list
                .iter()
                .map(|e| {
                    (
                        e.code,
                        e.file.to_owned(),
                        e.line,
                        e.field.map(str::to_owned),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let want = |list: &[Expected<'_>]| {
            let mut v: Vec<(C, String, Option<u64>, Option<String>)> = list
                .iter()
                .map(|(c, f, l, fl)| (*c, (*f).to_owned(), *l, fl.map(str::to_owned)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&got.errors), want(expected), "{got}");
        assert_eq!(sorted(&got.warnings), want(expected_warnings));
    }

    #[test]
    fn missing_required_files_are_named() {
        let got = Feed::load(&BTreeMap::new()).expect_err("an empty feed is rejected");
        let mut codes: Vec<(C, &str)> = got.errors.iter().map(|e| (e.code, e.file)).collect();
        codes.sort();
        assert_eq!(
            codes,
            [
                (C::MissingRequiredFile, AGENCY),
                (C::MissingRequiredFile, ROUTES),
                (C::MissingRequiredFile, STOPS)
            ]
        );
    }

    #[test]
    fn a_bad_feed_reports_every_error_with_file_line_and_field() {
        let fare_media = "fare_media_id,fare_media_name,fare_media_type\n\
            card,Card,2\n\
            card2,Card,2\n\
            app,App,9\n";
        let rider_categories = "rider_category_id,rider_category_name,is_default_fare_category\n\
            adult,Adult,1\n\
            senior,Senior,1\n\
            child,,0\n";
        let fare_products = "fare_product_id,rider_category_id,fare_media_id,amount,currency\n\
            single,adult,,2.50,EUR\n\
            single,senior,,1.00,EUR\n\
            single,adult,,2.60,EUR\n\
            day,,,5.001,EUR\n\
            night,,,5,XXX\n\
            weird,kid,,1,EUR\n\
            ,,,1,EUR\n";
        let calendar = "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n\
            wk,1,1,1,1,1,0,0,20260101,20261231\n\
            bad,1,1,1,1,1,0,2,20260101,2026-12-31\n";
        let timeframes = "timeframe_group_id,start_time,end_time,service_id\n\
            peak,07:00:00,09:00:00,wk\n\
            peak,08:30:00,10:00:00,wk\n\
            odd,07:00:00,,wk\n\
            late,20:00:00,25:00:00,wk\n\
            ghost,,,nosuch\n";
        let leg_rules = "leg_group_id,network_id,from_area_id,to_area_id,from_timeframe_group_id,fare_product_id\n\
            g1,bus,,,,single\n\
            g2,bus,,,,single\n\
            g1,tram,,,,single\n\
            g1,,zoneX,,,single\n\
            g1,,,,nope,single\n\
            g1,,,,,nothing\n";
        let transfer_rules = "from_leg_group_id,to_leg_group_id,transfer_count,duration_limit,duration_limit_type,fare_transfer_type,fare_product_id\n\
            g1,g1,,,,0,\n\
            g1,g1,0,,,0,\n\
            g1,g2,1,,,0,\n\
            g1,g2,,60,,0,\n\
            g2,g1,,,1,0,\n\
            g2,g2,-1,0,1,0,\n\
            g2,g9,,,,3,\n";
        let join_rules = "from_network_id,to_network_id,from_stop_id,to_stop_id\n\
            bus,rail,A,\n\
            bus,tram,,\n";
        let stop_areas = format!("{}zone1,NOPE\n", super::super::test_support::STOP_AREAS);
        check(
            &[
                ("fare_media.txt", fare_media),
                ("rider_categories.txt", rider_categories),
                ("fare_products.txt", fare_products),
                ("calendar.txt", calendar),
                ("timeframes.txt", timeframes),
                ("fare_leg_rules.txt", leg_rules),
                ("fare_transfer_rules.txt", transfer_rules),
                ("fare_leg_join_rules.txt", join_rules),
                ("route_networks.txt", "network_id,route_id\nbus,bus1\n"),
                ("stop_areas.txt", &stop_areas),
            ],
            &[
                (
                    C::UnexpectedEnumValue,
                    FARE_MEDIA,
                    Some(4),
                    Some("fare_media_type"),
                ),
                (
                    C::MissingRequiredField,
                    RIDER_CATEGORIES,
                    Some(4),
                    Some("rider_category_name"),
                ),
                (
                    C::FareProductWithMultipleDefaultRiderCategories,
                    FARE_PRODUCTS,
                    Some(3),
                    Some("rider_category_id"),
                ),
                (
                    C::DuplicateKey,
                    FARE_PRODUCTS,
                    Some(4),
                    Some("fare_product_id"),
                ),
                (
                    C::InvalidCurrencyAmount,
                    FARE_PRODUCTS,
                    Some(5),
                    Some("amount"),
                ),
                (C::InvalidCurrency, FARE_PRODUCTS, Some(6), Some("currency")),
                (
                    C::ForeignKeyViolation,
                    FARE_PRODUCTS,
                    Some(7),
                    Some("rider_category_id"),
                ),
                (
                    C::MissingRequiredField,
                    FARE_PRODUCTS,
                    Some(8),
                    Some("fare_product_id"),
                ),
                (C::UnexpectedEnumValue, CALENDAR, Some(3), Some("sunday")),
                (C::InvalidDate, CALENDAR, Some(3), Some("end_date")),
                (C::TimeframeOverlap, TIMEFRAMES, Some(3), Some("start_time")),
                (
                    C::TimeframeOnlyStartOrEndTimeSpecified,
                    TIMEFRAMES,
                    Some(4),
                    Some("end_time"),
                ),
                (
                    C::TimeframeStartOrEndTimeGreaterThanTwentyFourHours,
                    TIMEFRAMES,
                    Some(5),
                    Some("end_time"),
                ),
                (
                    C::ForeignKeyViolation,
                    TIMEFRAMES,
                    Some(6),
                    Some("service_id"),
                ),
                (
                    C::DuplicateKey,
                    FARE_LEG_RULES,
                    Some(3),
                    Some("fare_product_id"),
                ),
                (
                    C::ForeignKeyViolation,
                    FARE_LEG_RULES,
                    Some(4),
                    Some("network_id"),
                ),
                (
                    C::ForeignKeyViolation,
                    FARE_LEG_RULES,
                    Some(5),
                    Some("from_area_id"),
                ),
                (
                    C::ForeignKeyViolation,
                    FARE_LEG_RULES,
                    Some(6),
                    Some("from_timeframe_group_id"),
                ),
                (
                    C::ForeignKeyViolation,
                    FARE_LEG_RULES,
                    Some(7),
                    Some("fare_product_id"),
                ),
                (
                    C::FareTransferRuleMissingTransferCount,
                    FARE_TRANSFER_RULES,
                    Some(2),
                    Some("transfer_count"),
                ),
                (
                    C::FareTransferRuleInvalidTransferCount,
                    FARE_TRANSFER_RULES,
                    Some(3),
                    Some("transfer_count"),
                ),
                (
                    C::FareTransferRuleWithForbiddenTransferCount,
                    FARE_TRANSFER_RULES,
                    Some(4),
                    Some("transfer_count"),
                ),
                (
                    C::FareTransferRuleDurationLimitWithoutType,
                    FARE_TRANSFER_RULES,
                    Some(5),
                    Some("duration_limit_type"),
                ),
                (
                    C::FareTransferRuleDurationLimitTypeWithoutDurationLimit,
                    FARE_TRANSFER_RULES,
                    Some(6),
                    Some("duration_limit"),
                ),
                (
                    C::NumberOutOfRange,
                    FARE_TRANSFER_RULES,
                    Some(7),
                    Some("duration_limit"),
                ),
                (
                    C::ForeignKeyViolation,
                    FARE_TRANSFER_RULES,
                    Some(8),
                    Some("to_leg_group_id"),
                ),
                (
                    C::UnexpectedEnumValue,
                    FARE_TRANSFER_RULES,
                    Some(8),
                    Some("fare_transfer_type"),
                ),
                (
                    C::MissingRequiredField,
                    FARE_LEG_JOIN_RULES,
                    Some(2),
                    Some("to_stop_id"),
                ),
                (
                    C::ForeignKeyViolation,
                    FARE_LEG_JOIN_RULES,
                    Some(3),
                    Some("to_network_id"),
                ),
                (
                    C::RouteNetworksSpecifiedInMoreThanOneFile,
                    ROUTE_NETWORKS,
                    None,
                    Some("network_id"),
                ),
                (C::ForeignKeyViolation, STOP_AREAS, Some(7), Some("stop_id")),
            ],
            &[(
                C::DuplicateFareMedia,
                FARE_MEDIA,
                Some(3),
                Some("fare_media_name"),
            )],
        );
    }

    #[test]
    fn base_files_are_checked_too() {
        let check_one =
            |extra: &[(&str, &str)], expected: Expected<'_>| check(extra, &[expected], &[]);
        check_one(
            &[(
                "agency.txt",
                "agency_name,agency_timezone\nX,Mars/Olympus\n",
            )],
            (C::InvalidTimezone, AGENCY, Some(2), Some("agency_timezone")),
        );
        check_one(
            &[(
                "agency.txt",
                "agency_id,agency_timezone\nA1,Asia/Ho_Chi_Minh\nA2,Europe/Paris\n",
            )],
            (
                C::InconsistentAgencyTimezone,
                AGENCY,
                Some(3),
                Some("agency_timezone"),
            ),
        );
        check_one(
            &[("agency.txt", "agency_name\nX\n")],
            (
                C::MissingRequiredColumn,
                AGENCY,
                Some(1),
                Some("agency_timezone"),
            ),
        );
        check_one(
            &[(
                "stops.txt",
                "stop_id,parent_station\nA,\nB,ZZ\nC,\nSTN,\nP1,STN\nP2,STN\n",
            )],
            (
                C::ForeignKeyViolation,
                STOPS,
                Some(3),
                Some("parent_station"),
            ),
        );
        check_one(
            &[("routes.txt", "route_id,agency_id\nr,A9\n")],
            (C::ForeignKeyViolation, ROUTES, Some(2), Some("agency_id")),
        );
        check_one(
            &[("routes.txt", "route_id\nr\nr\n")],
            (C::DuplicateKey, ROUTES, Some(3), Some("route_id")),
        );
        check_one(
            &[
                (
                    "fare_leg_rules.txt",
                    "fare_product_id,rule_priority\np,-1\n",
                ),
                (
                    "fare_products.txt",
                    "fare_product_id,amount,currency\np,1,EUR\n",
                ),
            ],
            (
                C::NumberOutOfRange,
                FARE_LEG_RULES,
                Some(2),
                Some("rule_priority"),
            ),
        );
        check_one(
            &[(
                "fare_products.txt",
                "fare_product_id,amount,currency\np,1,EUR\np,2,EUR\n",
            )],
            (
                C::DuplicateKey,
                FARE_PRODUCTS,
                Some(3),
                Some("fare_product_id"),
            ),
        );
        check_one(
            &[("fare_products.txt", "fare_product_id,amount\np,1\n")],
            (
                C::MissingRequiredColumn,
                FARE_PRODUCTS,
                Some(1),
                Some("currency"),
            ),
        );
        check_one(
            &[(
                "fare_products.txt",
                "fare_product_id,amount,currency\r\np,1,EUR\r\nq,1,EUR,x\r\n",
            )],
            (C::InvalidRowLength, FARE_PRODUCTS, Some(3), None),
        );
    }

    #[test]
    fn a_valid_feed_loads_with_its_warnings() {
        let files = files(&[(
            "fare_media.txt",
            "fare_media_id,fare_media_name,fare_media_type\ncard,Card,2\ncard2,Card,2\n",
        )]);
        let feed = Feed::load(&files).expect("warnings do not reject a feed");
        let warnings: Vec<(C, Option<u64>)> =
            feed.warnings().iter().map(|w| (w.code, w.line)).collect();
        assert_eq!(warnings, [(C::DuplicateFareMedia, Some(3))]);
        assert_eq!(feed.route_network("bus1"), Some("bus"));
        assert_eq!(feed.route_network("nonet"), None);
        assert_eq!(feed.stop_area_ids("P1"), ["zone1"]);
        assert_eq!(feed.stop_area_ids("P2"), ["zone9"]);
        assert_eq!(feed.parent_station("P2"), Some("STN"));
        assert_eq!(feed.empty_field_mode(), EmptyFieldMode::Exclusion);
        assert_eq!(feed.default_rider_category(), None);
    }

    #[test]
    fn networks_may_come_from_route_networks() {
        let files = files(&[
            ("routes.txt", "route_id\nr1\nr2\n"),
            ("networks.txt", "network_id,network_name\nn1,N1\n"),
            ("route_networks.txt", "network_id,route_id\nn1,r1\n"),
        ]);
        let feed = Feed::load(&files).expect("valid");
        assert_eq!(feed.route_network("r1"), Some("n1"));
        assert_eq!(feed.route_network("r2"), None);
    }

    #[test]
    fn loading_arbitrary_text_never_panics() {
        use proptest::prelude::*;
        let names = [
            AGENCY,
            STOPS,
            ROUTES,
            CALENDAR,
            CALENDAR_DATES,
            NETWORKS,
            ROUTE_NETWORKS,
            AREAS,
            STOP_AREAS,
            TIMEFRAMES,
            RIDER_CATEGORIES,
            FARE_MEDIA,
            FARE_PRODUCTS,
            FARE_LEG_RULES,
            FARE_LEG_JOIN_RULES,
            FARE_TRANSFER_RULES,
        ];
        // Headers that exist, so the fuzzed rows reach the field readers.
        let header = |name: &str| match name {
            FARE_PRODUCTS => "fare_product_id,rider_category_id,fare_media_id,amount,currency\n",
            FARE_LEG_RULES => {
                "leg_group_id,network_id,from_area_id,to_area_id,from_timeframe_group_id,to_timeframe_group_id,fare_product_id,rule_priority\n"
            }
            FARE_TRANSFER_RULES => {
                "from_leg_group_id,to_leg_group_id,transfer_count,duration_limit,duration_limit_type,fare_transfer_type,fare_product_id\n"
            }
            TIMEFRAMES => "timeframe_group_id,start_time,end_time,service_id\n",
            _ => "",
        };
        let row = "[a-z0-9:.,\"\\-\r\n \u{feff}é]{0,60}";
        proptest!(ProptestConfig::with_cases(256), |(
            which in 0..names.len(),
            body in row,
            with_header in any::<bool>(),
        )| {
            let name = names[which];
            let text = if with_header { format!("{}{body}", header(name)) } else { body };
            let _ = Feed::load(&files(&[(name, text.as_str())]));
        });
    }
}
