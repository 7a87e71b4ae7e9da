//! The parking service through HTTP against real Postgres and Redis:
//! requests signed as gates sign them, the lot counters under concurrency,
//! park and ride with metro taps, plates, the saga's healing, offline gate
//! journals, operations (lost tickets charged through the engine, monthly
//! permits sold from the wallet) and the open-data feed.

mod concurrency;
mod gates;
mod journals;
mod opendata;
mod ops;
mod permits;
mod support;
