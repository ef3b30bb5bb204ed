//! RPC through the broker trait, on this run's broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::ErrorCode;
use platform::trace::TraceContext;
use rpc::CallError;
use rpc::broker::{Broker, TransportError};
use rpc::{self, RpcFailure, RpcRequest};
use serde::{Deserialize, Serialize};
use tests::backend;
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Echo {
    #[serde(rename = "echo")]
    Say { text: String },
}

impl RpcRequest for Echo {
    const QUEUE: &'static str = "test.echo";
    type Reply = String;
}

/// Serves `test.echo` with `handle` until the returned token is cancelled.
fn serve<F, Fut>(broker: &Arc<dyn Broker>, prefetch: u16, handle: F) -> CancellationToken
where
    F: Fn(Echo) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, RpcFailure>> + Send,
{
    let stop = CancellationToken::new();
    let (broker, token) = (broker.clone(), stop.clone());
    tokio::spawn(async move { rpc::serve(&*broker, prefetch, token, handle).await });
    stop
}

fn say(text: &str) -> Echo {
    Echo::Say {
        text: text.to_owned(),
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_request_gets_its_own_reply() {
    let broker = backend().fresh_broker().await;
    let _worker = serve(&broker, 8, |Echo::Say { text }| async move {
        Ok(text.to_uppercase())
    });

    let (first, second) = (say("first"), say("second"));
    let (a, b) = tokio::join!(
        rpc::call(&*broker, &first, TIMEOUT),
        rpc::call(&*broker, &second, TIMEOUT),
    );

    assert_eq!(a.expect("a reply"), "FIRST");
    assert_eq!(b.expect("a reply"), "SECOND");
}

#[tokio::test]
async fn a_worker_failure_reaches_the_caller_with_its_code() {
    let broker = backend().fresh_broker().await;
    let _worker = serve(&broker, 8, |_| async {
        Err(RpcFailure::new(ErrorCode::NotFound, "no such symbol"))
    });

    let reply = rpc::call(&*broker, &say("x"), TIMEOUT).await;

    match reply {
        Err(CallError::Failed(failure)) => {
            assert_eq!(
                failure,
                RpcFailure::new(ErrorCode::NotFound, "no such symbol")
            );
        }
        other => panic!("expected the worker's failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_call_nobody_answers_times_out_within_its_timeout() {
    let broker = backend().fresh_broker().await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();

    let reply = rpc::call(&*broker, &say("anyone?"), timeout).await;

    let waited = started.elapsed();
    assert!(
        matches!(
            reply,
            Err(CallError::Transport(TransportError::Timeout { .. }))
        ),
        "got {reply:?}"
    );
    assert!(
        waited >= timeout,
        "gave up after {waited:?}, before its timeout"
    );
    assert!(
        waited < timeout + Duration::from_secs(1),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn a_request_that_expired_in_the_queue_is_never_handled() {
    let broker = backend().fresh_broker().await;
    let expired = rpc::call(&*broker, &say("stale"), Duration::from_millis(100)).await;
    assert!(
        matches!(
            expired,
            Err(CallError::Transport(TransportError::Timeout { .. }))
        ),
        "got {expired:?}"
    );
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));

    let log = seen.clone();
    let _worker = serve(&broker, 8, move |Echo::Say { text }| {
        log.lock().expect("lock").push(text.clone());
        async move { Ok(text) }
    });
    let fresh = rpc::call(&*broker, &say("fresh"), TIMEOUT).await;

    assert_eq!(fresh.expect("a reply"), "fresh");
    assert_eq!(*seen.lock().expect("lock"), ["fresh"]);
}

#[tokio::test]
async fn requests_are_handled_concurrently_up_to_the_prefetch_count() {
    let broker = backend().fresh_broker().await;
    let prefetch = 4;
    // Every handler waits for all four: sequential handling would never finish.
    let barrier = Arc::new(Barrier::new(prefetch));
    let _worker = serve(&broker, prefetch as u16, move |Echo::Say { text }| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            Ok(text)
        }
    });

    let calls = (0..prefetch).map(|i| {
        let broker = broker.clone();
        async move { rpc::call(&*broker, &say(&i.to_string()), TIMEOUT).await }
    });
    let replies = futures_util::future::join_all(calls).await;

    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("a reply"), i.to_string());
    }
}

#[tokio::test]
async fn an_undecodable_request_is_answered_dead_lettered_and_does_not_stop_the_worker() {
    let (broker, dead_letters) = backend().fresh_broker_with_dead_letters().await;
    let _worker = serve(&broker, 8, |Echo::Say { text }| async move { Ok(text) });

    let garbage = broker
        .call(Echo::QUEUE, b"{not json".to_vec(), TIMEOUT)
        .await;
    let after = rpc::call(&*broker, &say("still here"), TIMEOUT).await;

    let garbage: serde_json::Value =
        serde_json::from_slice(&garbage.expect("a reply to the garbage")).expect("a JSON reply");
    assert_eq!(garbage["error"]["code"], "BAD_REQUEST");
    assert_eq!(after.expect("a reply"), "still here");
    assert_eq!(dead_letters.of(Echo::QUEUE).await, [b"{not json".to_vec()]);
}

#[tokio::test]
async fn a_stopped_worker_finishes_the_request_in_hand() {
    let broker = backend().fresh_broker().await;
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (on_start, on_release) = (started.clone(), release.clone());
    let worker = serve(&broker, 8, move |Echo::Say { text }| {
        let (on_start, on_release) = (on_start.clone(), on_release.clone());
        async move {
            on_start.notify_one();
            on_release.notified().await;
            Ok(text)
        }
    });

    let call = tokio::spawn({
        let broker = broker.clone();
        async move { rpc::call(&*broker, &say("in flight"), TIMEOUT).await }
    });
    started.notified().await;
    worker.cancel();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    release.notify_one();

    assert_eq!(call.await.expect("no panic").expect("a reply"), "in flight");
}

#[tokio::test]
async fn the_callers_request_id_and_traceparent_reach_the_worker() {
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let broker = backend().fresh_broker().await;
    let _worker = serve(&broker, 1, |_| async {
        let seen = TraceContext::current();
        Ok(format!(
            "{} {}",
            seen.request_id.unwrap_or_default(),
            seen.traceparent.unwrap_or_default()
        ))
    });
    let caller = TraceContext::from_headers(Some("request-42"), Some(TRACEPARENT));

    let traced = caller
        .scope(rpc::call(&*broker, &say("hi"), TIMEOUT))
        .await
        .expect("a reply");
    let untraced = rpc::call(&*broker, &say("hi"), TIMEOUT)
        .await
        .expect("a reply");

    assert_eq!(traced, format!("request-42 {TRACEPARENT}"));
    assert_eq!(untraced, " ");
}
