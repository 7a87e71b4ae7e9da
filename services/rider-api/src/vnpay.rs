//! The VNPay-compatible payment protocol (API version 2.1.0), as pure functions:
//! build a signed payment URL, and verify the signed parameters of an IPN call or
//! a return URL.
//!
//! The signature (`vnp_SecureHash`) is the lowercase hex HMAC-SHA512, keyed with
//! the merchant's hash secret, of the `vnp_*` parameters (without
//! `vnp_SecureHash` and `vnp_SecureHashType`) **sorted by name**, each written
//! `urlencode(name)=urlencode(value)` and joined by `&`. `urlencode` is PHP's
//! (VNPay's reference code is PHP: `ksort` then `urlencode`, then
//! `hash_hmac('sha512', …)`): ASCII letters, digits and `-_.` stay, a space
//! becomes `+`, every other byte of the UTF-8 text becomes `%XX` in upper-case
//! hex. The payment URL's query string is that same text, so the signed text
//! and the sent text are one and the same.
//!
//! A verifier decodes the query string it received, re-encodes it this way and
//! recomputes the HMAC; comparison is constant time (`ring::hmac::verify`).
//!
//! Nothing here reads the clock or draws randomness: times, references and
//! secrets are arguments.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use ring::hmac;

/// The protocol version we speak.
pub const VNP_VERSION: &str = "2.1.0";
/// The command of a payment.
pub const VNP_COMMAND_PAY: &str = "pay";
/// The only currency VNPay accepts.
pub const VNP_CURRENCY: &str = "VND";
/// VNPay's "success" in both `vnp_ResponseCode` and `vnp_TransactionStatus`.
pub const VNP_SUCCESS: &str = "00";
/// The parameter carrying the signature.
pub const SECURE_HASH: &str = "vnp_SecureHash";
/// A legacy parameter (versions before 2.1.0) that is never signed.
pub const SECURE_HASH_TYPE: &str = "vnp_SecureHashType";
/// Every protocol parameter starts with this; others (ours) are never signed.
pub const PARAM_PREFIX: &str = "vnp_";
/// `vnp_Amount` is the amount in VND times 100 (VNPay's "remove the decimals").
pub const AMOUNT_SCALE: i64 = 100;
/// VNPay's dates (`vnp_CreateDate`, `vnp_ExpireDate`, `vnp_PayDate`) are local
/// times of Vietnam, GMT+7, which has no daylight saving.
pub const VNPAY_UTC_OFFSET_S: i32 = 7 * 3600;
/// `yyyyMMddHHmmss`.
const DATE_FORMAT: &str = "%Y%m%d%H%M%S";
/// VNPay's limit for `vnp_TxnRef`.
pub const MAX_TXN_REF_BYTES: usize = 100;
/// VNPay's limit for `vnp_OrderInfo`.
pub const MAX_ORDER_INFO_BYTES: usize = 255;
/// Bytes of an HMAC-SHA512 tag.
const SHA512_TAG_BYTES: usize = 64;
/// The most parameters a callback may carry: VNPay sends about a dozen; this
/// bounds the work a forged callback can cause.
pub const MAX_CALLBACK_PARAMS: usize = 32;

/// The merchant's credentials: terminal code and hash secret.
#[derive(Clone)]
pub struct Merchant {
    tmn_code: String,
    key: hmac::Key,
}

impl fmt::Debug for Merchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merchant")
            .field("tmn_code", &self.tmn_code)
            .field("hash_secret", &"<redacted>")
            .finish()
    }
}

impl Merchant {
    /// A merchant with terminal code `tmn_code` (VNPay's `vnp_TmnCode`) and the
    /// hash secret it shares with VNPay.
    #[must_use]
    pub fn new(tmn_code: &str, hash_secret: &[u8]) -> Merchant {
        Merchant {
            tmn_code: tmn_code.to_owned(),
            key: hmac::Key::new(hmac::HMAC_SHA512, hash_secret),
        }
    }

    /// `vnp_TmnCode`.
    #[must_use]
    pub fn tmn_code(&self) -> &str {
        &self.tmn_code
    }

    /// The hex signature of `params` (the `vnp_*` ones except the hash fields).
    #[must_use]
    pub fn sign(&self, params: &BTreeMap<String, String>) -> String {
        let tag = hmac::sign(&self.key, signed_text(params).as_bytes());
        hex::encode(tag.as_ref())
    }

