//! The listing and user services of seed 004, on the internal listener:
//! every point of their contract (SPEC section 7), exactly.
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use std::collections::HashSet;

use api::marketplace::listings::entity as listing;
use api::marketplace::listings::pages::PageKey;
use api::marketplace::users::entity as user;
use api::web::paging::PageRequest;
use platform::Clock;
use reqwest::StatusCode;
use sea_orm::{DbBackend, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tests::{TestApp, json_of, spawn_app, spawn_app_with_clock};

/// 2016-10-07T06:16:37Z, the seed's example timestamp.
const SEED_TIME: i64 = 1_475_820_997_000_000;

async fn listing_rows(app: &TestApp) -> u64 {
    listing::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count listings")
}

async fn create_listing(app: &TestApp, user_id: &str, listing_type: &str, price: &str) -> Value {
    let form = [
        ("user_id", user_id),
        ("listing_type", listing_type),
        ("price", price),
    ];
    let (status, body) = json_of(app.post_form("/listings", &form).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["listing"].clone()
}

fn ids(page: &Value, key: &str) -> Vec<i64> {
    page[key]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_i64().expect("an integer id"))
        .collect()
}

#[tokio::test]
async fn a_created_listing_is_answered_200_with_equal_sixteen_digit_microsecond_timestamps() {
    let app = spawn_app().await;

    let form = [
        ("user_id", "1"),
        ("listing_type", "rent"),
        ("price", "6000"),
    ];
    let (status, body) = json_of(app.post_form("/listings", &form).await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], true);
    let listing = &body["listing"];
    let keys: HashSet<&str> = listing
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "user_id",
            "listing_type",
            "price",
            "created_at",
            "updated_at"
        ])
    );
    assert_eq!(listing["user_id"], 1);
    assert_eq!(listing["listing_type"], "rent");
    assert_eq!(listing["price"], 6000);
    let created_at = listing["created_at"].as_i64().expect("an integer");
    assert_eq!(
        created_at.to_string().len(),
        16,
        "microseconds: {created_at}"
    );
    assert_eq!(listing["updated_at"], listing["created_at"]);
    let stored = listing::Entity::find_by_id(listing["id"].as_i64().expect("id"))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the listing is stored");
    assert_eq!(stored.created_at.as_micros(), created_at);
}

#[tokio::test]
async fn listing_validation_lists_every_failure_in_order_and_stores_nothing() {
    let app = spawn_app().await;

    let form = [
        ("user_id", "one"),
        ("listing_type", "lease"),
        ("price", "cheap"),
    ];
    let (status, body) = json_of(app.post_form("/listings", &form).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"result": false, "errors": [
            "invalid user_id",
            "invalid listing_type. Supported values: 'rent', 'sale'",
            "invalid price. Must be an integer",
        ]})
    );
    assert_eq!(listing_rows(&app).await, 0);
}

#[tokio::test]
async fn a_price_of_zero_or_less_must_be_greater_than_zero() {
    let app = spawn_app().await;

    for price in ["0", "-100"] {
        let form = [("user_id", "1"), ("listing_type", "sale"), ("price", price)];
        let (status, body) = json_of(app.post_form("/listings", &form).await).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{price}");
        assert_eq!(
            body,
            json!({"result": false, "errors": ["price must be greater than 0"]})
        );
    }
    assert_eq!(listing_rows(&app).await, 0);
}

#[tokio::test]
async fn missing_form_fields_get_the_json_envelope_not_an_html_page() {
    let app = spawn_app().await;

    let response = app
        .post_form("/listings", &[("listing_type", "rent")])
        .await;

    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "a JSON error"
    );
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"result": false, "errors": [
            "invalid user_id",
            "invalid price. Must be an integer",
        ]})
    );
}

#[tokio::test]
async fn a_query_value_that_is_not_an_integer_is_a_string_error() {
    let app = spawn_app().await;

    for (query, message) in [
        ("page_num=abc", "invalid page_num"),
        ("page_size=ten", "invalid page_size"),
        ("user_id=me", "invalid user_id"),
    ] {
        let response = app.get_internal(&format!("/listings?{query}")).await;
        let (status, body) = json_of(response).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body, json!({"result": false, "errors": message}), "{query}");
    }
}

