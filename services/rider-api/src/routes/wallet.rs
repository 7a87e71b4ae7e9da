//! The wallet and its top-ups: the spendable balance, a top-up order with
//! its payment URL, the provider's callback (IPN) and the return page.
//!
//! The balance a rider sees is the projection's spendable balance: the
//! ledger balance minus the provisional charges settlement has not posted
//! yet (see `projection`'s docs). Top-ups credit the ledger and the
//! projection together, only from a verified IPN.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ledger::NormalSide;
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, Json, Path, RequestId};
use store_pg::rider_orders::{NewTopup, TopupRecord, TopupStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Rider;
use crate::http::{
    ClientIp, IdempotencyKey, Operation, ProblemDoc, idempotent, invalid_field, not_found, to_json,
};
use crate::ipn;
use crate::state::AppState;
use crate::token::random_uuid;
use crate::vnpay::{self, PaymentRequest};

/// Smallest top-up, VND: below this the provider's fee outweighs the ride.
pub const MIN_TOPUP_VND: i64 = 10_000;
/// Largest top-up, VND: a month of daily metro and bus many times over; a
/// stored-value wallet is not a bank account.
pub const MAX_TOPUP_VND: i64 = 2_000_000;
/// How long the payment page accepts an order, minutes (VNPay's usual 15).
pub const PAYMENT_WINDOW_MIN: i64 = 15;
/// The IP sent to the provider when the client's is unknown.
pub const UNKNOWN_CLIENT_IP: &str = "127.0.0.1";
/// The most bytes of a POSTed IPN body read (the query form is ~1 KiB).
pub const MAX_IPN_BODY_BYTES: usize = 8 * 1024;

/// A pass held.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldPassView {
    /// The product id.
    pub product_id: String,
    /// First service day of validity.
    pub first_day: Option<NaiveDate>,
    /// Last service day of validity.
    pub last_day: Option<NaiveDate>,
}

/// The wallet.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletView {
    /// What the rider can spend now, VND (held metro fares already taken).
    pub balance_vnd: i64,
    /// The ledger's balance, VND: the spendable balance plus the charges
    /// not yet settled.
    pub ledger_balance_vnd: i64,
    /// Passes held (expired ones drop off at the next purchase).
    pub passes: Vec<HeldPassView>,
    /// Whether a metro trip is open (tapped in, not out).
    pub metro_trip_open: bool,
    /// Whether a parking stay is open.
    pub parking_stay_open: bool,
}

/// `POST /v1/me/topups`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupRequest {
    /// The amount, VND (10,000 to 2,000,000).
    #[schema(example = 100_000)]
    pub amount_vnd: i64,
}

/// A top-up order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopupView {
    /// Its id (also its receipt id).
    pub topup_id: Uuid,
    /// `pending`, `confirming`, `succeeded` or `failed`.
    pub status: String,
    /// The amount, VND.
    pub amount_vnd: i64,
    /// Where to send the rider to pay (while pending).
    pub payment_url: Option<String>,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// The payment page's deadline.
    pub expires_at: DateTime<Utc>,
    /// When the provider's answer came.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// VNPay's answer format for an IPN.
#[derive(Debug, Serialize, ToSchema)]
pub struct IpnAnswer {
    /// `00` confirmed, `01` order not found, `02` already confirmed, `04`
    /// invalid amount, `97` invalid signature, `99` unknown error.
    #[serde(rename = "RspCode")]
    pub rsp_code: String,
    /// The code's message.
    #[serde(rename = "Message")]
    pub message: String,
}

/// What the return page shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnView {
    /// `succeeded`, `pending` (the IPN has not arrived yet), `failed`, or
    /// `invalid` (the redirect's signature does not verify).
    pub status: String,
    /// The top-up, when known.
    pub topup_id: Option<Uuid>,
    /// Its amount, when known.
    pub amount_vnd: Option<i64>,
    /// For people.
    pub message: String,
}

fn topup_view(order: &TopupRecord, payment_url: Option<String>) -> TopupView {
    TopupView {
        topup_id: order.topup_id,
        status: order.status.as_str().to_owned(),
        amount_vnd: order.amount_vnd,
        payment_url: payment_url.filter(|_| order.status == TopupStatus::Pending),
        created_at: order.created_at,
        expires_at: order.expires_at,
        confirmed_at: order.confirmed_at,
    }
}

