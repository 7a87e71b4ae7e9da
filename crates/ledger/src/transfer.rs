//! Transfers: the only way money moves, and what the ledger remembers of
//! each one.
//!
//! A [`Transfer`] is a request with a caller-chosen id. It is one of:
//! - **direct**: moves `amount` from the debit account's posted total to the
//!   credit account's at once;
//! - **pending** (phase one of two): holds `amount` in the pending totals of
//!   both accounts until it is posted, voided, or it expires after its
//!   timeout;
//! - **post**: resolves a pending transfer by posting all of it or a part
//!   (the rest is released);
//! - **void**: resolves a pending transfer by releasing all of it.
//!
//! Expiry is not a transfer: the ledger records it when the caller tells it
//! the time has come (`now ≥ expires_at`). A pending transfer is resolved at
//! most once: by one post, one void, or its expiry.
//!
//! The id is the idempotency key: the ledger accepts an id once, answers a
//! repeat of the same request with the first result, and refuses the same id
//! with a different request.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Currency, Overdraft};
use crate::ids::{AccountId, TransferId};
use crate::money::Money;

/// A strictly positive amount of money: what a transfer moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Money", into = "Money")]
pub struct Amount(Money);

/// An amount that is zero or negative where a positive one is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a transfer amount must be positive, got {0}")]
pub struct NotPositive(pub Money);

impl Amount {
    /// `money` if it is above zero.
    pub const fn new(money: Money) -> Result<Amount, NotPositive> {
        if money.is_positive() {
            Ok(Amount(money))
        } else {
            Err(NotPositive(money))
        }
    }

    /// The amount as `Money`.
    #[must_use]
    pub const fn money(self) -> Money {
        self.0
    }
}

impl TryFrom<Money> for Amount {
    type Error = NotPositive;
    fn try_from(money: Money) -> Result<Self, NotPositive> {
        Amount::new(money)
    }
}

impl From<Amount> for Money {
    fn from(amount: Amount) -> Money {
        amount.0
    }
}

/// Why money moved: the transfer's category in reports and statements.
/// Each code has a stable number for storage, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferCode {
    /// A rider tops up a wallet through a payment provider.
    TopUp,
    /// A fare for a bus or metro trip.
    Fare,
    /// A parking fee.
    ParkingFee,
    /// A pass bought from a wallet.
    PassSale,
    /// Pass revenue recognised for an operator as the pass is used.
    PassRecognition,
    /// A penalty fare (e.g. an incomplete journey's maximum fare).
    Penalty,
    /// The platform's fee.
    PlatformFee,
    /// Money given back to a rider.
    Refund,
    /// A settlement correction of a provisional charge.
    Adjustment,
    /// Money paid out to an operator or received from a provider.
    Payout,
}

/// A storage number that names no transfer code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a transfer code")]
pub struct UnknownTransferCode(pub u16);

impl TransferCode {
    /// Every code, for tests and reports.
    pub const ALL: [TransferCode; 10] = [
        TransferCode::TopUp,
        TransferCode::Fare,
        TransferCode::ParkingFee,
        TransferCode::PassSale,
        TransferCode::PassRecognition,
        TransferCode::Penalty,
        TransferCode::PlatformFee,
        TransferCode::Refund,
        TransferCode::Adjustment,
        TransferCode::Payout,
    ];

    /// The stable storage number.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        match self {
            TransferCode::TopUp => 1,
            TransferCode::Fare => 2,
            TransferCode::ParkingFee => 3,
            TransferCode::PassSale => 4,
            TransferCode::PassRecognition => 5,
            TransferCode::Penalty => 6,
            TransferCode::PlatformFee => 7,
            TransferCode::Refund => 8,
            TransferCode::Adjustment => 9,
            TransferCode::Payout => 10,
        }
    }

    /// The code stored as `n`.
    pub fn from_u16(n: u16) -> Result<TransferCode, UnknownTransferCode> {
        TransferCode::ALL
            .into_iter()
            .find(|code| code.as_u16() == n)
            .ok_or(UnknownTransferCode(n))
    }
}

/// The longest reference, in bytes. A tap key (`terminal:boot:seq`) or a
/// provider's payment reference fits in 64 bytes; longer text belongs in the
/// tables of the service that owns it, not in the ledger.
pub const MAX_REFERENCE_LEN_BYTES: usize = 64;

