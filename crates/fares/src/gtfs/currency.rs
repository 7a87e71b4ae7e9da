//! ISO 4217 currencies and exact currency amounts.
//!
//! GTFS writes amounts as decimal text whose number of decimals is the
//! currency's ISO 4217 exponent ("Currency amount" field type). This module
//! reads that text into a whole number of minor units (cents for EUR, dong
//! for VND) without ever going through a float, and writes it back.

use std::fmt;

use serde::{Serialize, Serializer};

/// ISO 4217 minor-unit exponents of the currencies this reader accepts.
/// A feed in a currency not listed here is rejected rather than guessed at,
/// because a wrong exponent silently multiplies every price by 10ⁿ.
const CURRENCY_EXPONENTS: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("GNF", 0),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KHR", 2),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LAK", 2),
    ("LYD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("RON", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("ZAR", 2),
];

/// A currency with a known ISO 4217 exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// A currency code this reader does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown ISO 4217 currency code {0:?}")]
pub struct UnknownCurrency(pub String);

impl Currency {
    /// Vietnamese dong (exponent 0).
    pub const VND: Currency = Currency {
        code: "VND",
        exponent: 0,
    };

    /// The currency with ISO 4217 alphabetic `code` (upper case, as GTFS writes it).
    pub fn from_code(code: &str) -> Result<Currency, UnknownCurrency> {
        CURRENCY_EXPONENTS
            .iter()
            .find(|(known, _)| *known == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| UnknownCurrency(code.to_owned()))
    }

    /// The ISO 4217 alphabetic code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        self.code
    }

    /// The number of decimals of the minor unit (2 for EUR, 0 for VND).
    #[must_use]
    pub const fn exponent(self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

/// Why a currency amount could not be read or computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is empty.
    #[error("the amount is empty")]
    Empty,
    /// The text is not `-?digits(.digits)?`.
    #[error("{0:?} is not a decimal amount")]
    Malformed(String),
    /// The text has more decimals than the currency's exponent allows.
    #[error("{text:?} has more than {allowed} decimal(s), the exponent of {currency}")]
    TooManyDecimals {
        /// The amount as written.
        text: String,
        /// The currency's exponent.
        allowed: u8,
        /// The currency.
        currency: Currency,
    },
    /// The amount does not fit in 64 bits of minor units.
    #[error("the amount overflows 64 bits of minor units")]
    Overflow,
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An exact amount of money: a whole number of the currency's minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    minor_units: i64,
    currency: Currency,
}

impl Amount {
    /// `minor_units` of `currency` (cents of EUR, dong of VND).
    #[must_use]
    pub const fn new(minor_units: i64, currency: Currency) -> Amount {
        Amount {
            minor_units,
            currency,
        }
    }

    /// Zero in `currency`.
    #[must_use]
    pub const fn zero(currency: Currency) -> Amount {
        Amount::new(0, currency)
    }

    /// Reads GTFS "Currency amount" text (`"9.5"`, `"9.50"`, `"-1.25"`,
    /// `"6000"`) exactly. More decimals than the currency's exponent are an
    /// error, even when they are zeros, because the spec ties the number of
    /// decimals to the currency; fewer are padded.
    pub fn parse(text: &str, currency: Currency) -> Result<Amount, AmountError> {
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        let malformed = || AmountError::Malformed(text.to_owned());
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return Err(malformed());
        }
        let fraction = fraction.unwrap_or("");
        let exponent = usize::from(currency.exponent);
        if fraction.len() > exponent {
            return Err(AmountError::TooManyDecimals {
                text: text.to_owned(),
                allowed: currency.exponent,
                currency,
            });
        }
        // Digits of the whole part, then the written decimals, then zeros up
        // to the exponent: the value in minor units, accumulated with checks.
        let padding = exponent - fraction.len();
        let digits = whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding));
        // Accumulated as a negative number: i64 reaches one further below
        // zero than above, so `i64::MIN` minor units still read back.
        let mut negated: i64 = 0;
        for digit in digits {
            negated = negated
                .checked_mul(10)
                .and_then(|m| m.checked_sub(i64::from(digit - b'0')))
                .ok_or(AmountError::Overflow)?;
        }
        let minor_units = if negative {
            negated
        } else {
            negated.checked_neg().ok_or(AmountError::Overflow)?
        };
        Ok(Amount::new(minor_units, currency))
    }

    /// The amount in minor units.
    #[must_use]
    pub const fn minor_units(self) -> i64 {
        self.minor_units
    }

    /// The currency.
    #[must_use]
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// `self + rhs`, or an error on overflow or a currency mismatch.
    pub fn checked_add(self, rhs: Amount) -> Result<Amount, AmountError> {
        self.same_currency(rhs)?;
        self.minor_units
            .checked_add(rhs.minor_units)
            .map(|v| Amount::new(v, self.currency))
            .ok_or(AmountError::Overflow)
    }

    /// `self - rhs`, or an error on overflow or a currency mismatch.
    pub fn checked_sub(self, rhs: Amount) -> Result<Amount, AmountError> {
        self.same_currency(rhs)?;
        self.minor_units
            .checked_sub(rhs.minor_units)
            .map(|v| Amount::new(v, self.currency))
            .ok_or(AmountError::Overflow)
    }

    /// The amount as `ledger::Money` when it is in VND, the ledger's currency.
    #[must_use]
    pub fn to_money(self) -> Option<ledger::Money> {
        (self.currency == Currency::VND).then(|| ledger::Money::vnd(self.minor_units))
    }

    fn same_currency(self, rhs: Amount) -> Result<(), AmountError> {
        if self.currency == rhs.currency {
            Ok(())
        } else {
            Err(AmountError::CurrencyMismatch(self.currency, rhs.currency))
        }
    }
}

