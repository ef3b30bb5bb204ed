//! A body's identity, and the one pass that hashes and checks it.

use std::fmt;

use crate::scanner::{FeedError, Scanner};

/// The BLAKE3 hash of a whole feed body: two bodies are the same feed
/// exactly when their hashes are equal. Shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyHash([u8; 32]);

impl BodyHash {
    /// The hash of a body held in memory whole.
    pub fn of(body: &[u8]) -> Self {
        Self(*blake3::hash(body).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads the hash back from its 64 hex digits, as [`fmt::Display`]
    /// writes them (and the database stores them).
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

impl fmt::Display for BodyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BodyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyHash({self})")
    }
}

/// Hashes a body chunk by chunk.
#[derive(Default)]
pub struct BodyHasher(blake3::Hasher);

impl BodyHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    pub fn finish(&self) -> BodyHash {
        BodyHash(*self.0.finalize().as_bytes())
    }
}

/// Hashes, measures and checks a body in one pass, chunk by chunk.
pub struct Inspection {
    hasher: blake3::Hasher,
    scanner: Scanner,
    size: u64,
}

/// What an [`Inspection`] found in a complete, valid body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub hash: BodyHash,
    /// Bytes in the body.
    pub size: u64,
    /// Products in the feed.
    pub items: u64,
}

impl Default for Inspection {
    fn default() -> Self {
        Self::new()
    }
}

impl Inspection {
    pub fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            scanner: Scanner::checking(),
            size: 0,
        }
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next chunk. After the first problem every call returns it
    /// again; the caller may stop reading the body there.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), FeedError> {
        self.size += chunk.len() as u64;
        self.scanner.feed(chunk, &mut |_| {})?;
        self.hasher.update(chunk);
        Ok(())
    }

    /// The verdict once the last byte has arrived.
    pub fn finish(self) -> Result<Inspected, FeedError> {
        let items = self.scanner.finish()?;
        Ok(Inspected {
            hash: BodyHash(*self.hasher.finalize().as_bytes()),
            size: self.size,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_reads_back_from_its_hex_and_nothing_else_does() {
        let hash = BodyHash::of(b"[]");
        assert_eq!(BodyHash::from_hex(&hash.to_string()), Some(hash));
        assert_eq!(BodyHash::from_hex("00"), None);
        assert_eq!(BodyHash::from_hex(&"zz".repeat(32)), None);
        assert_eq!(BodyHash::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn a_body_hashed_in_chunks_has_the_hash_of_the_whole() {
        let body = br#"[{"id": "123", "name": "mesa"}, {"id": 7}]"#;
        let mut inspection = Inspection::new();
        for chunk in body.chunks(5) {
            inspection.update(chunk).expect("a valid feed");
        }

        let inspected = inspection.finish().expect("a valid feed");

        assert_eq!(inspected.hash, BodyHash::of(body));
        assert_eq!(inspected.size, body.len() as u64);
        assert_eq!(inspected.items, 2);
    }

    #[test]
    fn a_body_hashed_in_pieces_has_the_hash_of_the_whole() {
        let mut hasher = BodyHasher::new();
        hasher.update(b"[{\"id\"");
        hasher.update(b": 1}]");

        assert_eq!(hasher.finish(), BodyHash::of(b"[{\"id\": 1}]"));
    }

    #[test]
    fn one_byte_more_is_another_hash() {
        assert_ne!(BodyHash::of(b"[]"), BodyHash::of(b"[] "));
    }

    #[test]
    fn the_hash_reads_as_64_lowercase_hex_digits() {
        let shown = BodyHash::of(b"[]").to_string();

        assert_eq!(shown.len(), 64);
        assert!(shown.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(shown, blake3::hash(b"[]").to_hex().as_str());
    }
}
