//! The sandbox payment provider, served only when `OT_VNPAY_MODE=sandbox`:
//! it plays VNPay for demos and tests, with the same signatures.
//!
//! `GET /sandbox/vnpay/pay?<signed payment request>&outcome=success|cancel`
//! verifies the request as VNPay would (signature, terminal, window), makes
//! the callback VNPay would make (signed with the shared secret), delivers
//! it to the IPN handler — in process, through the very function the
//! `/v1/payments/vnpay/ipn` route runs — and redirects the browser to the
//! request's `vnp_ReturnUrl` with the same signed parameters. The IPN's
//! `RspCode` is echoed in the `X-Sandbox-Ipn-RspCode` header.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ring::rand::SecureRandom;
use service_kit::ApiError;
use service_kit::problem::types;

use crate::http::ProblemDoc;
use crate::ipn;
use crate::state::AppState;
use crate::vnpay::{self, SECURE_HASH, SECURE_HASH_TYPE};

/// The sandbox's own parameter choosing the outcome (not a `vnp_` one, so
/// it is outside the signature, as a real rider's choice on the page is).
pub const OUTCOME_PARAM: &str = "outcome";
/// The header echoing the IPN's `RspCode`.
pub const IPN_RSP_CODE_HEADER: &str = "x-sandbox-ipn-rspcode";
/// VNPay's response code for a payment the customer cancelled.
pub const CANCELLED_RESPONSE_CODE: &str = "24";
/// VNPay's transaction status of a payment that did not complete.
pub const FAILED_TRANSACTION_STATUS: &str = "02";
/// Digits of a sandbox transaction number (VNPay's are 8).
const TRANSACTION_NO_MODULUS: u32 = 100_000_000;

fn refuse(detail: &str) -> Response {
    ApiError::bad_request(types::BAD_REQUEST, detail.to_owned()).into_response()
}

/// Pay (or cancel) a payment request, as the sandbox provider.
#[utoipa::path(
    get, path = "/sandbox/vnpay/pay", tag = "sandbox",
    params(
        ("vnp_*" = String, Query, description = "The signed payment request, exactly as `payment_url` carries it"),
        ("outcome" = Option<String>, Query, description = "`success` (default) or `cancel`"),
    ),
    responses(
        (status = 303, description = "Paid or cancelled; redirected to `vnp_ReturnUrl`"),
        (status = 400, description = "`bad_request`: bad signature, terminal, command, amount or expired window", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn pay(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let Some(request) = vnpay::parse_query(query.as_deref().unwrap_or_default()) else {
        return refuse("The payment request is not a valid query string.");
    };
    let merchant = &state.payments.merchant;
    let signed = request
        .get(SECURE_HASH)
        .is_some_and(|signature| merchant.verifies(&request, signature));
    if !signed {
        return refuse("The payment request's signature does not verify.");
    }
    let field = |name: &str| request.get(name).map(String::as_str).unwrap_or_default();
    if field("vnp_TmnCode") != merchant.tmn_code()
        || field("vnp_Command") != vnpay::VNP_COMMAND_PAY
        || field("vnp_Version") != vnpay::VNP_VERSION
        || field("vnp_CurrCode") != vnpay::VNP_CURRENCY
    {
        return refuse("The payment request names another terminal, command, version or currency.");
    }
    let now = state.now();
    match vnpay::parse_date(field("vnp_ExpireDate")) {
        Some(expires) if now < expires => {}
        _ => return refuse("The payment request has expired."),
    }
    let amount_ok = field("vnp_Amount")
        .parse::<i64>()
        .is_ok_and(|amount| amount > 0 && amount % vnpay::AMOUNT_SCALE == 0);
    let return_url = field("vnp_ReturnUrl");
    if !amount_ok || !(return_url.starts_with("http://") || return_url.starts_with("https://")) {
        return refuse("The payment request's amount or return URL is invalid.");
    }
    let success = match request.get(OUTCOME_PARAM).map(String::as_str) {
        None | Some("success") => true,
        Some("cancel") => false,
        Some(_) => return refuse("outcome is success or cancel."),
    };
    let mut random = [0u8; 4];
    if state.rng.fill(&mut random).is_err() {
        return ApiError::internal(NoRandom).into_response();
    }
    let transaction_no = if success {
        (u32::from_be_bytes(random) % TRANSACTION_NO_MODULUS)
            .max(1)
            .to_string()
    } else {
        "0".to_owned()
    };
    let mut callback: BTreeMap<String, String> = [
        ("vnp_Amount", field("vnp_Amount").to_owned()),
        ("vnp_BankCode", "NCB".to_owned()),
        ("vnp_BankTranNo", format!("VNP{transaction_no}")),
        ("vnp_CardType", "ATM".to_owned()),
        ("vnp_OrderInfo", field("vnp_OrderInfo").to_owned()),
        ("vnp_PayDate", vnpay::format_date(now)),
        (
            "vnp_ResponseCode",
            if success {
                vnpay::VNP_SUCCESS
            } else {
                CANCELLED_RESPONSE_CODE
            }
            .to_owned(),
        ),
        ("vnp_TmnCode", merchant.tmn_code().to_owned()),
        ("vnp_TransactionNo", transaction_no),
        (
            "vnp_TransactionStatus",
            if success {
                vnpay::VNP_SUCCESS
            } else {
                FAILED_TRANSACTION_STATUS
            }
            .to_owned(),
        ),
        ("vnp_TxnRef", field("vnp_TxnRef").to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    callback.remove(SECURE_HASH_TYPE);
    let signature = merchant.sign(&callback);
    let reply = ipn::process(&state, &{
        let mut signed = callback.clone();
        signed.insert(SECURE_HASH.to_owned(), signature.clone());
        signed
    })
    .await;
    let separator = if return_url.contains('?') { '&' } else { '?' };
    let location = format!(
        "{return_url}{separator}{}&{SECURE_HASH}={signature}",
        vnpay::signed_text(&callback)
    );
    let Ok(location) = HeaderValue::from_str(&location) else {
        return refuse("The return URL cannot be redirected to.");
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(IPN_RSP_CODE_HEADER, HeaderValue::from_static(reply.code()));
    response
}

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
struct NoRandom;