/// The wallet: spendable balance, ledger balance, passes.
#[utoipa::path(
    get, path = "/v1/me/wallet", tag = "wallet",
    security(("session" = [])),
    responses(
        (status = 200, description = "The wallet", body = WalletView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn wallet(
    State(state): State<AppState>,
    rider: Rider,
) -> Result<Json<WalletView>, ApiError> {
    let hot = state
        .projection
        .state(rider.account_id)
        .await
        .map_err(ApiError::internal)?;
    let ledger = state
        .ledger
        .account(rider.account_id)
        .await
        .map_err(ApiError::internal)?;
    let ledger_balance = ledger
        .balances
        .balance(NormalSide::Credit)
        .map_err(|_| ApiError::internal(BalanceOverflow))?;
    let engine = state.projection.setup().engine();
    Ok(Json(WalletView {
        balance_vnd: hot.balance.as_vnd(),
        ledger_balance_vnd: ledger_balance.as_vnd(),
        passes: hot
            .passes
            .iter()
            .map(|pass| HeldPassView {
                product_id: engine.pass_id(pass.product).unwrap_or("unknown").to_owned(),
                first_day: pass.first_day.date(),
                last_day: pass.last_day.date(),
            })
            .collect(),
        metro_trip_open: hot.open_trip.is_some(),
        parking_stay_open: hot.open_stay.is_some(),
    }))
}

#[derive(Debug, thiserror::Error)]
#[error("the wallet balance overflows")]
struct BalanceOverflow;

/// Start a top-up: an order and the payment URL to send the rider to.
/// Needs an `Idempotency-Key`; a retry with the same key and body gets the
/// same order.
#[utoipa::path(
    post, path = "/v1/me/topups", tag = "wallet",
    security(("session" = [])),
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters, fresh per top-up")),
    request_body = TopupRequest,
    responses(
        (status = 201, description = "Order made; send the rider to `payment_url`", body = TopupView),
        (status = 400, description = "`idempotency_key_required` or `idempotency_key_invalid`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_reused` or `idempotency_request_in_progress`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (amount out of range) or `invalid_body`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_topup(
    State(state): State<AppState>,
    rider: Rider,
    request_id: RequestId,
    key: IdempotencyKey,
    ClientIp(ip): ClientIp,
    Json(request): Json<TopupRequest>,
) -> Response {
    let canonical = serde_json::to_vec(&request).unwrap_or_default();
    idempotent(&state, rider, &request_id, &key, Operation::TopUp, &canonical, || async {
        if !(MIN_TOPUP_VND..=MAX_TOPUP_VND).contains(&request.amount_vnd) {
            return Err(invalid_field(
                "amount_vnd",
                format!("a top-up is {MIN_TOPUP_VND} to {MAX_TOPUP_VND} VND"),
            ));
        }
        let now = state.now();
        let topup_id = random_uuid(&state.rng).map_err(ApiError::internal)?;
        let txn_ref = topup_id.simple().to_string();
        let order = state
            .orders
            .insert_topup(
                &NewTopup {
                    topup_id,
                    account_id: rider.account_id,
                    provider_id: state.payments.provider_id.as_str().to_owned(),
                    txn_ref: txn_ref.clone(),
                    amount_vnd: request.amount_vnd,
                    expires_at: now + Duration::minutes(PAYMENT_WINDOW_MIN),
                },
                now,
            )
            .await
            .map_err(ApiError::internal)?;
        let url = vnpay::payment_url(
            &state.payments.merchant,
            &state.payments.pay_url,
            &PaymentRequest {
                txn_ref: txn_ref.clone(),
                amount_vnd: order.amount_vnd,
                order_info: format!("Nap vi OneTicket {txn_ref}"),
                return_url: format!("{}/v1/payments/vnpay/return", state.settings.public_url),
                ip_addr: ip.map_or_else(|| UNKNOWN_CLIENT_IP.to_owned(), |ip| ip.to_string()),
                created_at: order.created_at,
                expires_at: order.expires_at,
            },
        )
        .map_err(ApiError::internal)?;
        tracing::info!(topup_id = %topup_id, amount_vnd = order.amount_vnd, "top-up order made");
        Ok((StatusCode::CREATED, to_json(&topup_view(&order, Some(url)))?))
    })
    .await
}

/// One of the rider's top-ups (poll it after the payment page).
#[utoipa::path(
    get, path = "/v1/me/topups/{id}", tag = "wallet",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "The top-up id")),
    responses(
        (status = 200, description = "The top-up", body = TopupView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for another rider's top-up)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn topup(
    State(state): State<AppState>,
    rider: Rider,
    Path(id): Path<Uuid>,
) -> Result<Json<TopupView>, ApiError> {
    let order = state
        .orders
        .topup_of(rider.account_id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("top-up"))?;
    Ok(Json(topup_view(&order, None)))
}

fn ipn_answer(reply: vnpay::IpnReply) -> Json<IpnAnswer> {
    Json(IpnAnswer {
        rsp_code: reply.code().to_owned(),
        message: reply.message().to_owned(),
    })
}

/// The payment provider's server-to-server notification (VNPay IPN, `GET`
/// with the signed parameters in the query string). Always 200; the result
/// is in `RspCode`.
#[utoipa::path(
    get, path = "/v1/payments/vnpay/ipn", tag = "payments",
    params(("vnp_*" = String, Query, description = "VNPay's signed parameters (vnp_Amount, vnp_TxnRef, vnp_TransactionNo, vnp_ResponseCode, vnp_TransactionStatus, vnp_SecureHash, …)")),
    responses((status = 200, description = "VNPay's reply format", body = IpnAnswer))
)]
pub async fn ipn_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Json<IpnAnswer> {
    let reply = match vnpay::parse_query(query.as_deref().unwrap_or_default()) {
        Some(params) => ipn::process(&state, &params).await,
        None => vnpay::IpnReply::InvalidSignature,
    };
    ipn_answer(reply)
}

