//! The `migrations` CLI on PostgreSQL, as a cluster deployment runs it.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use tests::backend::cluster;
use tests::process::{command, wait_for_exit};

#[tokio::test]
async fn migrations_up_prepares_an_empty_postgres_database() {
    let url = cluster().fresh_database().await;

    let mut cli = command("migrations", &[("DATABASE_URL", url.as_str())])
        .arg("up")
        .spawn()
        .expect("start migrations");
    let status = wait_for_exit(&mut cli, Duration::from_secs(60)).await;

    let output = cli.wait_with_output().await.expect("output");
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let db = Database::connect(url.as_str()).await.expect("connect");
    let recorded = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM seaql_migrations",
        ))
        .await;
    assert!(recorded.is_ok(), "the migration table exists: {recorded:?}");
}
