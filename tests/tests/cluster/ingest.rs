//! Feed ingestion across replicas: the Redis window shared by separate
//! `api` processes behind nginx, Redis outages and stalls, a 2 GiB body
//! streamed in bounded memory, a replica killed in the middle of applying
//! a feed (and one gone for good, its feed finished by another sharing its
//! spool), text PostgreSQL refuses, and a resumable upload continued on
//! another replica.
//!
//! Length: one file per feature's system tests (one integration binary, a
//! module per feature); each test stands alone, arranged, acted and asserted,
//! so they are long rather than clever.

use std::time::{Duration, Instant};

use catalog_entities::product;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use tests::ingest::{feed_of, padded_feed, record_job_past_the_edge, wait_for_ingest};
use tests::replicas::Replicas;
use tests::servers::RedisServer;
use tests::{json_of, spawn_app_with};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn post_feed(
    client: &reqwest::Client,
    base: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(format!("{base}/v1/products"))
        .body(body)
        .send()
        .await
        .expect("request sent")
}

async fn products_with_sku_prefix(database_url: &str, prefix: &str) -> u64 {
    let db = Database::connect(database_url).await.expect("connect");
    product::Entity::find()
        .filter(product::Column::Sku.starts_with(prefix))
        .count(&db)
        .await
        .expect("count products")
}

/// Asks `base` about ingest `id` until a first batch of it is committed
/// (or it has ended), and returns the job as it was then.
/// Sends a feed of `items` products to the cluster's first replica and
/// returns the id it was accepted under.
async fn accepted_by_first_replica(cluster: &Replicas, prefix: &str, items: usize) -> String {
    let body = feed_of(prefix, items);
    let response = post_feed(&cluster.client, &cluster.replicas[0].address, body).await;
    let (status, accepted) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    accepted["id"].as_str().expect("id").to_owned()
}

