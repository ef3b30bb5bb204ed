//! The native cluster: 3 `api` replicas behind nginx, a `quote-worker` and
//! an `offer-poller` as processes of their own, the third parties faked.
//! Every public endpoint answers through the load balancer.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::offers::OffersFake;
use tests::process::start_consuming;
use tests::replicas::Replicas;
use tests::stooq::StooqFake;
use tokio::process::Child;

const ADMIN: (&str, &str) = ("admin", "admin-password-of-the-cluster");

/// Starts `name` on the cluster's backends; returns once it consumes.
async fn start_worker(name: &str, vars: &HashMap<String, String>) -> Child {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    start_consuming(name, &pairs).await
}

/// Sends one request through nginx and returns its status and JSON body
/// (`null` when the body is not JSON).
async fn send(
    cluster: &Replicas,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = cluster
        .client
        .request(method, format!("{}{path}", cluster.balancer));
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn three_replicas_behind_nginx_serve_every_public_endpoint() {
    tests::require_cluster!();
    let stooq = StooqFake::start().await;
    let offers = OffersFake::start().await;
    let cluster = Replicas::start_with(
        3,
        HashMap::from([
            ("ADMIN_USERNAME".into(), ADMIN.0.into()),
            ("ADMIN_PASSWORD".into(), ADMIN.1.into()),
            ("STOOQ_BASE_URL".into(), stooq.url.to_string()),
            ("OFFERS_BASE_URL".into(), offers.url.to_string()),
        ]),
    )
    .await;
    let _quote_worker = start_worker("quote-worker", &cluster.vars).await;
    let _offer_poller = start_worker("offer-poller", &cluster.vars).await;
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", ADMIN.0, ADMIN.1)
        )
    );

    let (status, login) = send(
        &cluster,
        Method::POST,
        "/login",
        None,
        Some(json!({"username": ADMIN.0, "password": ADMIN.1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let bearer = format!("Bearer {}", login["token"].as_str().expect("a token"));
    let admin = Some(bearer.as_str());

    // Operations, docs and accounts.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/"] {
        let (status, _) = send(&cluster, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        send(&cluster, Method::GET, "/me", Some(&basic), None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, account) = send(
        &cluster,
        Method::POST,
        "/accounts",
        admin,
        Some(json!({"username": "bea", "password": "bea-password", "role": "user"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");

    // Quotes, through RabbitMQ to the quote-worker process and the stooq fake.
    let (status, quote) = send(&cluster, Method::GET, "/stock?q=aapl.us", admin, None).await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    for path in ["/history", "/stats"] {
        assert_eq!(
            send(&cluster, Method::GET, path, admin, None).await.0,
            StatusCode::OK,
            "{path}"
        );
    }

    // The catalog, registered by the offer-poller process with the Offers fake.
    let (status, product) = send(
        &cluster,
        Method::POST,
        "/products",
        admin,
        Some(json!({"name": "Mesa", "sku": "mesa-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    assert_eq!(product["registered"], true, "{product}");
    let id = product["id"].as_str().expect("an id");
    for (method, path, body) in [
        (Method::GET, "/products".to_owned(), None),
        (Method::GET, format!("/products/{id}"), None),
        (Method::GET, format!("/products/{id}/offers"), None),
        (Method::GET, format!("/products/{id}/trend"), None),
        (
            Method::PATCH,
            format!("/products/{id}"),
            Some(json!({"description": "De madeira"})),
        ),
        (
            Method::PUT,
            format!("/products/{id}"),
            Some(json!({"name": "Mesa", "sku": "mesa-1"})),
        ),
    ] {
        let (status, answer) = send(&cluster, method.clone(), &path, admin, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    }
    let (status, _) = send(
        &cluster,
        Method::GET,
        &format!("/products/{id}/offers/unknown-offer/trend"),
        admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Seed 004's public API layer, over each replica's own services.
    let (status, user) = send(
        &cluster,
        Method::POST,
        "/public-api/users",
        None,
        Some(json!({"name": "Ana"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let (status, listing) = send(
        &cluster,
        Method::POST,
        "/public-api/listings",
        None,
        Some(json!({"user_id": user["user"]["id"], "listing_type": "rent", "price": 4500})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    let (status, listings) = send(&cluster, Method::GET, "/public-api/listings", None, None).await;
    assert_eq!(status, StatusCode::OK, "{listings}");

    // Feed ingestion, and the job on whichever replica is asked.
    let feed = json!([{"id": "feed-1", "name": "Cadeira"}]);
    let (status, accepted) = send(
        &cluster,
        Method::POST,
        "/v1/products",
        admin,
        Some(feed.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (status, _) = send(&cluster, Method::POST, "/v1/products", admin, Some(feed)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let job = tests::ingest::wait_for_ingest_as(
        &cluster.client,
        &cluster.balancer,
        accepted["id"].as_str().expect("an id"),
        admin,
    )
    .await;
    assert_eq!(job["status"], "done", "{job}");

    assert_eq!(
        send(
            &cluster,
            Method::DELETE,
            &format!("/products/{id}"),
            admin,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
}
