//! `offers`: a product's current offers, as the Offers service last listed them.

use platform::Timestamp;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "offers")]
pub struct Model {
    /// The Offers service's own id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub product_id: Uuid,
    pub price: i64,
    pub items_in_stock: i64,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
