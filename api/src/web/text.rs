//! The one check every text input goes through (SPEC section 10, "Text"):
//! NUL and the other C0 control characters, except tab, line feed and
//! carriage return, are refused wherever they come from (a JSON body, a
//! form, a query string, a path, a credential), naming the field.
//!
//! They are refused rather than stripped: a NUL that PostgreSQL will not
//! store, or a bell in a product name, is the client's mistake, and the
//! client should hear of it while it still has the request in hand.
//!
//! The feed scanner (`feed::Scanner`) applies the same rule to feed items
//! as they stream, with the byte offset instead of a field name.

/// Whether `c` may appear in a text input.
pub fn is_allowed(c: char) -> bool {
    !(c.is_ascii_control() && c < '\u{20}') || matches!(c, '\t' | '\n' | '\r')
}

/// A control character where text was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} contains the control character U+{code:04X}")]
pub struct ControlCharacter {
    /// Where it was: a parameter name, or a JSON path such as `items[2].name`.
    pub field: String,
    pub code: u32,
}

/// `value`, the input named `field`, holds no refused character.
pub fn check(field: &str, value: &str) -> Result<(), ControlCharacter> {
    match value.chars().find(|c| !is_allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(ControlCharacter {
            field: field.to_owned(),
            code: u32::from(c),
        }),
    }
}

/// Every name and value of a form-encoded string (a query string or a
/// form body). A name with a control character is reported as `name`.
pub fn check_form(encoded: &[u8]) -> Result<(), ControlCharacter> {
    for (name, value) in url::form_urlencoded::parse(encoded) {
        check("a parameter name", &name)?;
        check(&name, &value)?;
    }
    Ok(())
}

/// Every string of a JSON body, keys included. Raw control characters
/// cannot appear in valid JSON, so only escapes (`\u0000`, `\b`, `\f`)
/// can smuggle one in: the body is scanned for those first, without
/// parsing, and parsed only to name the field when one is found. A body
/// that is not JSON passes, for the JSON decoder to refuse.
pub fn check_json(body: &[u8]) -> Result<(), ControlCharacter> {
    if !has_control_escape(body) {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => check_json_value("body", &value),
        Err(_) => Ok(()),
    }
}

/// [`check`] on every string in `value`, keys included; `path` names it.
pub fn check_json_value(path: &str, value: &serde_json::Value) -> Result<(), ControlCharacter> {
    match value {
        serde_json::Value::String(text) => check(path, text),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_json_value(&format!("{path}[{i}]"), item)),
        serde_json::Value::Object(members) => members.iter().try_for_each(|(key, member)| {
            let path = match path {
                "body" => key.clone(),
                _ => format!("{path}.{key}"),
            };
            check("a member name", key)?;
            check_json_value(&path, member)
        }),
        _ => Ok(()),
    }
}

/// Whether `body` holds a JSON escape that decodes to a refused character.
fn has_control_escape(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = rest.iter().position(|b| *b == b'\\') {
        let escape = &rest[at + 1..];
        match escape.first() {
            Some(b'b' | b'f') => return true,
            Some(b'u') => {
                let code = escape
                    .get(1..5)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                if code
                    .and_then(char::from_u32)
                    .is_some_and(|c| !is_allowed(c))
                {
                    return true;
                }
            }
            _ => {}
        }
        // Skip the escaped character too, so `\\u0000` (a backslash, then
        // the text "u0000") is not mistaken for an escape.
        rest = escape.get(1..).unwrap_or_default();
    }
    false
}

impl From<ControlCharacter> for platform::Error {
    fn from(e: ControlCharacter) -> Self {
        Self::BadRequest(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c0_controls_are_refused_but_tab_and_line_ends() {
        for c in [
            '\0', '\u{1}', '\u{7}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}',
        ] {
            assert!(!is_allowed(c), "{c:?}");
        }
        for c in ['\t', '\n', '\r', ' ', 'a', '\u{7f}', 'é', '€'] {
            assert!(is_allowed(c), "{c:?}");
        }
    }

    #[test]
    fn the_error_names_the_field_and_the_character() {
        let error = check("name", "me\0sa").expect_err("a NUL");
        assert_eq!(
            error.to_string(),
            "name contains the control character U+0000"
        );
    }

    #[test]
    fn json_escapes_of_controls_are_found_with_their_path() {
        let error = check_json(br#"{"items": [{"name": "ok"}, {"name": "a\u0000b"}]}"#)
            .expect_err("an escaped NUL");
        assert_eq!(error.field, "items[1].name");
        assert_eq!(error.code, 0);
        let error = check_json(br#"{"name": "bell\b"}"#).expect_err("a backspace");
        assert_eq!(error.field, "name");
        let error = check_json(br#"{"na\u001fme": "x"}"#).expect_err("in a key");
        assert_eq!(error.field, "a member name");
    }

    #[test]
    fn allowed_escapes_and_escaped_backslashes_pass() {
        assert!(check_json(br#"{"name": "tab\tline\nreturn\r\u0009\u00e9"}"#).is_ok());
        assert!(check_json(br#"{"path": "C:\\u0000\\b"}"#).is_ok());
        assert!(
            check_json(b"not json \\u0000").is_ok(),
            "left to the decoder"
        );
    }

    #[test]
    fn forms_are_checked_after_percent_decoding() {
        assert!(check_form(b"name=mesa&price=5").is_ok());
        let error = check_form(b"price=5&name=me%00sa").expect_err("a NUL");
        assert_eq!(error.field, "name");
        assert!(check_form(b"na%07me=x").is_err());
    }
}
