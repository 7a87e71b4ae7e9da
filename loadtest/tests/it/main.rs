//! The load generator's own logic: the open-loop schedule and its latency
//! rule, who taps what, request signing (checked with the verifier the
//! service uses), outcome labels, the report's JSON shape, and the floor
//! server's answers (against real Redis). No timings.

mod floor;
mod report;
mod schedule;
mod signing;
mod wire;
mod workload;
