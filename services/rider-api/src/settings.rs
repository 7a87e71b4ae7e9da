//! The rider API's own settings, read once at start-up from the environment
//! (the shared ones — listen address, databases, limits — are
//! `service_kit::Settings`).
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `OT_PUBLIC_URL` | `http://localhost:8080` | the URL riders reach this API at; the payment return URL is built on it |
//! | `OT_CORS_ALLOWED_ORIGINS` | none | comma-separated origins allowed to call the API from a browser (`https://app.oneticket.vn,…`) |
//! | `OT_TRUST_FORWARDED_FOR` | `false` | take the client IP (rate limits, `vnp_IpAddr`) from the last `X-Forwarded-For` entry: only behind a proxy that sets it |
//! | `OT_VNPAY_MODE` | **required** | `sandbox`: payments go to the local sandbox provider (`/sandbox/vnpay/pay`, a fresh random hash secret per process) — anyone who reaches it can top up for free, so only for development and demos; `live`: to VNPay. No default: a deployment must say which, so a forgotten setting can never open free top-ups |
//! | `OT_VNPAY_PAY_URL` | — | `live` only: VNPay's payment page, e.g. `https://pay.vnpay.vn/vpcpay.html` |
//! | `OT_VNPAY_TMN_CODE` | — | `live` only: the merchant's terminal code |
//! | `OT_VNPAY_HASH_SECRET` | — | `live` only: the hash secret shared with VNPay (never logged) |

use std::str::FromStr;

use axum::http::HeaderValue;
use service_kit::env::{EnvValue, Shown};
use service_kit::{Env, EnvError, Secret};

/// Where riders reach the API when `OT_PUBLIC_URL` is not set: the default
/// listen port on this machine, for `./dev run`.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

/// The most allowed CORS origins: a handful of app and web front-ends; a
/// longer list is a configuration mistake.
pub const MAX_CORS_ORIGINS: usize = 16;

/// How the client's IP address is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The last `X-Forwarded-For` entry, appended by our own proxy.
    ForwardedFor,
    /// The TCP peer, when the server records it (`ConnectInfo`).
    Peer,
}

/// Which payment provider top-ups go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMode {
    /// The local sandbox provider in this process.
    Sandbox,
    /// VNPay itself.
    Live {
        /// VNPay's payment page.
        pay_url: String,
        /// The merchant's terminal code.
        tmn_code: String,
        /// The shared hash secret.
        hash_secret: Secret,
    },
}

/// The rider API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiderSettings {
    /// The base URL riders reach the API at, without a trailing `/`.
    pub public_url: String,
    /// Origins allowed by CORS (none: no CORS headers at all).
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// How the client IP is found.
    pub client_ip: ClientIpSource,
    /// The payment provider.
    pub payments: PaymentMode,
}

impl Default for RiderSettings {
    fn default() -> Self {
        RiderSettings {
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            cors_allowed_origins: Vec::new(),
            client_ip: ClientIpSource::Peer,
            payments: PaymentMode::Sandbox,
        }
    }
}

/// A base URL: `http(s)://host[:port][/path]`, stored without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BaseUrl(String);

impl FromStr for BaseUrl {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or(())?;
        let clean = !rest.is_empty()
            && !rest.starts_with('/')
            && rest
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
        if clean {
            Ok(BaseUrl(text.trim_end_matches('/').to_owned()))
        } else {
            Err(())
        }
    }
}

impl EnvValue for BaseUrl {
    const EXPECTED: &'static str = "an http(s) URL without query or fragment";
}

/// A comma-separated list of CORS origins.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origins(Vec<HeaderValue>);

impl FromStr for Origins {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let origins = text
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let url = BaseUrl::from_str(origin)?;
                // An origin is scheme://host[:port]: no path.
                if url.0.splitn(4, '/').nth(3).is_some() {
                    return Err(());
                }
                HeaderValue::from_str(&url.0).map_err(|_| ())
            })
            .collect::<Result<Vec<_>, ()>>()?;
        if origins.len() > MAX_CORS_ORIGINS {
            return Err(());
        }
        Ok(Origins(origins))
    }
}

impl EnvValue for Origins {
    const EXPECTED: &'static str =
        "comma-separated origins such as https://app.oneticket.vn (at most 16)";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeName {
    Sandbox,
    Live,
}

impl FromStr for ModeName {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "sandbox" => Ok(ModeName::Sandbox),
            "live" => Ok(ModeName::Live),
            _ => Err(()),
        }
    }
}

impl EnvValue for ModeName {
    const EXPECTED: &'static str = "sandbox or live";
}

/// VNPay's terminal code: 8 ASCII letters or digits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TmnCode(String);

impl FromStr for TmnCode {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() == 8 && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(TmnCode(text.to_owned()))
        } else {
            Err(())
        }
    }
}

impl EnvValue for TmnCode {
    const EXPECTED: &'static str = "8 ASCII letters or digits";
    const SHOWN: Shown = Shown::Value;
}