impl fmt::Display for Amount {
    /// The decimal text with exactly the currency's decimals: `"9.50"`,
    /// `"-0.05"`, `"6000"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let magnitude = self.minor_units.unsigned_abs();
        let exponent = u32::from(self.currency.exponent);
        if exponent == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let scale = 10_u64.pow(exponent);
        let width = usize::from(self.currency.exponent);
        write!(
            f,
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale
        )
    }
}

impl Serialize for Amount {
    /// `{"amount": "9.50", "currency": "EUR"}`: the amount stays text so no
    /// JSON reader turns it into a float.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Amount", 2)?;
        s.serialize_field("amount", &self.to_string())?;
        s.serialize_field("currency", &self.currency)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn currency(code: &str) -> Currency {
        Currency::from_code(code).expect("the test uses listed currencies")
    }

    #[test]
    fn parses_amounts_exactly() {
        let check = |text: &str, code: &str, expected: Result<i64, &str>| {
            let got = Amount::parse(text, currency(code));
            match expected {
                Ok(minor) => assert_eq!(got, Ok(Amount::new(minor, currency(code))), "{text}"),
                Err(kind) => {
                    let err = got.expect_err(text);
                    let name = match err {
                        AmountError::Empty => "empty",
                        AmountError::Malformed(_) => "malformed",
                        AmountError::TooManyDecimals { .. } => "decimals",
                        AmountError::Overflow => "overflow",
                        AmountError::CurrencyMismatch(..) => "mismatch",
                    };
                    assert_eq!(name, kind, "{text}");
                }
            }
        };
        check("9.50", "EUR", Ok(950));
        check("9.5", "EUR", Ok(950));
        check("9", "EUR", Ok(900));
        check("-1.25", "EUR", Ok(-125));
        check("0.01", "USD", Ok(1));
        check("6000", "VND", Ok(6000));
        check("0", "VND", Ok(0));
        check("1.234", "KWD", Ok(1234));
        check("6000.0", "VND", Err("decimals"));
        check("1.005", "EUR", Err("decimals"));
        check("", "EUR", Err("empty"));
        check("1.", "EUR", Err("malformed"));
        check(".5", "EUR", Err("malformed"));
        check("+1", "EUR", Err("malformed"));
        check("1e3", "EUR", Err("malformed"));
        check("--1", "EUR", Err("malformed"));
        check("1,50", "EUR", Err("malformed"));
        check("92233720368547758.07", "EUR", Ok(i64::MAX));
        check("92233720368547758.08", "EUR", Err("overflow"));
        check("99999999999999999999999", "VND", Err("overflow"));
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        let check = |minor: i64, code: &str, expected: &str| {
            assert_eq!(Amount::new(minor, currency(code)).to_string(), expected);
        };
        check(950, "EUR", "9.50");
        check(5, "EUR", "0.05");
        check(-5, "EUR", "-0.05");
        check(-1234, "KWD", "-1.234");
        check(6000, "VND", "6000");
        check(-6000, "VND", "-6000");
        check(i64::MIN, "USD", "-92233720368547758.08");
        check(i64::MIN, "JPY", "-9223372036854775808");
    }

    #[test]
    fn unknown_currencies_are_rejected() {
        assert_eq!(
            Currency::from_code("XYZ"),
            Err(UnknownCurrency("XYZ".into()))
        );
        assert!(Currency::from_code("eur").is_err());
    }

    #[test]
    fn only_vnd_converts_to_money() {
        assert_eq!(
            Amount::new(6000, Currency::VND).to_money(),
            Some(ledger::Money::vnd(6000))
        );
        assert_eq!(Amount::new(6000, currency("EUR")).to_money(), None);
    }

    #[test]
    fn arithmetic_checks_currency_and_overflow() {
        let eur = currency("EUR");
        let a = Amount::new(i64::MAX, eur);
        assert_eq!(
            a.checked_add(Amount::new(1, eur)),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Amount::new(1, eur).checked_add(Amount::new(1, Currency::VND)),
            Err(AmountError::CurrencyMismatch(eur, Currency::VND))
        );
        assert_eq!(
            Amount::new(1, eur).checked_sub(Amount::new(3, eur)),
            Ok(Amount::new(-2, eur))
        );
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(CURRENCY_EXPONENTS)
            .prop_map(|(code, exponent)| Currency { code, exponent })
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in any::<i64>(), currency in any_currency()) {
            let amount = Amount::new(minor, currency);
            prop_assert_eq!(Amount::parse(&amount.to_string(), currency), Ok(amount));
        }

        #[test]
        fn parsing_any_text_never_panics(text in ".{0,40}", currency in any_currency()) {
            let _ = Amount::parse(&text, currency);
        }

        #[test]
        fn parse_then_format_keeps_canonical_text(
            whole in 0_u32..1_000_000,
            cents in 0_u32..100,
            negative in any::<bool>(),
        ) {
            let eur = Currency::from_code("EUR").expect("EUR is listed");
            let sign = if negative && (whole, cents) != (0, 0) { "-" } else { "" };
            let text = format!("{sign}{whole}.{cents:02}");
            let amount = Amount::parse(&text, eur).expect("canonical text parses");
            prop_assert_eq!(amount.to_string(), text);
        }
    }
}
