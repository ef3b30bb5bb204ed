//! The feed scanner against serde_json, over the whole JSON grammar.
//!
//! Bodies are generated from the grammar (every escape, surrogate pairs
//! and lone surrogates, raw and escaped control characters, numbers of
//! every shape and size, nesting far past the scanner's bound), then often
//! damaged (a byte inserted, invalid UTF-8, a cut, a piece repeated), and
//! fed to the scanner in random chunks. Whatever the chunks, the scanner
//! must accept exactly the bodies serde_json parses as a feed, counting the
//! same items, and refuse the rest.
//!
//! Deliberate differences from serde_json, which the oracle states:
//! 1. Control characters (U+0000–U+001F but tab, LF and CR), and `\b`,
//!    `\f`, are refused even escaped, in keys and values (SPEC section 10,
//!    "Text"); serde_json accepts them escaped.
//! 2. Nesting deeper than [`MAX_DEPTH`] containers is refused; serde_json
//!    (recursion limit off here) accepts any depth.
//! 3. An item with several `id` members is refused if any of them is not a
//!    string or number; serde_json keeps the last. Bodies with a repeated
//!    key are left out of the property and pinned down below.
//! 4. Numbers are kept as written, whatever their size: `1e400` is a valid
//!    id. serde_json refuses numbers beyond `f64`, so exponents stay within
//!    its range in the property, and the difference is pinned down below.
//!
//! A failure prints the body and the chunk sizes; proptest also saves the
//! failing case's seed under `feed/tests/differential.proptest-regressions`
//! and replays it first on the next run. `PROPTEST_CASES` sets the number
//! of cases (default below), `PROPTEST_RNG_SEED` another fixed seed.
//!
//! Length: the grammar's generators, the deliberate differences from
//! serde_json and the property are one argument; splitting them would hide
//! which generator a difference answers.

use feed::{MAX_DEPTH, Scanner};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use serde::Deserialize as _;

/// Bodies per run: a few seconds on two cores.
const CASES: u32 = 3_000;

/// The fixed seed of `scripts/test`, so every run checks the same bodies
/// unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x6d65_7263_6174_6f21;

/// Scans `body` in chunks of the given sizes (cycling through them).
fn scan_in_chunks(body: &[u8], sizes: &[usize]) -> Result<u64, feed::FeedError> {
    let mut scanner = Scanner::checking();
    let mut rest = body;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (chunk, after) = rest.split_at(size);
        scanner.feed(chunk, &mut |_| {})?;
        rest = after;
    }
    scanner.finish()
}

fn is_refused_control(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{8}' | '\u{c}')
}

fn has_refused_control(value: &serde_json::Value) -> bool {
    let refused = |text: &str| text.chars().any(is_refused_control);
    match value {
        serde_json::Value::String(text) => refused(text),
        serde_json::Value::Array(items) => items.iter().any(has_refused_control),
        serde_json::Value::Object(members) => members
            .iter()
            .any(|(key, member)| refused(key) || has_refused_control(member)),
        _ => false,
    }
}

/// Containers nested, the outermost counting 1.
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// What the scanner must answer for `body`, from serde_json: the number of
/// items of a valid feed, or `None`.
fn oracle(body: &[u8]) -> Option<u64> {
    let mut parser = serde_json::Deserializer::from_slice(body);
    parser.disable_recursion_limit();
    let value = serde_json::Value::deserialize(&mut parser).ok()?;
    parser.end().ok()?;
    let items = value.as_array()?;
    let all_have_ids = items.iter().all(|item| {
        item.as_object()
            .and_then(|item| item.get("id"))
            .is_some_and(|id| id.is_string() || id.is_number())
    });
    // Differences 1 and 2.
    (all_have_ids && !has_refused_control(&value) && depth(&value) <= MAX_DEPTH)
        .then_some(items.len() as u64)
}

/// One piece of a string's content, as written in JSON.
fn string_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z ]{0,6}",
        1 => Just("é".to_owned()),
        1 => Just("😀".to_owned()),
        1 => prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
            .prop_map(str::to_owned),
        1 => any::<u16>().prop_map(|code| format!("\\u{code:04x}")),
        1 => (0u16..0x20).prop_map(|code| format!("\\u{code:04X}")),
        1 => Just("\\ud83d\\ude00".to_owned()),
        1 => prop::sample::select(vec!["\\ud800", "\\udfff", "\\udc00\\ud800"])
            .prop_map(str::to_owned),
        1 => (0u8..0x20).prop_map(|byte| char::from(byte).to_string()),
        1 => prop::sample::select(vec!["\\q", "\\u12", "\\uzzzz", "\\"]).prop_map(str::to_owned),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop::collection::vec(string_piece(), 0..4)
        .prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// Numbers valid and not, of every size `f64` holds (difference 4).
