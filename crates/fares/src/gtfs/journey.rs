//! Journeys: effective fare legs (fare_leg_join_rules.txt), transfer
//! processing (fare_transfer_rules.txt) and the cheapest way to pay.
//!
//! A journey's price depends on choices the reference leaves to the rider:
//! which of several matched products to buy for a leg, and whether to use a
//! transfer arrangement (buying each leg on its own is always possible).
//! [`Feed::price_journey`] searches them all with dynamic programming over
//! the legs; the state after a leg is what later transfers depend on (the
//! product chosen, whether the leg was paid on its own, and the transfer
//! sub-journey it continues), so the search is exact, not greedy.

use super::currency::{Amount, AmountError, Currency};
use super::ids::{FastMap, ix};
use super::matching::{FareLeg, LegOption, ResolvedLeg, Rider};
use super::model::{DurationLimit, DurationLimitType, FareTransferType, Feed, LocationType};

/// A run of consecutive legs that fare_leg_join_rules.txt makes one fare leg.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EffectiveLeg {
    pub(crate) fare: FareLeg,
    /// Index of its first and last leg in the journey.
    pub(crate) first: usize,
    pub(crate) last: usize,
}

/// The cheapest price of a journey and how it was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Priced {
    pub(crate) total: Amount,
    /// Per effective leg: the product row of the transfer rule applied to
    /// reach it (`None` when paid on its own or the transfer is free of product).
    pub(crate) transfer_products: Vec<Option<u32>>,
}

/// Why a journey whose legs all have fares has no total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JourneyError {
    /// No combination of products uses one currency only, or several
    /// currencies each price the whole journey.
    Currencies,
    /// A sum does not fit in 64 bits of minor units.
    Overflow,
}

impl From<AmountError> for JourneyError {
    fn from(error: AmountError) -> JourneyError {
        match error {
            AmountError::CurrencyMismatch(..) => JourneyError::Currencies,
            _ => JourneyError::Overflow,
        }
    }
}

/// Consecutive applications of one transfer rule's `(from, to)` leg groups:
/// `transfer_count` and `duration_limit` are measured over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Chain {
    from: Option<u32>,
    to: Option<u32>,
    /// The effective leg the sub-journey starts with.
    start: usize,
    /// Transfers made in it so far.
    transfers: u32,
}

/// Everything later transfers depend on after a leg is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct State {
    option: usize,
    /// The leg's own fare was paid (no transfer led to it): a later
    /// `fare_transfer_type = 2` replaces that fare.
    paid_alone: bool,
    chain: Option<Chain>,
    currency: Currency,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    state: State,
    cost: Amount,
    parent: usize,
    transfer_product: Option<u32>,
}

/// One layer of the search: the cheapest node per state.
#[derive(Default)]
struct Layer {
    nodes: Vec<Node>,
    index: FastMap<State, usize>,
}

impl Layer {
    /// Keeps `node` if its state is new or it is strictly cheaper; ties keep
    /// the first found, so the result is deterministic.
    fn relax(&mut self, node: Node) {
        match self.index.get(&node.state) {
            Some(&i) => {
                if let Some(existing) = self.nodes.get_mut(i)
                    && node.cost.minor_units() < existing.cost.minor_units()
                {
                    *existing = node;
                }
            }
            None => {
                self.index.insert(node.state, self.nodes.len());
                self.nodes.push(node);
            }
        }
    }
}

impl Feed {
    /// Groups `legs` into effective fare legs: consecutive legs whose
    /// transfer matches a join rule (networks, and the stops when the rule
    /// names them, else the same station on both sides) become one; chains
    /// of matching transfers become one. An effective leg's network is the
    /// legs' common network, or none when they differ (then only rules with
    /// an empty `network_id` can match it).
    pub(crate) fn effective_legs(&self, legs: &[ResolvedLeg]) -> Vec<EffectiveLeg> {
        let mut out: Vec<EffectiveLeg> = Vec::new();
        for (i, leg) in legs.iter().enumerate() {
            let joined = i > 0
                && legs
                    .get(i - 1)
                    .is_some_and(|previous| self.joins(previous, leg));
            match out.last_mut() {
                Some(current) if joined => {
                    if current.fare.network != leg.network {
                        current.fare.network = None;
                    }
                    current.fare.to_stop = leg.to_stop;
                    current.fare.arrival = leg.arrival;
                    current.last = i;
                }
                _ => out.push(EffectiveLeg {
                    fare: FareLeg::from(*leg),
                    first: i,
                    last: i,
                }),
            }
        }
        out
    }

