//! `POST /v1/products` and `GET /v1/products/ingests/{id}` (SPEC section 8)
//! on this run's backends.
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use api::accounts::Role;
use catalog_entities::{offer, product};
use platform::Clock;
use reqwest::StatusCode;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tests::ingest::{answer_to_head, cut_off_upload, feed_of, products_with_sku_prefix};
use tests::{TestApp, json_of, spawn_app_with, spawn_app_with_clock};

const SECOND: i64 = 1_000_000;

const ANONYMOUS: (&str, &str) = ("INGEST_ALLOW_ANONYMOUS", "true");

async fn spawn_feed_app() -> TestApp {
    spawn_app_with(&[ANONYMOUS]).await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The files in the app's spool directory other than its id.
fn spooled_files(app: &TestApp) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(app.state.ingestion.spool.dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect()
}

#[tokio::test]
async fn the_first_body_is_accepted_and_the_same_body_again_is_a_duplicate_with_retry_after() {
    let app = spawn_feed_app().await;
    let body = feed_of(&unique("seed"), 2);

    let (first_status, first) = json_of(app.post_feed(body.clone()).await).await;
    let again = app.post_feed(body).await;

    assert_eq!(first_status, StatusCode::OK, "{first}");
    assert_eq!(first["items"], 2);
    assert!(uuid::Uuid::parse_str(first["id"].as_str().expect("an id")).is_ok());
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    let retry_after: u64 = again.headers()["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!((599..=600).contains(&retry_after), "{retry_after}");
    let (_, error) = json_of(again).await;
    assert_eq!(error["code"], "DUPLICATE");
    assert!(
        error["msg"]
            .as_str()
            .expect("msg")
            .contains(first["id"].as_str().expect("id")),
        "the duplicate names the feed that holds the window: {error}"
    );
}

#[tokio::test]
async fn a_body_one_byte_different_is_a_new_feed() {
    let app = spawn_feed_app().await;
    let body = feed_of(&unique("byte"), 3);

    let first = app.post_feed(body.clone()).await.status();
    let with_a_space = app.post_feed(format!("{body} ")).await.status();

    assert_eq!((first, with_a_space), (StatusCode::OK, StatusCode::OK));
}

/// The in-memory window on a frozen clock (the Redis window's edges are
/// in `cluster::ingest`): 10 minutes less a microsecond is still refused,
/// and that refusal does not move the end, so at exactly +10:00 the body
/// is accepted again.
#[tokio::test]
async fn the_window_ends_exactly_ten_minutes_after_the_first_acceptance_whatever_was_refused_meanwhile()
 {
    let start = 1_520_000_000 * SECOND;
    let clock = Clock::frozen_at_micros(start);
    let app = spawn_app_with_clock(&[ANONYMOUS, ("REDIS_URL", "")], clock.clone()).await;
    let body = r#"[{"id": "123", "name": "mesa"}]"#;

    let at_13_00_00 = app.post_feed(body).await.status();
    clock.set_micros(start + 300 * SECOND);
    let at_13_05_00 = app.post_feed(body).await;
    clock.set_micros(start + 600 * SECOND - 1);
    let just_before_13_10_00 = app.post_feed(body).await;
    clock.set_micros(start + 600 * SECOND);
    let at_13_10_00 = app.post_feed(body).await.status();

    assert_eq!(at_13_00_00, StatusCode::OK);
    assert_eq!(at_13_05_00.status(), StatusCode::FORBIDDEN);
    assert_eq!(at_13_05_00.headers()["retry-after"], "300");
    assert_eq!(just_before_13_10_00.status(), StatusCode::FORBIDDEN);
    assert_eq!(just_before_13_10_00.headers()["retry-after"], "1");
    assert_eq!(at_13_10_00, StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_the_byte_offset_and_never_claim_the_window() {
    let app = spawn_feed_app().await;
    let cases = [
        (r#"{"id": "1"}"#, "expected `[`", 0),
        (
            r#"[{"id": "1"}, {"id": "2""#,
            "ends before the array is closed",
            24,
        ),
        (
            r#"[{"id": "1"}, {"name": "no id"}]"#,
            "items[1] has no `id`",
            30,
        ),
        (
            r#"[{"id": "1"}] trailing"#,
            "unexpected data after the end of the array",
            14,
        ),
        (
            r#"[{"id": true}]"#,
            "items[0].id must be a string or a number",
            8,
        ),
        ("[\"just a string\"]", "items[0] is not an object", 1),
        ("", "the body is empty", 0),
    ];
    for (body, problem, offset) in cases {
        let (status, error) = json_of(app.post_feed(body).await).await;
        let (status_again, error_again) = json_of(app.post_feed(body).await).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["code"], "BAD_REQUEST");
        let msg = error["msg"].as_str().expect("msg");
        assert!(msg.contains(problem), "{body}: {msg}");
        assert!(msg.contains(&format!("at byte {offset}")), "{body}: {msg}");
        assert_eq!(
            status_again,
            StatusCode::BAD_REQUEST,
            "{body}: {error_again}"
        );
    }
}

#[tokio::test]
async fn a_malformed_body_larger_than_memory_holds_is_400_and_leaves_no_spool_file() {
    let app = spawn_feed_app().await;
    let mut body = feed_of(&unique("big"), 5_000);
    body.truncate(body.len() - 1);
    body.push('}');

    let (status, error) = json_of(app.post_feed(body.clone()).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let offset = body.len() - 1;
    assert!(
        error["msg"]
            .as_str()
            .expect("msg")
            .contains(&format!("at byte {offset}")),
        "{error}"
    );
    assert_eq!(spooled_files(&app), Vec::<String>::new());
}

#[tokio::test]
async fn a_cut_off_upload_claims_nothing_so_the_whole_body_is_accepted_afterwards() {
    let app = spawn_feed_app().await;
    for count in [3, 5_000] {
        let body = feed_of(&unique("cut"), count);
        let head = format!(
            "POST /v1/products HTTP/1.1\r\nhost: mercato\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );

        cut_off_upload(&app.address, &head, &body.as_bytes()[..body.len() / 2]).await;
        let (status, accepted) = json_of(app.post_feed(body).await).await;

        assert_eq!(status, StatusCode::OK, "{count} items: {accepted}");
        assert_eq!(accepted["items"], count);
    }
    // The cut-off bodies' spool files go; only accepted feeds' stay, until applied.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !spooled_files(&app).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            spooled_files(&app)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_any_of_the_body_is_sent() {
    let app = spawn_app_with(&[ANONYMOUS, ("INGEST_MAX_BYTES", "1000")]).await;

    let answer = answer_to_head(
        &app.address,
        "POST /v1/products HTTP/1.1\r\nhost: mercato\r\ncontent-length: 1001\r\n\r\n",
    )
    .await;

    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
}

#[tokio::test]
async fn a_streamed_body_that_grows_over_the_limit_is_413() {
    let app = spawn_app_with(&[ANONYMOUS, ("INGEST_MAX_BYTES", "100000")]).await;
    let body = feed_of(&unique("limit"), 3_000);
    let chunks: Vec<Result<String, std::io::Error>> = body
        .as_bytes()
        .chunks(10_000)
        .map(|chunk| Ok(String::from_utf8_lossy(chunk).into_owned()))
        .collect();

    let response = app
        .post_feed(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .await;
    let (status, error) = json_of(response).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(
        app.post_feed(feed_of("small", 1)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn feeds_need_the_feeder_or_admin_role_unless_anonymous_feeds_are_allowed() {
    let app = tests::spawn_app().await;
    let body = feed_of(&unique("auth"), 1);
    let feeder = app.bearer_of("feeder", Role::Feeder).await;
    let user = app.bearer_of("ana", Role::User).await;
    let send = |auth: String| {
        app.client
            .post(format!("{}/v1/products", app.address))
            .header("authorization", auth)
            .body(body.clone())
            .send()
    };

    let anonymous = app.post_feed(body.clone()).await.status();
    let (as_user, user_body) = json_of(send(user).await.expect("sent")).await;
    let as_feeder = send(feeder).await.expect("sent").status();

    assert_eq!(anonymous, StatusCode::UNAUTHORIZED);
    assert_eq!(as_user, StatusCode::FORBIDDEN, "a feed writes the catalog");
    assert_eq!(user_body["code"], "FORBIDDEN");
    assert_eq!(as_feeder, StatusCode::OK);
}

#[tokio::test]
async fn an_ingest_is_shown_to_its_sender_and_admins_only() {
    let app = tests::spawn_app().await;
    let feeder = app.bearer_of("feeder", Role::Feeder).await;
    let other = app.bearer_of("other-feeder", Role::Feeder).await;
    let admin = app.bearer_of("root", Role::Admin).await;
    let sent = app
        .client
        .post(format!("{}/v1/products", app.address))
        .header("authorization", &feeder)
        .body(feed_of(&unique("mine"), 1))
        .send()
        .await
        .expect("sent");
    let (_, accepted) = json_of(sent).await;
    let path = format!(
        "/v1/products/ingests/{}",
        accepted["id"].as_str().expect("an id")
    );
    let read = |auth: &str| {
        app.client
            .get(format!("{}{path}", app.address))
            .header("authorization", auth)
            .send()
    };

    let by_sender = read(&feeder).await.expect("sent").status();
    let by_another = read(&other).await.expect("sent").status();
    let by_admin = read(&admin).await.expect("sent").status();

    assert_eq!(
        (by_sender, by_another, by_admin),
        (StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::OK)
    );
}

#[tokio::test]
async fn an_accepted_feed_is_applied_to_the_catalog_by_sku() {
    let app = spawn_feed_app().await;
    let admin = app.bearer_of("admin", Role::Admin).await;
    let sku = unique("sku");
    app.create_product(
        &admin,
        json!({"name": "Old name", "description": "Kept", "sku": sku}),
    )
    .await;
    let body = json!([
        {"id": sku, "name": "New name"},
        {"id": 42, "name": "Mesa", "description": "De madeira", "price": 10},
        {"id": "no-name"},
        {"id": "bad sku with spaces", "name": "x"},
        {"id": 42, "description": "Later wins"},
    ]);

    let (status, accepted) = json_of(app.post_feed(body.to_string()).await).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let job = app
        .wait_for_ingest(accepted["id"].as_str().expect("id"))
        .await;

    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["items"], 5);
    assert_eq!(job["processed"], 5);
    assert_eq!(
        (
            job["created"].as_i64(),
            job["updated"].as_i64(),
            job["skipped"].as_i64()
        ),
        (Some(2), Some(2), Some(1)),
        "{job}"
    );
    assert!(
        job["problem"]
            .as_str()
            .expect("a problem")
            .contains("items[3].id"),
        "{job}"
    );
    let by_sku = |sku: &str| {
        product::Entity::find()
            .filter(product::Column::Sku.eq(sku))
            .one(&app.state.db)
    };
    let updated = by_sku(&sku).await.expect("query").expect("the product");
    assert_eq!(
        (updated.name.as_str(), updated.description.as_str()),
        ("New name", "Kept")
    );
    let mesa = by_sku("42").await.expect("query").expect("the new product");
    assert_eq!(
        (mesa.name.as_str(), mesa.description.as_str()),
        ("Mesa", "Later wins")
    );
    assert!(!mesa.registered);
    assert!(
        mesa.registration_due_at.is_some(),
        "new products go through registration"
    );
    let unnamed = by_sku("no-name")
        .await
        .expect("query")
        .expect("the new product");
    assert_eq!(unnamed.name, "no-name");
}

#[tokio::test]
async fn a_spooled_feed_is_applied_in_batches_and_its_spool_file_is_deleted() {
    let app = spawn_feed_app().await;
    let prefix = unique("batch");
    let body = feed_of(&prefix, 2_500);
    assert!(body.len() > api::ingest::receive::INLINE_MAX);

    let (status, accepted) = json_of(app.post_feed(body).await).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let job = app
        .wait_for_ingest(accepted["id"].as_str().expect("id"))
        .await;

    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (job["processed"].as_i64(), job["created"].as_i64()),
        (Some(2_500), Some(2_500))
    );
    assert_eq!(
        products_with_sku_prefix(&app.state.db, &prefix).await,
        2_500
    );
    assert_eq!(spooled_files(&app), Vec::<String>::new());
}

#[tokio::test]
async fn an_unknown_ingest_is_404_and_a_bad_id_400() {
    let app = spawn_feed_app().await;

    let (unknown, _) = json_of(
        app.get(&format!("/v1/products/ingests/{}", uuid::Uuid::now_v7()))
            .await,
    )
    .await;
    let (bad, _) = json_of(app.get("/v1/products/ingests/nope").await).await;

    assert_eq!(
        (unknown, bad),
        (StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST)
    );
}

#[tokio::test]
async fn small_feeds_are_applied_in_the_order_they_were_accepted() {
    let app = spawn_feed_app().await;
    let sku = unique("order");
    let mut accepted = Vec::new();
    for name in ["First", "Second", "Third"] {
        let body = json!([{"id": sku, "name": name}]).to_string();
        let (status, answer) = json_of(app.post_feed(body).await).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        accepted.push(answer["id"].as_str().expect("id").to_owned());
    }

    let mut jobs = Vec::new();
    for id in &accepted {
        jobs.push(app.wait_for_ingest(id).await);
    }

    let counts: Vec<(i64, i64)> = jobs
        .iter()
        .map(|job| {
            (
                job["created"].as_i64().unwrap_or(-1),
                job["updated"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(counts, [(1, 0), (0, 1), (0, 1)], "{jobs:?}");
    let product = product::Entity::find()
        .filter(product::Column::Sku.eq(&sku))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the product");
    assert_eq!(product.name, "Third");
}

#[tokio::test]
async fn the_openapi_document_lists_both_ingestion_routes_with_the_duplicate_answer() {
    let app = spawn_feed_app().await;

    let (status, doc) = json_of(app.get("/openapi.json").await).await;

    assert_eq!(status, StatusCode::OK);
    let post = &doc["paths"]["/v1/products"]["post"];
    assert!(
        post["responses"]["403"]["headers"]["Retry-After"].is_object(),
        "{post}"
    );
    assert!(post["responses"]["413"].is_object(), "{post}");
    assert!(doc["paths"]["/v1/products/ingests/{id}"]["get"].is_object());
}

/// A feed of `count` products `<prefix>-0` …, named `<name> i`, in the order of `order`.
fn named_feed(
    prefix: &str,
    order: impl Iterator<Item = usize>,
    name: impl Fn(usize) -> String,
) -> String {
    let items: Vec<String> = order
        .map(|i| {
            json!({"id": format!("{prefix}-{i}"), "name": name(i), "description": "Same"})
                .to_string()
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[tokio::test]
async fn a_feed_sent_again_with_one_percent_changed_writes_only_the_changed_items() {
    let start = 1_520_000_000 * SECOND;
    let clock = Clock::frozen_at_micros(start);
    let app = spawn_app_with_clock(&[ANONYMOUS], clock.clone()).await;
    let prefix = unique("fp");
    // Large enough to be spooled and applied in two batches.
    let count = 2_000;
    let first = named_feed(&prefix, 0..count, |i| format!("Product {i}"));
    assert!(first.len() > api::ingest::receive::INLINE_MAX);
    let (status, accepted) = json_of(app.post_feed(first).await).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let job = app
        .wait_for_ingest(accepted["id"].as_str().expect("id"))
        .await;
    assert_eq!(
        (job["created"].as_i64(), job["unchanged"].as_i64()),
        (Some(count as i64), Some(0)),
        "{job}"
    );
    let by_sku = |sku: String| {
        product::Entity::find()
            .filter(product::Column::Sku.eq(sku))
            .one(&app.state.db)
    };
    let kept = by_sku(format!("{prefix}-7"))
        .await
        .expect("query")
        .expect("a product");
    offer::Entity::insert(offer::ActiveModel {
        id: ActiveValue::Set(unique("offer")),
        product_id: ActiveValue::Set(kept.id),
        price: ActiveValue::Set(1999),
        items_in_stock: ActiveValue::Set(3),
        updated_at: ActiveValue::Set(clock.now()),
    })
    .exec_without_returning(&app.state.db)
    .await
    .expect("an offer");

    // An hour later: every hundredth item renamed, all in another order.
    clock.set_micros(start + 3_600 * SECOND);
    let changed = |i: usize| i % 100 == 5;
    let again = named_feed(&prefix, (0..count).rev(), |i| {
        if changed(i) {
            format!("Product {i}, renamed")
        } else {
            format!("Product {i}")
        }
    });
    let (status, accepted) = json_of(app.post_feed(again).await).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let job = app
        .wait_for_ingest(accepted["id"].as_str().expect("id"))
        .await;

    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (
            job["created"].as_i64(),
            job["updated"].as_i64(),
            job["unchanged"].as_i64(),
            job["processed"].as_i64()
        ),
        (Some(0), Some(20), Some(1_980), Some(2_000)),
        "{job}"
    );
    let renamed = by_sku(format!("{prefix}-105"))
        .await
        .expect("query")
        .expect("a product");
    assert_eq!(renamed.name, "Product 105, renamed");
    assert_eq!(renamed.updated_at.as_micros(), start + 3_600 * SECOND);
    let unchanged = by_sku(format!("{prefix}-7"))
        .await
        .expect("query")
        .expect("a product");
    assert_eq!(unchanged, kept, "an unchanged item writes nothing");
    let (_, shown) = json_of(app.get(&format!("/products/{}", kept.id)).await).await;
    assert_eq!(
        shown["updated_at"].as_str(),
        Some(kept.updated_at.to_rfc3339().as_str()),
        "{shown}"
    );
    assert_eq!(shown["offers"][0]["price"], 1999, "{shown}");
    let moved = product::Entity::find()
        .filter(product::Column::Sku.starts_with(&prefix))
        .filter(product::Column::UpdatedAt.gt(kept.updated_at))
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(moved, 20, "only the changed rows' updated_at moves");
}

#[tokio::test]
async fn an_item_is_written_again_after_its_product_was_changed_through_the_api() {
    let app = spawn_feed_app().await;
    let admin = app.bearer_of("admin", Role::Admin).await;
    let sku = unique("edited");
    let feed = json!([{"id": sku, "name": "From the feed"}]).to_string();
    let first = json_of(app.post_feed(feed.clone()).await).await.1;
    app.wait_for_ingest(first["id"].as_str().expect("id")).await;
    let product = product::Entity::find()
        .filter(product::Column::Sku.eq(&sku))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the product");
    let patched = app
        .client
        .patch(format!("{}/products/{}", app.address, product.id))
        .header("authorization", &admin)
        .json(&json!({"name": "By hand"}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(patched.status(), StatusCode::OK);

    // The same item again, a new body (the window holds the first).
    let again = json!([{"id": sku, "name": "From the feed"}, {"id": unique("other")}]).to_string();
    let accepted = json_of(app.post_feed(again).await).await.1;
    let job = app
        .wait_for_ingest(accepted["id"].as_str().expect("id"))
        .await;

    assert_eq!(
        (job["updated"].as_i64(), job["unchanged"].as_i64()),
        (Some(1), Some(0)),
        "{job}"
    );
    let (_, shown) = json_of(app.get(&format!("/products/{}", product.id)).await).await;
    assert_eq!(shown["name"], "From the feed");
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).expect("compress");
    encoder.finish().expect("compress")
}

fn zstd(body: &[u8]) -> Vec<u8> {
    zstd::encode_all(body, 3).expect("compress")
}

async fn post_encoded(app: &TestApp, encoding: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/products", app.address))
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn a_feed_sent_gzip_or_zstd_is_the_same_feed_as_its_plain_form() {
    let app = spawn_feed_app().await;
    // Small enough to be kept in the row, and large enough to be spooled.
    for count in [3, 3_000] {
        let prefix = unique("encoded");
        let plain = feed_of(&prefix, count);

        let by_gzip = post_encoded(&app, "gzip", gzip(plain.as_bytes())).await;
        let location = by_gzip.headers().get("location").cloned();
        let (status, accepted) = json_of(by_gzip).await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        let id = accepted["id"].as_str().expect("id");
        assert_eq!(accepted["items"], count);
        assert_eq!(
            location.and_then(|l| l.to_str().ok().map(str::to_owned)),
            Some(format!("/v1/products/ingests/{id}"))
        );
        let (plain_again, refused) = json_of(app.post_feed(plain.clone()).await).await;
        let (zstd_again, refused_too) =
            json_of(post_encoded(&app, "zstd", zstd(plain.as_bytes())).await).await;

        assert_eq!(
            (plain_again, zstd_again),
            (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN)
        );
        assert_eq!(refused["code"], "DUPLICATE");
        assert_eq!(refused["ingest_id"], id, "{refused}");
        assert_eq!(refused_too["ingest_id"], id, "{refused_too}");
        let job = app.wait_for_ingest(id).await;
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["size"], plain.len(), "the decoded size: {job}");
        assert_eq!(
            job["hash"],
            feed::BodyHash::of(plain.as_bytes()).to_string()
        );
        assert_eq!(
            products_with_sku_prefix(&app.state.db, &prefix).await,
            count as u64
        );
    }
}

#[tokio::test]
async fn a_decompression_bomb_is_413_once_its_decoded_bytes_pass_the_limit_and_leaves_nothing() {
    let limit = 1024 * 1024;
    let app = spawn_app_with(&[ANONYMOUS, ("INGEST_MAX_BYTES", "1048576")]).await;
    // A valid start, then 64 MiB of one byte: a few dozen KB compressed.
    let mut decoded = br#"[{"id": "bomb", "padding": ""#.to_vec();
    decoded.resize(64 * limit, b'x');
    for (encoding, body) in [("gzip", gzip(&decoded)), ("zstd", zstd(&decoded))] {
        assert!(body.len() < 100 * 1024, "{encoding}: {} bytes", body.len());

        let (status, refused) = json_of(post_encoded(&app, encoding, body).await).await;

        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{encoding}: {refused}"
        );
        assert_eq!(refused["code"], "PAYLOAD_TOO_LARGE");
        assert_eq!(spooled_files(&app), Vec::<String>::new());
    }
}

#[tokio::test]
async fn an_unknown_content_encoding_is_415_naming_the_ones_accepted() {
    let app = spawn_feed_app().await;

    let response = post_encoded(&app, "br", b"[]".to_vec()).await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.headers()["accept-encoding"], "gzip, zstd");
    let (_, body) = json_of(response).await;
    assert_eq!(body["code"], "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_body_that_is_not_what_its_encoding_says_is_400_and_claims_nothing() {
    let app = spawn_feed_app().await;
    let plain = feed_of(&unique("liar"), 2);
    let mut cut = gzip(plain.as_bytes());
    cut.truncate(cut.len() / 2);

    let (not_gzip, said) =
        json_of(post_encoded(&app, "gzip", plain.clone().into_bytes()).await).await;
    let (truncated, _) = json_of(post_encoded(&app, "gzip", cut).await).await;

    assert_eq!(
        (not_gzip, truncated),
        (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST)
    );
    assert!(
        said["msg"].as_str().expect("msg").contains("gzip"),
        "{said}"
    );
    assert_eq!(app.post_feed(plain).await.status(), StatusCode::OK);
}

/// `POST /v1/products` of `body` as `authorization`; the accepted id.
async fn send_feed_as(app: &TestApp, authorization: &str, body: String) -> String {
    let sent = app
        .client
        .post(format!("{}/v1/products", app.address))
        .header("authorization", authorization)
        .body(body)
        .send()
        .await
        .expect("sent");
    let (status, accepted) = json_of(sent).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    accepted["id"].as_str().expect("an id").to_owned()
}

/// `GET /v1/products/ingests{query}` as `authorization`.
async fn list_ingests_as(
    app: &TestApp,
    authorization: &str,
    query: &str,
) -> (StatusCode, serde_json::Value) {
    let response = app
        .client
        .get(format!("{}/v1/products/ingests{query}", app.address))
        .header("authorization", authorization)
        .send()
        .await
        .expect("sent");
    json_of(response).await
}

fn ids_of(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|job| job["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_ingest_list_shows_a_feeder_its_own_ingests_and_an_admin_everyones() {
    let app = tests::spawn_app().await;
    let (one, two) = (unique("one"), unique("two"));
    let feeder = app.bearer_of(&one, Role::Feeder).await;
    let other = app.bearer_of(&two, Role::Feeder).await;
    let admin = app.bearer_of(&unique("root"), Role::Admin).await;
    let older = send_feed_as(&app, &feeder, feed_of(&unique("a"), 1)).await;
    let theirs = send_feed_as(&app, &other, feed_of(&unique("b"), 1)).await;
    let newer = send_feed_as(&app, &feeder, feed_of(&unique("c"), 2_000)).await;
    for id in [&older, &newer] {
        tests::ingest::wait_for_ingest_as(&app.client, &app.address, id, Some(&feeder)).await;
    }

    let (status, mine) = list_ingests_as(&app, &feeder, "").await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(
        ids_of(&mine),
        vec![newer.clone(), older.clone()],
        "newest first"
    );
    assert_eq!(mine[0]["sender"], one.as_str());
    assert_eq!(mine[0]["status"], "done");
    assert_eq!(mine[0]["processed"], 2_000);
    assert_eq!(mine[0]["applied_bytes"], mine[0]["size"], "{mine}");
    let (_, second_page) = list_ingests_as(&app, &feeder, "?page=2&page_size=1").await;
    assert_eq!(ids_of(&second_page), vec![older.clone()]);
    let (_, theirs_only) = list_ingests_as(&app, &other, "").await;
    assert_eq!(ids_of(&theirs_only), vec![theirs.clone()]);
    let (forbidden, _) = list_ingests_as(&app, &feeder, &format!("?sender={two}")).await;
    assert_eq!(forbidden, StatusCode::FORBIDDEN);

    let (_, all) = list_ingests_as(&app, &admin, "?page_size=100").await;
    let all = ids_of(&all);
    for id in [&older, &theirs, &newer] {
        assert!(all.contains(id), "{id} in {all:?}");
    }
    let (_, by_sender) = list_ingests_as(&app, &admin, &format!("?sender={one}")).await;
    assert_eq!(ids_of(&by_sender), vec![newer.clone(), older.clone()]);
    let (_, queued) = list_ingests_as(&app, &admin, &format!("?sender={one}&status=queued")).await;
    assert_eq!(ids_of(&queued), Vec::<String>::new());
    let (bad, _) = list_ingests_as(&app, &admin, "?status=lost").await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_feed_item_is_found_in_the_catalog_by_its_sku() {
    let app = spawn_feed_app().await;
    let sku = unique("find-me");
    let accepted = json_of(
        app.post_feed(json!([{"id": sku, "name": "Found"}]).to_string())
            .await,
    )
    .await
    .1;
    app.wait_for_ingest(accepted["id"].as_str().expect("id"))
        .await;

    let (status, found) = json_of(app.get(&format!("/products?sku={sku}")).await).await;
    let (_, missing) = json_of(app.get("/products?sku=nobody-has-this").await).await;
    let (bad, _) = json_of(app.get("/products?sku=not%20a%20sku").await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(
        (found[0]["sku"].as_str(), found[0]["name"].as_str()),
        (Some(sku.as_str()), Some("Found"))
    );
    assert_eq!(missing, json!([]));
    assert_eq!(bad, StatusCode::BAD_REQUEST);
}
