//! Leg matching (fare_leg_rules.txt) and the fare products a rider can use
//! for a leg: the engine-facing [`Feed::leg_fares`].
//!
//! Matching follows the reference's steps: filter the rules by network,
//! departure and arrival areas and timeframes; empty `network_id`,
//! `from_area_id` and `to_area_id` values match either "every value not
//! listed elsewhere in the column" (no `rule_priority` column) or "anything"
//! (with the column, where the highest `rule_priority` wins and ties keep
//! several rules); no matching rule means the fare is unknown.
//!
//! Choices where the text is open:
//! - Without the column, "an exact match first, else the empty values" is
//!   computed per field: an empty value matches when none of the leg's
//!   values for that field is listed in the column. This is the same set
//!   of rules (an exact match lists the leg's values, which excludes every
//!   empty-valued rule) and needs no second pass.
//! - With the column, `rule_priority` ranks every matching rule, exact or
//!   not: a wildcard rule with a higher priority beats an exact one.
//! - A stop in several areas matches a rule naming any of them.
//! - Timeframes never use the exclusion semantics: an empty timeframe
//!   group always means "any time", as the reference says in both modes.

use chrono::{DateTime, FixedOffset, NaiveDate, Timelike};

use super::currency::Amount;
use super::ids::{FareMediaId, FareProductId, LegGroupId, RiderCategoryId, ix};
use super::model::{EmptyFieldMode, Feed, ProductRow};

/// One leg to price on its own, as the fare engine asks for it.
///
/// `from_stop_id: None` / `to_stop_id: None` mean the boarding / alighting
/// stop is unknown (a bus tap has no alighting stop). An unknown stop is in
/// no area, so it matches exactly the rules an empty `from_area_id` /
/// `to_area_id` stands for: with a `rule_priority` column every rule with
/// an empty area; without it the empty-area rules (the stop's area set,
/// being empty, contains no listed area). Rules naming an area never match
/// it. The unknown stop's timeframes use the agency timezone.
#[derive(Clone, Copy, Debug)]
pub struct LegQuery<'a> {
    /// `routes.route_id` of the leg.
    pub route_id: &'a str,
    /// `stops.stop_id` where the rider boards (or the station), if known.
    pub from_stop_id: Option<&'a str>,
    /// `stops.stop_id` where the rider alights (or the station), if known.
    pub to_stop_id: Option<&'a str>,
    /// The departure validation time (matches `from_timeframe_group_id`).
    pub departure: DateTime<FixedOffset>,
    /// The arrival validation time (matches `to_timeframe_group_id`).
    pub arrival: DateTime<FixedOffset>,
    /// `rider_categories.rider_category_id`; `None` = each product's default category.
    pub rider_category: Option<&'a str>,
    /// `fare_media.fare_media_id`; `None` = any media.
    pub fare_media: Option<&'a str>,
}

/// A fare product row the rider can use for a leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedProduct {
    /// The product.
    pub fare_product_id: FareProductId,
    /// Its price for this rider and media, in minor units of its currency.
    pub amount: Amount,
    /// The row's rider category (`None`: eligible for any category).
    pub rider_category_id: Option<RiderCategoryId>,
    /// The row's fare media (`None`: media unknown / any).
    pub fare_media_id: Option<FareMediaId>,
    /// The leg group of the fare leg rule that matched.
    pub leg_group_id: Option<LegGroupId>,
}

/// A leg query naming something the feed does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LegQueryError {
    /// The route is not in routes.txt.
    #[error("unknown route {0:?}")]
    UnknownRoute(String),
    /// The stop is not in stops.txt.
    #[error("unknown stop {0:?}")]
    UnknownStop(String),
    /// The rider category is not in rider_categories.txt.
    #[error("unknown rider category {0:?}")]
    UnknownRiderCategory(String),
    /// The fare media is not in fare_media.txt.
    #[error("unknown fare media {0:?}")]
    UnknownFareMedia(String),
    /// The arrival is before the departure.
    #[error("the arrival is before the departure")]
    ArrivalBeforeDeparture,
}

