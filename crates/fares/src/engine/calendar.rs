//! The fare calendar: which service day and service month an instant belongs to.
//!
//! A service day runs from a configured local start (04:00 in HCMC) to just
//! before that time the next morning, so a 23:30 metro ride and the 00:30 bus
//! home count toward the same daily cap. The service month is the calendar
//! month of the service day. Both are plain integers so that the per-account
//! state stays small and comparisons are cheap.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Seconds in a minute, to name the unit conversions below.
pub(crate) const SECONDS_PER_MIN: i64 = 60;
/// Seconds in an hour.
pub(crate) const SECONDS_PER_HOUR: i64 = 3_600;
/// Seconds in a day: the largest service-day start offset accepted (exclusive).
pub(crate) const SECONDS_PER_DAY: i64 = 86_400;
/// How far before a date's UTC midnight its service day can start: a day
/// start is within one local day of local midnight, and a UTC offset is at
/// most ±18 h, so two days of margin on each side hold every zone and start.
const DAY_START_SEARCH_MARGIN_S: i64 = 2 * SECONDS_PER_DAY;

/// A service day, counted as days from 0001-01-01 (the proleptic Gregorian
/// day number `chrono` uses), so two service days compare and subtract as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceDay(i32);

impl ServiceDay {
    /// The service day that is the calendar date `date`.
    #[must_use]
    pub fn from_date(date: NaiveDate) -> ServiceDay {
        ServiceDay(date.num_days_from_ce())
    }

    /// The day number: days from 0001-01-01 (what [`ServiceDay::from_date`]
    /// counts).
    #[must_use]
    pub const fn number(self) -> i32 {
        self.0
    }

    /// The calendar date of this service day, if it is within `chrono`'s range.
    #[must_use]
    pub fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_num_days_from_ce_opt(self.0)
    }

    /// The service day `days` later (or earlier), saturating at the ends of `i32`.
    #[must_use]
    pub fn plus_days(self, days: i32) -> ServiceDay {
        ServiceDay(self.0.saturating_add(days))
    }

    /// The service month this day belongs to (the calendar month of its date).
    #[must_use]
    pub fn month(self) -> ServiceMonth {
        match self.date() {
            Some(date) => ServiceMonth::of(date),
            // Out of chrono's range: no real event gets here; a fixed month
            // keeps the function total without panicking.
            None => ServiceMonth(i32::MIN),
        }
    }
}

impl fmt::Display for ServiceDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.date() {
            Some(date) => write!(f, "{date}"),
            None => write!(f, "day#{}", self.0),
        }
    }
}

/// A service month, counted as `year × 12 + (month − 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceMonth(i32);

impl ServiceMonth {
    /// The service month of calendar date `date`.
    #[must_use]
    pub fn of(date: NaiveDate) -> ServiceMonth {
        // `month0()` is 0..=11, so the conversion cannot fail; saturate anyway.
        let month0 = i32::try_from(date.month0()).unwrap_or(0);
        ServiceMonth(date.year().saturating_mul(12).saturating_add(month0))
    }
}

/// An event time reduced to what the engine needs: the instant (Unix
/// seconds) and the service day it falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_s: i64,
    /// The service day of the instant in the configured time zone.
    pub service_day: ServiceDay,
}

/// Turns instants into service days for one time zone and day start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceCalendar {
    timezone: Tz,
    /// Local time of day at which a service day starts, in seconds after midnight.
    day_start_s: i64,
}

impl ServiceCalendar {
    /// A calendar for `timezone` whose service days start `day_start_s`
    /// seconds after local midnight. `None` unless `0 ≤ day_start_s < 86,400`.
    #[must_use]
    pub fn new(timezone: Tz, day_start_s: i64) -> Option<ServiceCalendar> {
        (0..SECONDS_PER_DAY)
            .contains(&day_start_s)
            .then_some(ServiceCalendar {
                timezone,
                day_start_s,
            })
    }

    /// The configured time zone.
    #[must_use]
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The service day `at` belongs to: the local date of `at − day start`.
    /// Wall-clock arithmetic keeps the rule "04:00 local" right across DST
    /// changes in zones that have them.
    #[must_use]
    pub fn service_day(&self, at: DateTime<FixedOffset>) -> ServiceDay {
        let local = at.with_timezone(&self.timezone).naive_local();
        let shifted = local
            .checked_sub_signed(TimeDelta::seconds(self.day_start_s))
            .unwrap_or(local);
        ServiceDay::from_date(shifted.date())
    }

