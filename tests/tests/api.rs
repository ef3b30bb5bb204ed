//! The `api` process: operations endpoints, listeners, workers, shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use tests::process::{command, stdout_lines, terminate, wait_for_exit, wait_for_log};
use tests::{Backend, backend, spawn_app};

#[tokio::test]
async fn embedded_api_from_an_empty_directory_serves_operations_endpoints_and_exits_cleanly_on_sigterm()
 {
    let dir = tests::backend::temp_dir();
    let vars = [
        ("PUBLIC_ADDR", "127.0.0.1:0"),
        ("INTERNAL_ADDR", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
    ];
    let mut api = command("api", &vars)
        .current_dir(&dir)
        .spawn()
        .expect("start api");
    let mut log = stdout_lines(&mut api);
    let listening = wait_for_log(&mut log, "listening", Duration::from_secs(60)).await;
    let base = format!(
        "http://{}",
        listening["public"].as_str().expect("the public address")
    );
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let health = get("/healthz").await.expect("GET /healthz");
    let ready = get("/readyz").await.expect("GET /readyz");
    let openapi = get("/openapi.json").await.expect("GET /openapi.json");
    let docs = get("/docs").await.expect("GET /docs");
    let metrics = get("/metrics").await.expect("GET /metrics");

    assert_eq!(health.status(), StatusCode::OK);
    let request_id = health.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let logged = wait_for_log(
        &mut log,
        "finished processing request",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        logged["span"]["request_id"],
        request_id.as_str(),
        "{logged}"
    );
    assert_eq!(logged["span"]["path"], "/healthz", "{logged}");
    assert_eq!(logged["status"], 200, "{logged}");
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(ready["checks"]["database"]["backend"], "sqlite");
    assert_eq!(openapi.status(), StatusCode::OK);
    let openapi: serde_json::Value = openapi.json().await.expect("JSON");
    assert!(openapi["paths"]["/readyz"]["get"].is_object(), "{openapi}");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.expect("HTML").contains("swagger-ui"));
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = metrics.text().await.expect("text");
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        dir.join("data/mercato.db").exists(),
        "the SQLite file is created under ./data"
    );

    terminate(&api).await;
    let status = wait_for_exit(&mut api, Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn readyz_reports_each_configured_backend() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ready");
    let backends = |name: &str| body["checks"][name]["backend"].as_str().map(str::to_owned);
    let expected = match backend() {
        Backend::Embedded => ["sqlite", "in-process", "in-memory"],
        Backend::Cluster(_) => ["postgres", "rabbitmq", "redis"],
    };
    assert_eq!(
        [
            backends("database"),
            backends("broker"),
            backends("dedupe_window")
        ],
        expected.map(|b| Some(b.to_owned()))
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404_carrying_a_request_id() {
    let app = spawn_app().await;

    let response = app.get("/no/such/thing").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({"code": "NOT_FOUND", "msg": "no route for GET /no/such/thing"})
    );
}

#[tokio::test]
async fn a_client_request_id_is_kept() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("GET /healthz");

    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/nowhere/1").await;
    app.get("/nowhere/2").await;

    let metrics = app.get("/metrics").await.text().await.expect("text");

    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_internal_listener_serves_operations_endpoints_and_its_docs_but_not_the_public_routes()
{
    let app = spawn_app().await;

    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/"] {
        let response = app.get_internal(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in [
        "/public-api/listings",
        "/products",
        "/v1/products/ingests/x",
    ] {
        let response = app.get_internal(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_in_process_workers_answer_over_the_broker() {
    let app = spawn_app().await;

    tests::assert_both_workers_answer(&*app.state.broker).await;
}

#[tokio::test]
async fn a_stopped_app_shuts_down_cleanly() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    let outcome = app.stop().await;

    assert!(outcome.is_ok(), "{outcome:?}");
}

/// The image's `HEALTHCHECK`: `api healthcheck` exits 0 while an `api`
/// answers on `PUBLIC_ADDR`, and 1 when nothing does.
#[tokio::test]
async fn api_healthcheck_exits_0_for_a_live_api_and_1_for_none() {
    let app = spawn_app().await;
    let live = app.address.trim_start_matches("http://").to_owned();
    let closed = format!("127.0.0.1:{}", tests::servers::free_port());

    let for_live = command("api", &[("PUBLIC_ADDR", &live)])
        .arg("healthcheck")
        .output()
        .await
        .expect("run api healthcheck");
    let for_closed = command("api", &[("PUBLIC_ADDR", &closed)])
        .arg("healthcheck")
        .output()
        .await
        .expect("run api healthcheck");

    let stderr =
        |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(for_live.status.code(), Some(0), "{}", stderr(&for_live));
    assert_eq!(for_closed.status.code(), Some(1), "{}", stderr(&for_closed));
}