    /// Whether `signature` (hex, any case) is our signature of `params`.
    #[must_use]
    pub fn verifies(&self, params: &BTreeMap<String, String>, signature: &str) -> bool {
        let Ok(tag) = hex::decode(signature) else {
            return false;
        };
        if tag.len() != SHA512_TAG_BYTES {
            return false;
        }
        hmac::verify(&self.key, signed_text(params).as_bytes(), &tag).is_ok()
    }
}

/// PHP's `urlencode`: letters, digits and `-_.` stay; a space is `+`; every
/// other byte is `%XX` (upper-case hex).
#[must_use]
pub fn php_urlencode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
    out
}

/// The text that is signed and sent: the signable parameters in name order,
/// `urlencode(name)=urlencode(value)` joined by `&`.
#[must_use]
pub fn signed_text(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(name, _)| is_signed(name))
        .map(|(name, value)| format!("{}={}", php_urlencode(name), php_urlencode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A parameter is signed when it is a protocol parameter and not a hash field.
fn is_signed(name: &str) -> bool {
    name.starts_with(PARAM_PREFIX) && name != SECURE_HASH && name != SECURE_HASH_TYPE
}

/// A VNPay date (`yyyyMMddHHmmss`, GMT+7) of an instant.
#[must_use]
pub fn format_date(at: DateTime<Utc>) -> String {
    at.with_timezone(&vietnam()).format(DATE_FORMAT).to_string()
}

/// The instant of a VNPay date, or `None` when it is not `yyyyMMddHHmmss`.
#[must_use]
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, DATE_FORMAT).ok()?;
    naive
        .and_local_timezone(vietnam())
        .single()
        .map(|at| at.with_timezone(&Utc))
}

fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(VNPAY_UTC_OFFSET_S).expect("+07:00 is a valid UTC offset")
}

/// What a payment asks VNPay for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Our order reference (`vnp_TxnRef`), unique per merchant.
    pub txn_ref: String,
    /// The amount in VND (sent ×100).
    pub amount_vnd: i64,
    /// A description without diacritics (`vnp_OrderInfo`).
    pub order_info: String,
    /// Where VNPay sends the rider's browser back (`vnp_ReturnUrl`).
    pub return_url: String,
    /// The rider's IP address (`vnp_IpAddr`).
    pub ip_addr: String,
    /// When the order was made (`vnp_CreateDate`).
    pub created_at: DateTime<Utc>,
    /// When the payment page stops accepting it (`vnp_ExpireDate`).
    pub expires_at: DateTime<Utc>,
}

/// Why a payment URL was not built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentUrlError {
    /// The amount is not positive, or ×100 overflows.
    #[error("the amount must be positive and at most i64::MAX / 100")]
    Amount,
    /// The reference is empty, too long, or not alphanumeric.
    #[error("vnp_TxnRef must be 1 to {MAX_TXN_REF_BYTES} ASCII letters or digits")]
    TxnRef,
    /// The order description is empty or too long.
    #[error("vnp_OrderInfo must be 1 to {MAX_ORDER_INFO_BYTES} bytes")]
    OrderInfo,
}

/// The signed payment URL: `pay_url?<signed text>&vnp_SecureHash=<hex>`.
///
/// # Errors
/// When a field breaks VNPay's limits.
pub fn payment_url(
    merchant: &Merchant,
    pay_url: &str,
    request: &PaymentRequest,
) -> Result<String, PaymentUrlError> {
    let params = payment_params(merchant, request)?;
    let query = signed_text(&params);
    let signature = merchant.sign(&params);
    let separator = if pay_url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{pay_url}{separator}{query}&{SECURE_HASH}={signature}"
    ))
}

