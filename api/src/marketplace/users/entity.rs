//! `users`, owned by the user service.

use platform::Timestamp;
use sea_orm::entity::prelude::*;

use super::model;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for model::User {
    fn from(row: Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at.as_micros(),
            updated_at: row.updated_at.as_micros(),
        }
    }
}
