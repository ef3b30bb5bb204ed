//! The caller side: one connection and one channel per process, consuming
//! direct reply-to, in confirm mode; replies matched to callers by
//! correlation id. The session reconnects with backoff, forever.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::{
    AmqpBroker, FIRST_CONNECT_WAIT, RECONNECT_MAX, RECONNECT_MIN, REPLY_TO, connect, declare,
    trace_headers,
};
use crate::broker::TransportError;
use platform::backoff::Backoff;
use platform::trace::TraceContext;

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

pub(super) struct Caller {
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

    pub(super) async fn send(
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

    pub(super) async fn reachable(&self) -> Result<(), TransportError> {
        match &*self.caller().await.link.borrow() {
            Link::Up(session) if session.channel.status().connected() => Ok(()),
            Link::Up(_) | Link::Connecting => Err(TransportError::Unavailable(
                "reconnecting to RabbitMQ".into(),
            )),
            Link::Down(reason) => Err(TransportError::Unavailable(reason.clone())),
        }
    }
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
