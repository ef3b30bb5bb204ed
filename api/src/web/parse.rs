//! Small parsers the features' models share: the shape of a token (usernames,
//! skus), seed 004's integers, and how the catalog shows a time.

/// Microseconds since the Unix epoch as an RFC 3339 UTC time, to the
/// microsecond: how the catalog shows the times it stores.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Whether `raw` is 1 to `max_chars` characters, each an ASCII letter or
/// digit or one of `punctuation`: the shape of usernames and skus.
pub(crate) fn is_token(raw: &str, max_chars: usize, punctuation: &[char]) -> bool {
    !raw.is_empty()
        && raw.chars().count() <= max_chars
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || punctuation.contains(&c))
}

/// Reads an integer as seed 004's Python service did with `int()`:
/// surrounding whitespace and a leading `+` are allowed.
pub(crate) fn parse_int(raw: &str) -> Option<i64> {
    raw.trim().parse().ok()
}
