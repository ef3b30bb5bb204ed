//! Standalone workers serve their own metrics on `METRICS_ADDR`.

use api::accounts::Role;
use reqwest::StatusCode;
use serde_json::json;
use tests::process::start_consuming;
use tests::servers::free_port;
use tests::spawn_app_with;

async fn metrics_of(port: u16) -> String {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the worker serves /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("text")
}

#[tokio::test]
async fn quote_worker_and_offer_poller_serve_their_series_on_metrics_addr() {
    tests::require_cluster!();
    let app = spawn_app_with(&[("RUN_WORKERS", "false")]).await;
    let settings = &app.state.settings;
    let amqp = settings
        .broker
        .amqp_url
        .as_ref()
        .expect("RabbitMQ")
        .expose()
        .to_string();
    let database = settings.database.url.as_str().to_owned();
    let (quotes_port, poller_port) = (free_port(), free_port());
    let quotes_addr = format!("127.0.0.1:{quotes_port}");
    let poller_addr = format!("127.0.0.1:{poller_port}");
    let stooq = app.stooq.url.to_string();
    let offers = app.offers.url.to_string();
    let _quote_worker = start_consuming(
        "quote-worker",
        &[
            ("AMQP_URL", &amqp),
            ("STOOQ_BASE_URL", &stooq),
            ("METRICS_ADDR", &quotes_addr),
            ("LOG_FORMAT", "json"),
        ],
    )
    .await;
    let _offer_poller = start_consuming(
        "offer-poller",
        &[
            ("AMQP_URL", &amqp),
            ("DATABASE_URL", &database),
            ("OFFERS_BASE_URL", &offers),
            ("METRICS_ADDR", &poller_addr),
            ("LOG_FORMAT", "json"),
        ],
    )
    .await;
    let user = app.bearer_of("ana", Role::User).await;
    let admin = app.bearer_of("root", Role::Admin).await;

    let quote = app
        .client
        .get(format!("{}/stock?q=aapl.us", app.address))
        .header("authorization", &user)
        .send()
        .await
        .expect("sent");
    let product = app
        .create_product(&admin, json!({"name": "Mesa", "sku": "metrics-1"}))
        .await;
    let quote_worker = metrics_of(quotes_port).await;
    let offer_poller = metrics_of(poller_port).await;

    assert_eq!(quote.status(), StatusCode::OK);
    assert_eq!(product["registered"], true, "{product}");
    assert!(
        quote_worker.contains(r#"rpc_handled_total{outcome="replied",queue="quotes.rpc"} 1"#),
        "{quote_worker}"
    );
    assert!(
        quote_worker.contains(
            r#"rpc_handle_duration_seconds_count{outcome="replied",queue="quotes.rpc"} 1"#
        ),
        "{quote_worker}"
    );
    assert!(
        offer_poller.contains(r#"rpc_handled_total{outcome="replied",queue="offers.register"} 1"#),
        "{offer_poller}"
    );
    assert!(
        offer_poller.contains("offers_poll_lag_seconds "),
        "{offer_poller}"
    );
    assert!(
        offer_poller.contains("offers_poll_pass_duration_seconds_count "),
        "{offer_poller}"
    );
}