    fn joins(&self, before: &ResolvedLeg, after: &ResolvedLeg) -> bool {
        let (Some(from_network), Some(to_network)) = (before.network, after.network) else {
            return false;
        };
        let (Some(end), Some(start)) = (before.to_stop, after.from_stop) else {
            return false;
        };
        self.join_rules.iter().any(|rule| {
            rule.from_network == from_network
                && rule.to_network == to_network
                && match rule.stops {
                    Some((from_stop, to_stop)) => {
                        self.is_or_within(end, from_stop) && self.is_or_within(start, to_stop)
                    }
                    None => self.station(end) == self.station(start),
                }
        })
    }

    /// The station a stop belongs to, or the stop itself.
    fn station(&self, stop: u32) -> u32 {
        self.stop(stop)
            .and_then(|info| info.parent)
            .filter(|&p| {
                self.stop(p)
                    .is_some_and(|p| p.location_type == LocationType::Station)
            })
            .unwrap_or(stop)
    }

    /// True when `stop` is `target` or one of its platforms.
    fn is_or_within(&self, stop: u32, target: u32) -> bool {
        stop == target || self.station(stop) == target
    }

    /// The transfer rules for a transfer from leg group `from` to `to`:
    /// exact matches when there are any, else the rules whose empty
    /// `from_leg_group_id` / `to_leg_group_id` stand for every group not
    /// listed in that column.
    fn transfer_candidates(&self, from: u32, to: u32, out: &mut Vec<u32>) {
        out.clear();
        if let Some(exact) = self.transfer_rules_by_groups.get(&(Some(from), Some(to))) {
            out.extend(exact);
            return;
        }
        let unlisted =
            |listed: &[bool], group: u32| !listed.get(ix(group)).copied().unwrap_or(false);
        let from_free = unlisted(&self.listed_from_group, from);
        let to_free = unlisted(&self.listed_to_group, to);
        for (key, allowed) in [
            ((Some(from), None), to_free),
            ((None, Some(to)), from_free),
            ((None, None), from_free && to_free),
        ] {
            if allowed && let Some(rules) = self.transfer_rules_by_groups.get(&key) {
                out.extend(rules);
            }
        }
        out.sort_unstable();
    }

