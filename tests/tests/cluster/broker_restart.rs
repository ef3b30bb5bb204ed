//! A RabbitMQ restart costs the calls in flight, never the processes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rpc::AmqpBroker;
use rpc::CallError;
use rpc::broker::Broker;
use rpc::messages::QuoteRequest;
use tests::servers::RabbitNode;
use tests::{TestApp, spawn_app_with};
use tokio_util::sync::CancellationToken;

fn request() -> QuoteRequest {
    QuoteRequest::Get {
        symbol: rpc::messages::Symbol::parse("aapl.us").expect("a symbol"),
    }
}

/// Polls `/readyz` until its body says `status`, for at most `limit`.
/// It stays 200 throughout: the broker is shared by every replica, so its
/// outage is reported, not a reason to take this replica out.
async fn readiness_becomes(app: &TestApp, status: &str, limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let response = app.get("/readyz").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.expect("JSON");
        if body["status"] == status {
            return body;
        }
        assert!(
            started.elapsed() < limit,
            "/readyz still {body} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls until one gets a reply, for at most `limit`.
async fn first_reply(broker: &dyn Broker, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match rpc::call(broker, &request(), Duration::from_millis(500)).await {
            Ok(_) | Err(CallError::Failed(_)) => return started.elapsed(),
            Err(e) if started.elapsed() > limit => panic!("still failing after {limit:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn rpc_and_readiness_recover_after_rabbitmq_restarts_without_restarting_any_process() {
    tests::require_cluster!();
    let node = RabbitNode::start().await;
    let url = node.fresh_vhost().await;
    let caller = AmqpBroker::new(&url, "test caller");
    let worker = AmqpBroker::new(&url, "test worker");
    let stop = CancellationToken::new();
    let serving = tokio::spawn({
        let stop = stop.clone();
        async move {
            rpc::serve(
                &worker,
                8,
                stop,
                |QuoteRequest::Get { symbol }| async move {
                    Ok(rpc::messages::Quote {
                        symbol: symbol.to_string(),
                        name: "APPLE".into(),
                        date: "2026-11-20".into(),
                        time: "22:00:00".into(),
                        open: 1.0,
                        high: 2.0,
                        low: 0.5,
                        close: 1.5,
                        volume: None,
                    })
                },
            )
            .await
        }
    });
    let before = rpc::call(&caller, &request(), Duration::from_secs(10)).await;
    assert_eq!(before.expect("a reply before the restart").close, 1.5);
    // A whole `api` with its in-process workers, on a vhost of its own.
    let app_vhost = node.fresh_vhost().await;
    let app = spawn_app_with(&[("AMQP_URL", app_vhost.as_ref())]).await;
    readiness_becomes(&app, "ready", Duration::from_secs(10)).await;

    node.stop_app().await;
    let timeout = Duration::from_secs(3);
    let started = Instant::now();
    let during = rpc::call(&caller, &request(), timeout).await;
    let waited = started.elapsed();
    let readiness_during = readiness_becomes(&app, "degraded", Duration::from_secs(10)).await;
    node.start_app().await;
    let recovered_after = first_reply(&caller, Duration::from_secs(30)).await;
    readiness_becomes(&app, "ready", Duration::from_secs(30)).await;
    let app_workers_after = first_reply(&*app.state.broker, Duration::from_secs(30)).await;

    assert!(
        matches!(during, Err(CallError::Transport(_))),
        "a call while RabbitMQ is down fails, got {during:?}"
    );
    assert!(
        waited <= timeout + Duration::from_secs(1),
        "it failed within its timeout: {waited:?}"
    );
    assert!(recovered_after < Duration::from_secs(30));
    assert_eq!(readiness_during["checks"]["broker"]["ok"], false);
    assert_eq!(readiness_during["checks"]["database"]["ok"], true);
    assert!(
        app_workers_after < Duration::from_secs(30),
        "the app's own workers answer again"
    );
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
