//! The terminal API: taps, journal uploads, the deny list, keys, time and
//! terminal configuration; the terminal registry's admin API; and the
//! stream ingest worker, started by the binary.
//!
//! ```text
//! POST /v1/taps                      taps        signed    → projection::apply
//! POST /v1/journal                   journal     signed    → store, ack, price pending
//! GET  /v1/deny-list[/delta], /v1/denylist       signed    → deny list snapshot / delta
//! GET  /v1/config                    terminal_api signed
//! GET  /v1/keys, /v1/time            terminal_api public
//! POST /v1/admin/terminals, …/{id}/disable, GET /v1/admin/terminals   admin (scope terminals)
//! POST /v1/admin/media/{id}/block    admin (scope riders)
//! ```
//!
//! Map: [`state`] (stores, caches, clock), [`media`] (media → accounts in
//! memory, kept true by the change feed), [`auth`] (terminal signatures,
//! API keys), [`taps`], [`journal`], [`terminal_api`], [`admin`],
//! [`worker`] (the stream ingest as a task).
//!
//! **Boundary:** handlers parse, authenticate, resolve the medium and call
//! the projection; pricing is the fare engine's, commits are the
//! projection's, storage is store-pg's.

pub mod admin;
pub mod auth;
pub mod journal;
pub mod media;
pub mod state;
pub mod taps;
pub mod terminal_api;
pub mod worker;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use card_protocol::messages::{JournalBatch, Message};

pub use state::{AppState, Clock, Config};

/// The service's routes. The binary adds the common layers once
/// (`service_kit::layers::apply`) on the composed router.
pub fn router(state: AppState) -> Router {
    Router::new()
        // Thousands a second: no route layers (the handler limits its body to
        // `Tap::MAX_BYTES` and marks fast successes quiet, logged at debug).
        .route("/v1/taps", post(taps::post_tap))
        .route(
            "/v1/journal",
            post(journal::post_journal).layer(DefaultBodyLimit::max(JournalBatch::MAX_BYTES)),
        )
        .route("/v1/deny-list", get(terminal_api::deny_list_snapshot))
        .route("/v1/deny-list/delta", get(terminal_api::deny_list_delta))
        .route("/v1/denylist", get(terminal_api::deny_list_since))
        .route("/v1/keys", get(terminal_api::keys))
        .route("/v1/time", get(terminal_api::time))
        .route("/v1/config", get(terminal_api::config))
        .route(
            "/v1/admin/terminals",
            post(admin::register).get(admin::list),
        )
        .route("/v1/admin/terminals/{id}/disable", post(admin::disable))
        .route("/v1/admin/media/{id}/block", post(admin::block_medium))
        .with_state(state)
}
