//! `/healthz`, `/readyz` with real TCP dependency checks, and their failure modes.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use service_kit::{Health, ReadinessCheck};

use crate::support::{assert_problem, get, send};

/// A check timeout short enough for a quick test, long enough for a loopback connect.
const TEST_CHECK_TIMEOUT_MS: u64 = 500;

/// A real dependency check: can we open a TCP connection to `addr`?
fn tcp_check(name: &'static str, addr: SocketAddr) -> ReadinessCheck {
    ReadinessCheck::new(name, move || async move {
        tokio::net::TcpStream::connect(addr).await.map(drop)
    })
}

/// A dependency that accepts connections for as long as the listener lives.
async fn live_dependency() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    (listener, addr)
}

/// An address where nothing listens: bound, then released.
async fn dead_dependency() -> SocketAddr {
    let (listener, addr) = live_dependency().await;
    drop(listener);
    addr
}

fn health_app(checks: Vec<ReadinessCheck>) -> Router {
    let metrics = service_kit::install_metrics().expect("metrics recorder");
    let health = checks
        .into_iter()
        .fold(Health::new(metrics), Health::with_check)
        .with_check_timeout(Duration::from_millis(TEST_CHECK_TIMEOUT_MS));
    service_kit::layers::apply(health.router(), crate::support::limits())
}

/// Runs `/readyz` with `checks` and compares each check's reported status.
async fn check(checks: Vec<ReadinessCheck>, expected: &[(&str, &str)]) -> serde_json::Value {
    let reply = send(health_app(checks), get("/readyz")).await;
    let all_up = expected.iter().all(|(_, status)| *status == "up");
    let body = if all_up {
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["status"], "ready");
        body
    } else {
        assert_problem(&reply, StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let reported: Vec<(String, String)> = body["checks"]
        .as_object()
        .expect("checks is an object")
        .iter()
        .map(|(name, report)| {
            (
                name.clone(),
                report["status"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(reported, expected);
    body
}

#[tokio::test]
async fn healthz_is_200_while_serving() {
    let reply = send(health_app(Vec::new()), get("/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({ "status": "alive" }));
}

#[tokio::test]
async fn both_list_the_services_a_process_names() {
    let metrics = service_kit::install_metrics().expect("metrics recorder");
    let health = Health::new(metrics)
        .with_services(&["fare-validation", "settlement"])
        .with_check(ReadinessCheck::new("none", || async {
            Ok::<(), String>(())
        }));
    let app = service_kit::layers::apply(health.router(), crate::support::limits());
    let alive = send(app.clone(), get("/healthz")).await;
    assert_eq!(
        alive.json(),
        serde_json::json!({ "status": "alive", "services": ["fare-validation", "settlement"] })
    );
    let ready = send(app, get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(
        ready.json()["services"],
        serde_json::json!(["fare-validation", "settlement"])
    );
}

#[tokio::test]
async fn ready_when_every_dependency_answers() {
    let (_postgres, postgres_addr) = live_dependency().await;
    let (_redis, redis_addr) = live_dependency().await;
    check(
        vec![
            tcp_check("postgres", postgres_addr),
            tcp_check("redis", redis_addr),
        ],
        &[("postgres", "up"), ("redis", "up")],
    )
    .await;
}

#[tokio::test]
async fn not_ready_names_the_dependency_that_is_down() {
    let (_postgres, postgres_addr) = live_dependency().await;
    let body = check(
        vec![
            tcp_check("postgres", postgres_addr),
            tcp_check("redis", dead_dependency().await),
        ],
        &[("postgres", "up"), ("redis", "down")],
    )
    .await;
    assert_eq!(body["detail"], "Not ready: redis is down.");
}

#[tokio::test]
async fn a_hanging_check_times_out() {
    let hangs = ReadinessCheck::new("postgres", || async {
        std::future::pending::<Result<(), String>>().await
    });
    let started = std::time::Instant::now();
    let body = check(vec![hangs], &[("postgres", "timed_out")]).await;
    assert_eq!(
        body["detail"],
        format!("Not ready: postgres timed out after {TEST_CHECK_TIMEOUT_MS} ms.")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_panicking_check_is_down_not_a_crash() {
    crate::support::silence_deliberate_panics();
    let panics = ReadinessCheck::new("redis", || async {
        if true {
            panic!("{}", crate::support::DELIBERATE_PANIC);
        }
        Ok::<(), String>(())
    });
    check(vec![panics], &[("redis", "down")]).await;
}
