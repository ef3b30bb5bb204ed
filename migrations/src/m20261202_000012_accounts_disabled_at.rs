//! `accounts.disabled_at`: when `api accounts disable` took the account's
//! access away (null while it may log in).

use sea_orm_migration::prelude::*;

use crate::column;

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
        column::add(
            manager,
            Accounts::Table,
            ColumnDef::new(Accounts::DisabledAt).big_integer().null(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::drop(manager, Accounts::Table, Accounts::DisabledAt).await
    }
}
