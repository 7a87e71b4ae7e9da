//! The QR ticket: a card-protocol ticket (COSE_Sign1, Ed25519) that any
//! terminal verifies offline with the published key set, bound to the
//! account through its ticket id (`rider.ticket`), and — when the phone
//! registered a holder key — to that key, so the gate also wants a fresh
//! level-2 proof the phone signs every 30 s: a screenshot expires.

use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use card_protocol::ticket::{ProductCode, RiderCategoryCode};
use card_protocol::{PublicKey, TicketId};
use chrono::{DateTime, Duration, Utc};
use ledger::keyring::TicketRequest;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, Json};
use store_pg::rider::NewTicket;
use utoipa::ToSchema;

use crate::auth::Rider;
use crate::http::{ProblemDoc, invalid_field};
use crate::ratelimit::{Subject, TICKETS_PER_ACCOUNT};
use crate::routes::accounts::{rider_account, verification};
use crate::state::AppState;
use crate::tickets::TicketIssueError;

/// A ticket's validity, seconds (10 minutes): long enough to walk from the
/// street to the gate offline, short enough that a leaked QR is soon dead.
pub const TICKET_VALIDITY_S: i64 = 600;
/// The product code of the pay-as-you-go account ticket: the gate prices the
/// ride from the account, so the ticket grants no product of its own.
pub const ACCOUNT_TICKET_PRODUCT: ProductCode = ProductCode(0);

/// A QR ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    /// The level-1 ticket bytes, base64url (no padding): the QR content,
    /// or what the app wraps in level-2 proofs when `holder_bound`.
    pub qr: String,
    /// The ticket id (`cti`), hex.
    pub ticket_id: String,
    /// The id of the key that signed it, hex.
    pub kid: String,
    /// Valid from.
    pub not_before: DateTime<Utc>,
    /// Valid until (exclusive).
    pub expires_at: DateTime<Utc>,
    /// Whether the gate wants a level-2 proof signed with the holder key.
    pub holder_bound: bool,
}

/// `PUT /v1/me/holder-key`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolderKeyRequest {
    /// The phone's Ed25519 public key, 32 bytes in lower-case hex.
    #[schema(example = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394")]
    pub public_key: String,
}

/// The registered holder key.
#[derive(Debug, Serialize, ToSchema)]
pub struct HolderKeyView {
    /// The key, hex.
    pub public_key: String,
}

/// Register (or replace) the phone's key that tickets are bound to.
/// Tickets issued from now on need level-2 proofs made with it.
#[utoipa::path(
    put, path = "/v1/me/holder-key", tag = "ticket",
    security(("session" = [])),
    request_body = HolderKeyRequest,
    responses(
        (status = 200, description = "Registered", body = HolderKeyView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `invalid_body`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn put_holder_key(
    State(state): State<AppState>,
    rider: Rider,
    Json(request): Json<HolderKeyRequest>,
) -> Result<Json<HolderKeyView>, ApiError> {
    let key = PublicKey::parse_hex(&request.public_key).map_err(|_| {
        invalid_field(
            "public_key",
            "an Ed25519 public key: 64 lower-case hex digits",
        )
    })?;
    state
        .logins
        .set_holder_key(rider.account_id, key.as_bytes(), state.now())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(HolderKeyView {
        public_key: hex::encode(key.as_bytes()),
    }))
}

/// A fresh QR ticket for the account.
#[utoipa::path(
    get, path = "/v1/me/ticket", tag = "ticket",
    security(("session" = [])),
    responses(
        (status = 200, description = "A ticket valid for 10 minutes", body = TicketView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: no signing key is valid", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn ticket(
    State(state): State<AppState>,
    rider: Rider,
) -> Result<Json<TicketView>, ApiError> {
    state
        .limiter
        .check(
            TICKETS_PER_ACCOUNT,
            Subject::Account(rider.account_id.as_uuid()),
        )
        .await?;
    let account = rider_account(&state, rider.account_id).await?;
    let setup = state.projection.setup();
    let category = setup.category_for(&account.category_id, verification(account.category_status));
    let category_code = u8::try_from(category.get()).map_err(ApiError::internal)?;
    let holder = state
        .logins
        .holder_key(rider.account_id)
        .await
        .map_err(ApiError::internal)?
        .map(PublicKey::from_bytes);
    let mut id = [0u8; 16];
    state
        .rng
        .fill(&mut id)
        .map_err(|_| ApiError::internal(NoRandom))?;
    let now = state.now();
    let now_s = u64::try_from(now.timestamp()).map_err(ApiError::internal)?;
    let expires_at = now + Duration::seconds(TICKET_VALIDITY_S);
    let request = TicketRequest {
        ticket_id: TicketId::from_bytes(id),
        account_id: rider.account_id,
        holder,
        product: ACCOUNT_TICKET_PRODUCT,
        rider_category: RiderCategoryCode(category_code),
        not_before_s: now_s,
        expires_s: u64::try_from(expires_at.timestamp()).map_err(ApiError::internal)?,
    };
    let issuer = state.clone();
    let issued = tokio::task::spawn_blocking(move || issuer.tickets().issue(&request, now_s))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| match error {
            TicketIssueError::Issue(cause) => {
                tracing::error!(error = %cause, "no ticket key can sign; rotate the key store");
                ApiError::Unavailable {
                    detail: "No ticket can be issued right now: the ticket keys need attention."
                        .to_owned(),
                    retry_after_s: None,
                }
            }
            TicketIssueError::Load(cause) => ApiError::internal(cause),
        })?;
    state
        .riders
        .insert_ticket(
            &NewTicket {
                ticket_id: id,
                account_id: rider.account_id,
                kid: *issued.kid.as_bytes(),
                holder_key: holder.map(|k| *k.as_bytes()),
                expires_at,
            },
            now,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(TicketView {
        qr: URL_SAFE_NO_PAD.encode(&issued.qr),
        ticket_id: hex::encode(id),
        kid: issued.kid.to_string(),
        not_before: now,
        expires_at,
        holder_bound: holder.is_some(),
    }))
}

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
struct NoRandom;
