//! Feeds under faults (SPEC section 10, "Atomic acceptance", "Poison",
//! "Disk", "Memory"), on this run's backends: a sender that leaves right
//! after its last byte, data the database refuses, a full spool disk,
//! items as fat as the catalog allows and fatter.
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use std::time::Duration;

use axum::body::Bytes;
use futures_util::stream;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;
use tests::ingest::{feed_of, products_with_sku_prefix, record_job_past_the_edge, wait_for_ingest};
use tests::replicas::start_api;
use tests::{TestApp, json_of, spawn_app_with};
use tokio::io::AsyncWriteExt;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn spawn_feed_app(extra: &[(&str, &str)]) -> TestApp {
    let vars: Vec<(&str, &str)> = [("INGEST_ALLOW_ANONYMOUS", "true")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    spawn_app_with(&vars).await
}

/// Sends a whole `POST /v1/products` and closes the connection `linger`
/// later, without reading the answer.
async fn send_and_leave(address: &str, body: &[u8], linger: Duration) {
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/products HTTP/1.1\r\nHost: mercato\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body).await.expect("send body");
    tokio::time::sleep(linger).await;
    drop(stream);
}

#[tokio::test]
async fn feeds_whose_sender_leaves_right_after_the_last_byte_are_never_lost_nor_locked_out() {
    let app = spawn_feed_app(&[]).await;
    let mut outcomes = Vec::new();
    for i in 0..30u64 {
        // Every other feed is spooled (over 64 KiB).
        let items = if i % 2 == 0 { 3 } else { 1_500 };
        let prefix = unique(&format!("leave{i}"));
        let body = feed_of(&prefix, items);
        send_and_leave(&app.address, body.as_bytes(), Duration::from_millis(i % 5)).await;

        let (status, answer) = json_of(app.post_feed(body).await).await;
        let id = match status {
            StatusCode::OK => answer["id"].as_str().expect("id").to_owned(),
            StatusCode::FORBIDDEN => {
                assert_eq!(answer["code"], "DUPLICATE", "{answer}");
                answer["ingest_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a 403 names the ingest: {answer}"))
                    .to_owned()
            }
            other => panic!("the resend of feed {i} got {other}: {answer}"),
        };
        outcomes.push((i, status, id, prefix, items));
    }

    for (i, status, id, prefix, items) in outcomes {
        let job = wait_for_ingest(&app.client, &app.address, &id).await;
        assert_eq!(job["status"], "done", "feed {i} ({status}): {job}");
        assert_eq!(
            products_with_sku_prefix(&app.state.db, &prefix).await,
            items as u64,
            "feed {i}"
        );
    }
}

/// How a trigger makes a statement fail.
#[derive(Clone, Copy)]
enum Failure {
    /// A constraint violation: the data is refused, and would be again.
    Refused,
    /// An error that may pass (PostgreSQL's `lock_not_available`; on
    /// SQLite a plain error, from a malformed JSON literal).
    Transient,
}

/// Makes any `event` (`INSERT` or `UPDATE`) on `table` whose rows meet
/// `condition` (SQL that reads the same on SQLite and PostgreSQL) fail as
/// `failure` says, through a trigger called `name`: a constraint, or a
/// fault, that the catalog's own checks know nothing of.
async fn fail_in_the_database(
    app: &TestApp,
    name: &str,
    event: &str,
    table: &str,
    condition: &str,
    failure: Failure,
) {
    let statements = match app.state.db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            let fail = match failure {
                Failure::Refused => format!("SELECT RAISE(ABORT, '{name}')"),
                Failure::Transient => "SELECT json('{')".to_owned(),
            };
            vec![format!(
                "CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition} \
                 BEGIN {fail}; END"
            )]
        }
        _ => {
            let code = match failure {
                Failure::Refused => "check_violation",
                Failure::Transient => "lock_not_available",
            };
            vec![
                format!(
                    "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
                     IF {condition} THEN \
                     RAISE EXCEPTION '{name}' USING ERRCODE = '{code}'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql"
                ),
                format!(
                    "CREATE TRIGGER {name} BEFORE {event} ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION {name}()"
                ),
            ]
        }
    };
    for statement in statements {
        app.state
            .db
            .execute_unprepared(&statement)
            .await
            .expect("install the trigger");
    }
}

