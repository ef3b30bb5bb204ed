//! A RabbitMQ restart costs the calls in flight, never the processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::broker::{AmqpBroker, Broker, RpcError};
use shared::messages::QuoteRequest;
use shared::rpc::{self, RpcRequest};
use tests::servers::RabbitNode;
use tokio_util::sync::CancellationToken;

fn request() -> QuoteRequest {
    QuoteRequest::Get {
        symbol: "aapl.us".into(),
    }
}

/// Calls until one gets a reply, for at most `limit`.
async fn first_reply(broker: &dyn Broker, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match rpc::call(broker, &request(), Duration::from_millis(500)).await {
            Ok(_) | Err(RpcError::Failed(_)) => return started.elapsed(),
            Err(e) if started.elapsed() > limit => panic!("still failing after {limit:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn rpc_works_again_after_rabbitmq_restarts_without_restarting_caller_or_worker() {
    let node = RabbitNode::start().await;
    let url = node.fresh_vhost().await;
    let caller = AmqpBroker::new(&url, "test caller");
    let worker: Arc<dyn Broker> = Arc::new(AmqpBroker::new(&url, "test worker"));
    let stop = CancellationToken::new();
    let handler = rpc::handler(|QuoteRequest::Get { symbol }| async move {
        Ok(shared::messages::Quote {
            symbol,
            name: "APPLE".into(),
            date: "2026-11-20".into(),
            time: "22:00:00".into(),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: None,
        })
    });
    let serving = tokio::spawn({
        let (worker, stop) = (worker.clone(), stop.clone());
        async move { worker.serve(QuoteRequest::QUEUE, handler, 8, stop).await }
    });
    let before = rpc::call(&caller, &request(), Duration::from_secs(10)).await;
    assert_eq!(before.expect("a reply before the restart").close, 1.5);

    node.stop_app().await;
    let timeout = Duration::from_secs(3);
    let started = Instant::now();
    let during = rpc::call(&caller, &request(), timeout).await;
    let waited = started.elapsed();
    node.start_app().await;
    let recovered_after = first_reply(&caller, Duration::from_secs(30)).await;

    assert!(
        matches!(
            during,
            Err(RpcError::Unavailable(_) | RpcError::Timeout { .. })
        ),
        "a call while RabbitMQ is down fails, got {during:?}"
    );
    assert!(
        waited <= timeout + Duration::from_secs(1),
        "it failed within its timeout: {waited:?}"
    );
    assert!(recovered_after < Duration::from_secs(30));
    assert!(
        !serving.is_finished(),
        "the worker's consume loop is still running"
    );
    stop.cancel();
    serving
        .await
        .expect("no panic")
        .expect("the worker stops cleanly");
}