fn number() -> impl Strategy<Value = String> {
    let valid = (
        prop::bool::ANY,
        prop_oneof![Just("0".to_owned()), "[1-9][0-9]{0,40}"],
        prop::option::of("[0-9]{1,20}"),
        prop::option::of(("[eE]", "[+-]?", 0u32..260)),
    )
        .prop_map(|(negative, int, fraction, exponent)| {
            let mut number = String::new();
            if negative {
                number.push('-');
            }
            number.push_str(&int);
            if let Some(fraction) = fraction {
                number.push('.');
                number.push_str(&fraction);
            }
            if let Some((e, sign, power)) = exponent {
                number.push_str(&format!("{e}{sign}{power}"));
            }
            number
        });
    prop_oneof![
        6 => valid,
        1 => prop::sample::select(vec!["01", "1.", "-", "1e", ".5", "+1", "1e+", "--1", "0x1"])
            .prop_map(str::to_owned),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => string(),
        2 => number(),
        1 => prop::sample::select(vec!["true", "false", "null", "tru", "nul", "True"])
            .prop_map(str::to_owned),
    ]
}

/// Any JSON value, nested a few levels.
fn value() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((string(), inner), 0..4).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(key, value)| format!("{key}:{value}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// `value` inside `levels` arrays (difference 2 past [`MAX_DEPTH`]).
fn nested(levels: usize, value: &str) -> String {
    format!("{}{value}{}", "[".repeat(levels), "]".repeat(levels))
}

/// An item: an object with or without an `id`, the catalog's fields, and
/// anything else, each key at most once (difference 3).
fn item() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.9, prop_oneof![4 => string(), 4 => number(), 1 => value()]),
        prop::option::of(string()),
        prop::option::of(value()),
        prop::option::weighted(0.1, (0usize..300, leaf())),
        "[ \\n\\t]{0,2}",
    )
        .prop_map(|(id, name, other, deep, space)| {
            let mut members = Vec::new();
            if let Some(id) = id {
                members.push(format!("\"id\"{space}:{space}{id}"));
            }
            if let Some(name) = name {
                members.push(format!("\"name\":{name}"));
            }
            if let Some(other) = other {
                members.push(format!("\"other\":{other}"));
            }
            if let Some((levels, leaf)) = deep {
                members.push(format!("\"deep\":{}", nested(levels, &leaf)));
            }
            format!("{{{}}}", members.join(&format!(",{space}")))
        })
}

/// A feed, or something that is almost one.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let feed = (
        prop::collection::vec(item(), 0..6),
        "[ \\n]{0,2}",
        prop::option::weighted(0.1, value()),
    )
        .prop_map(|(items, space, instead)| {
            instead
                .unwrap_or_else(|| format!("{space}[{space}{}{space}]{space}", items.join(",")))
                .into_bytes()
        });
    (feed, prop::option::weighted(0.4, damage())).prop_map(|(mut body, damage)| {
        if let Some(damage) = damage {
            damage.apply(&mut body);
        }
        body
    })
}

#[derive(Debug, Clone)]
enum Damage {
    /// A byte (often invalid UTF-8 or a control byte) at this fraction of the body.
    Insert(f64, u8),
    /// The body cut at this fraction.
    Truncate(f64),
    /// A piece of the body repeated.
    Repeat(f64, usize),
}

impl Damage {
    fn apply(&self, body: &mut Vec<u8>) {
        let at = |fraction: f64, body: &Vec<u8>| ((body.len() as f64) * fraction) as usize;
        match *self {
            Self::Insert(fraction, byte) => {
                let at = at(fraction, body).min(body.len());
                body.insert(at, byte);
            }
            Self::Truncate(fraction) => body.truncate(at(fraction, body)),
            Self::Repeat(fraction, length) => {
                let start = at(fraction, body).min(body.len());
                let end = (start + length).min(body.len());
                let piece = body[start..end].to_vec();
                body.splice(start..start, piece);
            }
        }
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (
            0.0..1.0f64,
            prop_oneof![
                Just(0xff_u8),
                Just(0xc3),
                Just(0xe2),
                Just(0x80),
                Just(0x00),
                Just(b'"'),
                Just(b','),
                Just(b'\\'),
                any::<u8>()
            ]
        )
            .prop_map(|(at, byte)| Damage::Insert(at, byte)),
        (0.0..1.0f64).prop_map(Damage::Truncate),
        (0.0..1.0f64, 1usize..8).prop_map(|(at, length)| Damage::Repeat(at, length)),
    ]
}

