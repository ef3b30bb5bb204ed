//! Request metrics in the Prometheus text format, served on `/metrics`
//! with the rest of the process's series ([`platform::metrics`]).
//!
//! Each application has its own registry (no global state), so several
//! apps in one test process count separately.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::metrics::{LATENCY_BUCKETS, Metrics};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

/// Counts and latencies of HTTP requests by method, route and status,
/// kept in the process's [`Metrics`].
pub struct HttpMetrics {
    /// The process's other series: RPC, dedupe window, ingestion, workers.
    pub process: Arc<Metrics>,
    requests: IntCounterVec,
    latency: HistogramVec,
}

/// The label of requests that matched no route, so random paths cannot
/// create unbounded label values.
const UNMATCHED: &str = "unmatched";

impl HttpMetrics {
    pub fn new(process: Arc<Metrics>) -> Self {
        let labels = ["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &labels,
        )
        .expect("a valid counter definition");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &labels,
        )
        .expect("a valid histogram definition");
        let registry = process.registry();
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(latency.clone()))
            .expect("registered once");
        Self {
            process,
            requests,
            latency,
        }
    }

    /// Everything the process recorded so far, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.process.render()
    }
}

/// Middleware recording every request. Layered with `Router::layer`, it
/// sees the matched route template (`/products/{id}`), not the raw path.
pub async fn track(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [method, route.as_str(), status.as_str()];
    metrics.requests.with_label_values(&labels).inc();
    metrics
        .latency
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: one of the standard methods, else `other`, so
/// made-up methods cannot create unbounded label values (20,000 of them
/// once grew `/metrics` to 92 MB).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `GET /metrics`
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn render(State(metrics): State<Arc<HttpMetrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}
