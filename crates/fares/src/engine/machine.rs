//! The per-account state machine: a state and an event in, a decision and a
//! new state out.
//!
//! Each handler first works out the whole answer from the current state
//! without touching it, returns early on a deny or an error, and only then
//! writes the changes. So a deny or an error changes nothing, which the
//! services rely on to retry and the replay relies on to go on.
//!
//! Where the spec is silent, the engine decides as follows:
//! - A metro fare counts toward the caps of the service day (and month) of
//!   its **tap out**, when it is charged; pass coverage and the transfer
//!   discount are fixed at the tap in, as the spec says. Events arrive in
//!   time order, so the counters only ever move forward.
//! - A trip covered by a pass or ridden exempt is still a completed leg: it
//!   can give a transfer discount to the next leg (only cancelled and
//!   incomplete trips cannot).
//! - A tap in denied for `insufficient_funds` changes nothing, so a trip
//!   left open stays open (it is not closed as incomplete by a refused tap).
//! - An accepted tap in that closes an open trip as incomplete answers with
//!   the new hold and no reason; the breakdown carries `incomplete_charge`.
//! - A tap out at a station of another tap-in/tap-out network closes the
//!   trip as incomplete (no fare is defined between networks).
//! - Park and ride is earned by an accepted tap in at the lot's linked
//!   station at or after the stay's entry.
//! - "Below its charge" is literal: a wallet that a parking exit left
//!   negative is refused even a 0-VND ride until it is topped up.
//! - **Lost ticket.** A stay closed by an operator for a rider who lost
//!   the medium (`ParkExit::LostTicket`) costs the stay's own fee (the
//!   account's stay says when it began, so the tariff, park and ride and
//!   permits apply as at a gate) plus the lot's lost-ticket fee (its
//!   tariff's `lost_ticket_vnd`). It is an exit like any other: always
//!   accepted when the stay is open at that lot, even below zero.
//! - **Parking permits** are passes that cover lots (`covers_lots`). A
//!   permit covers the part of a stay at one of its lots that falls within
//!   its validity, from the first instant of its first service day to the
//!   last instant of its last; the rest of the stay is priced by the tariff
//!   as one stay of that length (grace and park and ride included), so a
//!   stay wholly inside the validity costs 0 and one that outlives the
//!   permit pays only for the time after it. Several permits of the lot
//!   count together (a renewal). The permit the outcome reports is the one
//!   that covered the most of the stay (the first held, on a tie). A permit
//!   never covers the lost-ticket fee.
//! - Expired passes are pruned at a purchase, except those that may still
//!   cover the open stay (valid on or after the stay's entry day).

use chrono::{DateTime, FixedOffset};
use ledger::Money;

use super::calendar::{EventTime, ServiceDay};
use super::compiled::{CompiledCategory, CompiledTapNetwork, Engine};
use super::config::TransitBehaviour;
use super::event::{
    Breakdown, Decision, Event, EventError, EventKind, LegOwner, Outcome, ParkExit, Reason,
};
use super::parking::parking_fee;
use super::state::{
    AccountState, CategoryIdx, Coverage, GroupIdx, HeldPass, LastLeg, LotIdx, LotOccupancy,
    NetworkIdx, OpenStay, OpenTrip, ParkAndRide, PassIdx, RouteIdx, Spent, StationIdx,
};

/// Unexpired passes an account can hold at once (expired ones are pruned at
/// each purchase). The state lives in Redis and must stay small; a rider
/// holds one or two valid passes, so 16 leaves ample room for passes bought
/// ahead while bounding the state at a few hundred bytes.
pub const MAX_PASSES_HELD: usize = 16;

/// The result of [`Engine::decide`]: the outcome and the states to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// What the terminal and the ledger need.
    pub outcome: Outcome,
    /// The account's new state (equal to the old one on deny).
    pub state: AccountState,
    /// The lot's new occupancy, for parking events.
    pub occupancy: Option<LotOccupancy>,
}

/// A station resolved to its network.
struct StationRef<'e> {
    net: &'e CompiledTapNetwork,
    tap_network: usize,
    local: usize,
}