/// Caller data carried by a transfer: what it is about (a tap key, a stay id,
/// a provider's payment reference). Printable ASCII, 1 to
/// `MAX_REFERENCE_LEN_BYTES` bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference(String);

/// Text that cannot be a reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReference {
    /// Empty or longer than `MAX_REFERENCE_LEN_BYTES`.
    #[error("a reference must be 1 to {max} bytes, got {0}", max = MAX_REFERENCE_LEN_BYTES)]
    Length(usize),
    /// A byte outside printable ASCII.
    #[error("a reference may only hold printable ASCII")]
    Character,
}

impl Reference {
    /// Parses a reference.
    pub fn parse(text: &str) -> Result<Reference, InvalidReference> {
        if text.is_empty() || text.len() > MAX_REFERENCE_LEN_BYTES {
            return Err(InvalidReference::Length(text.len()));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(InvalidReference::Character);
        }
        Ok(Reference(text.to_owned()))
    }

    /// The reference as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reference {
    type Error = InvalidReference;
    fn try_from(text: String) -> Result<Self, InvalidReference> {
        Reference::parse(&text)
    }
}

impl From<Reference> for String {
    fn from(reference: Reference) -> String {
        reference.0
    }
}

/// The longest a pending transfer may wait, in seconds: 31 days. A parking
/// stay is the longest hold we place; a vehicle left longer than a month is
/// an abandoned-vehicle case handled by people, not by a hold.
pub const MAX_PENDING_TIMEOUT_S: u32 = 31 * 24 * 60 * 60;

/// How long a pending transfer holds its amount before it expires:
/// 1 to `MAX_PENDING_TIMEOUT_S` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PendingTimeout(u32);

/// A timeout outside `1..=MAX_PENDING_TIMEOUT_S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a pending timeout must be 1 to {max} s, got {0} s", max = MAX_PENDING_TIMEOUT_S)]
pub struct InvalidTimeout(pub u32);

impl PendingTimeout {
    /// A timeout of `seconds`.
    pub const fn from_secs(seconds: u32) -> Result<PendingTimeout, InvalidTimeout> {
        if seconds >= 1 && seconds <= MAX_PENDING_TIMEOUT_S {
            Ok(PendingTimeout(seconds))
        } else {
            Err(InvalidTimeout(seconds))
        }
    }

    /// The timeout in seconds.
    #[must_use]
    pub const fn as_secs(self) -> u32 {
        self.0
    }

    /// When a pending transfer accepted at `accepted_at` expires.
    #[must_use]
    pub fn expires_at(self, accepted_at: DateTime<Utc>) -> DateTime<Utc> {
        // Saturates at chrono's last representable instant, which is
        // 262,000 years away; a ledger time that far out is not a real time.
        accepted_at
            .checked_add_signed(TimeDelta::seconds(i64::from(self.0)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl TryFrom<u32> for PendingTimeout {
    type Error = InvalidTimeout;
    fn try_from(seconds: u32) -> Result<Self, InvalidTimeout> {
        PendingTimeout::from_secs(seconds)
    }
}

impl From<PendingTimeout> for u32 {
    fn from(timeout: PendingTimeout) -> u32 {
        timeout.0
    }
}

/// A movement of money between two accounts: the heart of a direct or a
/// pending transfer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Movement {
    /// The account debited.
    pub debit_account_id: AccountId,
    /// The account credited; must differ from the debit account.
    pub credit_account_id: AccountId,
    /// How much.
    pub amount: Amount,
    /// Both accounts must be in this currency.
    pub currency: Currency,
    /// Whether this movement may take a limited account below zero.
    pub overdraft: Overdraft,
}

/// How much of a pending transfer a post moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostAmount {
    /// All of the pending amount.
    Full,
    /// Part of it (≤ the pending amount); the rest is released.
    Partial(Amount),
}

/// What a transfer does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TransferBody {
    /// Moves money between posted totals at once.
    Direct(Movement),
    /// Holds money in pending totals until posted, voided or expired.
    Pending {
        /// What is held.
        movement: Movement,
        /// How long it holds before it expires.
        timeout: PendingTimeout,
    },
    /// Posts a pending transfer, in full or in part.
    Post {
        /// The pending transfer to post.
        pending_id: TransferId,
        /// How much of it.
        amount: PostAmount,
    },
    /// Releases a pending transfer.
    Void {
        /// The pending transfer to void.
        pending_id: TransferId,
    },
}

/// A transfer request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// The caller-chosen id; the idempotency key.
    pub id: TransferId,
    /// Why the money moves.
    pub code: TransferCode,
    /// What the transfer is about, if the caller says.
    pub reference: Option<Reference>,
    /// What it does.
    pub body: TransferBody,
}

