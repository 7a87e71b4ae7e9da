//! Field types shared by the JSON messages: configuration ids, card UIDs,
//! bank-card tokens, licence plates, QR payloads, vehicle classes.
//!
//! Each has one canonical spelling (case, alphabet, length), checked when it
//! is parsed, so two terminals never send the same card or plate two ways
//! and the backend can compare them as strings.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ticket::MAX_LEVEL2_BYTES;

/// Longest configuration id (route, stop, station, lot, gate, operator,
/// product), in bytes: GTFS ids in practice are short codes; 64 bounds every
/// message while leaving room for namespaced ids like `hcmc:bus:route:150`.
pub const MAX_WIRE_ID_BYTES: usize = 64;

/// Card UID lengths in bytes: ISO/IEC 14443-3 single, double and triple
/// size UIDs.
pub const CARD_UID_LENGTHS_BYTES: [usize; 3] = [4, 7, 10];

/// Shortest bank-card token, in characters: a provider's token or PAN hash
/// carries at least 64 bits of entropy written in this alphabet.
pub const MIN_BANK_CARD_TOKEN_CHARS: usize = 16;

/// Longest bank-card token, in characters: a SHA-256 in hex (64) is the
/// longest form the payment providers we integrate hand out.
pub const MAX_BANK_CARD_TOKEN_CHARS: usize = 64;

/// Shortest and longest licence plate, in characters: Vietnamese plates
/// are 6–9 alphanumerics plus up to two separators (`59X1-123.45`); 4..=16
/// also fits foreign and temporary plates.
pub const MIN_PLATE_CHARS: usize = 4;
/// See [`MIN_PLATE_CHARS`].
pub const MAX_PLATE_CHARS: usize = 16;

/// Why a field value was refused; the message names the field's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidField {
    /// See [`WireId`].
    #[error("id must be 1..={MAX_WIRE_ID_BYTES} characters of A-Z a-z 0-9 . _ : -")]
    WireId,
    /// See [`CardUid`].
    #[error("card id must be 4, 7 or 10 bytes as lowercase hex")]
    CardUid,
    /// See [`BankCardToken`].
    #[error(
        "bank-card token must be {MIN_BANK_CARD_TOKEN_CHARS}..={MAX_BANK_CARD_TOKEN_CHARS} characters of A-Z a-z 0-9 _ -"
    )]
    BankCardToken,
    /// See [`Plate`].
    #[error("plate must be {MIN_PLATE_CHARS}..={MAX_PLATE_CHARS} characters of A-Z 0-9 . -")]
    Plate,
    /// See [`QrPayload`].
    #[error("QR payload must be 1..={MAX_LEVEL2_BYTES} bytes as unpadded base64url")]
    QrPayload,
}

/// Defines a string newtype whose constructor checks `$valid`.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $error:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps a value.
            pub fn parse(text: &str) -> Result<$name, InvalidField> {
                let valid: fn(&str) -> bool = $valid;
                if valid(text) { Ok($name(text.to_owned())) } else { Err($error) }
            }

            /// The value as sent on the wire.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidField;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// An id from the fare or parking configuration: route, stop, station,
    /// lot, gate, operator or product (`19`, `BTH`, `BXS-P`, `metro_day`).
    WireId,
    InvalidField::WireId,
    |s| {
        !s.is_empty()
            && s.len() <= MAX_WIRE_ID_BYTES
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    }
);

checked_string!(
    /// A transit card's UID as read by the reader: 4, 7 or 10 bytes in
    /// lowercase hex (`04a1b2c3d4e5f6`).
    CardUid,
    InvalidField::CardUid,
    |s| {
        CARD_UID_LENGTHS_BYTES.iter().any(|n| s.len() == 2 * n)
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
);

checked_string!(
    /// A bank card as the payment provider tokenises it (never a PAN).
    BankCardToken,
    InvalidField::BankCardToken,
    |s| {
        (MIN_BANK_CARD_TOKEN_CHARS..=MAX_BANK_CARD_TOKEN_CHARS).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    }
);

checked_string!(
    /// A licence plate as the gate's camera or attendant reads it,
    /// normalised: uppercase, no spaces (`59X1-123.45`).
    Plate,
    InvalidField::Plate,
    |s| {
        (MIN_PLATE_CHARS..=MAX_PLATE_CHARS).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b".-".contains(&b))
    }
);

