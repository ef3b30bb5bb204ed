//! `products`: the catalog, with each product's registration and polling schedule.

use platform::Timestamp;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    /// A UUID v7, so ids sort by creation.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// Empty when not given.
    pub description: String,
    /// The client's own unique key, if it has one.
    #[sea_orm(unique)]
    pub sku: Option<String>,
    /// Whether the Offers service has the product.
    pub registered: bool,
    /// While not registered: when the next registration attempt may start.
    pub registration_due_at: Option<Timestamp>,
    /// Once registered: when its offers are next due.
    pub next_poll_at: Option<Timestamp>,
    /// Failed registration attempts in a row: the next one waits the
    /// longer (exponential backoff, see `offer-poller`).
    pub registration_failures: i32,
    /// What a feed last applied to the product (a BLAKE3 fingerprint of
    /// the item's sku, name and description as applied); `None` once the
    /// product is changed any other way. A feed item with the same
    /// fingerprint is not written again.
    pub feed_fingerprint: Option<Vec<u8>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
