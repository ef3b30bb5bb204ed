//! The embedded-mode dedupe window: a map from hash to holder and expiry.
//!
//! Time is the process's [`Clock`], so tests move a frozen clock to the
//! window's edges instead of sleeping through it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use feed::BodyHash;
use uuid::Uuid;

use super::window::{Claim, DedupeError, DedupeWindow};
use platform::{Clock, Timestamp};

/// Expired entries are swept once this many claims have been added since
/// the last sweep, so the map stays proportional to the live window.
const SWEEP_EVERY: usize = 1024;

/// See the module documentation.
pub struct MemoryWindow {
    clock: Clock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Hash → (holder, expiry).
    claims: HashMap<BodyHash, (Uuid, Timestamp)>,
    added_since_sweep: usize,
}

impl MemoryWindow {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            state: Mutex::default(),
        }
    }
}

#[async_trait]
impl DedupeWindow for MemoryWindow {
    async fn claim(
        &self,
        hash: &BodyHash,
        holder: Uuid,
        window: Duration,
    ) -> Result<Claim, DedupeError> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((holder, expires_at)) = state.claims.get(hash)
            && *expires_at > now
        {
            return Ok(Claim::Duplicate {
                retry_after: expires_at.since(now),
                holder: Some(*holder),
            });
        }
        state.claims.insert(*hash, (holder, now + window));
        state.added_since_sweep += 1;
        if state.added_since_sweep >= SWEEP_EVERY {
            state.claims.retain(|_, (_, expires_at)| *expires_at > now);
            state.added_since_sweep = 0;
        }
        Ok(Claim::Claimed)
    }

    async fn release(&self, hash: &BodyHash, holder: Uuid) -> Result<(), DedupeError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .claims
            .get(hash)
            .is_some_and(|(current, _)| *current == holder)
        {
            state.claims.remove(hash);
        }
        Ok(())
    }

    async fn take_over(
        &self,
        hash: &BodyHash,
        from: Uuid,
        to: Uuid,
        window: Duration,
    ) -> Result<bool, DedupeError> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some((holder, expires_at)) = state.claims.get_mut(hash) else {
            return Ok(false);
        };
        if *holder != from || *expires_at <= now {
            return Ok(false);
        }
        *holder = to;
        *expires_at = now + window;
        Ok(true)
    }

    async fn check(&self) -> Result<(), DedupeError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::dedupe::testing::{feed, id};

    const SECOND: i64 = 1_000_000;

    #[tokio::test]
    async fn expired_entries_are_swept() {
        let clock = Clock::frozen_at_micros(SECOND);
        let window = MemoryWindow::new(clock.clone());
        for i in 0..SWEEP_EVERY {
            window
                .claim(
                    &BodyHash::of(format!("old-{i}").as_bytes()),
                    id(1),
                    Duration::from_secs(1),
                )
                .await
                .expect("claim");
        }
        clock.set_micros(3 * SECOND);
        for i in 0..SWEEP_EVERY {
            window
                .claim(
                    &BodyHash::of(format!("new-{i}").as_bytes()),
                    id(1),
                    Duration::from_secs(1),
                )
                .await
                .expect("claim");
        }
        let state = window.state.lock().expect("lock");
        assert_eq!(state.claims.len(), SWEEP_EVERY);
    }

    #[tokio::test]
    async fn a_release_by_another_holder_leaves_the_claim() {
        let window = MemoryWindow::new(Clock::frozen_at_micros(SECOND));
        let length = Duration::from_secs(600);
        window.claim(&feed(), id(1), length).await.expect("claim");

        window.release(&feed(), id(2)).await.expect("release");
        let after_b = window.claim(&feed(), id(3), length).await.expect("claim");
        window.release(&feed(), id(1)).await.expect("release");
        let after_a = window.claim(&feed(), id(3), length).await.expect("claim");

        assert!(matches!(after_b, Claim::Duplicate { holder, .. } if holder == Some(id(1))));
        assert_eq!(after_a, Claim::Claimed);
    }
}