/// The bytes of a scanned QR ticket (level 1 or 2). JSON carries them as
/// base64url without padding (RFC 4648 §5): a QR holds binary, JSON holds
/// text, and base64url needs no escaping anywhere.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QrPayload(Vec<u8>);

impl QrPayload {
    /// Wraps scanned bytes: 1 to [`MAX_LEVEL2_BYTES`] of them.
    pub fn from_bytes(bytes: &[u8]) -> Result<QrPayload, InvalidField> {
        if bytes.is_empty() || bytes.len() > MAX_LEVEL2_BYTES {
            return Err(InvalidField::QrPayload);
        }
        Ok(QrPayload(bytes.to_vec()))
    }

    /// The raw QR bytes, for [`crate::verify_qr`].
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Decodes unpadded base64url. Padding, other alphabets and
    /// non-canonical trailing bits are refused, so the text has one spelling.
    pub fn parse(text: &str) -> Result<QrPayload, InvalidField> {
        // Four characters carry three bytes: refuse oversized text before
        // decoding it.
        if text.len() > MAX_LEVEL2_BYTES.div_ceil(3) * 4 {
            return Err(InvalidField::QrPayload);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| InvalidField::QrPayload)?;
        QrPayload::from_bytes(&bytes)
    }
}

impl TryFrom<String> for QrPayload {
    type Error = InvalidField;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        QrPayload::parse(&text)
    }
}

impl From<QrPayload> for String {
    fn from(qr: QrPayload) -> String {
        URL_SAFE_NO_PAD.encode(qr.0)
    }
}

impl fmt::Debug for QrPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QrPayload({} bytes)", self.0.len())
    }
}

/// Vehicle classes a parking gate tells apart (the classes HCMC tariffs
/// price differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    /// Bicycle, including e-bikes.
    Bicycle,
    /// Motorbike under 175 cc, or electric motorbike.
    Motorbike,
    /// Scooter or motorbike of 175 cc and more.
    LargeMotorbike,
    /// Car with at most 9 seats (a 10-seat limit including the driver).
    Car,
    /// Car or van with more than 9 seats.
    LargeCar,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_rules() {
        let check =
            |got: Result<(), InvalidField>, ok: bool| assert_eq!(got.is_ok(), ok, "{got:?}");
        check(WireId::parse("BXS-P").map(drop), true);
        check(WireId::parse("hcmc:bus:route:150").map(drop), true);
        check(WireId::parse("").map(drop), false);
        check(WireId::parse("Bến Thành").map(drop), false);
        check(
            WireId::parse(&"x".repeat(MAX_WIRE_ID_BYTES + 1)).map(drop),
            false,
        );
        check(CardUid::parse("04a1b2c3").map(drop), true);
        check(CardUid::parse("04a1b2c3d4e5f6").map(drop), true);
        check(CardUid::parse("04A1B2C3").map(drop), false);
        check(CardUid::parse("04a1b2c3d4").map(drop), false);
        check(BankCardToken::parse("tok_4f9a8b7c6d5e4f3a").map(drop), true);
        check(BankCardToken::parse("tok_short").map(drop), false);
        check(Plate::parse("59X1-123.45").map(drop), true);
        check(Plate::parse("59x1-123.45").map(drop), false);
        check(Plate::parse("59X1 12345").map(drop), false);
        check(QrPayload::parse("0oRJ").map(drop), true);
        check(QrPayload::parse("0oRJ==").map(drop), false);
        check(QrPayload::parse("0o+J").map(drop), false);
        check(QrPayload::parse("").map(drop), false);
        // "0oR" decodes to 2 bytes with non-zero trailing bits in its last
        // character only if the last character is not canonical: "0oQ" is.
        check(QrPayload::parse("0oR").map(drop), false);
        check(QrPayload::parse("0oQ").map(drop), true);
    }

    proptest! {
        #[test]
        fn qr_payloads_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..=MAX_LEVEL2_BYTES)) {
            let qr = QrPayload::from_bytes(&bytes).expect("size within limits");
            let text = String::from(qr.clone());
            prop_assert_eq!(QrPayload::parse(&text), Ok(qr));
        }

        #[test]
        fn qr_text_parsing_never_panics(text in ".{0,400}") {
            if let Ok(qr) = QrPayload::parse(&text) {
                prop_assert_eq!(String::from(qr), text);
            }
        }
    }
}
