//! Resumable feed uploads, the tus 1.0 protocol under `/v1/uploads`
//! (SPEC section 8), spoken by hand here; `scripts/test` also drives them
//! with tuspy, a real client, in its Python step.
//!
//! Length: one file per feature's system tests; each test stands alone.

use api::ingest::uploads;
use platform::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::ingest::{feed_of, products_with_sku_prefix};
use tests::{TestApp, json_of, spawn_app_with, spawn_app_with_clock};

const ANONYMOUS: (&str, &str) = ("INGEST_ALLOW_ANONYMOUS", "true");

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A tus request to `path` (relative to the app) with `Tus-Resumable`.
fn tus(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, format!("{}{path}", app.address))
        .header("tus-resumable", "1.0.0")
}

/// Creates an upload of `length` bytes and returns its path.
async fn create(app: &TestApp, length: usize) -> String {
    let created = tus(app, Method::POST, "/v1/uploads")
        .header("upload-length", length.to_string())
        .header("upload-metadata", "filename ZmVlZC5qc29u")
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["tus-resumable"], "1.0.0");
    assert_eq!(created.headers()["upload-offset"], "0");
    created.headers()["location"]
        .to_str()
        .expect("a location")
        .to_owned()
}

async fn patch(app: &TestApp, path: &str, offset: usize, bytes: &[u8]) -> reqwest::Response {
    tus(app, Method::PATCH, path)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("sent")
}

async fn offset_of(app: &TestApp, path: &str) -> reqwest::Response {
    tus(app, Method::HEAD, path).send().await.expect("sent")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn options_say_what_is_served() {
    let app = spawn_app_with(&[ANONYMOUS, ("INGEST_MAX_BYTES", "1000000")]).await;

    let options = app
        .client
        .request(Method::OPTIONS, format!("{}/v1/uploads", app.address))
        .send()
        .await
        .expect("sent");

    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-version"), "1.0.0");
    assert_eq!(header(&options, "tus-max-size"), "1000000");
    let extensions = header(&options, "tus-extension");
    for extension in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
    ] {
        assert!(
            extensions.split(',').any(|e| e == extension),
            "{extensions}"
        );
    }
}

