//! `offers_token.refused_at`: when the Offers service last refused the
//! deployment's token, for `/readyz` to show.

use sea_orm_migration::prelude::*;

use crate::column;

#[derive(DeriveIden)]
enum OffersToken {
    Table,
    RefusedAt,
}

#[derive(DeriveMigrationName)]
pub struct AddRefusedAt;

#[async_trait::async_trait]
impl MigrationTrait for AddRefusedAt {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::add(
            manager,
            OffersToken::Table,
            ColumnDef::new(OffersToken::RefusedAt).big_integer().null(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::drop(manager, OffersToken::Table, OffersToken::RefusedAt).await
    }
}
