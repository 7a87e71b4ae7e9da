//! The replay contract (`oneticket fares replay`, spec §9): JSON lines of
//! events in, exactly one JSON line of decision out per input line.
//!
//! A [`Replay`] holds the state of every account seen and every lot's
//! occupancy for the run. A line that cannot be understood is answered
//! with `"decision":"error"` and a short code, and changes nothing; the run
//! always goes on. The CLI wires standard input and output; this module
//! never touches either.
//!
//! **Extensions of the contract** (optional; a line without them means
//! exactly what spec §9 says):
//! - `park_out` takes `"lost_ticket": true` for a stay an operator closes
//!   for a rider who lost the medium: the amount is the stay's fee plus the
//!   lot's lost-ticket fee (`lost_ticket_vnd` of its tariff). `false` is a
//!   normal exit; any other value is `malformed`.
//! - `buy` takes a parking permit's product id like a pass's (a pass with
//!   `covers_lots`); a later `park_out` at a covered lot is charged only for
//!   the part of the stay outside the permit's validity.

use std::collections::BTreeMap;

use chrono::DateTime;
use ledger::Money;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::compiled::Engine;
use super::event::{Event, EventError, EventKind, Outcome, ParkExit};
use super::state::{AccountState, CategoryIdx, LotOccupancy};

/// A line longer than this is refused as malformed before parsing: a real
/// event is under 200 bytes, and the bound keeps one bad line from costing
/// the run much memory or time.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The whole state of a run, to save after some lines and resume later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayState {
    /// Per-account states, by account id.
    pub accounts: BTreeMap<String, AccountState>,
    /// Occupancy of every lot, by lot index.
    pub lots: Vec<LotOccupancy>,
}

/// A replay run over one engine.
#[derive(Clone, Debug)]
pub struct Replay {
    engine: Engine,
    state: ReplayState,
}

/// Why a line was answered with `"decision":"error"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineError {
    Malformed,
    UnknownRoute,
    UnknownStation,
    UnknownLot,
    UnknownProduct,
    UnknownCategory,
    Overflow,
    Internal,
}

impl LineError {
    fn code(self) -> &'static str {
        match self {
            LineError::Malformed => "malformed",
            LineError::UnknownRoute => "unknown_route",
            LineError::UnknownStation => "unknown_station",
            LineError::UnknownLot => "unknown_lot",
            LineError::UnknownProduct => "unknown_product",
            LineError::UnknownCategory => "unknown_category",
            LineError::Overflow => "amount_overflow",
            LineError::Internal => "internal",
        }
    }
}

impl From<EventError> for LineError {
    fn from(e: EventError) -> LineError {
        match e {
            EventError::NonPositiveTopUp(_) => LineError::Malformed,
            EventError::Overflow => LineError::Overflow,
            // The replay builds events and counters from this very engine.
            EventError::UnknownIndex(_) | EventError::LotOccupancyMismatch => LineError::Internal,
        }
    }
}

fn text<'v>(obj: &'v Map<String, Value>, key: &str) -> Result<&'v str, LineError> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or(LineError::Malformed)
}

fn answer(decision: &str, amount: Money, balance: Money, reason: Option<&str>) -> String {
    // Codes are fixed ASCII identifiers: no JSON escaping is needed.
    let reason = reason.map_or_else(|| "null".to_owned(), |r| format!("\"{r}\""));
    format!(
        "{{\"decision\":\"{decision}\",\"amount\":{},\"balance\":{},\"reason\":{reason}}}",
        amount.as_vnd(),
        balance.as_vnd()
    )
}

impl Replay {
    /// A run with no accounts and empty lots.
    #[must_use]
    pub fn new(engine: Engine) -> Replay {
        let state = ReplayState {
            accounts: BTreeMap::new(),
            lots: engine
                .lot_indices()
                .map(|lot| LotOccupancy { lot, occupied: 0 })
                .collect(),
        };
        Replay { engine, state }
    }

    /// A run continuing from a saved state.
    #[must_use]
    pub fn resume(engine: Engine, state: ReplayState) -> Replay {
        Replay { engine, state }
    }