#[tokio::test]
async fn a_feed_uploaded_in_chunks_is_accepted_once_its_last_byte_arrives() {
    let app = spawn_app_with(&[ANONYMOUS]).await;
    let prefix = unique("tus");
    let body = feed_of(&prefix, 3_000);
    let path = create(&app, body.len()).await;

    let mut offset = 0;
    let mut last = None;
    for chunk in body.as_bytes().chunks(40_000) {
        let sent = patch(&app, &path, offset, chunk).await;
        assert_eq!(sent.status(), StatusCode::NO_CONTENT, "at {offset}");
        offset += chunk.len();
        assert_eq!(header(&sent, "upload-offset"), offset.to_string());
        let head = offset_of(&app, &path).await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(header(&head, "upload-offset"), offset.to_string());
        assert_eq!(header(&head, "upload-length"), body.len().to_string());
        assert_eq!(header(&head, "upload-metadata"), "filename ZmVlZC5qc29u");
        last = Some(sent);
    }

    let last = last.expect("a PATCH");
    let ingest = header(&last, "mercato-ingest-id").to_owned();
    assert!(!ingest.is_empty(), "the last PATCH names the ingest");
    let job = app.wait_for_ingest(&ingest).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (job["items"].as_u64(), job["size"].as_u64()),
        (Some(3_000), Some(body.len() as u64))
    );
    assert_eq!(job["hash"], feed::BodyHash::of(body.as_bytes()).to_string());
    assert_eq!(
        products_with_sku_prefix(&app.state.db, &prefix).await,
        3_000
    );
    // The same body again, by POST: the upload holds the window.
    let (again, refused) = json_of(app.post_feed(body).await).await;
    assert_eq!(again, StatusCode::FORBIDDEN);
    assert_eq!(refused["ingest_id"], ingest.as_str());
    // Asking after it: complete, naming its ingest.
    let head = offset_of(&app, &path).await;
    assert_eq!(header(&head, "mercato-ingest-id"), ingest);
    assert_eq!(header(&head, "upload-offset"), offset.to_string());
    // A client whose last answer was lost may send its end again.
    let again = patch(&app, &path, offset, b"").await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&again, "mercato-ingest-id"), ingest);
    assert_eq!(
        patch(&app, &path, 0, b"[").await.status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn creation_with_upload_takes_the_first_bytes_and_a_wrong_offset_is_409() {
    let app = spawn_app_with(&[ANONYMOUS]).await;
    let body = feed_of(&unique("with"), 10);
    let (head, tail) = body.as_bytes().split_at(100);

    let created = tus(&app, Method::POST, "/v1/uploads")
        .header("upload-length", body.len().to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(head.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "upload-offset"), "100");
    let path = header(&created, "location").to_owned();

    let wrong = patch(&app, &path, 50, tail).await;
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    let not_tus = app
        .client
        .patch(format!("{}{path}", app.address))
        .header("upload-offset", "100")
        .header("content-type", "application/offset+octet-stream")
        .body(tail.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(not_tus.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&not_tus, "tus-version"), "1.0.0");
    let done = patch(&app, &path, 100, tail).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert!(!header(&done, "mercato-ingest-id").is_empty());
}

#[tokio::test]
async fn an_upload_of_a_body_already_accepted_ends_in_403_duplicate_and_is_gone() {
    let app = spawn_app_with(&[ANONYMOUS]).await;
    let body = feed_of(&unique("twice"), 5);
    let (_, accepted) = json_of(app.post_feed(body.clone()).await).await;
    let path = create(&app, body.len()).await;

    let (status, refused) = json_of(patch(&app, &path, 0, body.as_bytes()).await).await;

    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["code"], "DUPLICATE");
    assert_eq!(refused["ingest_id"], accepted["id"]);
    assert_eq!(offset_of(&app, &path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(upload_files(&app), Vec::<String>::new());
}

#[tokio::test]
async fn bytes_that_are_no_feed_end_the_upload_with_400_naming_the_offset() {
    let app = spawn_app_with(&[ANONYMOUS]).await;
    let path = create(&app, 40).await;
    assert_eq!(
        patch(&app, &path, 0, br#"[{"id": "a"},"#).await.status(),
        StatusCode::NO_CONTENT
    );

    let (status, said) = json_of(patch(&app, &path, 13, b" 42]").await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        said["msg"].as_str().expect("msg").contains("at byte 14"),
        "{said}"
    );
    assert_eq!(offset_of(&app, &path).await.status(), StatusCode::NOT_FOUND);
}

/// The upload files in the app's spool directory.
fn upload_files(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.state.ingestion.spool.dir())
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".upload"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_upload_whose_bytes_were_lost_is_404_and_gone() {
    let app = spawn_app_with(&[ANONYMOUS]).await;
    let path = create(&app, 1_000).await;
    for file in upload_files(&app) {
        std::fs::remove_file(app.state.ingestion.spool.dir().join(file)).expect("remove");
    }

    let (status, said) = json_of(patch(&app, &path, 0, b"[").await).await;

    assert_eq!(status, StatusCode::NOT_FOUND, "{said}");
    assert!(
        said["msg"]
            .as_str()
            .expect("msg")
            .contains("start it again"),
        "{said}"
    );
    assert_eq!(offset_of(&app, &path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_ended_upload_is_gone_with_its_bytes() {
    let app = spawn_app_with(&[ANONYMOUS]).await;
    let path = create(&app, 1_000).await;
    patch(&app, &path, 0, b"[").await;
    assert_eq!(upload_files(&app).len(), 1);

    let ended = tus(&app, Method::DELETE, &path).send().await.expect("sent");

    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&app, &path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(upload_files(&app), Vec::<String>::new());
}

#[tokio::test]
async fn an_unfinished_upload_expires_after_upload_expiry_secs_and_its_bytes_are_deleted() {
    let start = 1_520_000_000 * 1_000_000;
    let clock = Clock::frozen_at_micros(start);
    let app =
        spawn_app_with_clock(&[ANONYMOUS, ("UPLOAD_EXPIRY_SECS", "3600")], clock.clone()).await;
    let path = create(&app, 1_000).await;
    let head = offset_of(&app, &path).await;
    assert_eq!(
        header(&head, "upload-expires"),
        "Fri, 02 Mar 2018 15:13:20 GMT"
    );
    clock.set_micros(start + 1_800 * 1_000_000);
    // A byte renews the expiry.
    assert_eq!(
        patch(&app, &path, 0, b"[").await.status(),
        StatusCode::NO_CONTENT
    );

    clock.set_micros(start + 5_000 * 1_000_000);
    let early = uploads::expire(&app.state.ingestion, clock.now())
        .await
        .expect("expire");
    clock.set_micros(start + 5_400 * 1_000_000);
    let on_time = uploads::expire(&app.state.ingestion, clock.now())
        .await
        .expect("expire");

    assert_eq!((early, on_time), (0, 1));
    assert_eq!(upload_files(&app), Vec::<String>::new());
    assert_eq!(offset_of(&app, &path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        patch(&app, &path, 1, b"]").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_upload_answers_only_its_creator_and_admins() {
    let app = tests::spawn_app().await;
    let feeder = app
        .bearer_of(&unique("feeder"), api::accounts::Role::Feeder)
        .await;
    let other = app
        .bearer_of(&unique("other"), api::accounts::Role::Feeder)
        .await;
    let admin = app
        .bearer_of(&unique("root"), api::accounts::Role::Admin)
        .await;
    let user = app
        .bearer_of(&unique("user"), api::accounts::Role::User)
        .await;
    let created = tus(&app, Method::POST, "/v1/uploads")
        .header("authorization", &feeder)
        .header("upload-length", "100")
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let path = header(&created, "location").to_owned();
    let head_as = |auth: &str| {
        tus(&app, Method::HEAD, &path)
            .header("authorization", auth)
            .send()
    };

    let statuses = (
        head_as(&feeder).await.expect("sent").status(),
        head_as(&other).await.expect("sent").status(),
        head_as(&admin).await.expect("sent").status(),
        head_as(&user).await.expect("sent").status(),
        tus(&app, Method::HEAD, &path)
            .send()
            .await
            .expect("sent")
            .status(),
    );

    assert_eq!(
        statuses,
        (
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::OK,
            StatusCode::FORBIDDEN,
            StatusCode::UNAUTHORIZED
        )
    );
    // Refused before any handler runs, and still a tus answer.
    let refused = tus(&app, Method::HEAD, &path).send().await.expect("sent");
    assert_eq!(header(&refused, "tus-resumable"), "1.0.0");
}

#[tokio::test]
async fn an_upload_longer_than_the_limit_is_413_and_a_patch_past_its_length_too() {
    let app = spawn_app_with(&[ANONYMOUS, ("INGEST_MAX_BYTES", "1000")]).await;
    let too_long = tus(&app, Method::POST, "/v1/uploads")
        .header("upload-length", "1001")
        .send()
        .await
        .expect("sent");
    assert_eq!(too_long.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let path = create(&app, 10).await;

    let (status, said) = json_of(
        patch(
            &app,
            &path,
            0,
            json!([{"id": "too-long-for-ten"}]).to_string().as_bytes(),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{said}");
    assert_eq!(header(&offset_of(&app, &path).await, "upload-offset"), "0");
}
