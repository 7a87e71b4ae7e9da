//! The open-loop schedule: when each request is *meant* to be sent, fixed
//! before the run starts and independent of how fast the target answers.
//!
//! A closed-loop generator (send, wait, send) slows down with the server and
//! so hides exactly the stalls a latency test is for ("coordinated
//! omission"). Here request `i` is due at `start + i / rate`; a worker that
//! reaches it late still measures from the due time, so queueing inside the
//! generator counts as latency. A request sent a little *early* (timers
//! wake up to [`EARLY_SEND_ALLOWANCE_US`] before the due time, as tokio's
//! timer has millisecond resolution) is measured from its actual send time:
//! latency is always measured from the earlier of the two, so the figure can
//! only err on the pessimistic side.

use std::time::Duration;

/// How early a request may be sent before its due time, in µs: tokio's
/// timer wheel ticks every millisecond, so waking "at" a due time means up
/// to 1 ms late; waking up to 1 ms early and sending at once keeps the
/// generator on schedule without spinning.
pub const EARLY_SEND_ALLOWANCE_US: u64 = 1_000;

/// Nanoseconds per second.
const NANOS_PER_S: u128 = 1_000_000_000;

/// The due times of a run: `count` requests at `rate_per_s`, measured after
/// the first `warmup` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    rate_per_s: u64,
    count: u64,
    warmup: u64,
}

/// Why a schedule cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A rate of zero sends nothing.
    #[error("the rate must be at least 1 request per second")]
    ZeroRate,
    /// A measured duration of zero measures nothing.
    #[error("the duration must be at least 1 second")]
    ZeroDuration,
    /// More requests than a `u64` counts.
    #[error("rate × (warm-up + duration) is too large")]
    TooLarge,
}

impl Schedule {
    /// `rate_per_s` requests a second for `warmup_s` (not measured), then
    /// `duration_s` (measured).
    ///
    /// # Errors
    /// See [`ScheduleError`].
    pub fn new(rate_per_s: u64, warmup_s: u64, duration_s: u64) -> Result<Schedule, ScheduleError> {
        if rate_per_s == 0 {
            return Err(ScheduleError::ZeroRate);
        }
        if duration_s == 0 {
            return Err(ScheduleError::ZeroDuration);
        }
        let warmup = rate_per_s
            .checked_mul(warmup_s)
            .ok_or(ScheduleError::TooLarge)?;
        let measured = rate_per_s
            .checked_mul(duration_s)
            .ok_or(ScheduleError::TooLarge)?;
        let count = warmup
            .checked_add(measured)
            .ok_or(ScheduleError::TooLarge)?;
        Ok(Schedule {
            rate_per_s,
            count,
            warmup,
        })
    }

    /// The target rate.
    #[must_use]
    pub const fn rate_per_s(&self) -> u64 {
        self.rate_per_s
    }

    /// Requests in the whole run (warm-up included).
    #[must_use]
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// Requests sent before measuring starts.
    #[must_use]
    pub const fn warmup(&self) -> u64 {
        self.warmup
    }

    /// Whether request `index` is measured (after the warm-up).
    #[must_use]
    pub const fn is_measured(&self, index: u64) -> bool {
        index >= self.warmup
    }

    /// When request `index` is due, as an offset from the run's start.
    #[must_use]
    pub fn due(&self, index: u64) -> Duration {
        let nanos = u128::from(index) * NANOS_PER_S / u128::from(self.rate_per_s);
        // index < count ≤ u64::MAX and rate ≥ 1, so the quotient is at most
        // u64::MAX × 10^9 ns; saturate rather than wrap past ~584 years.
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When measuring starts, as an offset from the run's start.
    #[must_use]
    pub fn measure_from(&self) -> Duration {
        self.due(self.warmup)
    }

    /// When the last request is due, plus one interval: the end of the
    /// schedule.
    #[must_use]
    pub fn end(&self) -> Duration {
        self.due(self.count)
    }
}

/// The latency of a request due at `due` and sent at `sent`, answered at
/// `done` (all offsets from one start): measured from the earlier of due
/// and sent (see the module docs). Never negative.
#[must_use]
pub fn latency(due: Duration, sent: Duration, done: Duration) -> Duration {
    done.saturating_sub(due.min(sent))
}

/// How long to wait before sending a request due at `due` when it is now
/// `now`: nothing when it is due within [`EARLY_SEND_ALLOWANCE_US`].
#[must_use]
pub fn wait_before_send(due: Duration, now: Duration) -> Option<Duration> {
    let early = Duration::from_micros(EARLY_SEND_ALLOWANCE_US);
    let wake = due.checked_sub(early)?;
    (wake > now).then(|| wake.saturating_sub(now))
}
