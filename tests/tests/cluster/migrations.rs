//! The `migrations` CLI on PostgreSQL, as a cluster deployment runs it.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tests::backend::cluster;
use tests::process::{command, wait_for_exit};

/// Runs `migrations <args>` with `vars` and checks it exits 0.
async fn run_migrations(vars: &[(&str, &str)], args: &[&str]) {
    let mut cli = command("migrations", vars)
        .args(args)
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
}

/// The public tables of `db`, sorted.
async fn tables(db: &DatabaseConnection) -> Vec<String> {
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    ))
    .await
    .expect("list tables")
    .iter()
    .map(|row| row.try_get::<String>("", "tablename").expect("a name"))
    .collect()
}

#[tokio::test]
async fn migrations_up_prepares_an_empty_postgres_database_for_every_service() {
    tests::require_cluster!();
    let url = cluster().fresh_database().await;

    run_migrations(&[("DATABASE_URL", url.as_str())], &["up"]).await;

    let db = Database::connect(url.as_str()).await.expect("connect");
    let tables = tables(&db).await;
    for table in [
        "listings",
        "seaql_migrations",
        "seaql_migrations_listings",
        "seaql_migrations_users",
        "users",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
}

#[tokio::test]
async fn a_listing_service_database_gets_only_the_listing_services_tables() {
    tests::require_cluster!();
    let url = cluster().fresh_database().await;

    let vars = [("DATABASE_URL", url.as_str()), ("SERVICES", "listings")];
    run_migrations(&vars, &[]).await;

    let db = Database::connect(url.as_str()).await.expect("connect");
    assert_eq!(tables(&db).await, ["listings", "seaql_migrations_listings"]);
}

#[tokio::test]
async fn migrations_down_then_up_again_restores_the_tables() {
    tests::require_cluster!();
    let url = cluster().fresh_database().await;
    let vars = [("DATABASE_URL", url.as_str()), ("SERVICES", "users")];
    run_migrations(&vars, &["up"]).await;

    run_migrations(&vars, &["down"]).await;
    let db = Database::connect(url.as_str()).await.expect("connect");
    assert_eq!(tables(&db).await, ["seaql_migrations_users"]);

    run_migrations(&vars, &["up"]).await;
    assert_eq!(tables(&db).await, ["seaql_migrations_users", "users"]);
}
