//! `accounts`: usernames, argon2 hashes, roles, and whether disabled.

use platform::Timestamp;
use sea_orm::entity::prelude::*;

use super::model::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub username: String,
    /// The argon2 hash in PHC form (`$argon2id$v=19$…`); never the password.
    pub password_hash: String,
    pub role: Role,
    /// Microseconds since the Unix epoch.
    pub created_at: Timestamp,
    /// Set by `api accounts disable`: the account can no longer log in.
    pub disabled_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
