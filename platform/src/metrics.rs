//! The Prometheus metrics of a Mercato process, beyond HTTP requests.
//!
//! One [`Metrics`] per process (no global registry, so several apps in one
//! test process count apart). `api` serves it on `/metrics` with its HTTP
//! series; `quote-worker` and `offer-poller` serve it on `METRICS_ADDR`
//! ([`serve`]). In embedded mode the workers share `api`'s.
//!
//! | series | labels | what |
//! | --- | --- | --- |
//! | `rpc_calls_total`, `rpc_call_duration_seconds` | `queue`, `outcome` | RPCs sent: `replied` (a result or a coded failure), `timeout`, `unavailable` |
//! | `rpc_handled_total`, `rpc_handle_duration_seconds` | `queue`, `outcome` | RPCs a worker handled (`replied`, `rejected`) |
//! | `dedupe_claims_total` | `result` | feed-window claims: `claimed`, `duplicate`, `taken_over` (from an attempt that was never accepted), `unavailable` |
//! | `ingest_bytes_total` | — | feed bytes received in full |
//! | `ingest_feeds_total` | `outcome` | `accepted`, `duplicate`, `malformed`, `too_large`, `disk_full`, `unavailable`, `busy`, `failed` |
//! | `ingest_jobs_total` | `status` | ingest jobs finished: `done`, `failed` |
//! | `ingest_items_applied_total` | — | feed items applied to the catalog |
//! | `ingest_oldest_pending_age_seconds` | — | age of the oldest accepted feed not yet applied (0 when none): the stuck-job signal |
//! | `ingest_job_retries_total` | — | jobs put back after a failure that may pass |
//! | `offers_registrations_waiting` | — | products not yet registered with the Offers service |
//! | `offers_poll_pass_duration_seconds` | — | offer-poller passes that polled something |
//! | `offers_poll_lag_seconds` | — | how overdue the most overdue product is |
//! | `upstream_errors_total` | `service`, `kind` | failed calls to `offers` or `stooq` |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry, TextEncoder,
};
use tokio_util::sync::CancellationToken;

/// Latency buckets, 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// See the module documentation.
pub struct Metrics {
    registry: Registry,
    pub rpc_calls: IntCounterVec,
    pub rpc_call_seconds: HistogramVec,
    pub rpc_handled: IntCounterVec,
    pub rpc_handle_seconds: HistogramVec,
    pub dedupe_claims: IntCounterVec,
    pub ingest_bytes: IntCounter,
    pub ingest_feeds: IntCounterVec,
    pub ingest_jobs: IntCounterVec,
    pub ingest_items_applied: IntCounter,
    pub ingest_oldest_pending_seconds: Gauge,
    pub ingest_job_retries: IntCounter,
    pub registrations_waiting: Gauge,
    pub poll_pass_seconds: Histogram,
    pub poll_lag_seconds: Gauge,
    pub upstream_errors: IntCounterVec,
    /// Password checks by outcome: `verified`, `wrong`, `remembered` (a
    /// Basic credential verified lately, no argon2), `throttled` (429),
    /// `busy` (503).
    pub password_checks: IntCounterVec,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter definition")
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("a valid histogram definition")
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let metrics = Self {
            registry: Registry::new(),
            rpc_calls: counter(
                "rpc_calls_total",
                "RPCs sent, by outcome",
                &["queue", "outcome"],
            ),
            rpc_call_seconds: histogram(
                "rpc_call_duration_seconds",
                "RPC round trips, by outcome",
                &["queue", "outcome"],
            ),
            rpc_handled: counter(
                "rpc_handled_total",
                "RPCs handled by this worker",
                &["queue", "outcome"],
            ),
            rpc_handle_seconds: histogram(
                "rpc_handle_duration_seconds",
                "Time to handle one RPC",
                &["queue", "outcome"],
            ),
            dedupe_claims: counter(
                "dedupe_claims_total",
                "Feed dedupe-window claims, by result",
                &["result"],
            ),
            ingest_bytes: IntCounter::new("ingest_bytes_total", "Feed bytes received in full")
                .expect("a valid counter definition"),
            ingest_feeds: counter("ingest_feeds_total", "Feeds sent, by outcome", &["outcome"]),
            ingest_jobs: counter("ingest_jobs_total", "Ingest jobs finished", &["status"]),
            ingest_items_applied: IntCounter::new(
                "ingest_items_applied_total",
                "Feed items applied to the catalog",
            )
            .expect("a valid counter definition"),
            ingest_oldest_pending_seconds: Gauge::new(
                "ingest_oldest_pending_age_seconds",
                "Age of the oldest accepted feed not yet applied, 0 when none",
            )
            .expect("a valid gauge definition"),
            ingest_job_retries: IntCounter::new(
                "ingest_job_retries_total",
                "Ingest jobs put back after a failure that may pass",
            )
            .expect("a valid counter definition"),
            registrations_waiting: Gauge::new(
                "offers_registrations_waiting",
                "Products not yet registered with the Offers service",
            )
            .expect("a valid gauge definition"),
            poll_pass_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "offers_poll_pass_duration_seconds",
                    "offer-poller passes that polled something",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("a valid histogram definition"),
            poll_lag_seconds: Gauge::new(
                "offers_poll_lag_seconds",
                "How overdue the most overdue product's poll is",
            )
            .expect("a valid gauge definition"),
            upstream_errors: counter(
                "upstream_errors_total",
                "Failed calls to third-party services",
                &["service", "kind"],
            ),
            password_checks: counter(
                "auth_password_checks_total",
                "Password checks, by outcome",
                &["outcome"],
            ),
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 16] = [
            Box::new(metrics.password_checks.clone()),
            Box::new(metrics.rpc_calls.clone()),
            Box::new(metrics.rpc_call_seconds.clone()),
            Box::new(metrics.rpc_handled.clone()),
            Box::new(metrics.rpc_handle_seconds.clone()),
            Box::new(metrics.dedupe_claims.clone()),
            Box::new(metrics.ingest_bytes.clone()),
            Box::new(metrics.ingest_feeds.clone()),
            Box::new(metrics.ingest_jobs.clone()),
            Box::new(metrics.ingest_items_applied.clone()),
            Box::new(metrics.ingest_oldest_pending_seconds.clone()),
            Box::new(metrics.ingest_job_retries.clone()),
            Box::new(metrics.registrations_waiting.clone()),
            Box::new(metrics.poll_pass_seconds.clone()),
            Box::new(metrics.poll_lag_seconds.clone()),
            Box::new(metrics.upstream_errors.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("registered once");
        }
        Arc::new(metrics)
    }

    /// Where a process adds series of its own (the HTTP ones of `api`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything recorded so far, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// Binds a worker's metrics listener on `addr`, when the worker is built,
/// so a taken or bad `METRICS_ADDR` stops it at start.
pub fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("METRICS_ADDR: cannot listen on {addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `GET /metrics` and `GET /healthz` on a listener from [`bind`],
/// until `shutdown`.
pub async fn serve(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tracing::info!(addr = %listener.local_addr()?, "serving metrics");
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
