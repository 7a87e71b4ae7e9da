//! A typed reader of environment variables whose every error names the variable.
//!
//! Settings are read once at start-up and passed down (see [`crate::Settings`]); nothing
//! else in a service reads the environment. The reader takes a lookup function rather than
//! calling `std::env::var` directly so tests can feed it a `HashMap` without mutating the
//! process environment (which is shared by every test thread).
//!
//! An empty value counts as unset: compose files and Kubernetes manifests often write
//! `OT_LISTEN=` to mean "use the default", and failing on that would only annoy operators.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// Why a variable could not be read. Every message starts with the variable's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A required variable is unset or empty.
    #[error("{var}: required but not set; expected {expected}")]
    Missing { var: String, expected: &'static str },
    /// The value does not parse as the expected type.
    #[error("{var}: expected {expected}, got {got}")]
    Invalid {
        var: String,
        expected: &'static str,
        /// The offending value, quoted, or `<redacted>` for secrets.
        got: String,
    },
    /// The value parses but lies outside the accepted range.
    #[error("{var}: expected {expected} between {min} and {max}, got {got}")]
    OutOfRange {
        var: String,
        expected: &'static str,
        min: String,
        max: String,
        got: String,
    },
    /// The value is not valid UTF-8, so it cannot be parsed at all.
    #[error("{var}: expected valid UTF-8 text")]
    NotUnicode { var: String },
}

/// Whether a value may be echoed back in an error message or a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Harmless to show (addresses, numbers, formats).
    Value,
    /// A secret or something that may contain one (URLs with passwords, keys).
    Redacted,
}

/// A type that can be read from one environment variable.
///
/// `EXPECTED` completes the sentence "OT_X: expected …" so an operator knows what to write.
pub trait EnvValue: FromStr {
    /// What a valid value looks like, e.g. "a whole number of milliseconds".
    const EXPECTED: &'static str;
    /// Whether an invalid value may be quoted back in the error.
    const SHOWN: Shown = Shown::Value;
}

/// What a lookup found for one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Unset,
    Set(String),
    NotUnicode,
}

type LookupFn = dyn Fn(&str) -> Lookup + Send + Sync;

/// A source of environment variables: the process environment or, in tests, a map.
pub struct Env {
    lookup: Box<LookupFn>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The values may hold secrets, and the lookup is opaque anyway.
        f.write_str("Env { .. }")
    }
}

impl Env {
    /// Reads the real process environment.
    #[must_use]
    pub fn process() -> Self {
        Self::from_fn(|name| match std::env::var(name) {
            Ok(value) => Lookup::Set(value),
            Err(std::env::VarError::NotPresent) => Lookup::Unset,
            Err(std::env::VarError::NotUnicode(_)) => Lookup::NotUnicode,
        })
    }

