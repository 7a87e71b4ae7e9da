//! The layers every router gets: request id, tracing span, metrics, timeout, panic catching,
//! body limit, and problem+json for every error response.
//!
//! [`apply`] is called once on the composed router, after all routes are added (axum applies
//! a layer only to the routes present). From the outside in:
//!
//! 1. **observe**: takes or makes the request id, opens the span (`method`, `route`,
//!    `request_id`, then `status`, `latency_ms`), enforces the request timeout, counts the
//!    request, and on the way out turns every error response into problem+json carrying the
//!    request id. Bodies and headers (so auth headers) are never logged. One line per
//!    request at `info` (`warn` for 5xx), except on hot routes marked [`quiet_when_ok`]
//!    (or whose handler answers [`Quiet`]): there a fast success is logged at `debug`
//!    (thousands a second; the metrics still count every one), and errors and requests
//!    slower than [`SLOW_REQUEST_MS`] at `info`.
//! 2. **catch panic**: a panicking handler becomes a logged 500 problem, not a dropped
//!    connection.
//! 3. **body limit**: `DefaultBodyLimit`, honoured by the body extractors. A router that needs
//!    more (journal uploads) adds its own `DefaultBodyLimit::max(n)` layer before being
//!    merged; the innermost limit wins. A handler that reads its body itself uses
//!    [`crate::problem::read_body`] with its own limit.
//!
//! Steps 1 and 2 are one hand-written layer (`ObserveLayer`), step 3 is axum's.

use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use tower::{Layer, Service, ServiceBuilder};
use tracing::Instrument;
use tracing::field::Empty;

use crate::problem::{
    ApiError, PROBLEM_JSON, Problem, method_not_allowed_fallback, not_found_fallback,
};
use crate::request_id::{REQUEST_ID_HEADER, RequestId};
use crate::settings::HttpLimits;
use crate::telemetry::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL};

/// [`REQUEST_ID_HEADER`] as a header name: looking a header up by text parses the text
/// again on every request.
static REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// The `route` label of requests that matched no route: one value, so scanners probing
/// random paths cannot blow up the metrics' cardinality.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A request slower than this is logged at `info` even on a quiet route, in ms: five times
/// the tap path's 20 ms p99 budget, so such a line always means something went wrong.
pub const SLOW_REQUEST_MS: u64 = 100;

/// The response mark of a quiet route (see [`quiet_when_ok`]).
#[derive(Clone, Copy, Debug)]
pub struct QuietWhenOk;

/// A route layer for hot routes (taps, gates): their fast successful requests are logged
/// at `debug` instead of `info`. A JSON line per tap cost about a tenth of the tap path's
/// CPU; the request metrics still count every request, and errors and slow requests are
/// still logged at `info`/`warn`.
#[must_use]
pub fn quiet_when_ok() -> tower::util::MapResponseLayer<fn(Response) -> Response> {
    tower::util::MapResponseLayer::new(mark_quiet)
}

fn mark_quiet(mut response: Response) -> Response {
    response.extensions_mut().insert(QuietWhenOk);
    response
}

/// [`quiet_when_ok`] as a handler's answer instead of a route layer: `Quiet(answer)`. The
/// hottest routes use it, because each layer on a route is one more boxed service that axum
/// clones, with everything beneath it, on every request.
#[derive(Debug, Clone, Copy)]
pub struct Quiet<T>(pub T);

impl<T: IntoResponse> IntoResponse for Quiet<T> {
    fn into_response(self) -> Response {
        mark_quiet(self.0.into_response())
    }
}

/// Adds the fallbacks (404, 405) and the common layers to a fully composed router.
///
/// Call it last: routes added afterwards would miss the layers. It sets the router's
/// fallback, so services must not set their own.
pub fn apply(router: Router, limits: HttpLimits) -> Router {
    router
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(
            ServiceBuilder::new()
                .layer(ObserveLayer {
                    observe: Observe {
                        limits,
                        metrics: Arc::new(RequestMetrics::default()),
                    },
                })
                .layer(DefaultBodyLimit::max(limits.max_body_bytes)),
        )
}

/// Steps 1 and 2 of the module docs (observe, catch panic) as one hand-written layer.
///
/// axum applies a router's layers to each route, and every level of boxed service a route
/// has is cloned on each request at every level below it (`Route::call` clones its service)
/// and boxes its future: `middleware::from_fn` plus `CatchPanicLayer` cost about ten
/// allocations a request on the tap route. This is one level with one boxed future.
#[derive(Clone)]
struct ObserveLayer {
    observe: Observe,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            observe: self.observe.clone(),
        }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Clone)]
struct ObserveService<S> {
    inner: S,
    observe: Observe,
}

impl<S> Service<Request> for ObserveService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = RequestId::from_header_or_generate(req.headers().get(&REQUEST_ID));
        req.extensions_mut().insert(request_id.clone());
        let method = method_label(req.method());
        // A clone of the matched path shares its text (no allocation per request).
        let matched = req.extensions().get::<MatchedPath>().cloned();
        // `poll_ready` was called, as the service contract asks; a panic while making the
        // handler's future is answered like one while running it, inside the span below.
        let called = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req)));
        Box::pin(observe(
            self.observe.clone(),
            Observed {
                started,
                request_id,
                method,
                matched,
            },
            called,
        ))
    }
}

