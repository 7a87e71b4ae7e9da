//! Settlement: close a service day, pay every operator, explain every dong.
//!
//! - [`plan`]: the pure heart. One account's events of one service day and
//!   the state carried from the day before in; the transfers that settle
//!   them (deterministic ids), statement lines and the state for the next
//!   day out. Its module docs state every settlement rule.
//! - [`plan_adjust`]: re-settlement. A new plan and what the ledger holds
//!   for the account-day in; only the missing transfers (holds, and net
//!   `Adjustment` flows) out, so re-runs post nothing and late taps post
//!   adjustments.
//! - [`plan_ids`]: the deterministic transfer and account ids.
//! - [`day`]: service-day boundaries from the engine's calendar.
//! - [`job`]: the day-close job: pages of accounts, plan, reconcile, post
//!   through the ledger, record (`settlement` schema), idempotent and
//!   resumable.
//! - [`outputs`]: per-operator statements (CSV, JSON), the TIDES-style
//!   `fare_transactions.csv`, the reconciliation report.
//! - [`inputs`]: stored event rows to plan inputs, fingerprints, the
//!   per-operator parts of a plan.
//! - [`config`]: pass owners, derived from the fare configuration's files.
//! - [`progress`]: a progress bar on a terminal, log lines otherwise.
//! - [`worker`]: the scheduled worker `oneticket serve` runs (each day once
//!   closed plus a grace for late journals) and the one-run-at-a-time lock.

pub mod config;
pub mod day;
pub mod inputs;
pub mod job;
pub mod outputs;
pub mod plan;
pub mod plan_adjust;
pub mod plan_ids;
pub mod progress;
pub mod worker;

#[cfg(test)]
mod plan_adjust_tests;
#[cfg(test)]
mod plan_tests;
