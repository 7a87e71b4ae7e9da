//! Journey quotes: the pure core of `oneticket fares quote --feed DIR`.
//!
//! Input (JSON):
//! `{"rider_category": id|null, "fare_media": id|null, "legs": [{"route_id",
//! "from_stop_id", "to_stop_id", "departure", "arrival"}]}` with RFC 3339
//! times; a null or absent stop means "unknown" (see [`LegQuery`]).
//!
//! Output: `{"legs": [{"fare_product_ids": [...]}], "total": {"amount":
//! "9.50", "currency": "EUR"} | null}`. Per leg, `fare_product_ids` lists,
//! sorted and without repeats:
//! - every fare product matched for the (effective) fare leg the leg
//!   belongs to, after `rule_priority` and the rider's category and media
//!   (legs joined into one effective fare leg all list its products);
//! - the `fare_product_id` of the transfer rule applied *to* this leg in
//!   the cheapest journey, on the first leg of the effective fare leg the
//!   transfer leads to.
//!
//! `total` is the cheapest journey price (see `Feed::price_journey`), or
//! null when any leg's fare is unknown.
//!
//! [`LegQuery`]: super::LegQuery

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::json;

use super::currency::Amount;
use super::ids::FareProductId;
use super::journey::JourneyError;
use super::matching::{LegQueryError, ResolvedLeg};
use super::model::Feed;

/// The most legs one quote prices. A real journey has a handful; the bound
/// keeps one request's search (legs × options × transfer states) small.
pub const MAX_QUOTE_LEGS: usize = 32;

/// The largest request text accepted, in bytes: 32 legs with long ids fit
/// in a few kilobytes, so 64 KiB rejects only junk.
pub const MAX_QUOTE_REQUEST_BYTES: usize = 64 * 1024;

/// A journey to price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRequest {
    /// `rider_category_id`; `None` = each product's default category.
    pub rider_category: Option<String>,
    /// `fare_media_id`; `None` = any media (the cheapest is chosen).
    pub fare_media: Option<String>,
    /// The legs in travel order.
    pub legs: Vec<JourneyLeg>,
}

/// One leg of a journey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JourneyLeg {
    /// `routes.route_id`.
    pub route_id: String,
    /// Boarding stop or station; `None` = unknown.
    pub from_stop_id: Option<String>,
    /// Alighting stop or station; `None` = unknown.
    pub to_stop_id: Option<String>,
    /// Departure validation time.
    pub departure: DateTime<FixedOffset>,
    /// Arrival validation time.
    pub arrival: DateTime<FixedOffset>,
}

/// The quote of a journey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteResponse {
    /// One entry per request leg, in order.
    pub legs: Vec<LegQuote>,
    /// The cheapest journey price; `None` when a leg's fare is unknown.
    pub total: Option<Amount>,
}

/// What one leg of a quote lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegQuote {
    /// Sorted product ids (see the module documentation).
    pub fare_product_ids: Vec<FareProductId>,
}

