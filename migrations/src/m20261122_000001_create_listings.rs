//! The listing service's `listings` table (seed 004).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Listings {
    Table,
    Id,
    UserId,
    ListingType,
    Price,
    CreatedAt,
    UpdatedAt,
}

/// `listings`, with the two orders pages are read in: newest first over
/// everyone's listings, and newest first over one user's. Both end with
/// `id`, which breaks ties between rows created in the same microsecond,
/// so an index-only walk finds a deep page's ids without reading rows.
#[derive(DeriveMigrationName)]
pub struct CreateListings;

#[async_trait::async_trait]
impl MigrationTrait for CreateListings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Listings::Table)
                    .col(
                        ColumnDef::new(Listings::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Listings::UserId).big_integer().not_null())
                    .col(
                        ColumnDef::new(Listings::ListingType)
                            .string_len(8)
                            .not_null()
                            .check(Expr::col(Listings::ListingType).is_in(["rent", "sale"])),
                    )
                    .col(
                        ColumnDef::new(Listings::Price)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Listings::Price).gt(0)),
                    )
                    .col(ColumnDef::new(Listings::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Listings::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("listings_newest_first")
                    .table(Listings::Table)
                    .col(Listings::CreatedAt)
                    .col(Listings::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("listings_by_user_newest_first")
                    .table(Listings::Table)
                    .col(Listings::UserId)
                    .col(Listings::CreatedAt)
                    .col(Listings::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Listings::Table).to_owned())
            .await
    }
}
