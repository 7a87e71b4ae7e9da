//! `/metrics` exposes the per-route request counter and latency histogram, and the process metrics.

use axum::http::StatusCode;
use service_kit::Health;

use crate::support::{get, routes, send};

/// The value of the sample of `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<String> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .map(str::to_owned)
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let handle = service_kit::install_metrics().expect("metrics recorder");
    let app = service_kit::layers::apply(
        routes().merge(Health::new(handle).router()),
        crate::support::limits(),
    );
    // `/probe` is requested by this test only, so its count is exact.
    for _ in 0..2 {
        assert_eq!(
            send(app.clone(), get("/probe")).await.status,
            StatusCode::OK
        );
    }
    let reply = send(app, get("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    let text = String::from_utf8_lossy(&reply.body);
    let probe = ["route=\"/probe\"", "method=\"GET\"", "status=\"200\""];
    assert_eq!(
        sample(&text, "http_requests_total", &probe).as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_request_duration_seconds_count",
            &["route=\"/probe\"", "method=\"GET\""]
        )
        .as_deref(),
        Some("2"),
        "{text}"
    );
    // A histogram with buckets (not a summary), so latency aggregates across instances.
    assert!(
        sample(
            &text,
            "http_request_duration_seconds_bucket",
            &["route=\"/probe\"", "le=\"0.02\""]
        )
        .is_some(),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_include_the_process_cpu_memory_and_fds() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let handle = service_kit::install_metrics().expect("metrics recorder");
    let app = service_kit::layers::apply(Health::new(handle).router(), crate::support::limits());
    let reply = send(app, get("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter\n"),
        "{text}"
    );
    assert!(
        service_kit::process::cpu_micros_in_exposition(&text).is_some(),
        "{text}"
    );
    for gauge in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{gauge} ")))
            .and_then(|v| v.parse::<u64>().ok());
        assert!(value.is_some_and(|v| v > 0), "{gauge} in {text}");
    }
}