    /// Reads variables from a map (for tests and tools).
    #[must_use]
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self::from_fn(move |name| match vars.get(name) {
            Some(value) => Lookup::Set(value.clone()),
            None => Lookup::Unset,
        })
    }

    /// Reads variables through any lookup function.
    #[must_use]
    pub fn from_fn(lookup: impl Fn(&str) -> Lookup + Send + Sync + 'static) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// The raw text of a variable, `None` when unset or empty.
    ///
    /// # Errors
    /// [`EnvError::NotUnicode`] when the value is not UTF-8.
    pub fn raw(&self, name: &str) -> Result<Option<String>, EnvError> {
        match (self.lookup)(name) {
            Lookup::Unset => Ok(None),
            Lookup::Set(value) if value.is_empty() => Ok(None),
            Lookup::Set(value) => Ok(Some(value)),
            Lookup::NotUnicode => Err(EnvError::NotUnicode {
                var: name.to_owned(),
            }),
        }
    }

    /// A variable that must be set.
    ///
    /// # Errors
    /// [`EnvError::Missing`] when unset or empty, [`EnvError::Invalid`] when it does not parse.
    pub fn required<T: EnvValue>(&self, name: &str) -> Result<T, EnvError> {
        self.optional(name)?.ok_or_else(|| EnvError::Missing {
            var: name.to_owned(),
            expected: T::EXPECTED,
        })
    }

    /// A variable that may be unset.
    ///
    /// # Errors
    /// [`EnvError::Invalid`] when set but it does not parse.
    pub fn optional<T: EnvValue>(&self, name: &str) -> Result<Option<T>, EnvError> {
        let Some(text) = self.raw(name)? else {
            return Ok(None);
        };
        match text.parse::<T>() {
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(EnvError::Invalid {
                var: name.to_owned(),
                expected: T::EXPECTED,
                got: shown::<T>(&text),
            }),
        }
    }

    /// A variable with a default used when it is unset or empty.
    ///
    /// # Errors
    /// [`EnvError::Invalid`] when set but it does not parse.
    pub fn optional_or<T: EnvValue>(&self, name: &str, default: T) -> Result<T, EnvError> {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// Like [`Env::optional_or`], and the value (given or default) must lie in `range`.
    ///
    /// # Errors
    /// [`EnvError::Invalid`] when it does not parse, [`EnvError::OutOfRange`] when outside.
    pub fn optional_in<T>(
        &self,
        name: &str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, EnvError>
    where
        T: EnvValue + PartialOrd + fmt::Display,
    {
        let value = self.optional_or(name, default)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(EnvError::OutOfRange {
                var: name.to_owned(),
                expected: T::EXPECTED,
                min: range.start().to_string(),
                max: range.end().to_string(),
                got: shown::<T>(&value.to_string()),
            })
        }
    }
}

/// Reads a required variable from the process environment.
///
/// # Errors
/// As [`Env::required`].
pub fn required<T: EnvValue>(name: &str) -> Result<T, EnvError> {
    Env::process().required(name)
}

/// Reads an optional variable from the process environment, with a default.
///
/// # Errors
/// As [`Env::optional_or`].
pub fn optional_or<T: EnvValue>(name: &str, default: T) -> Result<T, EnvError> {
    Env::process().optional_or(name, default)
}

fn shown<T: EnvValue>(text: &str) -> String {
    match T::SHOWN {
        Shown::Value => format!("{text:?}"),
        Shown::Redacted => "<redacted>".to_owned(),
    }
}

/// A duration written in whole milliseconds (`OT_…_MS` variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub u64);

impl Millis {
    #[must_use]
    pub const fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl FromStr for Millis {
    type Err = std::num::ParseIntError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Millis)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl EnvValue for Millis {
    const EXPECTED: &'static str = "a whole number of milliseconds";
}

/// A size written in whole bytes (`OT_…_BYTES` variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub usize);

impl FromStr for Bytes {
    type Err = std::num::ParseIntError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Bytes)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl EnvValue for Bytes {
    const EXPECTED: &'static str = "a whole number of bytes";
}

impl EnvValue for SocketAddr {
    const EXPECTED: &'static str = "a socket address such as [::]:8080 or 127.0.0.1:8080";
}

impl EnvValue for String {
    const EXPECTED: &'static str = "text";
}

impl EnvValue for u16 {
    const EXPECTED: &'static str = "a whole number from 0 to 65535";
}

impl EnvValue for u32 {
    const EXPECTED: &'static str = "a whole number";
}

impl EnvValue for u64 {
    const EXPECTED: &'static str = "a whole number";
}

impl EnvValue for usize {
    const EXPECTED: &'static str = "a whole number";
}

impl EnvValue for bool {
    const EXPECTED: &'static str = "true or false";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretUrl;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_map(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// Reads `name` as `T` with `default` from `vars` and compares the outcome (or its message).
    fn check<T>(vars: &[(&str, &str)], name: &str, default: T, expected: Result<T, &str>)
    where
        T: EnvValue + fmt::Debug + PartialEq,
    {
        let got = env(vars)
            .optional_or(name, default)
            .map_err(|e| e.to_string());
        assert_eq!(
            got,
            expected.map_err(str::to_owned),
            "reading {name} from {vars:?}"
        );
    }

    #[test]
    fn unset_and_empty_take_the_default() {
        check(&[], "OT_X_MS", Millis(5), Ok(Millis(5)));
        check(&[("OT_X_MS", "")], "OT_X_MS", Millis(5), Ok(Millis(5)));
    }

    #[test]
    fn set_values_parse() {
        check(&[("OT_X_MS", "250")], "OT_X_MS", Millis(5), Ok(Millis(250)));
        check(&[("OT_B", "1024")], "OT_B", Bytes(1), Ok(Bytes(1024)));
        check(
            &[("OT_LISTEN", "127.0.0.1:9000")],
            "OT_LISTEN",
            SocketAddr::from(([0, 0, 0, 0], 1)),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9000))),
        );
    }

    #[test]
    fn invalid_values_name_the_variable_and_what_was_expected() {
        check(
            &[("OT_REQUEST_TIMEOUT_MS", "abc")],
            "OT_REQUEST_TIMEOUT_MS",
            Millis(1),
            Err("OT_REQUEST_TIMEOUT_MS: expected a whole number of milliseconds, got \"abc\""),
        );
        check(
            &[("OT_LISTEN", "localhost")],
            "OT_LISTEN",
            SocketAddr::from(([0, 0, 0, 0], 1)),
            Err(
                "OT_LISTEN: expected a socket address such as [::]:8080 or 127.0.0.1:8080, got \"localhost\"",
            ),
        );
    }

    #[test]
    fn missing_required_names_the_variable() {
        let got = env(&[])
            .required::<Millis>("OT_Y_MS")
            .map_err(|e| e.to_string());
        assert_eq!(
            got,
            Err(
                "OT_Y_MS: required but not set; expected a whole number of milliseconds".to_owned()
            )
        );
    }

    #[test]
    fn secrets_are_not_echoed_in_errors() {
        let got = env(&[("OT_DATABASE_URL", "hunter2")])
            .required::<SecretUrl>("OT_DATABASE_URL")
            .map_err(|e| e.to_string());
        let message = got.expect_err("a URL without a scheme is invalid");
        assert!(
            message.starts_with("OT_DATABASE_URL: expected"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn ranges_are_enforced_with_the_bounds_in_the_message() {
        let e = env(&[("OT_X_MS", "0")]);
        assert_eq!(
            e.optional_in("OT_X_MS", Millis(5), Millis(1)..=Millis(10))
                .map_err(|e| e.to_string()),
            Err(
                "OT_X_MS: expected a whole number of milliseconds between 1 and 10, got \"0\""
                    .to_owned()
            )
        );
        assert_eq!(
            e.optional_in("OT_OTHER_MS", Millis(5), Millis(1)..=Millis(10)),
            Ok(Millis(5))
        );
    }

    #[test]
    fn non_unicode_values_name_the_variable() {
        let e = Env::from_fn(|_| Lookup::NotUnicode);
        assert_eq!(
            e.optional::<String>("OT_Z").map_err(|e| e.to_string()),
            Err("OT_Z: expected valid UTF-8 text".to_owned())
        );
    }

    proptest::proptest! {
        #[test]
        fn every_error_starts_with_the_variable_name(
            name in "OT_[A-Z_]{1,20}",
            value in "\\PC{0,20}",
        ) {
            let e = env(&[(name.as_str(), value.as_str())]);
            if let Err(error) = e.optional::<Millis>(&name) {
                let message = error.to_string();
                proptest::prop_assert!(message.starts_with(&format!("{name}: ")), "{}", message);
            }
            if let Err(error) = e.optional::<SocketAddr>(&name) {
                let message = error.to_string();
                proptest::prop_assert!(message.starts_with(&format!("{name}: ")), "{}", message);
            }
        }
    }
}