impl Transfer {
    /// The pending transfer this one resolves, if it is a post or a void.
    #[must_use]
    pub const fn pending_id(&self) -> Option<TransferId> {
        match self.body {
            TransferBody::Post { pending_id, .. } | TransferBody::Void { pending_id } => {
                Some(pending_id)
            }
            TransferBody::Direct(_) | TransferBody::Pending { .. } => None,
        }
    }
}

/// An accepted transfer as the ledger keeps it: the request, the time the
/// ledger accepted it, and its resolved effect on balances.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransferRecord {
    /// The request exactly as accepted.
    pub transfer: Transfer,
    /// Ledger time of acceptance.
    pub accepted_at: DateTime<Utc>,
    /// The account debited (for a post or void: the pending transfer's).
    pub debit_account_id: AccountId,
    /// The account credited (for a post or void: the pending transfer's).
    pub credit_account_id: AccountId,
    /// The currency of both accounts.
    pub currency: Currency,
    /// Direct: the amount posted. Pending: the amount held. Post: the amount
    /// posted. Void: the amount released.
    pub amount: Amount,
    /// For a pending transfer, when it expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TransferRecord {
    /// The request's id.
    #[must_use]
    pub const fn id(&self) -> TransferId {
        self.transfer.id
    }
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PendingStatus {
    /// Still holding its amount.
    Open {
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// Resolved by a post of `amount`.
    Posted {
        /// The post transfer.
        by: TransferId,
        /// The amount posted (the rest was released).
        amount: Amount,
    },
    /// Resolved by a void.
    Voided {
        /// The void transfer.
        by: TransferId,
    },
    /// Expired at ledger time `at`.
    Expired {
        /// When the ledger recorded the expiry.
        at: DateTime<Utc>,
    },
}

impl PendingStatus {
    /// True while the pending transfer still holds its amount.
    #[must_use]
    pub const fn is_open(&self) -> bool {
        matches!(self, PendingStatus::Open { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_positive() {
        let check = |dong: i64, expected: Result<i64, NotPositive>| {
            assert_eq!(
                Amount::new(Money::vnd(dong)).map(|a| a.money().as_vnd()),
                expected
            );
        };
        check(1, Ok(1));
        check(i64::MAX, Ok(i64::MAX));
        check(0, Err(NotPositive(Money::ZERO)));
        check(-5, Err(NotPositive(Money::vnd(-5))));
    }

    #[test]
    fn references_are_short_printable_ascii() {
        let check = |text: &str, expected: Result<(), InvalidReference>| {
            assert_eq!(Reference::parse(text).map(|_| ()), expected, "{text:?}");
        };
        check("T0042:3:118", Ok(()));
        check("stay 9", Ok(()));
        check("", Err(InvalidReference::Length(0)));
        check(&"x".repeat(64), Ok(()));
        check(&"x".repeat(65), Err(InvalidReference::Length(65)));
        check("tab\there", Err(InvalidReference::Character));
        check("phở", Err(InvalidReference::Character));
    }

    #[test]
    fn timeouts_are_bounded() {
        let check = |s: u32, ok: bool| assert_eq!(PendingTimeout::from_secs(s).is_ok(), ok, "{s}");
        check(0, false);
        check(1, true);
        check(MAX_PENDING_TIMEOUT_S, true);
        check(MAX_PENDING_TIMEOUT_S + 1, false);
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            PendingTimeout::from_secs(90).unwrap().expires_at(t0),
            DateTime::<Utc>::from_timestamp(1_700_000_090, 0).unwrap()
        );
        assert_eq!(
            PendingTimeout::from_secs(1)
                .unwrap()
                .expires_at(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn transfer_codes_round_trip_and_are_distinct() {
        for code in TransferCode::ALL {
            assert_eq!(TransferCode::from_u16(code.as_u16()), Ok(code));
        }
        assert_eq!(TransferCode::from_u16(0), Err(UnknownTransferCode(0)));
        assert_eq!(TransferCode::from_u16(11), Err(UnknownTransferCode(11)));
    }

    proptest! {
        #[test]
        fn reference_parse_never_panics(s in ".{0,80}") {
            if let Ok(r) = Reference::parse(&s) {
                prop_assert_eq!(r.as_str(), s.as_str());
            }
        }
    }
}
