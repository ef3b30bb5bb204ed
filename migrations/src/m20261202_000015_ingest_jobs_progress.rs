//! `ingest_jobs.applied_bytes`, how far into a spooled body its applied
//! items reach (the job list's progress), and `ingest_jobs_sender`
//! (`sender`, `id`), so a sender's ingests are listed newest first
//! without reading anyone else's.

use sea_orm_migration::prelude::*;

use crate::column;

#[derive(DeriveIden)]
enum IngestJobs {
    Table,
    Id,
    Sender,
    AppliedBytes,
}

#[derive(DeriveMigrationName)]
pub struct AddProgress;

#[async_trait::async_trait]
impl MigrationTrait for AddProgress {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::add(
            manager,
            IngestJobs::Table,
            ColumnDef::new(IngestJobs::AppliedBytes)
                .big_integer()
                .not_null()
                .default(0),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ingest_jobs_sender")
                    .table(IngestJobs::Table)
                    .col(IngestJobs::Sender)
                    .col(IngestJobs::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ingest_jobs_sender")
                    .table(IngestJobs::Table)
                    .to_owned(),
            )
            .await?;
        column::drop(manager, IngestJobs::Table, IngestJobs::AppliedBytes).await
    }
}
