//! Media: the transit cards and bank-card tokens a rider links to the
//! account, and reporting one lost (blocked, and on the deny list from its
//! next version, so every terminal refuses it after its next sync).
//!
//! A rider sees and touches only their own media: another rider's medium id
//! is a 404, exactly like an id that does not exist.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, Json, Path};
use store_pg::StoreError;
use store_pg::rider::MediumKind;
use store_pg::rider_history::MediumRow;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Rider;
use crate::http::{ProblemDoc, invalid_field, not_found};
use crate::problems;
use crate::state::AppState;
use crate::token::random_uuid;

/// Active media per account: a family's cards and a couple of bank cards;
/// more is a farm of cards, not a rider.
pub const MAX_ACTIVE_MEDIA: i64 = 8;
/// Media listed at most (active and blocked): the active bound plus a
/// history of lost cards.
pub const MAX_MEDIA_LISTED: u32 = 64;
/// Characters of a medium's value shown back (the rest is masked).
pub const VISIBLE_VALUE_CHARS: usize = 4;
/// Why a medium reported lost is blocked (stored with the block).
pub const LOST_REASON: &str = "reported lost by the rider";

/// What can be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A transit card: its UID, 4, 7 or 10 bytes in hex.
    TransitCard,
    /// A bank card: the acquirer's token (16 to 64 of `A-Z a-z 0-9 _ -`).
    BankCard,
}

/// `POST /v1/me/media`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// What it is.
    pub kind: LinkKind,
    /// The card UID (hex, any case, `:` or spaces allowed) or the token.
    #[schema(example = "04A2 2B1C 9F5E 80")]
    pub value: String,
}

/// A linked medium.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediumView {
    /// Its id.
    pub medium_id: Uuid,
    /// `transit_card` or `bank_card` (`plate` for vehicles linked by parking).
    pub kind: String,
    /// The value, all but its last characters masked.
    pub value_hint: String,
    /// `active` or `blocked`.
    pub status: String,
    /// Linked at.
    pub created_at: DateTime<Utc>,
    /// Blocked at.
    pub blocked_at: Option<DateTime<Utc>>,
}

/// The rider's media.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaList {
    /// Oldest first.
    pub items: Vec<MediumView>,
}

/// A medium reported lost.
#[derive(Debug, Serialize, ToSchema)]
pub struct LostView {
    /// The medium, now blocked.
    pub medium: MediumView,
    /// The deny-list version that carries it (absent when it was blocked
    /// before, or for plates).
    pub deny_list_version: Option<u64>,
}

/// The stored form of a value: lower-case hex UIDs, tokens as given.
fn normalise(kind: LinkKind, value: &str) -> Result<String, ApiError> {
    match kind {
        LinkKind::TransitCard => {
            let hex: String = value
                .chars()
                .filter(|c| !matches!(c, ' ' | ':' | '-'))
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let ok = matches!(hex.len(), 8 | 14 | 20) && hex.bytes().all(|b| b.is_ascii_hexdigit());
            if ok {
                Ok(hex)
            } else {
                Err(invalid_field(
                    "value",
                    "a card UID is 4, 7 or 10 bytes in hex",
                ))
            }
        }
        LinkKind::BankCard => {
            let ok = (16..=64).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if ok {
                Ok(value.to_owned())
            } else {
                Err(invalid_field(
                    "value",
                    "a bank-card token is 16 to 64 of A-Z a-z 0-9 _ -",
                ))
            }
        }
    }
}

fn hint(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let shown = chars.len().min(VISIBLE_VALUE_CHARS);
    let (masked, visible) = chars.split_at(chars.len() - shown);
    masked
        .iter()
        .map(|_| '•')
        .chain(visible.iter().copied())
        .collect()
}

fn view(row: MediumRow) -> MediumView {
    MediumView {
        medium_id: row.medium_id,
        kind: row.kind,
        value_hint: hint(&row.value),
        status: row.status,
        created_at: row.created_at,
        blocked_at: row.blocked_at,
    }
}

