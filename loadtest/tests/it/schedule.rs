//! Due times are fixed by the rate alone; latency is measured from the
//! earlier of due and sent.

use std::time::Duration;

use loadtest::schedule::{
    EARLY_SEND_ALLOWANCE_US, Schedule, ScheduleError, latency, wait_before_send,
};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn check_new(
    rate: u64,
    warmup_s: u64,
    duration_s: u64,
    expected: Result<(u64, u64), ScheduleError>,
) {
    let got = Schedule::new(rate, warmup_s, duration_s).map(|s| (s.count(), s.warmup()));
    assert_eq!(
        got, expected,
        "rate {rate} warmup {warmup_s} duration {duration_s}"
    );
}

#[test]
fn a_schedule_counts_warmup_and_measured_requests() {
    check_new(1_000, 2, 10, Ok((12_000, 2_000)));
    check_new(7, 0, 1, Ok((7, 0)));
    check_new(0, 1, 1, Err(ScheduleError::ZeroRate));
    check_new(10, 1, 0, Err(ScheduleError::ZeroDuration));
    check_new(u64::MAX, 1, 2, Err(ScheduleError::TooLarge));
}

fn check_due(rate: u64, index: u64, expected: Duration) {
    let schedule = Schedule::new(rate, 1, 1).expect("valid");
    assert_eq!(schedule.due(index), expected, "rate {rate} index {index}");
}

#[test]
fn requests_are_due_at_index_over_rate() {
    check_due(1_000, 0, Duration::ZERO);
    check_due(1_000, 1, ms(1));
    check_due(1_000, 1_500, ms(1_500));
    check_due(3, 1, Duration::from_nanos(333_333_333));
    check_due(15_000, 15_000, ms(1_000));
}

#[test]
fn measuring_starts_after_the_warmup_and_the_schedule_ends_after_the_last_request() {
    let schedule = Schedule::new(500, 2, 3).expect("valid");
    assert_eq!(schedule.measure_from(), ms(2_000));
    assert_eq!(schedule.end(), ms(5_000));
    assert!(!schedule.is_measured(999));
    assert!(schedule.is_measured(1_000));
}

fn check_latency(due_ms: u64, sent_ms: u64, done_ms: u64, expected_ms: u64) {
    assert_eq!(
        latency(ms(due_ms), ms(sent_ms), ms(done_ms)),
        ms(expected_ms),
        "due {due_ms} sent {sent_ms} done {done_ms}"
    );
}

#[test]
fn latency_counts_from_the_due_time_when_sent_late_and_from_the_send_when_early() {
    // On time.
    check_latency(10, 10, 12, 2);
    // Late by 30 ms because every connection was busy: the wait counts.
    check_latency(10, 40, 42, 32);
    // Sent 1 ms early (timer slack): measured from the actual send.
    check_latency(10, 9, 12, 3);
    // A clock that never goes backwards still never gives a negative latency.
    check_latency(10, 10, 5, 0);
}

fn check_wait(due_us: u64, now_us: u64, expected_us: Option<u64>) {
    assert_eq!(
        wait_before_send(Duration::from_micros(due_us), Duration::from_micros(now_us)),
        expected_us.map(Duration::from_micros),
        "due {due_us} now {now_us}"
    );
}

#[test]
fn a_worker_waits_until_just_before_the_due_time() {
    let slack = EARLY_SEND_ALLOWANCE_US;
    check_wait(10_000, 0, Some(10_000 - slack));
    check_wait(10_000, 10_000 - slack, None);
    check_wait(10_000, 20_000, None);
    check_wait(slack / 2, 0, None);
}

proptest! {
    #[test]
    fn due_times_never_decrease_and_keep_the_rate(rate in 1u64..200_000, index in 0u64..10_000_000) {
        let schedule = Schedule::new(rate, 1, 1).expect("valid");
        prop_assert!(schedule.due(index) <= schedule.due(index + 1));
        // `rate` consecutive requests span one second, to the nanosecond.
        let span = schedule.due(index + rate) - schedule.due(index);
        prop_assert!(span.abs_diff(Duration::from_secs(1)) <= Duration::from_nanos(1));
    }

    #[test]
    fn latency_is_never_less_than_the_service_time(
        due in 0u64..1_000_000, sent in 0u64..1_000_000, service in 0u64..1_000_000,
    ) {
        let (due, sent) = (Duration::from_micros(due), Duration::from_micros(sent));
        let done = sent + Duration::from_micros(service);
        prop_assert!(latency(due, sent, done) >= done - sent);
        prop_assert!(latency(due, sent, done) >= done.saturating_sub(due));
    }
}
