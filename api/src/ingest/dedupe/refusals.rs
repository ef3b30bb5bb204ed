//! A replica's memory of the hashes the shared window refused, so that a
//! body resent again and again is turned away without asking Redis each
//! time.
//!
//! A refusal says the hash is held for `retry_after` more. It is
//! remembered until the moment *before the question was asked* plus
//! `retry_after`, on the monotonic clock, so the memory never outlasts the
//! real window: at its end, the store is asked again. Only claims at least
//! [`SETTLED`] old are remembered: a younger one may still be given back
//! ([`DedupeWindow::release`]) by the replica that made it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use feed::BodyHash;
use tokio::time::Instant;
use uuid::Uuid;

use super::window::{Claim, DedupeError, DedupeWindow};

/// How old a claim must be before its refusals are remembered.
pub const SETTLED: Duration = Duration::from_secs(5);

/// Past this many remembered hashes the memory starts again empty.
const CAPACITY: usize = 100_000;

/// See the module documentation.
pub struct RefusalCache {
    window: Arc<dyn DedupeWindow>,
    /// Hash → (holder, when the refusal is no longer sure).
    refused: Mutex<HashMap<BodyHash, (Option<Uuid>, Instant)>>,
}

impl RefusalCache {
    pub fn new(window: Arc<dyn DedupeWindow>) -> Self {
        Self {
            window,
            refused: Mutex::default(),
        }
    }

    fn remembered(&self, hash: &BodyHash) -> Option<Claim> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let (holder, until) = refused.get(hash)?;
        let now = Instant::now();
        (*until > now).then(|| Claim::Duplicate {
            retry_after: *until - now,
            holder: *holder,
        })
    }
}

#[async_trait]
impl DedupeWindow for RefusalCache {
    async fn claim(
        &self,
        hash: &BodyHash,
        holder: Uuid,
        window: Duration,
    ) -> Result<Claim, DedupeError> {
        if let Some(refusal) = self.remembered(hash) {
            return Ok(refusal);
        }
        let asked_at = Instant::now();
        let claim = self.window.claim(hash, holder, window).await?;
        if let Claim::Duplicate {
            retry_after,
            holder,
        } = &claim
            && window.saturating_sub(*retry_after) >= SETTLED
        {
            let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            if refused.len() >= CAPACITY {
                let now = Instant::now();
                refused.retain(|_, (_, until)| *until > now);
                if refused.len() >= CAPACITY {
                    refused.clear();
                }
            }
            refused.insert(*hash, (*holder, asked_at + *retry_after));
        }
        Ok(claim)
    }

    async fn release(&self, hash: &BodyHash, holder: Uuid) -> Result<(), DedupeError> {
        self.forget(hash);
        self.window.release(hash, holder).await
    }

    async fn take_over(
        &self,
        hash: &BodyHash,
        from: Uuid,
        to: Uuid,
        window: Duration,
    ) -> Result<bool, DedupeError> {
        self.forget(hash);
        self.window.take_over(hash, from, to, window).await
    }

    fn forget(&self, hash: &BodyHash) {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash);
    }

    async fn check(&self) -> Result<(), DedupeError> {
        self.window.check().await
    }

    fn kind(&self) -> &'static str {
        self.window.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory::MemoryWindow;
    use super::*;
    use crate::ingest::dedupe::testing::{feed, id};
    use platform::Clock;

    const SECOND: i64 = 1_000_000;

    /// The in-memory window on a frozen clock stands for the store, and
    /// tokio's paused clock moves with it.
    struct Store {
        clock: Clock,
        window: Arc<MemoryWindow>,
    }

    impl Store {
        fn new() -> Self {
            let clock = Clock::frozen_at_micros(1_000 * SECOND);
            Self {
                window: Arc::new(MemoryWindow::new(clock.clone())),
                clock,
            }
        }

        async fn advance(&self, seconds: i64) {
            self.clock
                .advance(Duration::from_secs(seconds.unsigned_abs()));
            tokio::time::advance(Duration::from_secs(seconds.unsigned_abs())).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_refusal_is_remembered_until_the_window_ends_and_no_longer() {
        let store = Store::new();
        let cache = RefusalCache::new(store.window.clone());
        let window = Duration::from_secs(600);
        assert_eq!(
            cache.claim(&feed(), id(1), window).await.expect("claim"),
            Claim::Claimed
        );
        store.advance(10).await;
        cache.claim(&feed(), id(2), window).await.expect("claim");

        // The store forgets the claim; the cache alone still refuses.
        store.window.release(&feed(), id(1)).await.expect("release");
        let remembered = cache.claim(&feed(), id(3), window).await.expect("claim");
        store.advance(589).await;
        let just_before_the_end = cache.claim(&feed(), id(3), window).await.expect("claim");
        store.advance(1).await;
        let at_the_end = cache.claim(&feed(), id(4), window).await.expect("claim");

        assert_eq!(
            remembered,
            Claim::Duplicate {
                retry_after: Duration::from_secs(590),
                holder: Some(id(1))
            }
        );
        assert!(matches!(just_before_the_end, Claim::Duplicate { .. }));
        assert_eq!(at_the_end, Claim::Claimed, "the store was asked again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_of_a_fresh_claim_is_not_remembered() {
        let store = Store::new();
        let cache = RefusalCache::new(store.window.clone());
        let window = Duration::from_secs(600);
        cache.claim(&feed(), id(1), window).await.expect("claim");
        cache.claim(&feed(), id(2), window).await.expect("claim");

        // The first claimer gives it back, as when its job could not be recorded.
        store.window.release(&feed(), id(1)).await.expect("release");
        let after = cache.claim(&feed(), id(3), window).await.expect("claim");

        assert_eq!(after, Claim::Claimed);
    }
}
