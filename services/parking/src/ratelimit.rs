//! A per-client token bucket for the public endpoints (the open-data feed):
//! each client IP may make `burst` requests at once and `rate_per_minute`
//! sustained; over that it gets 429 with `Retry-After`.
//!
//! In-process and approximate by design: the feed is cached and cheap, so
//! the limit only has to stop one client from monopolising an instance; N
//! instances allow N times the rate. The table of clients is bounded: when
//! it is full, buckets that have refilled completely are dropped (they hold
//! no information), and if none has, the whole table is cleared, which
//! forgives everyone rather than growing without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Clients tracked at once: a bucket is ~64 bytes, so 100,000 is ~6 MB, far
/// more distinct IPs than one instance sees between refills.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;

/// Milliseconds per minute.
const MS_PER_MINUTE: u64 = 60_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens, in thousandths (integer arithmetic, no float).
    milli_tokens: u64,
    refilled_at: Instant,
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `burst` at once and `rate_per_minute` sustained.
    #[must_use]
    pub fn new(rate_per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate_per_minute,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`: `Ok(())`, or `Err(seconds to
    /// wait)` for the next token.
    ///
    /// # Errors
    /// The seconds until a token is available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let full = u64::from(self.burst) * 1_000;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            let rate = u64::from(self.rate_per_minute);
            buckets.retain(|_, b| refill(*b, now, rate, full).milli_tokens < full);
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            milli_tokens: full,
            refilled_at: now,
        });
        *bucket = refill(*bucket, now, u64::from(self.rate_per_minute), full);
        if bucket.milli_tokens >= 1_000 {
            bucket.milli_tokens -= 1_000;
            Ok(())
        } else {
            let missing = 1_000 - bucket.milli_tokens;
            // milli-tokens per ms = rate / 60; wait = missing / (rate / 60) ms.
            let rate = u64::from(self.rate_per_minute).max(1);
            let wait_ms = (missing * MS_PER_MINUTE).div_ceil(rate * 1_000);
            Err(wait_ms.div_ceil(1_000).max(1))
        }
    }
}

fn refill(bucket: Bucket, now: Instant, rate_per_minute: u64, full: u64) -> Bucket {
    let elapsed_ms = u64::try_from(
        now.saturating_duration_since(bucket.refilled_at)
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    // rate per minute → milli-tokens per ms = rate / 60.
    let added = elapsed_ms
        .saturating_mul(rate_per_minute)
        .saturating_mul(1_000)
        / MS_PER_MINUTE;
    if added == 0 {
        return bucket;
    }
    Bucket {
        milli_tokens: bucket.milli_tokens.saturating_add(added).min(full),
        refilled_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
        }
        assert_eq!(limiter.check(ip(1), t0), Err(1));
        // Another client is not affected.
        assert_eq!(limiter.check(ip(2), t0), Ok(()));
        // One token a second at 60 per minute.
        assert_eq!(
            limiter.check(ip(1), t0 + Duration::from_millis(1_000)),
            Ok(())
        );
        assert_eq!(
            limiter.check(ip(1), t0 + Duration::from_millis(1_000)),
            Err(1)
        );
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3_600);
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), later), Ok(()));
        }
        assert!(limiter.check(ip(1), later).is_err());
    }

    #[test]
    fn slow_rates_ask_for_a_longer_wait() {
        let limiter = RateLimiter::new(2, 1);
        let t0 = Instant::now();
        assert_eq!(limiter.check(ip(1), t0), Ok(()));
        assert_eq!(limiter.check(ip(1), t0), Err(30));
    }
}