impl RiderSettings {
    /// Reads the rider API's settings; the first bad variable is named.
    ///
    /// # Errors
    /// The [`EnvError`] of the first invalid or missing variable.
    pub fn from_env(env: &Env) -> Result<RiderSettings, EnvError> {
        let public_url = env
            .optional_or("OT_PUBLIC_URL", BaseUrl(DEFAULT_PUBLIC_URL.to_owned()))?
            .0;
        let cors_allowed_origins = env
            .optional_or("OT_CORS_ALLOWED_ORIGINS", Origins(Vec::new()))?
            .0;
        let client_ip = if env.optional_or("OT_TRUST_FORWARDED_FOR", false)? {
            ClientIpSource::ForwardedFor
        } else {
            ClientIpSource::Peer
        };
        // Required, not defaulted: sandbox top-ups are free money, so a
        // deployment must ask for them by name.
        let payments = match env.required::<ModeName>("OT_VNPAY_MODE")? {
            ModeName::Sandbox => PaymentMode::Sandbox,
            ModeName::Live => PaymentMode::Live {
                pay_url: env.required::<BaseUrl>("OT_VNPAY_PAY_URL")?.0,
                tmn_code: env.required::<TmnCode>("OT_VNPAY_TMN_CODE")?.0,
                hash_secret: env.required::<Secret>("OT_VNPAY_HASH_SECRET")?,
            },
        };
        Ok(RiderSettings {
            public_url,
            cors_allowed_origins,
            client_ip,
            payments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_map(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn check(vars: &[(&str, &str)], expected: Result<RiderSettings, &str>) {
        let got = RiderSettings::from_env(&env(vars)).map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "{vars:?}");
    }

    #[test]
    fn defaults() {
        check(
            &[("OT_VNPAY_MODE", "sandbox")],
            Ok(RiderSettings::default()),
        );
    }

    #[test]
    fn the_payment_mode_must_be_chosen() {
        check(
            &[],
            Err("OT_VNPAY_MODE: required but not set; expected sandbox or live"),
        );
    }

    #[test]
    fn values_are_read() {
        check(
            &[
                ("OT_PUBLIC_URL", "https://api.oneticket.vn/"),
                (
                    "OT_CORS_ALLOWED_ORIGINS",
                    "https://app.oneticket.vn, http://localhost:3000",
                ),
                ("OT_TRUST_FORWARDED_FOR", "true"),
                ("OT_VNPAY_MODE", "live"),
                ("OT_VNPAY_PAY_URL", "https://pay.vnpay.vn/vpcpay.html"),
                ("OT_VNPAY_TMN_CODE", "ABCD1234"),
                ("OT_VNPAY_HASH_SECRET", "s3cret"),
            ],
            Ok(RiderSettings {
                public_url: "https://api.oneticket.vn".to_owned(),
                cors_allowed_origins: vec![
                    HeaderValue::from_static("https://app.oneticket.vn"),
                    HeaderValue::from_static("http://localhost:3000"),
                ],
                client_ip: ClientIpSource::ForwardedFor,
                payments: PaymentMode::Live {
                    pay_url: "https://pay.vnpay.vn/vpcpay.html".to_owned(),
                    tmn_code: "ABCD1234".to_owned(),
                    hash_secret: Secret::new("s3cret".to_owned()),
                },
            }),
        );
    }

    #[test]
    fn errors_name_the_variable_and_hide_secrets() {
        check(
            &[("OT_PUBLIC_URL", "ftp://x"), ("OT_VNPAY_MODE", "sandbox")],
            Err(
                "OT_PUBLIC_URL: expected an http(s) URL without query or fragment, got \"ftp://x\"",
            ),
        );
        check(
            &[
                ("OT_CORS_ALLOWED_ORIGINS", "https://a.vn/path"),
                ("OT_VNPAY_MODE", "sandbox"),
            ],
            Err(
                "OT_CORS_ALLOWED_ORIGINS: expected comma-separated origins such as https://app.oneticket.vn (at most 16), got \"https://a.vn/path\"",
            ),
        );
        check(
            &[("OT_VNPAY_MODE", "live")],
            Err(
                "OT_VNPAY_PAY_URL: required but not set; expected an http(s) URL without query or fragment",
            ),
        );
        check(
            &[
                ("OT_VNPAY_MODE", "live"),
                ("OT_VNPAY_PAY_URL", "https://p.vn/pay"),
                ("OT_VNPAY_TMN_CODE", "short"),
            ],
            Err("OT_VNPAY_TMN_CODE: expected 8 ASCII letters or digits, got \"short\""),
        );
        let shown = format!(
            "{:?}",
            RiderSettings::from_env(&env(&[
                ("OT_VNPAY_MODE", "live"),
                ("OT_VNPAY_PAY_URL", "https://p.vn/pay"),
                ("OT_VNPAY_TMN_CODE", "ABCD1234"),
                ("OT_VNPAY_HASH_SECRET", "hunter2-secret"),
            ]))
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
