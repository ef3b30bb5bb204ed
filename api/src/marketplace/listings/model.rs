//! A listing of seed 004: a property for rent or sale.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::marketplace::users::UserId;

/// Whether a property is to rent or to buy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum ListingType {
    #[sea_orm(string_value = "rent")]
    Rent,
    #[sea_orm(string_value = "sale")]
    Sale,
}

impl ListingType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "rent" => Ok(Self::Rent),
            "sale" => Ok(Self::Sale),
            _ => Err("invalid listing_type. Supported values: 'rent', 'sale'".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rent => "rent",
            Self::Sale => "sale",
        }
    }
}

/// A listing's price: a whole number above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(i64);

impl Price {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match crate::web::parse::parse_int(raw) {
            None => Err("invalid price. Must be an integer".into()),
            Some(price) if price < 1 => Err("price must be greater than 0".into()),
            Some(price) => Ok(Self(price)),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A listing to create, every field valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewListing {
    pub user_id: UserId,
    pub listing_type: ListingType,
    pub price: Price,
}

impl NewListing {
    /// Checks the three fields (an absent one is invalid) and returns every
    /// failure, in the order of seed 004's service: `user_id`,
    /// `listing_type`, `price`.
    pub fn parse(
        user_id: Option<&str>,
        listing_type: Option<&str>,
        price: Option<&str>,
    ) -> Result<Self, Vec<String>> {
        let user_id = UserId::parse(user_id.unwrap_or_default());
        let listing_type = ListingType::parse(listing_type.unwrap_or_default());
        let price = Price::parse(price.unwrap_or_default());
        match (user_id, listing_type, price) {
            (Ok(user_id), Ok(listing_type), Ok(price)) => Ok(Self {
                user_id,
                listing_type,
                price,
            }),
            (user_id, listing_type, price) => Err([user_id.err(), listing_type.err(), price.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// A listing as the listing service stores and returns it. Timestamps are
/// microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Listing {
    pub id: i64,
    pub user_id: i64,
    pub listing_type: ListingType,
    pub price: i64,
    #[schema(example = 1_475_820_997_000_000_i64)]
    pub created_at: i64,
    #[schema(example = 1_475_820_997_000_000_i64)]
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_types_are_rent_and_sale_only() {
        assert_eq!(ListingType::parse("rent"), Ok(ListingType::Rent));
        assert_eq!(ListingType::parse("sale"), Ok(ListingType::Sale));
        for bad in ["", "Rent", "lease", "rent,sale"] {
            assert_eq!(
                ListingType::parse(bad),
                Err("invalid listing_type. Supported values: 'rent', 'sale'".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_price_is_a_positive_integer() {
        assert_eq!(Price::parse("6000").map(Price::get), Ok(6000));
        assert_eq!(Price::parse(" 1 ").map(Price::get), Ok(1));
        assert_eq!(
            Price::parse("0"),
            Err("price must be greater than 0".into())
        );
        assert_eq!(
            Price::parse("-5"),
            Err("price must be greater than 0".into())
        );
        for bad in ["", "6000.0", "6k", "99999999999999999999"] {
            assert_eq!(
                Price::parse(bad),
                Err("invalid price. Must be an integer".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_invalid_field_is_reported_in_order() {
        assert_eq!(
            NewListing::parse(Some("x"), Some("lease"), Some("0")),
            Err(vec![
                "invalid user_id".to_owned(),
                "invalid listing_type. Supported values: 'rent', 'sale'".to_owned(),
                "price must be greater than 0".to_owned(),
            ])
        );
        assert_eq!(
            NewListing::parse(None, Some("rent"), None),
            Err(vec![
                "invalid user_id".to_owned(),
                "invalid price. Must be an integer".to_owned(),
            ])
        );
    }

    #[test]
    fn a_valid_listing_keeps_its_values() {
        let listing = NewListing::parse(Some("7"), Some("sale"), Some("4500")).expect("valid");
        assert_eq!(listing.user_id.get(), 7);
        assert_eq!(listing.listing_type, ListingType::Sale);
        assert_eq!(listing.price.get(), 4500);
    }
}
