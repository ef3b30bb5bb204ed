//! A [`Broker`] that counts and times every call it sends and every
//! request it serves, into the [`RpcSeries`] of the process's [`Metrics`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, Handled, RpcHandler, TransportError};
use platform::metrics::{self, HistogramVec, IntCounterVec, Metrics, Registry, Series};

/// The RPC series: `rpc_calls_total` and `rpc_call_duration_seconds` by
/// queue and outcome (`replied`, `timeout`, `unavailable`) on the calling
/// side; `rpc_handled_total` and `rpc_handle_duration_seconds` (`replied`,
/// `rejected`) on the worker side.
pub struct RpcSeries {
    calls: IntCounterVec,
    call_seconds: HistogramVec,
    handled: IntCounterVec,
    handle_seconds: HistogramVec,
}

impl Series for RpcSeries {
    fn register(registry: &Registry) -> Self {
        let labels = &["queue", "outcome"];
        Self {
            calls: metrics::counter(registry, "rpc_calls_total", "RPCs sent, by outcome", labels),
            call_seconds: metrics::histogram(
                registry,
                "rpc_call_duration_seconds",
                "RPC round trips, by outcome",
                labels,
            ),
            handled: metrics::counter(
                registry,
                "rpc_handled_total",
                "RPCs handled by this worker",
                labels,
            ),
            handle_seconds: metrics::histogram(
                registry,
                "rpc_handle_duration_seconds",
                "Time to handle one RPC",
                labels,
            ),
        }
    }
}

/// See the module documentation.
pub struct MeteredBroker {
    inner: Arc<dyn Broker>,
    series: Arc<RpcSeries>,
}

impl MeteredBroker {
    pub fn new(inner: Arc<dyn Broker>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            series: metrics.series(),
        }
    }
}

#[async_trait]
impl Broker for MeteredBroker {
    async fn call(
        &self,
        queue: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let started = Instant::now();
        let outcome = self.inner.call(queue, request, timeout).await;
        let label = match &outcome {
            Ok(_) => "replied",
            Err(TransportError::Timeout { .. }) => "timeout",
            Err(TransportError::Unavailable(_)) => "unavailable",
        };
        self.series.calls.with_label_values(&[queue, label]).inc();
        self.series
            .call_seconds
            .with_label_values(&[queue, label])
            .observe(started.elapsed().as_secs_f64());
        outcome
    }

    async fn serve(
        &self,
        queue: &str,
        handler: Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let handler = Arc::new(MeteredHandler {
            inner: handler,
            queue: queue.to_owned(),
            series: self.series.clone(),
        });
        self.inner.serve(queue, handler, prefetch, shutdown).await
    }

    async fn check(&self) -> Result<(), TransportError> {
        self.inner.check().await
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

struct MeteredHandler {
    inner: Arc<dyn RpcHandler>,
    queue: String,
    series: Arc<RpcSeries>,
}

#[async_trait]
impl RpcHandler for MeteredHandler {
    async fn handle(&self, request: &[u8]) -> Handled {
        let started = Instant::now();
        let handled = self.inner.handle(request).await;
        let label = match &handled {
            Handled::Reply(_) => "replied",
            Handled::Rejected { .. } => "rejected",
        };
        self.series
            .handled
            .with_label_values(&[self.queue.as_str(), label])
            .inc();
        self.series
            .handle_seconds
            .with_label_values(&[self.queue.as_str(), label])
            .observe(started.elapsed().as_secs_f64());
        handled
    }
}
