//! Injected time. Logic asks a [`Clock`] for the wall-clock time instead of calling `Utc::now()`, so
//! that tests can move time, and deadlines are wall-clock instants so that a machine that slept (whose
//! monotonic clock stopped) still sees them as due the moment it wakes.

#[cfg(any(test, feature = "test-util"))]
use std::sync::{Arc, Mutex};

#[cfg(any(test, feature = "test-util"))]
use chrono::TimeDelta;
use chrono::{DateTime, Utc};

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
}
