//! Telemetry set up once per process: the tracing subscriber and the Prometheus recorder.
//!
//! Both are process-global. [`init_tracing`] reports a second call as an error the caller
//! may ignore; [`install_metrics`] returns the same handle on every call, so tests and
//! several services in one process can all ask for it.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{Format, Json};
use tracing_subscriber::registry::LookupSpan;

use crate::json_fields::FastJsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogFormat, LogSettings};

/// Requests served, by `method`, `route` (the template, not the raw path) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";

/// Request latency in seconds, by `method` and `route`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";

/// Histogram buckets in seconds: fine around the 20 ms tap budget, coarse up to the 10 s
/// request timeout, so both the hot path and slow uploads are visible.
const LATENCY_BUCKETS_S: [f64; 13] = [
    0.001, 0.002_5, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into buckets. Without upkeep they pile up between
/// scrapes; 5 s keeps that pile small at thousands of requests a second.
pub const METRICS_UPKEEP_INTERVAL_S: u64 = 5;

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("a global tracing subscriber is already installed")]
    TracingAlreadySet,
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("the Prometheus recorder could not be installed: {0}")]
    Metrics(#[from] BuildError),
    #[error("the metrics upkeep thread could not start: {0}")]
    Upkeep(#[from] std::io::Error),
}

/// Installs the global tracing subscriber: JSON lines or pretty text, filtered by the
/// settings' filter (from `OT_LOG` or `RUST_LOG`).
///
/// # Errors
/// [`TelemetryError::TracingAlreadySet`] on a second call; the first subscriber stays.
pub fn init_tracing(log: &LogSettings) -> Result<(), TelemetryError> {
    let filter = EnvFilter::builder().parse(log.filter.as_str())?;
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match log.format {
        LogFormat::Json => registry.with(json_layer(std::io::stdout)).try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    installed.map_err(|_| TelemetryError::TracingAlreadySet)
}

/// The JSON-lines layer `init_tracing` installs, writing to `writer`: one object per
/// event, its fields flattened, the current span's fields under `span` (written by
/// [`FastJsonFields`]). Tests that check log lines build their subscriber with it, so they
/// see what production writes.
pub fn json_layer<S, W>(writer: W) -> JsonLayer<S, W>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .fmt_fields(FastJsonFields)
        .with_writer(writer)
}

/// The type of [`json_layer`].
pub type JsonLayer<S, W> = tracing_subscriber::fmt::Layer<S, FastJsonFields, Format<Json>, W>;

static METRICS_HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// Serialises the first installation so two racing callers cannot both try.
static METRICS_INSTALL: Mutex<()> = Mutex::new(());

/// Installs the global Prometheus recorder once and returns its handle (the same one on
/// every call). Also starts the upkeep thread that keeps histograms bounded.
///
/// # Errors
/// When another metrics recorder was installed by someone else, or the thread cannot start.
pub fn install_metrics() -> Result<PrometheusHandle, TelemetryError> {
    if let Some(handle) = METRICS_HANDLE.get() {
        return Ok(handle.clone());
    }
    let _guard = METRICS_INSTALL
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = METRICS_HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()),
            &LATENCY_BUCKETS_S,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(METRICS_UPKEEP_INTERVAL_S));
                upkeep.run_upkeep();
            }
        })?;
    Ok(METRICS_HANDLE.get_or_init(|| handle).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::LogFilter;

    #[test]
    fn install_metrics_twice_returns_the_same_recorder() {
        let first = install_metrics().expect("first install");
        let second = install_metrics().expect("second install is not an error");
        metrics::counter!("service_kit_test_twice_total").increment(3);
        // Both handles render the one global recorder, so both see the counter.
        assert!(first.render().contains("service_kit_test_twice_total 3"));
        assert!(second.render().contains("service_kit_test_twice_total 3"));
    }

    #[test]
    fn init_tracing_twice_reports_the_second_call() {
        let log = LogSettings {
            format: LogFormat::Json,
            filter: LogFilter::parse("off").expect("valid filter"),
        };
        // Another test may have installed one first; either way the second call fails.
        let _first = init_tracing(&log);
        assert!(matches!(
            init_tracing(&log),
            Err(TelemetryError::TracingAlreadySet)
        ));
    }
}
