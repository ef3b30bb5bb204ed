//! Typed values of the API, each parsed once at the edge: a handler that
//! holds a [`Price`] knows it is a positive integer, and never checks again.
//!
//! Seed 004's values keep that service's exact error messages, so the
//! parsers here return them as they are to be shown.

mod account;
mod listing;
mod page;
mod product;
mod user;

pub use account::{NewPassword, Role, Username};
pub use listing::{Listing, ListingType, NewListing, Price};
pub use page::PageRequest;
pub use product::{Description, ProductName, Sku};
pub use user::{User, UserId, UserName};

/// Microseconds since the Unix epoch as an RFC 3339 UTC time, to the
/// microsecond: how the catalog shows the times it stores.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Whether `raw` is 1 to `max_chars` characters, each an ASCII letter or
/// digit or one of `punctuation`: the shape of usernames and skus.
fn is_token(raw: &str, max_chars: usize, punctuation: &[char]) -> bool {
    !raw.is_empty()
        && raw.chars().count() <= max_chars
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || punctuation.contains(&c))
}

/// Reads an integer as seed 004's Python service did with `int()`:
/// surrounding whitespace and a leading `+` are allowed.
fn parse_int(raw: &str) -> Option<i64> {
    raw.trim().parse().ok()
}
