//! Integration tests of the settlement job on real Postgres: a fresh
//! database per test, seeded the way the hot path records events.

mod day;
mod parking;
mod support;
