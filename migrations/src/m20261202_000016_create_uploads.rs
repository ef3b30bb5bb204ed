//! `uploads`: resumable feed uploads (the tus protocol under
//! `/v1/uploads`). The bytes are a file in the spool directory named by
//! `spool`; the row keeps how many of them are committed (`upload_offset`),
//! the declared length and metadata, the sender, and when the upload
//! expires. Once its last byte is accepted as a feed, `ingest` names the
//! ingest job (which has the upload's id). Times are microseconds since
//! the Unix epoch.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    Spool,
    UploadLength,
    UploadOffset,
    Metadata,
    Sender,
    CreatedAt,
    ExpiresAt,
    Ingest,
}

#[derive(DeriveMigrationName)]
pub struct CreateUploads;

#[async_trait::async_trait]
impl MigrationTrait for CreateUploads {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(ColumnDef::new(Uploads::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Uploads::Spool).string_len(36).not_null())
                    .col(
                        ColumnDef::new(Uploads::UploadLength)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Uploads::UploadOffset)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Uploads::Metadata).text().null())
                    .col(ColumnDef::new(Uploads::Sender).big_integer().null())
                    .col(ColumnDef::new(Uploads::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Uploads::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(Uploads::Ingest).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uploads_expires_at")
                    .table(Uploads::Table)
                    .col(Uploads::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Uploads::Table).to_owned())
            .await
    }
}
