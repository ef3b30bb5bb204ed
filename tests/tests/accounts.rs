//! Accounts and authentication (SPEC section 4): logging in, Basic and
//! Bearer credentials, bad tokens of every kind, roles.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::accounts::Role;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::app::TEST_JWT_SECRET;
use tests::process::{command, wait_for_exit};
use tests::{TestApp, json_of, spawn_app, spawn_app_with};

const BASE64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

async fn get_me(app: &TestApp, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.get(format!("{}/me", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    json_of(request.send().await.expect("sent")).await
}

fn basic(username: &str, password: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {credentials}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A token for `claims`, signed with the test apps' key.
fn signed(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("a token")
}

async fn create_account(app: &TestApp, authorization: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/accounts", app.address))
        .header("authorization", authorization)
        .json(&body)
        .send()
        .await
        .expect("sent");
    json_of(response).await
}

#[tokio::test]
async fn logging_in_gives_a_bearer_token_for_five_minutes() {
    let app = spawn_app().await;
    let password = app.add_account("ana", Role::User).await;

    let response = app
        .post_json("/login", &json!({"username": "ana", "password": password}))
        .await;
    let (status, body) = json_of(response).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 300);
    let token = body["token"].as_str().expect("a token");
    let (status, me) = get_me(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "ana");
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_username_is_a_401() {
    let app = spawn_app().await;
    app.add_account("ana", Role::User).await;

    for (username, password) in [("ana", "not-her-password"), ("nobody", "whatever1")] {
        let response = app
            .post_json(
                "/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        let (status, body) = json_of(response).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{username}");
        assert_eq!(body["code"], "UNAUTHORIZED");
        assert_eq!(body["msg"], "wrong username or password");
    }
}

#[tokio::test]
async fn basic_credentials_are_accepted_on_protected_routes() {
    let app = spawn_app().await;
    let password = app.add_account("ana", Role::User).await;

    let (status, me) = get_me(&app, Some(&basic("ana", &password))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "ana");

    let (status, _) = get_me(&app, Some(&basic("ana", "wrong-password"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_request_without_usable_credentials_is_a_401() {
    let app = spawn_app().await;

    for authorization in [None, Some("Bearer"), Some("Digest abc"), Some("Basic !!!")] {
        let (status, body) = get_me(&app, authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(body["code"], "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn an_expired_token_is_a_401() {
    let app = spawn_app().await;
    let claims =
        json!({"sub": "ana", "uid": 1, "role": "admin", "iat": now() - 3600, "exp": now() - 600});

    let (status, body) = get_me(&app, Some(&format!("Bearer {}", signed(&claims)))).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["msg"].as_str().is_some_and(|m| m.contains("xpired")),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_without_an_expiry_is_a_401() {
    let app = spawn_app().await;
    let claims = json!({"sub": "ana", "uid": 1, "role": "admin", "iat": now()});

    let (status, _) = get_me(&app, Some(&format!("Bearer {}", signed(&claims)))).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_tampered_token_is_a_401() {
    let app = spawn_app().await;
    let password = app.add_account("ana", Role::User).await;
    let token = app.login("ana", &password).await;
    let [header, _, signature]: [&str; 3] = token
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three parts");
    let promoted =
        json!({"sub": "ana", "uid": 1, "role": "admin", "iat": now(), "exp": now() + 300});
    let payload = BASE64URL.encode(promoted.to_string());

    let forged = format!("Bearer {header}.{payload}.{signature}");
    let (status, _) = get_me(&app, Some(&forged)).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_a_401() {
    let app = spawn_app().await;
    let header = BASE64URL.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({"sub": "ana", "uid": 1, "role": "admin", "iat": now(), "exp": now() + 300});
    let payload = BASE64URL.encode(claims.to_string());

    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let (status, _) = get_me(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_a_401() {
    let app = spawn_app().await;
    let claims = json!({"sub": "ana", "uid": 1, "role": "admin", "iat": now(), "exp": now() + 300});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    )
    .expect("a token");

    let (status, _) = get_me(&app, Some(&format!("Bearer {token}"))).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_creates_accounts_that_can_log_in() {
    let app = spawn_app().await;
    let password = app.add_account("root", Role::Admin).await;
    let admin = basic("root", &password);

    let (status, body) = create_account(
        &app,
        &admin,
        json!({"username": "bo", "password": "bo-password", "role": "user"}),
    )
    .await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["username"], "bo");
    assert_eq!(body["role"], "user");
    app.login("bo", "bo-password").await;
}

#[tokio::test]
async fn a_taken_username_is_a_409_and_an_unknown_role_a_400() {
    let app = spawn_app().await;
    let password = app.add_account("root", Role::Admin).await;
    let admin = basic("root", &password);
    app.add_account("bo", Role::User).await;

    let (status, body) = create_account(
        &app,
        &admin,
        json!({"username": "bo", "password": "new-password", "role": "user"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "CONFLICT");

    let (status, body) = create_account(
        &app,
        &admin,
        json!({"username": "cy", "password": "cy-password", "role": "root"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "BAD_REQUEST");
    app.post_json(
        "/login",
        &json!({"username": "cy", "password": "cy-password"}),
    )
    .await
    .status()
    .eq(&StatusCode::UNAUTHORIZED)
    .then_some(())
    .expect("cy was not created");
}

#[tokio::test]
async fn a_user_creating_an_account_is_a_403() {
    let app = spawn_app().await;
    let password = app.add_account("bo", Role::User).await;
    let token = app.login("bo", &password).await;

    let (status, body) = create_account(
        &app,
        &format!("Bearer {token}"),
        json!({"username": "cy", "password": "cy-password", "role": "admin"}),
    )
    .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "FORBIDDEN");
}

#[tokio::test]
async fn the_bootstrap_admin_is_created_on_start() {
    let app = spawn_app_with(&[
        ("ADMIN_USERNAME", "boss"),
        ("ADMIN_PASSWORD", "boss-password"),
    ])
    .await;

    let token = app.login("boss", "boss-password").await;

    let (status, me) = get_me(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn accounts_add_on_the_command_line_reads_the_password_from_stdin() {
    let app = spawn_app().await;
    let database_url = app.state.settings.database.url.as_str().to_owned();

    let mut cli = command(
        "api",
        &[
            ("DATABASE_URL", database_url.as_str()),
            ("LOG_FORMAT", "json"),
        ],
    )
    .args([
        "accounts",
        "add",
        "--username",
        "cli-user",
        "--role",
        "user",
    ])
    .stdin(std::process::Stdio::piped())
    .spawn()
    .expect("start api accounts add");
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = cli.stdin.take().expect("stdin");
        stdin
            .write_all(b"typed-in-password\n")
            .await
            .expect("write");
    }
    let status = wait_for_exit(&mut cli, Duration::from_secs(60)).await;

    assert_eq!(status.code(), Some(0));
    app.login("cli-user", "typed-in-password").await;
}

#[tokio::test]
async fn api_refuses_to_start_outside_embedded_mode_without_a_long_jwt_secret() {
    for (secret, reason) in [(None, "required"), (Some("too-short"), "too short")] {
        let mut vars = vec![
            ("DATABASE_URL", "postgres://mercato@127.0.0.1:1/none"),
            ("PUBLIC_ADDR", "127.0.0.1:0"),
            ("INTERNAL_ADDR", "127.0.0.1:0"),
        ];
        if let Some(secret) = secret {
            vars.push(("JWT_SECRET", secret));
        }
        let mut api = command("api", &vars)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start api");
        let status = wait_for_exit(&mut api, Duration::from_secs(30)).await;
        let output = api.wait_with_output().await.expect("output");
        let stderr = String::from_utf8_lossy(&output.stderr);

        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("JWT_SECRET") && stderr.contains(reason),
            "{stderr}"
        );
    }
}