    /// The run's state so far.
    #[must_use]
    pub fn state(&self) -> &ReplayState {
        &self.state
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Answers one input line with one output line (no trailing newline).
    pub fn line(&mut self, input: &str) -> String {
        let parsed: Option<Map<String, Value>> = if input.len() > MAX_LINE_BYTES {
            None
        } else {
            match serde_json::from_str::<Value>(input) {
                Ok(Value::Object(obj)) => Some(obj),
                _ => None,
            }
        };
        let Some(obj) = parsed else {
            return answer(
                "error",
                Money::ZERO,
                Money::ZERO,
                Some(LineError::Malformed.code()),
            );
        };
        let account = obj.get("account").and_then(Value::as_str);
        let balance_now = account
            .and_then(|a| self.state.accounts.get(a))
            .map_or(Money::ZERO, |s| s.balance);
        match self.process(account, &obj) {
            Ok(outcome) => answer(
                outcome.decision.code(),
                outcome.amount,
                outcome.balance,
                outcome.reason.map(|r| r.code()),
            ),
            Err(e) => answer("error", Money::ZERO, balance_now, Some(e.code())),
        }
    }

    fn category(&self, obj: &Map<String, Value>) -> Result<CategoryIdx, LineError> {
        self.engine
            .category(text(obj, "category")?)
            .ok_or(LineError::UnknownCategory)
    }

    fn process(
        &mut self,
        account: Option<&str>,
        obj: &Map<String, Value>,
    ) -> Result<Outcome, LineError> {
        let account = account.ok_or(LineError::Malformed)?;
        let at =
            DateTime::parse_from_rfc3339(text(obj, "at")?).map_err(|_| LineError::Malformed)?;
        let engine = &self.engine;
        let kind = match text(obj, "event")? {
            "topup" => {
                let amount = obj
                    .get("amount")
                    .and_then(Value::as_i64)
                    .filter(|a| *a > 0)
                    .ok_or(LineError::Malformed)?;
                EventKind::TopUp {
                    amount: Money::vnd(amount),
                }
            }
            "bus" => {
                let route = text(obj, "route")?;
                let category = text(obj, "category")?;
                EventKind::Bus {
                    route: engine.route(route).ok_or(LineError::UnknownRoute)?,
                    category: engine
                        .category(category)
                        .ok_or(LineError::UnknownCategory)?,
                }
            }
            event @ ("metro_in" | "metro_out") => {
                let station = text(obj, "station")?;
                let category = text(obj, "category")?;
                let station = engine.station(station).ok_or(LineError::UnknownStation)?;
                let category = engine
                    .category(category)
                    .ok_or(LineError::UnknownCategory)?;
                if event == "metro_in" {
                    EventKind::MetroIn { station, category }
                } else {
                    EventKind::MetroOut { station }
                }
            }
            "buy" => {
                let product = text(obj, "product")?;
                let category = text(obj, "category")?;
                EventKind::BuyPass {
                    product: engine.pass(product).ok_or(LineError::UnknownProduct)?,
                    category: engine
                        .category(category)
                        .ok_or(LineError::UnknownCategory)?,
                }
            }
            event @ ("park_in" | "park_out") => {
                let lot = text(obj, "lot")?;
                text(obj, "category")?;
                let lot = engine.lot(lot).ok_or(LineError::UnknownLot)?;
                self.category(obj)?;
                if event == "park_in" {
                    EventKind::ParkIn { lot }
                } else {
                    let exit = match obj.get("lost_ticket") {
                        None | Some(Value::Bool(false)) => ParkExit::WithMedium,
                        Some(Value::Bool(true)) => ParkExit::LostTicket,
                        Some(_) => return Err(LineError::Malformed),
                    };
                    EventKind::ParkOut { lot, exit }
                }
            }
            _ => return Err(LineError::Malformed),
        };
        let event = Event { at, kind };

        let occupancy = match kind {
            EventKind::ParkIn { lot } | EventKind::ParkOut { lot, .. } => Some(
                self.state
                    .lots
                    .get(lot.get())
                    .copied()
                    .ok_or(LineError::Internal)?,
            ),
            _ => None,
        };
        let current = self.state.accounts.get(account);
        let fresh = AccountState::default();
        let decided = self
            .engine
            .decide(current.unwrap_or(&fresh), occupancy, &event)?;
        if let Some(occupancy) = decided.occupancy
            && let Some(slot) = self.state.lots.get_mut(occupancy.lot.get())
        {
            *slot = occupancy;
        }
        self.state
            .accounts
            .insert(account.to_owned(), decided.state);
        Ok(decided.outcome)
    }
}
