//! The settings every service shares, read once from the environment at start-up.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `OT_LISTEN` | `[::]:8080` | listen address; `[::]` is dual-stack (IPv4 too) |
//! | `OT_DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/oneticket` | Postgres URL (secret) |
//! | `OT_REDIS_URL` | `redis://127.0.0.1:6379` | Redis URL (secret) |
//! | `OT_LOG_FORMAT` | `pretty` on a terminal, else `json` | `json` or `pretty` |
//! | `OT_LOG`, then `RUST_LOG` | `info` | tracing filter directives |
//! | `OT_REQUEST_TIMEOUT_MS` | 10 000 | per-request time limit |
//! | `OT_MAX_BODY_BYTES` | 65 536 | request body limit |
//! | `OT_SHUTDOWN_GRACE_MS` | 15 000 | how long in-flight requests may run after SIGTERM |

use std::fmt;
use std::io::IsTerminal;
use std::net::{Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::env::{Bytes, Env, EnvError, EnvValue, Millis};
use crate::secret::SecretUrl;

/// The default listen port: the conventional unprivileged HTTP port.
pub const DEFAULT_LISTEN_PORT: u16 = 8080;

/// The default database: a local Postgres with the development database of the compose file.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/oneticket";

/// The default Redis: a local server on its standard port.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Long enough for the slowest legitimate request (a bounded journal upload written to
/// Postgres), short enough that a stuck request frees its resources well before a load
/// balancer's usual 30–60 s idle timeout.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Beyond five minutes a "request" is a job and belongs in a worker, not an HTTP handler.
pub const MAX_REQUEST_TIMEOUT_MS: u64 = 300_000;

/// 64 KiB holds any tap, gate event or rider request with room to spare; larger uploads
/// (journal batches) raise the limit on their own router.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest body limit `OT_MAX_BODY_BYTES` may set: 64 MiB, so one request cannot
/// exhaust memory.
pub const BODY_LIMIT_CEILING_BYTES: usize = 64 * 1024 * 1024;

/// Longer than the default request timeout, so every in-flight request can finish, and
/// shorter than Kubernetes' default 30 s termination grace, so we exit before SIGKILL.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 15_000;

/// Same bound as the request timeout: no request outlives it, so no grace needs to either.
pub const MAX_SHUTDOWN_GRACE_MS: u64 = MAX_REQUEST_TIMEOUT_MS;

/// The filter used when neither `OT_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for production log collectors.
    Json,
    /// Human-readable lines with colours, for development.
    Pretty,
}

impl LogFormat {
    /// Pretty when stdout is a terminal (a developer is watching), JSON otherwise.
    #[must_use]
    pub fn detect() -> Self {
        if std::io::stdout().is_terminal() {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

impl FromStr for LogFormat {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            _ => Err(()),
        }
    }
}

impl EnvValue for LogFormat {
    const EXPECTED: &'static str = "json or pretty";
}

/// A validated `RUST_LOG`-style filter such as `info,service_kit=debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct LogFilter(String);

impl LogFilter {
    /// # Errors
    /// When the directives do not parse.
    pub fn parse(text: &str) -> Result<Self, tracing_subscriber::filter::ParseError> {
        tracing_subscriber::EnvFilter::builder().parse(text)?;
        Ok(Self(text.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl FromStr for LogFilter {
    type Err = tracing_subscriber::filter::ParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl EnvValue for LogFilter {
    const EXPECTED: &'static str = "tracing filter directives such as info or info,oneticket=debug";
}

/// How a service logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: LogFilter,
}

/// The limits every HTTP router gets (see [`crate::layers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// What every service needs to start. `Debug` is safe to log: URLs are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: SecretUrl,
    pub redis_url: SecretUrl,
    pub log: LogSettings,
    pub http: HttpLimits,
    pub shutdown_grace: Duration,
}

impl Settings {
    /// Reads every shared setting from `env`; the first bad variable is reported by name.
    ///
    /// # Errors
    /// The [`EnvError`] of the first variable that is invalid.
    pub fn from_env(env: &Env) -> Result<Self, EnvError> {
        let listen = env.optional_or(
            "OT_LISTEN",
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, DEFAULT_LISTEN_PORT)),
        )?;
        let database_url = env.optional_or("OT_DATABASE_URL", default_url(DEFAULT_DATABASE_URL))?;
        let redis_url = env.optional_or("OT_REDIS_URL", default_url(DEFAULT_REDIS_URL))?;
        let format = match env.optional::<LogFormat>("OT_LOG_FORMAT")? {
            Some(format) => format,
            None => LogFormat::detect(),
        };
        let filter = match env.optional::<LogFilter>("OT_LOG")? {
            Some(filter) => filter,
            None => env.optional_or("RUST_LOG", default_filter())?,
        };
        let request_timeout = env.optional_in(
            "OT_REQUEST_TIMEOUT_MS",
            Millis(DEFAULT_REQUEST_TIMEOUT_MS),
            Millis(1)..=Millis(MAX_REQUEST_TIMEOUT_MS),
        )?;
        let max_body = env.optional_in(
            "OT_MAX_BODY_BYTES",
            Bytes(DEFAULT_MAX_BODY_BYTES),
            Bytes(1)..=Bytes(BODY_LIMIT_CEILING_BYTES),
        )?;
        let shutdown_grace = env.optional_in(
            "OT_SHUTDOWN_GRACE_MS",
            Millis(DEFAULT_SHUTDOWN_GRACE_MS),
            Millis(0)..=Millis(MAX_SHUTDOWN_GRACE_MS),
        )?;
        Ok(Self {
            listen,
            database_url,
            redis_url,
            log: LogSettings { format, filter },
            http: HttpLimits {
                request_timeout: request_timeout.duration(),
                max_body_bytes: max_body.0,
            },
            shutdown_grace: shutdown_grace.duration(),
        })
    }
}

fn default_url(text: &str) -> SecretUrl {
    SecretUrl::parse(text).expect("the default URLs are constants written as valid URLs")
}

fn default_filter() -> LogFilter {
    LogFilter::parse(DEFAULT_LOG_FILTER).expect("the default filter is a valid constant")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_map(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        )
    }