    /// The cheapest way to pay `legs` given each one's `options` (none of
    /// them empty), with every transfer arrangement the rules allow.
    ///
    /// Transfer processing, per transfer from leg *i* to *i+1*:
    /// - the rule is chosen among the candidates whose duration limit holds,
    ///   measured from the first leg of the transfer sub-journey (the leg
    ///   where consecutive applications of rules with the same
    ///   `from_leg_group_id`/`to_leg_group_id` started; the limit is
    ///   inclusive), and whose `transfer_count` allows the sub-journey's
    ///   transfer count; among those the minimum `transfer_count` wins (-1 or
    ///   no value being unlimited);
    /// - cost: type 0 adds the transfer product (S + AB); type 1 adds it and
    ///   the to-leg's fare (S + AB + B); type 2 adds it and takes back the
    ///   from-leg's fare when that leg was paid on its own (A > B costs AB,
    ///   then S + BC), as the reference's tables give it;
    /// - declining a transfer and paying the to-leg on its own is always an
    ///   option, so a transfer never makes a journey dearer;
    /// - a leg whose matched rule has no `leg_group_id` is in no leg group,
    ///   so no transfer rule applies to or from it (an empty
    ///   `from_leg_group_id` stands for groups defined in fare_leg_rules.txt);
    /// - a transfer rule whose product has no row for the rider's category
    ///   and media cannot be used; one without `fare_product_id` costs 0;
    /// - an absent `transfer_count` (allowed when the groups differ or are
    ///   empty) puts no limit on consecutive applications.
    pub(crate) fn price_journey(
        &self,
        legs: &[EffectiveLeg],
        options: &[Vec<LegOption>],
        rider: Rider,
    ) -> Result<Priced, JourneyError> {
        let mut layers: Vec<Layer> = Vec::with_capacity(options.len());
        let mut first = Layer::default();
        for (i, option) in options.first().into_iter().flatten().enumerate() {
            first.relax(Node {
                state: State {
                    option: i,
                    paid_alone: true,
                    chain: None,
                    currency: option.amount.currency(),
                },
                cost: option.amount,
                parent: 0,
                transfer_product: None,
            });
        }
        layers.push(first);
        let mut candidates = Vec::new();
        let mut eligible: Vec<(u32, Chain)> = Vec::new();
        let mut rows = Vec::new();
        for (to_index, to_options) in options.iter().enumerate().skip(1) {
            let from_index = to_index - 1;
            let (Some(previous), Some(from_options), Some(to_leg)) =
                (layers.last(), options.get(from_index), legs.get(to_index))
            else {
                break;
            };
            let mut layer = Layer::default();
            for (parent, node) in previous.nodes.iter().enumerate() {
                let Some(from_option) = from_options.get(node.state.option) else {
                    continue;
                };
                let currency = node.state.currency;
                for (o, to_option) in to_options.iter().enumerate() {
                    if to_option.amount.currency() == currency {
                        layer.relax(Node {
                            state: State {
                                option: o,
                                paid_alone: true,
                                chain: None,
                                currency,
                            },
                            cost: node.cost.checked_add(to_option.amount)?,
                            parent,
                            transfer_product: None,
                        });
                    }
                    let (Some(from_group), Some(to_group)) =
                        (from_option.leg_group, to_option.leg_group)
                    else {
                        continue;
                    };
                    self.transfer_candidates(from_group, to_group, &mut candidates);
                    eligible.clear();
                    for &r in &candidates {
                        let Some(rule) = self.transfer_rules.get(ix(r)) else {
                            continue;
                        };
                        let chain = match node.state.chain {
                            Some(c) if c.from == rule.from_group && c.to == rule.to_group => {
                                Chain {
                                    transfers: c.transfers.saturating_add(1),
                                    ..c
                                }
                            }
                            _ => Chain {
                                from: rule.from_group,
                                to: rule.to_group,
                                start: from_index,
                                transfers: 1,
                            },
                        };
                        let within_limit = rule.duration.is_none_or(|limit| {
                            legs.get(chain.start)
                                .is_some_and(|start| within(start, to_leg, limit))
                        });
                        if within_limit && rule.transfer_count.allows(chain.transfers) {
                            eligible.push((r, chain));
                        }
                    }
                    let Some(min_count) = eligible
                        .iter()
                        .filter_map(|&(r, _)| self.transfer_rules.get(ix(r)))
                        .map(|rule| rule.transfer_count)
                        .min()
                    else {
                        continue;
                    };
                    for &(r, chain) in &eligible {
                        let Some(rule) = self.transfer_rules.get(ix(r)) else {
                            continue;
                        };
                        if rule.transfer_count != min_count {
                            continue;
                        }
                        // A rule without a product costs nothing; a rule
                        // whose product has no row for this rider cannot be used.
                        rows.clear();
                        if let Some(product) = rule.product {
                            self.product_rows_for(product, rider, &mut rows);
                        }
                        let free = rule.product.is_none().then_some(None);
                        for row in rows.iter().copied().map(Some).chain(free) {
                            let transfer = match row {
                                Some(r) => self.product_row(r).amount,
                                None => Amount::zero(currency),
                            };
                            if transfer.currency() != currency {
                                continue;
                            }
                            let with_transfer = node.cost.checked_add(transfer)?;
                            let cost = match rule.transfer_type {
                                FareTransferType::FromLegPlusTransfer => with_transfer,
                                FareTransferType::FromLegPlusTransferPlusToLeg => {
                                    if to_option.amount.currency() != currency {
                                        continue;
                                    }
                                    with_transfer.checked_add(to_option.amount)?
                                }
                                FareTransferType::TransferOnly if node.state.paid_alone => {
                                    with_transfer.checked_sub(from_option.amount)?
                                }
                                FareTransferType::TransferOnly => with_transfer,
                            };
                            layer.relax(Node {
                                state: State {
                                    option: o,
                                    paid_alone: false,
                                    chain: Some(chain),
                                    currency,
                                },
                                cost,
                                parent,
                                transfer_product: row,
                            });
                        }
                    }
                }
            }
            layers.push(layer);
        }
        let last = layers.last().map_or(&[][..], |l| l.nodes.as_slice());
        let mut best: Option<(usize, &Node)> = None;
        for (i, node) in last.iter().enumerate() {
            match best {
                Some((_, b)) if b.state.currency != node.state.currency => {
                    return Err(JourneyError::Currencies);
                }
                Some((_, b)) if b.cost.minor_units() <= node.cost.minor_units() => {}
                _ => best = Some((i, node)),
            }
        }
        let Some((mut at, best)) = best else {
            return Err(JourneyError::Currencies);
        };
        let total = best.cost;
        let mut transfer_products = vec![None; layers.len()];
        for (i, layer) in layers.iter().enumerate().rev() {
            let Some(node) = layer.nodes.get(at) else {
                break;
            };
            if let Some(slot) = transfer_products.get_mut(i) {
                *slot = node.transfer_product;
            }
            at = node.parent;
        }
        Ok(Priced {
            total,
            transfer_products,
        })
    }
}

