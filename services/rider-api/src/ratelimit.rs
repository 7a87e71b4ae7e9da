//! Rate limits kept in Redis, so every instance behind the load balancer
//! counts the same requests: a fixed window per rule and subject (an IP
//! address, a login identifier, an account), counted and expired by one
//! script so a counter can never be left without its expiry.
//!
//! Subjects are stored as SHA-256 prefixes: no phone number or e-mail
//! address lands in Redis. When Redis fails, limited endpoints answer 503:
//! failing closed, because an unlimited login endpoint is an open door for
//! password guessing.

use std::net::IpAddr;

use redis::Script;
use ring::digest::{SHA256, digest};
use service_kit::ApiError;
use store_redis::{ConnectionManager, KeyPrefix};

/// A limit: at most `limit` requests per `window_s` seconds per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name, part of the Redis key.
    pub name: &'static str,
    /// Requests allowed per window.
    pub limit: u32,
    /// The window, seconds.
    pub window_s: u64,
}

/// Registrations per client IP per hour: generous because Vietnamese mobile
/// carriers put many phones behind one CGNAT address, tight enough to stop
/// scripted account farming.
pub const REGISTER_PER_IP: Rule = Rule {
    name: "register_ip",
    limit: 30,
    window_s: 3_600,
};
/// Registration attempts per identifier per hour: a typo or two, not a probe
/// of which numbers have accounts.
pub const REGISTER_PER_LOGIN: Rule = Rule {
    name: "register_login",
    limit: 5,
    window_s: 3_600,
};
/// Login attempts per client IP per minute (CGNAT again: many riders, one IP).
pub const LOGIN_PER_IP: Rule = Rule {
    name: "login_ip",
    limit: 30,
    window_s: 60,
};
/// Login attempts per identifier per 15 minutes: 10 guesses, then the
/// account's attacker waits, which makes online guessing hopeless while a
/// rider who mistypes a few times never notices.
pub const LOGIN_PER_LOGIN: Rule = Rule {
    name: "login_login",
    limit: 10,
    window_s: 900,
};
/// QR tickets per account per minute: the app refreshes one well before its
/// 10-minute expiry; more than this is a loop filling the ticket table.
pub const TICKETS_PER_ACCOUNT: Rule = Rule {
    name: "ticket_account",
    limit: 30,
    window_s: 60,
};

/// Counts and expires in one step (`INCR` then `PEXPIRE` on the first hit,
/// and again if a counter somehow lost its expiry); returns the count and the
/// milliseconds left in the window.
const WINDOW_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// Bytes of the subject digest kept in a key: 64 bits, no collisions among
/// any realistic number of subjects in one window.
const SUBJECT_DIGEST_BYTES: usize = 8;

/// The rate limiter.
#[derive(Clone)]
pub struct Limiter {
    redis: ConnectionManager,
    prefix: KeyPrefix,
    script: Script,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Who a rule counts.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A client address.
    Ip(IpAddr),
    /// A login identifier (canonical).
    Login(&'a str),
    /// An account.
    Account(uuid::Uuid),
}

impl Limiter {
    /// A limiter keeping its counters under `prefix`.
    #[must_use]
    pub fn new(redis: ConnectionManager, prefix: KeyPrefix) -> Limiter {
        Limiter {
            redis,
            prefix,
            script: Script::new(WINDOW_SCRIPT),
        }
    }

    fn key(&self, rule: Rule, subject: Subject<'_>) -> String {
        let text = match subject {
            Subject::Ip(ip) => format!("ip:{ip}"),
            Subject::Login(login) => format!("login:{login}"),
            Subject::Account(id) => format!("account:{id}"),
        };
        let hash = digest(&SHA256, text.as_bytes());
        let short = hash
            .as_ref()
            .get(..SUBJECT_DIGEST_BYTES)
            .unwrap_or_default();
        format!(
            "{}:rl:{}:{}",
            self.prefix.as_str(),
            rule.name,
            hex::encode(short)
        )
    }

    /// Counts one request of `subject` against `rule`.
    ///
    /// # Errors
    /// 429 with `Retry-After` when over the limit; 503 when Redis fails.
    pub async fn check(&self, rule: Rule, subject: Subject<'_>) -> Result<(), ApiError> {
        let window_ms = rule.window_s.saturating_mul(1_000);
        let mut redis = store_redis::affinity::on_this_thread(&self.redis);
        let (count, ttl_ms): (u64, i64) = self
            .script
            .key(self.key(rule, subject))
            .arg(window_ms)
            .invoke_async(&mut redis)
            .await
            .map_err(|error| {
                tracing::error!(%error, rule = rule.name, "rate limit counter failed");
                ApiError::Unavailable {
                    detail: "The service cannot check its rate limits right now.".to_owned(),
                    retry_after_s: Some(1),
                }
            })?;
        if count > u64::from(rule.limit) {
            let ttl_ms = u64::try_from(ttl_ms).unwrap_or(window_ms);
            metrics::counter!("rider_api_rate_limited_total", "rule" => rule.name).increment(1);
            return Err(ApiError::RateLimited {
                retry_after_s: ttl_ms.div_ceil(1_000).max(1),
            });
        }
        Ok(())
    }
}
