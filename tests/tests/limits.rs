//! SPEC section 10: what each process keeps to under hostile input. Every
//! test attacks one limit the way a client on the network could. The ones
//! that flood or starve a process, or read its memory, start an `api`
//! process of their own ([`start_api`]).
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use std::time::Duration;

use api::accounts::Role;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::ingest::stalled_upload;
use tests::replicas::{Replica, start_api};
use tests::{TestApp, json_of, spawn_app, spawn_app_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ADMIN: (&str, &str) = ("root", "root-password-7");

fn basic(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// A child `api` with the bootstrap admin [`ADMIN`], and its Bearer header.
async fn api_with_admin(overrides: &[(&str, &str)]) -> (Replica, String) {
    let mut vars = vec![("ADMIN_USERNAME", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)];
    vars.extend_from_slice(overrides);
    let api = start_api(&vars).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/login", api.address))
        .json(&json!({"username": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .expect("login");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("a token");
    (api, format!("Bearer {token}"))
}

/// The value of the series `name{labels}` in the app's `/metrics`, 0 if absent.
async fn metric(app: &TestApp, name: &str, labels: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let series = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_flood_keeps_memory_bounded_and_bearer_requests_answering() {
    let (api, bearer) = api_with_admin(&[("AUTH_MAX_FAILURES", "0")]).await;
    let flood_for = Duration::from_secs(4);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .expect("a client");

    let attackers = (0..160).map(|i| {
        let client = client.clone();
        let url = format!("{}/me", api.address);
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut statuses = Vec::new();
            while started.elapsed() < flood_for {
                let response = client
                    .get(&url)
                    .header("authorization", basic(ADMIN.0, &format!("wrong-{i}")))
                    .send()
                    .await
                    .expect("an answer to every attempt");
                statuses.push(response.status());
            }
            statuses
        })
    });
    let attackers: Vec<_> = attackers.collect();
    let mut bearer_answers = Vec::new();
    let started = tokio::time::Instant::now();
    while started.elapsed() < flood_for {
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            client
                .get(format!("{}/me", api.address))
                .header("authorization", &bearer)
                .send(),
        )
        .await
        .expect("a Bearer request answers during the flood")
        .expect("sent");
        bearer_answers.push(response.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut flood = Vec::new();
    for attacker in attackers {
        flood.extend(attacker.await.expect("an attacker task"));
    }

    let peak_mib = api.peak_rss_kib() / 1024;
    assert!(peak_mib < 512, "peak RSS {peak_mib} MiB during the flood");
    assert!(
        bearer_answers.iter().all(|s| *s == StatusCode::OK),
        "{bearer_answers:?}"
    );
    let unexpected: Vec<_> = flood
        .iter()
        .filter(|s| {
            !matches!(
                **s,
                StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
            )
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "every wrong password is a 401, or a 503 when the checks are all busy; also got {} answers like {:?}",
        unexpected.len(),
        unexpected.first()
    );
    assert!(
        flood.len() >= 160,
        "the flood ran: {} attempts",
        flood.len()
    );
}

#[tokio::test]
async fn failed_logins_from_one_address_meet_a_429_with_retry_after_and_others_are_not_held_up() {
    // A proxy on loopback, so the test can speak for two client addresses.
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let password = app.add_account("ana", Role::User).await;
    let login = |from: &'static str, password: String| {
        app.client
            .post(format!("{}/login", app.address))
            .header("x-forwarded-for", from)
            .json(&json!({"username": "ana", "password": password}))
            .send()
    };

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..60 {
        let response = login("198.51.100.7", "wrong-password".into())
            .await
            .expect("sent");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status());
    }
    let right_password_same_address = login("198.51.100.7", password.clone()).await.expect("sent");
    let other_address = login("198.51.100.8", password).await.expect("sent");

    assert!(
        statuses[..20]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert!(
        statuses[20..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    let seconds: u64 = retry_after
        .expect("a Retry-After")
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert_eq!(
        right_password_same_address.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, body) = json_of(right_password_same_address).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("TOO_MANY_REQUESTS"))
    );
    assert_eq!(other_address.status(), StatusCode::OK);
}

#[tokio::test]
async fn forty_basic_requests_with_a_good_password_run_argon2_once() {
    let app = spawn_app().await;
    let password = app.add_account("ana", Role::User).await;

    for _ in 0..40 {
        let response = app
            .client
            .get(format!("{}/me", app.address))
            .header("authorization", basic("ana", &password))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let wrong = app
        .client
        .get(format!("{}/me", app.address))
        .header("authorization", basic("ana", "not-the-password"))
        .send()
        .await
        .expect("sent");

    assert_eq!(
        wrong.status(),
        StatusCode::UNAUTHORIZED,
        "a remembered credential is that one only"
    );
    let checks = "auth_password_checks_total";
    assert_eq!(metric(&app, checks, r#"outcome="verified""#).await, 1.0);
    assert_eq!(metric(&app, checks, r#"outcome="remembered""#).await, 39.0);
    assert_eq!(metric(&app, checks, r#"outcome="wrong""#).await, 1.0);
}

#[tokio::test]
async fn a_password_over_1024_bytes_is_a_401_without_any_hashing() {
    let app = spawn_app().await;
    app.add_account("ana", Role::User).await;
    let long = "p".repeat(1_025);

    let (login, body) = json_of(
        app.post_json("/login", &json!({"username": "ana", "password": long}))
            .await,
    )
    .await;
    let basic = app
        .client
        .get(format!("{}/me", app.address))
        .header("authorization", basic("ana", &long))
        .send()
        .await
        .expect("sent");

    assert_eq!(
        (login, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let checks = "auth_password_checks_total";
    assert_eq!(metric(&app, checks, r#"outcome="wrong""#).await, 2.0);
    assert_eq!(
        app.state.passwords.turns_taken(),
        0,
        "neither took a turn to hash"
    );
}

#[tokio::test]
async fn a_connection_that_stops_mid_headers_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&[("HTTP_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: mercato\r\nX-Slow: ")
        .await
        .expect("send part of the headers");

    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;

    assert!(closed.is_ok(), "the connection is still open");
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
}

#[tokio::test]
async fn an_upload_that_stalls_is_cut_off_and_the_same_feed_is_accepted_afterwards() {
    let app = spawn_app_with(&[
        ("HTTP_BODY_IDLE_TIMEOUT_SECS", "1"),
        ("INGEST_ALLOW_ANONYMOUS", "true"),
    ])
    .await;
    let body = tests::ingest::feed_of(&format!("stall-{}", uuid::Uuid::new_v4().simple()), 2_000);
    let mut stream =
        stalled_upload(&app.address, body.len(), &body.as_bytes()[..body.len() / 2]).await;

    let mut answer = Vec::new();
    let cut_off =
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    let whole = app.post_feed(body).await.status();

    assert!(cut_off.is_ok(), "the stalled upload is still open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(whole, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_300_uploads_trickling_a_login_still_answers() {
    let (api, _) = api_with_admin(&[
        ("INGEST_ALLOW_ANONYMOUS", "true"),
        ("INGEST_MAX_CONCURRENT", "400"),
    ])
    .await;
    // Past the size kept in memory, so each upload is spooled.
    let start = format!(r#"[{{"id": "slow", "name": "{}"#, "x".repeat(80 * 1024));
    let mut uploads = Vec::new();
    for _ in 0..300 {
        let mut stream = stalled_upload(&api.address, 10_000_000, start.as_bytes()).await;
        uploads.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if stream.write_all(b"x").await.is_err() {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let login = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new()
            .post(format!("{}/login", api.address))
            .json(&json!({"username": ADMIN.0, "password": ADMIN.1}))
            .send(),
    )
    .await;

    for upload in uploads {
        upload.abort();
    }
    let login = login
        .expect("a login answers while 300 uploads trickle")
        .expect("sent");
    assert_eq!(login.status(), StatusCode::OK);
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    let before = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics")
        .len();

    for i in 0..300 {
        let method = Method::from_bytes(format!("BREW{i}").as_bytes()).expect("a method");
        let response = app
            .client
            .request(method, format!("{}/healthz", app.address))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let after = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics")
        .len();

    assert!(
        after < before + 4096,
        "/metrics grew from {before} to {after} bytes"
    );
}

#[tokio::test]
async fn control_characters_are_4xx_in_every_kind_of_input() {
    let app = spawn_app_with(&[("INGEST_ALLOW_ANONYMOUS", "true")]).await;
    let admin = app.bearer_of("root", Role::Admin).await;
    let post = |path: &str, body: serde_json::Value, auth: &str| {
        app.client
            .post(format!("{}{path}", app.address))
            .header("authorization", auth)
            .json(&body)
            .send()
    };

    let (login, login_body) = json_of(
        app.post_json("/login", &json!({"username": "ro\u{0}ot", "password": "x"}))
            .await,
    )
    .await;
    let me = app
        .client
        .get(format!("{}/me", app.address))
        .header("authorization", basic("ro\u{0}ot", "root-password"))
        .send()
        .await
        .expect("sent");
    let (product, product_body) = json_of(
        post("/products", json!({"name": "me\u{0}sa"}), &admin)
            .await
            .expect("sent"),
    )
    .await;
    let (user, user_body) = json_of(app.post_form("/users", &[("name", "an\u{7}a")]).await).await;
    let (public_user, _) = json_of(
        app.post_json("/public-api/users", &json!({"name": "an\u{1b}a"}))
            .await,
    )
    .await;
    let (query, query_body) = json_of(app.get("/products?sku=a%00b").await).await;
    let (feed, feed_body) = json_of(
        app.post_feed(r#"[{"id": "1", "name": "me\u0000sa"}]"#)
            .await,
    )
    .await;

    assert_eq!(login, StatusCode::BAD_REQUEST, "{login_body}");
    assert_eq!(
        login_body["msg"],
        "username contains the control character U+0000"
    );
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(product, StatusCode::BAD_REQUEST);
    assert_eq!(
        product_body["msg"],
        "name contains the control character U+0000"
    );
    assert_eq!(user, StatusCode::BAD_REQUEST);
    assert_eq!(
        user_body["result"], false,
        "seed 004's envelope: {user_body}"
    );
    assert_eq!(public_user, StatusCode::BAD_REQUEST);
    assert_eq!(query, StatusCode::BAD_REQUEST);
    assert_eq!(
        query_body["msg"],
        "sku contains the control character U+0000"
    );
    assert_eq!(feed, StatusCode::BAD_REQUEST);
    assert!(
        feed_body["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("(at byte 24)"),
        "{feed_body}"
    );
    let (_, products) = json_of(app.get("/products").await).await;
    assert_eq!(products, json!([]), "nothing was written");
}

#[tokio::test]
async fn buffered_bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let big = "x".repeat(65 * 1024);

    let (login, login_body) = json_of(
        app.post_json("/login", &json!({"username": big, "password": "x"}))
            .await,
    )
    .await;
    let (user, _) = json_of(
        app.post_json("/public-api/users", &json!({"name": big}))
            .await,
    )
    .await;
    let (form, _) = json_of(app.post_form("/users", &[("name", big.as_str())]).await).await;

    assert_eq!(login, StatusCode::PAYLOAD_TOO_LARGE, "{login_body}");
    assert_eq!(login_body["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(user, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(form, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_mb_form_body_on_a_get_is_not_read() {
    let api = start_api(&[]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/public-api/listings", api.address);
    assert_eq!(
        client.get(&url).send().await.expect("sent").status(),
        StatusCode::OK
    );
    let before_mib = api.peak_rss_kib() / 1024;
    let form = "a=b&".repeat(512 * 1024);

    let answers = futures_util::future::join_all((0..20).map(|_| {
        client
            .get(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
    }))
    .await;

    // The answer can come back before the client has sent its 2 MB; hyper
    // then closes the connection with the body unread, and the client,
    // still sending, may get a reset instead of the answer
    // (docs/operations.md, "Request bodies nobody reads"). Either way the
    // body is not read, and the process goes on.
    for answer in answers {
        match answer {
            Ok(answer) => assert_eq!(answer.status(), StatusCode::OK),
            Err(e) => assert!(e.is_request(), "{e:?}"),
        }
    }
    // On a new connection: a pooled one may be one the server has just
    // closed with a body unread.
    assert_eq!(
        reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect("sent")
            .status(),
        StatusCode::OK
    );
    let after_mib = api.peak_rss_kib() / 1024;
    assert!(
        after_mib < before_mib + 64,
        "peak RSS went from {before_mib} to {after_mib} MiB"
    );
}

#[tokio::test]
async fn a_401_names_both_schemes_and_a_405_is_in_the_envelope_with_allow() {
    let app = spawn_app().await;

    let unauthorized = app.get("/me").await;
    let challenges: Vec<String> = unauthorized
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .collect();
    let not_allowed = app
        .client
        .delete(format!("{}/login", app.address))
        .send()
        .await
        .expect("sent");
    let allow = not_allowed.headers().get("allow").cloned();
    let (status, body) = json_of(not_allowed).await;

    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic ")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(allow.as_ref().and_then(|a| a.to_str().ok()), Some("POST"));
}

#[tokio::test]
async fn a_long_or_unprintable_request_id_is_replaced() {
    let app = spawn_app().await;
    let send = |id: String| {
        app.client
            .get(format!("{}/healthz", app.address))
            .header("x-request-id", id)
            .send()
    };

    let kept = send("trace-me-1".into()).await.expect("sent");
    let long = send("x".repeat(100_000)).await.expect("sent");
    let tabbed = send("a\tb".into()).await.expect("sent");

    let id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned()
    };
    assert_eq!(id(&kept), "trace-me-1");
    for response in [&long, &tabbed] {
        let replaced = id(response);
        assert!(
            replaced.len() <= 128 && !replaced.contains('\t'),
            "{replaced}"
        );
        assert!(
            uuid::Uuid::parse_str(&replaced).is_ok(),
            "a fresh id: {replaced}"
        );
    }
}

#[tokio::test]
async fn the_example_secrets_stop_the_api_with_exit_code_2() {
    let example = include_str!("../../.env.example");
    let value = |name: &str| {
        example
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .expect("the variable is in .env.example")
            .to_owned()
    };
    let own_secret = "a-secret-of-our-own-at-least-32-bytes-long";
    let cases = [
        ("JWT_SECRET", value("JWT_SECRET"), own_secret.to_owned()),
        (
            "ADMIN_PASSWORD",
            own_secret.to_owned(),
            value("ADMIN_PASSWORD"),
        ),
    ];
    for (refused, jwt_secret, admin_password) in cases {
        let api = tests::process::command(
            "api",
            &[
                ("JWT_SECRET", &jwt_secret),
                ("ADMIN_USERNAME", "admin"),
                ("ADMIN_PASSWORD", &admin_password),
                ("PUBLIC_ADDR", "127.0.0.1:0"),
                ("INTERNAL_ADDR", "127.0.0.1:0"),
            ],
        )
        .output();
        let output = tokio::time::timeout(Duration::from_secs(30), api)
            .await
            .unwrap_or_else(|_| panic!("api started and served with the example {refused}"))
            .expect("run api");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{refused}: {stderr}");
        assert!(stderr.contains(refused), "{stderr}");
    }
}

#[tokio::test]
async fn feeds_past_the_concurrent_limit_are_503_with_retry_after_until_one_ends() {
    let app = spawn_app_with(&[
        ("INGEST_MAX_CONCURRENT", "2"),
        ("INGEST_ALLOW_ANONYMOUS", "true"),
    ])
    .await;
    let held = [
        stalled_upload(&app.address, 1_000, b"[").await,
        stalled_upload(&app.address, 1_000, b"[").await,
    ];
    let feed = |n: usize| {
        format!(
            r#"[{{"id": "limit-{n}-{}"}}]"#,
            uuid::Uuid::new_v4().simple()
        )
    };

    // The stalled uploads hold both places once their handlers run.
    let mut refused = None;
    for n in 0..200 {
        let response = app.post_feed(feed(n)).await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(response);
            break;
        }
        tokio::task::yield_now().await;
    }
    let refused = refused.expect("a feed past the limit is refused");
    let retry_after = refused.headers().get("retry-after").cloned();
    let (_, body) = json_of(refused).await;
    drop(held);
    let mut accepted = StatusCode::SERVICE_UNAVAILABLE;
    for n in 200..400 {
        accepted = app.post_feed(feed(n)).await.status();
        if accepted == StatusCode::OK {
            break;
        }
        tokio::task::yield_now().await;
    }

    assert_eq!(body["code"], "UNAVAILABLE");
    assert_eq!(
        retry_after.as_ref().and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        accepted,
        StatusCode::OK,
        "a place frees when an upload ends"
    );
}

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight_at_most_the_shutdown_timeout() {
    let mut api = start_api(&[
        ("INGEST_ALLOW_ANONYMOUS", "true"),
        ("SHUTDOWN_TIMEOUT_SECS", "1"),
        ("HTTP_BODY_IDLE_TIMEOUT_SECS", "600"),
    ])
    .await;
    let _stalled = stalled_upload(&api.address, 1_000_000, b"[").await;
    // The upload is in flight once a request behind it on another
    // connection has been answered.
    reqwest::get(format!("{}/healthz", api.address))
        .await
        .expect("healthz");

    let status = api.terminate(Duration::from_secs(20)).await;

    assert!(status.success(), "{status:?}");
}
