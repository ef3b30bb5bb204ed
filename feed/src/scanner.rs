//! An incremental checker for the feed's JSON, fed chunk by chunk.
//!
//! It is a byte-level state machine over the JSON grammar (RFC 8259),
//! with a stack of open containers as its only growing state, bounded by
//! [`MAX_DEPTH`]. Chunks may split the body anywhere, even inside a
//! string, a number or a multi-byte character. Inside strings, which
//! carry most of a feed's bytes, it jumps from quote to backslash with
//! `memchr` instead of stepping byte by byte.
//!
//! On top of the grammar it checks the feed's shape: the body is one
//! array, every element an object, and every object has an `id` that is a
//! string or a number. Keys are compared after unescaping, so `"\u0069d"`
//! is an `id` too.
//!
//! Length: one state machine over the JSON grammar, whose states only make
//! sense together; about 200 of the lines are its unit tests.

use std::fmt;

/// Containers nested deeper than this are refused, so a hostile body
/// cannot grow the stack without bound.
pub const MAX_DEPTH: usize = 256;

/// How many raw JSON bytes of each item field an extracting scanner
/// keeps; a longer value is not kept, only marked [`Field::TooLong`]. The
/// applier sets them from the catalog's own bounds, so whatever a feed's
/// items look like, applying it holds little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLimits {
    pub id: usize,
    pub name: usize,
    pub description: usize,
}

impl FieldLimits {
    /// Raw JSON bytes that hold any string of `chars` characters however
    /// it is written: 12 for a character escaped as a surrogate pair
    /// (`\ud83d\ude00`), and the two quotes.
    pub const fn for_chars(chars: usize) -> usize {
        chars * 12 + 2
    }
}

impl Default for FieldLimits {
    /// 64 KiB each.
    fn default() -> Self {
        Self {
            id: 64 * 1024,
            name: 64 * 1024,
            description: 64 * 1024,
        }
    }
}

/// Keys longer than this are not item fields the scanner looks for.
const MAX_KEY_BYTES: usize = 64;

/// The first problem in a feed, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedError {
    /// Bytes from the start of the body to the offending byte; the body's
    /// length when the body ended too early.
    pub offset: u64,
    pub problem: String,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.problem, self.offset)
    }
}

impl std::error::Error for FeedError {}

/// One of an item's fields, as it appeared in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A JSON string, already unescaped.
    String(String),
    /// A JSON number, as written (`12`, `-1.5e3`).
    Number(String),
    /// An object, an array, `true`, `false` or `null`.
    Other,
    /// More than the scanner keeps ([`FieldLimits`]).
    TooLong,
}

/// The fields of one item that the catalog uses, handed over by
/// [`Scanner::extracting`] as each item closes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawItem {
    /// Position in the feed's array, from 0.
    pub index: u64,
    /// Bytes of the body up to and including the item's closing brace:
    /// how far a reader has got once it has this item.
    pub end: u64,
    /// Always present: an item without one is a malformed feed.
    pub id: Option<Field>,
    pub name: Option<Field>,
    pub description: Option<Field>,
}

