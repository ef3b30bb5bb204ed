//! `offers_token`: the Offers service's access token, one per deployment.

use platform::Timestamp;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "offers_token")]
pub struct Model {
    /// Always `offers`: the table holds one row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub token: String,
    pub created_at: Timestamp,
    /// When the Offers service last refused the token (a 401); cleared by
    /// the next call it accepts.
    pub refused_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
