//! The embedded-mode dedupe window: a map from hash to expiry time.
//!
//! Time is tokio's clock, so tests drive it with `tokio::time::pause()` and
//! `advance()` instead of sleeping through a window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Claim, DedupeError, DedupeWindow};

/// Expired entries are swept once this many claims have been added since
/// the last sweep, so the map stays proportional to the live window.
const SWEEP_EVERY: usize = 1024;

/// See the module documentation.
#[derive(Default)]
pub struct MemoryWindow {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    expires_at: HashMap<String, Instant>,
    added_since_sweep: usize,
}

impl MemoryWindow {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl DedupeWindow for MemoryWindow {
    async fn claim(&self, hash: &str, window: Duration) -> Result<Claim, DedupeError> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&expires_at) = state.expires_at.get(hash)
            && expires_at > now
        {
            return Ok(Claim::Duplicate {
                retry_after: expires_at - now,
            });
        }
        state.expires_at.insert(hash.to_owned(), now + window);
        state.added_since_sweep += 1;
        if state.added_since_sweep >= SWEEP_EVERY {
            state.expires_at.retain(|_, expires_at| *expires_at > now);
            state.added_since_sweep = 0;
        }
        Ok(Claim::Claimed)
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

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_swept() {
        let window = MemoryWindow::new();
        for i in 0..SWEEP_EVERY {
            window
                .claim(&format!("old-{i}"), Duration::from_secs(1))
                .await
                .expect("claim");
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        for i in 0..SWEEP_EVERY {
            window
                .claim(&format!("new-{i}"), Duration::from_secs(1))
                .await
                .expect("claim");
        }
        let state = window.state.lock().expect("lock");
        assert_eq!(state.expires_at.len(), SWEEP_EVERY);
    }
}
