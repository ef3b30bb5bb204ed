//! `quotes`: every quote found for an account (SPEC section 6).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Quotes {
    Table,
    Id,
    AccountId,
    Stock,
    Symbol,
    Name,
    Open,
    High,
    Low,
    Close,
    RequestedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

/// `quotes`, one row per found quote, with the two ways it is read: an
/// account's history newest first, and the counts per stock for `/stats`.
#[derive(DeriveMigrationName)]
pub struct CreateQuotes;

#[async_trait::async_trait]
impl MigrationTrait for CreateQuotes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Quotes::Table)
                    .col(
                        ColumnDef::new(Quotes::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Quotes::AccountId).big_integer().not_null())
                    .col(ColumnDef::new(Quotes::Stock).string_len(20).not_null())
                    .col(ColumnDef::new(Quotes::Symbol).string_len(64).not_null())
                    .col(ColumnDef::new(Quotes::Name).text().not_null())
                    .col(ColumnDef::new(Quotes::Open).double().not_null())
                    .col(ColumnDef::new(Quotes::High).double().not_null())
                    .col(ColumnDef::new(Quotes::Low).double().not_null())
                    .col(ColumnDef::new(Quotes::Close).double().not_null())
                    .col(ColumnDef::new(Quotes::RequestedAt).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("quotes_account")
                            .from(Quotes::Table, Quotes::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("quotes_by_account_newest_first")
                    .table(Quotes::Table)
                    .col(Quotes::AccountId)
                    .col(Quotes::RequestedAt)
                    .col(Quotes::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("quotes_by_stock")
                    .table(Quotes::Table)
                    .col(Quotes::Stock)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Quotes::Table).to_owned())
            .await
    }
}
