//! The load generator's own logic: the open-loop schedule and its latency
//! rule, who taps what, request signing (checked with the verifier the
//! service uses), outcome labels and the report's JSON shape. No timings.

mod report;
mod schedule;
mod signing;
mod workload;
