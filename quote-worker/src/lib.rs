//! `quote-worker`: answers quote requests on `quotes.rpc`.
//!
//! The same code runs as its own process against RabbitMQ (cluster mode)
//! and as a task inside `api` on the in-process broker (embedded mode).
//!
//! # Layout
//!
//! - [`handle_quote_request`]: the unit of work, one request to one reply.
//! - [`QuoteWorker`]: the consume loop around it, built then run until stopped.

use std::sync::Arc;

use shared::broker::Broker;
use shared::messages::{Quote, QuoteRequest};
use shared::rpc::{self, RpcFailure};
use shared::{ErrorCode, Settings};
use tokio_util::sync::CancellationToken;

/// What handling a request needs.
#[derive(Debug, Default)]
pub struct Context {}

/// Answers one quote request.
///
/// Fetching from stooq is the stock-quotes feature's work; until it lands
/// every request is answered with a clear `UNAVAILABLE` failure, which
/// proves the wiring from caller to worker and back.
pub async fn handle_quote_request(
    _context: &Context,
    request: QuoteRequest,
) -> Result<Quote, RpcFailure> {
    match request {
        QuoteRequest::Get { symbol } => Err(RpcFailure::new(
            ErrorCode::Unavailable,
            format!("stock quotes are not available yet (asked for {symbol})"),
        )),
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
        Ok(Self::with_broker(
            shared::broker::for_worker(settings, "quote-worker")?,
            settings,
        ))
    }

    /// A worker on a broker the caller already has (the embedded mode).
    pub fn with_broker(broker: Arc<dyn Broker>, settings: &Settings) -> Self {
        Self {
            broker,
            context: Arc::new(Context::default()),
            prefetch: settings.worker_prefetch,
        }
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
