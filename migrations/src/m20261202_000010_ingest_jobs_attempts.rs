//! `ingest_jobs.attempts`: how many times applying the job failed for a
//! reason that may pass (a lost connection, a lock), so such a job is
//! retried with backoff and fails for good after a bounded number.

use sea_orm_migration::prelude::*;

use crate::column;

#[derive(DeriveIden)]
enum IngestJobs {
    Table,
    Attempts,
}

#[derive(DeriveMigrationName)]
pub struct AddAttempts;

#[async_trait::async_trait]
impl MigrationTrait for AddAttempts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::add(
            manager,
            IngestJobs::Table,
            ColumnDef::new(IngestJobs::Attempts)
                .big_integer()
                .not_null()
                .default(0),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::drop(manager, IngestJobs::Table, IngestJobs::Attempts).await
    }
}
