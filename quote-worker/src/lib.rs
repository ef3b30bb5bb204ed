//! `quote-worker`: answers quote requests on `quotes.rpc`.
//!
//! The same code runs as its own process against RabbitMQ (cluster mode)
//! and as a task inside `api` on the in-process broker (embedded mode).
//!
//! # Layout
//!
//! - [`handle_quote_request`]: the unit of work, one request to one reply.
//! - [`stooq`]: the stooq client and its CSV.
//! - [`QuoteWorker`]: the consume loop around it, built then run until
//!   stopped; a standalone one serves its metrics on `METRICS_ADDR`.

pub mod stooq;

use std::sync::Arc;

use platform::metrics::Metrics;
use platform::{ErrorCode, Settings};
use rpc::broker::Broker;
use rpc::messages::{Quote, QuoteRequest};
use rpc::{self, RpcFailure};
use tokio_util::sync::CancellationToken;

use crate::stooq::Stooq;

/// What handling a request needs.
#[derive(Clone)]
pub struct Context {
    pub stooq: Stooq,
    /// Where stooq's failures are counted.
    pub metrics: Arc<Metrics>,
}

impl Context {
    /// stooq at `STOOQ_BASE_URL`, given up on after `RPC_TIMEOUT_MS`: by
    /// then the caller has stopped waiting.
    pub fn from_settings(settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        Ok(Self {
            stooq: Stooq::new(
                settings.quotes.stooq_base_url.clone(),
                settings.broker.rpc_timeout,
            )?,
            metrics,
        })
    }
}

/// Answers one quote request from stooq. The broker runs up to the
/// prefetch count of these at once, so one slow answer from stooq holds up
/// nobody else.
pub async fn handle_quote_request(
    context: &Context,
    request: QuoteRequest,
) -> Result<Quote, RpcFailure> {
    let quote = match request {
        QuoteRequest::Get { symbol } => context.stooq.quote(&symbol).await,
    };
    if let Err(failure) = &quote {
        let kind = match failure.code {
            ErrorCode::UpstreamError => Some("error"),
            ErrorCode::UpstreamTimeout => Some("timeout"),
            _ => None,
        };
        if let Some(kind) = kind {
            context
                .metrics
                .upstream_errors
                .with_label_values(&["stooq", kind])
                .inc();
        }
    }
    quote
}

/// The consumer of `quotes.rpc`.
pub struct QuoteWorker {
    broker: Arc<dyn Broker>,
    context: Arc<Context>,
    prefetch: u16,
    /// Served on `METRICS_ADDR` by a standalone worker.
    metrics: Option<(std::net::TcpListener, Arc<Metrics>)>,
}

impl QuoteWorker {
    /// A standalone worker: connects to RabbitMQ at `AMQP_URL`, and serves
    /// its metrics on `METRICS_ADDR` if set.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let broker = rpc::for_worker(settings, "quote-worker", metrics.clone())?;
        let mut worker = Self::with_broker(broker, settings, metrics.clone())?;
        if let Some(addr) = settings.telemetry.metrics_addr {
            worker.metrics = Some((platform::metrics::bind(addr)?, metrics));
        }
        Ok(worker)
    }

    /// A worker on a broker the caller already has (the embedded mode),
    /// counting into the caller's metrics.
    pub fn with_broker(
        broker: Arc<dyn Broker>,
        settings: &Settings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            broker,
            context: Arc::new(Context::from_settings(settings, metrics)?),
            prefetch: settings.broker.worker_prefetch,
            metrics: None,
        })
    }

    /// Consumes until `shutdown`, then finishes the requests in hand.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let context = self.context;
        let consuming = rpc::serve(
            &*self.broker,
            self.prefetch,
            shutdown.clone(),
            move |request: QuoteRequest| {
                let context = context.clone();
                async move { handle_quote_request(&context, request).await }
            },
        );
        match self.metrics {
            None => consuming.await,
            Some((listener, metrics)) => {
                let serving = platform::metrics::serve(listener, metrics, shutdown);
                tokio::try_join!(consuming, serving).map(|_| ())
            }
        }
    }
}
