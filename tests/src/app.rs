//! A whole `api` process inside the test, on port 0 and fresh backends.

use std::net::SocketAddr;

use api::{AppState, Application};
use platform::{Clock, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::backend;
use crate::offers::OffersFake;
use crate::stooq::StooqFake;

/// The `JWT_SECRET` of every test app, so tests can forge tokens.
pub const TEST_JWT_SECRET: &str = "test-secret-of-at-least-32-bytes-for-hs256";

/// A running `api`; stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the public listener, or of the internal
    /// one for an app that serves no public listener (`SERVICES=users`).
    pub address: String,
    /// `http://127.0.0.1:<port>` of the internal listener.
    pub internal_address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// The stooq fake this app's quote worker asks (unless a test set
    /// `STOOQ_BASE_URL` itself).
    pub stooq: StooqFake,
    /// The Offers-service fake this app's offer poller talks to (unless a
    /// test set `OFFERS_BASE_URL` itself).
    pub offers: OffersFake,
    shutdown: CancellationToken,
    running: Option<JoinHandle<anyhow::Result<()>>>,
}

/// An `api` on this run's backends, running its workers in-process.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like [`spawn_app`], with some settings variables replaced or added:
/// `spawn_app_with(&[("RPC_TIMEOUT_MS", "500")])`.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_with_clock(overrides, Clock::system()).await
}

/// Like [`spawn_app_with`], its timestamps read from `clock`.
pub async fn spawn_app_with_clock(overrides: &[(&str, &str)], clock: Clock) -> TestApp {
    let mut vars = backend().fresh_vars().await;
    let stooq = StooqFake::start().await;
    vars.insert("STOOQ_BASE_URL".into(), stooq.url.to_string());
    let offers = OffersFake::start().await;
    vars.insert("OFFERS_BASE_URL".into(), offers.url.to_string());
    vars.insert("PUBLIC_ADDR".into(), "127.0.0.1:0".into());
    vars.insert("INTERNAL_ADDR".into(), "127.0.0.1:0".into());
    vars.insert("MIGRATE_ON_START".into(), "true".into());
    vars.insert("RUN_WORKERS".into(), "true".into());
    vars.insert("RPC_TIMEOUT_MS".into(), "2000".into());
    vars.insert("JWT_SECRET".into(), TEST_JWT_SECRET.into());
    vars.extend(
        overrides
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
    );
    let settings = Settings::from_vars(vars).expect("valid test settings");
    let app = Application::build_with_clock(settings, clock)
        .await
        .expect("the app builds");
    let internal_address = url_of(app.internal_addr());
    let address = app
        .public_addr()
        .map_or_else(|| internal_address.clone(), url_of);
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        internal_address,
        state,
        stooq,
        offers,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("a client"),
        shutdown,
        running: Some(running),
    }
}

fn url_of(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// `POST` of a form to the internal listener, as the public API layer
    /// calls the listing and user services.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.internal_address))
            .form(form)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET` on the internal listener.
    pub async fn get_internal(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.internal_address))
            .send()
            .await
            .expect("request sent")
    }

    /// `POST` of a JSON body to the public listener.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a user through the public API layer and returns it.
    pub async fn create_user(&self, name: &str) -> serde_json::Value {
        let response = self
            .post_json("/public-api/users", &serde_json::json!({ "name": name }))
            .await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "creating user {name}"
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["user"].clone()
    }

    /// Creates a listing through the public API layer and returns it.
    pub async fn create_listing(
        &self,
        user_id: i64,
        listing_type: &str,
        price: i64,
    ) -> serde_json::Value {
        let body = serde_json::json!({
            "user_id": user_id,
            "listing_type": listing_type,
            "price": price,
        });
        let response = self.post_json("/public-api/listings", &body).await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "creating {body}"
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["listing"].clone()
    }

    /// Adds an account straight through the library (no admin needed)
    /// and returns its password.
    pub async fn add_account(&self, username: &str, role: api::accounts::Role) -> String {
        let password = format!("{username}-password");
        api::accounts::store::create_account(
            &self.state.db,
            &self.state.clock,
            api::accounts::Username::parse(username).expect("a valid username"),
            api::accounts::NewPassword::parse(&password).expect("a valid password"),
            role,
        )
        .await
        .expect("the account is created");
        password
    }

    /// Adds an account with `role` and returns its `Bearer …` header value.
    pub async fn bearer_of(&self, username: &str, role: api::accounts::Role) -> String {
        let password = self.add_account(username, role).await;
        format!("Bearer {}", self.login(username, &password).await)
    }

    /// Creates a product as `admin` (an `Authorization` value) and returns
    /// it, checking the answer is a 201.
    pub async fn create_product(&self, admin: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(format!("{}/products", self.address))
            .header("authorization", admin)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let product: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(status, reqwest::StatusCode::CREATED, "{product}");
        product
    }

    /// Logs in and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .post_json(
                "/login",
                &serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "logging in {username}"
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// How many requests the app's `/metrics` has counted for `method` on
    /// `route` (every status), on either listener.
    pub async fn requests_counted(&self, method: &str, route: &str) -> u64 {
        let text = self
            .get_internal("/metrics")
            .await
            .text()
            .await
            .expect("metrics text");
        let labels = [format!("method=\"{method}\""), format!("route=\"{route}\"")];
        text.lines()
            .filter(|line| line.starts_with("http_requests_total{"))
            .filter(|line| labels.iter().all(|label| line.contains(label.as_str())))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// `POST /v1/products` with `body`, without credentials (the app must
    /// allow anonymous feeds).
    pub async fn post_feed(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/products", self.address))
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Polls `GET /v1/products/ingests/{id}` until the job is `done` or
    /// `failed`, and returns it.
    pub async fn wait_for_ingest(&self, id: &str) -> serde_json::Value {
        crate::ingest::wait_for_ingest(&self.client, &self.address, id).await
    }

    /// Stops the app as SIGTERM would and returns how it ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let running = self.running.take().expect("running until stopped");
        running.await.expect("the app task does not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
