//! The product catalog (SPEC section 5): reads for everyone, writes for
//! admins, skus unique, bad ids refused.
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use api::accounts::Role;
use catalog_entities::offer;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveValue, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tests::{TestApp, json_of, spawn_app};

/// An app with an admin, and the admin's Bearer header.
async fn app_with_admin() -> (TestApp, String) {
    let app = spawn_app().await;
    let bearer = app.bearer_of("root", Role::Admin).await;
    (app, bearer)
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return (status, Value::Null);
    }
    json_of(response).await
}

async fn create(app: &TestApp, admin: &str, body: Value) -> Value {
    app.create_product(admin, body).await
}

#[tokio::test]
async fn an_admin_creates_a_product_with_a_time_ordered_uuid() {
    let (app, admin) = app_with_admin().await;

    let product = create(&app, &admin, json!({"name": "Benzinová sekačka"})).await;

    let id: uuid::Uuid = product["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a UUID");
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(product["name"], "Benzinová sekačka");
    assert_eq!(product["description"], "");
    assert_eq!(product["sku"], Value::Null);
    assert_eq!(product["created_at"], product["updated_at"]);
    let (status, found) = send(&app, Method::GET, &format!("/products/{id}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["name"], "Benzinová sekačka");
    assert_eq!(found["offers"], json!([]));
}

#[tokio::test]
async fn writes_need_an_admin_and_reads_need_nobody() {
    let (app, admin) = app_with_admin().await;
    let product = create(&app, &admin, json!({"name": "Mower"})).await;
    let path = format!("/products/{}", product["id"].as_str().expect("id"));
    let user = app.bearer_of("ana", Role::User).await;
    let body = json!({"name": "Other"});

    for (method, path) in [
        (Method::POST, "/products"),
        (Method::PUT, path.as_str()),
        (Method::PATCH, path.as_str()),
        (Method::DELETE, path.as_str()),
    ] {
        let (status, _) = send(&app, method.clone(), path, None, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (status, _) = send(&app, method.clone(), path, Some(&user), Some(body.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    for path in ["/products", path.as_str(), &format!("{path}/offers")] {
        let (status, _) = send(&app, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, found) = send(&app, Method::GET, &path, None, None).await;
    assert_eq!(found["name"], "Mower", "unchanged by the refused writes");
}

#[tokio::test]
async fn a_taken_sku_is_a_409() {
    let (app, admin) = app_with_admin().await;
    create(&app, &admin, json!({"name": "A", "sku": "MOW-1"})).await;
    let other = create(&app, &admin, json!({"name": "B", "sku": "MOW-2"})).await;

    let (status, body) = send(
        &app,
        Method::POST,
        "/products",
        Some(&admin),
        Some(json!({"name": "C", "sku": "MOW-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "CONFLICT");

    let path = format!("/products/{}", other["id"].as_str().expect("id"));
    let (status, _) = send(
        &app,
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"sku": "MOW-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(&app, Method::GET, "/products?page_size=100", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bad_ids_are_400s_and_unknown_ids_404s() {
    let (app, admin) = app_with_admin().await;
    let unknown = uuid::Uuid::now_v7();

    for (method, suffix) in [
        (Method::GET, ""),
        (Method::GET, "/offers"),
        (Method::PUT, ""),
        (Method::PATCH, ""),
        (Method::DELETE, ""),
    ] {
        let body = Some(json!({"name": "X"}));
        let (status, error) = send(
            &app,
            method.clone(),
            &format!("/products/not-a-uuid{suffix}"),
            Some(&admin),
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {suffix}");
        assert_eq!(error["code"], "BAD_REQUEST");
        let (status, error) = send(
            &app,
            method.clone(),
            &format!("/products/{unknown}{suffix}"),
            Some(&admin),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {suffix}");
        assert_eq!(error["code"], "NOT_FOUND");
    }
}

#[tokio::test]
async fn bad_bodies_are_400s() {
    let (app, admin) = app_with_admin().await;

    for body in [
        json!({"name": "  "}),
        json!({"description": "no name"}),
        json!({"name": 5}),
        json!({"name": "X", "sku": "has spaces"}),
    ] {
        let (status, error) = send(
            &app,
            Method::POST,
            "/products",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["code"], "BAD_REQUEST");
    }
    let stored = catalog_entities::product::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn products_are_listed_newest_first_in_pages() {
    let (app, admin) = app_with_admin().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let product = create(&app, &admin, json!({"name": format!("product {i}")})).await;
        ids.push(product["id"].clone());
    }

    let (_, first) = send(
        &app,
        Method::GET,
        "/products?page=1&page_size=10",
        None,
        None,
    )
    .await;
    let (_, second) = send(
        &app,
        Method::GET,
        "/products?page=2&page_size=10",
        None,
        None,
    )
    .await;

    let listed: Vec<Value> = first
        .as_array()
        .expect("a list")
        .iter()
        .chain(second.as_array().expect("a list"))
        .map(|product| product["id"].clone())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    let (status, _) = send(&app, Method::GET, "/products?page=0", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn put_replaces_and_patch_changes_only_what_it_names() {
    let (app, admin) = app_with_admin().await;
    let product = create(
        &app,
        &admin,
        json!({"name": "Mower", "description": "Loud", "sku": "MOW-1"}),
    )
    .await;
    let path = format!("/products/{}", product["id"].as_str().expect("id"));

    let (status, patched) = send(
        &app,
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"description": "Quiet"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&patched["name"], &patched["description"], &patched["sku"]),
        (&json!("Mower"), &json!("Quiet"), &json!("MOW-1"))
    );
    let (_, patched) = send(
        &app,
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"sku": null})),
    )
    .await;
    assert_eq!(patched["sku"], Value::Null);
    assert_eq!(patched["description"], "Quiet");

    let (status, replaced) = send(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"name": "Mower 2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            &replaced["name"],
            &replaced["description"],
            &replaced["sku"]
        ),
        (&json!("Mower 2"), &json!(""), &Value::Null)
    );
    assert_eq!(replaced["created_at"], product["created_at"]);
}

#[tokio::test]
async fn deleting_a_product_removes_it_and_its_offers() {
    let (app, admin) = app_with_admin().await;
    let product = create(&app, &admin, json!({"name": "Mower"})).await;
    let id: uuid::Uuid = product["id"].as_str().expect("id").parse().expect("a UUID");
    offer::Entity::insert(offer::ActiveModel {
        id: ActiveValue::Set("offer-1".into()),
        product_id: ActiveValue::Set(id),
        price: ActiveValue::Set(1000),
        items_in_stock: ActiveValue::Set(5),
        updated_at: ActiveValue::Set(platform::Timestamp::from_micros(1)),
    })
    .exec_without_returning(&app.state.db)
    .await
    .expect("an offer");
    let (_, offers) = send(
        &app,
        Method::GET,
        &format!("/products/{id}/offers"),
        None,
        None,
    )
    .await;
    assert_eq!(offers[0]["price"], 1000);

    let (status, _) = send(
        &app,
        Method::DELETE,
        &format!("/products/{id}"),
        Some(&admin),
        None,
    )
    .await;

    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, Method::GET, &format!("/products/{id}"), None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let offers = offer::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(offers, 0, "its offers went with it");
}

/// Asks for the product until it says it is registered, for at most 30 s.
async fn registered_eventually(app: &TestApp, id: &str) -> bool {
    registered_eventually_within(app, id, 30).await
}

#[tokio::test]
async fn a_new_product_is_registered_with_the_offers_service_on_one_token() {
    let (app, admin) = app_with_admin().await;

    let mut ids = Vec::new();
    for name in ["Mower", "Trimmer", "Rake"] {
        let product = create(&app, &admin, json!({"name": name})).await;
        assert_eq!(product["registered"], true, "{product}");
        ids.push(product["id"].as_str().expect("id").to_owned());
    }

    for id in &ids {
        assert!(app.offers.is_registered(id));
        assert_eq!(app.offers.register_calls(id), 1);
    }
    assert_eq!(app.offers.auth_calls(), 1);
    assert_eq!(app.offers.authorization_headers(), 0);
}

#[tokio::test]
async fn a_product_created_while_the_offers_service_fails_is_registered_once_it_recovers() {
    let (app, admin) = app_with_admin().await;
    app.offers.fail(Some(tests::offers::Failure::ServerError));

    let product = create(&app, &admin, json!({"name": "Mower"})).await;
    let id = product["id"].as_str().expect("id").to_owned();
    assert_eq!(product["registered"], false);
    assert!(!app.offers.is_registered(&id));

    app.offers.fail(None);

    assert!(
        registered_eventually(&app, &id).await,
        "registered after the fault cleared"
    );
    assert!(app.offers.is_registered(&id));
}

#[tokio::test]
async fn a_product_deleted_before_its_registration_went_through_is_never_registered() {
    let (app, admin) = app_with_admin().await;
    app.offers.fail(Some(tests::offers::Failure::ServerError));
    let deleted = create(&app, &admin, json!({"name": "Deleted"})).await;
    let deleted = deleted["id"].as_str().expect("id").to_owned();
    let (status, _) = send(
        &app,
        Method::DELETE,
        &format!("/products/{deleted}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let kept = create(&app, &admin, json!({"name": "Kept"})).await;
    let kept = kept["id"].as_str().expect("id").to_owned();

    app.offers.fail(None);

    // The kept product's registration proves the retry pass ran after the
    // delete; it took the deleted one's place in the queue.
    assert!(registered_eventually(&app, &kept).await);
    assert!(!app.offers.is_registered(&deleted));
}

#[tokio::test]
async fn a_200_with_html_from_the_offers_service_is_no_registration_and_is_retried() {
    let (app, admin) = app_with_admin().await;
    app.offers.fail(Some(tests::offers::Failure::NotJson));

    let product = create(&app, &admin, json!({"name": "Mower"})).await;
    let id = product["id"].as_str().expect("id").to_owned();
    let registered_during_the_fault = app.offers.is_registered(&id);
    app.offers.fail(None);

    assert_eq!(product["registered"], false, "{product}");
    assert!(!registered_during_the_fault);
    assert!(
        registered_eventually(&app, &id).await,
        "retried and registered once the service answers properly"
    );
}

#[tokio::test]
async fn while_the_offers_service_is_down_a_new_product_costs_a_handful_of_calls() {
    let (app, admin) = app_with_admin().await;
    // A first product gets the deployment its token, and is polled once.
    let first = create(&app, &admin, json!({"name": "First"})).await;
    let first = first["id"].as_str().expect("id").to_owned();
    assert_eq!(app.offers.auth_calls(), 1);
    let started = std::time::Instant::now();
    while app.offers.offers_calls(&first) == 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    app.offers.fail(Some(tests::offers::Failure::ServerError));
    let calls_before = app.offers.calls();
    let product = create(&app, &admin, json!({"name": "Mower"})).await;
    let id = product["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(std::time::Duration::from_secs(20)).await;
    let calls_while_down = app.offers.calls() - calls_before;
    let metrics = app
        .get_internal("/metrics")
        .await
        .text()
        .await
        .expect("the metrics");
    app.offers.fail(None);
    let back_at = std::time::Instant::now();
    let registered = registered_eventually_within(&app, &id, 70).await;

    assert_eq!(product["registered"], false);
    // Backoff from 1 s, doubling with jitter: at most 6 attempts in 20 s
    // (the first, then after at least 0.5, 1, 2, 4 and 8 s more).
    assert!(
        (1..=6).contains(&calls_while_down),
        "{calls_while_down} calls while the service was down"
    );
    assert!(
        metrics.contains("offers_registrations_waiting 1"),
        "the gauge counts the waiting product"
    );
    assert!(
        registered,
        "registered after the service came back (waited {:?})",
        back_at.elapsed()
    );
}

/// Asks for the product until it says it is registered, for at most `seconds`.
async fn registered_eventually_within(app: &TestApp, id: &str, seconds: u64) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(seconds) {
        let (_, product) = send(app, Method::GET, &format!("/products/{id}"), None, None).await;
        if product["registered"] == true {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
