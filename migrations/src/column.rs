//! One column added to one table, and dropped again on `down`: the shape
//! of most migrations after a table's first.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::IntoColumnDef;

pub async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

pub async fn drop(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}
