//! `products.feed_fingerprint` and `ingest_jobs.unchanged`: each product
//! keeps the fingerprint of the fields a feed last applied to it, so an
//! item that brings the same fields again is not written, and its job
//! counts it as unchanged.

use sea_orm_migration::prelude::*;

use crate::column;

#[derive(DeriveIden)]
enum Products {
    Table,
    FeedFingerprint,
}

#[derive(DeriveIden)]
enum IngestJobs {
    Table,
    Unchanged,
}

#[derive(DeriveMigrationName)]
pub struct AddFeedFingerprints;

#[async_trait::async_trait]
impl MigrationTrait for AddFeedFingerprints {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::add(
            manager,
            Products::Table,
            ColumnDef::new(Products::FeedFingerprint).binary().null(),
        )
        .await?;
        column::add(
            manager,
            IngestJobs::Table,
            ColumnDef::new(IngestJobs::Unchanged)
                .big_integer()
                .not_null()
                .default(0),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::drop(manager, IngestJobs::Table, IngestJobs::Unchanged).await?;
        column::drop(manager, Products::Table, Products::FeedFingerprint).await
    }
}
