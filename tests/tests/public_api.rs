//! The public API layer of seed 004, on the public listener: its envelopes,
//! its checks, and how it uses the listing and user services.
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use api::marketplace::listings::entity as listing;
use platform::Clock;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tests::{TestApp, json_of, spawn_app, spawn_app_with, spawn_app_with_clock};

/// The settings that choose how the public layer calls the services of
/// its own process.
type Transport = &'static [(&'static str, &'static str)];

/// The default: through the internal listener's router, in-process.
const IN_PROCESS: Transport = &[];

/// Over HTTP, on the process's own internal listener.
const OVER_HTTP: Transport = &[("SERVICES_IN_PROCESS", "false")];

/// Runs each of the public layer's contract tests on both transports: the
/// services answer the same whether they are called in-process or over
/// HTTP.
macro_rules! on_both_transports {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::IN_PROCESS).await;
            })*
        }
        mod over_http {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::OVER_HTTP).await;
            })*
        }
    };
}

on_both_transports!(
    a_page_of_listings_embeds_each_listings_user_in_place_of_user_id,
    creating_a_user_answers_the_user_alone,
    creating_a_listing_answers_the_listing_alone_with_its_user_id,
    a_listing_for_a_user_that_does_not_exist_is_a_400_and_stores_nothing,
    listing_body_validation_lists_every_failure_in_order,
    a_body_that_is_not_a_json_object_is_a_400_in_the_envelope,
    page_values_are_checked_at_the_public_edge_with_the_services_messages,
    the_user_id_filter_and_paging_pass_through_the_public_layer,
    a_page_of_ten_listings_by_different_users_costs_one_user_service_request,
    users_seen_within_the_cache_time_to_live_cost_no_user_service_request,
);

/// A user service in a process (here, an app) of its own, on its own
/// database, and a public app that reaches it at `USER_SERVICE_URL`.
async fn spawn_with_separate_user_service() -> (TestApp, TestApp) {
    let users = spawn_app_with(&[("SERVICES", "users")]).await;
    let public = spawn_app_with(&[
        ("SERVICES", "public,listings"),
        ("USER_SERVICE_URL", &users.internal_address),
    ])
    .await;
    (public, users)
}

async fn a_page_of_listings_embeds_each_listings_user_in_place_of_user_id(transport: Transport) {
    let app = spawn_app_with(transport).await;
    let ana = app.create_user("Ana").await;
    let bo = app.create_user("Bo").await;
    let first = app
        .create_listing(ana["id"].as_i64().expect("id"), "rent", 6000)
        .await;
    let second = app
        .create_listing(bo["id"].as_i64().expect("id"), "sale", 250_000)
        .await;

    let (status, body) = json_of(app.get("/public-api/listings").await).await;

    assert_eq!(status, StatusCode::OK);
    let expected = |listing: &Value, user: &Value| {
        json!({
            "id": listing["id"],
            "listing_type": listing["listing_type"],
            "price": listing["price"],
            "created_at": listing["created_at"],
            "updated_at": listing["updated_at"],
            "user": user,
        })
    };
    assert_eq!(
        body,
        json!({"result": true, "listings": [expected(&second, &bo), expected(&first, &ana)]})
    );
}

async fn creating_a_user_answers_the_user_alone(transport: Transport) {
    let app = spawn_app_with(transport).await;

    let response = app
        .post_json("/public-api/users", &json!({"name": "Lorel Ipsum"}))
        .await;
    let (status, body) = json_of(response).await;

    assert_eq!(status, StatusCode::OK);
    let user = &body["user"];
    assert_eq!(user["name"], "Lorel Ipsum");
    assert_eq!(user["created_at"], user["updated_at"]);
    assert_eq!(body, json!({"user": user}), "no `result` beside it");
    let path = format!("/users/{}", user["id"]);
    let (status, _) = json_of(app.get_internal(&path).await).await;
    assert_eq!(status, StatusCode::OK, "stored by the user service");
}

async fn creating_a_listing_answers_the_listing_alone_with_its_user_id(transport: Transport) {
    let app = spawn_app_with(transport).await;
    let user = app.create_user("Ana").await;

    let body = json!({"user_id": user["id"], "listing_type": "rent", "price": 6000});
    let (status, body) = json_of(app.post_json("/public-api/listings", &body).await).await;

    assert_eq!(status, StatusCode::OK);
    let listing = &body["listing"];
    assert_eq!(listing["user_id"], user["id"]);
    assert_eq!(listing["listing_type"], "rent");
    assert_eq!(listing["price"], 6000);
    assert_eq!(listing["created_at"], listing["updated_at"]);
    assert_eq!(body, json!({"listing": listing}));
}

async fn a_listing_for_a_user_that_does_not_exist_is_a_400_and_stores_nothing(
    transport: Transport,
) {
    let app = spawn_app_with(transport).await;

    let body = json!({"user_id": 4242, "listing_type": "rent", "price": 6000});
    let (status, body) = json_of(app.post_json("/public-api/listings", &body).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"result": false, "errors": ["invalid user_id. User 4242 does not exist"]})
    );
    let stored = listing::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(stored, 0);
}

