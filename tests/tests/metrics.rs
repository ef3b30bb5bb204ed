//! `/metrics` of `api` after a little traffic: the HTTP series, and those
//! of the RPCs, the dedupe window, ingestion, the workers running in the
//! process, and the third parties' failures.

use api::accounts::Role;
use reqwest::StatusCode;
use tests::spawn_app_with;
use tests::stooq::Behaviour;

/// The value of the first sample of `series` whose labels include all of
/// `labels`, if there is one.
fn sample(text: &str, series: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split(['{', ' '])
                .next()
                .is_some_and(|name| name == series)
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn after_some_traffic_metrics_show_rpcs_dedupe_claims_ingestion_and_upstream_errors() {
    let app = spawn_app_with(&[("INGEST_ALLOW_ANONYMOUS", "true")]).await;
    let bearer = app.bearer_of("ana", Role::User).await;
    let stock = |symbol: &'static str| {
        app.client
            .get(format!("{}/stock?q={symbol}", app.address))
            .header("authorization", &bearer)
            .send()
    };
    let feed = format!(r#"[{{"id": "metrics-{}"}}]"#, uuid::Uuid::new_v4().simple());

    assert_eq!(
        stock("aapl.us").await.expect("sent").status(),
        StatusCode::OK
    );
    app.stooq.set(Behaviour::Garbage);
    assert_eq!(
        stock("msft.us").await.expect("sent").status(),
        StatusCode::BAD_GATEWAY
    );
    let accepted: serde_json::Value = app
        .post_feed(feed.clone())
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        app.post_feed(feed.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.post_feed("[").await.status(), StatusCode::BAD_REQUEST);
    app.wait_for_ingest(accepted["id"].as_str().expect("an id"))
        .await;
    let text = app.get("/metrics").await.text().await.expect("text");

    let expect = |series: &str, labels: &[&str], at_least: f64| {
        let value = sample(&text, series, labels)
            .unwrap_or_else(|| panic!("no {series} {labels:?} in:\n{text}"));
        assert!(value >= at_least, "{series} {labels:?} = {value}");
    };
    expect(
        "http_requests_total",
        &[r#"route="/stock""#, r#"status="200""#],
        1.0,
    );
    expect(
        "http_request_duration_seconds_count",
        &[r#"route="/v1/products""#, r#"status="403""#],
        1.0,
    );
    expect(
        "rpc_calls_total",
        &[r#"queue="quotes.rpc""#, r#"outcome="replied""#],
        2.0,
    );
    expect(
        "rpc_call_duration_seconds_count",
        &[r#"queue="quotes.rpc""#],
        2.0,
    );
    expect(
        "rpc_handled_total",
        &[r#"queue="quotes.rpc""#, r#"outcome="replied""#],
        2.0,
    );
    expect(
        "upstream_errors_total",
        &[r#"service="stooq""#, r#"kind="error""#],
        1.0,
    );
    expect("dedupe_claims_total", &[r#"result="claimed""#], 1.0);
    expect("dedupe_claims_total", &[r#"result="duplicate""#], 1.0);
    expect("ingest_feeds_total", &[r#"outcome="accepted""#], 1.0);
    expect("ingest_feeds_total", &[r#"outcome="duplicate""#], 1.0);
    expect("ingest_feeds_total", &[r#"outcome="malformed""#], 1.0);
    expect("ingest_bytes_total", &[], (2 * feed.len()) as f64);
    expect("ingest_jobs_total", &[r#"status="done""#], 1.0);
    expect("ingest_items_applied_total", &[], 1.0);
    expect("offers_poll_lag_seconds", &[], 0.0);
    expect("offers_poll_pass_duration_seconds_count", &[], 0.0);
}
