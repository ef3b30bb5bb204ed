//! Accounts of the protected endpoints (SPEC section 4).

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an account may do: `admin` (the seeds' "super user"), `user`, or
/// `feeder`: a system that sends product feeds (SPEC section 8), which may
/// send feeds and read its own ingests and nothing else that needs a role.
/// A feed writes the catalog, which `user` accounts may not.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum Role {
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "feeder")]
    Feeder,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            "feeder" => Ok(Self::Feeder),
            other => Err(format!(
                "unknown role `{other}`: expected `admin`, `user` or `feeder`"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
            Self::Feeder => "feeder",
        }
    }
}

/// A username: 1 to 64 characters among letters, digits, `.`, `_`, `-`
/// and `@`, so it is safe in logs and in a Basic credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = crate::web::parse::is_token(raw, Self::MAX_CHARS, &['.', '_', '-', '@']);
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "invalid username `{raw}`: 1 to {} letters, digits, `.`, `_`, `-` or `@`",
                Self::MAX_CHARS
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new account's password: at least [`NewPassword::MIN_CHARS`]
/// characters, at most [`NewPassword::MAX_BYTES`] bytes (argon2 takes any
/// length, but a megabyte-long password would be a cheap way to burn CPU).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() < Self::MIN_CHARS || raw.len() > Self::MAX_BYTES {
            return Err(format!(
                "invalid password: at least {} characters and at most {} bytes",
                Self::MIN_CHARS,
                Self::MAX_BYTES
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never printed, not even in debug output.
impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// The account a request is made by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

impl From<super::entity::Model> for Caller {
    fn from(row: super::entity::Model) -> Self {
        Self {
            id: row.id,
            username: row.username,
            role: row.role,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_admin_user_and_feeder() {
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
        assert_eq!(Role::parse("user"), Ok(Role::User));
        assert_eq!(Role::parse("feeder"), Ok(Role::Feeder));
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("Admin").is_err());
    }

    #[test]
    fn usernames_are_short_and_plain() {
        assert!(Username::parse("john.doe@example").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("john doe").is_err());
        assert!(
            Username::parse("john:doe").is_err(),
            "a colon would break Basic"
        );
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling_and_are_never_shown() {
        assert!(NewPassword::parse("seven77").is_err());
        assert!(NewPassword::parse("eight888").is_ok());
        assert!(NewPassword::parse(&"x".repeat(1025)).is_err());
        let password = NewPassword::parse("correct horse").expect("valid");
        assert_eq!(format!("{password:?}"), "NewPassword(***)");
    }
}
