//! The demo's clock: the day's time, moved by the driver step by step.
//!
//! In-process, every service reads this one clock — fare validation and
//! parking through `fare_validation::Clock::Manual`, the rider API through
//! its `Clock` trait — so a tap at 07:05 of the demo day is priced at
//! 07:05, a top-up is credited at its time, a ticket is valid from when it
//! was issued. Against a running server (`--base-url`) the server's own
//! clock decides and [`DayClock::Server`] only reads the system clock.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

/// A clock the demo sets; the services read it.
#[derive(Clone, Debug)]
pub struct DemoClock(fare_validation::Clock);

impl DemoClock {
    /// A clock showing `at`.
    #[must_use]
    pub fn starting_at(at: DateTime<Utc>) -> DemoClock {
        DemoClock(fare_validation::Clock::Manual(Arc::new(
            std::sync::Mutex::new(at),
        )))
    }

    /// The same clock as fare validation and parking take it.
    #[must_use]
    pub fn for_terminals(&self) -> fare_validation::Clock {
        self.0.clone()
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.set(at);
    }
}

impl rider_api::clock::Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// Where the demo's "now" comes from.
#[derive(Clone, Debug)]
pub enum DayClock {
    /// The in-process services' clock, set to the plan's times on the
    /// service day starting at `day_start`.
    Simulated {
        /// The shared clock.
        clock: DemoClock,
        /// The service day's start (04:00 local).
        day_start: DateTime<Utc>,
    },
    /// A running server's: real time; the plan's times only order the steps.
    Server,
}

impl DayClock {
    /// Moves to `at_s` seconds into the day (no effect on a server's clock).
    pub fn go_to(&self, at_s: u32) {
        if let DayClock::Simulated { clock, day_start } = self {
            clock.set(*day_start + TimeDelta::seconds(i64::from(at_s)));
        }
    }

    /// Now.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            DayClock::Simulated { clock, .. } => rider_api::clock::Clock::now(clock),
            DayClock::Server => Utc::now(),
        }
    }

    /// Now in unix seconds (0 before 1970).
    #[must_use]
    pub fn now_s(&self) -> u64 {
        u64::try_from(self.now().timestamp()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_go_to(at_s: u32, expected: &str) {
        let start = DateTime::parse_from_rfc3339("2026-03-01T21:00:00Z")
            .expect("time")
            .to_utc();
        let clock = DemoClock::starting_at(start);
        let day = DayClock::Simulated {
            clock: clock.clone(),
            day_start: start,
        };
        day.go_to(at_s);
        // Every service reads the same time.
        assert_eq!(day.now().to_rfc3339(), expected);
        assert_eq!(clock.for_terminals().now().to_rfc3339(), expected);
        assert_eq!(rider_api::clock::Clock::now(&clock).to_rfc3339(), expected);
    }

    #[test]
    fn the_day_clock_moves_every_service_together() {
        check_go_to(0, "2026-03-01T21:00:00+00:00");
        check_go_to(3 * 3_600 + 5 * 60, "2026-03-02T00:05:00+00:00");
    }
}
