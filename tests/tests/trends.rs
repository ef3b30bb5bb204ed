//! Price trends (SPEC section 5), against hand-computed values.

use api::accounts::Role;
use catalog_entities::price_history;
use reqwest::StatusCode;
use sea_orm::{ActiveValue, EntityTrait};
use serde_json::{Value, json};
use tests::{TestApp, json_of, spawn_app};

/// 2026-11-20T10:00:00Z, and an hour in microseconds.
const T0: i64 = 1_795_168_800_000_000;
const HOUR: i64 = 3_600_000_000;

/// An app with one product whose two offers were seen at three polls:
/// `o1` at 1000, 1100, 990 and `o2` at 1200, 900, 1000.
async fn app_with_history() -> (TestApp, String) {
    let app = spawn_app().await;
    let admin = app.bearer_of("root", Role::Admin).await;
    let product = app.create_product(&admin, json!({"name": "Mower"})).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let uuid: uuid::Uuid = id.parse().expect("a UUID");
    let polls = [(0, 1000, 1200), (1, 1100, 900), (2, 990, 1000)];
    let rows = polls.iter().flat_map(|&(hour, o1, o2)| {
        [("o1", o1), ("o2", o2)].map(|(offer, price)| price_history::ActiveModel {
            id: ActiveValue::NotSet,
            product_id: ActiveValue::Set(uuid),
            offer_id: ActiveValue::Set(offer.into()),
            price: ActiveValue::Set(price),
            observed_at: ActiveValue::Set(platform::Timestamp::from_micros(T0 + hour * HOUR)),
        })
    });
    price_history::Entity::insert_many(rows)
        .exec_without_returning(&app.state.db)
        .await
        .expect("history");
    (app, id)
}

async fn trend(app: &TestApp, path: &str) -> (StatusCode, Value) {
    json_of(app.get(path).await).await
}

#[tokio::test]
async fn an_offers_trend_lists_its_prices_in_order_with_the_change_from_first_to_last() {
    let (app, id) = app_with_history().await;

    let path =
        format!("/products/{id}/offers/o1/trend?from=2026-11-20T09:00:00Z&to=2026-11-20T13:00:00Z");
    let (status, body) = trend(&app, &path).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["offer_id"], "o1");
    assert_eq!(body["prices"], json!([1000, 1100, 990]));
    assert_eq!(
        body["points"][1],
        json!({"at": "2026-11-20T11:00:00.000000Z", "price": 1100})
    );
    assert_eq!(body["change_percent"], -1.0);
    assert_eq!(body["from"], "2026-11-20T09:00:00.000000Z");
}

#[tokio::test]
async fn a_shorter_period_keeps_only_its_prices_both_ends_included() {
    let (app, id) = app_with_history().await;

    let path =
        format!("/products/{id}/offers/o1/trend?from=2026-11-20T11:00:00Z&to=2026-11-20T12:00:00Z");
    let (_, body) = trend(&app, &path).await;
    assert_eq!(body["prices"], json!([1100, 990]));
    assert_eq!(body["change_percent"], -10.0);

    let path =
        format!("/products/{id}/offers/o2/trend?from=2026-11-20T10:00:00Z&to=2026-11-20T11:00:00Z");
    let (_, body) = trend(&app, &path).await;
    assert_eq!(body["prices"], json!([1200, 900]));
    assert_eq!(body["change_percent"], -25.0);
}

#[tokio::test]
async fn fewer_than_two_prices_have_no_change() {
    let (app, id) = app_with_history().await;

    for (from, to, prices) in [
        (
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:30:00Z",
            json!([1000]),
        ),
        ("2026-11-21T00:00:00Z", "2026-11-21T01:00:00Z", json!([])),
    ] {
        let path = format!("/products/{id}/offers/o1/trend?from={from}&to={to}");
        let (status, body) = trend(&app, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["prices"], prices);
        assert_eq!(body["change_percent"], Value::Null);
    }
}

#[tokio::test]
async fn a_products_trend_follows_its_lowest_price() {
    let (app, id) = app_with_history().await;

    let path = format!("/products/{id}/trend?from=2026-11-20T09:00:00Z&to=2026-11-20T13:00:00Z");
    let (status, body) = trend(&app, &path).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["product_id"], id.as_str());
    assert_eq!(body["prices"], json!([1000, 900, 990]));
    assert_eq!(body["change_percent"], -1.0);
}

#[tokio::test]
async fn bad_periods_and_ids_are_4xx() {
    let (app, id) = app_with_history().await;

    for (path, status) in [
        (
            format!("/products/{id}/trend?from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/products/{id}/trend?from=yesterday"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/products/{id}/offers/o1/trend?to=2026-13-01T00:00:00Z"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/products/not-a-uuid/trend".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/products/{}/trend", uuid::Uuid::now_v7()),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/products/{id}/offers/no-such-offer/trend"),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, body) = trend(&app, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["code"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_long_series_is_downsampled_to_1000_points_keeping_its_ends_and_its_change() {
    let app = spawn_app().await;
    let admin = app.bearer_of("root", Role::Admin).await;
    let product = app.create_product(&admin, json!({"name": "Kettle"})).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let uuid: uuid::Uuid = id.parse().expect("a UUID");
    // A price a minute for 2,500 minutes: 1000, 1001, … 3499.
    let rows = (0..2_500).map(|minute| price_history::ActiveModel {
        id: ActiveValue::NotSet,
        product_id: ActiveValue::Set(uuid),
        offer_id: ActiveValue::Set("o1".into()),
        price: ActiveValue::Set(1_000 + minute),
        observed_at: ActiveValue::Set(platform::Timestamp::from_micros(T0 + minute * 60_000_000)),
    });
    for chunk in rows.collect::<Vec<_>>().chunks(500) {
        price_history::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.state.db)
            .await
            .expect("history");
    }

    let (status, trend) = trend(
        &app,
        &format!(
            "/products/{id}/offers/o1/trend?from=2026-11-20T00:00:00Z&to=2026-11-23T00:00:00Z"
        ),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{trend}");
    let prices = trend["prices"].as_array().expect("prices");
    assert_eq!(prices.len(), 1_000);
    assert_eq!(trend["points"].as_array().map(Vec::len), Some(1_000));
    assert_eq!(
        (prices[0].as_i64(), prices[999].as_i64()),
        (Some(1_000), Some(3_499))
    );
    assert_eq!(trend["change_percent"], json!(249.9));
}
