//! Mercato's database schemas, as sea-orm migrations that run unchanged on
//! SQLite and PostgreSQL.
//!
//! There is one schema per owner, each with its own history table, so a
//! service that runs as its own process on its own database migrates only
//! its own tables:
//!
//! - [`Schema::Core`] (`seaql_migrations`): what the public `api` and the
//!   workers keep: accounts, quotes, the catalog, offers, ingest jobs.
//! - [`Schema::Listings`] (`seaql_migrations_listings`): the listing service's `listings`.
//! - [`Schema::Users`] (`seaql_migrations_users`): the user service's `users`.
//!
//! When they share one database (the embedded mode), the three histories
//! sit side by side and never see each other's entries.
//!
//! The embedded mode applies them when `api` starts; in a cluster,
//! `migrations up` runs first (or `api` with `MIGRATE_ON_START=true`).
//! Each feature adds its tables as a new migration at the end of its
//! schema's list; a migration that has shipped is never edited.
//!
//! # Layout
//!
//! - [`Schema`], [`up`] and [`run`]: which migrations to apply, and the CLI's commands.
//! - `m…` modules: one migration each, named (and recorded) by file name.

mod column;
mod m20261122_000001_create_listings;
mod m20261122_000002_create_users;
mod m20261122_000003_create_accounts;
mod m20261122_000004_create_quotes;
mod m20261122_000005_create_catalog;
mod m20261122_000006_offers_token_refused_at;
mod m20261122_000007_create_ingest_jobs;
mod m20261202_000008_ingest_jobs_sender;
mod m20261202_000009_accounts_feeder_role;
mod m20261202_000010_ingest_jobs_attempts;
mod m20261202_000011_products_registration_failures;
mod m20261202_000012_accounts_disabled_at;
mod m20261202_000013_ingest_jobs_unfinished;
mod m20261202_000014_feed_fingerprints;
mod m20261202_000015_ingest_jobs_progress;
mod m20261202_000016_create_uploads;

use platform::Services;
use sea_orm::DatabaseConnection;
pub use sea_orm_migration::prelude::*;

/// The tables of one owner, migrated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Core,
    Listings,
    Users,
}

impl Schema {
    /// The schemas a process serving `services` owns, in the order they are applied.
    pub fn for_services(services: Services) -> Vec<Self> {
        [
            (services.public, Self::Core),
            (services.listings, Self::Listings),
            (services.users, Self::Users),
        ]
        .into_iter()
        .filter_map(|(served, schema)| served.then_some(schema))
        .collect()
    }
}

/// The core schema's migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000003_create_accounts::CreateAccounts),
            Box::new(m20261122_000004_create_quotes::CreateQuotes),
            Box::new(m20261122_000005_create_catalog::CreateCatalog),
            Box::new(m20261122_000006_offers_token_refused_at::AddRefusedAt),
            Box::new(m20261122_000007_create_ingest_jobs::CreateIngestJobs),
            Box::new(m20261202_000008_ingest_jobs_sender::AddSender),
            Box::new(m20261202_000009_accounts_feeder_role::AddFeederRole),
            Box::new(m20261202_000010_ingest_jobs_attempts::AddAttempts),
            Box::new(m20261202_000011_products_registration_failures::AddRegistrationFailures),
            Box::new(m20261202_000012_accounts_disabled_at::AddDisabledAt),
            Box::new(m20261202_000013_ingest_jobs_unfinished::AddUnfinishedIndex),
            Box::new(m20261202_000014_feed_fingerprints::AddFeedFingerprints),
            Box::new(m20261202_000015_ingest_jobs_progress::AddProgress),
            Box::new(m20261202_000016_create_uploads::CreateUploads),
        ]
    }
}

/// The listing service's migrations, oldest first.
pub struct ListingsMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ListingsMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261122_000001_create_listings::CreateListings)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_listings".into_iden()
    }
}

/// The user service's migrations, oldest first.
pub struct UsersMigrator;

#[async_trait::async_trait]
impl MigratorTrait for UsersMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261122_000002_create_users::CreateUsers)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_users".into_iden()
    }
}

/// What the `migrations` binary (and `api migrate`) can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Apply every pending migration.
    Up,
    /// Roll back the latest migration of each schema.
    Down,
    /// Print each migration and whether it is applied.
    Status,
}

/// Applies every pending migration of `schemas`.
pub async fn up(db: &DatabaseConnection, schemas: &[Schema]) -> Result<(), DbErr> {
    run(Command::Up, db, schemas).await
}

/// Runs `command` on each of `schemas`: in order for `up` and `status`,
/// in reverse for `down`.
pub async fn run(
    command: Command,
    db: &DatabaseConnection,
    schemas: &[Schema],
) -> Result<(), DbErr> {
    let mut schemas = schemas.to_vec();
    if command == Command::Down {
        schemas.reverse();
    }
    for schema in schemas {
        match schema {
            Schema::Core => run_one::<Migrator>(command, db).await?,
            Schema::Listings => run_one::<ListingsMigrator>(command, db).await?,
            Schema::Users => run_one::<UsersMigrator>(command, db).await?,
        }
    }
    Ok(())
}

async fn run_one<M: MigratorTrait>(command: Command, db: &DatabaseConnection) -> Result<(), DbErr> {
    match command {
        Command::Up => {
            let pending = M::get_pending_migrations(db).await?;
            M::up(db, None).await?;
            if let Some(last) = pending.last() {
                tracing::info!(
                    applied = pending.len(),
                    latest = last.name(),
                    "database migrated"
                );
            }
            Ok(())
        }
        Command::Down => M::down(db, Some(1)).await,
        Command::Status => {
            for migration in M::get_migration_with_status(db).await? {
                println!("{:?}\t{}", migration.status(), migration.name());
            }
            Ok(())
        }
    }
}
