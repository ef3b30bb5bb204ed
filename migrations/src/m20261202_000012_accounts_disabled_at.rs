//! `accounts.disabled_at`: when `api accounts disable` took the account's
//! access away (null while it may log in).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    DisabledAt,
}

#[derive(DeriveMigrationName)]
pub struct AddDisabledAt;

#[async_trait::async_trait]
impl MigrationTrait for AddDisabledAt {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(ColumnDef::new(Accounts::DisabledAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .drop_column(Accounts::DisabledAt)
                    .to_owned(),
            )
            .await
    }
}
