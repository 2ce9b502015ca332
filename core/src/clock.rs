//! Injected time. Logic asks a [`Clock`] for the wall-clock time instead of calling `Utc::now()`, so
//! that tests can move time, and deadlines are wall-clock instants so that a machine that slept (whose
//! monotonic clock stopped) still sees them as due the moment it wakes.

use std::collections::VecDeque;
#[cfg(any(test, feature = "test-util"))]
use std::sync::Arc;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How far a provider's clock is from ours, learnt from the `Date` header of its answers (RFC 9110
/// section 6.6.1), so that times the provider writes (an ID token's `exp`, a JWT access token's `exp`,
/// a `Retry-After` date) are read on the provider's clock rather than a wrong local one. Lifetimes the
/// provider gives as durations (`expires_in`) need no offset: they count from the answer's arrival.
///
/// A `Date` is whole seconds, written before the answer travels, so each sample is at most the true
/// offset and at most about a second plus the round trip below it: the estimate is the largest of the
/// last [`ClockOffset::SAMPLES`] samples plus half a second, and offsets under
/// [`ClockOffset::NEGLIGIBLE`] count as none.
#[derive(Debug, Default)]
pub struct ClockOffset {
    samples: Mutex<VecDeque<TimeDelta>>,
}

impl ClockOffset {
    /// How many recent answers the estimate looks at (the local clock may be corrected meanwhile).
    pub const SAMPLES: usize = 8;
    /// Offsets this small are noise of the `Date` header's resolution.
    pub const NEGLIGIBLE: TimeDelta = TimeDelta::seconds(2);

    /// Takes in an answer's `Date` header value, read at local time `local`.
    pub fn observe(&self, date: &str, local: DateTime<Utc>) {
        let Ok(date) = DateTime::parse_from_rfc2822(date) else { return };
        let sample = date.with_timezone(&Utc) - local;
        let mut samples = self.samples.lock().expect("clock offset poisoned");
        if samples.len() == Self::SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
        let estimate = Self::estimate(&samples);
        if samples.len() == 1 && estimate.abs() >= TimeDelta::seconds(30) {
            tracing::warn!(
                offset_seconds = estimate.num_seconds(),
                "this computer's clock differs from the provider's; the provider's times are read on its clock"
            );
        }
    }

    /// The provider's clock minus ours.
    pub fn get(&self) -> TimeDelta {
        Self::estimate(&self.samples.lock().expect("clock offset poisoned"))
    }

    fn estimate(samples: &VecDeque<TimeDelta>) -> TimeDelta {
        let Some(largest) = samples.iter().max() else { return TimeDelta::zero() };
        let estimate = *largest + TimeDelta::milliseconds(500);
        if estimate.abs() < Self::NEGLIGIBLE { TimeDelta::zero() } else { estimate }
    }
}

/// A clock for tests and simulations: wall time follows tokio's clock (so `tokio::time::pause()` and
/// `advance()` move it) plus an offset that [`TestClock::jump`] changes without tokio noticing, the way
/// a suspended laptop's wall clock jumps while its monotonic clock stands still.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone)]
pub struct TestClock {
    inner: Arc<Mutex<TestClockInner>>,
}

#[cfg(any(test, feature = "test-util"))]
#[derive(Debug)]
struct TestClockInner {
    origin_wall: DateTime<Utc>,
    origin_tokio: tokio::time::Instant,
    offset: TimeDelta,
}

#[cfg(any(test, feature = "test-util"))]
impl TestClock {
    /// A clock that reads `start` now. Must be created inside a tokio runtime.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(TestClockInner {
                origin_wall: start,
                origin_tokio: tokio::time::Instant::now(),
                offset: TimeDelta::zero(),
            })),
        }
    }

    /// Moves the wall clock forward (or back, with a negative delta) without moving tokio's clock.
    pub fn jump(&self, delta: TimeDelta) {
        self.inner.lock().expect("test clock poisoned").offset += delta;
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let inner = self.inner.lock().expect("test clock poisoned");
        let elapsed = tokio::time::Instant::now() - inner.origin_tokio;
        inner.origin_wall + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX) + inner.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_and_jumps_on_its_own() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = TestClock::starting_at(start);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(clock.now(), start + TimeDelta::seconds(10));
        clock.jump(TimeDelta::hours(2));
        assert_eq!(clock.now(), start + TimeDelta::seconds(10) + TimeDelta::hours(2));
    }

    #[test]
    fn the_offset_is_the_largest_recent_sample_and_small_ones_are_none() {
        let offset = ClockOffset::default();
        assert_eq!(offset.get(), TimeDelta::zero(), "no answer yet");
        let local = DateTime::parse_from_rfc3339("2026-12-04T10:00:00.700Z").unwrap().with_timezone(&Utc);
        offset.observe("Fri, 04 Dec 2026 10:00:00 GMT", local);
        assert_eq!(offset.get(), TimeDelta::zero(), "in step, within the header's second");
        // The provider 5 minutes ahead; one answer slow on the way (its sample lower) changes nothing.
        offset.observe("Fri, 04 Dec 2026 10:05:00 GMT", local);
        offset.observe("Fri, 04 Dec 2026 10:04:58 GMT", local);
        assert_eq!(offset.get(), TimeDelta::seconds(299) + TimeDelta::milliseconds(800));
        offset.observe("not a date", local);
        assert_eq!(offset.get(), TimeDelta::seconds(299) + TimeDelta::milliseconds(800));
        // Old samples age out: the provider 5 minutes behind from now on.
        for _ in 0..ClockOffset::SAMPLES {
            offset.observe("Fri, 04 Dec 2026 09:55:00 GMT", local);
        }
        assert_eq!(offset.get(), TimeDelta::seconds(-300) + TimeDelta::milliseconds(-200));
    }
}