/// Link a card or a bank-card token.
#[utoipa::path(
    post, path = "/v1/me/media", tag = "media",
    security(("session" = [])),
    request_body = LinkRequest,
    responses(
        (status = 201, description = "Linked", body = MediumView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`medium_taken`, or `conflict` when the account holds the most active media", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `invalid_body`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn link(
    State(state): State<AppState>,
    rider: Rider,
    Json(request): Json<LinkRequest>,
) -> Result<(StatusCode, Json<MediumView>), ApiError> {
    let value = normalise(request.kind, &request.value)?;
    let active = state
        .history
        .active_media(rider.account_id)
        .await
        .map_err(ApiError::internal)?;
    if active >= MAX_ACTIVE_MEDIA {
        return Err(ApiError::conflict(
            service_kit::problem::types::CONFLICT,
            format!(
                "An account holds at most {MAX_ACTIVE_MEDIA} active media; report one lost first."
            ),
        ));
    }
    let kind = match request.kind {
        LinkKind::TransitCard => MediumKind::TransitCard,
        LinkKind::BankCard => MediumKind::BankCard,
    };
    let medium_id = random_uuid(&state.rng).map_err(ApiError::internal)?;
    match state
        .riders
        .link_medium(medium_id, rider.account_id, kind, &value, state.now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Duplicate { constraint }) if constraint == "medium_active_value_key" => {
            return Err(ApiError::conflict(
                problems::MEDIUM_TAKEN,
                "This card or token is linked to an account already.",
            ));
        }
        Err(error) => return Err(ApiError::internal(error)),
    }
    let row = state
        .history
        .medium(rider.account_id, medium_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("medium"))?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

/// The rider's media.
#[utoipa::path(
    get, path = "/v1/me/media", tag = "media",
    security(("session" = [])),
    responses(
        (status = 200, description = "The media", body = MediaList),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    rider: Rider,
) -> Result<Json<MediaList>, ApiError> {
    let rows = state
        .history
        .media(rider.account_id, MAX_MEDIA_LISTED)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(MediaList {
        items: rows.into_iter().map(view).collect(),
    }))
}

/// Report a medium lost: blocked at once, denied at every terminal from the
/// next deny-list version. Reporting it again changes nothing.
#[utoipa::path(
    post, path = "/v1/me/media/{id}/lost", tag = "media",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "The medium id")),
    responses(
        (status = 200, description = "Blocked", body = LostView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for another rider's medium)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn report_lost(
    State(state): State<AppState>,
    rider: Rider,
    Path(id): Path<Uuid>,
) -> Result<Json<LostView>, ApiError> {
    // Ownership first: the block itself is keyed by medium id only.
    if state
        .history
        .medium(rider.account_id, id)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(not_found("medium"));
    }
    let outcome = state
        .riders
        .block_medium(id, LOST_REASON, state.now())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("medium"))?;
    let row = state
        .history
        .medium(rider.account_id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("medium"))?;
    tracing::info!(medium_id = %id, deny_list_version = ?outcome.deny_list_version, "medium reported lost");
    Ok(Json(LostView {
        medium: view(row),
        deny_list_version: outcome.deny_list_version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_normalise() {
        let check = |kind: LinkKind, input: &str, expected: Option<&str>| {
            assert_eq!(
                normalise(kind, input).ok().as_deref(),
                expected,
                "{input:?}"
            );
        };
        check(
            LinkKind::TransitCard,
            "04A2 2B1C 9F5E 80",
            Some("04a22b1c9f5e80"),
        );
        check(LinkKind::TransitCard, "de:ad:be:ef", Some("deadbeef"));
        check(LinkKind::TransitCard, "deadbee", None);
        check(LinkKind::TransitCard, "xyzxyzxy", None);
        check(
            LinkKind::BankCard,
            "tok_ABCDEFGHIJKLMNOP",
            Some("tok_ABCDEFGHIJKLMNOP"),
        );
        check(LinkKind::BankCard, "short", None);
        check(LinkKind::BankCard, "has space in the token", None);
    }

    #[test]
    fn hints_mask_all_but_the_tail() {
        assert_eq!(hint("04a22b1c9f5e80"), "••••••••••5e80");
        assert_eq!(hint("abc"), "abc");
        assert_eq!(hint(""), "");
    }
}