/// Removes the trigger `name` on `table`.
async fn stop_failing(app: &TestApp, name: &str, table: &str) {
    let statement = match app.state.db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => format!("DROP TRIGGER {name}"),
        _ => format!("DROP TRIGGER {name} ON {table}"),
    };
    app.state
        .db
        .execute_unprepared(&statement)
        .await
        .expect("drop the trigger");
}

#[tokio::test]
async fn items_the_database_refuses_are_skipped_alone_and_the_feeds_after_them_are_applied() {
    let app = spawn_feed_app(&[]).await;
    let poison = unique("poison");
    let condition = format!("NEW.sku = '{poison}'");
    fail_in_the_database(
        &app,
        "refuse_poison",
        "INSERT",
        "products",
        &condition,
        Failure::Refused,
    )
    .await;
    let small = unique("small");
    let large = unique("large");
    let after = unique("after");
    let small_feed = json!([
        {"id": format!("{small}-0"), "name": "Before"},
        {"id": poison, "name": "Poison"},
        {"id": format!("{small}-1"), "name": "After"},
    ])
    .to_string();
    // A spooled feed with the same poison in the middle of a batch.
    let mut items: Vec<serde_json::Value> = (0..1_500)
        .map(|i| json!({"id": format!("{large}-{i}"), "name": format!("Item {i}")}))
        .collect();
    items[700] = json!({"id": poison, "name": "Poison again"});
    let large_feed = serde_json::Value::Array(items).to_string();
    assert!(large_feed.len() > api::ingest::receive::INLINE_MAX);

    let mut ids = Vec::new();
    for body in [small_feed, large_feed, feed_of(&after, 5)] {
        let (status, answer) = json_of(app.post_feed(body).await).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        ids.push(answer["id"].as_str().expect("id").to_owned());
    }
    let mut jobs = Vec::new();
    for id in &ids {
        jobs.push(wait_for_ingest(&app.client, &app.address, id).await);
    }

    assert_eq!(jobs[0]["status"], "done", "{}", jobs[0]);
    assert_eq!(jobs[0]["skipped"], 1, "{}", jobs[0]);
    assert_eq!(jobs[0]["created"], 2, "{}", jobs[0]);
    assert_eq!(
        jobs[0]["problem"], "items[1]: the database refused it",
        "{}",
        jobs[0]
    );
    assert_eq!(jobs[1]["status"], "done", "{}", jobs[1]);
    assert_eq!(
        (
            &jobs[1]["skipped"],
            &jobs[1]["created"],
            &jobs[1]["processed"]
        ),
        (&json!(1), &json!(1_499), &json!(1_500)),
        "{}",
        jobs[1]
    );
    assert_eq!(jobs[1]["problem"], "items[700]: the database refused it");
    assert_eq!(jobs[2]["status"], "done", "{}", jobs[2]);
    assert_eq!(products_with_sku_prefix(&app.state.db, &small).await, 2);
    assert_eq!(products_with_sku_prefix(&app.state.db, &large).await, 1_499);
    assert_eq!(products_with_sku_prefix(&app.state.db, &after).await, 5);
    assert_eq!(products_with_sku_prefix(&app.state.db, &poison).await, 0);
}

#[tokio::test]
async fn a_job_whose_own_row_the_database_refuses_fails_alone_and_gives_its_window_back() {
    let app = spawn_feed_app(&[]).await;
    let prefix = unique("refused");
    let body = feed_of(&prefix, 2).into_bytes();
    let hash = feed::BodyHash::of(&body);
    // The counts of this job may not move.
    let condition = format!("NEW.hash = '{hash}' AND NEW.processed <> OLD.processed");
    fail_in_the_database(
        &app,
        "refuse_job",
        "UPDATE",
        "ingest_jobs",
        &condition,
        Failure::Refused,
    )
    .await;
    // Recorded past the edge, as an accepted feed is: claim, then job.
    let id = uuid::Uuid::now_v7();
    let window = app.state.settings.ingest.dedupe_window;
    app.state
        .dedupe
        .claim(&hash, id, window)
        .await
        .expect("claim");
    record_job_past_the_edge(&app.state.db, id, body.clone(), 2, app.state.clock.now(), 0).await;
    let after = unique("after");
    let (status, answer) = json_of(app.post_feed(feed_of(&after, 3)).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let failed = wait_for_ingest(&app.client, &app.address, &id.to_string()).await;
    let next = wait_for_ingest(
        &app.client,
        &app.address,
        answer["id"].as_str().expect("id"),
    )
    .await;
    let (resent, resent_answer) = json_of(app.post_feed(body).await).await;

    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["problem"], "the database refused the feed's data");
    assert_eq!(next["status"], "done", "{next}");
    assert_eq!(products_with_sku_prefix(&app.state.db, &after).await, 3);
    assert_eq!(
        resent,
        StatusCode::OK,
        "a failed feed holds no window: {resent_answer}"
    );
}

