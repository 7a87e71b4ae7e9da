//! Monthly parking permits, issued by operators at the lot office and paid
//! from the rider's wallet (`/v1/admin/parking/permits`, scope `parking`).
//!
//! A permit is a pass of the fare configuration that covers lots
//! (`covers_lots` in `oneticket.toml`): the engine holds it as an
//! entitlement of the account and prices a stay at a covered lot at 0 for
//! the time within its validity. Issuing one is therefore a fare event:
//!
//! ```text
//! POST /v1/admin/parking/permits {permit_id, account_id, product_id, plate?}
//!   1. projection.apply(BuyPass) under `parking_permit:<permit_id>` — the
//!      engine checks the balance and the pass limit and takes the price in
//!      the same atomic step (settlement posts the sale to unearned revenue
//!      and recognises it to the lot's operator as stays use it)
//!   2. Postgres: one `parking.assigned_right` per covered lot, tied to the
//!      paying event (`event_key`), valid from the first instant of the
//!      service day of purchase to the end of its last service day
//! GET  /v1/admin/parking/accounts/{account}/permits   the rights still valid
//! ```
//!
//! **Idempotent on `permit_id`:** a retry with the same body answers the
//! first purchase (the projection's stored reply) and records no second
//! right; another body under the same id is 409 `permit_conflict`. A crash
//! between the steps leaves the entitlement in the engine (it prices the
//! exits, which is what matters) without its right rows; the operator's
//! retry of the same request records them.
//!
//! **Choices:** the engine's entitlement belongs to the account (one open
//! stay at a time, so one vehicle at a time uses it); a plate given at
//! issue is recorded on the rights for the attendants, not enforced at the
//! gates. Riders do not buy permits through the rider API: a permit is sold
//! at the lot office, which records the right and the vehicle.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use fares::engine::{Event, EventKind, ServiceDay};
use projection::setup::Verification;
use projection::{Change, EventKey, Repeat, RequestHash, Verdict};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, FieldError, Json, Path, ProblemType};
use store_pg::parking::{NewRight, RightRecord, permit_right_spec_id};
use store_pg::rider::{CategoryStatus, Riders};
use uuid::Uuid;

use crate::gate::{self, GateError};
use crate::ops::ParkingAdmin;
use crate::plate::Plate;
use crate::state::ParkingState;

/// 409: the permit id was used for another request.
pub const PERMIT_CONFLICT: ProblemType = ProblemType::new(
    "permit_conflict",
    "This permit id was used for a different request",
);
/// 409: the wallet holds less than the permit's price.
pub const INSUFFICIENT_FUNDS: ProblemType = ProblemType::new(
    "insufficient_funds",
    "The spendable balance is below the permit's price",
);
/// 409: the account holds the most passes and permits it may.
pub const PASS_LIMIT: ProblemType = ProblemType::new(
    "pass_limit",
    "The account holds the most passes and permits it may",
);
/// 409: the engine refused the purchase for another reason.
pub const PERMIT_REFUSED: ProblemType =
    ProblemType::new("permit_refused", "The purchase was refused");

/// `POST /v1/admin/parking/permits` body.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssuePermitRequest {
    /// The client's id of this sale: a retry sends the same id.
    pub permit_id: Uuid,
    /// The account that pays and holds the permit.
    pub account_id: Uuid,
    /// The permit's product id (a pass of the configuration that covers lots).
    pub product_id: String,
    /// The vehicle it is for, any spelling (recorded, not enforced).
    pub plate: Option<String>,
}

/// One right a permit granted.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RightView {
    /// The right's id.
    pub assigned_right_id: Uuid,
    /// `monthly_permit`.
    pub kind: String,
    /// The lot it covers.
    pub lot_id: String,
    /// The class of the lot.
    pub vehicle_class: String,
    /// The vehicle, canonical plate.
    pub plate: Option<String>,
    /// First instant of validity.
    pub valid_from: DateTime<Utc>,
    /// First instant after validity.
    pub valid_until: DateTime<Utc>,
    /// `active` or `revoked`.
    pub status: String,
    /// The fare event that paid for it.
    pub event_key: Option<String>,
}

impl From<RightRecord> for RightView {
    fn from(right: RightRecord) -> RightView {
        RightView {
            assigned_right_id: right.assigned_right_id,
            kind: right.kind,
            lot_id: right.site_id,
            vehicle_class: right.vehicle_class,
            plate: right.plate,
            valid_from: right.valid_from,
            valid_until: right.valid_until,
            status: right.status,
            event_key: right.event_key,
        }
    }
}

/// A permit sold.
#[derive(Debug, Serialize)]
pub struct PermitView {
    /// The sale's id.
    pub permit_id: Uuid,
    /// The holder.
    pub account_id: Uuid,
    /// The product.
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// What the wallet paid.
    pub price_vnd: i64,
    /// The spendable balance after the purchase.
    pub balance_vnd: Option<i64>,
    /// First service day of validity.
    pub first_day: NaiveDate,
    /// Last service day of validity.
    pub last_day: NaiveDate,
    /// The rights recorded, one per covered lot.
    pub rights: Vec<RightView>,
}

fn invalid(field: &str, detail: &str) -> ApiError {
    ApiError::validation(
        format!("invalid {field}"),
        vec![FieldError::new(field, detail)],
    )
}

