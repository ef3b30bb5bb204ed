//! `ingest_jobs.sender`: the account that sent the feed (`NULL` for an
//! anonymous feed, and for jobs recorded before senders were), so an
//! ingest is shown to its sender and admins only.

use sea_orm_migration::prelude::*;

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
        manager
            .alter_table(
                Table::alter()
                    .table(IngestJobs::Table)
                    .add_column(ColumnDef::new(IngestJobs::Sender).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IngestJobs::Table)
                    .drop_column(IngestJobs::Sender)
                    .to_owned(),
            )
            .await
    }
}
