//! The signed-token ledger: money, ids, the chart of accounts, balanced
//! transfers and the ticket key ring.
//!
//! **Invariant:** pure. No I/O, no clock, no randomness: time, ids and keys
//! come in as arguments. The tidy test in `services/oneticket/tests` fails the
//! build if this crate's `Cargo.toml` gains an I/O dependency.
#![deny(clippy::float_arithmetic)]

pub mod money;

pub use money::{Money, Overflow};

pub mod keyring;