/// The rider's category and media, as feed indices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rider {
    pub(crate) category: Option<u32>,
    pub(crate) media: Option<u32>,
}

/// One leg with its ids resolved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResolvedLeg {
    pub(crate) network: Option<u32>,
    pub(crate) from_stop: Option<u32>,
    pub(crate) to_stop: Option<u32>,
    pub(crate) departure: DateTime<FixedOffset>,
    pub(crate) arrival: DateTime<FixedOffset>,
}

/// What fare_leg_rules.txt matches against: one leg, or an effective fare
/// leg of several joined legs (network shared by all of them, departure
/// facts from the first, arrival facts from the last).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FareLeg {
    pub(crate) network: Option<u32>,
    pub(crate) from_stop: Option<u32>,
    pub(crate) to_stop: Option<u32>,
    pub(crate) departure: DateTime<FixedOffset>,
    pub(crate) arrival: DateTime<FixedOffset>,
}

impl From<ResolvedLeg> for FareLeg {
    fn from(leg: ResolvedLeg) -> FareLeg {
        FareLeg {
            network: leg.network,
            from_stop: leg.from_stop,
            to_stop: leg.to_stop,
            departure: leg.departure,
            arrival: leg.arrival,
        }
    }
}

/// One way to pay an effective leg: a matched rule and a product row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LegOption {
    pub(crate) rule: u32,
    pub(crate) leg_group: Option<u32>,
    pub(crate) product_row: u32,
    pub(crate) amount: Amount,
}

