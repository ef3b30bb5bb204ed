//! Mercato's database schema, as sea-orm migrations that run unchanged on
//! SQLite and PostgreSQL.
//!
//! The embedded mode applies them when `api` starts; in a cluster,
//! `migrations up` runs first (or `api` with `MIGRATE_ON_START=true`).
//! Each feature adds its tables as a new migration at the end of
//! [`Migrator::migrations`]; a migration that has shipped is never edited.

pub use sea_orm_migration::prelude::*;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}