impl Engine {
    /// Prices `event` for an account in `state`. Pure: the inputs are not
    /// changed; the new state is returned.
    ///
    /// `occupancy` is the counter of the event's lot for parking events
    /// (ignored otherwise).
    ///
    /// # Errors
    /// See [`Engine::apply`].
    pub fn decide(
        &self,
        state: &AccountState,
        occupancy: Option<LotOccupancy>,
        event: &Event,
    ) -> Result<Decided, EventError> {
        let mut next = state.clone();
        let mut occupancy = occupancy;
        let outcome = self.apply(&mut next, occupancy.as_mut(), event)?;
        Ok(Decided {
            outcome,
            state: next,
            occupancy,
        })
    }

    /// Prices `event` and updates `state` (and `occupancy`) in place.
    /// On a deny or an error nothing is changed.
    ///
    /// # Errors
    /// A non-positive top-up, an amount overflow, an index not of this
    /// engine (in the event or the state), or a parking event without the
    /// counter of its lot.
    pub fn apply(
        &self,
        state: &mut AccountState,
        occupancy: Option<&mut LotOccupancy>,
        event: &Event,
    ) -> Result<Outcome, EventError> {
        let at = self.calendar.event_time(event.at);
        match event.kind {
            EventKind::TopUp { amount } => top_up(state, at, amount),
            EventKind::Bus { route, category } => self.bus(state, at, route, category),
            EventKind::MetroIn { station, category } => self.metro_in(state, at, station, category),
            EventKind::MetroOut { station } => self.metro_out(state, at, station),
            EventKind::BuyPass { product, category } => self.buy_pass(state, at, product, category),
            EventKind::ParkIn { lot } => self.park_in(state, occupancy, at, lot),
            EventKind::ParkOut { lot, exit } => self.park_out(state, occupancy, at, lot, exit),
        }
    }

    /// Closes a trip left open past the incomplete-journey threshold at
    /// `at` (the services run it when a service day is closed). Returns the
    /// outcome when a trip was closed, `None` when there was nothing to close.
    ///
    /// # Errors
    /// An index in the state that this engine does not have.
    pub fn expire_trip(
        &self,
        state: &mut AccountState,
        at: DateTime<FixedOffset>,
    ) -> Result<Option<Outcome>, EventError> {
        let at = self.calendar.event_time(at);
        let Some(trip) = state.open_trip else {
            return Ok(None);
        };
        let entry = self.station_ref(trip.station)?;
        if at.unix_s.saturating_sub(trip.entered_at_s) <= entry.net.incomplete_after_s {
            return Ok(None);
        }
        Ok(Some(close_incomplete(state, at, trip, entry.net)))
    }

    fn category_rule(&self, idx: CategoryIdx) -> Result<&CompiledCategory, EventError> {
        self.categories
            .get(idx.get())
            .ok_or(EventError::UnknownIndex("category"))
    }

