//! Passes: the catalogue priced for the rider's category, and buying one
//! from the wallet.
//!
//! A purchase is a fare event: the `BuyPass` event goes through the
//! projection (which checks the spendable balance and the pass limit in the
//! same atomic step that takes the price); the settlement job posts wallet →
//! unearned pass revenue when it settles the day. Insufficient funds is 409
//! `insufficient_funds` (the request is fine; the wallet is not).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use fares::engine::{Event, EventKind};
use projection::{EventKey, RequestHash, Verdict};
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, Json, RequestId};
use store_pg::rider_orders::PassPurchase;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Rider;
use crate::http::{IdempotencyKey, Operation, ProblemDoc, idempotent, invalid_field, to_json};
use crate::problems;
use crate::routes::accounts::{rider_account, verification};
use crate::state::AppState;
use crate::token::random_uuid;

/// Hex characters of the `Idempotency-Key` digest in the projection's event
/// key: 128 bits, unique among one rider's keys.
const EVENT_KEY_DIGEST_HEX: usize = 32;

/// A pass offered to the rider.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassOfferView {
    /// The product id to buy.
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// Service days of validity, from the day of purchase.
    pub validity_days: u16,
    /// GTFS networks it covers.
    pub covers_networks: Vec<String>,
    /// Its price for the rider's category, VND.
    pub price_vnd: i64,
}

/// The catalogue for the rider.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassCatalogView {
    /// The category the prices are for (the rider's effective category).
    pub category: String,
    /// The offers, by product id.
    pub items: Vec<PassOfferView>,
}

/// `POST /v1/me/passes`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyPassRequest {
    /// The product id from `GET /v1/passes`.
    #[schema(example = "metro_day")]
    pub product_id: String,
}

/// A pass bought (also its receipt).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurchaseView {
    /// The purchase id (its receipt id).
    pub purchase_id: Uuid,
    /// The product.
    pub product_id: String,
    /// The category it was priced for.
    pub category: String,
    /// What it cost, VND.
    pub price_vnd: i64,
    /// First service day of validity.
    pub first_day: NaiveDate,
    /// Last service day of validity.
    pub last_day: NaiveDate,
    /// The spendable balance after the purchase, VND.
    pub balance_vnd: Option<i64>,
    /// When.
    pub bought_at: DateTime<Utc>,
}

/// The effective category of the rider, as the engine's index and id.
async fn effective_category(
    state: &AppState,
    rider: Rider,
) -> Result<(fares::engine::state::CategoryIdx, String), ApiError> {
    let account = rider_account(state, rider.account_id).await?;
    let setup = state.projection.setup();
    let idx = setup.category_for(&account.category_id, verification(account.category_status));
    let id = setup
        .engine()
        .category_id(idx)
        .ok_or_else(|| ApiError::internal(UnknownCategory))?
        .to_owned();
    Ok((idx, id))
}

#[derive(Debug, thiserror::Error)]
#[error("the effective category is not in the configuration")]
struct UnknownCategory;