/// What [`ObserveService::call`] learnt of the request before handing it on.
struct Observed {
    started: Instant,
    request_id: RequestId,
    method: &'static str,
    matched: Option<MatchedPath>,
}

/// The state of [`observe`]: the limits and the metric handles it made.
#[derive(Clone)]
struct Observe {
    limits: HttpLimits,
    metrics: Arc<RequestMetrics>,
}

/// The request counter and latency histogram of each (route, method,
/// status) seen, registered once: looking a labelled metric up in the
/// recorder allocates its key and takes the registry's lock on every call,
/// a cost paid thousands of times a second on the tap route. Bounded: the
/// route is a matched path or [`UNMATCHED_ROUTE`], the method one of
/// [`method_label`]'s, the status a valid code.
#[derive(Default)]
struct RequestMetrics {
    // Keyed by matched routes (the router's own texts), so the fast hasher is safe.
    by_route: RwLock<HashMap<String, Vec<RouteMetric>, foldhash::fast::RandomState>>,
}

#[derive(Clone)]
struct RouteMetric {
    method: &'static str,
    status: u16,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RequestMetrics {
    fn record(&self, route: &str, method: &'static str, status: StatusCode, elapsed: Duration) {
        let code = status.as_u16();
        let found = self
            .by_route
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
            .and_then(|known| {
                known
                    .iter()
                    .find(|m| m.method == method && m.status == code)
                    .cloned()
            });
        let metric = found.unwrap_or_else(|| {
            let metric = RouteMetric {
                method,
                status: code,
                requests: metrics::counter!(
                    HTTP_REQUESTS_TOTAL,
                    "method" => method,
                    "route" => route.to_owned(),
                    "status" => status.as_str().to_owned(),
                ),
                duration: metrics::histogram!(
                    HTTP_REQUEST_DURATION_SECONDS,
                    "method" => method,
                    "route" => route.to_owned()
                ),
            };
            self.by_route
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(route.to_owned())
                .or_default()
                .push(metric.clone());
            metric
        });
        metric.requests.increment(1);
        metric.duration.record(elapsed.as_secs_f64());
    }
}

async fn observe<F>(
    observe: Observe,
    observed: Observed,
    called: Result<F, Box<dyn Any + Send + 'static>>,
) -> Result<Response, Infallible>
where
    F: Future<Output = Result<Response, Infallible>> + Send,
{
    let Observed {
        started,
        request_id,
        method,
        matched,
    } = observed;
    let limits = observe.limits;
    let route = matched
        .as_ref()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        method,
        // As `&str`s, not `%` (Display): recorded as text without the
        // formatting machinery.
        route,
        request_id = request_id.as_str(),
        status = Empty,
        latency_ms = Empty,
    );

    let handled = async move {
        match called {
            Ok(future) => match AssertUnwindSafe(future).catch_unwind().await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(panic) => panic_response(panic),
            },
            Err(panic) => panic_response(panic),
        }
    };
    let outcome = tokio::time::timeout(limits.request_timeout, handled)
        .instrument(span.clone())
        .await;
    let response = match outcome {
        Ok(response) => response,
        Err(_elapsed) => {
            let limit_ms = u64::try_from(limits.request_timeout.as_millis()).unwrap_or(u64::MAX);
            span.in_scope(|| tracing::warn!(limit_ms, "request timed out; handler abandoned"));
            ApiError::Timeout { limit_ms }.into_response()
        }
    };
    let mut response = as_problem_with_id(response, &request_id);
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), request_id.header_value());

    let status = response.status();
    let elapsed = started.elapsed();
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let quiet = response.extensions().get::<QuietWhenOk>().is_some()
        && !(status.is_client_error() || status.is_server_error())
        && latency_ms <= SLOW_REQUEST_MS;
    // Recording into the span re-formats its fields: skip it when no line is written.
    if !quiet || tracing::enabled!(tracing::Level::DEBUG) {
        span.record("status", status.as_u16());
        span.record("latency_ms", latency_ms);
        span.in_scope(|| {
            if status.is_server_error() {
                tracing::warn!("request failed");
            } else if quiet {
                tracing::debug!("request finished");
            } else {
                tracing::info!("request finished");
            }
        });
    }
    observe.metrics.record(route, method, status, elapsed);
    Ok(response)
}

/// Stamps the request id into a problem body, and turns any other error response (axum's
/// plain-text rejections, a bare status from a handler) into the generic problem of its
/// status. Headers such as `Allow` or `Retry-After` are kept.
fn as_problem_with_id(response: Response, request_id: &RequestId) -> Response {
    let status = response.status();
    let problem = match response.extensions().get::<Problem>() {
        Some(problem) => problem.clone(),
        None if (status.is_client_error() || status.is_server_error())
            && !is_problem_json(&response) =>
        {
            Problem::for_status(status)
        }
        None => return response,
    };
    let problem = Problem {
        request_id: Some(request_id.to_string()),
        ..problem
    };
    let (mut parts, _old_body) = response.into_parts();
    let (fresh, body) = problem.into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.extensions.extend(fresh.extensions);
    Response::from_parts(parts, body)
}

fn is_problem_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
}

/// The `method` label: standard methods by name, anything else as one value, again to keep
/// cardinality bounded.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Logs a handler's panic (inside the request span, so with its request id) and answers 500.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(panic payload is not text)");
    tracing::error!(panic.message = message, "handler panicked");
    Problem::internal().into_response()
}