/// The same notification POSTed: the parameters in the query string or as
/// an `application/x-www-form-urlencoded` body.
#[utoipa::path(
    post, path = "/v1/payments/vnpay/ipn", tag = "payments",
    params(("vnp_*" = String, Query, description = "VNPay's signed parameters, when sent in the query string")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "VNPay's signed parameters, when sent as a form"),
    responses((status = 200, description = "VNPay's reply format", body = IpnAnswer))
)]
pub async fn ipn_post(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Json<IpnAnswer> {
    let text = match query.filter(|q| !q.is_empty()) {
        Some(query) => Some(query),
        None if body.len() <= MAX_IPN_BODY_BYTES => {
            std::str::from_utf8(&body).ok().map(str::to_owned)
        }
        None => None,
    };
    let reply = match text.as_deref().and_then(vnpay::parse_query) {
        Some(params) => ipn::process(&state, &params).await,
        None => vnpay::IpnReply::InvalidSignature,
    };
    ipn_answer(reply)
}

/// Where the provider sends the rider's browser back. Shows the order's
/// state; it never credits anything (only the IPN does).
#[utoipa::path(
    get, path = "/v1/payments/vnpay/return", tag = "payments",
    params(("vnp_*" = String, Query, description = "VNPay's signed parameters")),
    responses((status = 200, description = "The result", body = ReturnView))
)]
pub async fn payment_return(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let invalid = || ReturnView {
        status: "invalid".to_owned(),
        topup_id: None,
        amount_vnd: None,
        message: "This payment result could not be verified.".to_owned(),
    };
    let Some(callback) = vnpay::parse_query(query.as_deref().unwrap_or_default())
        .and_then(|params| vnpay::verify_callback(&state.payments.merchant, &params).ok())
    else {
        return Json(invalid()).into_response();
    };
    let order = match state
        .orders
        .topup_by_ref(state.payments.provider_id.as_str(), &callback.txn_ref)
        .await
    {
        Ok(Some(order)) => order,
        Ok(None) => return Json(invalid()).into_response(),
        Err(error) => return ApiError::internal(error).into_response(),
    };
    let (status, message) = match order.status {
        TopupStatus::Succeeded => ("succeeded", "The top-up is in your wallet."),
        TopupStatus::Failed => (
            "failed",
            "The payment did not go through; nothing was charged.",
        ),
        TopupStatus::Pending | TopupStatus::Confirming => (
            "pending",
            "The payment is being confirmed; your wallet updates in a moment.",
        ),
    };
    Json(ReturnView {
        status: status.to_owned(),
        topup_id: Some(order.topup_id),
        amount_vnd: Some(order.amount_vnd),
        message: message.to_owned(),
    })
    .into_response()
}
