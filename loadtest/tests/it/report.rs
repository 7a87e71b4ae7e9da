//! Outcome labels, the tally, and the JSON the `--report` file holds.

use std::time::Duration;

use hyper::StatusCode;
use loadtest::report::{
    Comparison, Latency, Mode, Pair, Report, Tally, median, per_second, ratio_percent,
};
use loadtest::service::outcome_of;

fn check_outcome(status: StatusCode, body: &str, expected: (&str, bool)) {
    let (label, decided) = outcome_of(status, body.as_bytes());
    assert_eq!((label.as_ref(), decided), expected, "{status} {body}");
}

#[test]
fn responses_are_labelled_by_decision_or_problem_code() {
    check_outcome(
        StatusCode::OK,
        r#"{"decision":"accept","amount_vnd":7000}"#,
        ("accept", true),
    );
    check_outcome(
        StatusCode::OK,
        r#"{"decision":"deny","reason":"insufficient_funds"}"#,
        ("deny:insufficient_funds", true),
    );
    check_outcome(
        StatusCode::OK,
        "not json",
        ("http_200:unreadable_decision", false),
    );
    check_outcome(
        StatusCode::SERVICE_UNAVAILABLE,
        r#"{"code":"unavailable","status":503}"#,
        ("http_503:unavailable", false),
    );
    check_outcome(
        StatusCode::BAD_GATEWAY,
        "",
        ("http_502:no_problem_body", false),
    );
}

fn check_median(values: &[u64], expected: u64) {
    assert_eq!(median(values.to_vec()), expected, "{values:?}");
}

#[test]
fn medians_rates_and_ratios() {
    check_median(&[], 0);
    check_median(&[5], 5);
    check_median(&[9, 1, 5], 5);
    check_median(&[4, 1, 3, 2], 2);
    assert_eq!(per_second(3_000, Duration::from_millis(1_500)), 2_000);
    assert_eq!(per_second(3_000, Duration::ZERO), 0);
    assert_eq!(ratio_percent(15_000, 25_000), 60);
    assert_eq!(ratio_percent(1, 0), 0);
}

#[test]
fn a_tally_keeps_percentiles_and_counts_by_outcome() {
    let mut tally = Tally::new();
    for micros in 1..=1_000u64 {
        tally.record(Duration::from_micros(micros * 10), "accept".into(), true);
    }
    let mut other = Tally::new();
    other.record(Duration::from_secs(2), "http_503:unavailable".into(), false);
    tally.merge(&other);
    assert_eq!(tally.completed(), 1_001);
    assert_eq!(tally.decided, 1_000);
    let latency = tally.latency();
    // 1,001 values (the 2 s one last): HDR keeps 3 significant digits, so
    // each percentile is within 0.1% of the exact rank value.
    assert!(latency.p50_us.abs_diff(5_010) <= 10, "{latency:?}");
    assert!(latency.p99_us.abs_diff(9_910) <= 10, "{latency:?}");
    assert!(latency.max_us.abs_diff(2_000_000) <= 2_000, "{latency:?}");
    let outcomes = tally.outcomes();
    assert_eq!(outcomes.get("accept"), Some(&1_000));
    assert_eq!(outcomes.get("http_503:unavailable"), Some(&1));
}

fn report(mode: Mode, decided_rate_per_s: u64) -> Report {
    Report {
        mode,
        target_rate_per_s: 20_000,
        duration_s: 30,
        warmup_s: 5,
        connections: 64,
        scheduled: 600_000,
        completed: 599_990,
        decided: 599_980,
        not_sent: 10,
        achieved_rate_per_s: decided_rate_per_s,
        decided_rate_per_s,
        latency: Latency {
            p50_us: 900,
            p90_us: 1_500,
            p99_us: 4_000,
            p999_us: 9_000,
            max_us: 20_000,
        },
        outcomes: [
            ("accept".to_owned(), 599_980),
            ("transport:send".to_owned(), 10),
        ]
        .into(),
        answered_total: 750_000,
        cpu: None,
    }
}