/// The parameters of a payment request, before signing.
///
/// # Errors
/// When a field breaks VNPay's limits.
pub fn payment_params(
    merchant: &Merchant,
    request: &PaymentRequest,
) -> Result<BTreeMap<String, String>, PaymentUrlError> {
    if request.amount_vnd <= 0 {
        return Err(PaymentUrlError::Amount);
    }
    let amount = request
        .amount_vnd
        .checked_mul(AMOUNT_SCALE)
        .ok_or(PaymentUrlError::Amount)?;
    if !is_txn_ref(&request.txn_ref) {
        return Err(PaymentUrlError::TxnRef);
    }
    if request.order_info.is_empty() || request.order_info.len() > MAX_ORDER_INFO_BYTES {
        return Err(PaymentUrlError::OrderInfo);
    }
    let pairs = [
        ("vnp_Version", VNP_VERSION.to_owned()),
        ("vnp_Command", VNP_COMMAND_PAY.to_owned()),
        ("vnp_TmnCode", merchant.tmn_code.clone()),
        ("vnp_Amount", amount.to_string()),
        ("vnp_CurrCode", VNP_CURRENCY.to_owned()),
        ("vnp_TxnRef", request.txn_ref.clone()),
        ("vnp_OrderInfo", request.order_info.clone()),
        ("vnp_OrderType", "other".to_owned()),
        ("vnp_Locale", "vn".to_owned()),
        ("vnp_ReturnUrl", request.return_url.clone()),
        ("vnp_IpAddr", request.ip_addr.clone()),
        ("vnp_CreateDate", format_date(request.created_at)),
        ("vnp_ExpireDate", format_date(request.expires_at)),
    ];
    Ok(pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect())
}

/// `vnp_TxnRef` as we issue it: ASCII letters and digits only.
#[must_use]
pub fn is_txn_ref(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TXN_REF_BYTES
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Why a callback (IPN or return) was refused before looking at any order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// No `vnp_SecureHash`, or it does not verify.
    #[error("the signature is missing or wrong")]
    BadSignature,
    /// Signed, but a required field is missing or malformed.
    #[error("the callback is malformed: {0}")]
    Malformed(&'static str),
}

/// A verified callback from VNPay (IPN or return URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    /// Our order reference.
    pub txn_ref: String,
    /// `vnp_Amount` (VND × 100) exactly as sent.
    pub amount_x100: i64,
    /// `vnp_ResponseCode`.
    pub response_code: String,
    /// `vnp_TransactionStatus` (absent on some return URLs).
    pub transaction_status: Option<String>,
    /// VNPay's transaction number (`vnp_TransactionNo`): the idempotency key
    /// of the money that arrives.
    pub transaction_no: String,
    /// `vnp_TmnCode`.
    pub tmn_code: String,
}

impl Callback {
    /// Whether VNPay says the money was taken.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.response_code == VNP_SUCCESS
            && self
                .transaction_status
                .as_deref()
                .is_none_or(|status| status == VNP_SUCCESS)
    }
}

/// Verifies a callback's signature over its `vnp_*` parameters, then reads
/// the fields we act on. The parameters are the decoded query string.
///
/// # Errors
/// [`CallbackError::BadSignature`] unless signed with our secret (checked
/// first: an unsigned callback learns nothing about its fields), then
/// [`CallbackError::Malformed`] for a missing or malformed field.
pub fn verify_callback(
    merchant: &Merchant,
    params: &BTreeMap<String, String>,
) -> Result<Callback, CallbackError> {
    if params.len() > MAX_CALLBACK_PARAMS {
        return Err(CallbackError::BadSignature);
    }
    let signature = params.get(SECURE_HASH).ok_or(CallbackError::BadSignature)?;
    if !merchant.verifies(params, signature) {
        return Err(CallbackError::BadSignature);
    }
    let field = |name: &'static str| {
        params
            .get(name)
            .filter(|value| !value.is_empty())
            .ok_or(CallbackError::Malformed(name))
    };
    let txn_ref = field("vnp_TxnRef")?.clone();
    if !is_txn_ref(&txn_ref) {
        return Err(CallbackError::Malformed("vnp_TxnRef"));
    }
    let amount_text = field("vnp_Amount")?;
    let amount_x100 = if amount_text.bytes().all(|b| b.is_ascii_digit()) {
        amount_text
            .parse::<i64>()
            .map_err(|_| CallbackError::Malformed("vnp_Amount"))?
    } else {
        return Err(CallbackError::Malformed("vnp_Amount"));
    };
    let tmn_code = field("vnp_TmnCode")?.clone();
    if tmn_code != merchant.tmn_code {
        return Err(CallbackError::Malformed("vnp_TmnCode"));
    }
    Ok(Callback {
        txn_ref,
        amount_x100,
        response_code: field("vnp_ResponseCode")?.clone(),
        transaction_status: params.get("vnp_TransactionStatus").cloned(),
        transaction_no: field("vnp_TransactionNo")?.clone(),
        tmn_code,
    })
}

