//! What a request writes to the log: one line with method, route, status, latency and
//! request id; internal causes once; never bodies or auth headers; on quiet (hot) routes,
//! fast successes only at `debug`.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::{app, send};

/// Collects log output in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("each log line is JSON"))
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Sends `request` with JSON logging captured on this thread; returns the log lines.
async fn logs_of(request: Request<Body>) -> Vec<serde_json::Value> {
    logs_at("trace", request).await
}

/// As [`logs_of`], with only what `filter` (e.g. `info`) lets through.
async fn logs_at(filter: &str, request: Request<Body>) -> Vec<serde_json::Value> {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(service_kit::telemetry::json_layer(captured.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    send(app(), request).await;
    captured.lines()
}

fn finished(lines: &[serde_json::Value]) -> &serde_json::Value {
    let finished: Vec<_> = lines
        .iter()
        .filter(|l| {
            matches!(
                l["message"].as_str(),
                Some("request finished" | "request failed")
            )
        })
        .collect();
    assert_eq!(finished.len(), 1, "{lines:#?}");
    finished[0]
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_logs_one_line_with_its_fields_and_no_secrets() {
    let request = Request::post("/echo")
        .header("content-type", "application/json")
        .header("authorization", "Bearer top-secret-token")
        .header("x-request-id", "log-test-1")
        .body(Body::from(r#"{"amount_vnd":424242}"#))
        .expect("valid request");
    let lines = logs_of(request).await;
    let span = &finished(&lines)["span"];
    assert_eq!(span["method"], "POST");
    assert_eq!(span["route"], "/echo");
    assert_eq!(span["request_id"], "log-test-1");
    assert_eq!(span["status"], StatusCode::OK.as_u16());
    assert!(span["latency_ms"].is_u64(), "{span}");
    let text = serde_json::to_string(&lines).expect("serialisable");
    assert!(!text.contains("top-secret-token"), "{text}");
    assert!(!text.contains("424242"), "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_internal_error_is_logged_once_with_its_cause() {
    let request = Request::get("/internal")
        .header("x-request-id", "log-test-2")
        .body(Body::empty())
        .expect("valid request");
    let lines = logs_of(request).await;
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert!(
        errors[0]["error.chain"]
            .as_str()
            .is_some_and(|c| c.contains("disk on fire")),
        "{:#}",
        errors[0]
    );
    assert_eq!(errors[0]["span"]["request_id"], "log-test-2");
    assert_eq!(finished(&lines)["span"]["status"], 500);
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_is_logged_with_its_message() {
    crate::support::silence_deliberate_panics();
    let lines = logs_of(
        Request::get("/panic")
            .body(Body::empty())
            .expect("valid request"),
    )
    .await;
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert_eq!(errors[0]["panic.message"], crate::support::DELIBERATE_PANIC);
}

/// The level and status of the one request line `path` writes under `filter`, if any.
async fn request_line(filter: &str, path: &str) -> Option<(String, u64)> {
    let request = Request::get(path)
        .body(Body::empty())
        .expect("valid request");
    let lines = logs_at(filter, request).await;
    let finished: Vec<_> = lines
        .iter()
        .filter(|l| {
            matches!(
                l["message"].as_str(),
                Some("request finished" | "request failed")
            )
        })
        .collect();
    assert!(finished.len() <= 1, "{lines:#?}");
    finished.first().map(|line| {
        (
            line["level"].as_str().unwrap_or_default().to_owned(),
            line["span"]["status"].as_u64().unwrap_or_default(),
        )
    })
}

async fn check_line(filter: &str, path: &str, expected: Option<(&str, u64)>) {
    let got = request_line(filter, path).await;
    assert_eq!(
        got.as_ref()
            .map(|(level, status)| (level.as_str(), *status)),
        expected,
        "{filter} {path}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn quiet_routes_log_fast_successes_at_debug_only() {
    check_line("info", "/quiet", None).await;
    check_line("debug", "/quiet", Some(("DEBUG", 200))).await;
    check_line("info", "/quiet/refused", Some(("INFO", 403))).await;
    check_line("info", "/quiet/slow", Some(("INFO", 200))).await;
    check_line("info", "/id", Some(("INFO", 200))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_quiet_answer_is_logged_like_a_quiet_route() {
    check_line("info", "/quiet/answer", None).await;
    check_line("debug", "/quiet/answer", Some(("DEBUG", 200))).await;
    check_line("info", "/quiet/answer/refused", Some(("INFO", 403))).await;
}