#[test]
fn the_json_report_has_the_documented_fields() {
    let json = serde_json::to_value(report(Mode::Service, 18_000)).expect("serialises");
    for field in [
        "mode",
        "target_rate_per_s",
        "duration_s",
        "warmup_s",
        "connections",
        "scheduled",
        "completed",
        "decided",
        "not_sent",
        "achieved_rate_per_s",
        "decided_rate_per_s",
        "latency",
        "outcomes",
    ] {
        assert!(json.get(field).is_some(), "{field} missing in {json}");
    }
    assert_eq!(json["mode"], "service");
    for field in ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"] {
        assert!(json["latency"][field].is_u64(), "{field} in {json}");
    }
    assert_eq!(report(Mode::Raw, 1).errors(), 10);
}

#[test]
fn a_comparison_lists_every_pair_and_the_median_ratio() {
    let pair = |service, raw| Pair {
        service: report(Mode::Service, service),
        raw: report(Mode::Raw, raw),
        ratio_percent: ratio_percent(service, raw),
        floor: None,
        floor_ratio_percent: None,
    };
    let comparison = Comparison::of(vec![
        pair(18_000, 30_000),
        pair(10_000, 40_000),
        pair(21_000, 30_000),
    ]);
    assert_eq!(comparison.median_ratio_percent, 60);
    assert_eq!(comparison.median_floor_ratio_percent, None);
    let json = serde_json::to_value(&comparison).expect("serialises");
    assert_eq!(json["pairs"].as_array().map(Vec::len), Some(3));
    assert!(json.get("median_floor_ratio_percent").is_none());
    assert_eq!(json["pairs"][1]["ratio_percent"], 25);
    let back: Comparison = serde_json::from_value(json).expect("round trips");
    assert_eq!(back, comparison);
}

#[test]
fn a_comparison_with_a_floor_gives_the_floor_median_too() {
    let pair = |service, floor, raw| Pair {
        service: report(Mode::Service, service),
        raw: report(Mode::Raw, raw),
        ratio_percent: ratio_percent(service, raw),
        floor: Some(report(Mode::Service, floor)),
        floor_ratio_percent: Some(ratio_percent(floor, raw)),
    };
    let comparison = Comparison::of(vec![
        pair(6_000, 9_000, 30_000),
        pair(5_000, 12_000, 30_000),
        pair(6_000, 6_000, 30_000),
    ]);
    assert_eq!(comparison.median_ratio_percent, 20);
    assert_eq!(comparison.median_floor_ratio_percent, Some(30));
    let json = serde_json::to_value(&comparison).expect("serialises");
    assert_eq!(json["pairs"][1]["floor_ratio_percent"], 40);
    let back: Comparison = serde_json::from_value(json).expect("round trips");
    assert_eq!(back, comparison);
}

#[test]
fn the_summary_shows_percentiles_or_says_there_were_none() {
    let answered = report(Mode::Service, 18_000).summary();
    assert!(answered.contains("p50 0.900ms"), "{answered}");
    assert!(answered.contains("p99.9 9.000ms"), "{answered}");
    assert!(answered.contains("not sent 10"), "{answered}");

    // Overloaded: every measured request stayed unsent; answers to warm-up
    // requests still count as throughput, but there is no latency to show.
    let mut behind = report(Mode::Service, 12_000);
    behind.completed = 0;
    behind.decided = 0;
    behind.not_sent = behind.scheduled;
    behind.latency = Latency::default();
    let line = behind.summary();
    assert!(line.contains("latency n/a"), "{line}");
    assert!(!line.contains("p50"), "{line}");
    assert!(line.contains("achieved  12000/s"), "{line}");
}

#[test]
fn the_cpu_a_request_shows_in_the_summary_and_the_json_when_read() {
    let plain = report(Mode::Service, 18_000);
    assert!(!plain.summary().contains("cpu/answer"));
    assert!(
        serde_json::to_value(&plain)
            .expect("json")
            .get("cpu")
            .is_none()
    );

    let mut measured = report(Mode::Service, 18_000);
    measured.cpu = Some(loadtest::cpu::CpuPerRequest {
        answered: 750_000,
        target_ns: Some(23_150),
        redis_ns: Some(12_980),
        generator_ns: None,
    });
    let line = measured.summary();
    assert!(
        line.ends_with("| cpu/answer: target 23.1µs redis 12.9µs"),
        "{line}"
    );
    let json = serde_json::to_value(&measured).expect("json");
    assert_eq!(json["cpu"]["target_ns"], 23_150);
    assert_eq!(json["answered_total"], 750_000);
    assert!(json["cpu"].get("generator_ns").is_none());
}
