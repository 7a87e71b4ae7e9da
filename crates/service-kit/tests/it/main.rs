//! Black-box tests of service-kit: the layered router through `oneshot`, and real sockets
//! for serving, dual-stack binding and graceful shutdown.

mod health;
mod logging;
mod metrics;
mod problems;
mod request_ids;
mod serving;
mod support;
