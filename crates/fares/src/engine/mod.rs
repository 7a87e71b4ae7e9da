//! OneTicket extensions and the per-account fare state machine.
//!
//! The fare engine takes a state and an event and returns a decision and a
//! new state:
//!
//! ```text
//! oneticket.toml ─► Extensions ─┐
//!                               ├─► Engine::new ─► Engine ──┐
//! GTFS feed ─────► LegFareTable ┘                           ├─► Engine::decide ─► Outcome + new AccountState
//!                         AccountState + Event (+ LotOccupancy) ┘
//! ```
//!
//! - [`config`]: the `oneticket.toml` model, loader and validator.
//! - [`tables`]: leg fares by id ([`LegFareTable`]), filled from the feed or directly.
//! - [`compiled`]: the [`Engine`], with every id interned and every fare in a flat table.
//! - [`state`]: the compact per-account [`AccountState`] and per-lot [`LotOccupancy`].
//! - [`event`]: [`Event`] in, [`Outcome`] (decision, amount, ledger breakdown) out.
//! - [`machine`]: the rules: holds, trips, incomplete journeys, transfer
//!   discounts, caps, passes, parking.
//! - [`parking`]: parking fees.
//! - [`calendar`]: service days and months.
//! - [`feed`]: [`Engine::from_files`]: a configuration directory's text → engine.
//! - [`hcmc`]: the shipped `hcmc` configuration, embedded.
//! - [`replay`]: the JSON-lines replay contract.
//!
//! **Invariant:** pure. Time comes in on each event; the engine never reads
//! the clock, does no I/O and draws no randomness, so the services, the
//! settlement re-pricing and the replay get the same answers from the same
//! inputs.

pub mod calendar;
pub mod compiled;
pub mod config;
pub mod event;
pub mod feed;
pub mod hcmc;
pub mod machine;
pub mod parking;
pub mod replay;
pub mod state;
pub mod tables;

#[cfg(test)]
mod tests;

pub use calendar::{EventTime, ServiceCalendar, ServiceDay, ServiceMonth};
pub use compiled::Engine;
pub use config::{ConfigError, ConfigErrors, Extensions};
pub use event::{
    Breakdown, Decision, Event, EventError, EventKind, LegOwner, Outcome, ParkExit, Reason,
};
pub use feed::EXTENSIONS_FILE;
pub use hcmc::hcmc_files;
pub use machine::{Decided, MAX_PASSES_HELD};
pub use replay::{Replay, ReplayState};
pub use state::{AccountState, Coverage, LotOccupancy};
pub use tables::LegFareTable;