    fn station_ref(&self, idx: StationIdx) -> Result<StationRef<'_>, EventError> {
        let station = self
            .stations
            .get(idx.get())
            .ok_or(EventError::UnknownIndex("station"))?;
        let net = self
            .tap_networks
            .get(station.tap_network)
            .ok_or(EventError::UnknownIndex("tap network"))?;
        Ok(StationRef {
            net,
            tap_network: station.tap_network,
            local: station.local,
        })
    }

    /// The first held pass valid on `day` that covers `network`.
    fn covering_pass(
        &self,
        state: &AccountState,
        network: NetworkIdx,
        day: ServiceDay,
    ) -> Option<PassIdx> {
        state.passes.iter().find_map(|held| {
            let pass = self.passes.get(held.product.get())?;
            (held.valid_on(day) && pass.covers.contains(&network)).then_some(held.product)
        })
    }

    fn coverage(
        &self,
        state: &AccountState,
        category: &CompiledCategory,
        network: NetworkIdx,
        day: ServiceDay,
    ) -> Coverage {
        if category.transit == TransitBehaviour::Exempt {
            return Coverage::Exempt;
        }
        match self.covering_pass(state, network, day) {
            Some(pass) => Coverage::Pass(pass),
            None => Coverage::Fare,
        }
    }

    /// The transfer discount a leg of `group` starting at `at_s` earns from
    /// the latest completed leg.
    fn discount_for(&self, last: Option<LastLeg>, group: Option<GroupIdx>, at_s: i64) -> Money {
        let (Some(last), Some(to)) = (last, group) else {
            return Money::ZERO;
        };
        let Some(from) = last.group else {
            return Money::ZERO;
        };
        let slot = from.get() * self.groups.len() + to.get();
        match self.discounts.get(slot).copied().flatten() {
            Some((discount, within_s)) => {
                let gap_s = at_s.saturating_sub(last.at_s);
                if (0..=within_s).contains(&gap_s) {
                    discount
                } else {
                    Money::ZERO
                }
            }
            None => Money::ZERO,
        }
    }

    /// `min(fare, what is left of the caps)`, never below 0.
    fn capped(
        state: &AccountState,
        category: &CompiledCategory,
        day: ServiceDay,
        fare: Money,
    ) -> Result<Money, EventError> {
        let Some(caps) = category.caps else {
            return Ok(fare.clamp_non_negative());
        };
        let day_left = caps.daily.checked_sub(Spent::on_day(state.spent, day))?;
        let month_left = caps
            .monthly
            .checked_sub(Spent::in_month(state.spent, day.month()))?;
        Ok(fare.min(day_left).min(month_left).clamp_non_negative())
    }

    fn bus(
        &self,
        state: &mut AccountState,
        at: EventTime,
        route_idx: RouteIdx,
        category_idx: CategoryIdx,
    ) -> Result<Outcome, EventError> {
        let route = self
            .routes
            .get(route_idx.get())
            .ok_or(EventError::UnknownIndex("route"))?;
        let category = self.category_rule(category_idx)?;
        let coverage = self.coverage(state, category, route.network, at.service_day);
        let full_fare = match coverage {
            Coverage::Fare => self
                .route_fare(route_idx, category_idx)
                .ok_or(EventError::UnknownIndex("route fare"))?,
            Coverage::Exempt | Coverage::Pass(_) => Money::ZERO,
        };
        let discount = self
            .discount_for(state.last_leg, route.group, at.unix_s)
            .min(full_fare);
        let discounted = full_fare.checked_sub(discount)?;
        let charge = Self::capped(state, category, at.service_day, discounted)?;
        let owner = LegOwner {
            network: Some(route.network),
            operator: route.operator,
        };
        let mut outcome = outcome_base(state, at, Some(coverage));
        outcome.owner = Some(owner);
        if state.balance < charge {
            return Ok(deny(outcome, Reason::InsufficientFunds));
        }

        let balance = state.balance.checked_sub(charge)?;
        let spent = add_spent(state.spent, at.service_day, charge)?;
        state.balance = balance;
        if coverage == Coverage::Fare {
            state.spent = Some(spent);
        }
        state.last_leg = Some(LastLeg {
            group: route.group,
            at_s: at.unix_s,
        });
        state.version = state.version.wrapping_add(1);

        outcome.amount = charge;
        outcome.balance = balance;
        outcome.pass = pass_of(coverage);
        if !matches!(coverage, Coverage::Pass(_)) {
            outcome.fare_product = self.route_product(route_idx, category_idx);
        }
        outcome.breakdown = Breakdown {
            full_fare,
            discount,
            cap_reduction: discounted.checked_sub(charge)?,
            fare_charged: charge,
            ..Breakdown::default()
        };
        Ok(outcome)
    }

    fn metro_in(
        &self,
        state: &mut AccountState,
        at: EventTime,
        station: StationIdx,
        category_idx: CategoryIdx,
    ) -> Result<Outcome, EventError> {
        let entry = self.station_ref(station)?;
        let category = self.category_rule(category_idx)?;
        let coverage = self.coverage(state, category, entry.net.network, at.service_day);
        let hold = match coverage {
            Coverage::Fare => entry.net.entry_hold,
            Coverage::Exempt | Coverage::Pass(_) => Money::ZERO,
        };
        let discount = match coverage {
            Coverage::Fare => self.discount_for(state.last_leg, entry.net.group, at.unix_s),
            Coverage::Exempt | Coverage::Pass(_) => Money::ZERO,
        };
        // A trip still open is incomplete: its hold becomes its charge.
        let incomplete_charge = state.open_trip.map_or(Money::ZERO, |t| t.hold);
        let mut outcome = outcome_base(state, at, Some(coverage));
        outcome.owner = Some(LegOwner {
            network: Some(entry.net.network),
            operator: entry.net.operator,
        });
        if state.balance < hold {
            return Ok(deny(outcome, Reason::InsufficientFunds));
        }

        let balance = state.balance.checked_sub(hold)?;
        state.balance = balance;
        state.open_trip = Some(OpenTrip {
            station,
            entered_at_s: at.unix_s,
            entry_day: at.service_day,
            hold,
            category: category_idx,
            discount,
            coverage,
        });
        if let Some(stay) = state.open_stay.as_mut() {
            let linked = self
                .lots
                .get(stay.lot.get())
                .and_then(|lot| lot.linked_station);
            if linked == Some(station) && stay.entered_at_s <= at.unix_s {
                stay.park_and_ride = ParkAndRide::Earned;
            }
        }
        state.version = state.version.wrapping_add(1);

        outcome.amount = hold;
        outcome.balance = balance;
        outcome.pass = pass_of(coverage);
        outcome.breakdown = Breakdown {
            hold_placed: hold,
            incomplete_charge,
            ..Breakdown::default()
        };
        Ok(outcome)
    }

    fn metro_out(
        &self,
        state: &mut AccountState,
        at: EventTime,
        station: StationIdx,
    ) -> Result<Outcome, EventError> {
        let exit = self.station_ref(station)?;
        let Some(trip) = state.open_trip else {
            return Ok(deny(outcome_base(state, at, None), Reason::NoOpenTrip));
        };
        let entry = self.station_ref(trip.station)?;
        let category = self.category_rule(trip.category)?;
        let elapsed_s = at.unix_s.saturating_sub(trip.entered_at_s);
        if elapsed_s > entry.net.incomplete_after_s || exit.tap_network != entry.tap_network {
            return Ok(close_incomplete(state, at, trip, entry.net));
        }

        let same_station = exit.local == entry.local;
        let cancelled = same_station && elapsed_s <= entry.net.same_station_cancel_s;
        let full_fare = match trip.coverage {
            Coverage::Fare if !cancelled => self
                .pair_fare(trip.station, station, trip.category)
                .ok_or(EventError::UnknownIndex("station pair fare"))?,
            _ => Money::ZERO,
        };
        let discount = if cancelled {
            Money::ZERO
        } else {
            trip.discount.min(full_fare)
        };
        let discounted = full_fare.checked_sub(discount)?;
        let charge = Self::capped(state, category, at.service_day, discounted)?;
        let refund = trip.hold.checked_sub(charge)?;
        let balance = state.balance.checked_add(refund)?;
        let spent = add_spent(state.spent, at.service_day, charge)?;

        let mut outcome = outcome_base(state, at, Some(trip.coverage));
        state.balance = balance;
        if trip.coverage == Coverage::Fare {
            state.spent = Some(spent);
        }
        state.open_trip = None;
        if !cancelled {
            state.last_leg = Some(LastLeg {
                group: entry.net.group,
                at_s: at.unix_s,
            });
        }
        state.version = state.version.wrapping_add(1);

        outcome.amount = refund.checked_neg()?;
        outcome.balance = balance;
        outcome.pass = pass_of(trip.coverage);
        if !cancelled && !matches!(trip.coverage, Coverage::Pass(_)) {
            outcome.fare_product = self.pair_product(trip.station, station, trip.category);
        }
        outcome.owner = Some(LegOwner {
            network: Some(entry.net.network),
            operator: entry.net.operator,
        });
        outcome.breakdown = Breakdown {
            hold_released: trip.hold,
            full_fare,
            discount,
            cap_reduction: discounted.checked_sub(charge)?,
            fare_charged: charge,
            ..Breakdown::default()
        };
        Ok(outcome)
    }

    fn buy_pass(
        &self,
        state: &mut AccountState,
        at: EventTime,
        product: PassIdx,
        category: CategoryIdx,
    ) -> Result<Outcome, EventError> {
        let pass = self
            .passes
            .get(product.get())
            .ok_or(EventError::UnknownIndex("pass"))?;
        self.category_rule(category)?;
        let price = pass
            .prices
            .get(category.get())
            .copied()
            .ok_or(EventError::UnknownIndex("pass price"))?;
        let mut outcome = outcome_base(state, at, None);
        outcome.pass = Some(product);
        if state.balance < price {
            return Ok(deny(outcome, Reason::InsufficientFunds));
        }
        let still_valid = state
            .passes
            .iter()
            .filter(|p| p.last_day >= at.service_day)
            .count();
        if still_valid >= MAX_PASSES_HELD {
            return Ok(deny(outcome, Reason::PassLimit));
        }

        // A permit that expired during the open stay still covers its part.
        let keep_from = state
            .open_stay
            .and_then(|stay| DateTime::from_timestamp(stay.entered_at_s, 0))
            .map_or(at.service_day, |entered| {
                self.calendar
                    .service_day(entered.fixed_offset())
                    .min(at.service_day)
            });
        let balance = state.balance.checked_sub(price)?;
        state.balance = balance;
        state.passes.retain(|p| p.last_day >= keep_from);
        state.passes.push(HeldPass {
            product,
            first_day: at.service_day,
            last_day: at
                .service_day
                .plus_days(i32::from(pass.validity_days).saturating_sub(1)),
        });
        state.version = state.version.wrapping_add(1);

        outcome.amount = price;
        outcome.balance = balance;
        outcome.breakdown.pass_price = price;
        Ok(outcome)
    }

    fn park_in(
        &self,
        state: &mut AccountState,
        occupancy: Option<&mut LotOccupancy>,
        at: EventTime,
        lot_idx: LotIdx,
    ) -> Result<Outcome, EventError> {
        let lot = self
            .lots
            .get(lot_idx.get())
            .ok_or(EventError::UnknownIndex("lot"))?;
        let occupancy = occupancy
            .filter(|o| o.lot == lot_idx)
            .ok_or(EventError::LotOccupancyMismatch)?;
        let mut outcome = outcome_base(state, at, None);
        outcome.lot = Some(lot_idx);
        outcome.owner = Some(LegOwner {
            network: None,
            operator: lot.operator,
        });
        if occupancy.occupied >= lot.capacity {
            return Ok(deny(outcome, Reason::LotFull));
        }
        if state.open_stay.is_some() {
            return Ok(deny(outcome, Reason::AlreadyParked));
        }
        if state.balance < lot.entry_min_balance {
            return Ok(deny(outcome, Reason::InsufficientFunds));
        }

        occupancy.occupied = occupancy.occupied.saturating_add(1);
        state.open_stay = Some(OpenStay {
            lot: lot_idx,
            entered_at_s: at.unix_s,
            park_and_ride: ParkAndRide::NotEarned,
        });
        state.version = state.version.wrapping_add(1);
        Ok(outcome)
    }

    fn park_out(
        &self,
        state: &mut AccountState,
        occupancy: Option<&mut LotOccupancy>,
        at: EventTime,
        lot_idx: LotIdx,
        exit: ParkExit,
    ) -> Result<Outcome, EventError> {
        let lot = self
            .lots
            .get(lot_idx.get())
            .ok_or(EventError::UnknownIndex("lot"))?;
        let occupancy = occupancy
            .filter(|o| o.lot == lot_idx)
            .ok_or(EventError::LotOccupancyMismatch)?;
        let mut outcome = outcome_base(state, at, None);
        outcome.lot = Some(lot_idx);
        outcome.owner = Some(LegOwner {
            network: None,
            operator: lot.operator,
        });
        let stay = match state.open_stay {
            Some(stay) if stay.lot == lot_idx => stay,
            _ => return Ok(deny(outcome, Reason::NoOpenStay)),
        };
        // Park and ride needs the lot's own linked station: checked when earned.
        let stay_s = at.unix_s.saturating_sub(stay.entered_at_s);
        let permits = self.permit_cover(state, lot_idx, stay.entered_at_s, at.unix_s);
        let charged_s = stay_s.saturating_sub(permits.covered_s);
        let fee = parking_fee(lot.tariff, lot.grace_s, charged_s, stay.park_and_ride)?;
        let lost_ticket_fee = match exit {
            ParkExit::WithMedium => Money::ZERO,
            ParkExit::LostTicket => lot.lost_ticket,
        };
        let amount = fee.checked_add(lost_ticket_fee)?;
        // The vehicle must leave: the fee is charged even below zero.
        let balance = state.balance.checked_sub(amount)?;

        state.balance = balance;
        state.open_stay = None;
        occupancy.occupied = occupancy.occupied.saturating_sub(1);
        state.version = state.version.wrapping_add(1);

        outcome.amount = amount;
        outcome.balance = balance;
        outcome.coverage = permits.permit.map(Coverage::Pass);
        outcome.pass = permits.permit;
        outcome.breakdown.parking_fee = fee;
        outcome.breakdown.lost_ticket_fee = lost_ticket_fee;
        Ok(outcome)
    }

    /// How much of the stay `[from_s, to_s)` at `lot` the held permits of
    /// that lot cover (their validities merged), and the permit that
    /// covered the most of it.
    fn permit_cover(
        &self,
        state: &AccountState,
        lot: LotIdx,
        from_s: i64,
        to_s: i64,
    ) -> PermitCover {
        let none = PermitCover {
            covered_s: 0,
            permit: None,
        };
        if to_s <= from_s {
            return none;
        }
        // (start, end, product) of each permit's validity within the stay.
        let mut spans: Vec<(i64, i64, PassIdx)> = Vec::new();
        for held in &state.passes {
            let covers_lot = self
                .passes
                .get(held.product.get())
                .is_some_and(|pass| pass.lots.contains(&lot));
            if !covers_lot {
                continue;
            }
            // A day beyond the calendar's range has no bounds: no cover
            // (the tariff applies) rather than a guess.
            let (Some(first), Some(after_last)) = (
                self.calendar.day_start(held.first_day),
                self.calendar.day_start(held.last_day.plus_days(1)),
            ) else {
                continue;
            };
            let start = first.timestamp().max(from_s);
            let end = after_last.timestamp().min(to_s);
            if start < end {
                spans.push((start, end, held.product));
            }
        }
        let mut best: Option<(i64, PassIdx)> = None;
        for &(start, end, product) in &spans {
            let length = end - start;
            if best.is_none_or(|(most, _)| length > most) {
                best = Some((length, product));
            }
        }
        spans.sort_unstable_by_key(|span| (span.0, span.1));
        let mut covered_s = 0i64;
        let mut reached = from_s;
        for (start, end, _) in spans {
            let start = start.max(reached);
            if end > start {
                covered_s = covered_s.saturating_add(end - start);
                reached = end;
            }
        }
        PermitCover {
            covered_s,
            permit: best.map(|(_, product)| product),
        }
    }
}

