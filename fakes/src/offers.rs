//! A fake of the Offers service (seed 000), which is no longer online,
//! answering as its documentation says:
//!
//! - `POST /auth` (no header) → 201 `{"access_token"}`, a new token each time;
//! - every other call needs the header literally named `Bearer` holding a
//!   token it issued, else 401 `{"code": "UNAUTHORIZED", "msg"}`;
//! - `POST /products/register` `{"id","name","description"}` → 201 `{"id"}`,
//!   400 `BAD_REQUEST` for a body without them, and 409 for an id the token
//!   already registered (the service's later version);
//! - `GET /products/{id}/offers` → 200 `[{"id","price","items_in_stock"}]`,
//!   404 for a product the token has not registered.
//!
//! Products are tied to the token that registered them. Each registered
//! product gets three offers; [`OffersFake::change_prices`] moves every
//! price and replaces sold-out offers with new ones, as the service does
//! about every minute (`POST /control/change-prices?delta=50` does it over
//! HTTP, for the binary). [`Failure`] switches it to failing (connection
//! refused is not one of them: stop the fake for that). Counters tell tests
//! what it was asked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use url::Url;

/// One offer, as the service lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOffer {
    pub id: String,
    pub price: i64,
    pub items_in_stock: i64,
}

/// How the fake fails every call, when told to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Waits this long before answering.
    Slow(Duration),
    /// 200 with a body that is not JSON.
    NotJson,
    /// 500 with an HTML body.
    ServerError,
    /// 302 to the same path on another host (which must not be followed).
    Redirect,
    /// 200 with a valid JSON array of over 1 MiB.
    Huge,
}

#[derive(Debug, Default)]
struct Service {
    tokens: Vec<String>,
    /// Product id → the token that registered it, and its offers.
    products: HashMap<String, (String, Vec<FakeOffer>)>,
    failure: Option<Failure>,
    /// Every request, answered or failed.
    calls: usize,
    auth_calls: usize,
    register_calls: HashMap<String, usize>,
    offers_calls: HashMap<String, usize>,
    authorization_headers: usize,
    next_offer: u64,
}

impl Service {
    /// Moves every price by `delta` (never below 1) and replaces each
    /// sold-out offer with a new one in stock.
    fn change_prices(&mut self, delta: i64) {
        let ids: Vec<String> = self.products.keys().cloned().collect();
        for id in ids {
            let offers = self
                .products
                .get(&id)
                .map(|(_, offers)| offers.clone())
                .unwrap_or_default();
            let changed: Vec<FakeOffer> = offers
                .into_iter()
                .map(|offer| {
                    if offer.items_in_stock == 0 {
                        self.new_offer(offer.price, 10)
                    } else {
                        FakeOffer {
                            price: (offer.price + delta).max(1),
                            ..offer
                        }
                    }
                })
                .collect();
            if let Some((_, offers)) = self.products.get_mut(&id) {
                *offers = changed;
            }
        }
    }

    fn new_offer(&mut self, price: i64, items_in_stock: i64) -> FakeOffer {
        self.next_offer += 1;
        FakeOffer {
            id: format!("offer-{}", self.next_offer),
            price,
            items_in_stock,
        }
    }
}

/// A running fake, stopped when dropped.
pub struct OffersFake {
    /// Its base URL, for `OFFERS_BASE_URL`.
    pub url: Url,
    service: Arc<Mutex<Service>>,
    task: JoinHandle<()>,
}

impl OffersFake {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("bind a loopback port")
    }

    /// Starts on `addr`; fails if it cannot listen there.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let service = Arc::new(Mutex::new(Service::default()));
        let app = Router::new()
            .route("/auth", post(auth))
            .route("/products/register", post(register))
            .route("/products/{id}/offers", get(offers))
            .route("/control/change-prices", post(change_prices))
            .with_state(service.clone());
        let (url, task) = crate::serve(addr, app).await?;
        Ok(Self { url, service, task })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Service) -> T) -> T {
        f(&mut self.service.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Fail every call from now on, or stop failing with `None`.
    pub fn fail(&self, failure: Option<Failure>) {
        self.with(|service| service.failure = failure);
    }

    /// Moves every price by `delta` and replaces sold-out offers.
    pub fn change_prices(&self, delta: i64) {
        self.with(|service| service.change_prices(delta));
    }

    /// Changes prices every `period`, for ever, as the real service did
    /// about every minute: up, down, a bit further down, back up, so
    /// prices move but stay plausible.
    pub async fn change_prices_every(&self, period: Duration) {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        for delta in [50, -30, -40, 20].iter().cycle() {
            tick.tick().await;
            self.change_prices(*delta);
        }
    }

    /// Sets a registered product's offers.
    pub fn set_offers(&self, product_id: &str, offers: Vec<FakeOffer>) {
        self.with(|service| {
            if let Some((_, current)) = service.products.get_mut(product_id) {
                *current = offers;
            }
        });
    }

    /// Stops accepting every token it issued: each call is a 401 from now on.
    pub fn revoke_tokens(&self) {
        self.with(|service| service.tokens.clear());
    }

    /// Forgets a product, as if it had never been registered.
    pub fn forget(&self, product_id: &str) {
        self.with(|service| {
            service.products.remove(product_id);
        });
    }

    /// A registered product's current offers.
    pub fn offers_of(&self, product_id: &str) -> Vec<FakeOffer> {
        self.with(|service| {
            service
                .products
                .get(product_id)
                .map(|(_, offers)| offers.clone())
                .unwrap_or_default()
        })
    }

    /// Every request it received, whatever it answered.
    pub fn calls(&self) -> usize {
        self.with(|service| service.calls)
    }

    pub fn auth_calls(&self) -> usize {
        self.with(|service| service.auth_calls)
    }

    /// How many times `product_id` was sent to `/products/register`.
    pub fn register_calls(&self, product_id: &str) -> usize {
        self.with(|service| service.register_calls.get(product_id).copied().unwrap_or(0))
    }

    /// How many times `product_id`'s offers were asked for.
    pub fn offers_calls(&self, product_id: &str) -> usize {
        self.with(|service| service.offers_calls.get(product_id).copied().unwrap_or(0))
    }

    pub fn is_registered(&self, product_id: &str) -> bool {
        self.with(|service| service.products.contains_key(product_id))
    }

    /// How many requests carried an `Authorization` header (the service
    /// documents a header named `Bearer`, and a client must not send that one).
    pub fn authorization_headers(&self) -> usize {
        self.with(|service| service.authorization_headers)
    }

    /// Serves until the server stops (for the binary).
    pub async fn wait(&mut self) {
        (&mut self.task).await.ok();
    }
}

impl Drop for OffersFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, serde::Deserialize)]
struct Change {
    delta: i64,
}

