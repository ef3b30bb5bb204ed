//! Small parsers the features' models share: the shape of a token (usernames,
//! skus) and seed 004's integers.

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
