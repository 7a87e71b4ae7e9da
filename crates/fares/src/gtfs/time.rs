//! GTFS time and date field types and service calendars.
//!
//! - "Local time" (`H:MM:SS`): a wall-clock time of day, used by
//!   timeframes.txt; kept as seconds since local midnight.
//! - "Date" (`YYYYMMDD`), used by calendar.txt and calendar_dates.txt.
//! - A service: the set of dates a `service_id` is active on, from its weekly
//!   pattern and its added or removed dates.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

/// Seconds in a day: the largest value a timeframe time may take (24:00:00).
pub(crate) const SECONDS_PER_DAY: u32 = 24 * 60 * 60;

/// The largest hour a GTFS time field is read with. GTFS "Time" values go
/// past 24:00:00 for trips after midnight; three digits cover any service
/// day while keeping the arithmetic far from overflow.
const MAX_TIME_HOURS: u32 = 999;

/// Reads `H:MM:SS` or `HH:MM:SS` into seconds since midnight. Hours above 23
/// are read (timeframes reject them above 24:00:00 with their own error).
pub(crate) fn parse_time(text: &str) -> Option<u32> {
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |part: &str, min_len: usize, max_len: usize| -> Option<u32> {
        if part.len() < min_len || part.len() > max_len || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        part.parse().ok()
    };
    let hours = number(h, 1, 3)?;
    let minutes = number(m, 2, 2)?;
    let seconds = number(s, 2, 2)?;
    if hours > MAX_TIME_HOURS || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds)
}

/// Reads a `YYYYMMDD` date.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(4..6)?.parse().ok()?;
    let day = text.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The weekly pattern of a calendar.txt row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WeeklyPattern {
    /// Active weekdays, Monday first.
    pub(crate) days: [bool; 7],
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
}

/// Whether a calendar_dates.txt row adds or removes a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exception {
    Added,
    Removed,
}

/// The dates one `service_id` is active on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Service {
    pub(crate) weekly: Option<WeeklyPattern>,
    pub(crate) exceptions: BTreeMap<NaiveDate, Exception>,
}

impl Service {
    /// True when the service runs on `date`: an exception decides, else the
    /// weekly pattern within its start and end dates (both included).
    pub(crate) fn is_active(&self, date: NaiveDate) -> bool {
        if let Some(exception) = self.exceptions.get(&date) {
            return *exception == Exception::Added;
        }
        self.weekly.as_ref().is_some_and(|w| {
            let weekday = usize::try_from(date.weekday().num_days_from_monday())
                .expect("a weekday index is below 7");
            w.start <= date && date <= w.end && w.days.get(weekday).copied().unwrap_or(false)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_times() {
        let check =
            |text: &str, expected: Option<u32>| assert_eq!(parse_time(text), expected, "{text}");
        check("00:00:00", Some(0));
        check("7:05:09", Some(7 * 3600 + 5 * 60 + 9));
        check("24:00:00", Some(SECONDS_PER_DAY));
        check("25:35:00", Some(25 * 3600 + 35 * 60));
        check("12:60:00", None);
        check("12:00:60", None);
        check("12:0:00", None);
        check("12:00", None);
        check("12:00:00:00", None);
        check("-1:00:00", None);
        check("", None);
        check("1000:00:00", None);
    }

    #[test]
    fn parses_dates() {
        let check = |text: &str, expected: Option<(i32, u32, u32)>| {
            let expected = expected.and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
            assert_eq!(parse_date(text), expected, "{text}");
        };
        check("20260302", Some((2026, 3, 2)));
        check("20240229", Some((2024, 2, 29)));
        check("20250229", None);
        check("2026032", None);
        check("2026-03-02", None);
        check("202603021", None);
    }

    #[test]
    fn services_follow_pattern_and_exceptions() {
        let date = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).expect("valid test date");
        // Weekdays only, 2 to 31 March 2026 (2 March is a Monday); the 4th
        // removed, Saturday the 7th added.
        let service = Service {
            weekly: Some(WeeklyPattern {
                days: [true, true, true, true, true, false, false],
                start: date(2),
                end: date(31),
            }),
            exceptions: BTreeMap::from([
                (date(4), Exception::Removed),
                (date(7), Exception::Added),
            ]),
        };
        let check =
            |d: u32, expected: bool| assert_eq!(service.is_active(date(d)), expected, "{d}");
        check(1, false);
        check(2, true);
        check(4, false);
        check(7, true);
        check(8, false);
        check(31, true);
        let only_dates = Service {
            weekly: None,
            exceptions: BTreeMap::from([(date(9), Exception::Added)]),
        };
        assert!(only_dates.is_active(date(9)));
        assert!(!only_dates.is_active(date(10)));
    }

    proptest! {
        #[test]
        fn time_text_round_trips(h in 0_u32..=99, m in 0_u32..60, s in 0_u32..60) {
            prop_assert_eq!(parse_time(&format!("{h:02}:{m:02}:{s:02}")), Some(h * 3600 + m * 60 + s));
        }

        #[test]
        fn parsing_any_text_never_panics(text in ".{0,20}") {
            let _ = parse_time(&text);
            let _ = parse_date(&text);
        }
    }
}
