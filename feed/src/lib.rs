//! The product-feed format of `POST /v1/products` (seed 003): a JSON
//! array of objects, each with an `id` that is a string or a number.
//!
//! Feeds run from bytes to many gigabytes, so nothing here needs a whole
//! body: every type takes the bytes chunk by chunk, as they arrive, in
//! memory that does not grow with the feed.
//!
//! # Layout
//! - [`Scanner`]: an incremental JSON checker for the feed's shape. It
//!   finds the first problem and its byte offset, counts the items, and,
//!   when asked, hands over each item's `id`, `name` and `description`.
//! - [`BodyHasher`]: the [`BodyHash`] (BLAKE3) of a body, chunk by chunk.
//! - [`Inspection`]: one pass over a body: its hash, its size, and the
//!   scanner's verdict, for bodies small enough to check in one go.

mod hash;
mod scanner;

pub use self::hash::{BodyHash, BodyHasher, Inspected, Inspection};
pub use self::scanner::{FeedError, Field, FieldLimits, MAX_DEPTH, RawItem, Scanner};
