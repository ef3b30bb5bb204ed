//! `ingest_jobs.attempts`: how many times applying the job failed for a
//! reason that may pass (a lost connection, a lock), so such a job is
//! retried with backoff and fails for good after a bounded number.

use sea_orm_migration::prelude::*;

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
        manager
            .alter_table(
                Table::alter()
                    .table(IngestJobs::Table)
                    .add_column(
                        ColumnDef::new(IngestJobs::Attempts)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IngestJobs::Table)
                    .drop_column(IngestJobs::Attempts)
                    .to_owned(),
            )
            .await
    }
}