/// `POST /control/change-prices?delta=50`: not part of the real service;
/// moves every price now, for demos and manual tests of the binary.
async fn change_prices(
    State(service): State<Arc<Mutex<Service>>>,
    axum::extract::Query(change): axum::extract::Query<Change>,
) -> StatusCode {
    service
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .change_prices(change.delta);
    StatusCode::NO_CONTENT
}

fn error(status: StatusCode, code: &str, msg: &str) -> Response {
    (status, Json(json!({"code": code, "msg": msg}))).into_response()
}

/// Applies the failure mode, then checks the `Bearer` header. `Ok` is the
/// caller's token.
async fn admit(service: &Mutex<Service>, headers: &HeaderMap) -> Result<String, Response> {
    let failure = {
        let mut service = service.lock().unwrap_or_else(|e| e.into_inner());
        if headers.contains_key("authorization") {
            service.authorization_headers += 1;
        }
        service.calls += 1;
        service.failure
    };
    match failure {
        Some(Failure::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Failure::NotJson) => {
            return Err((StatusCode::OK, "<html>maintenance</html>").into_response());
        }
        Some(Failure::ServerError) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "<h1>Internal Server Error</h1>",
            )
                .into_response());
        }
        Some(Failure::Redirect) => {
            return Err((
                StatusCode::FOUND,
                [("location", "http://127.0.0.1:1/elsewhere")],
                "",
            )
                .into_response());
        }
        Some(Failure::Huge) => {
            let offers: Vec<Value> = (0..40_000)
                .map(|i| json!({"id": format!("offer-{i}"), "price": 100, "items_in_stock": 1}))
                .collect();
            return Err((StatusCode::OK, Json(Value::Array(offers))).into_response());
        }
        None => {}
    }
    let token = headers
        .get("bearer")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let known = service
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .tokens
        .contains(&token);
    if known {
        Ok(token)
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing or unknown Bearer token",
        ))
    }
}

async fn auth(State(service): State<Arc<Mutex<Service>>>, headers: HeaderMap) -> Response {
    if let Err(failed) = admit_failure_only(&service, &headers).await {
        return failed;
    }
    let token = uuid::Uuid::new_v4().to_string();
    let mut service = service.lock().unwrap_or_else(|e| e.into_inner());
    service.auth_calls += 1;
    service.tokens.push(token.clone());
    (StatusCode::CREATED, Json(json!({"access_token": token}))).into_response()
}

/// `/auth` takes no token, but fails like everything else.
async fn admit_failure_only(service: &Mutex<Service>, headers: &HeaderMap) -> Result<(), Response> {
    match admit(service, headers).await {
        Err(response) if response.status() == StatusCode::UNAUTHORIZED => Ok(()),
        Err(response) => Err(response),
        Ok(_) => Ok(()),
    }
}

async fn register(
    State(service): State<Arc<Mutex<Service>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = match admit(&service, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(id), Some(_), Some(_)) = (
        body["id"].as_str(),
        body["name"].as_str(),
        body["description"].as_str(),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "id, name and description are required",
        );
    };
    let mut service = service.lock().unwrap_or_else(|e| e.into_inner());
    *service.register_calls.entry(id.to_owned()).or_default() += 1;
    if service.products.contains_key(id) {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            "product already registered",
        );
    }
    let offers = vec![
        service.new_offer(1000, 5),
        service.new_offer(1200, 2),
        service.new_offer(900, 0),
    ];
    service.products.insert(id.to_owned(), (token, offers));
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn offers(
    State(service): State<Arc<Mutex<Service>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let token = match admit(&service, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let mut service = service.lock().unwrap_or_else(|e| e.into_inner());
    *service.offers_calls.entry(id.clone()).or_default() += 1;
    match service.products.get(&id) {
        Some((owner, offers)) if *owner == token => {
            let offers: Vec<Value> = offers
                .iter()
                .map(|o| json!({"id": o.id, "price": o.price, "items_in_stock": o.items_in_stock}))
                .collect();
            (StatusCode::OK, Json(Value::Array(offers))).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "product not registered"),
    }
}
