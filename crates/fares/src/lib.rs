//! The fare and tariff engine: GTFS-Fares v2 plus OneTicket's extensions.
//!
//! - [`gtfs`]: the GTFS-Fares v2 model, feed reader and validator, leg
//!   matching, transfer processing and journey quotes.
//! - [`engine`]: OneTicket's extensions (tap-in/tap-out trips, holds, caps,
//!   passes, transfer discounts, parking tariffs), the per-account state
//!   machine the services call, and the replay contract.
//!
//! **Invariant:** pure and deterministic. No I/O, no clock, no randomness:
//! feeds come in as text, time as arguments.
#![deny(clippy::float_arithmetic)]

pub mod engine;
pub mod gtfs;
