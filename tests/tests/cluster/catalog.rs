//! The catalog's registration and polling across real processes and a
//! RabbitMQ outage.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api::accounts::Role;
use catalog_entities::price_history;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;
use tests::process::{command, stdout_lines, terminate, wait_for_exit, wait_for_log};
use tests::servers::RabbitNode;
use tests::spawn_app_with;

/// Waits (at most a minute) until `done` holds.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_product_created_while_rabbitmq_is_down_is_created_unregistered_then_registered() {
    tests::require_cluster!();
    let node = RabbitNode::start().await;
    let vhost = node.fresh_vhost().await;
    let app = spawn_app_with(&[("AMQP_URL", vhost.as_ref())]).await;
    let admin = app.bearer_of("root", Role::Admin).await;

    node.stop_app().await;
    let product = app.create_product(&admin, json!({"name": "Mower"})).await;
    node.start_app().await;

    assert_eq!(product["registered"], false, "{product}");
    let id = product["id"].as_str().expect("id").to_owned();
    assert!(eventually(|| app.offers.is_registered(&id)).await);
    assert_eq!(app.offers.register_calls(&id), 1);
}

#[tokio::test]
async fn two_pollers_ask_for_one_token_and_poll_each_product_once_per_period() {
    tests::require_cluster!();
    let app = spawn_app_with(&[("RUN_WORKERS", "false")]).await;
    let admin = app.bearer_of("root", Role::Admin).await;
    let period = Duration::from_secs(2);
    let settings = &app.state.settings;
    let database_url = settings.database.url.as_str().to_owned();
    let amqp_url = settings
        .broker
        .amqp_url
        .as_ref()
        .expect("a cluster run")
        .expose()
        .to_string();
    let offers_url = app.offers.url.to_string();
    let vars = [
        ("DATABASE_URL", database_url.as_str()),
        ("AMQP_URL", amqp_url.as_str()),
        ("OFFERS_BASE_URL", offers_url.as_str()),
        ("OFFERS_POLL_INTERVAL_SECS", "2"),
        ("LOG_FORMAT", "json"),
    ];
    let mut pollers = Vec::new();
    for _ in 0..2 {
        pollers.push(
            command("offer-poller", &vars)
                .spawn()
                .expect("start offer-poller"),
        );
    }
    for poller in &mut pollers {
        let mut log = stdout_lines(poller);
        wait_for_log(&mut log, "consuming", Duration::from_secs(30)).await;
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    }
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            app.create_product(&admin, json!({"name": format!("product {i}")}))
                .await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }

    assert!(
        eventually(|| ids.iter().all(|id| app.offers.offers_calls(id) >= 4)).await,
        "every product is polled"
    );

    for poller in &mut pollers {
        terminate(poller).await;
        assert_eq!(
            wait_for_exit(poller, Duration::from_secs(15)).await.code(),
            Some(0)
        );
    }
    assert_eq!(app.offers.auth_calls(), 1);
    let history = price_history::Entity::find()
        .order_by_asc(price_history::Column::ObservedAt)
        .all(&app.state.db)
        .await
        .expect("history");
    let mut polls: BTreeMap<uuid::Uuid, Vec<platform::Timestamp>> = BTreeMap::new();
    for row in history {
        let times = polls.entry(row.product_id).or_default();
        if times.last() != Some(&row.observed_at) {
            times.push(row.observed_at);
        }
    }
    assert_eq!(polls.len(), ids.len());
    let period_micros = i64::try_from(period.as_micros()).expect("fits");
    for (product, times) in polls {
        for pair in times.windows(2) {
            let gap = i64::try_from(pair[1].since(pair[0]).as_micros()).expect("fits");
            // Never twice in a period (a little slack for the time between
            // claiming and storing), never a period skipped (a claim pass
            // runs every second).
            assert!(
                gap >= period_micros - 500_000,
                "{product} polled twice: {times:?}"
            );
            assert!(
                gap <= period_micros + 2_500_000,
                "{product} skipped a period: {times:?}"
            );
        }
    }
}
