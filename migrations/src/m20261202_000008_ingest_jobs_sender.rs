//! `ingest_jobs.sender`: the account that sent the feed (`NULL` for an
//! anonymous feed, and for jobs recorded before senders were), so an
//! ingest is shown to its sender and admins only.

use sea_orm_migration::prelude::*;

use crate::column;

#[derive(DeriveIden)]
enum IngestJobs {
    Table,
    Sender,
}

#[derive(DeriveMigrationName)]
pub struct AddSender;

#[async_trait::async_trait]
impl MigrationTrait for AddSender {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::add(
            manager,
            IngestJobs::Table,
            ColumnDef::new(IngestJobs::Sender).big_integer().null(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::drop(manager, IngestJobs::Table, IngestJobs::Sender).await
    }
}
