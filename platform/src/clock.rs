//! Wall-clock time as Mercato stores it, replaceable in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where "now" comes from: the system clock in production, or a clock a
/// test holds still and moves by hand, so rows can share a timestamp (or
/// be minutes apart) without sleeping. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    frozen: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `micros` (since the Unix epoch) until [`Clock::set_micros`].
    pub fn frozen_at_micros(micros: i64) -> Self {
        Self {
            frozen: Some(Arc::new(AtomicI64::new(micros))),
        }
    }

    /// Moves a frozen clock; the system clock cannot be moved and ignores it.
    pub fn set_micros(&self, micros: i64) {
        if let Some(frozen) = &self.frozen {
            frozen.store(micros, Ordering::Relaxed);
        }
    }

    /// Microseconds since the Unix epoch.
    pub fn now_micros(&self) -> i64 {
        match &self.frozen {
            Some(frozen) => frozen.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| {
                    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_sixteen_digit_microseconds() {
        let now = Clock::system().now_micros();
        assert_eq!(now.to_string().len(), 16, "{now}");
    }

    #[test]
    fn a_frozen_clock_and_its_clones_move_together() {
        let clock = Clock::frozen_at_micros(1_475_820_997_000_000);
        let clone = clock.clone();
        assert_eq!(clone.now_micros(), 1_475_820_997_000_000);
        clock.set_micros(1_475_820_998_000_000);
        assert_eq!(clone.now_micros(), 1_475_820_998_000_000);
    }
}
