//! Liveness, readiness and metrics endpoints.
//!
//! - `GET /healthz`: 200 whenever the process serves HTTP (liveness: restart me if not).
//! - `GET /readyz`: runs every readiness check concurrently, each bounded by a timeout;
//!   200 `{"status":"ready","checks":{…}}` when all pass, else 503 problem+json
//!   (`not_ready`) naming what is down (readiness: send me traffic or not).
//! - `GET /metrics`: the Prometheus text exposition, with the standard process metrics
//!   ([`crate::process`]: CPU seconds, resident memory, open fds, threads).
//!
//! **Boundary**: checks are named closures supplied by the binary (`"postgres"` runs
//! `SELECT 1`, `"redis"` runs `PING`), so this crate knows nothing of sqlx or redis.
//! Failure causes are logged, not returned: `/readyz` may be reachable from outside.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::problem::{ErrorChain, Problem, types};

/// Below Kubernetes' default probe timeout of 1 s, so a hung dependency yields a 503 that
/// names it rather than a probe timeout that names nothing.
pub const DEFAULT_CHECK_TIMEOUT_MS: u64 = 800;

/// The content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One named dependency check, e.g. `"postgres"` → `SELECT 1`.
#[derive(Clone)]
pub struct ReadinessCheck {
    name: &'static str,
    run: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl fmt::Debug for ReadinessCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadinessCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ReadinessCheck {
    /// A check that passes when `check()` resolves to `Ok`. Its error (with its cause
    /// chain) is logged, never shown to clients.
    pub fn new<F, Fut, E>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        Self {
            name,
            run: Arc::new(move || {
                let future = check();
                Box::pin(async move {
                    future.await.map_err(|e| {
                        let error: Box<dyn StdError + Send + Sync + 'static> = e.into();
                        ErrorChain(&*error).to_string()
                    })
                })
            }),
        }
    }

    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The outcome of one check, as reported by `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Up,
    Down,
    TimedOut,
}

/// One check's line in the `/readyz` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub status: CheckStatus,
    pub latency_ms: u64,
}

/// The health endpoints' configuration: readiness checks and the metrics handle.
#[derive(Clone)]
pub struct Health {
    checks: Vec<ReadinessCheck>,
    check_timeout: Duration,
    metrics: PrometheusHandle,
    services: Vec<&'static str>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("checks", &self.checks)
            .field("check_timeout", &self.check_timeout)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Health {
    /// No checks yet, the default timeout, and the handle from [`crate::install_metrics`].
    #[must_use]
    pub fn new(metrics: PrometheusHandle) -> Self {
        Self {
            checks: Vec::new(),
            check_timeout: Duration::from_millis(DEFAULT_CHECK_TIMEOUT_MS),
            metrics,
            services: Vec::new(),
        }
    }

    /// Names the services this process runs: `/healthz` and `/readyz` list
    /// them (`"services": […]`), so an operator of a split deployment sees
    /// which process answered. Without it the bodies have no such field.
    #[must_use]
    pub fn with_services(mut self, services: &[&'static str]) -> Self {
        self.services = services.to_vec();
        self
    }

    /// Adds a check.
    ///
    /// # Panics
    /// When a check of the same name exists: names are literals chosen by the binary, and
    /// two of them would hide each other in the report.
    #[must_use]
    pub fn with_check(mut self, check: ReadinessCheck) -> Self {
        assert!(
            self.checks.iter().all(|c| c.name != check.name),
            "readiness check {:?} added twice",
            check.name
        );
        self.checks.push(check);
        self
    }

    /// Overrides the per-check timeout.
    #[must_use]
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// The `/healthz`, `/readyz` and `/metrics` routes, to merge into the service router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(Arc::new(self))
    }

    /// Runs every check concurrently and reports each by name.
    pub async fn run_checks(&self) -> BTreeMap<&'static str, CheckReport> {
        let mut set = JoinSet::new();
        let mut names = HashMap::new();
        for check in &self.checks {
            let run = Arc::clone(&check.run);
            let timeout = self.check_timeout;
            let name = check.name;
            let handle = set.spawn(async move {
                let started = Instant::now();
                let outcome = tokio::time::timeout(timeout, run()).await;
                let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let status = match outcome {
                    Ok(Ok(())) => CheckStatus::Up,
                    Ok(Err(error)) => {
                        tracing::warn!(check = name, %error, "readiness check failed");
                        CheckStatus::Down
                    }
                    Err(_elapsed) => {
                        tracing::warn!(check = name, latency_ms, "readiness check timed out");
                        CheckStatus::TimedOut
                    }
                };
                CheckReport { status, latency_ms }
            });
            names.insert(handle.id(), name);
        }
        let mut reports = BTreeMap::new();
        while let Some(joined) = set.join_next_with_id().await {
            let (id, report) = match joined {
                Ok((id, report)) => (id, report),
                Err(error) => {
                    tracing::error!(%error, "readiness check panicked");
                    let report = CheckReport {
                        status: CheckStatus::Down,
                        latency_ms: 0,
                    };
                    (error.id(), report)
                }
            };
            if let Some(name) = names.get(&id) {
                reports.insert(*name, report);
            }
        }
        reports
    }
}

async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let mut body = serde_json::json!({ "status": "alive" });
    health.describe(&mut body);
    axum::Json(body)
}

impl Health {
    /// Adds `"services"` to a body when the process named them.
    fn describe(&self, body: &mut serde_json::Value) {
        if !self.services.is_empty()
            && let Some(object) = body.as_object_mut()
        {
            object.insert("services".to_owned(), serde_json::json!(self.services));
        }
    }
}

async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let reports = health.run_checks().await;
    let failing: Vec<String> = reports
        .iter()
        .filter_map(|(name, report)| match report.status {
            CheckStatus::Up => None,
            CheckStatus::Down => Some(format!("{name} is down")),
            CheckStatus::TimedOut => Some(format!(
                "{name} timed out after {} ms",
                health.check_timeout.as_millis()
            )),
        })
        .collect();
    let checks = serde_json::json!(reports);
    if failing.is_empty() {
        let mut body = serde_json::json!({ "status": "ready", "checks": checks });
        health.describe(&mut body);
        axum::Json(body).into_response()
    } else {
        let mut extensions = serde_json::Map::new();
        extensions.insert("checks".to_owned(), checks);
        if !health.services.is_empty() {
            extensions.insert("services".to_owned(), serde_json::json!(health.services));
        }
        Problem::new(
            types::NOT_READY,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Not ready: {}.", failing.join(", ")),
            extensions,
        )
        .into_response()
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
    let mut text = health.metrics.render();
    if let Some(stats) = crate::process::read_self() {
        crate::process::render(&stats, &mut text);
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    response
}
