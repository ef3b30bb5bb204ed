//! `/stock` through real RabbitMQ when the worker or the broker is gone.

use std::time::{Duration, Instant};

use api::accounts::Role;
use reqwest::StatusCode;
use serde_json::Value;
use tests::process::{
    command, start_consuming, stdout_lines, terminate, wait_for_exit, wait_for_log,
};
use tests::servers::RabbitNode;
use tests::{TestApp, json_of, spawn_app_with};

async fn stock(app: &TestApp, bearer: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(format!("{}/stock?q=aapl.us", app.address))
        .header("authorization", bearer)
        .send()
        .await
        .expect("sent");
    json_of(response).await
}

/// Asks `/stock` until it answers `wanted` (for at most a minute) and
/// returns every answer on the way.
async fn answers_until(
    app: &TestApp,
    bearer: &str,
    wanted: StatusCode,
) -> Vec<(StatusCode, Value)> {
    let started = Instant::now();
    let mut answers = Vec::new();
    loop {
        let answer = stock(app, bearer).await;
        let done = answer.0 == wanted || started.elapsed() > Duration::from_secs(60);
        answers.push(answer);
        if done {
            return answers;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn with_no_quote_worker_running_stock_is_a_504() {
    tests::require_cluster!();
    let app = spawn_app_with(&[("RUN_WORKERS", "false"), ("RPC_TIMEOUT_MS", "500")]).await;
    let bearer = app.bearer_of("ana", Role::User).await;

    let (status, body) = stock(&app, &bearer).await;

    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["code"], "UPSTREAM_TIMEOUT");
}

#[tokio::test]
async fn stock_is_a_503_while_rabbitmq_is_down_and_works_again_after_without_any_restart() {
    tests::require_cluster!();
    let node = RabbitNode::start().await;
    let vhost = node.fresh_vhost().await;
    let app = spawn_app_with(&[("AMQP_URL", vhost.as_ref()), ("RUN_WORKERS", "false")]).await;
    let vars = [
        ("AMQP_URL", vhost.as_str()),
        ("STOOQ_BASE_URL", app.stooq.url.as_str()),
        ("LOG_FORMAT", "json"),
    ];
    let mut worker = start_consuming("quote-worker", &vars).await;
    let bearer = app.bearer_of("ana", Role::User).await;
    assert_eq!(stock(&app, &bearer).await.0, StatusCode::OK, "before");

    node.stop_app().await;
    let during = answers_until(&app, &bearer, StatusCode::SERVICE_UNAVAILABLE).await;
    node.start_app().await;
    let after = answers_until(&app, &bearer, StatusCode::OK).await;

    let (status, body) = during.last().expect("an answer");
    assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{during:?}");
    assert_eq!(body["code"], "UNAVAILABLE");
    assert!(
        during.iter().all(|(status, _)| status.is_server_error()),
        "while RabbitMQ is down every answer is a 5xx: {during:?}"
    );
    assert_eq!(
        after.last().map(|(status, _)| *status),
        Some(StatusCode::OK),
        "/stock answers again once RabbitMQ is back: {after:?}"
    );
    assert!(
        worker.try_wait().expect("status").is_none(),
        "quote-worker kept running"
    );
    terminate(&worker).await;
    assert_eq!(
        wait_for_exit(&mut worker, Duration::from_secs(15))
            .await
            .code(),
        Some(0)
    );
}

/// One grep follows a request: the id sent to `/stock` (and its
/// `traceparent`) is on the quote-worker's log line for that request.
#[tokio::test]
async fn a_request_id_sent_to_stock_is_on_the_quote_workers_log_line_for_it() {
    tests::require_cluster!();
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let app = spawn_app_with(&[("RUN_WORKERS", "false")]).await;
    let amqp = app
        .state
        .settings
        .broker
        .amqp_url
        .as_ref()
        .map(|url| url.expose().clone())
        .expect("the cluster run has RabbitMQ");
    let vars = [
        ("AMQP_URL", amqp.as_str()),
        ("STOOQ_BASE_URL", app.stooq.url.as_str()),
        ("LOG_FORMAT", "json"),
    ];
    let mut worker = command("quote-worker", &vars)
        .spawn()
        .expect("start quote-worker");
    let mut log = stdout_lines(&mut worker);
    wait_for_log(&mut log, "consuming", Duration::from_secs(30)).await;
    let bearer = app.bearer_of("ana", Role::User).await;
    let request_id = format!("follow-me-{}", uuid::Uuid::new_v4().simple());

    let response = app
        .client
        .get(format!("{}/stock?q=aapl.us", app.address))
        .header("authorization", &bearer)
        .header("x-request-id", &request_id)
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .expect("sent");
    let handled = wait_for_log(&mut log, "request handled", Duration::from_secs(10)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    assert_eq!(
        handled["span"]["request_id"],
        request_id.as_str(),
        "{handled}"
    );
    assert_eq!(handled["span"]["traceparent"], TRACEPARENT, "{handled}");
    assert_eq!(handled["span"]["queue"], "quotes.rpc", "{handled}");
    assert_eq!(handled["outcome"], "ok", "{handled}");
}