/// A request that cannot be quoted. Renders as one JSON error object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The request text is longer than [`MAX_QUOTE_REQUEST_BYTES`].
    #[error("the request is {bytes} bytes; at most {MAX_QUOTE_REQUEST_BYTES} are accepted")]
    RequestTooLarge {
        /// The request's size.
        bytes: usize,
    },
    /// Not JSON, or not the request's shape (missing or unknown fields).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A time is not RFC 3339.
    #[error("legs[{leg}].{field} is not an RFC 3339 time: {value:?}")]
    InvalidTime {
        /// The leg's index.
        leg: usize,
        /// `departure` or `arrival`.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// The journey has no leg.
    #[error("the journey has no leg")]
    NoLegs,
    /// The journey has more than [`MAX_QUOTE_LEGS`] legs.
    #[error("the journey has {count} legs; at most {MAX_QUOTE_LEGS} are quoted")]
    TooManyLegs {
        /// The number of legs given.
        count: usize,
    },
    /// A route not in routes.txt.
    #[error("legs[{leg}]: unknown route {route_id:?}")]
    UnknownRoute {
        /// The leg's index.
        leg: usize,
        /// The route given.
        route_id: String,
    },
    /// A stop not in stops.txt.
    #[error("legs[{leg}]: unknown stop {stop_id:?}")]
    UnknownStop {
        /// The leg's index.
        leg: usize,
        /// The stop given.
        stop_id: String,
    },
    /// A rider category not in rider_categories.txt.
    #[error("unknown rider category {0:?}")]
    UnknownRiderCategory(String),
    /// A fare media not in fare_media.txt.
    #[error("unknown fare media {0:?}")]
    UnknownFareMedia(String),
    /// A leg arrives before it departs.
    #[error("legs[{leg}] arrives before it departs")]
    ArrivalBeforeDeparture {
        /// The leg's index.
        leg: usize,
    },
    /// A leg departs before the previous one arrives.
    #[error("legs[{leg}] departs before legs[{}] arrives", .leg.saturating_sub(1))]
    LegsOutOfOrder {
        /// The leg's index.
        leg: usize,
    },
    /// The journey's products are in several currencies, so no single total exists.
    #[error("the journey's fare products do not add up in one currency")]
    MixedCurrencies,
    /// The total does not fit in 64 bits of minor units.
    #[error("the total overflows 64 bits of minor units")]
    AmountOverflow,
}

