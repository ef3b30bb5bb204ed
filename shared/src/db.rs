//! The SQL database: SQLite in embedded mode, PostgreSQL in a cluster.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::settings::{DatabaseKind, DatabaseUrl};

/// How many connections a SQLite pool holds.
const SQLITE_CONNECTIONS: u32 = 4;

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
        // A ping on every checkout doubles the cost of a query (a network
        // round trip on PostgreSQL, a worker-thread hand-off on SQLite);
        // only a connection idle long enough to have been dropped is
        // checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(5))
        .sqlx_logging(false);
    match url.kind() {
        DatabaseKind::Postgres => {
            options.max_connections(20);
        }
        DatabaseKind::Sqlite => {
            // sea-orm's default for SQLite is one connection, which
            // serialises every query of the process. In WAL mode readers
            // run beside the one writer, so a few connections let reads
            // proceed in parallel; writers still take turns (waiting up to
            // sqlx's 5 s busy timeout). `synchronous = NORMAL` is WAL's
            // usual pairing: a crash of the process loses nothing, a power
            // cut may lose the last commits. An in-memory database is
            // private to its connection, so it keeps exactly one.
            let connections = match url.sqlite_file() {
                Some(_) => SQLITE_CONNECTIONS,
                None => 1,
            };
            options
                .max_connections(connections)
                .map_sqlx_sqlite_opts(|sqlite| {
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                });
        }
    }
    Ok(Database::connect(options).await?)
}