async fn listing_body_validation_lists_every_failure_in_order(transport: Transport) {
    let app = spawn_app_with(transport).await;

    let body = json!({"user_id": "abc", "listing_type": "lease", "price": 60.5});
    let (status, body) = json_of(app.post_json("/public-api/listings", &body).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"result": false, "errors": [
            "invalid user_id",
            "invalid listing_type. Supported values: 'rent', 'sale'",
            "invalid price. Must be an integer",
        ]})
    );
    let body = json!({"user_id": 1, "listing_type": "sale", "price": 0});
    let (_, body) = json_of(app.post_json("/public-api/listings", &body).await).await;
    assert_eq!(
        body,
        json!({"result": false, "errors": ["price must be greater than 0"]})
    );
}

async fn a_body_that_is_not_a_json_object_is_a_400_in_the_envelope(transport: Transport) {
    let app = spawn_app_with(transport).await;

    for raw in [r#"{"name": "Ana""#, r#"["Ana"]"#, ""] {
        let response = app
            .client
            .post(format!("{}/public-api/users", app.address))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("sent");
        let (status, body) = json_of(response).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}");
        assert_eq!(body["result"], false, "{raw}");
        assert!(
            body["errors"][0]
                .as_str()
                .is_some_and(|e| e.starts_with("invalid body")),
            "{body}"
        );
    }
    let (_, body) = json_of(
        app.post_json("/public-api/users", &json!({"name": " "}))
            .await,
    )
    .await;
    assert_eq!(
        body,
        json!({"result": false, "errors": ["invalid name. Must not be blank"]})
    );
}

async fn page_values_are_checked_at_the_public_edge_with_the_services_messages(
    transport: Transport,
) {
    let app = spawn_app_with(transport).await;

    for (query, message) in [
        ("page_num=abc", "invalid page_num"),
        ("page_size=x", "invalid page_size"),
        ("user_id=me", "invalid user_id"),
        (
            "page_size=101",
            "invalid page_size. Must be between 1 and 100",
        ),
    ] {
        let path = format!("/public-api/listings?{query}");
        let (status, body) = json_of(app.get(&path).await).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body, json!({"result": false, "errors": message}), "{query}");
    }
}

async fn the_user_id_filter_and_paging_pass_through_the_public_layer(transport: Transport) {
    let app = spawn_app_with(transport).await;
    let ana = app.create_user("Ana").await["id"].as_i64().expect("id");
    let bo = app.create_user("Bo").await["id"].as_i64().expect("id");
    for price in 1..=3 {
        app.create_listing(ana, "rent", price).await;
    }
    app.create_listing(bo, "sale", 99).await;

    let path = format!("/public-api/listings?user_id={ana}&page_num=2&page_size=2");
    let (status, body) = json_of(app.get(&path).await).await;

    assert_eq!(status, StatusCode::OK);
    let listings = body["listings"].as_array().expect("a list");
    assert_eq!(listings.len(), 1, "{body}");
    assert_eq!(listings[0]["price"], 1, "the oldest of Ana's three");
    assert_eq!(listings[0]["user"]["name"], "Ana");
}

/// Creates a user and a listing of theirs through the services directly,
/// so the public layer has not seen the user yet.
async fn user_with_listing(app: &TestApp, name: &str) -> i64 {
    let (_, user) = json_of(app.post_form("/users", &[("name", name)]).await).await;
    let user_id = user["user"]["id"].to_string();
    let form = [
        ("user_id", user_id.as_str()),
        ("listing_type", "rent"),
        ("price", "100"),
    ];
    let (status, _) = json_of(app.post_form("/listings", &form).await).await;
    assert_eq!(status, StatusCode::OK);
    user["user"]["id"].as_i64().expect("id")
}

async fn a_page_of_ten_listings_by_different_users_costs_one_user_service_request(
    transport: Transport,
) {
    let app = spawn_app_with(transport).await;
    for i in 0..10 {
        user_with_listing(&app, &format!("user {i}")).await;
    }
    let batches_before = app.requests_counted("GET", "/users").await;
    let singles_before = app.requests_counted("GET", "/users/{id}").await;

    let (status, body) = json_of(app.get("/public-api/listings?page_size=10").await).await;

    assert_eq!(status, StatusCode::OK);
    let listings = body["listings"].as_array().expect("a list");
    assert_eq!(listings.len(), 10);
    assert!(
        listings.iter().all(|l| l["user"]["name"].is_string()),
        "{body}"
    );
    assert_eq!(
        app.requests_counted("GET", "/users").await,
        batches_before + 1
    );
    assert_eq!(
        app.requests_counted("GET", "/users/{id}").await,
        singles_before
    );
}

