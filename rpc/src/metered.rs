//! A [`Broker`] that counts and times every call it sends and every
//! request it serves, into the process's [`Metrics`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, Handled, RpcHandler, TransportError};
use platform::metrics::Metrics;

/// See the module documentation.
pub struct MeteredBroker {
    inner: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
}

impl MeteredBroker {
    pub fn new(inner: Arc<dyn Broker>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
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
        self.metrics
            .rpc_calls
            .with_label_values(&[queue, label])
            .inc();
        self.metrics
            .rpc_call_seconds
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
            metrics: self.metrics.clone(),
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
    metrics: Arc<Metrics>,
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
        self.metrics
            .rpc_handled
            .with_label_values(&[self.queue.as_str(), label])
            .inc();
        self.metrics
            .rpc_handle_seconds
            .with_label_values(&[self.queue.as_str(), label])
            .observe(started.elapsed().as_secs_f64());
        handled
    }
}
