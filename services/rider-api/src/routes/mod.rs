//! The routes, one module per area, and the router that joins them with
//! their OpenAPI document: every route is registered through
//! `utoipa_axum::routes!`, which adds the handler and its `#[utoipa::path]`
//! together, so the document cannot list a route the router lacks or miss
//! one it has.

pub mod accounts;
pub mod docs;
pub mod history;
pub mod media;
pub mod passes;
pub mod sandbox;
pub mod ticket;
pub mod wallet;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::IDEMPOTENCY_KEY_HEADER;
use crate::payments::Provider;
use crate::state::AppState;

/// Request bodies of the rider API are small JSON objects; 16 KiB is ample
/// and keeps a flood of large bodies cheap to refuse.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long a browser may cache a CORS preflight answer, seconds.
pub const CORS_MAX_AGE_S: u64 = 600;

/// Every route with its documentation, for the state's payment mode (the
/// sandbox provider's route exists only in sandbox mode).
pub fn api(state: &AppState) -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::decide_category))
        .routes(routes!(media::link, media::list))
        .routes(routes!(media::report_lost))
        .routes(routes!(wallet::wallet))
        .routes(routes!(wallet::create_topup))
        .routes(routes!(wallet::topup))
        .routes(routes!(wallet::ipn_get, wallet::ipn_post))
        .routes(routes!(wallet::payment_return))
        .routes(routes!(passes::catalog))
        .routes(routes!(passes::buy))
        .routes(routes!(ticket::ticket))
        .routes(routes!(ticket::put_holder_key))
        .routes(routes!(history::trips))
        .routes(routes!(history::stays))
        .routes(routes!(history::transactions))
        .routes(routes!(history::receipt))
        .routes(routes!(docs::openapi));
    match state.payments.provider {
        Provider::Sandbox => router.routes(routes!(sandbox::pay)),
        Provider::Live => router,
    }
}

/// The rider API's router: routes, their OpenAPI document at
/// `/openapi.json`, the body limit, and CORS when origins are configured.
/// The binary adds the common layers (`service_kit::layers::apply`).
pub fn router(state: AppState) -> axum::Router {
    let (router, document) = api(&state).split_for_parts();
    let document = Arc::new(docs::Document::new(&document));
    let router = router
        // Set here, not only by `service_kit::layers::apply`: a fallback set
        // after `layer` replaces the layered one, and then a CORS preflight
        // (OPTIONS on a POST route) would never reach the CORS layer.
        .method_not_allowed_fallback(service_kit::problem::method_not_allowed_fallback)
        .layer(axum::Extension(document))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let router = match cors(&state) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

fn cors(state: &AppState) -> Option<CorsLayer> {
    let origins = &state.settings.cors_allowed_origins;
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(IDEMPOTENCY_KEY_HEADER),
            ])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(CORS_MAX_AGE_S)),
    )
}
