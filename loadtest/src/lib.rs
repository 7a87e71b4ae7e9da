//! `oneticket-loadtest`: an open-loop load generator for the tap path.
//!
//! ```text
//! setup    terminals ──admin API──▶ service;  riders, cards, funded wallets ──store functions──▶ Postgres + Redis
//! run      signed POST /v1/taps (and parking gates' /v1/parking/entries|exits with
//!          --parking-percent) at a fixed rate ──HTTP/1.1──▶ service      (service mode)
//! raw      the commit script with a tap's keys and arguments ──▶ Redis        (the floor)
//! compare  service, raw, service, raw, … ──▶ each pair's ratio and the median
//! floor-server  signed taps ──HTTP──▶ HMAC check + the commit script, nothing else
//!               (compare --floor-url runs it in every pair: the HTTP floor)
//! backlog  the ingest's unacknowledged stream entries ──polls──▶ Redis, until none:
//!          how fast a `serve --services settlement` drains what a run left
//! ```
//!
//! Map: [`schedule`] (due times, coordinated-omission-safe latency),
//! [`workload`] (fleet, cards, who taps what), [`runner`] (the open-loop
//! engine), [`service`] and [`raw`] (the two drivers), [`wire`] (service mode's lean HTTP/1.1 client), [`floor`] (the bare server), [`report`] (HDR
//! histogram, counts, JSON), [`setup`] (idempotent seeding).
//!
//! **Boundary:** timings live here and in `BENCHMARKS.md`, never in tests;
//! the tests of this crate check the generator's logic only.

pub mod cpu;
pub mod floor;
pub mod raw;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod service;
pub mod setup;
pub mod wire;
pub mod workload;