/// True when the time between the validations `limit.kind` names, from the
/// first leg of the transfer sub-journey to its last, is at most the limit.
fn within(first: &EffectiveLeg, last: &EffectiveLeg, limit: DurationLimit) -> bool {
    let (from, to) = match limit.kind {
        DurationLimitType::DepartureToArrival => (first.fare.departure, last.fare.arrival),
        DurationLimitType::DepartureToDeparture => (first.fare.departure, last.fare.departure),
        DurationLimitType::ArrivalToDeparture => (first.fare.arrival, last.fare.departure),
        DurationLimitType::ArrivalToArrival => (first.fare.arrival, last.fare.arrival),
    };
    to.signed_duration_since(from).num_seconds() <= i64::from(limit.limit_s)
}

#[cfg(test)]
mod tests {
    use super::super::quote::{JourneyLeg, QuoteRequest};
    use super::super::test_support::{at, feed};
    use super::*;

    const PRODUCTS: &str = "fare_product_id,amount,currency\n\
        bus_single,2.00,EUR\nrail_single,3.00,EUR\nferry_single,4.00,EUR\n\
        long_trip,2.50,EUR\n\
        t025,0.25,EUR\nt030,0.30,EUR\nt050,0.50,EUR\nt100,1.00,EUR\nt250,2.50,EUR\ndisc100,-1.00,EUR\n";
    const LEG_RULES: &str = "leg_group_id,network_id,fare_product_id\n\
        g_bus,bus,bus_single\ng_rail,rail,rail_single\ng_ferry,ferry,ferry_single\n";
    const HEADER: &str = "from_leg_group_id,to_leg_group_id,transfer_count,duration_limit,duration_limit_type,fare_transfer_type,fare_product_id\n";

    /// A feed with one leg group per network and `transfer_rows` under
    /// [`HEADER`].
    fn transfer_feed(transfer_rows: &str) -> Feed {
        feed(&[
            ("fare_products.txt", PRODUCTS),
            ("fare_leg_rules.txt", LEG_RULES),
            (
                "fare_transfer_rules.txt",
                &format!("{HEADER}{transfer_rows}"),
            ),
        ])
    }

    /// `(route, from, to, departure, arrival)`; times are `HH:MM` on 4 March 2026.
    type Leg<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

