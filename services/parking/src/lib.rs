//! The parking service: gates, occupancy, operations and open data, on the
//! same accounts, cards and QR tickets as the metro.
//!
//! ```text
//! POST /v1/parking/entries            gate       signed (as validators)  → saga: lot slot ⇄ projection
//! POST /v1/parking/exits              gate       signed                  → saga
//! GET  /v1/parking/sites[/{uid}]      opendata   public, cached, rate-limited (ParkAPI v3)
//! POST /v1/admin/parking/…            ops        API key, scope `parking`
//!      lots/{lot}/gates/{gate}/lift   audited manual barrier lift
//!      lots/{lot}/occupancy           occupancy correction (audited)
//!      lots/{lot}/status              open / close a lot
//!      stays/lost-ticket              close a stay for a rider without the medium,
//!                                     charging the stay and the lot's lost-ticket fee
//!      plates                         link a vehicle's plate to an account
//!      permits                        sell a monthly permit from the wallet
//! GET  /v1/admin/parking/accounts/{account}/permits   an account's permits
//! GET  /v1/admin/parking/overstays, …/uncollected, …/lots/{lot}/audit    reports
//! workers (jobs): saga sweep, gate journal records, overstay flags, counter check
//! ```
//!
//! Map:
//! - [`plate`]: Vietnamese plates → one canonical form (pure).
//! - [`sites`]: the fare configuration's lots joined with the site data
//!   file (`data/hcmc_sites.toml`): the lot table and the Postgres seed.
//! - [`state`]: [`ParkingState`] — fare-validation's terminal side, stores, lots.
//! - [`gate`]: the gate endpoints and the entry/exit saga (its docs explain
//!   the steps, crashes and healing).
//! - [`journal`]: offline gate journal records, applied through the saga.
//! - [`ops`]: the operators' API.
//! - [`permits`]: monthly permits sold through the fare engine, recorded as
//!   rights.
//! - [`jobs`]: the background workers.
//! - [`opendata`]: the ParkAPI v3 feed; [`ratelimit`]: its per-client limit.
//!
//! **Boundary:** the gates reuse fare-validation's terminal authentication,
//! medium resolution (cards, bank tokens, QR tickets, plates, deny list)
//! and decision format; prices and stays are the fare engine's
//! (`Engine::decide` through `projection::Projection::apply`); the counters
//! are store-redis's `occupancy` scripts; the model is store-pg's `parking`.
//! Riders' stays are read with `store_pg::parking::ParkingStore::current_stay`
//! and `stay_history` (the rider API's store functions).

pub mod gate;
pub mod jobs;
pub mod journal;
pub mod opendata;
pub mod ops;
pub mod permits;
pub mod plate;
pub mod ratelimit;
pub mod sites;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use card_protocol::messages::{Message, Tap};
use chrono::{DateTime, Utc};
use store_pg::StoreError;
use store_pg::parking::Seeded;

pub use opendata::{ClientIp, FeedSettings};
pub use sites::{HCMC_SITES_TOML, Lots, SiteData, parse_site_data};
pub use state::{Config, ParkingState};

/// Largest body of an operator request, bytes: a reason and a note of at
/// most 1,000 characters, with room for JSON.
pub const MAX_ADMIN_BODY_BYTES: usize = 4 * 1024;

/// The service's routes. The binary adds the common layers once
/// (`service_kit::layers::apply`) on the composed router.
pub fn router(state: ParkingState) -> Router {
    Router::new()
        .route(
            "/v1/parking/entries",
            post(gate::post_entry).layer(DefaultBodyLimit::max(Tap::MAX_BYTES)),
        )
        .route(
            "/v1/parking/exits",
            post(gate::post_exit).layer(DefaultBodyLimit::max(Tap::MAX_BYTES)),
        )
        .route("/v1/parking/sites", get(opendata::list_sites))
        .route("/v1/parking/sites/{uid}", get(opendata::get_site))
        .route(
            "/v1/admin/parking/lots/{lot}/gates/{gate}/lift",
            post(ops::lift).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES)),
        )
        .route(
            "/v1/admin/parking/lots/{lot}/occupancy",
            post(ops::correct_occupancy).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES)),
        )
        .route(
            "/v1/admin/parking/lots/{lot}/status",
            post(ops::set_status).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES)),
        )
        .route("/v1/admin/parking/lots/{lot}/audit", get(ops::audit))
        .route(
            "/v1/admin/parking/stays/lost-ticket",
            post(ops::lost_ticket).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES)),
        )
        .route(
            "/v1/admin/parking/plates",
            post(ops::link_plate).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES)),
        )
        .route(
            "/v1/admin/parking/permits",
            post(permits::issue).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES)),
        )
        .route(
            "/v1/admin/parking/accounts/{account}/permits",
            get(permits::of_account),
        )
        .route("/v1/admin/parking/overstays", get(ops::overstays))
        .route("/v1/admin/parking/uncollected", get(ops::uncollected))
        .with_state(state)
}

/// Seeds Postgres with every lot (idempotent; see
/// `store_pg::parking::ParkingStore::seed_site`). The binary runs it at
/// start-up, before serving.
///
/// # Errors
/// The first store error.
pub async fn seed(state: &ParkingState, now: DateTime<Utc>) -> Result<Seeded, StoreError> {
    let mut total = Seeded::default();
    for seed in state.lots().seeds() {
        let seeded = state.store().seed_site(seed, now).await?;
        total.changed |= seeded.changed;
        total.new_tariff_versions += seeded.new_tariff_versions;
    }
    Ok(total)
}
