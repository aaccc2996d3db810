//! [`Clock`]: where the time stamped on every frame comes from.
//!
//! Format version 3 records each record and batch frame's append time (microseconds since
//! the Unix epoch), which [`Wal::lsn_at`](crate::Wal::lsn_at) and [`Record::time`](crate::Record)
//! read back. The engine asks its clock once per frame, with the append's lock held, and
//! never stamps a frame earlier than the one before it in the same process: a clock that
//! steps back (an NTP correction) repeats the last time instead.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of wall-clock time for frame timestamps.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> u64;
}

/// The system's wall clock ([`std::time::SystemTime`]); the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told: for tests (and the memory backend's simulations) that
/// need known timestamps.
///
/// ```
/// use std::sync::Arc;
/// use wal_api::clock::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::new(1_000));
/// clock.advance(500);
/// assert_eq!(clock.now_micros(), 1_500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `micros`.
    pub fn new(micros: u64) -> ManualClock {
        ManualClock(AtomicU64::new(micros))
    }

    /// Sets the time.
    pub fn set(&self, micros: u64) {
        self.0.store(micros, Ordering::SeqCst);
    }

    /// Moves the time forward by `micros`.
    pub fn advance(&self, micros: u64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
