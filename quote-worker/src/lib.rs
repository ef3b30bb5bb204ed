//! `quote-worker`: answers quote requests on `quotes.rpc`.
//!
//! The same code runs as its own process against RabbitMQ (cluster mode)
//! and as a task inside `api` on the in-process broker (embedded mode).
//!
//! # Layout
//!
//! - [`handle_quote_request`]: the unit of work, one request to one reply.
//! - [`stooq`]: the stooq client and its CSV.
//! - [`QuoteWorker`]: the consume loop around it, built then run until stopped.

pub mod stooq;

use std::sync::Arc;

use shared::Settings;
use shared::broker::Broker;
use shared::messages::{Quote, QuoteRequest};
use shared::rpc::{self, RpcFailure};
use tokio_util::sync::CancellationToken;

use crate::stooq::Stooq;

/// What handling a request needs.
#[derive(Debug, Clone)]
pub struct Context {
    pub stooq: Stooq,
}

impl Context {
    /// stooq at `STOOQ_BASE_URL`, given up on after `RPC_TIMEOUT_MS`: by
    /// then the caller has stopped waiting.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            stooq: Stooq::new(settings.stooq_base_url.clone(), settings.rpc_timeout)?,
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
    match request {
        QuoteRequest::Get { symbol } => context.stooq.quote(&symbol).await,
    }
}

/// The consumer of `quotes.rpc`.
pub struct QuoteWorker {
    broker: Arc<dyn Broker>,
    context: Arc<Context>,
    prefetch: u16,
}

impl QuoteWorker {
    /// A standalone worker: connects to RabbitMQ at `AMQP_URL`.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::with_broker(
            shared::broker::for_worker(settings, "quote-worker")?,
            settings,
        )
    }

    /// A worker on a broker the caller already has (the embedded mode).
    pub fn with_broker(broker: Arc<dyn Broker>, settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            broker,
            context: Arc::new(Context::from_settings(settings)?),
            prefetch: settings.worker_prefetch,
        })
    }

    /// Consumes until `shutdown`, then finishes the requests in hand.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let context = self.context;
        rpc::serve(
            &*self.broker,
            self.prefetch,
            shutdown,
            move |request: QuoteRequest| {
                let context = context.clone();
                async move { handle_quote_request(&context, request).await }
            },
        )
        .await
    }
}
