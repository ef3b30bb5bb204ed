//! Products of the catalog (SPEC section 5).

/// A product's name: not blank, at most [`ProductName::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "name: must not be blank, at most {} characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A product's description: any text up to [`Description::MAX_CHARS`]
/// characters, empty when not given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "description: at most {} characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A client's own unique key for a product: 1 to 64 letters, digits, `.`,
/// `_`, `-` or `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = crate::web::parse::is_token(raw, Self::MAX_CHARS, &['.', '_', '-', '/']);
        if !valid {
            return Err(format!(
                "sku: 1 to {} letters, digits, `.`, `_`, `-` or `/`, got `{raw}`",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// The name of a product known by its sku alone: a sku is never blank
    /// and shorter than a name may be.
    pub fn as_name(&self) -> ProductName {
        ProductName(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_not_blank() {
        assert_eq!(
            ProductName::parse("  Benzinová sekačka ").map(ProductName::into_inner),
            Ok("Benzinová sekačka".to_owned())
        );
        assert!(ProductName::parse(" ").is_err());
        assert!(ProductName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn a_description_is_bounded() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"x".repeat(10_001)).is_err());
    }

    #[test]
    fn a_sku_is_a_plain_key() {
        assert!(Sku::parse("MOW-1000/b").is_ok());
        for bad in ["", "a b", "x?y", &"s".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad}");
        }
    }
}
