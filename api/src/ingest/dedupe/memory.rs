//! The embedded-mode dedupe window: a map from hash to holder and expiry.
//!
//! Time is the process's [`Clock`], so tests move a frozen clock to the
//! window's edges instead of sleeping through it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Claim, DedupeError, DedupeWindow};
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
    claims: HashMap<String, (String, Timestamp)>,
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
        hash: &str,
        holder: &str,
        window: Duration,
    ) -> Result<Claim, DedupeError> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((holder, expires_at)) = state.claims.get(hash)
            && *expires_at > now
        {
            return Ok(Claim::Duplicate {
                retry_after: expires_at.since(now),
                holder: holder.clone(),
            });
        }
        state
            .claims
            .insert(hash.to_owned(), (holder.to_owned(), now + window));
        state.added_since_sweep += 1;
        if state.added_since_sweep >= SWEEP_EVERY {
            state.claims.retain(|_, (_, expires_at)| *expires_at > now);
            state.added_since_sweep = 0;
        }
        Ok(Claim::Claimed)
    }

    async fn release(&self, hash: &str, holder: &str) -> Result<(), DedupeError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .claims
            .get(hash)
            .is_some_and(|(current, _)| current == holder)
        {
            state.claims.remove(hash);
        }
        Ok(())
    }

    async fn take_over(
        &self,
        hash: &str,
        from: &str,
        to: &str,
        window: Duration,
    ) -> Result<bool, DedupeError> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some((holder, expires_at)) = state.claims.get_mut(hash) else {
            return Ok(false);
        };
        if holder != from || *expires_at <= now {
            return Ok(false);
        }
        *holder = to.to_owned();
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

    const SECOND: i64 = 1_000_000;

    #[tokio::test]
    async fn expired_entries_are_swept() {
        let clock = Clock::frozen_at_micros(SECOND);
        let window = MemoryWindow::new(clock.clone());
        for i in 0..SWEEP_EVERY {
            window
                .claim(&format!("old-{i}"), "a", Duration::from_secs(1))
                .await
                .expect("claim");
        }
        clock.set_micros(3 * SECOND);
        for i in 0..SWEEP_EVERY {
            window
                .claim(&format!("new-{i}"), "a", Duration::from_secs(1))
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
        window.claim("feed", "a", length).await.expect("claim");

        window.release("feed", "b").await.expect("release");
        let after_b = window.claim("feed", "c", length).await.expect("claim");
        window.release("feed", "a").await.expect("release");
        let after_a = window.claim("feed", "c", length).await.expect("claim");

        assert!(matches!(after_b, Claim::Duplicate { holder, .. } if holder == "a"));
        assert_eq!(after_a, Claim::Claimed);
    }
}
