//! Exponential backoff: for reconnect loops ([`Backoff`]), and for work
//! retried after failures counted in the database ([`after_failures`]).

use std::time::Duration;

/// How long to wait after `failures` failures in a row (at least 1): from
/// `first`, doubling each time up to `max`, with "equal jitter" (half the
/// delay fixed, half random), so many retries that failed together do not
/// come back together.
pub fn after_failures(failures: u32, first: Duration, max: Duration) -> Duration {
    let doubled = first.saturating_mul(1 << failures.saturating_sub(1).min(20));
    let delay = doubled.min(max);
    let half = delay / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Delays that double from `min` up to `max`, forever: a broker or Redis
/// outage of any length is waited out, never given up on.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Called after a success: the next failure starts from `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_after_failures_double_up_to_the_cap_with_jitter_below_them() {
        let (first, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for (failures, full) in [(1, 1), (2, 2), (3, 4), (7, 60), (40, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let delay = after_failures(failures, first, max);
                assert!(delay >= full / 2 && delay <= full, "{failures}: {delay:?}");
            }
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_reset_after_success() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}
