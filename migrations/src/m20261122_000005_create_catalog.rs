//! The product catalog and what `offer-poller` keeps of the Offers service
//! (SPEC section 5): `products`, `offers`, `price_history`, `offers_token`.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    Description,
    Sku,
    Registered,
    RegistrationDueAt,
    NextPollAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Offers {
    Table,
    Id,
    ProductId,
    Price,
    ItemsInStock,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PriceHistory {
    Table,
    Id,
    ProductId,
    OfferId,
    Price,
    ObservedAt,
}

#[derive(DeriveIden)]
enum OffersToken {
    Table,
    Name,
    Token,
    CreatedAt,
}

/// - `products`: `registered` says whether the Offers service has the
///   product; until then `registration_due_at` is when the next attempt may
///   start (a lease, so two pollers never register it at once). Once it is
///   registered, `next_poll_at` is when its offers are due again. Times are
///   microseconds since the Unix epoch.
/// - `offers`: the current offers, keyed by the Offers service's own id.
/// - `price_history`: every observed price, one row per offer per poll.
/// - `offers_token`: the one access token of the deployment.
#[derive(DeriveMigrationName)]
pub struct CreateCatalog;

#[async_trait::async_trait]
impl MigrationTrait for CreateCatalog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(ColumnDef::new(Products::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Products::Name).text().not_null())
                    .col(ColumnDef::new(Products::Description).text().not_null())
                    .col(
                        ColumnDef::new(Products::Sku)
                            .string_len(64)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Products::Registered).boolean().not_null())
                    .col(
                        ColumnDef::new(Products::RegistrationDueAt)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(Products::NextPollAt).big_integer().null())
                    .col(ColumnDef::new(Products::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Products::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("products_registration_due", Products::RegistrationDueAt),
            ("products_poll_due", Products::NextPollAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Products::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Offers::Table)
                    .col(
                        ColumnDef::new(Offers::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Offers::ProductId).uuid().not_null())
                    .col(ColumnDef::new(Offers::Price).big_integer().not_null())
                    .col(
                        ColumnDef::new(Offers::ItemsInStock)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Offers::UpdatedAt).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("offers_product")
                            .from(Offers::Table, Offers::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("offers_by_product")
                    .table(Offers::Table)
                    .col(Offers::ProductId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PriceHistory::Table)
                    .col(
                        ColumnDef::new(PriceHistory::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PriceHistory::ProductId).uuid().not_null())
                    .col(
                        ColumnDef::new(PriceHistory::OfferId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PriceHistory::Price).big_integer().not_null())
                    .col(
                        ColumnDef::new(PriceHistory::ObservedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("price_history_product")
                            .from(PriceHistory::Table, PriceHistory::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("price_history_by_offer")
                    .table(PriceHistory::Table)
                    .col(PriceHistory::ProductId)
                    .col(PriceHistory::OfferId)
                    .col(PriceHistory::ObservedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("price_history_by_product")
                    .table(PriceHistory::Table)
                    .col(PriceHistory::ProductId)
                    .col(PriceHistory::ObservedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OffersToken::Table)
                    .col(
                        ColumnDef::new(OffersToken::Name)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OffersToken::Token).text().not_null())
                    .col(
                        ColumnDef::new(OffersToken::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OffersToken::Table.into_iden(),
            PriceHistory::Table.into_iden(),
            Offers::Table.into_iden(),
            Products::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
