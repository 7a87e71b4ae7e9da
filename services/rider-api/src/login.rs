//! Login identifiers: a Vietnamese mobile number or an e-mail address, each
//! normalised to one canonical text so one person cannot hold two accounts
//! by spelling the same number two ways.
//!
//! - Phone: `0912 345 678`, `+84 912-345-678`, `84912345678` → `+84912345678`
//!   (E.164). Only mobile numbers: 9 national digits after the `0`/`+84`,
//!   starting with 3, 5, 7, 8 or 9 (the mobile ranges since the 2018
//!   renumbering).
//! - E-mail: trimmed and lower-cased; ASCII only (internationalised domains
//!   must be sent in their `xn--` form); at most 254 bytes.

use std::fmt;

/// Longest e-mail address (RFC 5321's path limit minus the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest local part of an e-mail address (RFC 5321).
pub const MAX_EMAIL_LOCAL_BYTES: usize = 64;
/// Longest text accepted as a login before any parsing.
pub const MAX_LOGIN_INPUT_BYTES: usize = 320;
/// National significant digits of a Vietnamese mobile number.
const MOBILE_DIGITS: usize = 9;

/// What kind of identifier a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginKind {
    Phone,
    Email,
}

impl LoginKind {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LoginKind::Phone => "phone",
            LoginKind::Email => "email",
        }
    }
}

/// A normalised login identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Login {
    kind: LoginKind,
    canonical: String,
}

/// Why a login is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error(
        "expected a Vietnamese mobile number (0912345678 or +84912345678) or an e-mail address"
    )]
    Unrecognised,
    #[error(
        "not a Vietnamese mobile number: 9 digits after 0 or +84, starting with 3, 5, 7, 8 or 9"
    )]
    BadPhone,
    #[error("not a valid e-mail address")]
    BadEmail,
}

impl Login {
    /// Parses and normalises a phone number or an e-mail address.
    ///
    /// # Errors
    /// When it is neither.
    pub fn parse(text: &str) -> Result<Login, LoginError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_LOGIN_INPUT_BYTES {
            return Err(LoginError::Unrecognised);
        }
        if text.contains('@') {
            parse_email(text).map(|canonical| Login {
                kind: LoginKind::Email,
                canonical,
            })
        } else if text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '.' | '-' | '(' | ')'))
        {
            parse_phone(text).map(|canonical| Login {
                kind: LoginKind::Phone,
                canonical,
            })
        } else {
            Err(LoginError::Unrecognised)
        }
    }

    /// Phone or e-mail.
    #[must_use]
    pub const fn kind(&self) -> LoginKind {
        self.kind
    }

    /// The canonical text (what is stored and compared).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

fn parse_phone(text: &str) -> Result<String, LoginError> {
    // One `+`, only before every digit: `+84 …` or `(+84) …`.
    let plus = text.trim_start_matches(['(', ' ']).starts_with('+');
    if text.matches('+').count() > usize::from(plus) {
        return Err(LoginError::BadPhone);
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    // `+84…` and `84` followed by 9 digits carry the country code; `0…` is
    // the national form.
    let national = if plus || digits.len() == MOBILE_DIGITS + 2 {
        digits.strip_prefix("84")
    } else {
        digits.strip_prefix('0')
    }
    .ok_or(LoginError::BadPhone)?;
    let mobile_range = national
        .bytes()
        .next()
        .is_some_and(|first| matches!(first, b'3' | b'5' | b'7' | b'8' | b'9'));
    if national.len() == MOBILE_DIGITS && mobile_range {
        Ok(format!("+84{national}"))
    } else {
        Err(LoginError::BadPhone)
    }
}

fn parse_email(text: &str) -> Result<String, LoginError> {
    let email = text.to_ascii_lowercase();
    if email.len() > MAX_EMAIL_BYTES || !email.is_ascii() {
        return Err(LoginError::BadEmail);
    }
    let (local, domain) = email.split_once('@').ok_or(LoginError::BadEmail)?;
    let local_ok = !local.is_empty()
        && local.len() <= MAX_EMAIL_LOCAL_BYTES
        && local.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'@' | b'"'
                        | b'('
                        | b')'
                        | b','
                        | b':'
                        | b';'
                        | b'<'
                        | b'>'
                        | b'['
                        | b'\\'
                        | b']'
                )
        })
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(LoginError::BadEmail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Result<(LoginKind, &str), LoginError>) {
        let got = Login::parse(input).map(|l| (l.kind(), l.as_str().to_owned()));
        assert_eq!(got, expected.map(|(k, s)| (k, s.to_owned())), "{input:?}");
    }

    #[test]
    fn phones_normalise_to_e164() {
        use LoginKind::Phone;
        check("0912345678", Ok((Phone, "+84912345678")));
        check("0912 345 678", Ok((Phone, "+84912345678")));
        check("+84 912-345-678", Ok((Phone, "+84912345678")));
        check("84912345678", Ok((Phone, "+84912345678")));
        check("(+84) 38.123.4567", Ok((Phone, "+84381234567")));
        check(" 0701234567 ", Ok((Phone, "+84701234567")));
        check("0212345678", Err(LoginError::BadPhone));
        check("091234567", Err(LoginError::BadPhone));
        check("09123456789", Err(LoginError::BadPhone));
        check("+1 912345678", Err(LoginError::BadPhone));
        check("0912+345678", Err(LoginError::BadPhone));
        check("+", Err(LoginError::BadPhone));
    }

    #[test]
    fn emails_normalise_to_lower_case() {
        use LoginKind::Email;
        check("An.Nguyen@Example.VN", Ok((Email, "an.nguyen@example.vn")));
        check(
            "a+tag@mail.example.com",
            Ok((Email, "a+tag@mail.example.com")),
        );
        check("a@b", Err(LoginError::BadEmail));
        check("@b.vn", Err(LoginError::BadEmail));
        check("a@@b.vn", Err(LoginError::BadEmail));
        check("a..b@c.vn", Err(LoginError::BadEmail));
        check("a@-b.vn", Err(LoginError::BadEmail));
        check("nguyễn@b.vn", Err(LoginError::BadEmail));
        check(
            &format!("{}@b.vn", "a".repeat(65)),
            Err(LoginError::BadEmail),
        );
    }

    #[test]
    fn other_text_is_unrecognised() {
        check("", Err(LoginError::Unrecognised));
        check("alice", Err(LoginError::Unrecognised));
        check(&"1".repeat(400), Err(LoginError::Unrecognised));
    }

    proptest! {
        /// Parsing never panics, and a canonical form parses to itself.
        #[test]
        fn canonical_forms_are_fixed_points(text in "\\PC{0,80}") {
            if let Ok(login) = Login::parse(&text) {
                prop_assert_eq!(Login::parse(login.as_str()), Ok(login));
            }
        }

        /// Every spelling of a mobile number gives one account.
        #[test]
        fn spellings_of_one_number_agree(first in "[35789]", rest in "[0-9]{8}") {
            let national = format!("{first}{rest}");
            let expected = format!("+84{national}");
            for spelling in [
                format!("0{national}"),
                format!("+84{national}"),
                format!("84{national}"),
                format!("+84 {} {}", &national[..3], &national[3..]),
            ] {
                prop_assert_eq!(Login::parse(&spelling).map(|l| l.as_str().to_owned()), Ok(expected.clone()));
            }
        }
    }
}
