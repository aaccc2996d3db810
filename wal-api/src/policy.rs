//! Sync policies: when the log syncs and when an append is acknowledged.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How an append is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// `append(..).await` returns once the record is durable.
    Durable,
    /// `append(..).await` returns once the record is accepted (written, not yet durable).
    Accepted,
}

/// What the sync leader sees while gathering a group of records for one sync.
#[derive(Clone, Copy, Debug, Default)]
pub struct PendingBatch {
    /// Records written but not yet durable.
    pub records: u64,
    /// Bytes written but not yet durable.
    pub bytes: u64,
    /// Time since the leader started gathering.
    pub waited: Duration,
    /// Consecutive gathering waits that ended without a new record.
    pub idle_rounds: u32,
    /// Records that were waiting for durability when the previous sync finished (those it
    /// covered and those written meanwhile): an estimate of how many appenders are active.
    pub previous_records: u64,
    /// Duration of the previous sync.
    pub previous_latency: Duration,
}

/// What the sync leader does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Gather {
    /// Sync now.
    SyncNow,
    /// Let other tasks run once (appenders about to join), then ask again.
    Yield,
    /// Wait for a new record or until this long has passed, then ask again.
    Wait(Duration),
    /// Wait until at least `records` records or `bytes` bytes are pending (counted like
    /// [`PendingBatch::records`] and [`PendingBatch::bytes`]), or until `at_most` has passed,
    /// then ask again. Cheaper than [`Gather::Wait`] when a policy knows the group size it
    /// wants: appenders wake the leader once, when the threshold is reached, instead of on
    /// every record.
    WaitFor {
        /// Pending records that end the wait.
        records: u64,
        /// Pending bytes that end the wait.
        bytes: u64,
        /// Longest wait.
        at_most: Duration,
    },
}

/// Decides when the log syncs. Implement it to write your own policy.
///
/// # Contract
/// - `ack` is constant for the life of the policy.
/// - `gather` is called repeatedly by the one task leading a sync; it MUST eventually return
///   [`Gather::SyncNow`] (bound the wait with `waited`).
pub trait SyncPolicy: Debug + Send + Sync + 'static {
    /// How appends are acknowledged.
    fn ack(&self) -> Ack;
    /// Period of background syncs (for a bounded loss window), if any.
    fn interval(&self) -> Option<Duration> {
        None
    }
    /// Called by the sync leader before a sync.
    fn gather(&self, batch: &PendingBatch) -> Gather {
        let _ = batch;
        Gather::SyncNow
    }
    /// Called after each successful sync with the records it covered and its duration.
    fn observe(&self, records: u64, latency: Duration) {
        let _ = (records, latency);
    }
}

/// Sync after every write: each append is durable before it returns, with no added delay.
/// Appenders that arrive while a sync runs share the next one.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerWrite;

impl SyncPolicy for PerWrite {
    fn ack(&self) -> Ack {
        Ack::Durable
    }
}

/// Group commit: appends are durable before they return, and the sync leader waits for more
/// appenders to join, up to `max_delay`, until `max_records` or `max_bytes` are pending, or
/// until as many records are pending as were waiting at the end of the previous sync (the
/// appenders of the previous group are back). A lone appender never waits.
#[derive(Clone, Copy, Debug)]
pub struct GroupCommit {
    /// Longest a sync waits for more records.
    pub max_delay: Duration,
    /// Sync as soon as this many records are pending.
    pub max_records: u64,
    /// Sync as soon as this many bytes are pending.
    pub max_bytes: u64,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            max_delay: Duration::from_micros(500),
            max_records: 4096,
            max_bytes: 4 << 20,
        }
    }
}

impl SyncPolicy for GroupCommit {
    fn ack(&self) -> Ack {
        Ack::Durable
    }

    fn gather(&self, b: &PendingBatch) -> Gather {
        if b.records >= self.max_records
            || b.bytes >= self.max_bytes
            || b.waited >= self.max_delay
            || b.records >= b.previous_records
        {
            Gather::SyncNow
        } else {
            Gather::WaitFor {
                records: self.max_records.min(b.previous_records),
                bytes: self.max_bytes,
                at_most: self.max_delay - b.waited,
            }
        }
    }
}

