//! The ingestion dedupe window: the first complete copy of a feed body
//! claims its hash for a while; any identical body within that time, on any
//! replica, is a duplicate told how long to wait.
//!
//! The window starts at the first accepted claim and is not extended by
//! rejected ones: a hash claimed at `t` is claimable again at exactly
//! `t + window`.
//!
//! Each claim names its holder (the ingest id the API gives the feed), so
//! a duplicate can say which feed holds the window, and a claim whose feed
//! could not be recorded after all can be given back ([`DedupeWindow::release`])
//! without touching anyone else's.
//!
//! - [`window`]: the [`DedupeWindow`] trait every store implements.
//! - [`RedisWindow`]: one atomic `SET key holder NX PX ms`, shared by every replica.
//! - [`MemoryWindow`]: a map in the process, for the embedded mode.
//! - [`RefusalCache`]: in front of Redis, a replica's memory of settled
//!   refusals, so a body resent in a loop costs no round trip.

mod memory;
mod redis;
mod refusals;
pub mod window;

pub use self::memory::MemoryWindow;
pub use self::redis::RedisWindow;
pub use self::refusals::RefusalCache;
pub use self::window::{Claim, DedupeError, DedupeWindow};

/// What the windows' unit tests share: a body's hash and holders.
#[cfg(test)]
pub(crate) mod testing {
    use feed::BodyHash;
    use uuid::Uuid;

    /// The hash of a body named `feed`.
    pub fn feed() -> BodyHash {
        BodyHash::of(b"feed")
    }

    /// Holder `n`.
    pub fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
}