async fn users_seen_within_the_cache_time_to_live_cost_no_user_service_request(
    transport: Transport,
) {
    let start = 1_475_820_997_000_000;
    let clock = Clock::frozen_at_micros(start);
    let settings = [transport, &[("USER_CACHE_TTL_SECS", "60")]].concat();
    let app = spawn_app_with_clock(&settings, clock.clone()).await;
    for i in 0..3 {
        user_with_listing(&app, &format!("user {i}")).await;
    }
    let (_, first) = json_of(app.get("/public-api/listings").await).await;
    let batches = app.requests_counted("GET", "/users").await;

    clock.set_micros(start + 59_000_000);
    let (_, cached) = json_of(app.get("/public-api/listings").await).await;
    assert_eq!(cached, first);
    assert_eq!(app.requests_counted("GET", "/users").await, batches);

    clock.set_micros(start + 60_000_000);
    let (_, refreshed) = json_of(app.get("/public-api/listings").await).await;
    assert_eq!(refreshed, first);
    assert_eq!(app.requests_counted("GET", "/users").await, batches + 1);
}

#[tokio::test]
async fn services_on_their_own_databases_serve_the_public_layer() {
    let listings = spawn_app_with(&[("SERVICES", "listings")]).await;
    let users = spawn_app_with(&[("SERVICES", "users")]).await;
    let public = spawn_app_with(&[
        ("SERVICES", "public"),
        ("LISTING_SERVICE_URL", &listings.internal_address),
        ("USER_SERVICE_URL", &users.internal_address),
    ])
    .await;

    let user = public.create_user("Ana").await;
    let listing = public
        .create_listing(user["id"].as_i64().expect("id"), "sale", 10)
        .await;
    let (status, page) = json_of(public.get("/public-api/listings").await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["listings"][0]["id"], listing["id"]);
    assert_eq!(page["listings"][0]["user"], user);
    let stored = listing::Entity::find()
        .count(&listings.state.db)
        .await
        .expect("count");
    assert_eq!(
        stored, 1,
        "the listing is in the listing service's database"
    );
    let (status, _) = json_of(users.get("/listings").await).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a user service serves no listings"
    );
}

#[tokio::test]
async fn the_public_layer_answers_a_json_5xx_while_the_user_service_is_stopped() {
    let (public, users) = spawn_with_separate_user_service().await;
    let (_, ana) = json_of(users.post_form("/users", &[("name", "Ana")]).await).await;
    let ana = ana["user"]["id"].to_string();
    let form = [
        ("user_id", ana.as_str()),
        ("listing_type", "rent"),
        ("price", "10"),
    ];
    json_of(public.post_form("/listings", &form).await).await;

    users.stop().await.expect("the user service stops cleanly");

    for response in [
        public.get("/public-api/listings").await,
        public
            .post_json("/public-api/users", &json!({"name": "Bo"}))
            .await,
        public
            .post_json(
                "/public-api/listings",
                &json!({"user_id": ana, "listing_type": "rent", "price": 5}),
            )
            .await,
    ] {
        let (status, body) = json_of(response).await;
        assert!(
            [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE].contains(&status),
            "{status}"
        );
        assert_eq!(body["result"], false);
        assert!(
            body["errors"][0]
                .as_str()
                .is_some_and(|e| e.starts_with("user service")),
            "{body}"
        );
    }
    let stored = listing::Entity::find()
        .count(&public.state.db)
        .await
        .expect("count");
    assert_eq!(stored, 1, "no listing created without its user check");
}

#[tokio::test]
async fn a_user_service_that_does_not_answer_is_a_504_after_the_service_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let app = spawn_app_with(&[
        ("SERVICES", "public,listings"),
        ("USER_SERVICE_URL", &silent_url),
        ("SERVICE_TIMEOUT_MS", "300"),
    ])
    .await;

    let response = app
        .post_json("/public-api/users", &json!({"name": "Ana"}))
        .await;

    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        body,
        json!({"result": false, "errors": ["user service timed out"]})
    );
}

#[tokio::test]
async fn each_listener_documents_the_routes_it_serves_and_no_other() {
    let app = spawn_app().await;

    let (status, public) = json_of(app.get("/openapi.json").await).await;
    let internal = app.get_internal("/openapi.json").await;
    let (internal_status, internal) = json_of(internal).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(internal_status, StatusCode::OK);
    for (method, path) in [
        ("get", "/public-api/listings"),
        ("post", "/public-api/listings"),
        ("post", "/public-api/users"),
    ] {
        assert!(public["paths"][path][method].is_object(), "{method} {path}");
        assert!(internal["paths"][path].is_null(), "{path} is not internal");
    }
    for (method, path) in [
        ("get", "/listings"),
        ("post", "/listings"),
        ("get", "/listings/ping"),
        ("get", "/users"),
        ("post", "/users"),
        ("get", "/users/{id}"),
    ] {
        assert!(
            internal["paths"][path][method].is_object(),
            "{method} {path}"
        );
        assert!(public["paths"][path].is_null(), "{path} is not public");
    }
    assert_eq!(internal["servers"], json!([{"url": "/"}]));
}
