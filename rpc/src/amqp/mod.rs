//! The cluster-mode broker: RPC over RabbitMQ with lapin.
//!
//! **Calls** share one connection and one channel per process. That channel
//! consumes `amq.rabbitmq.reply-to` (no-ack) before anything is published on
//! it, as direct reply-to requires, and is in confirm mode, so a request the
//! broker did not take fails at once instead of waiting out its timeout.
//! Replies are matched to callers by correlation id. Each request expires
//! in the queue after the caller's timeout.
//!
//! **Consumers** open a connection of their own per queue, set `basic_qos`
//! to the prefetch count, run each request in its own task, publish the
//! reply, then ack. A request that does not decode is copied to
//! `<queue>.dead` and acked, so it is never redelivered forever.
//!
//! **Recovery** is a session loop, with lapin's own auto-recovery off:
//! connect, set up, work until the connection fails, then reconnect with a
//! capped backoff, forever. Calls made while the connection is down fail at
//! once with [`TransportError::Unavailable`]; calls waiting for a reply when it
//! drops fail the same way.
//!
//! # Layout
//!
//! - this file: [`AmqpBroker`], connecting, declaring queues, trace headers;
//! - `caller`: the caller session and `call`;
//! - `consumer`: `serve`, one consumer session per queue.

mod caller;
mod consumer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use url::Url;

use self::caller::Caller;
use crate::broker::{Broker, RpcHandler, TransportError, dead_letter_queue};
use platform::trace::{self, TraceContext};

const REPLY_TO: &str = "amq.rabbitmq.reply-to";
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How long the first call of a process waits for the first connection.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(2);

/// See the module documentation.
pub struct AmqpBroker {
    url: String,
    /// Shown in the RabbitMQ management UI, e.g. `mercato api`.
    name: String,
    /// The caller session, started by the first call.
    caller: OnceCell<Caller>,
    /// Stops the caller session; cancelled when the broker is dropped.
    stop: CancellationToken,
}

impl Drop for AmqpBroker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl AmqpBroker {
    /// A broker for `url`; nothing connects until the first call or `serve`.
    /// `name` identifies the process in the management UI.
    pub fn new(url: &Url, name: &str) -> Self {
        Self {
            url: url.to_string(),
            name: format!("mercato {name}"),
            caller: OnceCell::new(),
            stop: CancellationToken::new(),
        }
    }
}

/// Opens a connection named `<name> <role>` in the management UI.
async fn connect(url: &str, name: &str, role: &str) -> lapin::Result<Connection> {
    let properties =
        ConnectionProperties::default().with_connection_name(format!("{name} {role}").into());
    Connection::connect(url, properties).await
}

/// Declares `queue` and its dead-letter queue, both durable. Callers and
/// consumers declare the same way, so either may come first.
async fn declare(channel: &Channel, queue: &str) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await?;
    channel
        .queue_declare(
            dead_letter_queue(queue).as_str().into(),
            durable,
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn call(
        &self,
        queue: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        self.send(queue, request, timeout).await
    }

    async fn serve(
        &self,
        queue: &str,
        handler: Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.serve_until_stopped(queue, handler, prefetch, shutdown)
            .await
    }

    async fn check(&self) -> Result<(), TransportError> {
        self.reachable().await
    }

    fn kind(&self) -> &'static str {
        "rabbitmq"
    }
}

/// The AMQP headers that carry `trace` to the worker.
fn trace_headers(trace: &TraceContext) -> FieldTable {
    let mut headers = FieldTable::default();
    for (name, value) in [
        (trace::REQUEST_ID, &trace.request_id),
        (trace::TRACEPARENT, &trace.traceparent),
    ] {
        if let Some(value) = value {
            headers.insert(name.into(), AMQPValue::LongString(value.as_str().into()));
        }
    }
    headers
}

/// The caller's trace context, from a request's headers.
fn trace_of(properties: &BasicProperties) -> TraceContext {
    let header = |name: &str| {
        let value = properties.headers().as_ref()?.inner().get(name)?;
        match value {
            AMQPValue::LongString(value) => Some(value.to_string()),
            _ => None,
        }
    };
    TraceContext {
        request_id: header(trace::REQUEST_ID),
        traceparent: header(trace::TRACEPARENT),
    }
}