/// See the module documentation.
pub struct Scanner {
    /// Bytes consumed in earlier chunks.
    offset: u64,
    state: State,
    /// Open containers, innermost last: `true` for an object.
    stack: Vec<bool>,
    /// Items closed so far.
    items: u64,
    /// Whether the item being read has an `id`.
    has_id: bool,
    /// Whether to capture the item fields for [`RawItem`].
    extracting: bool,
    limits: FieldLimits,
    /// The current item's fields (when extracting).
    item: RawItem,
    /// Raw bytes of a depth-2 key while it is read.
    key: Vec<u8>,
    key_has_escape: bool,
    /// The item field the value being read belongs to.
    field: Option<ItemField>,
    /// Raw bytes of the field value being captured.
    capture: Vec<u8>,
    /// The start of a multi-byte UTF-8 character cut off by a chunk's end.
    utf8_carry: Vec<u8>,
    /// Where the `\uD8xx` escape of a high surrogate starts, while the
    /// low surrogate that must follow it has not come yet.
    pending_high: Option<u64>,
    /// Sticky: once set, every call returns it.
    error: Option<FeedError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// Right after `[`: a value or `]`.
    ArrayStart,
    /// After `:` or an array's `,`: a value.
    Value,
    /// Right after `{`: a key or `}`.
    ObjectStart,
    /// After an object's `,`: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the closing bracket.
    AfterValue,
    /// Inside a string; `key` tells a key from a value.
    String {
        key: bool,
    },
    /// After a backslash in a string.
    Escape {
        key: bool,
    },
    /// Inside `\uXXXX`, with this many hex digits to go and the value
    /// of those read so far.
    Unicode {
        key: bool,
        left: u8,
        code: u16,
    },
    Number(Number),
    /// Inside `true`, `false` or `null`, `at` bytes in.
    Literal {
        word: &'static [u8],
        at: usize,
    },
    /// After the closing `]`: only whitespace may follow.
    Done,
}

/// Where a number is in the grammar `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Minus,
    Zero,
    Integer,
    Dot,
    Fraction,
    Exponent,
    ExponentSign,
    ExponentDigits,
}

impl Number {
    /// Whether a number may end here.
    fn complete(self) -> bool {
        matches!(
            self,
            Self::Zero | Self::Integer | Self::Fraction | Self::ExponentDigits
        )
    }

    /// The state after `byte`, `None` when `byte` ends the number.
    fn next(self, byte: u8) -> Option<Self> {
        use Number::*;
        match (self, byte) {
            (Minus, b'0') => Some(Zero),
            (Minus, b'1'..=b'9') => Some(Integer),
            (Zero | Integer | Fraction, b'e' | b'E') => Some(Exponent),
            (Zero | Integer, b'.') => Some(Dot),
            (Integer, b'0'..=b'9') => Some(Integer),
            (Dot | Fraction, b'0'..=b'9') => Some(Fraction),
            (Exponent, b'+' | b'-') => Some(ExponentSign),
            (Exponent | ExponentSign | ExponentDigits, b'0'..=b'9') => Some(ExponentDigits),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemField {
    Id,
    Name,
    Description,
}

/// NUL and the other C0 control characters but tab, line feed and
/// carriage return: the catalog refuses them (SPEC section 10, "Text"), so
/// a feed whose strings escape one (`\u0000`, `\b`, `\f`) is refused at
/// `POST` time, with the escape's offset, rather than failing later.
/// The same rule as `api::web::text` for every other input.
fn is_refused_control(code: u16) -> bool {
    code < 0x20 && !matches!(code, 0x09 | 0x0a | 0x0d)
}

/// The error for an escaped control character starting at byte `at`.
/// A `\uD800`–`\uDFFF` escape that is not half of a surrogate pair: it
/// stands for no character, and no text can hold it.
fn lone_surrogate(scanner: &Scanner, at: u64) -> FeedError {
    scanner.error_at(at, "lone surrogate in a \\u escape")
}

fn control_escape(scanner: &Scanner, at: u64) -> FeedError {
    scanner.error_at(at, "escaped control character in a string")
}

/// Whether `bytes` holds a C0 control character (below 0x20), eight bytes
/// at a time: a byte below 0x20 is one whose subtraction of 0x20 borrows
/// while its own high bit is clear (the "has less than" test of the bit
/// twiddling hacks, exact for the yes-or-no answer). A fold over single
/// bytes ran a byte, or at best four, at a time.
fn has_control(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut found = 0;
    for word in &mut words {
        let word = u64::from_ne_bytes(<[u8; 8]>::try_from(word).unwrap_or([0xff; 8]));
        found |= word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    }
    found != 0 || words.remainder().iter().any(|&byte| byte < 0x20)
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl Scanner {
    /// A scanner that only checks and counts.
    pub fn checking() -> Self {
        Self::new(false)
    }

    /// A scanner that also hands over each item's fields, each kept up to
    /// 64 KiB.
    pub fn extracting() -> Self {
        Self::extracting_within(FieldLimits::default())
    }

    /// A scanner that hands over each item's fields, each kept up to its
    /// limit.
    pub fn extracting_within(limits: FieldLimits) -> Self {
        Self {
            limits,
            ..Self::new(true)
        }
    }

    fn new(extracting: bool) -> Self {
        Self {
            offset: 0,
            state: State::Start,
            stack: Vec::new(),
            items: 0,
            has_id: false,
            extracting,
            limits: FieldLimits::default(),
            item: RawItem::default(),
            key: Vec::new(),
            key_has_escape: false,
            field: None,
            capture: Vec::new(),
            utf8_carry: Vec::new(),
            pending_high: None,
            error: None,
        }
    }

    /// Items completed so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Scans the next chunk, calling `on_item` for each item that closes
    /// in it (always with empty fields unless [`Scanner::extracting`]).
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_item: &mut impl FnMut(&RawItem),
    ) -> Result<(), FeedError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let grammar = self.scan(chunk, on_item);
        let encoding = self.check_utf8(chunk);
        let outcome = match (grammar, encoding) {
            (Err(a), Err(b)) => Err(if b.offset < a.offset { b } else { a }),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(())) => Ok(()),
        };
        self.offset += chunk.len() as u64;
        if let Err(e) = &outcome {
            self.error = Some(e.clone());
        }
        outcome
    }

    /// The number of items, once the body has ended; an error if the body
    /// stopped before the array closed.
    pub fn finish(self) -> Result<u64, FeedError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if !self.utf8_carry.is_empty() {
            return Err(self.error_at(self.offset, "the body ends inside a UTF-8 character"));
        }
        match self.state {
            State::Done => Ok(self.items),
            State::Start => Err(self.error_at(
                self.offset,
                "the body is empty: a feed is a JSON array of products",
            )),
            _ => Err(self.error_at(self.offset, "the body ends before the array is closed")),
        }
    }

