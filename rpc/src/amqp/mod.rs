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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{OnceCell, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use url::Url;

use crate::broker::{Broker, Handled, RpcHandler, TransportError, dead_letter_queue};
use platform::backoff::Backoff;
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

/// The state of the caller session, as calls see it.
#[derive(Clone)]
enum Link {
    Connecting,
    Up(Arc<CallerChannel>),
    Down(String),
}

struct CallerChannel {
    channel: Channel,
    /// Queues declared on this connection, so requests wait for a worker
    /// that is not running yet instead of being dropped as unroutable.
    declared: tokio::sync::Mutex<HashSet<String>>,
}

struct Caller {
    link: watch::Receiver<Link>,
    pending: Arc<Pending>,
}

/// Callers waiting for a reply, by correlation id.
#[derive(Default)]
struct Pending(Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>);

impl Pending {
    fn insert(&self, id: String) -> oneshot::Receiver<Vec<u8>> {
        let (sender, receiver) = oneshot::channel();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, sender);
        receiver
    }

    fn remove(&self, id: &str) -> Option<oneshot::Sender<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id)
    }

    /// Drops every waiting sender: their callers see the connection lost.
    fn fail_all(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Removes a caller's entry however the call ends (reply, timeout, drop).
struct PendingEntry<'a> {
    pending: &'a Pending,
    id: String,
}

impl Drop for PendingEntry<'_> {
    fn drop(&mut self) {
        self.pending.remove(&self.id);
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

    async fn caller(&self) -> &Caller {
        self.caller
            .get_or_init(|| async {
                let (link_tx, mut link) = watch::channel(Link::Connecting);
                let pending = Arc::new(Pending::default());
                tokio::spawn(run_caller(
                    self.url.clone(),
                    self.name.clone(),
                    link_tx,
                    pending.clone(),
                    self.stop.clone(),
                ));
                // Let the first connection attempt finish, so the first
                // call after start-up does not fail for nothing.
                let _ = tokio::time::timeout(
                    FIRST_CONNECT_WAIT,
                    link.wait_for(|l| !matches!(l, Link::Connecting)),
                )
                .await;
                Caller { link, pending }
            })
            .await
    }
}

/// Opens a connection named `<name> <role>` in the management UI.
async fn connect(url: &str, name: &str, role: &str) -> lapin::Result<Connection> {
    let properties =
        ConnectionProperties::default().with_connection_name(format!("{name} {role}").into());
    Connection::connect(url, properties).await
}