/// What the permits of a lot do for one stay.
struct PermitCover {
    /// Seconds of the stay within a permit's validity.
    covered_s: i64,
    /// The permit that covered the most of it.
    permit: Option<PassIdx>,
}

fn top_up(state: &mut AccountState, at: EventTime, amount: Money) -> Result<Outcome, EventError> {
    if !amount.is_positive() {
        return Err(EventError::NonPositiveTopUp(amount));
    }
    let balance = state.balance.checked_add(amount)?;
    let amount_down = amount.checked_neg()?;
    state.balance = balance;
    state.version = state.version.wrapping_add(1);
    let mut outcome = outcome_base(state, at, None);
    outcome.amount = amount_down;
    outcome.breakdown.top_up = amount;
    Ok(outcome)
}

/// Closes `trip` as incomplete: the hold already taken becomes the charge;
/// accepted with amount 0 and reason `incomplete_journey`.
fn close_incomplete(
    state: &mut AccountState,
    at: EventTime,
    trip: OpenTrip,
    net: &CompiledTapNetwork,
) -> Outcome {
    state.open_trip = None;
    state.version = state.version.wrapping_add(1);
    let mut outcome = outcome_base(state, at, Some(trip.coverage));
    outcome.reason = Some(Reason::IncompleteJourney);
    outcome.pass = pass_of(trip.coverage);
    outcome.owner = Some(LegOwner {
        network: Some(net.network),
        operator: net.operator,
    });
    outcome.breakdown.incomplete_charge = trip.hold;
    outcome
}

