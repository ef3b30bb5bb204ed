//! The embedded-mode broker: one bounded channel per queue, inside the
//! process. It keeps the semantics of the RabbitMQ one that callers can
//! observe: competing consumers, a prefetch bound, requests that expire
//! with their caller's timeout, and dead-lettering of what does not decode.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::broker::{Broker, Handled, RpcHandler, TransportError, dead_letter_queue};
use platform::trace::TraceContext;

/// Requests waiting on one queue before calls fail with `Unavailable`.
const QUEUE_CAPACITY: usize = 4096;
/// Dead letters kept per queue, newest last.
const DEAD_LETTERS_KEPT: usize = 100;

struct Request {
    body: Vec<u8>,
    expires_at: Instant,
    reply: oneshot::Sender<Vec<u8>>,
    /// The caller's request id and trace context.
    trace: TraceContext,
}

/// Shared by every consumer of a queue: each request goes to one of them.
type SharedReceiver = Arc<tokio::sync::Mutex<mpsc::Receiver<Request>>>;

#[derive(Clone)]
struct Queue {
    sender: mpsc::Sender<Request>,
    receiver: SharedReceiver,
}

/// See the module documentation.
#[derive(Default)]
pub struct InProcessBroker {
    queues: Mutex<HashMap<String, Queue>>,
    dead_letters: Arc<DeadLetters>,
}

/// Undecodable requests, per dead-letter queue.
#[derive(Default)]
struct DeadLetters(Mutex<HashMap<String, VecDeque<Vec<u8>>>>);

impl DeadLetters {
    fn push(&self, queue: &str, body: Vec<u8>) {
        let mut dead = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let letters = dead.entry(dead_letter_queue(queue)).or_default();
        if letters.len() == DEAD_LETTERS_KEPT {
            letters.pop_front();
        }
        letters.push_back(body);
    }

    fn of(&self, queue: &str) -> Vec<Vec<u8>> {
        let dead = self.0.lock().unwrap_or_else(|e| e.into_inner());
        dead.get(&dead_letter_queue(queue))
            .map(|letters| letters.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl InProcessBroker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The requests dead-lettered from `queue`, oldest first (the last 100).
    pub fn dead_letters(&self, queue: &str) -> Vec<Vec<u8>> {
        self.dead_letters.of(queue)
    }

    fn queue(&self, name: &str) -> Queue {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .entry(name.to_owned())
            .or_insert_with(|| {
                let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
                Queue {
                    sender,
                    receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
                }
            })
            .clone()
    }
}

#[async_trait]
impl Broker for InProcessBroker {
    async fn call(
        &self,
        queue: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let sender = self.queue(queue).sender;
        let (reply, replied) = oneshot::channel();
        let expires_at = Instant::now() + timeout;
        sender
            .try_send(Request {
                body: request,
                expires_at,
                reply,
                trace: TraceContext::current(),
            })
            .map_err(|_| TransportError::Unavailable(format!("queue {queue} is full")))?;
        match tokio::time::timeout_at(expires_at, replied).await {
            Ok(Ok(body)) => Ok(body),
            // The consumer dropped the request: it expired or was rejected
            // without a reply. Either way the caller waited its whole timeout.
            Ok(Err(_)) | Err(_) => Err(TransportError::Timeout {
                queue: queue.to_owned(),
                timeout,
            }),
        }
    }

    async fn serve(
        &self,
        queue: &str,
        handler: Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let receiver = self.queue(queue).receiver;
        let permits = Arc::new(Semaphore::new(usize::from(prefetch.max(1))));
        let mut in_flight = JoinSet::new();
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit?,
            };
            let request = tokio::select! {
                () = shutdown.cancelled() => break,
                request = async { receiver.lock().await.recv().await } => request,
            };
            let Some(request) = request else { break };
            if request.expires_at <= Instant::now() {
                tracing::debug!(queue, "dropping a request whose caller has left");
                continue;
            }
            let handler = handler.clone();
            let dead_letters = self.dead_letters.clone();
            let queue = queue.to_owned();
            let Request {
                body, reply, trace, ..
            } = request;
            let span = trace.span(&queue);
            in_flight.spawn(
                trace.scope(
                    async move {
                        match handler.handle(&body).await {
                            Handled::Reply(answer) => {
                                let _ = reply.send(answer);
                            }
                            Handled::Rejected {
                                reply: answer,
                                reason,
                            } => {
                                tracing::warn!(
                                    queue,
                                    reason,
                                    "dead-lettering an undecodable request"
                                );
                                dead_letters.push(&queue, body);
                                let _ = reply.send(answer);
                            }
                        }
                        drop(permit);
                    }
                    .instrument(span),
                ),
            );
            while let Some(done) = in_flight.try_join_next() {
                log_panic(done);
            }
        }
        while let Some(done) = in_flight.join_next().await {
            log_panic(done);
        }
        Ok(())
    }

    async fn check(&self) -> Result<(), TransportError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "an RPC handler panicked");
    }
}
