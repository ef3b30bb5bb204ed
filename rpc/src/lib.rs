//! Request/reply messaging between Mercato's processes: the API calls,
//! `quote-worker` and `offer-poller` answer.
//!
//! Two layers. [`broker`] moves bytes, over RabbitMQ or inside one process,
//! and its only errors are the transport's (a timeout, the broker
//! unavailable). [`typed`] puts requests and replies on top: a request type
//! names its queue and its reply, and a worker's coded failure comes back
//! as [`CallError::Failed`], whose code the API answers with.
//!
//! # Layout
//!
//! - [`broker`]: the [`Broker`] trait: bytes in, bytes
//!   out, and the transport's errors.
//! - [`amqp`]: the broker over RabbitMQ: its caller side and its consumers.
//! - [`in_process`]: the broker of the embedded mode.
//! - [`metered`]: a broker that counts and times what passes through.
//! - [`typed`]: typed `call` and `serve`, with the application errors.
//! - [`messages`]: the request enum of each queue.

pub mod amqp;
pub mod broker;
pub mod in_process;
pub mod messages;
pub mod metered;
pub mod typed;

use std::sync::Arc;

pub use amqp::AmqpBroker;
pub use in_process::InProcessBroker;
pub use metered::MeteredBroker;
pub use typed::{CallError, RpcFailure, RpcRequest, call, handler, serve};

use broker::Broker;

/// The broker of a standalone worker process: RabbitMQ, which it needs,
/// since an in-process broker would leave it with nobody to talk to.
pub fn for_worker(
    settings: &platform::Settings,
    name: &str,
    metrics: Arc<platform::metrics::Metrics>,
) -> anyhow::Result<Arc<dyn Broker>> {
    let url = settings.broker.amqp_url.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "AMQP_URL: required by a standalone {name} (in embedded mode `api` runs it in-process)"
        )
    })?;
    let broker = Arc::new(AmqpBroker::new(url.expose(), name));
    Ok(Arc::new(MeteredBroker::new(broker, metrics)))
}