    /// Reads settings from `vars`; on success the projection `pick` must equal `expected`.
    fn check<T: fmt::Debug + PartialEq>(
        vars: &[(&str, &str)],
        pick: impl Fn(&Settings) -> T,
        expected: Result<T, &str>,
    ) {
        let got = Settings::from_env(&env(vars))
            .map(|s| pick(&s))
            .map_err(|e| e.to_string());
        assert_eq!(
            got,
            expected.map_err(str::to_owned),
            "settings from {vars:?}"
        );
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        check(&[], |s| s.listen.to_string(), Ok("[::]:8080".to_owned()));
        check(
            &[],
            |s| s.database_url.expose().to_owned(),
            Ok(DEFAULT_DATABASE_URL.to_owned()),
        );
        check(
            &[],
            |s| s.redis_url.expose().to_owned(),
            Ok(DEFAULT_REDIS_URL.to_owned()),
        );
        check(&[], |s| s.http, Ok(HttpLimits::default()));
        check(
            &[],
            |s| s.shutdown_grace,
            Ok(Duration::from_millis(DEFAULT_SHUTDOWN_GRACE_MS)),
        );
        check(
            &[],
            |s| s.log.filter.as_str().to_owned(),
            Ok("info".to_owned()),
        );
        check(&[], |s| s.log.format, Ok(LogFormat::detect()));
    }

    #[test]
    fn values_are_read() {
        check(
            &[("OT_LISTEN", "127.0.0.1:0")],
            |s| s.listen,
            Ok(SocketAddr::from(([127, 0, 0, 1], 0))),
        );
        check(
            &[
                ("OT_REQUEST_TIMEOUT_MS", "250"),
                ("OT_MAX_BODY_BYTES", "1024"),
            ],
            |s| s.http,
            Ok(HttpLimits {
                request_timeout: Duration::from_millis(250),
                max_body_bytes: 1024,
            }),
        );
        check(
            &[("OT_LOG_FORMAT", "JSON")],
            |s| s.log.format,
            Ok(LogFormat::Json),
        );
        check(
            &[("OT_LOG_FORMAT", "pretty")],
            |s| s.log.format,
            Ok(LogFormat::Pretty),
        );
        check(
            &[("OT_SHUTDOWN_GRACE_MS", "0")],
            |s| s.shutdown_grace,
            Ok(Duration::ZERO),
        );
    }

    #[test]
    fn ot_log_wins_over_rust_log() {
        check(
            &[("RUST_LOG", "warn")],
            |s| s.log.filter.as_str().to_owned(),
            Ok("warn".to_owned()),
        );
        check(
            &[("RUST_LOG", "warn"), ("OT_LOG", "debug,hyper=info")],
            |s| s.log.filter.as_str().to_owned(),
            Ok("debug,hyper=info".to_owned()),
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let pick = |s: &Settings| s.listen;
        check(
            &[("OT_REQUEST_TIMEOUT_MS", "abc")],
            pick,
            Err("OT_REQUEST_TIMEOUT_MS: expected a whole number of milliseconds, got \"abc\""),
        );
        check(
            &[("OT_REQUEST_TIMEOUT_MS", "0")],
            pick,
            Err(
                "OT_REQUEST_TIMEOUT_MS: expected a whole number of milliseconds between 1 and 300000, got \"0\"",
            ),
        );
        check(
            &[("OT_MAX_BODY_BYTES", "-1")],
            pick,
            Err("OT_MAX_BODY_BYTES: expected a whole number of bytes, got \"-1\""),
        );
        check(
            &[("OT_LOG_FORMAT", "xml")],
            pick,
            Err("OT_LOG_FORMAT: expected json or pretty, got \"xml\""),
        );
        check(
            &[("OT_LOG", "=[")],
            pick,
            Err(
                "OT_LOG: expected tracing filter directives such as info or info,oneticket=debug, got \"=[\"",
            ),
        );
        check(
            &[("OT_REDIS_URL", "127.0.0.1:6379")],
            pick,
            Err(
                "OT_REDIS_URL: expected a URL of the form scheme://[user[:password]@]host[:port][/path], got <redacted>",
            ),
        );
    }

    #[test]
    fn debug_output_redacts_passwords() {
        let settings = Settings::from_env(&env(&[
            ("OT_DATABASE_URL", "postgres://ot:pg-pass@db/oneticket"),
            ("OT_REDIS_URL", "redis://:redis-pass@cache:6379"),
        ]))
        .expect("valid settings");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("pg-pass"), "{shown}");
        assert!(!shown.contains("redis-pass"), "{shown}");
        assert!(shown.contains("db/oneticket"), "{shown}");
    }
}
