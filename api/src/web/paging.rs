//! Which page of a list to read: [`PageQuery`] (`page`, `page_size`) on
//! the product API, seed 004's `page_num` and `page_size` on its services;
//! both become a [`PageRequest`].

use serde::Deserialize;
use utoipa::IntoParams;

/// The paging query of the product API's lists (SPEC section 3).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From 1; default 1.
    page: Option<i64>,
    /// 1 to 100; default 10.
    page_size: Option<i64>,
}

impl PageQuery {
    /// The page asked for; out of range is a 400.
    pub fn page(&self) -> platform::Result<PageRequest> {
        PageRequest::checked(self.page.unwrap_or(1), self.page_size.unwrap_or(10))
            .map_err(platform::Error::BadRequest)
    }
}

/// A page of seed 004's lists: `page_num` from 1 (default 1), `page_size`
/// from 1 to [`PageRequest::MAX_SIZE`] (default 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    num: u32,
    size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { num: 1, size: 10 }
    }
}

impl PageRequest {
    pub const MAX_SIZE: u32 = 100;

    /// Parses the raw query values; an absent value takes its default. The
    /// error is the message seed 004's service answers with: `invalid
    /// page_num` for a value that is not an integer, as the original did,
    /// and a longer one for an integer out of range, which the original
    /// passed to SQL as it was.
    pub fn parse(page_num: Option<&str>, page_size: Option<&str>) -> Result<Self, String> {
        let defaults = Self::default();
        let num = match page_num {
            None => defaults.num,
            Some(raw) => match crate::web::parse::parse_int(raw) {
                None => return Err("invalid page_num".into()),
                Some(n) => u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("invalid page_num. Must be between 1 and {}", u32::MAX)
                })?,
            },
        };
        let size = match page_size {
            None => defaults.size,
            Some(raw) => match crate::web::parse::parse_int(raw) {
                None => return Err("invalid page_size".into()),
                Some(n) => u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=Self::MAX_SIZE).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "invalid page_size. Must be between 1 and {}",
                            Self::MAX_SIZE
                        )
                    })?,
            },
        };
        Ok(Self { num, size })
    }

    /// A page from values already read as integers: SPEC section 3's
    /// `page` and `page_size`, answered with the API's own messages.
    pub fn checked(num: i64, size: i64) -> Result<Self, String> {
        let num = u32::try_from(num)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("page: must be between 1 and {}", u32::MAX))?;
        let size = u32::try_from(size)
            .ok()
            .filter(|n| (1..=Self::MAX_SIZE).contains(n))
            .ok_or_else(|| format!("page_size: must be between 1 and {}", Self::MAX_SIZE))?;
        Ok(Self { num, size })
    }

    pub fn num(self) -> u32 {
        self.num
    }

    pub fn size(self) -> u32 {
        self.size
    }

    /// How many rows come before this page. Cannot overflow: at most
    /// `(u32::MAX - 1) * 100`.
    pub fn offset(self) -> u64 {
        u64::from(self.num - 1) * u64::from(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_values_take_the_defaults() {
        let page = PageRequest::parse(None, None).expect("defaults");
        assert_eq!((page.num(), page.size(), page.offset()), (1, 10, 0));
    }

    #[test]
    fn values_parse_like_python_int() {
        let page = PageRequest::parse(Some(" 3 "), Some("+25")).expect("valid");
        assert_eq!((page.num(), page.size(), page.offset()), (3, 25, 50));
    }

    #[test]
    fn a_value_that_is_not_an_integer_gets_the_original_message() {
        assert_eq!(
            PageRequest::parse(Some("two"), None),
            Err("invalid page_num".into())
        );
        assert_eq!(
            PageRequest::parse(Some(""), None),
            Err("invalid page_num".into())
        );
        assert_eq!(
            PageRequest::parse(None, Some("1.5")),
            Err("invalid page_size".into())
        );
    }

    #[test]
    fn zero_negative_and_absurd_values_are_refused() {
        for (num, size) in [
            (Some("0"), None),
            (Some("-1"), None),
            (Some("4294967296"), None),
            (None, Some("0")),
            (None, Some("-10")),
            (None, Some("101")),
        ] {
            let error = PageRequest::parse(num, size).expect_err("out of range");
            assert!(error.contains("Must be between"), "{error}");
        }
    }

    #[test]
    fn checked_pages_name_the_parameter() {
        assert_eq!(PageRequest::checked(2, 5).map(PageRequest::offset), Ok(5));
        assert!(PageRequest::checked(0, 5).is_err_and(|e| e.starts_with("page:")));
        assert!(PageRequest::checked(1, 101).is_err_and(|e| e.starts_with("page_size:")));
        assert!(PageRequest::checked(1, 0).is_err());
    }

    #[test]
    fn the_largest_page_has_an_offset_that_fits() {
        let last = PageRequest::parse(Some(&u32::MAX.to_string()), Some("100")).expect("valid");
        assert_eq!(last.offset(), (u64::from(u32::MAX) - 1) * 100);
    }
}