impl Feed {
    /// The fare products `query.rider_category` can use for one leg on its
    /// own (no joins, no transfers), sorted by product id; `None` when the
    /// fare is unknown: no rule matches, or no matching rule's product has a
    /// row for this rider and media. A returned list is never empty.
    ///
    /// Rider category: rows of the rider's category are preferred, then
    /// rows with an empty category (eligible for any). Without a category
    /// the product's default category (`is_default_fare_category = 1`) is
    /// used. Fare media: rows of the given media, else rows with an empty
    /// media; without a media every row is an option.
    ///
    /// ```
    /// # use std::collections::BTreeMap;
    /// # use fares::gtfs::{Feed, LegQuery};
    /// let files: BTreeMap<String, String> = [
    ///     ("agency.txt", "agency_timezone\nAsia/Ho_Chi_Minh\n"),
    ///     ("stops.txt", "stop_id\nS1\n"),
    ///     ("routes.txt", "route_id,network_id\n19,bus\n"),
    ///     ("fare_products.txt", "fare_product_id,amount,currency\nbus_6k,6000,VND\n"),
    ///     ("fare_leg_rules.txt", "network_id,fare_product_id\nbus,bus_6k\n"),
    /// ]
    /// .into_iter()
    /// .map(|(name, text)| (name.to_owned(), text.to_owned()))
    /// .collect();
    /// let feed = Feed::load(&files).expect("a valid feed");
    /// let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T07:05:00+07:00")
    ///     .expect("a valid time");
    /// let fares = feed
    ///     .leg_fares(&LegQuery {
    ///         route_id: "19",
    ///         from_stop_id: Some("S1"),
    ///         to_stop_id: None, // a bus tap: destination unknown
    ///         departure: at,
    ///         arrival: at,
    ///         rider_category: None,
    ///         fare_media: None,
    ///     })
    ///     .expect("known ids")
    ///     .expect("a rule matches");
    /// assert_eq!(fares[0].fare_product_id.as_str(), "bus_6k");
    /// assert_eq!(fares[0].amount.minor_units(), 6000);
    /// assert_eq!(fares[0].amount.to_money(), Some(ledger::Money::vnd(6000)));
    /// ```
    pub fn leg_fares(
        &self,
        query: &LegQuery<'_>,
    ) -> Result<Option<Vec<MatchedProduct>>, LegQueryError> {
        let rider = self.resolve_rider(query.rider_category, query.fare_media)?;
        let leg = self.resolve_leg(
            query.route_id,
            query.from_stop_id,
            query.to_stop_id,
            query.departure,
            query.arrival,
        )?;
        let options = self.leg_options(&FareLeg::from(leg), rider);
        if options.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            options.iter().map(|o| self.matched_product(o)).collect(),
        ))
    }

    pub(crate) fn matched_product(&self, option: &LegOption) -> MatchedProduct {
        let row = self.product_row(option.product_row);
        MatchedProduct {
            fare_product_id: FareProductId::from_interned(self.products.name(row.product)),
            amount: row.amount,
            rider_category_id: row
                .category
                .map(|c| RiderCategoryId::from_interned(self.rider_categories.name(c))),
            fare_media_id: row
                .media
                .map(|m| FareMediaId::from_interned(self.fare_media.name(m))),
            leg_group_id: option
                .leg_group
                .map(|g| LegGroupId::from_interned(self.leg_groups.name(g))),
        }
    }

    pub(crate) fn resolve_rider(
        &self,
        category: Option<&str>,
        media: Option<&str>,
    ) -> Result<Rider, LegQueryError> {
        let category = category
            .map(|c| {
                self.rider_categories
                    .get(c)
                    .ok_or_else(|| LegQueryError::UnknownRiderCategory(c.to_owned()))
            })
            .transpose()?;
        let media = media
            .map(|m| {
                self.fare_media
                    .get(m)
                    .ok_or_else(|| LegQueryError::UnknownFareMedia(m.to_owned()))
            })
            .transpose()?;
        Ok(Rider { category, media })
    }

    pub(crate) fn resolve_leg(
        &self,
        route_id: &str,
        from_stop_id: Option<&str>,
        to_stop_id: Option<&str>,
        departure: DateTime<FixedOffset>,
        arrival: DateTime<FixedOffset>,
    ) -> Result<ResolvedLeg, LegQueryError> {
        let route = self
            .routes
            .get(route_id)
            .ok_or_else(|| LegQueryError::UnknownRoute(route_id.to_owned()))?;
        let stop = |id: Option<&str>| {
            id.map(|id| {
                self.stops
                    .get(id)
                    .ok_or_else(|| LegQueryError::UnknownStop(id.to_owned()))
            })
            .transpose()
        };
        if arrival < departure {
            return Err(LegQueryError::ArrivalBeforeDeparture);
        }
        Ok(ResolvedLeg {
            network: self.route_network.get(ix(route)).copied().flatten(),
            from_stop: stop(from_stop_id)?,
            to_stop: stop(to_stop_id)?,
            departure,
            arrival,
        })
    }

    /// The position of `product` among products sorted by id.
    pub(crate) fn product_rank_of(&self, product: u32) -> u32 {
        self.product_rank
            .get(ix(product))
            .copied()
            .unwrap_or(u32::MAX)
    }

    pub(crate) fn product_row(&self, row: u32) -> &ProductRow {
        self.product_rows
            .get(ix(row))
            .expect("product row indices come from the loaded feed")
    }

    /// Every way to pay `leg`: matching rules (after `rule_priority`) times
    /// the product rows this rider can use, sorted by product id then row.
    pub(crate) fn leg_options(&self, leg: &FareLeg, rider: Rider) -> Vec<LegOption> {
        let mut rules = Vec::new();
        self.matching_rules(leg, &mut rules);
        let mut options = Vec::new();
        let mut rows = Vec::new();
        for rule_index in rules {
            let Some(rule) = self.leg_rules.get(ix(rule_index)) else {
                continue;
            };
            rows.clear();
            self.product_rows_for(rule.product, rider, &mut rows);
            for &row in &rows {
                let option = LegOption {
                    rule: rule_index,
                    leg_group: rule.leg_group,
                    product_row: row,
                    amount: self.product_row(row).amount,
                };
                // Two rules naming the same product and leg group are the
                // same way to pay.
                if !options
                    .iter()
                    .any(|o: &LegOption| o.product_row == row && o.leg_group == rule.leg_group)
                {
                    options.push(option);
                }
            }
        }
        options.sort_by_key(|o| {
            (
                self.product_rank_of(self.product_row(o.product_row).product),
                o.product_row,
                o.rule,
            )
        });
        options
    }

    /// The fare_leg_rules.txt rows matching `leg`, keeping only the highest
    /// `rule_priority` among them.
    pub(crate) fn matching_rules(&self, leg: &FareLeg, out: &mut Vec<u32>) {
        let by_network = leg
            .network
            .and_then(|n| self.leg_rules_by_network.get(&n))
            .map_or(&[][..], Vec::as_slice);
        // Without rule_priority, an empty network_id means "every network
        // not listed in the column": rules of the leg's network exclude it.
        let any_network: &[u32] = match self.empty_fields {
            EmptyFieldMode::Exclusion if !by_network.is_empty() => &[],
            _ => &self.leg_rules_any_network,
        };
        let mut best_priority = 0;
        for &index in by_network.iter().chain(any_network) {
            let Some(rule) = self.leg_rules.get(ix(index)) else {
                continue;
            };
            let matches = self.area_matches(rule.from_area, leg.from_stop, &self.listed_from_area)
                && self.area_matches(rule.to_area, leg.to_stop, &self.listed_to_area)
                && self.timeframe_matches(rule.from_timeframe, leg.from_stop, leg.departure)
                && self.timeframe_matches(rule.to_timeframe, leg.to_stop, leg.arrival);
            if !matches {
                continue;
            }
            if out.is_empty() || rule.priority > best_priority {
                out.clear();
                best_priority = rule.priority;
            }
            if rule.priority == best_priority {
                out.push(index);
            }
        }
        out.sort_unstable();
    }

    fn area_matches(&self, rule_area: Option<u32>, stop: Option<u32>, listed: &[bool]) -> bool {
        let areas = stop
            .and_then(|s| self.stop(s))
            .map_or(&[][..], |info| info.areas.as_slice());
        match (rule_area, self.empty_fields) {
            (Some(area), _) => areas.contains(&area),
            (None, EmptyFieldMode::Wildcard) => true,
            (None, EmptyFieldMode::Exclusion) => !areas
                .iter()
                .any(|&a| listed.get(ix(a)).copied().unwrap_or(false)),
        }
    }

    /// True when `group` is empty, or one of its timeframes has a service
    /// active on the event's local "current day" and contains its local
    /// time of day (`start ≤ t < end`).
    fn timeframe_matches(
        &self,
        group: Option<u32>,
        stop: Option<u32>,
        at: DateTime<FixedOffset>,
    ) -> bool {
        let Some(group) = group else {
            return true;
        };
        let (date, time_s) = self.local_day_and_time(stop, at);
        self.timeframes.get(ix(group)).is_some_and(|frames| {
            frames.iter().any(|tf| {
                tf.start_s <= time_s
                    && time_s < tf.end_s
                    && self
                        .services
                        .get(ix(tf.service))
                        .is_some_and(|s| s.is_active(date))
            })
        })
    }

    /// The calendar date and seconds since local midnight of `at` in the
    /// timezone of `stop` (else the agency's).
    pub(crate) fn local_day_and_time(
        &self,
        stop: Option<u32>,
        at: DateTime<FixedOffset>,
    ) -> (NaiveDate, u32) {
        let local = at.with_timezone(&self.stop_timezone(stop));
        (local.date_naive(), local.time().num_seconds_from_midnight())
    }

    /// The rows of `product` the rider can use (see [`Feed::leg_fares`]).
    pub(crate) fn product_rows_for(&self, product: u32, rider: Rider, out: &mut Vec<u32>) {
        let Some(rows) = self.rows_of_product.get(ix(product)) else {
            return;
        };
        let category = rider.category.or_else(|| {
            self.product_default_category
                .get(ix(product))
                .copied()
                .flatten()
        });
        let has =
            |pred: &dyn Fn(&ProductRow) -> bool| rows.iter().any(|&r| pred(self.product_row(r)));
        let wanted_category = if category.is_some() && has(&|row| row.category == category) {
            category
        } else {
            None
        };
        let in_category = |row: &ProductRow| row.category == wanted_category;
        let wanted_media = match rider.media {
            Some(m) if has(&|row| in_category(row) && row.media == Some(m)) => Some(Some(m)),
            Some(_) => Some(None),
            None => None,
        };
        out.extend(rows.iter().copied().filter(|&r| {
            let row = self.product_row(r);
            in_category(row) && wanted_media.is_none_or(|m| row.media == m)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, feed};
    use super::*;

    const PRODUCTS_EUR: &str = "fare_product_id,amount,currency\n\
        P_bus,1.00,EUR\nP_other,2.00,EUR\nP12,3.00,EUR\nP1x,4.00,EUR\nPxx,5.00,EUR\n\
        P_night,6.00,EUR\nP_day,7.00,EUR\nP_arr,8.00,EUR\n";

    /// A leg from `from` to `to` on `route` departing and arriving at the
    /// given RFC 3339 times.
    struct Leg<'a> {
        route: &'a str,
        from: Option<&'a str>,
        to: Option<&'a str>,
        departure: &'a str,
        arrival: &'a str,
        category: Option<&'a str>,
        media: Option<&'a str>,
    }

    const NOON: &str = "2026-03-04T12:00:00+07:00";

    fn leg<'a>(route: &'a str, from: Option<&'a str>, to: Option<&'a str>) -> Leg<'a> {
        Leg {
            route,
            from,
            to,
            departure: NOON,
            arrival: NOON,
            category: None,
            media: None,
        }
    }

    /// `leg_fares` gives `expected` as `(product, category, media, minor units)`,
    /// or an unknown fare for `None`.
    fn check(feed: &Feed, leg: &Leg<'_>, expected: Option<&[Expected<'_>]>) {
        let got = feed
            .leg_fares(&LegQuery {
                route_id: leg.route,
                from_stop_id: leg.from,
                to_stop_id: leg.to,
                departure: at(leg.departure),
                arrival: at(leg.arrival),
                rider_category: leg.category,
                fare_media: leg.media,
            })
            .expect("the test uses known ids");
        type Owned = (String, Option<String>, Option<String>, i64);
        let got: Option<Vec<Owned>> = got.map(|products| {
            products
                .into_iter()
                .map(|p| {
                    (
                        p.fare_product_id.as_str().to_owned(),
                        p.rider_category_id.map(|c| c.as_str().to_owned()),
                        p.fare_media_id.map(|m| m.as_str().to_owned()),
                        p.amount.minor_units(),
                    )
                })
                .collect()
        });
        let expected = expected.map(|list| {
            list.iter()
                .map(|(p, c, m, a)| {
                    (
                        (*p).to_owned(),
                        c.map(str::to_owned),
                        m.map(str::to_owned),
                        *a,
                    )
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(
            got, expected,
            "{} {:?}→{:?} at {}",
            leg.route, leg.from, leg.to, leg.departure
        );
    }

    type Expected<'a> = (&'a str, Option<&'a str>, Option<&'a str>, i64);

    /// Products without category or media rows.
    fn products<'a>(ids: &[(&'a str, i64)]) -> Vec<Expected<'a>> {
        ids.iter().map(|&(p, a)| (p, None, None, a)).collect()
    }

    #[test]
    fn without_rule_priority_an_empty_network_excludes_listed_networks() {
        let feed = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            (
                "fare_leg_rules.txt",
                "network_id,fare_product_id\nbus,P_bus\n,P_other\n",
            ),
        ]);
        check(
            &feed,
            &leg("bus1", Some("A"), Some("B")),
            Some(&products(&[("P_bus", 100)])),
        );
        check(
            &feed,
            &leg("rail1", Some("A"), Some("B")),
            Some(&products(&[("P_other", 200)])),
        );
        check(
            &feed,
            &leg("nonet", Some("A"), Some("B")),
            Some(&products(&[("P_other", 200)])),
        );
    }

    const AREA_RULES: &str = "network_id,from_area_id,to_area_id,fare_product_id\n\
        rail,zone1,zone2,P12\n\
        rail,zone1,,P1x\n\
        rail,,,Pxx\n";

    #[test]
    fn without_rule_priority_empty_areas_exclude_listed_areas() {
        let feed = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("fare_leg_rules.txt", AREA_RULES),
        ]);
        assert_eq!(feed.empty_field_mode(), EmptyFieldMode::Exclusion);
        check(
            &feed,
            &leg("rail1", Some("A"), Some("B")),
            Some(&products(&[("P12", 300)])),
        );
        // zone3 is not listed as a to_area, so the empty to_area matches it.
        check(
            &feed,
            &leg("rail1", Some("A"), Some("C")),
            Some(&products(&[("P1x", 400)])),
        );
        check(
            &feed,
            &leg("rail1", Some("C"), Some("C")),
            Some(&products(&[("Pxx", 500)])),
        );
        // zone2 is listed as a to_area, and no rule from an unlisted area
        // names it: the fare is unknown (not free).
        check(&feed, &leg("rail1", Some("C"), Some("B")), None);
        // Other networks: no rule at all.
        check(&feed, &leg("bus1", Some("A"), Some("B")), None);
    }

    #[test]
    fn with_rule_priority_empty_fields_match_anything_and_highest_priority_wins() {
        let ties = AREA_RULES
            .replace("fare_product_id\n", "fare_product_id,rule_priority\n")
            .replace("P12\n", "P12,\n")
            .replace("P1x\n", "P1x,\n")
            .replace("Pxx\n", "Pxx,\n");
        let feed_ties = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("fare_leg_rules.txt", &ties),
        ]);
        assert_eq!(feed_ties.empty_field_mode(), EmptyFieldMode::Wildcard);
        // All three match with priority 0 (empty): a tie keeps them all.
        check(
            &feed_ties,
            &leg("rail1", Some("A"), Some("B")),
            Some(&products(&[("P12", 300), ("P1x", 400), ("Pxx", 500)])),
        );
        check(
            &feed_ties,
            &leg("rail1", Some("C"), Some("B")),
            Some(&products(&[("Pxx", 500)])),
        );

        let ranked = "network_id,from_area_id,to_area_id,fare_product_id,rule_priority\n\
            rail,zone1,zone2,P12,2\n\
            rail,zone1,,P1x,1\n\
            ,,,Pxx,0\n";
        let feed = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("fare_leg_rules.txt", ranked),
        ]);
        check(
            &feed,
            &leg("rail1", Some("A"), Some("B")),
            Some(&products(&[("P12", 300)])),
        );
        check(
            &feed,
            &leg("rail1", Some("A"), Some("C")),
            Some(&products(&[("P1x", 400)])),
        );
        check(
            &feed,
            &leg("rail1", Some("C"), Some("B")),
            Some(&products(&[("Pxx", 500)])),
        );
        // An empty network matches every network, including none.
        check(
            &feed,
            &leg("nonet", Some("A"), Some("B")),
            Some(&products(&[("Pxx", 500)])),
        );
    }

    #[test]
    fn platforms_inherit_their_station_areas_unless_assigned() {
        let feed = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("fare_leg_rules.txt", AREA_RULES),
        ]);
        check(
            &feed,
            &leg("rail1", Some("STN"), Some("B")),
            Some(&products(&[("P12", 300)])),
        );
        check(
            &feed,
            &leg("rail1", Some("P1"), Some("B")),
            Some(&products(&[("P12", 300)])),
        );
        // P2 is in zone9 only; zone9 is not listed, and zone2 is: unknown.
        check(&feed, &leg("rail1", Some("P2"), Some("B")), None);
        check(
            &feed,
            &leg("rail1", Some("P2"), Some("C")),
            Some(&products(&[("Pxx", 500)])),
        );
    }

    #[test]
    fn an_unknown_destination_matches_empty_to_areas() {
        let exclusion = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("fare_leg_rules.txt", AREA_RULES),
        ]);
        check(
            &exclusion,
            &leg("rail1", Some("A"), None),
            Some(&products(&[("P1x", 400)])),
        );
        check(
            &exclusion,
            &leg("rail1", None, None),
            Some(&products(&[("Pxx", 500)])),
        );
        let ranked = "network_id,from_area_id,to_area_id,fare_product_id,rule_priority\n\
            rail,zone1,zone2,P12,2\n\
            rail,zone1,,P1x,1\n\
            rail,,,Pxx,0\n";
        let wildcard = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("fare_leg_rules.txt", ranked),
        ]);
        check(
            &wildcard,
            &leg("rail1", Some("A"), None),
            Some(&products(&[("P1x", 400)])),
        );
        check(
            &wildcard,
            &leg("rail1", Some("B"), None),
            Some(&products(&[("Pxx", 500)])),
        );
    }

    const CALENDAR: &str = "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n\
        weekday,1,1,1,1,1,0,0,20260101,20261231\n\
        weekend,0,0,0,0,0,1,1,20260101,20261231\n";
    /// 2026-03-05 (a Thursday) is a holiday: weekday service off, weekend on.
    const CALENDAR_DATES: &str = "service_id,date,exception_type\n\
        weekday,20260305,2\n\
        weekend,20260305,1\n";
    /// Night runs across midnight on weekdays (22:00–24:00 and 00:00–05:00
    /// of the next calendar day, which must itself be a weekday); day runs
    /// 05:00–22:00 on weekdays and all day at weekends.
    const TIMEFRAMES: &str = "timeframe_group_id,start_time,end_time,service_id\n\
        night,22:00:00,24:00:00,weekday\n\
        night,00:00:00,05:00:00,weekday\n\
        day,05:00:00,22:00:00,weekday\n\
        day,,,weekend\n";

    fn timeframe_feed() -> Feed {
        feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("calendar.txt", CALENDAR),
            ("calendar_dates.txt", CALENDAR_DATES),
            ("timeframes.txt", TIMEFRAMES),
            (
                "fare_leg_rules.txt",
                "network_id,from_timeframe_group_id,fare_product_id\nbus,night,P_night\nbus,day,P_day\n",
            ),
        ])
    }

    #[test]
    fn timeframes_use_the_local_current_day_and_time() {
        let feed = timeframe_feed();
        let check_at = |departure: &str, expected: Option<&str>| {
            let leg = Leg {
                departure,
                arrival: departure,
                ..leg("bus1", Some("A"), Some("B"))
            };
            let expected =
                expected.map(|p| products(&[(p, if p == "P_night" { 600 } else { 700 })]));
            check(&feed, &leg, expected.as_deref());
        };
        check_at("2026-03-03T21:59:59+07:00", Some("P_day"));
        check_at("2026-03-03T22:00:00+07:00", Some("P_night"));
        check_at("2026-03-04T04:59:59+07:00", Some("P_night"));
        check_at("2026-03-04T05:00:00+07:00", Some("P_day"));
        // The same instant written in UTC is evaluated in local time.
        check_at("2026-03-03T15:30:00Z", Some("P_night"));
        // Friday 23:00 is night; Saturday 01:00 is on Saturday, a weekend
        // day, whatever the service day of the trip: day fare.
        check_at("2026-03-06T23:00:00+07:00", Some("P_night"));
        check_at("2026-03-07T01:00:00+07:00", Some("P_day"));
        // The holiday: weekday service removed, weekend service added.
        check_at("2026-03-05T23:00:00+07:00", Some("P_day"));
        // Outside the calendar: no timeframe, no rule, unknown fare.
        check_at("2027-01-04T12:00:00+07:00", None);
    }

    #[test]
    fn to_timeframes_use_the_arrival_and_stop_timezones_apply() {
        let feed = feed(&[
            ("fare_products.txt", PRODUCTS_EUR),
            ("calendar.txt", CALENDAR),
            ("timeframes.txt", TIMEFRAMES),
            (
                "fare_leg_rules.txt",
                "to_timeframe_group_id,fare_product_id\nnight,P_arr\n",
            ),
        ]);
        let arriving = |arrival: &'static str, to: &'static str| Leg {
            departure: "2026-03-03T20:00:00+07:00",
            arrival,
            ..leg("bus1", Some("A"), Some(to))
        };
        check(
            &feed,
            &arriving("2026-03-03T22:30:00+07:00", "B"),
            Some(&products(&[("P_arr", 800)])),
        );
        check(&feed, &arriving("2026-03-03T21:30:00+07:00", "B"), None);
        // 22:30 in Ho Chi Minh City is 15:30 in London: not night there.
        check(&feed, &arriving("2026-03-03T22:30:00+07:00", "LON"), None);
        // 06:30 +07 is 23:30 (UTC+0) the evening before in London.
        check(
            &feed,
            &arriving("2026-03-04T06:30:00+07:00", "LON"),
            Some(&products(&[("P_arr", 800)])),
        );
    }

    const CATEGORY_FILES: [(&str, &str); 4] = [
        (
            "rider_categories.txt",
            "rider_category_id,rider_category_name,is_default_fare_category\nadult,Adult,1\nchild,Child,0\nsenior,Senior,\n",
        ),
        (
            "fare_media.txt",
            "fare_media_id,fare_media_name,fare_media_type\ncard,Card,2\napp,App,4\ncash,Cash,0\n",
        ),
        (
            "fare_products.txt",
            "fare_product_id,rider_category_id,fare_media_id,amount,currency\n\
             single,adult,,2.00,EUR\n\
             single,child,,1.00,EUR\n\
             single,adult,app,1.80,EUR\n\
             day,,,5.00,EUR\n",
        ),
        ("fare_leg_rules.txt", "fare_product_id\nsingle\nday\n"),
    ];

    #[test]
    fn products_are_filtered_by_rider_category_and_media() {
        let feed = feed(&CATEGORY_FILES);
        let rider = |category: Option<&'static str>, media: Option<&'static str>| Leg {
            category,
            media,
            ..leg("bus1", Some("A"), Some("B"))
        };
        let day = ("day", None, None, 500);
        // No category: each product's default (adult for single; day has
        // rows for any category only). No media: every media is an option.
        check(
            &feed,
            &rider(None, None),
            Some(&[
                day,
                ("single", Some("adult"), None, 200),
                ("single", Some("adult"), Some("app"), 180),
            ]),
        );
        check(
            &feed,
            &rider(Some("child"), None),
            Some(&[day, ("single", Some("child"), None, 100)]),
        );
        // No senior row and no any-category row for single.
        check(&feed, &rider(Some("senior"), None), Some(&[day]));
        check(
            &feed,
            &rider(Some("adult"), Some("app")),
            Some(&[day, ("single", Some("adult"), Some("app"), 180)]),
        );
        // No cash row: the media-unknown rows apply.
        check(
            &feed,
            &rider(Some("adult"), Some("cash")),
            Some(&[day, ("single", Some("adult"), None, 200)]),
        );
    }

    #[test]
    fn unknown_ids_are_errors() {
        let feed = feed(&CATEGORY_FILES);
        let query = |route: &'static str,
                     stop: &'static str,
                     category: &'static str,
                     media: &'static str| LegQuery {
            route_id: route,
            from_stop_id: Some(stop),
            to_stop_id: None,
            departure: at(NOON),
            arrival: at(NOON),
            rider_category: Some(category),
            fare_media: Some(media),
        };
        let check_err = |q: LegQuery<'_>, expected: LegQueryError| {
            assert_eq!(feed.leg_fares(&q), Err(expected));
        };
        check_err(
            query("nope", "A", "adult", "card"),
            LegQueryError::UnknownRoute("nope".into()),
        );
        check_err(
            query("bus1", "Z", "adult", "card"),
            LegQueryError::UnknownStop("Z".into()),
        );
        check_err(
            query("bus1", "A", "alien", "card"),
            LegQueryError::UnknownRiderCategory("alien".into()),
        );
        check_err(
            query("bus1", "A", "adult", "coin"),
            LegQueryError::UnknownFareMedia("coin".into()),
        );
        let mut backwards = query("bus1", "A", "adult", "card");
        backwards.arrival = at("2026-03-04T11:00:00+07:00");
        check_err(backwards, LegQueryError::ArrivalBeforeDeparture);
    }
}