#[tokio::test]
async fn zero_negative_and_absurd_page_values_are_400s() {
    let app = spawn_app().await;

    for query in [
        "page_num=0",
        "page_num=-1",
        "page_num=99999999999",
        "page_size=0",
        "page_size=-5",
        "page_size=101",
    ] {
        for path in ["/listings", "/users"] {
            let response = app.get_internal(&format!("{path}?{query}")).await;
            let (status, body) = json_of(response).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}");
            assert_eq!(body["result"], false);
            assert!(body["errors"].is_string(), "{body}");
        }
    }
}

#[tokio::test]
async fn pages_are_newest_first_and_never_repeat_or_skip_rows_with_identical_timestamps() {
    let clock = Clock::frozen_at_micros(SEED_TIME);
    let app = spawn_app_with_clock(&[], clock.clone()).await;
    let mut created = Vec::new();
    for i in 0..27 {
        let listing = create_listing(&app, "1", "rent", &(1000 + i).to_string()).await;
        assert_eq!(listing["created_at"], SEED_TIME);
        created.push(listing["id"].as_i64().expect("id"));
    }

    let mut seen = Vec::new();
    for page_num in 1..=4 {
        let path = format!("/listings?page_num={page_num}&page_size=10");
        let (status, page) = json_of(app.get_internal(&path).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["result"], true);
        seen.extend(ids(&page, "listings"));
    }

    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "all 27, each once, the higher id first");

    clock.set_micros(SEED_TIME + 1);
    let newest = create_listing(&app, "1", "sale", "1").await;
    let (_, first) = json_of(app.get_internal("/listings?page_size=1").await).await;
    assert_eq!(
        ids(&first, "listings"),
        [newest["id"].as_i64().expect("id")]
    );
}

#[tokio::test]
async fn the_default_page_is_the_ten_newest() {
    let clock = Clock::frozen_at_micros(SEED_TIME);
    let app = spawn_app_with_clock(&[], clock.clone()).await;
    let mut created = Vec::new();
    for i in 0..12 {
        clock.set_micros(SEED_TIME + i);
        created.push(
            create_listing(&app, "1", "rent", "500").await["id"]
                .as_i64()
                .expect("id"),
        );
    }

    let (_, page) = json_of(app.get_internal("/listings").await).await;

    let expected: Vec<i64> = created.iter().rev().take(10).copied().collect();
    assert_eq!(ids(&page, "listings"), expected);
}

#[tokio::test]
async fn the_user_id_filter_returns_only_that_users_listings() {
    let app = spawn_app().await;
    let mine = create_listing(&app, "7", "rent", "100").await;
    create_listing(&app, "8", "sale", "200").await;

    let (status, page) = json_of(app.get_internal("/listings?user_id=7").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["listings"], json!([mine]));

    let (status, page) = json_of(app.get_internal("/listings?user_id=999").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!({"result": true, "listings": []}));
}

#[tokio::test]
async fn a_page_read_before_a_listing_is_created_shows_it_afterwards() {
    let app = spawn_app().await;
    let first = create_listing(&app, "7", "rent", "100").await;
    let everyone = "/listings?page_size=10";
    let (_, page) = json_of(app.get_internal(everyone).await).await;
    assert_eq!(page["listings"], json!([first]));
    let (_, page) = json_of(app.get_internal("/listings?user_id=8").await).await;
    assert_eq!(page["listings"], json!([]));
    // On SQLite the service keeps the pages it answered (LISTING_PAGE_CACHE);
    // on PostgreSQL, which other replicas write too, it keeps none.
    let key = PageKey {
        page: PageRequest::parse(None, Some("10")).expect("a page"),
        user_id: None,
    };
    let kept = app.state.listing_pages.get(&key).is_some();
    assert_eq!(
        kept,
        app.state.db.get_database_backend() == DbBackend::Sqlite
    );

    let second = create_listing(&app, "8", "sale", "200").await;

    let (_, page) = json_of(app.get_internal(everyone).await).await;
    assert_eq!(page["listings"], json!([second, first]));
    let (_, page) = json_of(app.get_internal("/listings?user_id=8").await).await;
    assert_eq!(page["listings"], json!([second]));
    let (_, page) = json_of(app.get_internal("/listings?user_id=7").await).await;
    assert_eq!(page["listings"], json!([first]));
}

