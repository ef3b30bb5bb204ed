//! `accounts`: who may use the protected endpoints, and as what (SPEC section 4).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    CreatedAt,
}

/// `accounts`, one row per username (unique), with its argon2 hash in PHC
/// form and its role.
#[derive(DeriveMigrationName)]
pub struct CreateAccounts;

#[async_trait::async_trait]
impl MigrationTrait for CreateAccounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(
                        ColumnDef::new(Accounts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Accounts::Username)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Accounts::PasswordHash).text().not_null())
                    .col(
                        ColumnDef::new(Accounts::Role)
                            .string_len(8)
                            .not_null()
                            .check(Expr::col(Accounts::Role).is_in(["admin", "user"])),
                    )
                    .col(ColumnDef::new(Accounts::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Accounts::Table).to_owned())
            .await
    }
}