    fn request(legs: &[Leg<'_>]) -> QuoteRequest {
        let time = |hm: &str| at(&format!("2026-03-04T{hm}:00+07:00"));
        QuoteRequest {
            rider_category: None,
            fare_media: None,
            legs: legs
                .iter()
                .map(|&(route, from, to, departure, arrival)| JourneyLeg {
                    route_id: route.to_owned(),
                    from_stop_id: Some(from.to_owned()),
                    to_stop_id: Some(to.to_owned()),
                    departure: time(departure),
                    arrival: time(arrival),
                })
                .collect(),
        }
    }

    /// Legs on `routes` between A and B, each 15 minutes, 20 minutes apart.
    fn timed(routes: &[&'static str]) -> Vec<Leg<'static>> {
        const TIMES: [(&str, &str); 6] = [
            ("10:00", "10:15"),
            ("10:20", "10:35"),
            ("10:40", "10:55"),
            ("11:00", "11:15"),
            ("11:20", "11:35"),
            ("11:40", "11:55"),
        ];
        routes
            .iter()
            .zip(TIMES)
            .map(|(&route, (dep, arr))| (route, "A", "B", dep, arr))
            .collect()
    }

    /// The journey's total in cents, `None` when unknown.
    fn check(feed: &Feed, legs: &[Leg<'_>], expected_cents: Option<i64>) {
        let response = feed.quote(&request(legs)).expect("a valid request");
        assert_eq!(
            response.total.map(Amount::minor_units),
            expected_cents,
            "{legs:?}"
        );
    }

    /// The product ids the quote lists per leg.
    fn check_listed(feed: &Feed, legs: &[Leg<'_>], expected: &[&[&str]]) {
        let response = feed.quote(&request(legs)).expect("a valid request");
        let listed: Vec<Vec<&str>> = response
            .legs
            .iter()
            .map(|l| l.fare_product_ids.iter().map(|p| p.as_str()).collect())
            .collect();
        assert_eq!(listed, expected, "{legs:?}");
    }

    #[test]
    fn each_fare_transfer_type_costs_as_the_reference_says() {
        let bus_rail = timed(&["bus1", "rail1"]);
        let cases = [
            // A + AB
            ("0", "t050", 250),
            // A + AB + B with a discount product
            ("1", "disc100", 400),
            // A + AB + B dearer than buying both: the rider buys both.
            ("1", "t050", 500),
            // AB
            ("2", "t250", 250),
            // No product: the transfer costs 0 (A + 0).
            ("0", "", 200),
        ];
        for (kind, product, cents) in cases {
            let feed = transfer_feed(&format!("g_bus,g_rail,,,,{kind},{product}\n"));
            check(&feed, &bus_rail, Some(cents));
        }
    }

    #[test]
    fn chains_of_transfers_follow_the_three_leg_table() {
        let bus_rail_ferry = timed(&["bus1", "rail1", "ferry1"]);
        let cases = [
            // S + BC after A + AB
            ("0", "t050", "0", "t025", 275),
            // S + BC + C after A + AB + B
            ("1", "disc100", "1", "disc100", 700),
            // AB, then S + BC
            ("2", "t100", "2", "t050", 150),
            // Declining A > B is cheaper here: A, then B > C as AB-type
            // replaces B: 2.00 + 1.00 instead of 2.50 + 1.00.
            ("2", "t250", "2", "t100", 300),
            // AB, then S + BC + C
            ("2", "t250", "1", "disc100", 550),
        ];
        for (kind_ab, ab, kind_bc, bc, cents) in cases {
            let feed = transfer_feed(&format!(
                "g_bus,g_rail,,,,{kind_ab},{ab}\ng_rail,g_ferry,,,,{kind_bc},{bc}\n"
            ));
            check(&feed, &bus_rail_ferry, Some(cents));
        }
    }

    #[test]
    fn transfer_rules_are_directional() {
        let feed = transfer_feed("g_bus,g_rail,,,,0,t050\n");
        check(&feed, &timed(&["bus1", "rail1"]), Some(250));
        check(&feed, &timed(&["rail1", "bus1"]), Some(500));
    }

    #[test]
    fn transfer_count_picks_the_smallest_count_that_covers_the_sub_journey() {
        let feed = transfer_feed("g_bus,g_bus,1,,,0,\ng_bus,g_bus,2,,,0,t030\n");
        check(&feed, &timed(&["bus1", "bus2"]), Some(200));
        // First transfer: count 1 (free); second: only count 2 covers it.
        check(&feed, &timed(&["bus1", "bus2", "bus1"]), Some(230));
        // No rule spans three transfers: the fourth bus starts afresh and
        // the best is two free pairs.
        check(&feed, &timed(&["bus1", "bus2", "bus1", "bus2"]), Some(400));
        let unlimited = transfer_feed("g_bus,g_bus,-1,,,0,\n");
        check(
            &unlimited,
            &timed(&["bus1", "bus2", "bus1", "bus2", "bus1"]),
            Some(200),
        );
    }

    #[test]
    fn each_duration_limit_type_measures_its_own_interval() {
        // bus 10:00–10:20, rail 10:50–11:30: departure→arrival 5400 s,
        // departure→departure 3000 s, arrival→departure 1800 s,
        // arrival→arrival 4200 s. Limits are inclusive.
        let legs = [
            ("bus1", "A", "B", "10:00", "10:20"),
            ("rail1", "B", "C", "10:50", "11:30"),
        ];
        for (kind, seconds) in [(0, 5400), (1, 3000), (2, 1800), (3, 4200)] {
            let inside = transfer_feed(&format!("g_bus,g_rail,,{seconds},{kind},0,t050\n"));
            check(&inside, &legs, Some(250));
            let outside = transfer_feed(&format!("g_bus,g_rail,,{},{kind},0,t050\n", seconds - 1));
            check(&outside, &legs, Some(500));
        }
    }

    #[test]
    fn a_repeated_rule_measures_its_limit_from_the_first_leg() {
        let feed = transfer_feed("g_bus,g_bus,-1,3600,1,0,\n");
        // 10:00 → 10:30 is within an hour, 10:00 → 11:10 is not, even
        // though 10:30 → 11:10 would be.
        let legs = [
            ("bus1", "A", "B", "10:00", "10:10"),
            ("bus2", "B", "C", "10:30", "10:40"),
            ("bus1", "C", "A", "11:10", "11:20"),
        ];
        check(&feed, &legs, Some(400));
        check(&feed, &legs[..2], Some(200));
    }

    #[test]
    fn empty_leg_groups_match_every_group_not_listed() {
        let feed = transfer_feed("g_bus,g_rail,,,,0,t050\n,g_rail,,,,0,t100\ng_bus,,,,,0,t025\n");
        // Exact match only: the empty-group rules are not considered.
        check(&feed, &timed(&["bus1", "rail1"]), Some(250));
        // g_ferry is not a listed from-group: the empty from-group matches.
        check(&feed, &timed(&["ferry1", "rail1"]), Some(500));
        // g_ferry and g_bus are not listed to-groups.
        check(&feed, &timed(&["bus1", "ferry1"]), Some(225));
        check(&feed, &timed(&["bus1", "bus2"]), Some(225));
        // g_rail is listed as a from-group only with no matching rule: none.
        check(&feed, &timed(&["rail1", "ferry1"]), Some(700));
    }

    #[test]
    fn a_transfer_product_is_listed_on_the_leg_it_leads_to() {
        let feed = transfer_feed("g_bus,g_rail,,,,0,t050\n");
        check_listed(
            &feed,
            &timed(&["bus1", "rail1"]),
            &[&["bus_single"], &["rail_single", "t050"]],
        );
        check_listed(
            &feed,
            &timed(&["rail1", "bus1"]),
            &[&["rail_single"], &["bus_single"]],
        );
    }

    fn join_feed(join_rules: &str) -> Feed {
        feed(&[
            ("fare_products.txt", PRODUCTS),
            (
                "fare_leg_rules.txt",
                "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id,rule_priority\n\
                 g_bus,bus,,,bus_single,0\n\
                 g_bus,bus,zone1,zone3,long_trip,1\n\
                 g_rail,rail,,,rail_single,0\n",
            ),
            ("fare_leg_join_rules.txt", join_rules),
        ])
    }

    #[test]
    fn join_rules_make_one_effective_fare_leg() {
        let by_station =
            join_feed("from_network_id,to_network_id,from_stop_id,to_stop_id\nbus,bus,,\n");
        // A → platform 1, platform 2 → C: same station, one leg zone1 → zone3.
        let through = [
            ("bus1", "A", "P1", "10:00", "10:10"),
            ("bus2", "P2", "C", "10:15", "10:30"),
        ];
        check(&by_station, &through, Some(250));
        check_listed(&by_station, &through, &[&["long_trip"], &["long_trip"]]);
        // Different stops: two legs, each A→B-like.
        let apart = [
            ("bus1", "A", "B", "10:00", "10:10"),
            ("bus2", "C", "A", "10:15", "10:30"),
        ];
        check(&by_station, &apart, Some(400));
        // Three legs through the station and back: all one leg.
        let chain = [
            ("bus1", "A", "P1", "10:00", "10:10"),
            ("bus2", "P2", "STN", "10:15", "10:20"),
            ("bus1", "P1", "C", "10:25", "10:30"),
        ];
        check(&by_station, &chain, Some(250));

        let by_stops =
            join_feed("from_network_id,to_network_id,from_stop_id,to_stop_id\nbus,bus,B,C\n");
        let named = [
            ("bus1", "A", "B", "10:00", "10:10"),
            ("bus2", "C", "C", "10:15", "10:30"),
        ];
        check(&by_stops, &named, Some(250));
        check(&by_stops, &through, Some(400));
    }

    #[test]
    fn joined_legs_of_different_networks_have_no_network() {
        let feed = join_feed("from_network_id,to_network_id,from_stop_id,to_stop_id\nbus,rail,,\n");
        let legs = [
            ("bus1", "A", "P1", "10:00", "10:10"),
            ("rail1", "P2", "C", "10:15", "10:30"),
        ];
        // Every rule names a network, so the effective leg matches none.
        check(&feed, &legs, None);
        check_listed(&feed, &legs, &[&[], &[]]);
    }
}
