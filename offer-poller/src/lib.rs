//! `offer-poller`: registers products with the Offers service on request
//! (`offers.register`) and, with the catalog feature, keeps their offers
//! and price history fresh.
//!
//! The same code runs as its own process against RabbitMQ (cluster mode)
//! and as a task inside `api` on the in-process broker (embedded mode).
//!
//! # Layout
//!
//! - [`handle_offer_request`]: the unit of work, one request to one reply.
//! - [`OfferPoller`]: the consume loop around it, built then run until stopped.
//! - [`offers`]: the Offers service's client.
//! - [`token`]: its access token, fetched once per deployment.

pub mod offers;
pub mod token;

use std::sync::Arc;

use shared::broker::Broker;
use shared::messages::{OfferRequest, Registered};
use shared::rpc::{self, RpcFailure};
use shared::{ErrorCode, Settings};
use tokio_util::sync::CancellationToken;

/// What handling a request needs.
#[derive(Debug, Default)]
pub struct Context {}

/// Answers one registration request.
///
/// Calling the Offers service is the catalog feature's work; until it
/// lands every request is answered with a clear `UNAVAILABLE` failure,
/// which proves the wiring from caller to worker and back.
pub async fn handle_offer_request(
    _context: &Context,
    request: OfferRequest,
) -> Result<Registered, RpcFailure> {
    match request {
        OfferRequest::Register { product_id } => Err(RpcFailure::new(
            ErrorCode::Unavailable,
            format!("product registration is not available yet (asked for {product_id})"),
        )),
    }
}

/// The consumer of `offers.register`.
pub struct OfferPoller {
    broker: Arc<dyn Broker>,
    context: Arc<Context>,
    prefetch: u16,
}

impl OfferPoller {
    /// A standalone poller: connects to RabbitMQ at `AMQP_URL`.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self::with_broker(
            shared::broker::for_worker(settings, "offer-poller")?,
            settings,
        ))
    }

    /// A poller on a broker the caller already has (the embedded mode).
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
            move |request: OfferRequest| {
                let context = context.clone();
                async move { handle_offer_request(&context, request).await }
            },
        )
        .await
    }
}
