//! Time as Mercato stores it ([`Timestamp`]), and where "now" comes from
//! ([`Clock`]), replaceable in tests.

use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::DeriveValueType;

/// A moment: microseconds since the Unix epoch, UTC, stored in a `BIGINT`
/// column as it is. Adding or subtracting a [`Duration`] saturates, so a
/// duration too long to represent means "never" rather than a wrap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, DeriveValueType)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_micros(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// RFC 3339 UTC to the microsecond (`2026-12-02T04:23:18.000000Z`):
    /// how the API shows a stored time.
    pub fn to_rfc3339(self) -> String {
        self.format(chrono::SecondsFormat::Micros)
    }

    /// RFC 3339 UTC to the second (`2026-12-02T04:23:18Z`), as quote
    /// history shows its dates.
    pub fn to_rfc3339_seconds(self) -> String {
        self.format(chrono::SecondsFormat::Secs)
    }

    /// An HTTP date (RFC 9110, `Wed, 02 Dec 2026 04:23:18 GMT`), to the
    /// second, as headers such as `Upload-Expires` carry it.
    pub fn to_http_date(self) -> String {
        chrono::DateTime::from_timestamp_micros(self.0)
            .unwrap_or_default()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }

    /// Reads an RFC 3339 time with any offset, to the microsecond.
    pub fn parse_rfc3339(raw: &str) -> Result<Self, String> {
        chrono::DateTime::parse_from_rfc3339(raw)
            .map(Self::from)
            .map_err(|e| e.to_string())
    }

    fn format(self, precision: chrono::SecondsFormat) -> String {
        chrono::DateTime::from_timestamp_micros(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(precision, true)
    }
}

impl<Tz: chrono::TimeZone> From<chrono::DateTime<Tz>> for Timestamp {
    fn from(at: chrono::DateTime<Tz>) -> Self {
        Self(at.timestamp_micros())
    }
}

/// A duration in whole microseconds, saturating.
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(micros(duration)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Self;

    fn sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(micros(duration)))
    }
}

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

    /// Moves a frozen clock by `duration`; the system clock ignores it.
    pub fn advance(&self, duration: Duration) {
        if let Some(frozen) = &self.frozen {
            frozen.fetch_add(micros(duration), Ordering::Relaxed);
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp(match &self.frozen {
            Some(frozen) => frozen.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, micros),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_sixteen_digit_microseconds() {
        let now = Clock::system().now().as_micros();
        assert_eq!(now.to_string().len(), 16, "{now}");
    }

    #[test]
    fn a_frozen_clock_and_its_clones_move_together() {
        let clock = Clock::frozen_at_micros(1_475_820_997_000_000);
        let clone = clock.clone();
        assert_eq!(clone.now().as_micros(), 1_475_820_997_000_000);
        clock.set_micros(1_475_820_998_000_000);
        assert_eq!(clone.now().as_micros(), 1_475_820_998_000_000);
        clock.advance(Duration::from_millis(1));
        assert_eq!(clone.now().as_micros(), 1_475_820_998_001_000);
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let late = Timestamp::from_micros(i64::MAX - 1);
        assert_eq!(
            late + Duration::from_secs(1),
            Timestamp::from_micros(i64::MAX)
        );
        assert_eq!(late + Duration::MAX, Timestamp::from_micros(i64::MAX));
        let early = Timestamp::from_micros(5);
        assert_eq!(early.since(late), Duration::ZERO);
        assert_eq!(
            late.since(early),
            Duration::from_micros((i64::MAX - 6) as u64)
        );
    }

    #[test]
    fn stored_times_show_as_rfc3339_to_the_microsecond() {
        let at = Timestamp::from_micros(1_475_820_997_000_123);
        assert_eq!(at.to_rfc3339(), "2016-10-07T06:16:37.000123Z");
        assert_eq!(at.to_rfc3339_seconds(), "2016-10-07T06:16:37Z");
        let parsed = Timestamp::parse_rfc3339("2016-10-07T08:16:37.000123+02:00");
        assert_eq!(parsed, Ok(at));
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
