//! `listings`, owned by the listing service.

use platform::Timestamp;
use sea_orm::entity::prelude::*;

use super::model::{self, ListingType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "listings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub listing_type: ListingType,
    pub price: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for model::Listing {
    fn from(row: Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            listing_type: row.listing_type,
            price: row.price,
            created_at: row.created_at.as_micros(),
            updated_at: row.updated_at.as_micros(),
        }
    }
}
