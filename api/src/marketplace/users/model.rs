//! A user of seed 004.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The id of a user: a positive integer. Whether that user exists is the
/// user service's to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        crate::web::parse::parse_int(raw)
            .ok_or_else(|| "invalid user_id".to_owned())
            .and_then(Self::try_from)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for UserId {
    type Error = String;

    fn try_from(id: i64) -> Result<Self, Self::Error> {
        if id >= 1 {
            Ok(Self(id))
        } else {
            Err("invalid user_id".into())
        }
    }
}

impl From<UserId> for i64 {
    fn from(id: UserId) -> Self {
        id.0
    }
}

/// A user's full name: not blank, at most [`UserName::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub const MAX_CHARS: usize = 200;

    /// Trims the surrounding whitespace, as seed 004's Tornado service did.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("invalid name. Must not be blank".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "invalid name. Must be at most {} characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A user as the user service stores and returns it. Timestamps are
/// microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub name: String,
    #[schema(example = 1_475_820_997_000_000_i64)]
    pub created_at: i64,
    #[schema(example = 1_475_820_997_000_000_i64)]
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_id_is_a_positive_integer() {
        assert_eq!(UserId::parse("12").map(UserId::get), Ok(12));
        for bad in ["", "0", "-3", "one", "1.0"] {
            assert_eq!(UserId::parse(bad), Err("invalid user_id".into()), "{bad}");
        }
    }

    #[test]
    fn a_name_is_trimmed_and_not_blank() {
        assert_eq!(
            UserName::parse("  Suresh Subramaniam ").map(UserName::into_inner),
            Ok("Suresh Subramaniam".to_owned())
        );
        assert_eq!(
            UserName::parse(" \t "),
            Err("invalid name. Must not be blank".into())
        );
        assert!(UserName::parse(&"é".repeat(200)).is_ok());
        assert!(UserName::parse(&"é".repeat(201)).is_err());
    }
}