/// The reply an IPN handler gives VNPay: `{"RspCode": "00", "Message": …}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpnReply {
    /// `00`: recorded (a success credited, or a failure noted).
    ConfirmSuccess,
    /// `01`: no order with this reference.
    OrderNotFound,
    /// `02`: the order was confirmed before.
    AlreadyConfirmed,
    /// `04`: the amount is not what we asked for.
    InvalidAmount,
    /// `97`: the signature does not verify.
    InvalidSignature,
    /// `99`: anything else (malformed, our own failure: VNPay retries).
    UnknownError,
}

impl IpnReply {
    /// `RspCode`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            IpnReply::ConfirmSuccess => "00",
            IpnReply::OrderNotFound => "01",
            IpnReply::AlreadyConfirmed => "02",
            IpnReply::InvalidAmount => "04",
            IpnReply::InvalidSignature => "97",
            IpnReply::UnknownError => "99",
        }
    }

    /// `Message`, as VNPay's reference code writes it.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            IpnReply::ConfirmSuccess => "Confirm Success",
            IpnReply::OrderNotFound => "Order not found",
            IpnReply::AlreadyConfirmed => "Order already confirmed",
            IpnReply::InvalidAmount => "Invalid amount",
            IpnReply::InvalidSignature => "Invalid signature",
            IpnReply::UnknownError => "Unknown error",
        }
    }
}