/// The passes on sale, priced for the rider's category.
#[utoipa::path(
    get, path = "/v1/passes", tag = "passes",
    security(("session" = [])),
    responses(
        (status = 200, description = "The catalogue", body = PassCatalogView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn catalog(
    State(state): State<AppState>,
    rider: Rider,
) -> Result<Json<PassCatalogView>, ApiError> {
    let (_, category) = effective_category(&state, rider).await?;
    let items = state
        .passes
        .offers()
        .filter_map(|offer| {
            offer
                .price_by_category
                .get(&category)
                .map(|price| PassOfferView {
                    product_id: offer.id.clone(),
                    name: offer.name.clone(),
                    validity_days: offer.validity_days,
                    covers_networks: offer.covers_networks.clone(),
                    price_vnd: price.as_vnd(),
                })
        })
        .collect();
    Ok(Json(PassCatalogView { category, items }))
}

/// Buy a pass from the wallet. Needs an `Idempotency-Key`.
#[utoipa::path(
    post, path = "/v1/me/passes", tag = "passes",
    security(("session" = [])),
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters, fresh per purchase")),
    request_body = BuyPassRequest,
    responses(
        (status = 201, description = "Bought", body = PurchaseView),
        (status = 400, description = "`idempotency_key_required` or `idempotency_key_invalid`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_funds`, `pass_limit`, `account_busy`, `idempotency_key_reused` or `idempotency_request_in_progress`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (unknown product) or `invalid_body`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn buy(
    State(state): State<AppState>,
    rider: Rider,
    request_id: RequestId,
    key: IdempotencyKey,
    Json(request): Json<BuyPassRequest>,
) -> Response {
    let canonical = serde_json::to_vec(&request).unwrap_or_default();
    idempotent(&state, rider, &request_id, &key, Operation::BuyPass, &canonical, || async {
        let offer = state
            .passes
            .offer(&request.product_id)
            .ok_or_else(|| invalid_field("product_id", "not a pass on sale"))?;
        let engine = state.projection.setup().engine();
        let product = engine
            .pass(&offer.id)
            .ok_or_else(|| invalid_field("product_id", "not a pass on sale"))?;
        let (category, category_id) = effective_category(&state, rider).await?;
        let digest_hex = hex::encode(digest(&SHA256, key.0.as_bytes()));
        let event_key = EventKey::parse(&format!(
            "buy_pass:{}:{}",
            rider.account_id.as_uuid().simple(),
            digest_hex.get(..EVENT_KEY_DIGEST_HEX).unwrap_or(&digest_hex)
        ))
        .map_err(ApiError::internal)?;
        let canonical = format!("buy_pass:{}:{}", offer.id, category_id);
        let now = state.now();
        let applied = state
            .projection
            .apply(projection::project::Change {
                account: rider.account_id,
                key: &event_key,
                hash: RequestHash::of(canonical.as_bytes()),
                event: Event {
                    at: now.fixed_offset(),
                    kind: EventKind::BuyPass { product, category },
                },
                occupancy: None,
                tap: None,
                now,
            })
            .await
            .map_err(|error| match error {
                projection::ProjectionError::Busy => ApiError::conflict(
                    problems::ACCOUNT_BUSY,
                    "The account changed too often at once; retry.",
                ),
                projection::ProjectionError::KeyConflict => ApiError::conflict(
                    problems::IDEMPOTENCY_KEY_REUSED,
                    "This Idempotency-Key was used for a different request.",
                ),
                other => ApiError::internal(other),
            })?;
        let reply = applied.reply;
        if reply.decision == Verdict::Deny {
            return Err(match reply.reason.as_deref() {
                Some("insufficient_funds") => ApiError::conflict(
                    problems::INSUFFICIENT_FUNDS,
                    format!(
                        "The pass costs more than the spendable balance ({} VND).",
                        reply.balance_vnd.unwrap_or_default()
                    ),
                ),
                Some("pass_limit") => ApiError::conflict(
                    problems::PASS_LIMIT,
                    "The account holds the most passes it may; buy again when one expires.",
                ),
                other => ApiError::conflict(
                    service_kit::problem::types::CONFLICT,
                    format!("The purchase was refused ({}).", other.unwrap_or("no reason")),
                ),
            });
        }
        let first_day = reply.service_day.ok_or_else(|| ApiError::internal(UnknownCategory))?;
        let last_day = first_day
            .checked_add_days(chrono::Days::new(u64::from(offer.validity_days.saturating_sub(1))))
            .unwrap_or(first_day);
        let purchase = state
            .orders
            .insert_purchase(&PassPurchase {
                purchase_id: random_uuid(&state.rng).map_err(ApiError::internal)?,
                account_id: rider.account_id,
                product_id: offer.id.clone(),
                category_id: category_id.clone(),
                price_vnd: reply.amount_vnd,
                event_key: event_key.as_str().to_owned(),
                first_day,
                last_day,
                bought_at: now,
            })
            .await
            .map_err(ApiError::internal)?;
        tracing::info!(purchase_id = %purchase.purchase_id, product_id = %offer.id, "pass bought");
        Ok((
            StatusCode::CREATED,
            to_json(&PurchaseView {
                purchase_id: purchase.purchase_id,
                product_id: purchase.product_id,
                category: purchase.category_id,
                price_vnd: purchase.price_vnd,
                first_day: purchase.first_day,
                last_day: purchase.last_day,
                balance_vnd: reply.balance_vnd,
                bought_at: purchase.bought_at,
            })?,
        ))
    })
    .await
}
