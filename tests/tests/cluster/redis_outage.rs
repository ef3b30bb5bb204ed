//! The Redis dedupe window: exact expiry, and outages that are errors, never claims.

use std::time::{Duration, Instant};

use api::ingest::dedupe::{Claim, DedupeWindow, RedisWindow};
use reqwest::StatusCode;
use tests::backend::cluster;
use tests::ingest::{holder as id, unique_hash};
use tests::servers::RedisServer;
use tests::spawn_app_with;

#[tokio::test]
async fn a_redis_claim_frees_up_when_the_window_ends_and_rejections_do_not_extend_it() {
    tests::require_cluster!();
    let window = RedisWindow::new(&cluster().redis_url).expect("a valid URL");
    let hash = unique_hash();
    let length = Duration::from_millis(400);
    let claimed_at = Instant::now();
    assert_eq!(
        window.claim(&hash, id(1), length).await.expect("claim"),
        Claim::Claimed
    );

    // Keep asking: if rejections extended the window it would never free up.
    let mut rejections = 0;
    let freed_after = loop {
        match window.claim(&hash, id(1), length).await.expect("claim") {
            Claim::Claimed => break claimed_at.elapsed(),
            Claim::Duplicate { retry_after, .. } => {
                assert!(retry_after <= length, "{retry_after:?}");
                rejections += 1;
            }
        }
        assert!(
            claimed_at.elapsed() < Duration::from_secs(5),
            "the claim never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    assert!(rejections > 0);
    assert!(
        freed_after >= length,
        "freed after {freed_after:?}, before the window ended"
    );
}

#[tokio::test]
async fn a_stopped_redis_is_an_error_never_a_claim_and_claims_work_again_when_it_returns() {
    tests::require_cluster!();
    let mut redis = RedisServer::start().await;
    let window = RedisWindow::new(&redis.url()).expect("a valid URL");
    let length = Duration::from_secs(600);
    assert_eq!(
        window
            .claim(&unique_hash(), id(1), length)
            .await
            .expect("claim"),
        Claim::Claimed
    );

    redis.stop().await;
    let started = Instant::now();
    let during = window.claim(&unique_hash(), id(1), length).await;
    let answered_in = started.elapsed();
    redis.restart().await;
    let hash = unique_hash();
    let started = Instant::now();
    let after = loop {
        match window.claim(&hash, id(1), length).await {
            Ok(claim) => break claim,
            Err(e) if started.elapsed() > Duration::from_secs(10) => {
                panic!("Redis is back but: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };

    assert!(
        during.is_err(),
        "a claim while Redis is down must fail, got {during:?}"
    );
    assert!(
        answered_in < Duration::from_secs(3),
        "the failure took {answered_in:?}"
    );
    assert_eq!(after, Claim::Claimed);
}

#[tokio::test]
async fn readyz_stays_200_reporting_redis_down_in_its_body_and_metrics() {
    tests::require_cluster!();
    let mut redis = RedisServer::start().await;
    let app = spawn_app_with(&[("REDIS_URL", redis.url().as_ref())]).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    redis.stop().await;
    let response = app.get("/readyz").await;

    // Redis is shared by every replica: failing readiness on all of them
    // would turn "feeds answer 503" into "nothing answers".
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["dedupe_window"]["ok"], false);
    assert_eq!(body["checks"]["dedupe_window"]["backend"], "redis");
    assert_eq!(body["checks"]["database"]["ok"], true);
    let port = redis.url().port().expect("a port").to_string();
    assert!(
        !body.to_string().contains(&port),
        "the public /readyz names no address: {body}"
    );
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains(r#"backend_up{backend="dedupe_window"} 0"#)
            && metrics.contains(r#"backend_up{backend="database"} 1"#),
        "{metrics}"
    );
}