/// An accepted, zero-amount outcome with the current balance, to be filled in.
fn outcome_base(state: &AccountState, at: EventTime, coverage: Option<Coverage>) -> Outcome {
    Outcome {
        decision: Decision::Accept,
        reason: None,
        amount: Money::ZERO,
        balance: state.balance,
        service_day: at.service_day,
        coverage,
        pass: None,
        fare_product: None,
        owner: None,
        lot: None,
        breakdown: Breakdown::default(),
    }
}

/// Turns a prepared outcome into a deny: amount 0, nothing in the breakdown.
fn deny(mut outcome: Outcome, reason: Reason) -> Outcome {
    outcome.decision = Decision::Deny;
    outcome.reason = Some(reason);
    outcome.amount = Money::ZERO;
    outcome.breakdown = Breakdown::default();
    outcome
}

fn pass_of(coverage: Coverage) -> Option<PassIdx> {
    match coverage {
        Coverage::Pass(pass) => Some(pass),
        Coverage::Fare | Coverage::Exempt => None,
    }
}

/// The cap counters after charging `charge` on `day`.
fn add_spent(spent: Option<Spent>, day: ServiceDay, charge: Money) -> Result<Spent, EventError> {
    let month = day.month();
    Ok(Spent {
        day,
        day_vnd: Spent::on_day(spent, day).checked_add(charge)?,
        month,
        month_vnd: Spent::in_month(spent, month).checked_add(charge)?,
    })
}
