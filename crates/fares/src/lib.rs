//! The fare and tariff engine: GTFS-Fares v2 plus OneTicket's extensions.
//!
//! **Invariant:** pure and deterministic. No I/O, no clock, no randomness:
//! feeds come in as text, time as arguments.
#![deny(clippy::float_arithmetic)]