/// Whether an object in `body` repeats a key (difference 3): such bodies
/// are judged by the pinned cases below, not by the oracle.
fn repeats_a_key(body: &[u8]) -> bool {
    #[derive(Default)]
    struct Repeats(bool);
    impl<'de> serde::Deserialize<'de> for Repeats {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Repeats;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("any JSON")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Repeats, A::Error> {
                    let mut repeats = false;
                    while let Some(Repeats(inner)) = seq.next_element()? {
                        repeats |= inner;
                    }
                    Ok(Repeats(repeats))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Repeats, A::Error> {
                    let mut keys = std::collections::HashSet::new();
                    let mut repeats = false;
                    while let Some(key) = map.next_key::<String>()? {
                        repeats |= !keys.insert(key);
                        let Repeats(inner) = map.next_value()?;
                        repeats |= inner;
                    }
                    Ok(Repeats(repeats))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Repeats, E> {
                    Ok(Repeats(false))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Repeats, E> {
                    Ok(Repeats(false))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Repeats, E> {
                    Ok(Repeats(false))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Repeats, E> {
                    Ok(Repeats(false))
                }
                fn visit_str<E>(self, _: &str) -> Result<Repeats, E> {
                    Ok(Repeats(false))
                }
                fn visit_unit<E>(self) -> Result<Repeats, E> {
                    Ok(Repeats(false))
                }
            }
            deserializer.deserialize_any(Visitor)
        }
    }
    let mut parser = serde_json::Deserializer::from_slice(body);
    parser.disable_recursion_limit();
    Repeats::deserialize(&mut parser).is_ok_and(|Repeats(repeats)| repeats)
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES);
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(SEED);
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_scanner_accepts_exactly_the_feeds_serde_json_parses_whatever_the_chunks(
        body in body(),
        chunks in prop::collection::vec(1usize..64, 1..6),
    ) {
        prop_assume!(!repeats_a_key(&body));
        let whole = scan_in_chunks(&body, &[body.len().max(1)]);
        let chunked = scan_in_chunks(&body, &chunks);
        prop_assert_eq!(&chunked, &whole, "chunks {:?} changed the verdict", chunks);
        prop_assert_eq!(
            whole.as_ref().ok().copied(),
            oracle(&body),
            "{} → {:?}",
            String::from_utf8_lossy(&body),
            whole
        );
    }
}

/// Difference 3, pinned down: every `id` member is checked.
#[test]
fn an_item_with_several_ids_is_refused_if_any_is_not_a_string_or_number() {
    for body in [r#"[{"id": 1, "id": {}}]"#, r#"[{"id": [], "id": "a"}]"#] {
        assert!(scan_in_chunks(body.as_bytes(), &[1]).is_err(), "{body}");
        assert!(
            serde_json::from_str::<serde_json::Value>(body).is_ok(),
            "serde_json keeps the last: {body}"
        );
    }
    assert_eq!(scan_in_chunks(br#"[{"id": 1, "id": "a"}]"#, &[3]), Ok(1));
}

/// Difference 4, pinned down: numbers are kept as written.
#[test]
fn numbers_beyond_f64_are_valid_ids() {
    for body in [r#"[{"id": 1e400}]"#, r#"[{"id": -1E+99999}]"#] {
        assert_eq!(scan_in_chunks(body.as_bytes(), &[2]), Ok(1), "{body}");
        assert!(serde_json::from_str::<serde_json::Value>(body).is_err());
    }
}

/// Difference 2, pinned down at the bound.
#[test]
fn nesting_is_accepted_up_to_the_bound_and_refused_past_it() {
    let at_bound = format!(r#"[{{"id": 1, "x": {}}}]"#, nested(MAX_DEPTH - 2, "0"));
    let past = format!(r#"[{{"id": 1, "x": {}}}]"#, nested(MAX_DEPTH - 1, "0"));
    assert_eq!(scan_in_chunks(at_bound.as_bytes(), &[7]), Ok(1));
    assert!(scan_in_chunks(past.as_bytes(), &[7]).is_err());
    assert_eq!(oracle(past.as_bytes()), None);
}
