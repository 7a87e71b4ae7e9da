//! Wrappers that keep secrets out of `Debug` output, logs and error messages.
//!
//! A [`Secret`] hides its whole value (keys, tokens). A [`SecretUrl`] is a connection URL
//! whose password and secret-looking query parameters are masked when shown, so the host
//! and database still appear in start-up logs, which is what an operator needs to see.

use std::fmt;
use std::str::FromStr;

use crate::env::{EnvValue, Shown};

/// What replaces a secret when shown.
const MASK: &str = "***";

/// Query parameter names (lower case, matched as substrings) whose values are secrets.
/// `password` covers libpq's `password` and `sslpassword`.
const SECRET_QUERY_KEYS: [&str; 3] = ["password", "secret", "token"];

/// A secret string: key material, tokens. Shown as `***` everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it (a key derivation, a connect call).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

impl EnvValue for Secret {
    const EXPECTED: &'static str = "a secret value";
    const SHOWN: Shown = Shown::Redacted;
}

/// A URL that may carry a password (`postgres://user:pw@host/db`, `redis://:pw@host`).
///
/// `Debug` and `Display` show it with the password masked; [`SecretUrl::expose`] gives the
/// real text to the connect call.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

/// Why a text is not accepted as a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a URL of the form scheme://[user[:password]@]host[:port][/path]")]
pub struct InvalidUrl;

impl SecretUrl {
    /// Accepts `scheme://rest` where the scheme is ASCII letters, digits, `+`, `-` or `.`,
    /// starting with a letter, and the rest is not empty.
    ///
    /// # Errors
    /// [`InvalidUrl`] otherwise.
    pub fn parse(text: &str) -> Result<Self, InvalidUrl> {
        let (scheme, rest) = text.split_once("://").ok_or(InvalidUrl)?;
        let mut chars = scheme.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let scheme_ok = starts_with_letter
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || rest.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(InvalidUrl);
        }
        Ok(Self(text.to_owned()))
    }

    /// The real URL, password included, for the connect call only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password and secret query parameters masked.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for SecretUrl {
    type Err = InvalidUrl;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl EnvValue for SecretUrl {
    const EXPECTED: &'static str =
        "a URL of the form scheme://[user[:password]@]host[:port][/path]";
    // An unparseable URL may still hold a password: never echo it.
    const SHOWN: Shown = Shown::Redacted;
}

/// Masks the password in the authority and the values of secret query parameters.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL we understand: hide all of it rather than guess where a secret is.
        return MASK.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query_and_fragment)) => {
            let (query, fragment) = match query_and_fragment.split_once('#') {
                Some((query, fragment)) => (query, Some(fragment)),
                None => (query_and_fragment, None),
            };
            let query = query
                .split('&')
                .map(redact_query_pair)
                .collect::<Vec<_>>()
                .join("&");
            match fragment {
                Some(fragment) => format!("{path}?{query}#{fragment}"),
                None => format!("{path}?{query}"),
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn redact_query_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((key, _value)) => {
            let key_lower = key.to_ascii_lowercase();
            if SECRET_QUERY_KEYS.iter().any(|s| key_lower.contains(s)) {
                format!("{key}={MASK}")
            } else {
                pair.to_owned()
            }
        }
        None => pair.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `url` and compares its redacted form.
    fn check(url: &str, expected: &str) {
        let parsed = SecretUrl::parse(url).expect("test URLs are well formed");
        assert_eq!(parsed.redacted(), expected, "redacting {url}");
        assert_eq!(parsed.expose(), url);
    }

    #[test]
    fn passwords_are_masked() {
        check(
            "postgres://ot:s3cret@db.internal:5432/oneticket",
            "postgres://ot:***@db.internal:5432/oneticket",
        );
        check("redis://:pw@127.0.0.1:6379", "redis://:***@127.0.0.1:6379");
        check(
            "postgres://postgres@127.0.0.1:5432/oneticket",
            "postgres://postgres@127.0.0.1:5432/oneticket",
        );
        check("redis://127.0.0.1:6379", "redis://127.0.0.1:6379");
    }

    #[test]
    fn secret_query_parameters_are_masked() {
        check(
            "postgres://h/db?sslmode=require&password=x&sslpassword=y#f",
            "postgres://h/db?sslmode=require&password=***&sslpassword=***#f",
        );
    }

    #[test]
    fn an_at_sign_in_the_password_does_not_leak_its_tail() {
        check("redis://u:p@ss@host:1/0", "redis://u:***@host:1/0");
    }

    #[test]
    fn malformed_urls_are_rejected() {
        for text in [
            "",
            "hunter2",
            "://host",
            "1http://h",
            "http://",
            "http://a b",
        ] {
            assert_eq!(SecretUrl::parse(text), Err(InvalidUrl), "{text:?}");
        }
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let url = SecretUrl::parse("postgres://u:topsecret@h/db").expect("well formed");
        assert!(!format!("{url:?}").contains("topsecret"));
        assert!(!format!("{url}").contains("topsecret"));
        let key = Secret::new("topsecret".to_owned());
        assert_eq!(format!("{key:?} {key}"), "Secret(***) ***");
    }

    proptest::proptest! {
        #[test]
        fn the_password_never_appears_and_the_host_always_does(
            scheme in "(postgres|redis|rediss)",
            user in "[a-z]{0,8}",
            // Upper case and digits only, so it cannot be a substring of the lower-case rest.
            password in "[A-Z0-9]{1,8}(@[A-Z0-9:]{1,8})?",
            host in "[a-z]{1,12}",
            path in "(/[a-z]{1,8})?",
        ) {
            let url = format!("{scheme}://{user}:{password}@{host}{path}");
            let parsed = SecretUrl::parse(&url).expect("generated URLs are well formed");
            let debug = format!("{parsed:?}");
            let debug = debug.strip_prefix("SecretUrl(").unwrap_or(&debug);
            let shown = format!("{parsed} {debug}");
            proptest::prop_assert!(!shown.contains(&password), "{}", shown);
            proptest::prop_assert!(shown.contains(&host), "{}", shown);
        }
    }
}
