//! The SQL database: SQLite in embedded mode, PostgreSQL in a cluster.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel,
};
use tokio::sync::{mpsc, oneshot};

use crate::settings::{DatabaseKind, DatabaseUrl};

/// How many connections a SQLite pool holds.
const SQLITE_CONNECTIONS: u32 = 4;

/// Bytes a SQLite write-ahead log is truncated to after a checkpoint.
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

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
    let connections = match url.kind() {
        DatabaseKind::Postgres => 20,
        // sea-orm's default for SQLite is one connection, which serialises
        // every query of the process. In WAL mode readers run beside the
        // one writer, so a few connections let reads proceed in parallel;
        // writers still take turns (see [`writer`]). An in-memory database
        // is private to its connection, so it keeps exactly one.
        DatabaseKind::Sqlite => match url.sqlite_file() {
            Some(_) => SQLITE_CONNECTIONS,
            None => 1,
        },
    };
    Ok(Database::connect(options(url, connections)).await?)
}

/// The pool that a process's busiest writers (the feed recorder and the
/// apply task) write through, beside `db` from [`connect`]: on a SQLite
/// file, a pool of its own with a single connection; anywhere else `db`
/// itself.
///
/// SQLite has one write lock per database. Writers on the shared pool
/// found it taken, and waited in SQLite's busy handler, which sleeps 1,
/// 2, 5, 10… ms between tries and so often wakes long after the lock is
/// free; and each commit made the other connections' page caches stale,
/// so the next writer read its pages again. Measured under a flood of
/// small feeds: about 180 such sleeps a second with a fifth of the CPU
/// idle. On one connection, writers queue in the pool and each starts the
/// moment the one before is done, on a warm cache. Other writers stay on
/// `db`, and are safe: only back on the busy handler when they meet these.
pub async fn writer(
    url: &DatabaseUrl,
    db: &DatabaseConnection,
) -> anyhow::Result<DatabaseConnection> {
    match (url.kind(), url.sqlite_file()) {
        (DatabaseKind::Sqlite, Some(_)) => Ok(Database::connect(options(url, 1)).await?),
        _ => Ok(db.clone()),
    }
}

fn options(url: &DatabaseUrl, connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.as_str());
    options
        .max_connections(connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // A ping on every checkout doubles the cost of a query (a network
        // round trip on PostgreSQL, a worker-thread hand-off on SQLite);
        // only a connection idle long enough to have been dropped is
        // checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.kind() == DatabaseKind::Sqlite {
        // `synchronous = NORMAL` is WAL's usual pairing: a crash of the
        // process loses nothing, a power cut may lose the last commits.
        options.map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // After a checkpoint, a WAL that grew under load is cut
                // back to this size rather than kept at its peak.
                .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
        });
    }
    options
}

