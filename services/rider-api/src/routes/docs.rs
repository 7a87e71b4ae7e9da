//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the DTOs' `ToSchema` derives, served at `/openapi.json`.

use axum::Extension;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts: title, description, tags, security schemes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "OneTicket rider API",
        description = "Accounts, media, wallet and top-ups, passes, the QR ticket and history for the OneTicket mobile app. Every error is RFC 9457 problem+json with a stable `code`. Requests that move money need an `Idempotency-Key` header. Registration and login are rate limited per IP and per login (429 with `Retry-After`).",
    ),
    modifiers(&Security),
    tags(
        (name = "accounts", description = "Register, log in, log out"),
        (name = "media", description = "Cards and bank-card tokens"),
        (name = "wallet", description = "Balance and top-ups"),
        (name = "payments", description = "The payment provider's callbacks"),
        (name = "passes", description = "Pass catalogue and purchases"),
        (name = "ticket", description = "The QR ticket"),
        (name = "history", description = "Trips, stays, transactions, receipts"),
        (name = "admin", description = "Operator actions (scoped API key)"),
        (name = "sandbox", description = "The local payment provider (sandbox mode only)"),
        (name = "docs", description = "This document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token of POST /v1/sessions"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("otk_…")
                    .description(Some(
                        "An admin API key with the `riders` scope (oneticket admin-key create)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The rendered document.
#[derive(Debug)]
pub struct Document(String);

impl Document {
    /// Renders `api` once.
    #[must_use]
    pub fn new(api: &utoipa::openapi::OpenApi) -> Document {
        // The document is built from our own types: it always serialises.
        Document(api.to_pretty_json().unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn openapi(Extension(document): Extension<Arc<Document>>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.0.clone(),
    )
        .into_response()
}
