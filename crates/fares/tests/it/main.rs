//! The fares crate's one integration-test binary: feeds and replays read
//! from files, checked through the public API.

mod engine;
mod gtfs;
