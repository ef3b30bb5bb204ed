//! `products.registration_failures`: failed registration attempts in a
//! row, so each product's retries back off (and a product that starts or
//! stops failing is logged once, not per attempt).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Products {
    Table,
    RegistrationFailures,
}

#[derive(DeriveMigrationName)]
pub struct AddRegistrationFailures;

#[async_trait::async_trait]
impl MigrationTrait for AddRegistrationFailures {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(
                        ColumnDef::new(Products::RegistrationFailures)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .drop_column(Products::RegistrationFailures)
                    .to_owned(),
            )
            .await
    }
}
