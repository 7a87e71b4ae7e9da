//! The rider API's one integration-test binary: every test gets a fresh
//! Postgres database and its own Redis key prefix, and talks to the router
//! through HTTP (`oneshot`) with the common layers applied, as `oneticket
//! serve` does.

mod accounts;
mod cross_account;
mod docs;
mod history;
mod housekeeping;
mod input;
mod media;
mod passes;
mod payments;
mod support;
mod ticket;