/// Inserts one row and returns it as stored (generated id included), on
/// either database.
///
/// Use this rather than `ActiveModelTrait::insert`. On SQLite, that reads
/// the row back with a one-row `INSERT … RETURNING` that sqlx stops stepping
/// after the first row, and the statement left that way keeps SQLite from
/// ever checkpointing its write-ahead log: measured, the WAL grew by every
/// insert and the database file never did. Reading the whole `RETURNING`
/// result ends the statement properly.
pub async fn insert_returning<A, C>(
    db: &C,
    row: A,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    C: ConnectionTrait,
{
    A::Entity::insert(row)
        .exec_with_returning_many(db)
        .await?
        .pop()
        .ok_or(DbErr::RecordNotInserted)
}

/// The model a row of `A` becomes once stored.
type Stored<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// One row's insert, waiting for its batch.
type Queued<A> = (A, oneshot::Sender<Result<Stored<A>, DbErr>>);

/// Inserts rows that arrive together in one statement and one commit
/// (group commit), and gives each caller its own row back as stored.
///
/// One request inserting one row at a time pays a commit and a round trip
/// each; under load, the rows that queued while one insert ran go in the
/// next together, up to [`GroupInsert::MAX_ROWS`]. A row alone is inserted
/// at once, as [`insert_returning`] would. The rows a batch returns are
/// matched to their callers by their ids: both databases number the rows of
/// one multi-row `INSERT` in the order of its `VALUES`, so sorted by id
/// they are in the callers' order. If the batch fails (one row refused,
/// say), each row is tried alone, so a caller gets its own row's error and
/// the others are stored.
pub struct GroupInsert<A: ActiveModelTrait> {
    queue: mpsc::Sender<Queued<A>>,
}

impl<A> GroupInsert<A>
where
    A: ActiveModelTrait + Clone + Send + 'static,
    Stored<A>: IntoActiveModel<A> + Send,
{
    /// Rows per `INSERT`, well under SQLite's 32,766 bound parameters.
    pub const MAX_ROWS: usize = 256;

    /// Starts the inserting task on `db`; `id` reads a stored row's id. The
    /// task ends when the `GroupInsert` is dropped.
    pub fn start(db: DatabaseConnection, id: fn(&Stored<A>) -> i64) -> Self {
        Self::start_with(db, id, || {})
    }

    /// As [`GroupInsert::start`], and `written` runs after every write,
    /// whatever its outcome (a failed write may have committed), before
    /// the callers are answered. It runs in the inserting task, so it runs
    /// even for a caller that has stopped waiting.
    pub fn start_with(
        db: DatabaseConnection,
        id: fn(&Stored<A>) -> i64,
        written: impl Fn() + Send + 'static,
    ) -> Self {
        let (queue, mut inbox) = mpsc::channel::<Queued<A>>(4 * Self::MAX_ROWS);
        tokio::spawn(async move {
            // Whatever has queued, up to a batch, once there is something.
            let mut batch = Vec::with_capacity(Self::MAX_ROWS);
            while inbox.recv_many(&mut batch, Self::MAX_ROWS).await > 0 {
                let (rows, waiting): (Vec<A>, Vec<_>) = batch.drain(..).unzip();
                if rows.len() > 1 {
                    let stored = A::Entity::insert_many(rows.clone())
                        .exec_with_returning(&db)
                        .await;
                    written();
                    match stored {
                        Ok(mut stored) if stored.len() == waiting.len() => {
                            stored.sort_by_key(id);
                            for (row, caller) in stored.into_iter().zip(waiting) {
                                let _ = caller.send(Ok(row));
                            }
                            continue;
                        }
                        // Committed, but not row for row: trying again
                        // would store them twice.
                        Ok(stored) => {
                            let problem = format!(
                                "{} rows inserted, {} returned",
                                waiting.len(),
                                stored.len()
                            );
                            for caller in waiting {
                                let _ = caller.send(Err(DbErr::Custom(problem.clone())));
                            }
                            continue;
                        }
                        Err(_) => {}
                    }
                }
                for (row, caller) in rows.into_iter().zip(waiting) {
                    let stored = insert_returning(&db, row).await;
                    written();
                    let _ = caller.send(stored);
                }
            }
        });
        Self { queue }
    }

    /// Stores `row` and returns it as stored, once committed.
    pub async fn insert(&self, row: A) -> Result<Stored<A>, DbErr> {
        let (stored, answer) = oneshot::channel();
        let stopped = || DbErr::Custom("the inserting task has stopped".to_owned());
        self.queue
            .send((row, stored))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Whether the database refused `e` because of the data written, so
/// writing the same data again fails again: PostgreSQL's SQLSTATE classes
/// 22 (data exception: a NUL in text, a value out of range) and 23
/// (integrity constraint violation); SQLite's `SQLITE_CONSTRAINT`,
/// `SQLITE_TOOBIG`, `SQLITE_MISMATCH` and `SQLITE_RANGE`. Anything else
/// (a lost connection, a lock, a full disk) may pass if tried again.
pub fn is_data_error(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = e else {
        return false;
    };
    let SqlxError::Database(e) = &**e else {
        return false;
    };
    let Some(code) = e.code() else {
        return false;
    };
    if e.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return code.starts_with("22") || code.starts_with("23");
    }
    if e.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // Extended result codes: the primary code is the low byte.
        const CONSTRAINT: i64 = 19;
        const TOOBIG: i64 = 18;
        const MISMATCH: i64 = 20;
        const RANGE: i64 = 25;
        return code
            .parse::<i64>()
            .is_ok_and(|code| matches!(code & 0xff, CONSTRAINT | TOOBIG | MISMATCH | RANGE));
    }
    false
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveValue, ConnectionTrait, EntityTrait, PaginatorTrait};

    mod row {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "rows")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            pub body: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    #[tokio::test]
    async fn rows_inserted_one_by_one_let_sqlite_checkpoint_its_wal() {
        let dir = std::env::temp_dir().join(format!("mercato-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/wal.db?mode=rwc", dir.display())
            .parse()
            .expect("a SQLite URL");
        let db = super::connect(&url).await.expect("connect");
        db.execute_unprepared("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            .await
            .expect("create table");

        for i in 1..=5000 {
            let row = row::ActiveModel {
                id: ActiveValue::NotSet,
                body: ActiveValue::Set(format!("row {i}")),
            };
            let stored = super::insert_returning(&db, row).await.expect("insert");
            assert_eq!(stored.id, i);
        }

        let size = |file: &str| std::fs::metadata(dir.join(file)).map_or(0, |m| m.len());
        assert!(size("wal.db") > 64 * 1024, "rows reached the database file");
        assert!(
            size("wal.db-wal") < 8 * 1024 * 1024,
            "a WAL of {} bytes",
            size("wal.db-wal")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// An in-memory SQLite database with one table, made by `create`.
    async fn memory_db(create: &str) -> sea_orm::DatabaseConnection {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("connect");
        db.execute_unprepared(create).await.expect("create table");
        db
    }

    #[tokio::test]
    async fn rows_inserted_together_come_back_to_their_callers_and_a_refused_one_alone_fails() {
        let db = memory_db(
            "CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL CHECK (body <> 'bad'))",
        )
        .await;
        let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inserts = std::sync::Arc::new(super::GroupInsert::start_with(
            db.clone(),
            |row: &row::Model| row.id,
            {
                let writes = writes.clone();
                move || {
                    writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            },
        ));
        // 200 callers at once: on this single-threaded runtime they all
        // queue before the inserting task runs, so they make one batch.
        let insert_at_once = |bodies: Vec<String>| {
            let callers = bodies.into_iter().map(|body| {
                let inserts = inserts.clone();
                let row = row::ActiveModel {
                    id: ActiveValue::NotSet,
                    body: ActiveValue::Set(body.clone()),
                };
                tokio::spawn(async move { (body, inserts.insert(row).await) })
            });
            futures_util::future::join_all(callers)
        };
        let mut ids = std::collections::HashSet::new();

        let all_good = (0..200).map(|i| format!("first {i}")).collect();
        for answer in insert_at_once(all_good).await {
            let (body, stored) = answer.expect("the caller ran");
            let stored = stored.expect("stored");
            assert_eq!(stored.body, body, "each caller gets its own row");
            assert!(ids.insert(stored.id));
        }

        let one_bad = (0..200)
            .map(|i| match i {
                77 => "bad".to_owned(),
                _ => format!("second {i}"),
            })
            .collect();
        for answer in insert_at_once(one_bad).await {
            let (body, stored) = answer.expect("the caller ran");
            match body.as_str() {
                "bad" => assert!(super::is_data_error(&stored.expect_err("refused"))),
                _ => {
                    let stored = stored.expect("stored");
                    assert_eq!(stored.body, body, "each caller gets its own row");
                    assert!(ids.insert(stored.id));
                }
            }
        }

        let count = row::Entity::find().count(&db).await.expect("count");
        assert_eq!(count, 399);
        // One batch, then one failed batch and its 200 rows one by one,
        // each write reported before its callers heard back.
        assert_eq!(
            writes.load(std::sync::atomic::Ordering::SeqCst),
            1 + 1 + 200
        );
    }

    #[tokio::test]
    async fn constraint_violations_are_data_errors_and_other_failures_are_not() {
        let db = memory_db(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL CHECK (v <> 'bad'))",
        )
        .await;
        db.execute_unprepared("INSERT INTO t VALUES (1, 'ok')")
            .await
            .expect("insert");

        let duplicate = db
            .execute_unprepared("INSERT INTO t VALUES (1, 'again')")
            .await
            .expect_err("a taken key");
        let checked = db
            .execute_unprepared("INSERT INTO t VALUES (2, 'bad')")
            .await
            .expect_err("a failed check");
        let missing = db
            .execute_unprepared("INSERT INTO nowhere VALUES (1)")
            .await
            .expect_err("no such table");

        assert!(super::is_data_error(&duplicate), "{duplicate}");
        assert!(super::is_data_error(&checked), "{checked}");
        assert!(!super::is_data_error(&missing), "{missing}");
    }
}