#[tokio::test]
async fn ping_answers_pong() {
    let app = spawn_app().await;

    let response = app.get_internal("/listings/ping").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("text"), "pong!");
}

#[tokio::test]
async fn a_created_user_is_answered_with_equal_timestamps_and_found_by_id() {
    let app = spawn_app().await;

    let (status, created) = json_of(
        app.post_form("/users", &[("name", "Suresh Subramaniam")])
            .await,
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["result"], true);
    let user = &created["user"];
    assert_eq!(user["name"], "Suresh Subramaniam");
    assert_eq!(
        user["created_at"].as_i64().expect("int").to_string().len(),
        16
    );
    assert_eq!(user["updated_at"], user["created_at"]);
    let path = format!("/users/{}", user["id"]);
    let (status, found) = json_of(app.get_internal(&path).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, json!({"result": true, "user": user}));
}

#[tokio::test]
async fn an_unknown_user_is_a_404_in_the_envelope() {
    let app = spawn_app().await;

    let (status, body) = json_of(app.get_internal("/users/4242").await).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"result": false, "errors": ["user 4242 not found"]})
    );
}

#[tokio::test]
async fn a_user_id_in_the_path_that_is_not_an_integer_is_a_400() {
    let app = spawn_app().await;

    let (status, body) = json_of(app.get_internal("/users/abc").await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"result": false, "errors": "invalid user_id"}));
}

#[tokio::test]
async fn a_blank_or_missing_name_is_rejected_and_nothing_is_stored() {
    let app = spawn_app().await;

    for form in [vec![("name", "   ")], vec![]] {
        let (status, body) = json_of(app.post_form("/users", &form).await).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(
            body,
            json!({"result": false, "errors": ["invalid name. Must not be blank"]})
        );
    }
    let users = user::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(users, 0);
}

#[tokio::test]
async fn users_are_listed_newest_first_in_pages() {
    let clock = Clock::frozen_at_micros(SEED_TIME);
    let app = spawn_app_with_clock(&[], clock).await;
    let mut created = Vec::new();
    for i in 0..13 {
        let (_, body) = json_of(
            app.post_form("/users", &[("name", &format!("user {i}"))])
                .await,
        )
        .await;
        created.push(body["user"]["id"].as_i64().expect("id"));
    }

    let (_, first) = json_of(app.get_internal("/users?page_size=10").await).await;
    let (_, second) = json_of(app.get_internal("/users?page_num=2&page_size=10").await).await;

    assert_eq!(first["result"], true);
    let mut seen = ids(&first, "users");
    seen.extend(ids(&second, "users"));
    created.reverse();
    assert_eq!(seen, created);
}

#[tokio::test]
async fn the_batch_lookup_returns_the_named_users_in_one_request() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for name in ["Ana", "Bo", "Cy"] {
        let (_, body) = json_of(app.post_form("/users", &[("name", name)]).await).await;
        created.push(body["user"]["id"].as_i64().expect("id"));
    }

    let path = format!("/users?ids={},{},9999", created[2], created[0]);
    let (status, body) = json_of(app.get_internal(&path).await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body, "users"), [created[0], created[2]]);
    let (status, body) = json_of(app.get_internal("/users?ids=1,x").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"result": false, "errors": "invalid ids"}));
}

#[tokio::test]
async fn the_services_routes_are_not_on_the_public_listener() {
    let app = spawn_app().await;
    app.post_form("/users", &[("name", "Ana")]).await;

    for path in ["/listings", "/listings/ping", "/users", "/users/1"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    let response = app
        .client
        .post(format!("{}/listings", app.address))
        .form(&[("user_id", "1"), ("listing_type", "rent"), ("price", "1")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(listing_rows(&app).await, 0);
}
