//! The Prometheus registry of a Mercato process.
//!
//! One [`Metrics`] per process (no global registry, so several apps in one
//! test process count apart). Each feature keeps its own series (a
//! [`Series`]: `rpc::metered::RpcSeries`, `api`'s ingestion, password and
//! HTTP series, `offer-poller`'s poll series) and registers them here once. `api` serves it on `/metrics` with its HTTP
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
//! | `backend_up` | `backend` | whether the last `/readyz` reached each backend (`api::app::health`) |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

pub use prometheus::core::Collector;
use prometheus::{Encoder, Opts, TextEncoder};
pub use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Registry,
};
use tokio_util::sync::CancellationToken;

/// Latency buckets, 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// See the module documentation.
pub struct Metrics {
    registry: Registry,
    /// Failed calls to a third party (`offers`, `stooq`), by `kind`:
    /// every worker calls out through [`crate::http`], so they share it.
    pub upstream_errors: IntCounterVec,
    /// Each feature's series, registered the first time it asks.
    series: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// The series of one feature, kept by the feature: it creates them and
/// registers them in the process's registry once, when first asked for
/// ([`Metrics::series`]).
pub trait Series: Send + Sync + 'static {
    fn register(registry: &Registry) -> Self;
}

/// A counter with labels, registered in `registry`.
pub fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter definition"),
    )
}

/// A counter without labels, registered in `registry`.
pub fn total(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("a valid counter definition"),
    )
}

/// A latency histogram with labels ([`LATENCY_BUCKETS`]), registered in `registry`.
pub fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )
        .expect("a valid histogram definition"),
    )
}

/// A gauge, registered in `registry`.
pub fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    registered(
        registry,
        Gauge::new(name, help).expect("a valid gauge definition"),
    )
}

/// `collector`, registered in `registry`.
pub fn registered<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("each series is registered once, by its feature");
    collector
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        Arc::new(Self {
            upstream_errors: counter(
                &registry,
                "upstream_errors_total",
                "Failed calls to third-party services",
                &["service", "kind"],
            ),
            registry,
            series: Mutex::default(),
        })
    }

    /// The series of type `S`, registered on first use: one instance per
    /// process, however many parts ask (in embedded mode the workers and
    /// `api` share the registry).
    pub fn series<S: Series>(&self) -> Arc<S> {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let series = all
            .entry(TypeId::of::<S>())
            .or_insert_with(|| Arc::new(S::register(&self.registry)))
            .clone();
        series
            .downcast::<S>()
            .expect("series are kept by their type")
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
