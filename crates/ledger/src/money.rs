//! `Money`: a whole number of Vietnamese dong.
//!
//! VND has no minor unit (ISO 4217 exponent 0), so one `i64` counts dong
//! exactly. Every operation is checked: an overflow is an error the caller
//! must handle, never a silent wrap. There are no floats anywhere near money.
//!
//! `Money` is signed because balances can be negative (a parking exit may
//! take a wallet below zero, and credit-normal accounts are reported as
//! negatives of debit-normal ones). Amounts that must be positive — a
//! transfer, a price — are checked where they are built.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A signed amount of Vietnamese dong.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

/// An arithmetic result that does not fit in an `i64` of dong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("money overflow")]
pub struct Overflow;

impl Money {
    /// Zero dong.
    pub const ZERO: Money = Money(0);
    /// The largest representable amount.
    pub const MAX: Money = Money(i64::MAX);

    /// `dong` Vietnamese dong.
    #[must_use]
    pub const fn vnd(dong: i64) -> Money {
        Money(dong)
    }

    /// The amount in whole dong.
    #[must_use]
    pub const fn as_vnd(self) -> i64 {
        self.0
    }

    /// `self + rhs`, or `Overflow`.
    pub const fn checked_add(self, rhs: Money) -> Result<Money, Overflow> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Ok(Money(v)),
            None => Err(Overflow),
        }
    }

    /// `self - rhs`, or `Overflow`.
    pub const fn checked_sub(self, rhs: Money) -> Result<Money, Overflow> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Ok(Money(v)),
            None => Err(Overflow),
        }
    }

    /// `-self`, or `Overflow` for `i64::MIN`.
    pub const fn checked_neg(self) -> Result<Money, Overflow> {
        match self.0.checked_neg() {
            Some(v) => Ok(Money(v)),
            None => Err(Overflow),
        }
    }

    /// `self × n`, or `Overflow`.
    pub const fn checked_mul(self, n: i64) -> Result<Money, Overflow> {
        match self.0.checked_mul(n) {
            Some(v) => Ok(Money(v)),
            None => Err(Overflow),
        }
    }

    /// The sum of `items`, or `Overflow`.
    pub fn checked_sum<I: IntoIterator<Item = Money>>(items: I) -> Result<Money, Overflow> {
        items.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    /// `max(self, 0)`.
    #[must_use]
    pub const fn clamp_non_negative(self) -> Money {
        if self.0 < 0 { Money::ZERO } else { self }
    }

    /// True when the amount is above zero.
    #[must_use]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// True when the amount is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// True when the amount is exactly zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Money {
    /// `12,345 VND`: thousands grouped the way receipts print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{grouped} VND")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_grouped_dong() {
        let check = |dong: i64, expected: &str| assert_eq!(Money::vnd(dong).to_string(), expected);
        check(0, "0 VND");
        check(6_000, "6,000 VND");
        check(-19_000, "-19,000 VND");
        check(1_234_567, "1,234,567 VND");
        check(i64::MIN, "-9,223,372,036,854,775,808 VND");
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(Money::MAX.checked_add(Money::vnd(1)), Err(Overflow));
        assert_eq!(
            Money::vnd(i64::MIN).checked_sub(Money::vnd(1)),
            Err(Overflow)
        );
        assert_eq!(Money::vnd(i64::MIN).checked_neg(), Err(Overflow));
        assert_eq!(Money::MAX.checked_mul(2), Err(Overflow));
        assert_eq!(
            Money::checked_sum([Money::MAX, Money::vnd(1)]),
            Err(Overflow)
        );
    }

    proptest! {
        #[test]
        fn add_then_sub_round_trips(a in any::<i64>(), b in any::<i64>()) {
            let (a, b) = (Money::vnd(a), Money::vnd(b));
            if let Ok(sum) = a.checked_add(b) {
                prop_assert_eq!(sum.checked_sub(b), Ok(a));
            } else {
                prop_assert!(i128::from(a.as_vnd()) + i128::from(b.as_vnd()) > i128::from(i64::MAX)
                    || i128::from(a.as_vnd()) + i128::from(b.as_vnd()) < i128::from(i64::MIN));
            }
        }

        #[test]
        fn serde_is_a_bare_integer(a in any::<i64>()) {
            let json = serde_json::to_string(&Money::vnd(a)).unwrap();
            prop_assert_eq!(&json, &a.to_string());
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), Money::vnd(a));
        }
    }
}
