//! The window's contract: [`DedupeWindow`], what a claim finds
//! ([`Claim`]) and the one error it has ([`DedupeError`]).

use std::time::Duration;

use async_trait::async_trait;
use feed::BodyHash;
use uuid::Uuid;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller is the first within the window: go ahead.
    Claimed,
    /// `holder` claimed the same hash earlier; it frees up after `retry_after`.
    Duplicate {
        retry_after: Duration,
        /// The ingest holding the claim; `None` if the store names
        /// something that is not an ingest id (written by another program).
        holder: Option<Uuid>,
    },
}

/// The window's store cannot be reached. Never read as "claimed": a feed
/// that cannot be checked is not accepted (the API answers 503).
#[derive(Debug, thiserror::Error)]
#[error("dedupe window unavailable: {0}")]
pub struct DedupeError(pub String);

/// A window that cannot answer is a 503: the body may be a duplicate,
/// and nothing is accepted unchecked.
impl From<DedupeError> for platform::Error {
    fn from(e: DedupeError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// See the module documentation.
#[async_trait]
pub trait DedupeWindow: Send + Sync + 'static {
    /// Claims `hash` for `holder` during `window`, atomically across every
    /// process sharing the store.
    async fn claim(
        &self,
        hash: &BodyHash,
        holder: Uuid,
        window: Duration,
    ) -> Result<Claim, DedupeError>;

    /// Gives back `holder`'s claim on `hash`, if it still holds it; a
    /// claim that expired and was taken by another holder is left alone.
    async fn release(&self, hash: &BodyHash, holder: Uuid) -> Result<(), DedupeError>;

    /// Moves the claim on `hash` from `from`, an attempt known to have
    /// failed, to `to`, for a whole new `window`; `false` (and nothing
    /// changed) if `from` no longer holds it.
    async fn take_over(
        &self,
        hash: &BodyHash,
        from: Uuid,
        to: Uuid,
        window: Duration,
    ) -> Result<bool, DedupeError>;

    /// Forgets anything this process remembers about `hash`, so the next
    /// claim asks the store itself.
    fn forget(&self, _hash: &BodyHash) {}

    /// Whether claims can be made right now (for `/readyz`).
    async fn check(&self) -> Result<(), DedupeError>;

    /// A short name for logs and `/readyz`: `redis` or `in-memory`.
    fn kind(&self) -> &'static str;
}
