//! `offer-poller` refreshing offers and price history from the Offers fake.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api::accounts::Role;
use catalog_entities::price_history;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tests::offers::FakeOffer;
use tests::{TestApp, json_of, spawn_app_with};

/// An app polling every second, and an admin's Bearer header.
async fn polling_app() -> (TestApp, String) {
    let app = spawn_app_with(&[("OFFERS_POLL_INTERVAL_SECS", "1")]).await;
    let bearer = app.bearer_of("root", Role::Admin).await;
    (app, bearer)
}

async fn create(app: &TestApp, admin: &str, name: &str) -> String {
    let product = app.create_product(admin, json!({"name": name})).await;
    assert_eq!(product["registered"], true, "{product}");
    product["id"].as_str().expect("id").to_owned()
}

/// The product's offers as `GET /products/{id}/offers` shows them: id → (price, stock).
async fn shown_offers(app: &TestApp, id: &str) -> BTreeMap<String, (i64, i64)> {
    let (_, offers) = json_of(app.get(&format!("/products/{id}/offers")).await).await;
    offers
        .as_array()
        .expect("a list")
        .iter()
        .map(|o: &Value| {
            (
                o["id"].as_str().expect("id").to_owned(),
                (
                    o["price"].as_i64().expect("price"),
                    o["items_in_stock"].as_i64().expect("stock"),
                ),
            )
        })
        .collect()
}

fn as_map(offers: Vec<FakeOffer>) -> BTreeMap<String, (i64, i64)> {
    offers
        .into_iter()
        .map(|o| (o.id, (o.price, o.items_in_stock)))
        .collect()
}

/// Waits (at most 30 s) until the app shows exactly the fake's offers.
async fn shows_the_fakes_offers(app: &TestApp, id: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if shown_offers(app, id).await == as_map(app.offers.offers_of(id)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn offers_appear_after_a_poll_and_follow_the_services_price_changes() {
    let (app, admin) = polling_app().await;
    let id = create(&app, &admin, "Mower").await;

    assert!(shows_the_fakes_offers(&app, &id).await, "the first poll");
    let before = shown_offers(&app, &id).await;
    app.offers.change_prices(100);
    assert!(
        shows_the_fakes_offers(&app, &id).await,
        "after the prices changed"
    );
    let after = shown_offers(&app, &id).await;

    assert_ne!(before, after);
    assert_eq!(after.len(), 3, "the sold-out offer was replaced");
    let uuid: uuid::Uuid = id.parse().expect("a UUID");
    let history = price_history::Entity::find()
        .filter(price_history::Column::ProductId.eq(uuid))
        .count(&app.state.db)
        .await
        .expect("count");
    assert!(history >= 6, "every price of both polls is kept: {history}");
}

#[tokio::test]
async fn offers_that_vanish_from_the_service_vanish_from_the_product() {
    let (app, admin) = polling_app().await;
    let id = create(&app, &admin, "Mower").await;
    assert!(shows_the_fakes_offers(&app, &id).await);

    app.offers.set_offers(
        &id,
        vec![FakeOffer {
            id: "only-one".into(),
            price: 500,
            items_in_stock: 1,
        }],
    );

    assert!(shows_the_fakes_offers(&app, &id).await);
    assert_eq!(
        shown_offers(&app, &id).await,
        BTreeMap::from([("only-one".to_owned(), (500, 1))])
    );
}

#[tokio::test]
async fn a_product_the_service_forgot_is_registered_again() {
    let (app, admin) = polling_app().await;
    let id = create(&app, &admin, "Mower").await;

    app.offers.forget(&id);

    let started = Instant::now();
    while !app.offers.is_registered(&id) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.offers.is_registered(&id));
    assert_eq!(app.offers.register_calls(&id), 2);
}

#[tokio::test]
async fn a_deleted_product_is_no_longer_polled() {
    let (app, admin) = polling_app().await;
    let deleted = create(&app, &admin, "Deleted").await;
    let kept = create(&app, &admin, "Kept").await;
    assert!(shows_the_fakes_offers(&app, &deleted).await);
    let response = app
        .client
        .delete(format!("{}/products/{deleted}", app.address))
        .header("authorization", &admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    let polls_of_deleted = app.offers.offers_calls(&deleted);
    let polls_of_kept = app.offers.offers_calls(&kept);

    // Two more polls of the kept product prove two passes ran since.
    let started = Instant::now();
    while app.offers.offers_calls(&kept) < polls_of_kept + 2
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(app.offers.offers_calls(&kept) >= polls_of_kept + 2);
    assert_eq!(app.offers.offers_calls(&deleted), polls_of_deleted);
}

#[tokio::test]
async fn a_refused_token_shows_in_readyz_without_failing_it_and_no_new_token_is_minted() {
    let (app, admin) = polling_app().await;
    let id = create(&app, &admin, "Mower").await;
    assert!(shows_the_fakes_offers(&app, &id).await);

    app.offers.revoke_tokens();

    let started = Instant::now();
    let readiness = loop {
        let response = app.get("/readyz").await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        if body["warnings"]["offers_service"]["ok"] == false {
            break (status, body);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no warning: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, body) = readiness;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(app.offers.auth_calls(), 1);
}

#[tokio::test]
async fn the_in_process_poller_reads_the_apps_clock() {
    let frozen = 1_475_820_997_000_000;
    let app = tests::spawn_app_with_clock(&[], platform::Clock::frozen_at_micros(frozen)).await;
    let admin = app.bearer_of("root", Role::Admin).await;

    let id = create(&app, &admin, "Sekačka").await;

    let row =
        catalog_entities::product::Entity::find_by_id(id.parse::<uuid::Uuid>().expect("a uuid"))
            .one(&app.state.db)
            .await
            .expect("query")
            .expect("the product");
    // Registered at the frozen time, and polled at most once since: its
    // next poll is then, or one period later; never by the system's time.
    let next = row.next_poll_at.expect("a poll is scheduled").as_micros();
    let period = i64::try_from(app.state.settings.offers.poll_interval.as_micros()).expect("fits");
    assert!(
        next == frozen || next == frozen + period,
        "next poll at {next}, the app's clock reads {frozen}"
    );
}
