//! Service-day boundaries as instants, computed from the fare engine's own
//! calendar so settlement and pricing can never disagree about which day an
//! instant belongs to (04:00–03:59 Asia/Ho_Chi_Minh for `hcmc`).

use chrono::{DateTime, Utc};
use fares::engine::{ServiceCalendar, ServiceDay};

/// The first instant (whole second) of service day `day` under `calendar`;
/// `None` when the day is outside the representable range. (The engine's
/// own calendar computes it: parking permits are priced with the same
/// bounds.)
#[must_use]
pub fn day_start(calendar: &ServiceCalendar, day: ServiceDay) -> Option<DateTime<Utc>> {
    calendar.day_start(day)
}

/// `[start, end)` of service day `day`: `end` is the next day's start.
#[must_use]
pub fn day_bounds(
    calendar: &ServiceCalendar,
    day: ServiceDay,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((
        day_start(calendar, day)?,
        day_start(calendar, day.plus_days(1))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fares::engine::Engine;

    fn check(day: &str, expected: Option<(&str, &str)>) {
        let engine = Engine::hcmc().expect("the shipped configuration compiles");
        let day = ServiceDay::from_date(day.parse().expect("ISO date"));
        let got = day_bounds(engine.calendar(), day);
        let expected = expected.map(|(s, e)| {
            (
                DateTime::parse_from_rfc3339(s).unwrap().to_utc(),
                DateTime::parse_from_rfc3339(e).unwrap().to_utc(),
            )
        });
        assert_eq!(got, expected, "{day}");
    }

    #[test]
    fn hcmc_days_run_from_four_to_four_local() {
        check(
            "2026-03-02",
            Some(("2026-03-02T04:00:00+07:00", "2026-03-03T04:00:00+07:00")),
        );
        check(
            "2025-12-31",
            Some(("2025-12-31T04:00:00+07:00", "2026-01-01T04:00:00+07:00")),
        );
        check(
            "2028-02-29",
            Some(("2028-02-29T04:00:00+07:00", "2028-03-01T04:00:00+07:00")),
        );
    }
}
