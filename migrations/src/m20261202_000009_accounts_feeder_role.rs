//! `accounts.role` may be `feeder` too: an account that sends product
//! feeds (SPEC sections 4 and 8).
//!
//! The role's `CHECK` constraint only grows, so every existing row still
//! satisfies it. PostgreSQL replaces the constraint. SQLite cannot alter a
//! constraint; its documented way to loosen one is to edit the table's
//! definition in `sqlite_schema` and bump the schema version, in one
//! transaction (so every statement runs on one connection), which spares
//! a rebuild of the table and the foreign keys that point at it.

use sea_orm::{DbBackend, Statement, TransactionTrait};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct AddFeederRole;

const SQLITE_BEFORE: &str = r#"CHECK ("role" IN ('admin', 'user'))"#;
const SQLITE_AFTER: &str = r#"CHECK ("role" IN ('admin', 'user', 'feeder'))"#;

#[async_trait::async_trait]
impl MigrationTrait for AddFeederRole {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        change_roles(
            manager,
            SQLITE_BEFORE,
            SQLITE_AFTER,
            "'admin', 'user', 'feeder'",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        change_roles(manager, SQLITE_AFTER, SQLITE_BEFORE, "'admin', 'user'").await
    }
}

async fn change_roles(
    manager: &SchemaManager<'_>,
    sqlite_from: &str,
    sqlite_to: &str,
    roles: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                "ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_role_check; \
                 ALTER TABLE accounts ADD CONSTRAINT accounts_role_check CHECK (role IN ({roles}))"
            ))
            .await?;
        }
        DbBackend::Sqlite => {
            let txn = db.begin().await?;
            let version = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA schema_version",
                ))
                .await?
                .ok_or_else(|| DbErr::Custom("no schema version".into()))?
                .try_get_by_index::<i64>(0)?;
            txn.execute_unprepared("PRAGMA writable_schema = ON")
                .await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "UPDATE sqlite_schema SET sql = replace(sql, ?, ?) \
                 WHERE type = 'table' AND name = 'accounts'",
                [sqlite_from.into(), sqlite_to.into()],
            ))
            .await?;
            txn.execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
                .await?;
            txn.execute_unprepared("PRAGMA writable_schema = OFF")
                .await?;
            txn.commit().await?;
        }
        other => return Err(DbErr::Custom(format!("unsupported database: {other:?}"))),
    }
    Ok(())
}