    /// The first instant (whole second) of service day `day`; `None` when
    /// the day is outside the representable range.
    ///
    /// Found by bisection over [`ServiceCalendar::service_day`] itself, so
    /// the bounds can never disagree with the day an instant is priced in
    /// (DST gaps and folds included).
    #[must_use]
    pub fn day_start(&self, day: ServiceDay) -> Option<DateTime<Utc>> {
        let date = day.date()?;
        let midnight_s = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        let (mut lo, mut hi) = (
            midnight_s.checked_sub(DAY_START_SEARCH_MARGIN_S)?,
            midnight_s.checked_add(DAY_START_SEARCH_MARGIN_S)?,
        );
        let day_of =
            |s: i64| DateTime::from_timestamp(s, 0).map(|at| self.service_day(at.fixed_offset()));
        // Invariant: day_of(lo) < day ≤ day_of(hi). Service days never go
        // back in time, so the first second of `day` is found by bisection.
        if day_of(lo)? >= day || day_of(hi)? < day {
            return None;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if day_of(mid)? >= day {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        DateTime::from_timestamp(hi, 0)
    }

    /// The instant and service day of `at`.
    #[must_use]
    pub fn event_time(&self, at: DateTime<FixedOffset>) -> EventTime {
        EventTime {
            unix_s: at.timestamp(),
            service_day: self.service_day(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcmc() -> ServiceCalendar {
        ServiceCalendar::new(chrono_tz::Asia::Ho_Chi_Minh, 4 * SECONDS_PER_HOUR)
            .expect("04:00 is within a day")
    }

    fn check(at: &str, expected_day: &str) {
        let at = DateTime::parse_from_rfc3339(at).expect("test times are RFC 3339");
        let expected =
            ServiceDay::from_date(expected_day.parse().expect("test dates are ISO dates"));
        assert_eq!(hcmc().service_day(at), expected, "service day of {at}");
    }

    #[test]
    fn service_day_starts_at_four_local() {
        check("2026-03-02T03:59:59+07:00", "2026-03-01");
        check("2026-03-02T04:00:00+07:00", "2026-03-02");
        check("2026-03-02T23:59:59+07:00", "2026-03-02");
        // The offset written on the event does not matter, only the instant.
        check("2026-03-01T20:59:00+00:00", "2026-03-01");
        check("2026-03-01T21:00:00+00:00", "2026-03-02");
        // New year's night belongs to the old year's last service day.
        check("2026-01-01T02:00:00+07:00", "2025-12-31");
    }

    #[test]
    fn service_month_is_the_month_of_the_service_day() {
        let day = |s: &str| ServiceDay::from_date(s.parse().expect("ISO date"));
        assert_eq!(day("2026-03-31").month(), day("2026-03-01").month());
        assert_ne!(day("2026-03-31").month(), day("2026-04-01").month());
        assert_ne!(day("2025-12-01").month(), day("2026-12-01").month());
        assert_eq!(day("2026-03-02").plus_days(-1), day("2026-03-01"));
    }

    #[test]
    fn day_start_is_the_first_second_of_the_service_day() {
        let check_start = |day: &str, expected: Option<&str>| {
            let day = ServiceDay::from_date(day.parse().expect("ISO date"));
            let expected = expected.map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .expect("RFC 3339")
                    .with_timezone(&Utc)
            });
            assert_eq!(hcmc().day_start(day), expected, "{day}");
        };
        check_start("2026-03-02", Some("2026-03-02T04:00:00+07:00"));
        check_start("2025-12-31", Some("2025-12-31T04:00:00+07:00"));
        check_start("2028-02-29", Some("2028-02-29T04:00:00+07:00"));
        // Beyond chrono's range: no start rather than a panic.
        assert_eq!(
            hcmc().day_start(ServiceDay::from_date(NaiveDate::MAX).plus_days(1)),
            None
        );
    }

    #[test]
    fn day_start_must_be_within_a_day() {
        let tz = chrono_tz::Asia::Ho_Chi_Minh;
        assert!(ServiceCalendar::new(tz, -1).is_none());
        assert!(ServiceCalendar::new(tz, SECONDS_PER_DAY).is_none());
        assert!(ServiceCalendar::new(tz, 0).is_some());
    }
}