/// Decodes an `application/x-www-form-urlencoded` query string into its
/// parameters (`+` is a space; `%XX` a byte). A name given twice, invalid
/// UTF-8 after decoding, or more than `MAX_CALLBACK_PARAMS` parameters make it
/// `None`: a callback is either exactly what VNPay signed or nothing.
#[must_use]
pub fn parse_query(query: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(value)?;
        if params.insert(name, value).is_some() || params.len() > MAX_CALLBACK_PARAMS {
            return None;
        }
    }
    Some(params)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
                let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn merchant() -> Merchant {
        Merchant::new("OTDEMO01", b"SECRETSECRETSECRETSECRETSECRET12")
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn php_urlencode_matches_php() {
        // Expected values are PHP's urlencode(), cross-checked with Python's
        // urllib.parse.quote_plus(text, safe="") (which differs only in keeping `~`).
        let check =
            |input: &str, expected: &str| assert_eq!(php_urlencode(input), expected, "{input:?}");
        check("abcXYZ019-_.", "abcXYZ019-_.");
        check("a b", "a+b");
        check("~*'()!", "%7E%2A%27%28%29%21");
        check(
            "https://x.vn/r?a=1&b=2",
            "https%3A%2F%2Fx.vn%2Fr%3Fa%3D1%26b%3D2",
        );
        check("Nạp ví", "N%E1%BA%A1p+v%C3%AD");
        check("", "");
    }

    #[test]
    fn signed_text_sorts_by_name_and_skips_hash_fields_and_foreign_params() {
        let check = |pairs: &[(&str, &str)], expected: &str| {
            assert_eq!(signed_text(&params(pairs)), expected);
        };
        check(
            &[
                ("vnp_TxnRef", "5"),
                ("vnp_Amount", "1806000"),
                ("vnp_OrderInfo", "Thanh toan don hang :5"),
                (SECURE_HASH, "ab"),
                (SECURE_HASH_TYPE, "HmacSHA512"),
                ("outcome", "cancel"),
            ],
            "vnp_Amount=1806000&vnp_OrderInfo=Thanh+toan+don+hang+%3A5&vnp_TxnRef=5",
        );
        check(&[], "");
    }

    #[test]
    fn signature_matches_an_independent_hmac_sha512() {
        // Computed with Python: hmac.new(b"SECRETSECRETSECRETSECRETSECRET12",
        // b"vnp_Amount=1806000&vnp_OrderInfo=Thanh+toan+don+hang+%3A5&vnp_TxnRef=5",
        // hashlib.sha512).hexdigest()
        let signed = params(&[
            ("vnp_TxnRef", "5"),
            ("vnp_Amount", "1806000"),
            ("vnp_OrderInfo", "Thanh toan don hang :5"),
        ]);
        assert_eq!(
            merchant().sign(&signed),
            "946f81235e3feec5c46f8b70828060199e7baa8ef9dd3afa8388c4c3c3255b35\
             40e386644dd89dd686ab6ef2ee4335e09b8c578a18a70a32ba79b860b57f49e0"
        );
    }

    #[test]
    fn dates_are_vietnam_local_time() {
        let at = DateTime::parse_from_rfc3339("2026-03-02T01:05:09Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(format_date(at), "20260302080509");
        assert_eq!(parse_date("20260302080509"), Some(at));
        for bad in [
            "",
            "2026030208050",
            "2026030208050x",
            "20261302080509",
            "+0260302080509",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    fn request() -> PaymentRequest {
        let at = DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        PaymentRequest {
            txn_ref: "a1b2c3".to_owned(),
            amount_vnd: 50_000,
            order_info: "Nap vi OneTicket a1b2c3".to_owned(),
            return_url: "https://api.oneticket.vn/v1/payments/vnpay/return".to_owned(),
            ip_addr: "203.0.113.7".to_owned(),
            created_at: at,
            expires_at: at + chrono::Duration::minutes(15),
        }
    }

    #[test]
    fn payment_url_carries_every_required_parameter_and_verifies() {
        let url = payment_url(&merchant(), "https://pay.example/vpcpay.html", &request())
            .expect("valid request");
        let (base, query) = url.split_once('?').expect("a query");
        assert_eq!(base, "https://pay.example/vpcpay.html");
        let sent = parse_query(query).expect("a valid query");
        let check = |name: &str, expected: &str| {
            assert_eq!(sent.get(name).map(String::as_str), Some(expected), "{name}");
        };
        check("vnp_Version", "2.1.0");
        check("vnp_Command", "pay");
        check("vnp_TmnCode", "OTDEMO01");
        check("vnp_Amount", "5000000");
        check("vnp_CurrCode", "VND");
        check("vnp_TxnRef", "a1b2c3");
        check("vnp_OrderInfo", "Nap vi OneTicket a1b2c3");
        check(
            "vnp_ReturnUrl",
            "https://api.oneticket.vn/v1/payments/vnpay/return",
        );
        check("vnp_IpAddr", "203.0.113.7");
        check("vnp_CreateDate", "20260302080000");
        check("vnp_ExpireDate", "20260302081500");
        let signature = sent.get(SECURE_HASH).expect("signed");
        assert!(merchant().verifies(&sent, signature));
        assert!(!Merchant::new("OTDEMO01", b"another secret").verifies(&sent, signature));
    }

    #[test]
    fn payment_url_refuses_bad_fields() {
        let check = |edit: &dyn Fn(&mut PaymentRequest), expected: PaymentUrlError| {
            let mut request = request();
            edit(&mut request);
            assert_eq!(
                payment_url(&merchant(), "https://p", &request),
                Err(expected)
            );
        };
        check(&|r| r.amount_vnd = 0, PaymentUrlError::Amount);
        check(&|r| r.amount_vnd = i64::MAX, PaymentUrlError::Amount);
        check(&|r| r.txn_ref = String::new(), PaymentUrlError::TxnRef);
        check(&|r| r.txn_ref = "a-b".to_owned(), PaymentUrlError::TxnRef);
        check(
            &|r| r.order_info = "x".repeat(256),
            PaymentUrlError::OrderInfo,
        );
    }

    fn callback_params(secret_merchant: &Merchant) -> BTreeMap<String, String> {
        let mut p = params(&[
            ("vnp_Amount", "5000000"),
            ("vnp_BankCode", "NCB"),
            ("vnp_OrderInfo", "Nap vi OneTicket a1b2c3"),
            ("vnp_PayDate", "20260302080100"),
            ("vnp_ResponseCode", "00"),
            ("vnp_TmnCode", "OTDEMO01"),
            ("vnp_TransactionNo", "14980726"),
            ("vnp_TransactionStatus", "00"),
            ("vnp_TxnRef", "a1b2c3"),
        ]);
        let signature = secret_merchant.sign(&p);
        p.insert(SECURE_HASH.to_owned(), signature);
        p
    }

    #[test]
    fn callbacks_verify_then_parse() {
        let good = callback_params(&merchant());
        let check = |p: &BTreeMap<String, String>, expected: Result<&str, CallbackError>| {
            let got = verify_callback(&merchant(), p).map(|c| c.transaction_no);
            assert_eq!(got, expected.map(str::to_owned));
        };
        check(&good, Ok("14980726"));
        // The legacy hash type and foreign parameters are not signed.
        let mut with_extras = good.clone();
        with_extras.insert(SECURE_HASH_TYPE.to_owned(), "HmacSHA512".to_owned());
        with_extras.insert("sandbox_outcome".to_owned(), "x".to_owned());
        check(&with_extras, Ok("14980726"));
        // Upper-case hex is the same signature.
        let mut upper = good.clone();
        let sig = upper
            .get(SECURE_HASH)
            .cloned()
            .unwrap_or_default()
            .to_uppercase();
        upper.insert(SECURE_HASH.to_owned(), sig);
        check(&upper, Ok("14980726"));
        // Tampered amount, missing hash, forged with another secret.
        let mut tampered = good.clone();
        tampered.insert("vnp_Amount".to_owned(), "9000000".to_owned());
        check(&tampered, Err(CallbackError::BadSignature));
        let mut unsigned = good.clone();
        unsigned.remove(SECURE_HASH);
        check(&unsigned, Err(CallbackError::BadSignature));
        check(
            &callback_params(&Merchant::new("OTDEMO01", b"forger")),
            Err(CallbackError::BadSignature),
        );
        // Signed but malformed.
        let mut no_txn = good.clone();
        no_txn.remove("vnp_TransactionNo");
        let sig = merchant().sign(&no_txn);
        no_txn.insert(SECURE_HASH.to_owned(), sig);
        check(&no_txn, Err(CallbackError::Malformed("vnp_TransactionNo")));
    }

    #[test]
    fn success_needs_both_codes() {
        let check = |response: &str, status: Option<&str>, expected: bool| {
            let callback = Callback {
                txn_ref: "a".to_owned(),
                amount_x100: 100,
                response_code: response.to_owned(),
                transaction_status: status.map(str::to_owned),
                transaction_no: "1".to_owned(),
                tmn_code: "T".to_owned(),
            };
            assert_eq!(callback.is_success(), expected, "{response} {status:?}");
        };
        check("00", Some("00"), true);
        check("00", None, true);
        check("24", Some("02"), false);
        check("00", Some("02"), false);
        check("24", None, false);
    }

    #[test]
    fn query_parsing() {
        let check = |query: &str, expected: Option<&[(&str, &str)]>| {
            assert_eq!(parse_query(query), expected.map(params), "{query:?}");
        };
        check("a=1&b=x+y%21", Some(&[("a", "1"), ("b", "x y!")]));
        check("", Some(&[]));
        check("a", Some(&[("a", "")]));
        check("a=1&a=2", None);
        check("a=%zz", None);
        check("a=%4", None);
        check("a=%FF", None);
    }

    proptest! {
        /// What we sign and send, VNPay decodes back to the same parameters
        /// and the signature verifies; changing any value breaks it.
        #[test]
        fn sent_parameters_round_trip_and_verify(
            values in proptest::collection::btree_map("vnp_[A-Za-z]{1,12}", "\\PC{0,40}", 1..12),
            flip in any::<proptest::sample::Index>(),
        ) {
            let values: BTreeMap<String, String> = values;
            let m = merchant();
            let query = format!("{}&{SECURE_HASH}={}", signed_text(&values), m.sign(&values));
            let received = parse_query(&query).expect("our own query parses");
            let mut without_hash = received.clone();
            let signature = without_hash.remove(SECURE_HASH).expect("signed");
            prop_assert_eq!(&without_hash, &values);
            prop_assert!(m.verifies(&received, &signature));
            let name = flip.get(&values.keys().collect::<Vec<_>>()).to_string();
            let mut tampered = received;
            tampered.insert(name.clone(), format!("{}x", values[&name]));
            prop_assert!(!m.verifies(&tampered, &signature));
        }

        /// Decoding never panics, whatever arrives.
        #[test]
        fn parse_query_never_panics(query in "\\PC{0,200}") {
            let _ = parse_query(&query);
        }
    }
}
