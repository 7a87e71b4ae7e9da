//! The `oneticket` crate's one integration-test binary: project rules
//! (tidy) and the command line, run against real Postgres and Redis.

mod cli;
mod demo;
mod parking;
mod rider_api;
mod settle;
mod support;
mod terminal_api;
mod tidy;