/// Keeps the caller connection up until `stop`, reconnecting with backoff.
async fn run_caller(
    url: String,
    name: String,
    link: watch::Sender<Link>,
    pending: Arc<Pending>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
    loop {
        let lost = match open_caller(&url, &name).await {
            Ok((connection, channel, mut replies)) => {
                backoff.reset();
                tracing::info!("connected to RabbitMQ for RPC calls");
                link.send_replace(Link::Up(Arc::new(CallerChannel {
                    channel,
                    declared: tokio::sync::Mutex::new(HashSet::new()),
                })));
                let lost = loop {
                    tokio::select! {
                        () = stop.cancelled() => {
                            let _ = connection.close(200, "shutting down".into()).await;
                            return;
                        }
                        delivery = replies.next() => match delivery {
                            Some(Ok(delivery)) => {
                                let id = delivery.properties.correlation_id().as_ref().map(|id| id.as_str().to_owned());
                                match id.and_then(|id| pending.remove(&id)) {
                                    Some(caller) => { let _ = caller.send(delivery.data); }
                                    None => tracing::debug!("reply for a caller that has left"),
                                }
                            }
                            Some(Err(e)) => break e.to_string(),
                            None => break "reply consumer cancelled".to_owned(),
                        }
                    }
                };
                let _ = connection.close(200, "reconnecting".into()).await;
                lost
            }
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %lost, "RabbitMQ connection for RPC calls lost; reconnecting");
        link.send_replace(Link::Down(lost));
        pending.fail_all();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

async fn open_caller(
    url: &str,
    name: &str,
) -> lapin::Result<(Connection, Channel, lapin::Consumer)> {
    let connection = connect(url, name, "rpc-client").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let replies = channel
        .basic_consume(
            REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel, replies))
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
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || TransportError::Timeout {
            queue: queue.to_owned(),
            timeout,
        };
        let caller = self.caller().await;
        let session = match &*caller.link.borrow() {
            Link::Up(session) => session.clone(),
            Link::Connecting => {
                return Err(TransportError::Unavailable("connecting to RabbitMQ".into()));
            }
            Link::Down(reason) => return Err(TransportError::Unavailable(reason.clone())),
        };
        let unavailable = |e: lapin::Error| TransportError::Unavailable(e.to_string());
        {
            let mut declared = session.declared.lock().await;
            if !declared.contains(queue) {
                declare(&session.channel, queue)
                    .await
                    .map_err(unavailable)?;
                declared.insert(queue.to_owned());
            }
        }

        // The request must not outlive its caller, who leaves at `deadline`
        // whatever connecting and declaring cost.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        let id = uuid::Uuid::now_v7().to_string();
        let replied = caller.pending.insert(id.clone());
        let _entry = PendingEntry {
            pending: &caller.pending,
            id: id.clone(),
        };
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_correlation_id(id.into())
            .with_reply_to(REPLY_TO.into())
            .with_expiration(left.as_millis().max(1).to_string().into())
            .with_headers(trace_headers(&TraceContext::current()));

        let publish = async {
            session
                .channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    &request,
                    properties,
                )
                .await?
                .await
        };
        let confirmation = tokio::time::timeout_at(deadline, publish)
            .await
            .map_err(|_| timed_out())?
            .map_err(unavailable)?;
        if !confirmation.is_ack() {
            return Err(TransportError::Unavailable(
                "RabbitMQ refused the request".into(),
            ));
        }
        match tokio::time::timeout_at(deadline, replied).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(TransportError::Unavailable(
                "connection to RabbitMQ lost".into(),
            )),
            Err(_) => Err(timed_out()),
        }
    }

    async fn serve(
        &self,
        queue: &str,
        handler: Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
        loop {
            match self
                .consume(queue, &handler, prefetch, &shutdown, &mut backoff)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(queue, error = %e, "consumer lost RabbitMQ; reconnecting"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    async fn check(&self) -> Result<(), TransportError> {
        match &*self.caller().await.link.borrow() {
            Link::Up(session) if session.channel.status().connected() => Ok(()),
            Link::Up(_) | Link::Connecting => Err(TransportError::Unavailable(
                "reconnecting to RabbitMQ".into(),
            )),
            Link::Down(reason) => Err(TransportError::Unavailable(reason.clone())),
        }
    }

    fn kind(&self) -> &'static str {
        "rabbitmq"
    }
}

impl AmqpBroker {
    /// One consumer session: returns `Ok` on shutdown, `Err` when the
    /// connection fails (the caller reconnects).
    async fn consume(
        &self,
        queue: &str,
        handler: &Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> anyhow::Result<()> {
        let connection = connect(&self.url, &self.name, &format!("consumer {queue}")).await?;
        let channel = connection.create_channel().await?;
        declare(&channel, queue).await?;
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let tag = format!("{queue}.{}", uuid::Uuid::new_v4());
        let mut deliveries = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        backoff.reset();
        tracing::info!(queue, prefetch, "consuming");

        let mut in_flight = JoinSet::new();
        let outcome = loop {
            tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                Some(done) = in_flight.join_next() => {
                    if let Err(e) = done {
                        tracing::error!(queue, error = %e, "an RPC handler panicked");
                    }
                }
                delivery = deliveries.next() => match delivery {
                    Some(Ok(delivery)) => {
                        in_flight.spawn(process(channel.clone(), queue.to_owned(), handler.clone(), delivery));
                    }
                    Some(Err(e)) => break Err(anyhow::Error::new(e).context("consuming")),
                    None => break Err(anyhow::anyhow!("the consumer was cancelled by RabbitMQ")),
                }
            }
        };
        if outcome.is_ok() {
            // Take nothing new, but finish and ack what is in hand.
            let _ = channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await;
        }
        while let Some(done) = in_flight.join_next().await {
            if let Err(e) = done {
                tracing::error!(queue, error = %e, "an RPC handler panicked");
            }
        }
        let _ = connection.close(200, "bye".into()).await;
        outcome
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

/// Handles one request: reply (and dead-letter it if it did not decode), then ack.
async fn process(
    channel: Channel,
    queue: String,
    handler: Arc<dyn RpcHandler>,
    delivery: lapin::message::Delivery,
) {
    let trace = trace_of(&delivery.properties);
    let span = trace.span(&queue);
    let handled = trace.scope(handler.handle(&delivery.data).instrument(span));
    let reply = match handled.await {
        Handled::Reply(reply) => reply,
        Handled::Rejected { reply, reason } => {
            tracing::warn!(queue, reason, "dead-lettering an undecodable request");
            let mut headers = FieldTable::default();
            headers.insert(
                "x-mercato-reason".into(),
                AMQPValue::LongString(reason.into()),
            );
            let properties = BasicProperties::default().with_headers(headers);
            if let Err(e) = publish(
                &channel,
                &dead_letter_queue(&queue),
                &delivery.data,
                properties,
            )
            .await
            {
                tracing::error!(queue, error = %e, "cannot dead-letter; leaving the request unacked");
                return;
            }
            reply
        }
    };
    match delivery.properties.reply_to() {
        Some(reply_to) => {
            let mut properties =
                BasicProperties::default().with_content_type("application/json".into());
            if let Some(id) = delivery.properties.correlation_id() {
                properties = properties.with_correlation_id(id.clone());
            }
            if let Err(e) = publish(&channel, reply_to.as_str(), &reply, properties).await {
                tracing::warn!(queue, error = %e, "cannot send a reply");
            }
        }
        None => tracing::warn!(queue, "request without reply_to: nobody to answer"),
    }
    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
        tracing::warn!(queue, error = %e, "cannot ack; the request will be redelivered");
    }
}

async fn publish(
    channel: &Channel,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let confirmation = channel
        .basic_publish(
            "".into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?
        .await?;
    anyhow::ensure!(confirmation.is_ack(), "RabbitMQ refused the message");
    Ok(())
}
