//! `offers_token.refused_at`: when the Offers service last refused the
//! deployment's token, for `/readyz` to show.

use sea_orm_migration::prelude::*;

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
        manager
            .alter_table(
                Table::alter()
                    .table(OffersToken::Table)
                    .add_column(ColumnDef::new(OffersToken::RefusedAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OffersToken::Table)
                    .drop_column(OffersToken::RefusedAt)
                    .to_owned(),
            )
            .await
    }
}