#[tokio::test]
async fn a_job_failing_for_a_reason_that_may_pass_is_retried_with_backoff_then_fails_for_good() {
    let app = spawn_feed_app(&[]).await;
    let retried = feed_of(&unique("retried"), 2).into_bytes();
    let exhausted = feed_of(&unique("exhausted"), 2).into_bytes();
    for (name, body) in [("stall_retried", &retried), ("stall_exhausted", &exhausted)] {
        // The job's counts cannot move, for now.
        let hash = feed::BodyHash::of(body);
        let condition = format!("NEW.hash = '{hash}' AND NEW.processed <> OLD.processed");
        fail_in_the_database(
            &app,
            name,
            "UPDATE",
            "ingest_jobs",
            &condition,
            Failure::Transient,
        )
        .await;
    }
    let (retried_id, exhausted_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = app.state.clock.now();
    let last_attempt = api::ingest::apply::MAX_ATTEMPTS - 1;
    record_job_past_the_edge(&app.state.db, exhausted_id, exhausted, 2, now, last_attempt).await;
    record_job_past_the_edge(&app.state.db, retried_id, retried, 2, now, 0).await;

    let failed = wait_for_ingest(&app.client, &app.address, &exhausted_id.to_string()).await;
    let started = std::time::Instant::now();
    let waiting = loop {
        let job = api::ingest::entity::Entity::find_by_id(retried_id)
            .one(&app.state.db)
            .await
            .expect("read the job")
            .expect("the job");
        if job.attempts > 0 {
            break job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never retried: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop_failing(&app, "stall_retried", "ingest_jobs").await;
    let done = wait_for_ingest(&app.client, &app.address, &retried_id.to_string()).await;

    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["problem"],
        format!(
            "applying the feed failed {} times (a database error)",
            api::ingest::apply::MAX_ATTEMPTS
        )
    );
    assert_eq!(
        waiting.status,
        api::ingest::jobs::Status::Processing,
        "put back, not failed: {waiting:?}"
    );
    assert!(
        waiting.lease_until.is_some_and(|at| at > now),
        "claimable again only after a wait: {waiting:?}"
    );
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["created"], 2, "{done}");
}

#[tokio::test]
async fn a_spooled_feed_that_would_leave_too_little_disk_free_is_507_and_leaves_nothing() {
    let app = spawn_feed_app(&[("INGEST_SPOOL_MIN_FREE_BYTES", "1000000000000000000")]).await;
    let body = feed_of(&unique("disk"), 1_500);
    assert!(body.len() > api::ingest::receive::INLINE_MAX);

    let declared = app.post_feed(body.clone()).await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .as_bytes()
        .chunks(16 * 1024)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    let streamed = app
        .post_feed(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .await;
    let (declared_status, declared_body) = json_of(declared).await;
    let (streamed_status, streamed_body) = json_of(streamed).await;
    let (small_status, small_body) =
        json_of(app.post_feed(feed_of(&unique("small"), 2)).await).await;

    assert_eq!(
        declared_status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{declared_body}"
    );
    assert_eq!(declared_body["code"], "INSUFFICIENT_STORAGE");
    assert_eq!(
        streamed_status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{streamed_body}"
    );
    assert_eq!(
        small_status,
        StatusCode::OK,
        "a small feed needs no disk: {small_body}"
    );
    let left: Vec<_> = std::fs::read_dir(app.state.ingestion.spool.dir())
        .expect("the spool dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains(".json"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// A feed of `fat` items whose descriptions are `fat_bytes` long (far over
/// the catalog's bound) and `full` items whose descriptions are exactly as
/// long as the catalog allows, streamed in pieces.
fn fat_feed(
    prefix: &str,
    fat: usize,
    fat_bytes: usize,
    full: usize,
) -> (
    impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    u64,
) {
    let max = api::catalog::Description::MAX_CHARS;
    let items: Vec<(String, usize)> = (0..fat)
        .map(|i| (format!("{prefix}-fat-{i}"), fat_bytes))
        .chain((0..full).map(|i| (format!("{prefix}-full-{i}"), max)))
        .collect();
    let count = items.len();
    let pieces: Vec<Bytes> = items
        .into_iter()
        .enumerate()
        .flat_map(|(i, (sku, length))| {
            let open = if i == 0 { "[" } else { "," };
            let close = if i + 1 == count { "\"}]" } else { "\"}" };
            [
                Bytes::from(format!(r#"{open}{{"id": "{sku}", "description": ""#)),
                Bytes::from(vec![b'd'; length]),
                Bytes::from_static(close.as_bytes()),
            ]
        })
        .collect();
    let length = pieces.iter().map(|piece| piece.len() as u64).sum();
    (stream::iter(pieces.into_iter().map(Ok)), length)
}

#[tokio::test]
async fn applying_items_as_fat_as_the_catalog_allows_and_fatter_holds_under_150_mib() {
    let mut api = start_api(&[("INGEST_ALLOW_ANONYMOUS", "true")]).await;
    let prefix = unique("fat");
    let (fat, full) = (1_500, 2_000);
    let (body, length) = fat_feed(&prefix, fat, 190 * 1024, full);
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{}/v1/products", api.address))
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("sent");
    let (status, accepted) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let job = wait_for_ingest(&client, &api.address, accepted["id"].as_str().expect("id")).await;
    let peak_mib = api.peak_rss_kib() / 1024;
    api.terminate(Duration::from_secs(30)).await;

    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["skipped"], fat, "{job}");
    assert_eq!(job["created"], full, "{job}");
    assert!(
        job["problem"]
            .as_str()
            .is_some_and(|problem| problem.contains("description is too long")),
        "{job}"
    );
    assert!(peak_mib < 150, "peak RSS {peak_mib} MiB while applying");
}

#[tokio::test]
async fn the_spool_sweep_deletes_abandoned_files_and_never_an_upload_in_flight_or_a_pending_body() {
    let app = spawn_feed_app(&[]).await;
    let spool = &app.state.ingestion.spool;
    let idle = std::time::SystemTime::now() - Duration::from_secs(11 * 60);
    let (arriving, cut_off, abandoned, pending) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    // A pending job whose body is spooled: its row names the spool.
    let body = feed_of(&unique("pending"), 1).into_bytes();
    record_job_past_the_edge(
        &app.state.db,
        pending,
        body.clone(),
        1,
        platform::Timestamp::default(),
        0,
    )
    .await;
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE ingest_jobs SET body = NULL, spool = '{}', lease_until = {} WHERE hash = '{}'",
            spool.id(),
            i64::MAX,
            feed::BodyHash::of(&body)
        ))
        .await
        .expect("move the body to the spool");
    // A resumable upload idle for a while (it has a row), and an upload's
    // file whose row a crash kept from being inserted.
    let resting = api::ingest::uploads::create(&app.state, None, 100, None)
        .await
        .expect("an upload");
    let rowless = uuid::Uuid::now_v7();
    let files = [
        (spool.receiving_path_of(arriving), None),
        (spool.receiving_path_of(cut_off), Some(idle)),
        (spool.path_of(abandoned), Some(idle)),
        (spool.path_of(pending), Some(idle)),
        (spool.upload_path_of(resting.id), Some(idle)),
        (spool.upload_path_of(rowless), Some(idle)),
    ];
    for (path, modified) in &files {
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .expect("create");
        if let Some(modified) = modified {
            file.set_modified(*modified).expect("age it");
        }
    }
    let applier = api::ingest::apply::Applier {
        clock: app.state.clock.clone(),
        ingestion: app.state.ingestion.clone(),
        dedupe: app.state.dedupe.clone(),
        metrics: app.state.ingestion.metrics.clone(),
        lease: app.state.settings.ingest.lease,
    };

    api::ingest::apply::sweep_orphans(&applier)
        .await
        .expect("sweep");

    let left: Vec<bool> = files.iter().map(|(path, _)| path.exists()).collect();
    assert_eq!(
        left,
        [true, false, false, true, true, false],
        "kept: the upload in flight, the pending body and the resting upload; deleted: the cut-off upload, the body no job names and the upload file no upload names"
    );
}