    fn error_at(&self, offset: u64, problem: impl Into<String>) -> FeedError {
        FeedError {
            offset,
            problem: problem.into(),
        }
    }

    /// Checks that the chunk continues valid UTF-8, holding back a
    /// character cut off at its end until the next chunk.
    fn check_utf8(&mut self, chunk: &[u8]) -> Result<(), FeedError> {
        let mut start = 0;
        if let Some(&lead) = self.utf8_carry.first() {
            let length = match lead {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (length - self.utf8_carry.len()).min(chunk.len());
            self.utf8_carry.extend_from_slice(&chunk[..take]);
            if self.utf8_carry.len() < length {
                return Ok(());
            }
            let started_at = self.offset - (self.utf8_carry.len() - take) as u64;
            if std::str::from_utf8(&self.utf8_carry).is_err() {
                return Err(self.error_at(started_at, "invalid UTF-8"));
            }
            self.utf8_carry.clear();
            start = take;
        }
        match std::str::from_utf8(&chunk[start..]) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.utf8_carry
                    .extend_from_slice(&chunk[start + e.valid_up_to()..]);
                Ok(())
            }
            Err(e) => Err(self.error_at(
                self.offset + (start + e.valid_up_to()) as u64,
                "invalid UTF-8",
            )),
        }
    }

    fn scan(&mut self, chunk: &[u8], on_item: &mut impl FnMut(&RawItem)) -> Result<(), FeedError> {
        let mut i = 0;
        while i < chunk.len() {
            let byte = chunk[i];
            let at = self.offset + i as u64;
            match self.state {
                State::String { key } => {
                    // Most of a feed is string content: jump to the next quote or backslash.
                    let rest = &chunk[i..];
                    let end = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    let span = &rest[..end];
                    // The position is looked for only in the rare bad case.
                    if has_control(span) {
                        let control = span.iter().position(|&b| b < 0x20).unwrap_or(0);
                        return Err(self.error_at(
                            at + control as u64,
                            "control character inside a string: escape it",
                        ));
                    }
                    if let Some(high) = self.pending_high
                        && (end > 0 || chunk.get(i + end) == Some(&b'"'))
                    {
                        return Err(lone_surrogate(self, high));
                    }
                    self.keep(key, span);
                    i += end;
                    if let Some(&stop) = chunk.get(i) {
                        self.keep(key, &[stop]);
                        i += 1;
                        if stop == b'"' {
                            self.end_string(key);
                            i = self.skip_to_next_string(chunk, i)?;
                        } else {
                            if key {
                                self.key_has_escape = true;
                            }
                            self.state = State::Escape { key };
                        }
                    }
                    continue;
                }
                State::Escape { key } => {
                    if let Some(high) = self.pending_high
                        && byte != b'u'
                    {
                        return Err(lone_surrogate(self, high));
                    }
                    self.keep(key, &[byte]);
                    self.state = match byte {
                        b'b' | b'f' => return Err(control_escape(self, at - 1)),
                        b'"' | b'\\' | b'/' | b'n' | b'r' | b't' => State::String { key },
                        b'u' => State::Unicode {
                            key,
                            left: 4,
                            code: 0,
                        },
                        _ => return Err(self.error_at(at, "invalid escape in a string")),
                    };
                }
                State::Unicode { key, left, code } => {
                    let Some(digit) = char::from(byte).to_digit(16) else {
                        return Err(self.error_at(at, "invalid \\u escape: expected 4 hex digits"));
                    };
                    let code = code << 4 | digit as u16;
                    self.keep(key, &[byte]);
                    self.state = match left {
                        1 => {
                            let escape = at - 5;
                            match (self.pending_high, code) {
                                (None, 0xD800..=0xDBFF) => self.pending_high = Some(escape),
                                (Some(_), 0xDC00..=0xDFFF) => self.pending_high = None,
                                (Some(high), _) => return Err(lone_surrogate(self, high)),
                                (None, 0xDC00..=0xDFFF) => {
                                    return Err(lone_surrogate(self, escape));
                                }
                                (None, code) if is_refused_control(code) => {
                                    return Err(control_escape(self, escape));
                                }
                                (None, _) => {}
                            }
                            State::String { key }
                        }
                        left => State::Unicode {
                            key,
                            left: left - 1,
                            code,
                        },
                    };
                }
                State::Number(number) => match number.next(byte) {
                    Some(next) => {
                        self.keep(false, &[byte]);
                        self.state = State::Number(next);
                    }
                    None if number.complete() => {
                        self.end_value();
                        // The byte after a number is read again, as what follows a value.
                        continue;
                    }
                    None => return Err(self.error_at(at, "invalid number")),
                },
                State::Literal { word, at: done } => {
                    if byte != word[done] {
                        return Err(
                            self.error_at(at, "invalid literal: expected true, false or null")
                        );
                    }
                    if done + 1 == word.len() {
                        self.end_value();
                    } else {
                        self.state = State::Literal { word, at: done + 1 };
                    }
                }
                _ if is_whitespace(byte) => {}
                State::Start => {
                    if byte != b'[' {
                        return Err(
                            self.error_at(at, "expected `[`: a feed is a JSON array of products")
                        );
                    }
                    self.stack.push(false);
                    self.state = State::ArrayStart;
                }
                State::ArrayStart if byte == b']' => self.close(false, at, on_item)?,
                State::ArrayStart | State::Value => self.begin_value(byte, at)?,
                State::ObjectStart if byte == b'}' => self.close(true, at, on_item)?,
                State::ObjectStart | State::Key => {
                    if byte != b'"' {
                        return Err(self.error_at(at, "expected a key in double quotes"));
                    }
                    self.key.clear();
                    self.key_has_escape = false;
                    self.state = State::String { key: true };
                }
                State::Colon => {
                    if byte != b':' {
                        return Err(self.error_at(at, "expected `:` after a key"));
                    }
                    self.state = State::Value;
                }
                State::AfterValue => {
                    let in_object = self.stack.last().copied().unwrap_or(false);
                    match (byte, in_object) {
                        (b',', true) => self.state = State::Key,
                        (b',', false) => self.state = State::Value,
                        (b'}', true) => self.close(true, at, on_item)?,
                        (b']', false) => self.close(false, at, on_item)?,
                        (_, true) => return Err(self.error_at(at, "expected `,` or `}`")),
                        (_, false) => return Err(self.error_at(at, "expected `,` or `]`")),
                    }
                }
                State::Done => {
                    return Err(self.error_at(at, "unexpected data after the end of the array"));
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Right after a string: takes the bytes that most often come next,
    /// `: "` after a key and `, "` after a value in an object, straight
    /// into the next string, and returns where it stopped. It makes
    /// exactly the moves [`Scanner::scan`] makes for those bytes, and
    /// leaves any other byte (and the end of the chunk) to it: a
    /// shortcut past the per-byte dispatch, which costs most where
    /// strings are short.
    #[inline]
    fn skip_to_next_string(&mut self, chunk: &[u8], mut i: usize) -> Result<usize, FeedError> {
        let skip_whitespace = |mut i: usize| {
            while chunk.get(i).is_some_and(|&b| is_whitespace(b)) {
                i += 1;
            }
            i
        };
        let (separator, next) = match self.state {
            State::Colon => (b':', State::Value),
            State::AfterValue if self.stack.last() == Some(&true) => (b',', State::Key),
            _ => return Ok(i),
        };
        i = skip_whitespace(i);
        if chunk.get(i) != Some(&separator) {
            return Ok(i);
        }
        self.state = next;
        i = skip_whitespace(i + 1);
        if chunk.get(i) != Some(&b'"') {
            return Ok(i);
        }
        if next == State::Value {
            self.begin_value(b'"', self.offset + i as u64)?;
        } else {
            self.key.clear();
            self.key_has_escape = false;
            self.state = State::String { key: true };
        }
        Ok(i + 1)
    }

    /// Keeps string or number bytes that belong to a depth-2 key or a
    /// captured field value.
    #[inline]
    fn keep(&mut self, key: bool, bytes: &[u8]) {
        if key {
            if self.stack.len() == 2 && self.key.len() <= MAX_KEY_BYTES {
                self.key.extend_from_slice(bytes);
            }
        } else if self.extracting
            && let Some(field) = self.field
            && self.capture.len() <= self.limit_of(field)
        {
            self.capture.extend_from_slice(bytes);
        }
    }

    #[inline]
    fn limit_of(&self, field: ItemField) -> usize {
        match field {
            ItemField::Id => self.limits.id,
            ItemField::Name => self.limits.name,
            ItemField::Description => self.limits.description,
        }
    }

    #[inline]
    fn begin_value(&mut self, byte: u8, at: u64) -> Result<(), FeedError> {
        let depth = self.stack.len();
        if !matches!(
            byte,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        ) {
            return Err(self.error_at(at, "expected a value"));
        }
        if depth == 1 && byte != b'{' {
            return Err(self.error_at(at, format!("items[{}] is not an object", self.items)));
        }
        if depth == 2
            && self.field == Some(ItemField::Id)
            && !matches!(byte, b'"' | b'-' | b'0'..=b'9')
        {
            return Err(self.error_at(
                at,
                format!("items[{}].id must be a string or a number", self.items),
            ));
        }
        self.capture.clear();
        match byte {
            b'{' | b'[' => {
                if depth == 2 {
                    self.set_field(Field::Other);
                }
                if depth >= MAX_DEPTH {
                    return Err(self.error_at(at, format!("nested deeper than {MAX_DEPTH} levels")));
                }
                if depth == 1 {
                    self.has_id = false;
                    self.item = RawItem {
                        index: self.items,
                        ..RawItem::default()
                    };
                }
                let object = byte == b'{';
                self.stack.push(object);
                self.state = if object {
                    State::ObjectStart
                } else {
                    State::ArrayStart
                };
            }
            b'"' => {
                self.keep(false, &[byte]);
                self.state = State::String { key: false };
            }
            b'-' => {
                self.keep(false, &[byte]);
                self.state = State::Number(Number::Minus);
            }
            b'0' => {
                self.keep(false, &[byte]);
                self.state = State::Number(Number::Zero);
            }
            b'1'..=b'9' => {
                self.keep(false, &[byte]);
                self.state = State::Number(Number::Integer);
            }
            b't' => {
                self.state = State::Literal {
                    word: b"true",
                    at: 1,
                }
            }
            b'f' => {
                self.state = State::Literal {
                    word: b"false",
                    at: 1,
                }
            }
            b'n' => {
                self.state = State::Literal {
                    word: b"null",
                    at: 1,
                }
            }
            _ => unreachable!("checked above"),
        }
        Ok(())
    }

    #[inline]
    fn end_string(&mut self, key: bool) {
        if key {
            self.field = if self.stack.len() == 2 {
                self.item_field()
            } else {
                None
            };
            self.state = State::Colon;
        } else {
            self.end_value();
        }
    }

    /// Which item field the key just read names, if any.
    fn item_field(&self) -> Option<ItemField> {
        // `key` holds the raw key with its closing quote.
        let raw = self.key.strip_suffix(b"\"")?;
        let unescaped;
        let name: &[u8] = if self.key_has_escape {
            let mut quoted = Vec::with_capacity(raw.len() + 2);
            quoted.push(b'"');
            quoted.extend_from_slice(raw);
            quoted.push(b'"');
            unescaped = serde_json::from_slice::<String>(&quoted).ok()?;
            unescaped.as_bytes()
        } else {
            raw
        };
        match name {
            b"id" => Some(ItemField::Id),
            b"name" => Some(ItemField::Name),
            b"description" => Some(ItemField::Description),
            _ => None,
        }
    }

    /// A string, number or literal has ended.
    #[inline]
    fn end_value(&mut self) {
        if self.stack.len() == 2 && self.field.is_some() {
            let value = match self.state {
                _ if !self.extracting => Field::Other,
                _ if self
                    .field
                    .is_some_and(|field| self.capture.len() > self.limit_of(field)) =>
                {
                    Field::TooLong
                }
                State::String { .. } => serde_json::from_slice::<String>(&self.capture)
                    .map_or(Field::Other, Field::String),
                State::Number(_) => {
                    Field::Number(String::from_utf8_lossy(&self.capture).into_owned())
                }
                _ => Field::Other,
            };
            self.set_field(value);
        }
        self.state = State::AfterValue;
    }

    /// Records the value of the item field just read.
    #[inline]
    fn set_field(&mut self, value: Field) {
        match self.field.take() {
            Some(ItemField::Id) => {
                self.has_id = true;
                self.item.id = Some(value);
            }
            Some(ItemField::Name) => self.item.name = Some(value),
            Some(ItemField::Description) => self.item.description = Some(value),
            None => {}
        }
    }

    fn close(
        &mut self,
        object: bool,
        at: u64,
        on_item: &mut impl FnMut(&RawItem),
    ) -> Result<(), FeedError> {
        self.stack.pop();
        self.field = None;
        match self.stack.len() {
            0 => {
                self.state = State::Done;
                return Ok(());
            }
            1 if object => {
                if !self.has_id {
                    return Err(self.error_at(at, format!("items[{}] has no `id`", self.items)));
                }
                self.item.end = at + 1;
                on_item(&self.item);
                self.items += 1;
            }
            _ => {}
        }
        self.state = State::AfterValue;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `body` in chunks of `size` bytes.
    fn scan_in_chunks(body: &[u8], size: usize) -> Result<u64, FeedError> {
        let mut scanner = Scanner::checking();
        for chunk in body.chunks(size.max(1)) {
            scanner.feed(chunk, &mut |_| {})?;
        }
        scanner.finish()
    }

    fn scan(body: &str) -> Result<u64, FeedError> {
        scan_in_chunks(body.as_bytes(), body.len())
    }

    fn problem(body: &str) -> FeedError {
        scan(body).expect_err("a malformed feed")
    }

    fn extract(body: &str) -> Vec<RawItem> {
        let mut items = Vec::new();
        let mut scanner = Scanner::extracting();
        scanner
            .feed(body.as_bytes(), &mut |item| items.push(item.clone()))
            .expect("a valid feed");
        scanner.finish().expect("a valid feed");
        items
    }

    #[test]
    fn the_seed_example_is_one_item() {
        assert_eq!(scan(r#"[{"id": "123", "name": "mesa"}]"#), Ok(1));
    }

    #[test]
    fn an_empty_array_is_a_feed_of_no_items() {
        assert_eq!(scan(" [ ] \n"), Ok(0));
    }

    #[test]
    fn ids_may_be_strings_or_numbers_and_items_may_carry_anything_else() {
        let body = r#"[
            {"id": 1, "tags": ["a", {"deep": [true, false, null]}], "price": -12.5e-3},
            {"name": "x", "id": "a\"b\\c\u00e9", "attrs": {"id": {"not": "the item id"}}},
            {"\u0069d": 0}
        ]"#;

        assert_eq!(scan(body), Ok(3));
    }

    #[test]
    fn each_problem_is_named_with_its_byte_offset() {
        let cases = [
            (r#"{"id": 1}"#, 0, "expected `[`"),
            (r#"[{"id": 1}, 2]"#, 12, "items[1] is not an object"),
            (r#"[{"id": 1}, {"name": "x"}]"#, 24, "items[1] has no `id`"),
            (
                r#"[{"id": null}]"#,
                8,
                "items[0].id must be a string or a number",
            ),
            (
                r#"[{"id": 1}] x"#,
                12,
                "unexpected data after the end of the array",
            ),
            (
                r#"[{"id": 1}"#,
                10,
                "the body ends before the array is closed",
            ),
            (r#"[{"id": 1},]"#, 11, "expected a value"),
            (r#"[{"id": 01}]"#, 9, "expected `,` or `}`"),
            (r#"[{"id": 1.}]"#, 10, "invalid number"),
            (r#"[{"id": 1, "a": tru}]"#, 19, "invalid literal"),
            (r#"[{"id": "a\x"}]"#, 11, "invalid escape"),
            (
                r#"[{"id": "1", "name": "a\u0000"}]"#,
                23,
                "escaped control character",
            ),
            (
                r#"[{"id": "1", "name": "\b"}]"#,
                22,
                "escaped control character",
            ),
            ("[{\"id\": \"a\tb\"}]", 10, "control character"),
            (r#"[{"id" 1}]"#, 7, "expected `:`"),
            (r#"[{id: 1}]"#, 2, "expected a key"),
            ("", 0, "the body is empty"),
        ];
        for (body, offset, problem) in cases {
            let error = self::problem(body);
            assert_eq!(error.offset, offset, "{body}: {error}");
            assert!(error.problem.contains(problem), "{body}: {error}");
        }
    }

    #[test]
    fn has_control_finds_any_byte_below_0x20_wherever_it_is() {
        for length in 0..40 {
            assert!(!has_control(&vec![b'a'; length]));
            for at in 0..length {
                for byte in [0x00, 0x01, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0x9f, 0xa0, 0xff] {
                    let mut bytes = vec![b' '; length];
                    bytes[at] = byte;
                    assert_eq!(
                        has_control(&bytes),
                        byte < 0x20,
                        "{byte:#x} at {at} of {length}"
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_refused_where_it_starts() {
        let mut body = br#"[{"id": "ab"#.to_vec();
        body.extend_from_slice(&[0xFF, b'"', b'}', b']']);

        let error = scan_in_chunks(&body, body.len()).expect_err("invalid UTF-8");

        assert_eq!(error.offset, 11);
        assert!(error.problem.contains("UTF-8"), "{error}");
    }

    #[test]
    fn nesting_is_bounded() {
        let body = format!(r#"[{{"id": 1, "a": {}}}]"#, "[".repeat(MAX_DEPTH));

        assert!(problem(&body).problem.contains("nested deeper"));
    }

    #[test]
    fn extracting_hands_over_id_name_and_description_unescaped() {
        let items = extract(
            r#"[{"id": "a\u00e9", "name": "Mesa \"grande\"", "x": 1},
                {"id": -3.5e2, "description": "d", "name": ["not", "a", "string"]}]"#,
        );

        assert_eq!(
            items,
            [
                RawItem {
                    index: 0,
                    end: 53,
                    id: Some(Field::String("aé".into())),
                    name: Some(Field::String("Mesa \"grande\"".into())),
                    description: None,
                },
                RawItem {
                    index: 1,
                    end: 137,
                    id: Some(Field::Number("-3.5e2".into())),
                    name: Some(Field::Other),
                    description: Some(Field::String("d".into())),
                },
            ]
        );
    }

    #[test]
    fn a_huge_field_is_marked_too_long_not_kept() {
        let body = format!(
            r#"[{{"id": 1, "description": "{}"}}]"#,
            "x".repeat(FieldLimits::default().description + 10)
        );

        let items = extract(&body);

        assert_eq!(items[0].description, Some(Field::TooLong));
    }

    #[test]
    fn a_surrogate_escape_must_be_half_of_a_pair() {
        assert_eq!(scan(r#"[{"id": "\ud83d\ude00"}]"#), Ok(1));
        for (body, offset) in [
            (r#"[{"id": "\ud800"}]"#, 9),
            (r#"[{"id": "\udc00"}]"#, 9),
            (r#"[{"id": "a\ud800b"}]"#, 10),
            (r#"[{"id": "\ud800\u0041"}]"#, 9),
            (r#"[{"id": "\ud800\n"}]"#, 9),
            (r#"[{"id": 1, "\ud800": 2}]"#, 12),
        ] {
            let error = problem(body);
            assert_eq!(
                (error.problem.as_str(), error.offset),
                ("lone surrogate in a \\u escape", offset),
                "{body}"
            );
            for size in 1..4 {
                assert_eq!(scan_in_chunks(body.as_bytes(), size), Err(error.clone()));
            }
        }
    }

    #[test]
    fn each_field_is_kept_up_to_its_own_limit_however_it_is_escaped() {
        let limits = FieldLimits {
            id: FieldLimits::for_chars(4),
            name: FieldLimits::for_chars(3),
            description: FieldLimits::for_chars(3),
        };
        // Three characters, each as a surrogate pair: the longest spelling.
        let escaped = r"\ud83d\ude00".repeat(3);
        let body =
            format!(r#"[{{"id": "abcd", "name": "{escaped}", "description": "{escaped}x"}}]"#);
        let mut items = Vec::new();
        let mut scanner = Scanner::extracting_within(limits);
        scanner
            .feed(body.as_bytes(), &mut |item| items.push(item.clone()))
            .expect("a valid feed");
        scanner.finish().expect("a valid feed");

        assert_eq!(items[0].id, Some(Field::String("abcd".into())));
        assert_eq!(items[0].name, Some(Field::String("😀".repeat(3))));
        assert_eq!(items[0].description, Some(Field::TooLong));
    }
}