async fn wait_until_under_way(client: &reqwest::Client, base: &str, id: &str) -> serde_json::Value {
    let url = format!("{base}/v1/products/ingests/{id}");
    let started = Instant::now();
    loop {
        let job: serde_json::Value = client
            .get(&url)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        if job["processed"].as_u64().unwrap_or(0) > 0
            || job["status"] == "done"
            || job["status"] == "failed"
        {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never under way: {job}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_body_accepted_by_one_replica_is_refused_by_another_directly_and_through_nginx() {
    tests::require_cluster!();
    let cluster = Replicas::start(2).await;
    let [a, b] = [&cluster.replicas[0].address, &cluster.replicas[1].address];
    let client = &cluster.client;
    let direct = feed_of(&unique("direct"), 2);
    let balanced = feed_of(&unique("balanced"), 2);

    let on_a = post_feed(client, a, direct.clone()).await.status();
    let on_b = post_feed(client, b, direct).await;
    // nginx takes turns: of two posts through it, each replica gets one.
    let first = post_feed(client, &cluster.balancer, balanced.clone())
        .await
        .status();
    let second = post_feed(client, &cluster.balancer, balanced).await;

    assert_eq!(on_a, StatusCode::OK);
    assert_eq!(on_b.status(), StatusCode::FORBIDDEN);
    assert!(on_b.headers().contains_key("retry-after"));
    assert_eq!(first, StatusCode::OK);
    assert_eq!(second.status(), StatusCode::FORBIDDEN);
    let (_, error) = json_of(second).await;
    assert_eq!(error["code"], "DUPLICATE");
}

#[tokio::test]
async fn twenty_identical_bodies_at_once_across_three_replicas_get_exactly_one_200() {
    tests::require_cluster!();
    let cluster = Replicas::start(3).await;
    let body = feed_of(&unique("race"), 50);
    let targets: Vec<&str> = (0..20)
        .map(|i| match i % 4 {
            3 => cluster.balancer.as_str(),
            replica => cluster.replicas[replica].address.as_str(),
        })
        .collect();

    let posts = targets
        .iter()
        .map(|base| post_feed(&cluster.client, base, body.clone()));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(posts)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();

    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!((accepted, refused), (1, 19), "{statuses:?}");
}

/// Redis keeps the time here, so the window is a real second long.
#[tokio::test]
async fn on_redis_the_window_frees_up_when_it_ends_and_refusals_do_not_extend_it() {
    tests::require_cluster!();
    let app = spawn_app_with(&[
        ("INGEST_ALLOW_ANONYMOUS", "true"),
        ("DEDUPE_WINDOW_SECS", "1"),
    ])
    .await;
    let body = feed_of(&unique("edge"), 1);

    let sent_at = Instant::now();
    assert_eq!(app.post_feed(body.clone()).await.status(), StatusCode::OK);
    let mut refusals = 0;
    let accepted_after = loop {
        let response = app.post_feed(body.clone()).await;
        match response.status() {
            StatusCode::OK => break sent_at.elapsed(),
            StatusCode::FORBIDDEN => {
                assert_eq!(response.headers()["retry-after"], "1");
                refusals += 1;
            }
            other => panic!("unexpected {other}"),
        }
        assert!(
            sent_at.elapsed() < Duration::from_secs(5),
            "the window never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert!(refusals > 0);
    assert!(
        accepted_after >= Duration::from_secs(1),
        "{accepted_after:?}"
    );
}

#[tokio::test]
async fn while_redis_is_down_feeds_get_503_and_are_accepted_once_it_returns() {
    tests::require_cluster!();
    let mut redis = RedisServer::start().await;
    let app = spawn_app_with(&[
        ("INGEST_ALLOW_ANONYMOUS", "true"),
        ("REDIS_URL", redis.url().as_ref()),
    ])
    .await;
    assert_eq!(
        app.post_feed(feed_of(&unique("before"), 1)).await.status(),
        StatusCode::OK
    );
    let body = feed_of(&unique("during"), 1);

    redis.stop().await;
    let (during, error) = json_of(app.post_feed(body.clone()).await).await;
    redis.restart().await;
    let started = Instant::now();
    let after = loop {
        let status = app.post_feed(body.clone()).await.status();
        if status != StatusCode::SERVICE_UNAVAILABLE || started.elapsed() > Duration::from_secs(10)
        {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(during, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert_eq!(error["code"], "UNAVAILABLE");
    assert_eq!(after, StatusCode::OK, "the refused body was never claimed");
}

#[tokio::test]
async fn a_2_gib_feed_streams_through_nginx_in_bounded_memory_and_reaches_the_catalog() {
    tests::require_cluster!();
    const GIB: u64 = 1024 * 1024 * 1024;
    let cluster = Replicas::start(1).await;
    let prefix = unique("huge");
    let items = 2_048;
    let (stream, length) = padded_feed(&prefix, items, 2 * GIB);

    let response = cluster
        .client
        .post(format!("{}/v1/products", cluster.balancer))
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request sent");
    let (status, accepted) = json_of(response).await;
    let peak_rss_mib = cluster.replicas[0].peak_rss_kib() / 1024;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["items"], items);
    let job = wait_for_ingest(
        &cluster.client,
        &cluster.balancer,
        accepted["id"].as_str().expect("id"),
    )
    .await;

    assert!(length >= 2 * GIB - 1024 * 1024, "{length}");
    assert!(peak_rss_mib < 100, "peak RSS {peak_rss_mib} MiB");
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["created"], items);
    assert_eq!(
        products_with_sku_prefix(&cluster.vars["DATABASE_URL"], &prefix).await,
        items
    );
}

#[tokio::test]
async fn a_replica_killed_mid_feed_resumes_it_on_restart_and_applies_every_item_once() {
    tests::require_cluster!();
    let mut cluster = Replicas::start(1).await;
    let prefix = unique("resume");
    let items = 200_000;
    let id = accepted_by_first_replica(&cluster, &prefix, items).await;

    // Kill it once a first batch is committed.
    let under_way = wait_until_under_way(&cluster.client, &cluster.replicas[0].address, &id).await;
    assert_ne!(
        under_way["status"], "done",
        "the feed was applied before it could be interrupted"
    );
    cluster.replicas[0].kill().await;
    let applied_when_killed =
        products_with_sku_prefix(&cluster.vars["DATABASE_URL"], &prefix).await;
    cluster.restart(0).await;
    let job = wait_for_ingest(&cluster.client, &cluster.replicas[0].address, &id).await;

    assert!(
        applied_when_killed > 0 && applied_when_killed < items as u64,
        "killed after {applied_when_killed} items"
    );
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["processed"], items);
    assert_eq!(job["created"], items, "{job}");
    assert_eq!(job["updated"], 0, "a batch was applied twice: {job}");
    assert_eq!(
        products_with_sku_prefix(&cluster.vars["DATABASE_URL"], &prefix).await,
        items as u64
    );
    let spooled = std::fs::read_dir(&cluster.replicas[0].spool_dir)
        .expect("the spool dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(
        spooled, 0,
        "the spool file is deleted once the feed is applied"
    );
}

#[tokio::test]
async fn a_redis_stall_during_a_claim_never_locks_the_resend_out() {
    tests::require_cluster!();
    let redis = RedisServer::start().await;
    let app = spawn_app_with(&[
        ("INGEST_ALLOW_ANONYMOUS", "true"),
        ("REDIS_URL", redis.url().as_ref()),
    ])
    .await;
    let prefix = unique("stall");
    let body = feed_of(&prefix, 2);
    // A script that keeps Redis busy for 2 s: every other command waits.
    let stalling = {
        let url = redis.url();
        tokio::spawn(async move {
            let client = redis::Client::open(url.as_str()).expect("a client");
            let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .expect("connect");
            let busy = "local t = redis.call('TIME') \
                        local start = t[1] * 1000000 + t[2] \
                        repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 2000000 \
                        return 1";
            let _: i64 = redis::cmd("EVAL")
                .arg(busy)
                .arg(0)
                .query_async(&mut connection)
                .await
                .expect("the stall");
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (during, during_answer) = json_of(app.post_feed(body.clone()).await).await;
    stalling.await.expect("the stall ended");
    let started = Instant::now();
    let (resent, answer) = loop {
        let (status, answer) = json_of(app.post_feed(body.clone()).await).await;
        if status != StatusCode::SERVICE_UNAVAILABLE || started.elapsed() > Duration::from_secs(30)
        {
            break (status, answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert!(
        [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&during),
        "{during}: {during_answer}"
    );
    let accepted = match resent {
        StatusCode::OK => answer["id"].as_str().expect("id").to_owned(),
        StatusCode::FORBIDDEN => answer["ingest_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a 403 names the ingest: {answer}"))
            .to_owned(),
        other => panic!("the resend got {other}: {answer}"),
    };
    let job = wait_for_ingest(&app.client, &app.address, &accepted).await;
    assert_eq!(job["status"], "done", "the named ingest exists: {job}");
    if during == StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(
            resent,
            StatusCode::OK,
            "the 503 attempt holds nothing: {answer}"
        );
    }
}

#[tokio::test]
async fn a_spooled_feed_of_a_replica_gone_for_good_is_applied_by_another_sharing_its_spool() {
    tests::require_cluster!();
    let mut cluster = Replicas::start_sharing_spool(2).await;
    let prefix = unique("shared");
    let items = 200_000;
    let id = accepted_by_first_replica(&cluster, &prefix, items).await;

    // Replica A goes for good once the feed is under way.
    wait_until_under_way(&cluster.client, &cluster.replicas[1].address, &id).await;
    cluster.replicas[0].kill().await;
    let job = wait_for_ingest(&cluster.client, &cluster.replicas[1].address, &id).await;

    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["created"], items, "{job}");
    assert_eq!(job["updated"], 0, "a batch was applied twice: {job}");
    assert_eq!(
        products_with_sku_prefix(&cluster.vars["DATABASE_URL"], &prefix).await,
        items as u64
    );
}

#[tokio::test]
async fn a_nul_that_reached_the_applier_fails_its_feed_alone_and_the_feeds_after_it_are_applied() {
    tests::require_cluster!();
    let app = spawn_app_with(&[("INGEST_ALLOW_ANONYMOUS", "true")]).await;
    let prefix = unique("nul");
    // Past the edge check: straight into the job table, as an older
    // version's accepted feed would be.
    let body = format!(
        r#"[{{"id": "{prefix}-0", "name": "fine"}}, {{"id": "{prefix}-1", "name": "nul\u0000"}}]"#
    )
    .into_bytes();
    let id = uuid::Uuid::now_v7();
    record_job_past_the_edge(&app.state.db, id, body, 2, app.state.clock.now(), 0).await;
    let after = unique("after");
    let (status, answer) = json_of(app.post_feed(feed_of(&after, 3)).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let poisoned = wait_for_ingest(&app.client, &app.address, &id.to_string()).await;
    let next = wait_for_ingest(
        &app.client,
        &app.address,
        answer["id"].as_str().expect("id"),
    )
    .await;

    // PostgreSQL refuses NUL in text, and would forever: the applier's
    // own reading of the body already stops at it.
    assert_eq!(poisoned["status"], "failed", "{poisoned}");
    assert!(
        poisoned["problem"]
            .as_str()
            .is_some_and(|problem| problem.contains("escaped control character")),
        "{poisoned}"
    );
    assert_eq!(next["status"], "done", "{next}");
    let applied = product::Entity::find()
        .filter(product::Column::Sku.starts_with(&prefix))
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(applied, 0, "a failed feed writes nothing");
}

/// The `Upload-Offset` a `HEAD` of the upload at `url` answers.
async fn upload_offset(client: &reqwest::Client, url: &str) -> usize {
    let head = tus(client, reqwest::Method::HEAD, url)
        .send()
        .await
        .expect("sent");
    head.headers()["upload-offset"]
        .to_str()
        .expect("an offset")
        .parse()
        .expect("a number")
}

/// A tus request with `Tus-Resumable`.
fn tus(client: &reqwest::Client, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
    client.request(method, url).header("tus-resumable", "1.0.0")
}

#[tokio::test]
async fn a_resumable_upload_continues_on_another_replica_sharing_the_spool_one_writer_at_a_time() {
    tests::require_cluster!();
    let cluster = Replicas::start_sharing_spool(2).await;
    let (a, b) = (&cluster.replicas[0].address, &cluster.replicas[1].address);
    let prefix = unique("tus-shared");
    let body = feed_of(&prefix, 5_000).into_bytes();
    let half = body.len() / 2;
    let created = tus(
        &cluster.client,
        reqwest::Method::POST,
        &format!("{a}/v1/uploads"),
    )
    .header("upload-length", body.len().to_string())
    .send()
    .await
    .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let path = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let patch = |base: &str, offset: usize| {
        tus(
            &cluster.client,
            reqwest::Method::PATCH,
            &format!("{base}{path}"),
        )
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
    };
    let first = patch(a, 0)
        .body(body[..half].to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(first.status(), StatusCode::NO_CONTENT);

    // A PATCH on A whose body stalls holds the upload: B must wait its turn.
    let stall = || {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        let trickle = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let sent = tokio::spawn(
            patch(a, half)
                .body(reqwest::Body::wrap_stream(trickle))
                .send(),
        );
        (tx, sent)
    };
    let (mut tx, mut stalled) = stall();
    tx.send(Ok(body[half..half + 10].to_vec()))
        .await
        .expect("send a little");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // B names the offset A's PATCH will reach, so B can never write
        // here: 409 until A's PATCH holds the upload, then 423.
        let tried = patch(b, half + 10)
            .body(body[half + 10..].to_vec())
            .send()
            .await
            .expect("sent");
        if tried.status() == StatusCode::LOCKED {
            break;
        }
        assert_eq!(tried.status(), StatusCode::CONFLICT);
        if stalled.is_finished() {
            // A's PATCH came while B's held the upload for its 409: A got
            // the 423. It goes again.
            let lost = stalled.await.expect("joined").expect("sent");
            assert_eq!(lost.status(), StatusCode::LOCKED);
            (tx, stalled) = stall();
            tx.send(Ok(body[half..half + 10].to_vec()))
                .await
                .expect("send a little");
        }
        assert!(Instant::now() < deadline, "A's PATCH never held the upload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A's body ends after its 10 bytes: they are committed, and B goes on.
    drop(tx);
    let ended = stalled.await.expect("joined").expect("sent");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);

    let url = format!("{b}{path}");
    assert_eq!(upload_offset(&cluster.client, &url).await, half + 10);
    let offset = half + 10;
    let last = patch(b, offset)
        .body(body[offset..].to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    let ingest = last.headers()["mercato-ingest-id"]
        .to_str()
        .expect("ingest")
        .to_owned();
    let job = wait_for_ingest(&cluster.client, b, &ingest).await;
    assert_eq!(
        (job["status"].as_str(), job["created"].as_u64()),
        (Some("done"), Some(5_000)),
        "{job}"
    );
    assert_eq!(job["hash"], feed::BodyHash::of(&body).to_string());
}
