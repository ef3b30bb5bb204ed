//! Request/reply messaging between the API and the workers.
//!
//! [`Broker`] moves bytes: [`Broker::call`] sends a request to a named queue
//! and waits, up to a timeout, for its reply; [`Broker::serve`] hands each
//! request on a queue to an [`RpcHandler`] and sends back what it returns.
//! Two implementations:
//!
//! - [`AmqpBroker`](crate::AmqpBroker): RabbitMQ with direct reply-to, correlation ids,
//!   publisher confirms, per-message expiration and reconnection.
//! - [`InProcessBroker`](crate::InProcessBroker): channels inside one process, for the embedded mode.
//!
//! [`MeteredBroker`](crate::MeteredBroker) wraps either, counting and timing calls and requests.
//!
//! Typed requests and replies, and the errors only they can have (a coded
//! failure, an undecodable reply), live one layer up, in [`crate::typed`].

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// Why a call got no reply: the transport's failures, the only ones a
/// broker can have.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No reply within the caller's timeout (the API answers 504).
    #[error("no reply from {queue} within {timeout:?}")]
    Timeout { queue: String, timeout: Duration },
    /// The broker cannot be reached or refused the request (the API answers 503).
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
}

/// What a handler made of one request.
#[derive(Debug)]
pub enum Handled {
    /// Send this reply.
    Reply(Vec<u8>),
    /// The request did not decode: send `reply` (a coded failure) so the
    /// caller does not wait for nothing, and dead-letter the request.
    Rejected { reply: Vec<u8>, reason: String },
}

/// The work behind one queue. Called concurrently, up to the prefetch count.
#[async_trait]
pub trait RpcHandler: Send + Sync + 'static {
    async fn handle(&self, request: &[u8]) -> Handled;
}

/// Request/reply transport; see the module documentation.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Sends `request` to `queue` and waits for the reply. A request still
    /// queued when `timeout` runs out is dropped, so no worker spends time
    /// on a caller that has left.
    async fn call(
        &self,
        queue: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError>;

    /// Consumes `queue` until `shutdown`, running up to `prefetch` requests
    /// at once. Connection losses are retried here, forever; on shutdown the
    /// requests in hand are finished and acknowledged before it returns.
    async fn serve(
        &self,
        queue: &str,
        handler: std::sync::Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>;

    /// Whether calls can be sent right now (for `/readyz`).
    async fn check(&self) -> Result<(), TransportError>;

    /// A short name for logs and `/readyz`: `rabbitmq` or `in-process`.
    fn kind(&self) -> &'static str;
}

/// The queue that receives what a consumer of `queue` could not decode.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}
