//! The first ten minutes of a new user: the binaries' command lines, the
//! start banner with the first admin's password, running without an
//! Offers service, `api demo`, and the HTTP conventions users check
//! first (CORS, a panic's answer, readiness while stopping).
//!
//! Each test that runs a binary starts its own process, on embedded
//! backends in a directory of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::process::{
    Banner, command, read_banner, stdout_lines, terminate, wait_for_exit, wait_for_log,
};
use tests::{json_of, spawn_app, spawn_app_with};
use tokio::io::{BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio_util::sync::CancellationToken;

const STARTUP: Duration = Duration::from_secs(60);

/// Variables of an embedded `api` on free loopback ports.
fn embedded_vars() -> [(&'static str, &'static str); 3] {
    [
        ("PUBLIC_ADDR", "127.0.0.1:0"),
        ("INTERNAL_ADDR", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
    ]
}

/// An `api` a test started, its start banner read.
struct Started {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    banner: Banner,
}

/// Starts `api` with `args` on embedded backends in `dir`.
async fn start_api(dir: &Path, args: &[&str]) -> Started {
    let mut child = command("api", &embedded_vars())
        .args(args)
        .current_dir(dir)
        .spawn()
        .expect("start api");
    let mut stdout = stdout_lines(&mut child);
    let banner = read_banner(&mut stdout, STARTUP).await;
    Started {
        child,
        stdout,
        banner,
    }
}

impl Started {
    /// Sends SIGTERM, checks the process exits with 0, and returns what
    /// it wrote after its banner.
    async fn stop(mut self) -> Vec<String> {
        terminate(&self.child).await;
        let mut rest = Vec::new();
        while let Ok(Some(line)) = self.stdout.next_line().await {
            rest.push(line);
        }
        let status = wait_for_exit(&mut self.child, STARTUP).await;
        assert_eq!(status.code(), Some(0), "{}", rest.join("\n"));
        rest
    }
}

/// Requests to a started `api`, logged in as the first admin its banner
/// names.
struct Session {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    async fn of(banner: &Banner) -> Self {
        let password = banner
            .admin_password
            .as_deref()
            .unwrap_or_else(|| panic!("no password in the banner:\n{}", banner.text));
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{}/login", banner.api))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .expect("POST /login");
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Self {
            client,
            base: banner.api.clone(),
            token: body["token"].as_str().expect("a token").to_owned(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = self.client.get(format!("{}{path}", self.base));
        json_of(request.bearer_auth(&self.token).send().await.expect("GET")).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self.client.post(format!("{}{path}", self.base)).json(&body);
        json_of(request.bearer_auth(&self.token).send().await.expect("POST")).await
    }
}

#[tokio::test]
async fn every_binary_answers_help_and_version_with_exit_code_0() {
    for name in [
        "api",
        "quote-worker",
        "offer-poller",
        "migrations",
        "offers-fake",
        "stooq-fake",
    ] {
        for flag in ["--help", "--version"] {
            let output = command(name, &[])
                .arg(flag)
                .output()
                .await
                .unwrap_or_else(|e| panic!("run {name} {flag}: {e}"));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(output.status.code(), Some(0), "{name} {flag}: {stdout}");
            assert!(
                stdout.contains(name) || flag == "--help",
                "{name} {flag}: {stdout}"
            );
            assert!(!stdout.is_empty(), "{name} {flag} printed nothing");
        }
    }
    let output = command("api", &[])
        .args(["no-such-command"])
        .output()
        .await
        .expect("run api");
    assert_eq!(output.status.code(), Some(2), "a usage error");
}

#[tokio::test]
async fn a_fresh_embedded_start_prints_an_admin_password_that_logs_in_once_and_never_again() {
    let dir = tests::backend::temp_dir();
    let api = start_api(&dir, &[]).await;
    assert!(api.banner.text.contains("/docs"), "{}", api.banner.text);
    let password = api.banner.admin_password.clone().unwrap_or_default();

    let session = Session::of(&api.banner).await;
    let (status, me) = session.get("/me").await;
    let log = api.stop().await;
    let again = start_api(&dir, &[]).await;
    let second_banner = again.banner.admin_password.clone();
    again.stop().await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "admin");
    assert!(
        log.iter().all(|line| !line.contains(&password)),
        "the password is printed in the banner, never logged"
    );
    assert_eq!(second_banner, None, "an account exists: no new one");
}

#[tokio::test]
async fn without_an_offers_service_products_stay_unregistered_and_nothing_warns_in_a_loop() {
    let dir = tests::backend::temp_dir();
    let api = start_api(&dir, &[]).await;
    assert!(
        api.banner.text.contains("OFFERS_BASE_URL"),
        "{}",
        api.banner.text
    );
    let session = Session::of(&api.banner).await;

    let (status, product) = session.post("/products", json!({"name": "Kettle"})).await;
    let (ready_status, ready) = session.get("/readyz").await;
    // The old default retried a dead service and warned every ~3 s: watch
    // the log for longer than that, then stop the process and read the rest.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = api.stop().await;

    assert_eq!(status, StatusCode::CREATED, "{product}");
    assert_eq!(product["registered"], false);
    assert_eq!(ready_status, StatusCode::OK, "{ready}");
    let offers = &ready["warnings"]["offers_service"];
    assert!(
        offers["error"]
            .as_str()
            .is_some_and(|e| e.contains("not configured")),
        "{ready}"
    );
    let warnings: Vec<Value> = log
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["level"] == "WARN")
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn api_demo_answers_a_quote_and_registers_a_product_whose_offers_appear_after_one_poll() {
    let dir = tests::backend::temp_dir();
    let api = start_api(&dir, &["demo"]).await;
    let session = Session::of(&api.banner).await;

    let (quote_status, quote) = session.get("/stock?q=aapl.us").await;
    let (created_status, product) = session
        .post(
            "/products",
            json!({"name": "Kettle", "description": "1.7 l"}),
        )
        .await;
    let id = product["id"].as_str().expect("an id").to_owned();
    let offers = {
        let started = Instant::now();
        loop {
            let (_, body) = session.get(&format!("/products/{id}")).await;
            if body["offers"].as_array().is_some_and(|o| !o.is_empty()) {
                break body["offers"].clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no offers after 30 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    api.stop().await;

    assert_eq!(quote_status, StatusCode::OK, "{quote}");
    assert_eq!(quote["symbol"], "AAPL.US");
    assert_eq!(created_status, StatusCode::CREATED, "{product}");
    assert_eq!(product["registered"], true);
    assert_eq!(offers.as_array().map(Vec::len), Some(3), "{offers}");
}

#[tokio::test]
async fn accounts_can_be_listed_changed_disabled_and_enabled_from_the_command_line() {
    let app = spawn_app().await;
    let password = app.add_account("cli-ana", api::accounts::Role::User).await;
    let database_url = app.state.settings.database.url.as_str().to_owned();
    let run = |args: &[&str]| {
        let mut command = command("api", &[("DATABASE_URL", database_url.as_str())]);
        command.args(args);
        async move {
            let output = command.output().await.expect("run api accounts");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
            stdout
        }
    };

    run(&[
        "accounts",
        "set-role",
        "--username",
        "cli-ana",
        "--role",
        "feeder",
    ])
    .await;
    let token = app.login("cli-ana", &password).await;
    let me = app
        .client
        .get(format!("{}/me", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /me");
    let (_, me) = json_of(me).await;
    run(&["accounts", "disable", "--username", "cli-ana"]).await;
    let refused = app
        .post_json(
            "/login",
            &json!({"username": "cli-ana", "password": password}),
        )
        .await
        .status();
    let listed = run(&["accounts", "list"]).await;
    run(&["accounts", "enable", "--username", "cli-ana"]).await;
    app.login("cli-ana", &password).await;
    let unknown = command("api", &[("DATABASE_URL", database_url.as_str())])
        .args(["accounts", "disable", "--username", "nobody"])
        .output()
        .await
        .expect("run api accounts");

    assert_eq!(me["role"], "feeder");
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    let row = listed
        .lines()
        .find(|line| line.starts_with("cli-ana "))
        .unwrap_or_else(|| panic!("cli-ana not listed:\n{listed}"));
    assert!(
        row.contains("feeder") && !row.trim_end().ends_with('-'),
        "{row}"
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account nobody"));
}

#[tokio::test]
async fn a_cors_preflight_passes_from_an_allowed_origin_only() {
    let app = spawn_app_with(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://shop.example, http://localhost:3000",
    )])
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/products", app.address),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };

    let allowed = preflight("https://shop.example").await.expect("OPTIONS");
    let other = preflight("https://evil.example").await.expect("OPTIONS");
    let read = app
        .client
        .get(format!("{}/products", app.address))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("GET /products");

    assert!(allowed.status().is_success(), "{}", allowed.status());
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ASCII").to_ascii_lowercase())
    };
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    assert!(
        header(&allowed, "access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization")),
        "{:?}",
        allowed.headers()
    );
    assert_eq!(header(&other, "access-control-allow-origin"), None);
    assert_eq!(
        header(&read, "access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
}

#[tokio::test]
async fn without_cors_origins_a_preflight_is_an_ordinary_405_with_no_cors_headers() {
    let app = spawn_app().await;

    let response = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/products", app.address),
        )
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("OPTIONS");

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn json_answers_are_compressed_for_clients_that_ask() {
    let app = spawn_app().await;
    let admin = app
        .bearer_of("gzip-admin", api::accounts::Role::Admin)
        .await;
    for n in 0..20 {
        app.create_product(&admin, json!({"name": format!("Product {n}"), "description": "the same words again and again"}))
            .await;
    }

    let response = app
        .client
        .get(format!("{}/products?page_size=20", app.address))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET /products");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let compressed = response.bytes().await.expect("a body");
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .expect("gzip");
    let products: Vec<Value> = serde_json::from_str(&plain).expect("JSON");
    assert_eq!(products.len(), 20);
    assert!(
        compressed.len() < plain.len() / 2,
        "{} of {}",
        compressed.len(),
        plain.len()
    );
}

#[tokio::test]
async fn a_handler_that_panics_answers_500_in_the_envelope_and_the_process_goes_on() {
    let app = spawn_app().await;
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/fine", get(|| async { "fine" }));
    let router = api::app::routes::with_layers(routes, app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let stop = CancellationToken::new();
    let limits = api::app::serve::ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        shutdown_timeout: Duration::from_secs(5),
    };
    let serving = tokio::spawn(api::app::serve::serve(
        listener,
        router,
        limits,
        stop.clone(),
    ));
    let client = reqwest::Client::new();

    let boom = client
        .get(format!("{base}/boom"))
        .send()
        .await
        .expect("GET /boom");
    let boom_status = boom.status();
    let request_id = boom.headers().get("x-request-id").cloned();
    let body: Value = boom.json().await.expect("a JSON body");
    let fine = client
        .get(format!("{base}/fine"))
        .send()
        .await
        .expect("GET /fine");

    assert_eq!(boom_status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["code"], "INTERNAL", "{body}");
    assert!(!body.to_string().contains("secret"), "{body}");
    assert!(request_id.is_some(), "the answer went through the layers");
    assert_eq!(fine.status(), StatusCode::OK);
    stop.cancel();
    serving.await.expect("joined").expect("served");
}

#[tokio::test]
async fn readyz_turns_503_on_sigterm_while_a_request_in_flight_finishes() {
    let dir = tests::backend::temp_dir();
    let mut vars = embedded_vars().to_vec();
    vars.extend([
        ("SHUTDOWN_DRAIN_SECS", "5"),
        ("INGEST_ALLOW_ANONYMOUS", "true"),
    ]);
    let mut api = command("api", &vars)
        .current_dir(&dir)
        .spawn()
        .expect("start api");
    let mut lines = stdout_lines(&mut api);
    let listening = wait_for_log(&mut lines, "listening", STARTUP).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let base = format!("http://{}", listening["public"].as_str().expect("public"));
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("GET")
            .status(),
        StatusCode::OK
    );
    // A feed whose body is still arriving when the signal comes.
    let (sender, body) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let upload = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/v1/products");
        async move {
            let stream = tokio_stream_from(body);
            client
                .post(url)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
        }
    });
    sender
        .send(Ok(b"[{\"id\": 1, ".to_vec()))
        .await
        .expect("send");

    terminate(&api).await;
    let draining = {
        let started = Instant::now();
        loop {
            let response = client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .expect("GET /readyz");
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                break response.json::<Value>().await.expect("JSON");
            }
            assert!(started.elapsed() < Duration::from_secs(4), "still ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    sender
        .send(Ok(b"\"name\": \"Kettle\"}]".to_vec()))
        .await
        .expect("send");
    drop(sender);
    let finished = upload
        .await
        .expect("joined")
        .expect("the upload is answered");
    let status = wait_for_exit(&mut api, STARTUP).await;

    assert_eq!(draining["status"], "draining", "{draining}");
    assert_eq!(finished.status(), StatusCode::OK);
    assert_eq!(status.code(), Some(0));
}

/// A handler with a bug.
async fn boom() -> &'static str {
    panic!("a secret detail")
}

/// The receiving end of a channel as a stream of body chunks.
fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
