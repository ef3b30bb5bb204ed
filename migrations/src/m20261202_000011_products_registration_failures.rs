//! `products.registration_failures`: failed registration attempts in a
//! row, so each product's retries back off (and a product that starts or
//! stops failing is logged once, not per attempt).

use sea_orm_migration::prelude::*;

use crate::column;

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
        column::add(
            manager,
            Products::Table,
            ColumnDef::new(Products::RegistrationFailures)
                .integer()
                .not_null()
                .default(0),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        column::drop(manager, Products::Table, Products::RegistrationFailures).await
    }
}