/// Group commit that always waits a fixed time: the leader gathers for `delay` (or until
/// `max_records` are pending) before each sync. Trades latency for fewer syncs.
#[derive(Clone, Copy, Debug)]
pub struct FixedDelay {
    /// How long each sync waits for company.
    pub delay: Duration,
    /// Sync as soon as this many records are pending.
    pub max_records: u64,
}

impl SyncPolicy for FixedDelay {
    fn ack(&self) -> Ack {
        Ack::Durable
    }

    fn gather(&self, b: &PendingBatch) -> Gather {
        if b.waited >= self.delay || b.records >= self.max_records {
            Gather::SyncNow
        } else {
            Gather::WaitFor {
                records: self.max_records,
                bytes: u64::MAX,
                at_most: self.delay - b.waited,
            }
        }
    }
}

/// Adaptive group commit: waits for company only when the last syncs were slow compared with
/// how fast appenders come back, bounding the wait by half of the observed sync latency.
#[derive(Debug, Default)]
pub struct Adaptive {
    last_latency_ns: AtomicU64,
}

impl SyncPolicy for Adaptive {
    fn ack(&self) -> Ack {
        Ack::Durable
    }

    fn gather(&self, b: &PendingBatch) -> Gather {
        let limit = Duration::from_nanos(self.last_latency_ns.load(Ordering::Relaxed) / 2);
        if b.waited >= limit || b.records >= b.previous_records || b.idle_rounds >= 3 {
            Gather::SyncNow
        } else {
            Gather::WaitFor {
                records: b.previous_records,
                bytes: u64::MAX,
                at_most: limit - b.waited,
            }
        }
    }

    fn observe(&self, _records: u64, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.last_latency_ns.store(ns, Ordering::Relaxed);
    }
}

/// Background interval sync: appends return once accepted; a background task syncs every
/// `period`, so a power loss loses at most about `period` (plus one sync) of acknowledged records.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    /// Time between background syncs.
    pub period: Duration,
}

impl SyncPolicy for Interval {
    fn ack(&self) -> Ack {
        Ack::Accepted
    }

    fn interval(&self) -> Option<Duration> {
        Some(self.period)
    }
}

/// Never sync on the write path: appends return once accepted; the log syncs when a segment is
/// sealed, on an explicit `sync`/`wait_durable`, and on close.
#[derive(Clone, Copy, Debug, Default)]
pub struct Never;

impl SyncPolicy for Never {
    fn ack(&self) -> Ack {
        Ack::Accepted
    }
}

/// A shared policy (keep a clone to inspect its state while the log uses it).
impl<P: SyncPolicy + ?Sized> SyncPolicy for std::sync::Arc<P> {
    fn ack(&self) -> Ack {
        (**self).ack()
    }
    fn interval(&self) -> Option<Duration> {
        (**self).interval()
    }
    fn gather(&self, batch: &PendingBatch) -> Gather {
        (**self).gather(batch)
    }
    fn observe(&self, records: u64, latency: Duration) {
        (**self).observe(records, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_commit_lone_appender_syncs_at_once() {
        let g = GroupCommit::default();
        let b = PendingBatch {
            records: 1,
            previous_records: 1,
            ..Default::default()
        };
        assert_eq!(g.gather(&b), Gather::SyncNow);
    }

    #[test]
    fn group_commit_waits_for_previous_group_then_bounds_wait() {
        let g = GroupCommit::default();
        let mut b = PendingBatch {
            records: 10,
            previous_records: 64,
            ..Default::default()
        };
        assert_eq!(
            g.gather(&b),
            Gather::WaitFor {
                records: 64,
                bytes: g.max_bytes,
                at_most: g.max_delay
            }
        );
        b.records = 64;
        assert_eq!(g.gather(&b), Gather::SyncNow);
        b.records = 10;
        b.waited = g.max_delay;
        assert_eq!(g.gather(&b), Gather::SyncNow);
    }

    #[test]
    fn fixed_delay_waits_the_remaining_time() {
        let p = FixedDelay {
            delay: Duration::from_millis(2),
            max_records: 100,
        };
        let b = PendingBatch {
            records: 1,
            waited: Duration::from_millis(1),
            ..Default::default()
        };
        assert_eq!(
            p.gather(&b),
            Gather::WaitFor {
                records: 100,
                bytes: u64::MAX,
                at_most: Duration::from_millis(1)
            }
        );
    }
}
