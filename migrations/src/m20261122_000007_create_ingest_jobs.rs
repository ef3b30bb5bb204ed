//! `ingest_jobs`: the accepted product feeds and how far each has been
//! applied to the catalog (SPEC section 8).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum IngestJobs {
    Table,
    Id,
    Hash,
    Size,
    Items,
    Status,
    Spool,
    Body,
    Processed,
    Created,
    Updated,
    Skipped,
    Problem,
    LeaseUntil,
    ReceivedAt,
    StartedAt,
    FinishedAt,
}

/// One row per accepted feed. A small body is kept in `body`; a large one
/// is a file in the spool directory named by `spool`, and only a process
/// using that directory can apply it. `processed` counts the items applied
/// in committed batches, which is where a restarted process resumes.
/// `lease_until` keeps two processes from applying the same feed at once.
/// Times are microseconds since the Unix epoch.
#[derive(DeriveMigrationName)]
pub struct CreateIngestJobs;

#[async_trait::async_trait]
impl MigrationTrait for CreateIngestJobs {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let count = |column| {
            ColumnDef::new(column)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(IngestJobs::Table)
                    .col(
                        ColumnDef::new(IngestJobs::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(IngestJobs::Hash).string_len(64).not_null())
                    .col(ColumnDef::new(IngestJobs::Size).big_integer().not_null())
                    .col(ColumnDef::new(IngestJobs::Items).big_integer().not_null())
                    .col(ColumnDef::new(IngestJobs::Status).string_len(16).not_null())
                    .col(ColumnDef::new(IngestJobs::Spool).string_len(36).null())
                    .col(ColumnDef::new(IngestJobs::Body).binary().null())
                    .col(count(IngestJobs::Processed))
                    .col(count(IngestJobs::Created))
                    .col(count(IngestJobs::Updated))
                    .col(count(IngestJobs::Skipped))
                    .col(ColumnDef::new(IngestJobs::Problem).text().null())
                    .col(ColumnDef::new(IngestJobs::LeaseUntil).big_integer().null())
                    .col(
                        ColumnDef::new(IngestJobs::ReceivedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(IngestJobs::StartedAt).big_integer().null())
                    .col(ColumnDef::new(IngestJobs::FinishedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ingest_jobs_pending")
                    .table(IngestJobs::Table)
                    .col(IngestJobs::Status)
                    .col(IngestJobs::LeaseUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IngestJobs::Table).to_owned())
            .await
    }
}
