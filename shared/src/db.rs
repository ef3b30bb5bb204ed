//! The SQL database: SQLite in embedded mode, PostgreSQL in a cluster.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::settings::{DatabaseKind, DatabaseUrl};

/// Opens a connection pool. For a SQLite file, its directory is created
/// first, so `cargo run -p api` works from a fresh checkout.
pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<DatabaseConnection> {
    if let Some(parent) = url
        .sqlite_file()
        .as_deref()
        .and_then(std::path::Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            anyhow::anyhow!("creating the SQLite directory {}: {e}", parent.display())
        })?;
    }
    let mut options = ConnectOptions::new(url.as_str());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.kind() == DatabaseKind::Postgres {
        options.max_connections(20);
    }
    Ok(Database::connect(options).await?)
}
