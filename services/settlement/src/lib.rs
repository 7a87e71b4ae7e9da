//! Settlement: close a service day, pay every operator, explain every dong.
//!
//! - [`plan`]: the pure heart. One account's events of one service day and
//!   the state carried from the day before in; the transfers that settle
//!   them (deterministic ids), statement lines and the state for the next
//!   day out. Its module docs state every settlement rule.
//! - [`plan_ids`]: the deterministic transfer and account ids.
//! - [`day`]: service-day boundaries from the engine's calendar.

pub mod day;
pub mod plan;
pub mod plan_ids;

#[cfg(test)]
mod plan_tests;