impl QuoteError {
    /// The stable machine-readable code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            QuoteError::RequestTooLarge { .. } => "request_too_large",
            QuoteError::Malformed(_) => "malformed_request",
            QuoteError::InvalidTime { .. } => "invalid_time",
            QuoteError::NoLegs => "no_legs",
            QuoteError::TooManyLegs { .. } => "too_many_legs",
            QuoteError::UnknownRoute { .. } => "unknown_route",
            QuoteError::UnknownStop { .. } => "unknown_stop",
            QuoteError::UnknownRiderCategory(_) => "unknown_rider_category",
            QuoteError::UnknownFareMedia(_) => "unknown_fare_media",
            QuoteError::ArrivalBeforeDeparture { .. } => "arrival_before_departure",
            QuoteError::LegsOutOfOrder { .. } => "legs_out_of_order",
            QuoteError::MixedCurrencies => "mixed_currencies",
            QuoteError::AmountOverflow => "amount_overflow",
        }
    }

    /// `{"error": {"code": "...", "message": "..."}}`, the one line the CLI
    /// prints before exiting with status 2.
    #[must_use]
    pub fn to_json(&self) -> String {
        json!({"error": {"code": self.code(), "message": self.to_string()}}).to_string()
    }

    fn from_leg(leg: usize, error: LegQueryError) -> QuoteError {
        match error {
            LegQueryError::UnknownRoute(route_id) => QuoteError::UnknownRoute { leg, route_id },
            LegQueryError::UnknownStop(stop_id) => QuoteError::UnknownStop { leg, stop_id },
            LegQueryError::UnknownRiderCategory(id) => QuoteError::UnknownRiderCategory(id),
            LegQueryError::UnknownFareMedia(id) => QuoteError::UnknownFareMedia(id),
            LegQueryError::ArrivalBeforeDeparture => QuoteError::ArrivalBeforeDeparture { leg },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    #[serde(default)]
    rider_category: Option<String>,
    #[serde(default)]
    fare_media: Option<String>,
    legs: Vec<WireLeg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireLeg {
    route_id: String,
    #[serde(default)]
    from_stop_id: Option<String>,
    #[serde(default)]
    to_stop_id: Option<String>,
    departure: String,
    arrival: String,
}

impl QuoteRequest {
    /// Reads the request JSON (see the module documentation).
    pub fn from_json(text: &str) -> Result<QuoteRequest, QuoteError> {
        if text.len() > MAX_QUOTE_REQUEST_BYTES {
            return Err(QuoteError::RequestTooLarge { bytes: text.len() });
        }
        let wire: WireRequest =
            serde_json::from_str(text).map_err(|e| QuoteError::Malformed(e.to_string()))?;
        if wire.legs.len() > MAX_QUOTE_LEGS {
            return Err(QuoteError::TooManyLegs {
                count: wire.legs.len(),
            });
        }
        let time = |leg: usize, field: &'static str, value: String| {
            DateTime::parse_from_rfc3339(&value).map_err(|_| QuoteError::InvalidTime {
                leg,
                field,
                value,
            })
        };
        let legs = wire
            .legs
            .into_iter()
            .enumerate()
            .map(|(i, leg)| {
                Ok(JourneyLeg {
                    route_id: leg.route_id,
                    from_stop_id: leg.from_stop_id,
                    to_stop_id: leg.to_stop_id,
                    departure: time(i, "departure", leg.departure)?,
                    arrival: time(i, "arrival", leg.arrival)?,
                })
            })
            .collect::<Result<Vec<_>, QuoteError>>()?;
        Ok(QuoteRequest {
            rider_category: wire.rider_category,
            fare_media: wire.fare_media,
            legs,
        })
    }
}

impl QuoteResponse {
    /// The response JSON (see the module documentation).
    #[must_use]
    pub fn to_json(&self) -> String {
        let legs: Vec<serde_json::Value> = self
            .legs
            .iter()
            .map(|leg| json!({"fare_product_ids": leg.fare_product_ids}))
            .collect();
        json!({"legs": legs, "total": self.total}).to_string()
    }
}

impl Feed {
    /// Quotes a journey: matches every (effective) fare leg, then finds the
    /// cheapest way to pay the whole journey with the transfer rules.
    pub fn quote(&self, request: &QuoteRequest) -> Result<QuoteResponse, QuoteError> {
        if request.legs.is_empty() {
            return Err(QuoteError::NoLegs);
        }
        if request.legs.len() > MAX_QUOTE_LEGS {
            return Err(QuoteError::TooManyLegs {
                count: request.legs.len(),
            });
        }
        let rider = self
            .resolve_rider(
                request.rider_category.as_deref(),
                request.fare_media.as_deref(),
            )
            .map_err(|e| QuoteError::from_leg(0, e))?;
        let mut legs: Vec<ResolvedLeg> = Vec::with_capacity(request.legs.len());
        for (i, leg) in request.legs.iter().enumerate() {
            let resolved = self
                .resolve_leg(
                    &leg.route_id,
                    leg.from_stop_id.as_deref(),
                    leg.to_stop_id.as_deref(),
                    leg.departure,
                    leg.arrival,
                )
                .map_err(|e| QuoteError::from_leg(i, e))?;
            if legs.last().is_some_and(|p| resolved.departure < p.arrival) {
                return Err(QuoteError::LegsOutOfOrder { leg: i });
            }
            legs.push(resolved);
        }
        let effective = self.effective_legs(&legs);
        let options: Vec<_> = effective
            .iter()
            .map(|e| self.leg_options(&e.fare, rider))
            .collect();
        // Product indices per leg; turned into sorted ids at the end.
        let mut listed: Vec<Vec<u32>> = vec![Vec::new(); legs.len()];
        for (e, leg_options) in effective.iter().zip(&options) {
            for leg in e.first..=e.last {
                if let Some(ids) = listed.get_mut(leg) {
                    ids.extend(
                        leg_options
                            .iter()
                            .map(|o| self.product_row(o.product_row).product),
                    );
                }
            }
        }
        let total = if options.iter().any(Vec::is_empty) {
            None
        } else {
            let priced = self
                .price_journey(&effective, &options, rider)
                .map_err(|e| match e {
                    JourneyError::Currencies => QuoteError::MixedCurrencies,
                    JourneyError::Overflow => QuoteError::AmountOverflow,
                })?;
            for (e, row) in effective.iter().zip(&priced.transfer_products) {
                if let (Some(row), Some(ids)) = (row, listed.get_mut(e.first)) {
                    ids.push(self.product_row(*row).product);
                }
            }
            Some(priced.total)
        };
        let legs = listed
            .into_iter()
            .map(|mut products| {
                products.sort_by_key(|&p| self.product_rank_of(p));
                products.dedup();
                LegQuote {
                    fare_product_ids: products
                        .into_iter()
                        .map(|p| FareProductId::from_interned(self.products.name(p)))
                        .collect(),
                }
            })
            .collect();
        Ok(QuoteResponse { legs, total })
    }
}

/// Quotes the journey in `request_json` against `feed` and returns the
/// response JSON. On error, print [`QuoteError::to_json`] and exit 2.
pub fn quote_json(feed: &Feed, request_json: &str) -> Result<String, QuoteError> {
    let request = QuoteRequest::from_json(request_json)?;
    Ok(feed.quote(&request)?.to_json())
}

#[cfg(test)]
mod tests {
    use super::super::matching::LegQuery;
    use super::super::test_support::{at, feed};
    use super::*;
    use proptest::prelude::*;

    const PRODUCTS: &str = "fare_product_id,fare_media_id,amount,currency\n\
        bus_single,,2.00,EUR\nbus_single,app,1.70,EUR\nrail_single,,3.00,EUR\nferry_single,,4.00,EUR\n\
        zone_pass,,2.60,EUR\n\
        t025,,0.25,EUR\nt050,,0.50,EUR\nt100,,1.00,EUR\nt250,,2.50,EUR\ndisc100,,-1.00,EUR\n";
    const MEDIA: &str = "fare_media_id,fare_media_name,fare_media_type\napp,App,4\ncard,Card,2\n";
    const LEG_RULES: &str = "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id,rule_priority\n\
        g_bus,bus,,,bus_single,0\n\
        g_zone,,zone1,zone2,zone_pass,0\n\
        g_rail,rail,,,rail_single,0\n\
        g_ferry,ferry,,,ferry_single,0\n";
    const TRANSFERS: &str = "from_leg_group_id,to_leg_group_id,transfer_count,duration_limit,duration_limit_type,fare_transfer_type,fare_product_id\n\
        g_bus,g_rail,,3600,1,0,t050\n\
        g_rail,g_ferry,,,,2,t250\n\
        g_bus,g_bus,2,5400,0,1,disc100\n\
        ,g_ferry,,,,0,t100\n\
        g_rail,,,,,1,t025\n\
        g_zone,g_zone,-1,,,0,\n";

    fn eur_feed() -> Feed {
        feed(&[
            ("fare_products.txt", PRODUCTS),
            ("fare_media.txt", MEDIA),
            ("fare_leg_rules.txt", LEG_RULES),
            ("fare_transfer_rules.txt", TRANSFERS),
        ])
    }

    /// `quote_json` answers `expected` exactly.
    fn check(feed: &Feed, request: &str, expected: &str) {
        assert_eq!(
            quote_json(feed, request).as_deref(),
            Ok(expected),
            "{request}"
        );
    }

    /// `quote_json` fails with `code`, rendered as one JSON error object.
    fn check_error(feed: &Feed, request: &str, code: &str) {
        let error = quote_json(feed, request).expect_err(request);
        assert_eq!(error.code(), code, "{request}: {error}");
        let rendered: serde_json::Value =
            serde_json::from_str(&error.to_json()).expect("the error renders as JSON");
        assert_eq!(rendered["error"]["code"], code);
        assert_eq!(rendered["error"]["message"], error.to_string());
    }

    fn leg(route: &str, from: &str, to: &str, departure: &str, arrival: &str) -> String {
        format!(
            r#"{{"route_id":"{route}","from_stop_id":"{from}","to_stop_id":"{to}","departure":"2026-03-04T{departure}:00+07:00","arrival":"2026-03-04T{arrival}:00+07:00"}}"#
        )
    }

    #[test]
    fn quotes_render_ids_and_exact_totals() {
        let feed = eur_feed();
        let bus_rail = format!(
            r#"{{"rider_category":null,"fare_media":null,"legs":[{},{}]}}"#,
            leg("bus1", "A", "C", "10:00", "10:20"),
            leg("rail1", "C", "C", "10:30", "11:00")
        );
        check(
            &feed,
            &bus_rail,
            r#"{"legs":[{"fare_product_ids":["bus_single"]},{"fare_product_ids":["rail_single","t050"]}],"total":{"amount":"2.20","currency":"EUR"}}"#,
        );
        // The card has no row of its own: the media-unknown price applies.
        let card = bus_rail.replace(r#""fare_media":null"#, r#""fare_media":"card""#);
        check(
            &feed,
            &card,
            r#"{"legs":[{"fare_product_ids":["bus_single"]},{"fare_product_ids":["rail_single","t050"]}],"total":{"amount":"2.50","currency":"EUR"}}"#,
        );
        // A leg on a route without a network and between unlisted areas
        // matches nothing: the total is unknown, not zero.
        let unknown = format!(
            r#"{{"legs":[{}]}}"#,
            leg("nonet", "B", "C", "10:00", "10:20")
        );
        check(
            &feed,
            &unknown,
            r#"{"legs":[{"fare_product_ids":[]}],"total":null}"#,
        );
    }

    #[test]
    fn vnd_totals_have_no_decimals() {
        let feed = feed(&[
            (
                "fare_products.txt",
                "fare_product_id,amount,currency\nbus_6k,6000,VND\n",
            ),
            (
                "fare_leg_rules.txt",
                "network_id,fare_product_id\nbus,bus_6k\n",
            ),
        ]);
        let request = format!(
            r#"{{"legs":[{},{}]}}"#,
            leg("bus1", "A", "B", "07:00", "07:20"),
            leg("bus2", "B", "C", "07:30", "07:50")
        );
        check(
            &feed,
            &request,
            r#"{"legs":[{"fare_product_ids":["bus_6k"]},{"fare_product_ids":["bus_6k"]}],"total":{"amount":"12000","currency":"VND"}}"#,
        );
    }

    #[test]
    fn mixed_currencies_have_no_single_total() {
        let feed = feed(&[
            (
                "fare_products.txt",
                "fare_product_id,amount,currency\nbus_eur,2.00,EUR\nrail_usd,3.00,USD\n",
            ),
            (
                "fare_leg_rules.txt",
                "network_id,fare_product_id\nbus,bus_eur\nrail,rail_usd\n",
            ),
        ]);
        let request = format!(
            r#"{{"legs":[{},{}]}}"#,
            leg("bus1", "A", "B", "07:00", "07:20"),
            leg("rail1", "B", "C", "07:30", "07:50")
        );
        check_error(&feed, &request, "mixed_currencies");
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let feed = eur_feed();
        let one = |l: String| format!(r#"{{"legs":[{l}]}}"#);
        check_error(&feed, "not json", "malformed_request");
        check_error(&feed, r#"{"rider_category":null}"#, "malformed_request");
        check_error(&feed, r#"{"legs":[],"extra":1}"#, "malformed_request");
        check_error(
            &feed,
            r#"{"legs":[{"route_id":"bus1"}]}"#,
            "malformed_request",
        );
        check_error(&feed, r#"{"legs":[]}"#, "no_legs");
        let many = vec![leg("bus1", "A", "B", "10:00", "10:00"); MAX_QUOTE_LEGS + 1].join(",");
        check_error(&feed, &format!(r#"{{"legs":[{many}]}}"#), "too_many_legs");
        check_error(
            &feed,
            &" ".repeat(MAX_QUOTE_REQUEST_BYTES + 1),
            "request_too_large",
        );
        check_error(
            &feed,
            &one(leg("bus1", "A", "B", "10:00", "10:20")
                .replace("2026-03-04T10:00:00+07:00", "10am")),
            "invalid_time",
        );
        check_error(
            &feed,
            &one(leg("nope", "A", "B", "10:00", "10:20")),
            "unknown_route",
        );
        check_error(
            &feed,
            &one(leg("bus1", "A", "Z", "10:00", "10:20")),
            "unknown_stop",
        );
        check_error(
            &feed,
            &one(leg("bus1", "A", "B", "10:20", "10:00")),
            "arrival_before_departure",
        );
        check_error(
            &feed,
            &format!(
                r#"{{"legs":[{},{}]}}"#,
                leg("bus1", "A", "B", "10:00", "10:20"),
                leg("bus2", "B", "C", "10:10", "10:30")
            ),
            "legs_out_of_order",
        );
        check_error(
            &feed,
            &format!(
                r#"{{"rider_category":"alien","legs":[{}]}}"#,
                leg("bus1", "A", "B", "10:00", "10:20")
            ),
            "unknown_rider_category",
        );
        check_error(
            &feed,
            &format!(
                r#"{{"fare_media":"coin","legs":[{}]}}"#,
                leg("bus1", "A", "B", "10:00", "10:20")
            ),
            "unknown_fare_media",
        );
    }

    #[test]
    fn stops_may_be_unknown() {
        let feed = eur_feed();
        let request = r#"{"legs":[{"route_id":"bus1","from_stop_id":null,"departure":"2026-03-04T10:00:00+07:00","arrival":"2026-03-04T10:00:00+07:00"}]}"#;
        check(
            &feed,
            request,
            r#"{"legs":[{"fare_product_ids":["bus_single"]}],"total":{"amount":"1.70","currency":"EUR"}}"#,
        );
    }

    const ROUTES: [&str; 5] = ["bus1", "bus2", "rail1", "ferry1", "nonet"];
    const STOPS: [&str; 6] = ["A", "B", "C", "P1", "P2", "STN"];

    /// (route, from, to, gap before the leg in minutes, ride minutes), as
    /// indices into [`ROUTES`] and [`STOPS`].
    type RandomLeg = (usize, usize, usize, u32, u32);

    /// Random journeys over the test network, with or without the app media.
    fn journeys() -> impl Strategy<Value = (Vec<RandomLeg>, bool)> {
        (
            prop::collection::vec(
                (
                    0..ROUTES.len(),
                    0..STOPS.len(),
                    0..STOPS.len(),
                    0_u32..90,
                    0_u32..60,
                ),
                1..6,
            ),
            any::<bool>(),
        )
    }

    fn to_request(legs: &[RandomLeg], app: bool) -> QuoteRequest {
        let start = at("2026-03-04T09:00:00+07:00");
        let mut clock = start;
        let legs = legs
            .iter()
            .map(|&(r, f, t, gap, ride)| {
                let departure = clock + chrono::Duration::minutes(i64::from(gap));
                let arrival = departure + chrono::Duration::minutes(i64::from(ride));
                clock = arrival;
                JourneyLeg {
                    route_id: ROUTES[r].to_owned(),
                    from_stop_id: Some(STOPS[f].to_owned()),
                    to_stop_id: Some(STOPS[t].to_owned()),
                    departure,
                    arrival,
                }
            })
            .collect();
        QuoteRequest {
            rider_category: None,
            fare_media: app.then(|| "app".to_owned()),
            legs,
        }
    }

    proptest! {
        #[test]
        fn quoting_any_text_never_panics(text in "\\PC{0,200}") {
            let feed = eur_feed();
            let _ = quote_json(&feed, &text);
        }

        #[test]
        fn quoting_is_deterministic((legs, app) in journeys()) {
            // Two loads of the same feed have differently seeded hash maps,
            // so this also checks no answer depends on hash order.
            let request = to_request(&legs, app);
            let first = eur_feed().quote(&request);
            let second = eur_feed().quote(&request);
            prop_assert_eq!(first, second);
        }

        #[test]
        fn the_total_is_never_above_paying_each_leg_alone((legs, app) in journeys()) {
            let feed = eur_feed();
            let request = to_request(&legs, app);
            let quote = feed.quote(&request).expect("valid journeys");
            let mut separate = Some(0_i64);
            for leg in &request.legs {
                let fares = feed
                    .leg_fares(&LegQuery {
                        route_id: &leg.route_id,
                        from_stop_id: leg.from_stop_id.as_deref(),
                        to_stop_id: leg.to_stop_id.as_deref(),
                        departure: leg.departure,
                        arrival: leg.arrival,
                        rider_category: None,
                        fare_media: request.fare_media.as_deref(),
                    })
                    .expect("known ids");
                let cheapest = fares.and_then(|f| f.iter().map(|p| p.amount.minor_units()).min());
                separate = separate.zip(cheapest).map(|(s, c)| s + c);
            }
            prop_assert_eq!(quote.total.is_some(), separate.is_some());
            if let (Some(total), Some(separate)) = (quote.total, separate) {
                prop_assert!(total.minor_units() <= separate, "{} > {}", total.minor_units(), separate);
            }
        }
    }
}
