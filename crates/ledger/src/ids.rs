//! Typed identifiers of the ledger and of the parties its chart names.
//!
//! Account and transfer ids are UUIDs chosen by the caller (UUIDv7 at the
//! edges, so they sort roughly by time and index well); this crate never
//! generates one, it only refuses the two values that cannot be real ids
//! (nil and max, as TigerBeetle refuses 0 and 2^128−1). Operator and payment
//! provider ids are short codes read by people on statements, so they are
//! validated text rather than UUIDs.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string or UUID is not a valid id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The nil or max UUID: reserved, never a real id.
    #[error("the nil and max UUIDs are reserved and cannot be ids")]
    ReservedUuid,
    /// A code with a length outside `1..=MAX_CODE_LEN_BYTES`.
    #[error("a code must be 1 to {max} bytes long, got {len}", max = MAX_CODE_LEN_BYTES)]
    CodeLength {
        /// The length that was given, in bytes.
        len: usize,
    },
    /// A code with a character outside `A-Z`, `0-9`, `-`, `_`.
    #[error("a code may only hold A-Z, 0-9, '-' and '_'")]
    CodeCharacter,
}

/// The longest operator or provider code, in bytes. Operator codes print on
/// statements and in file names; 32 bytes fits every agency code in GTFS
/// feeds we know ("SAIGON-BUS-01", "HURC1") with room to spare.
pub const MAX_CODE_LEN_BYTES: usize = 32;

fn checked_uuid(uuid: Uuid) -> Result<Uuid, IdError> {
    if uuid.is_nil() || uuid.is_max() {
        Err(IdError::ReservedUuid)
    } else {
        Ok(uuid)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Uuid", into = "Uuid")]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a caller-chosen UUID; refuses nil and max.
            pub fn new(uuid: Uuid) -> Result<Self, IdError> {
                checked_uuid(uuid).map(Self)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl TryFrom<Uuid> for $name {
            type Error = IdError;
            fn try_from(uuid: Uuid) -> Result<Self, IdError> {
                Self::new(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// The id of a ledger account.
    AccountId
);
uuid_id!(
    /// The id of a transfer; also its idempotency key.
    TransferId
);

fn checked_code(code: &str) -> Result<String, IdError> {
    if code.is_empty() || code.len() > MAX_CODE_LEN_BYTES {
        return Err(IdError::CodeLength { len: code.len() });
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(IdError::CodeCharacter);
    }
    Ok(code.to_owned())
}

macro_rules! code_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a code: 1 to `MAX_CODE_LEN_BYTES` bytes of `A-Z`, `0-9`, `-`, `_`.
            pub fn parse(code: &str) -> Result<Self, IdError> {
                checked_code(code).map(Self)
            }

            /// The code as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(code: String) -> Result<Self, IdError> {
                Self::parse(&code)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_id!(
    /// A transport or parking operator: each bus company, the metro operator,
    /// each parking operator. Owns one operator-revenue account.
    OperatorId
);
code_id!(
    /// A payment provider (bank, e-wallet, card acquirer) whose clearing
    /// account receives top-ups before the money settles.
    ProviderId
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uuid_ids_refuse_reserved_values() {
        let check = |uuid: Uuid, expected: Result<(), IdError>| {
            assert_eq!(AccountId::new(uuid).map(|_| ()), expected);
            assert_eq!(TransferId::new(uuid).map(|_| ()), expected);
        };
        check(Uuid::nil(), Err(IdError::ReservedUuid));
        check(Uuid::max(), Err(IdError::ReservedUuid));
        check(Uuid::from_u128(1), Ok(()));
        check(Uuid::from_u128(u128::MAX - 1), Ok(()));
    }

    #[test]
    fn codes_are_short_upper_ascii() {
        let check = |code: &str, expected: Result<&str, IdError>| {
            let expected = expected.map(str::to_owned);
            assert_eq!(OperatorId::parse(code).map(String::from), expected);
            assert_eq!(ProviderId::parse(code).map(String::from), expected);
        };
        check("HURC1", Ok("HURC1"));
        check("SAIGON-BUS_01", Ok("SAIGON-BUS_01"));
        check("", Err(IdError::CodeLength { len: 0 }));
        check(&"A".repeat(33), Err(IdError::CodeLength { len: 33 }));
        check(&"A".repeat(32), Ok(&"A".repeat(32)));
        check("hurc1", Err(IdError::CodeCharacter));
        check("HURC 1", Err(IdError::CodeCharacter));
        check("MÊTRO", Err(IdError::CodeCharacter));
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<OperatorId>("\"bad code\"").is_err());
        assert!(
            serde_json::from_str::<AccountId>("\"00000000-0000-0000-0000-000000000000\"").is_err()
        );
        let id: AccountId =
            serde_json::from_str("\"0190f5c2-0000-7000-8000-000000000001\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"0190f5c2-0000-7000-8000-000000000001\""
        );
    }

    proptest! {
        #[test]
        fn code_parse_never_panics_and_round_trips(s in ".{0,40}") {
            if let Ok(code) = OperatorId::parse(&s) {
                prop_assert_eq!(code.as_str(), s.as_str());
                prop_assert!(s.len() <= MAX_CODE_LEN_BYTES);
            }
        }
    }
}
