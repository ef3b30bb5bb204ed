//! The standalone worker binaries, against RabbitMQ.

use std::time::Duration;

use rpc::AmqpBroker;
use rpc::CallError;
use rpc::broker::TransportError;
use rpc::messages::QuoteRequest;
use tests::backend::cluster;
use tests::process::{command, stdout_lines, terminate, wait_for_exit, wait_for_log};
use tests::spawn_app_with;
use tests::stooq::StooqFake;

#[tokio::test]
async fn standalone_workers_answer_over_rabbitmq_and_exit_cleanly_on_sigterm() {
    tests::require_cluster!();
    let url = cluster().fresh_vhost().await;
    let caller = AmqpBroker::new(&url, "test caller");
    let stooq = StooqFake::start().await;
    // An app only to have a migrated database for the offer poller.
    let app = tests::spawn_app().await;
    let database_url = app.state.settings.database.url.as_str().to_owned();
    let vars = [
        ("AMQP_URL", url.as_str()),
        ("DATABASE_URL", database_url.as_str()),
        ("STOOQ_BASE_URL", stooq.url.as_str()),
        ("OFFERS_BASE_URL", app.offers.url.as_str()),
        ("LOG_FORMAT", "json"),
    ];
    let mut quote_worker = command("quote-worker", &vars)
        .spawn()
        .expect("start quote-worker");
    let mut offer_poller = command("offer-poller", &vars)
        .spawn()
        .expect("start offer-poller");
    for worker in [&mut quote_worker, &mut offer_poller] {
        let mut log = stdout_lines(worker);
        wait_for_log(&mut log, "consuming", Duration::from_secs(30)).await;
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    }

    tests::assert_both_workers_answer(&caller).await;

    for worker in [&mut quote_worker, &mut offer_poller] {
        terminate(worker).await;
        assert_eq!(
            wait_for_exit(worker, Duration::from_secs(15)).await.code(),
            Some(0)
        );
    }
}

#[tokio::test]
async fn with_no_worker_running_a_call_times_out() {
    tests::require_cluster!();
    let app = spawn_app_with(&[("RUN_WORKERS", "false")]).await;

    let reply = rpc::call(
        &*app.state.broker,
        &QuoteRequest::Get {
            symbol: rpc::messages::Symbol::parse("aapl.us").expect("a symbol"),
        },
        Duration::from_millis(500),
    )
    .await;

    assert!(
        matches!(
            reply,
            Err(CallError::Transport(TransportError::Timeout { .. }))
        ),
        "got {reply:?}"
    );
}