/// The event key of a permit sale.
fn event_key(permit_id: Uuid) -> Result<EventKey, ApiError> {
    EventKey::parse(&format!("parking_permit:{}", permit_id.simple())).map_err(ApiError::internal)
}

/// `POST /v1/admin/parking/permits` (see the module docs).
#[tracing::instrument(skip_all, fields(permit_id = %body.permit_id, product_id = %body.product_id))]
pub(crate) async fn issue(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
    Json(body): Json<IssuePermitRequest>,
) -> Result<Response, ApiError> {
    let permit = state
        .lots()
        .permit(&body.product_id)
        .ok_or_else(|| invalid("product_id", "a parking permit of the fare configuration"))?
        .clone();
    let plate = body
        .plate
        .as_deref()
        .map(Plate::parse)
        .transpose()
        .map_err(|e| invalid("plate", &e.to_string()))?;
    let account = ledger::AccountId::new(body.account_id)
        .map_err(|e| invalid("account_id", &e.to_string()))?;
    let rider = Riders::new(state.inner.pool.clone())
        .account(account)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no account with this id"))?;
    let setup = state.projection().setup();
    let category = setup.category_for(
        &rider.category_id,
        match rider.category_status {
            CategoryStatus::Verified => Verification::Verified,
            CategoryStatus::Pending | CategoryStatus::Rejected => Verification::Unverified,
        },
    );
    let key = event_key(body.permit_id)?;
    let request = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let now = state.clock().now();
    let applied = state
        .projection()
        .apply(Change {
            account,
            key: &key,
            hash: RequestHash::of(&request),
            event: Event {
                at: now.fixed_offset(),
                kind: EventKind::BuyPass {
                    product: permit.idx,
                    category,
                },
            },
            occupancy: None,
            tap: None,
            now,
        })
        .await
        .map_err(|error| match gate::projection_error(error) {
            GateError::Conflict => ApiError::conflict(
                PERMIT_CONFLICT,
                "this permit id was used for a different request",
            ),
            other => other.into(),
        })?;
    let reply = applied.reply;
    if reply.decision == Verdict::Deny {
        return Err(match reply.reason.as_deref() {
            Some("insufficient_funds") => ApiError::conflict(
                INSUFFICIENT_FUNDS,
                format!(
                    "the permit costs more than the spendable balance ({} VND)",
                    reply.balance_vnd.unwrap_or_default()
                ),
            ),
            Some("pass_limit") => ApiError::conflict(
                PASS_LIMIT,
                "the account holds the most passes and permits it may",
            ),
            other => ApiError::conflict(
                PERMIT_REFUSED,
                format!(
                    "the purchase was refused ({})",
                    other.unwrap_or("no reason")
                ),
            ),
        });
    }
    let first_day = reply
        .service_day
        .ok_or_else(|| ApiError::internal(Inconsistent))?;
    let first = ServiceDay::from_date(first_day);
    let after_last = first.plus_days(i32::from(permit.validity_days));
    let calendar = setup.engine().calendar();
    let (Some(valid_from), Some(valid_until)) =
        (calendar.day_start(first), calendar.day_start(after_last))
    else {
        return Err(ApiError::internal(Inconsistent));
    };
    let last_day = after_last.plus_days(-1).date().unwrap_or(first_day);
    let mut rights = Vec::with_capacity(permit.lot_ids.len());
    for lot_id in &permit.lot_ids {
        let lot = state
            .lots()
            .get(lot_id)
            .ok_or_else(|| ApiError::internal(Inconsistent))?;
        rights.push(NewRight {
            assigned_right_id: Uuid::now_v7(),
            right_spec_id: permit_right_spec_id(lot_id, &lot.class_id, &permit.product_id),
            account_id: account,
            plate: plate.as_ref().map(|p| p.as_str().to_owned()),
            valid_from,
            valid_until,
            event_key: key.as_str().to_owned(),
            created_at: now,
        });
    }
    let granted = state
        .store()
        .grant_rights(&rights)
        .await
        .map_err(ApiError::internal)?;
    if applied.repeat == Repeat::First {
        tracing::info!(price_vnd = reply.amount_vnd, "parking permit issued");
    }
    let view = PermitView {
        permit_id: body.permit_id,
        account_id: body.account_id,
        product_id: permit.product_id.clone(),
        name: permit.name.clone(),
        price_vnd: reply.amount_vnd,
        balance_vnd: reply.balance_vnd,
        first_day,
        last_day,
        rights: granted.into_iter().map(RightView::from).collect(),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The projection answered an accepted purchase without a service day (or
/// one beyond the calendar), or a permit names a lot the service does not
/// run: programming errors (the lots and permits are built from one
/// configuration), logged as such.
#[derive(Debug, thiserror::Error)]
#[error("an accepted permit purchase without a service day or a covered lot")]
struct Inconsistent;

/// `GET /v1/admin/parking/accounts/{account}/permits`: the account's
/// permits still valid now or later.
pub(crate) async fn of_account(
    State(state): State<ParkingState>,
    ParkingAdmin(_key): ParkingAdmin,
    Path(account_id): Path<Uuid>,
) -> Result<Json<Vec<RightView>>, ApiError> {
    let account =
        ledger::AccountId::new(account_id).map_err(|e| invalid("account_id", &e.to_string()))?;
    let rights = state
        .store()
        .account_rights(account, state.clock().now())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(rights.into_iter().map(RightView::from).collect()))
}
