//! Counters the log keeps about itself.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A snapshot of the log's counters since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Append calls (single records and batches).
    pub appends: u64,
    /// Records appended.
    pub records: u64,
    /// Payload bytes appended.
    pub bytes: u64,
    /// Successful syncs.
    pub syncs: u64,
    /// Records made durable by those syncs.
    pub synced_records: u64,
    /// Total time spent in syncs.
    pub sync_time: Duration,
    /// Longest sync.
    pub max_sync: Duration,
    /// Segments sealed by rotation.
    pub rotations: u64,
    /// Records the most recent sync made durable (the last group's size).
    pub last_group: u64,
    /// How long the most recent sync took.
    pub last_sync: Duration,
    /// Sync latencies since open, in power-of-two microsecond buckets: bucket `i` counts syncs
    /// that took less than `2^i` µs (and at least `2^(i-1)`); the last bucket holds the rest.
    pub sync_latency_histogram: [u64; LATENCY_BUCKETS],
}

/// Buckets of [`WalStats::sync_latency_histogram`] (up to about 1 s, then one overflow
/// bucket).
pub const LATENCY_BUCKETS: usize = 21;

impl WalStats {
    /// Average records made durable per sync.
    pub fn records_per_sync(&self) -> f64 {
        if self.syncs == 0 {
            0.0
        } else {
            self.synced_records as f64 / self.syncs as f64
        }
    }

    /// The sync latency below which fraction `q` (0.0..=1.0) of the syncs since open fell,
    /// as the upper bound of its histogram bucket (so within a factor of two); zero before
    /// the first sync.
    pub fn sync_latency_quantile(&self, q: f64) -> Duration {
        let total: u64 = self.sync_latency_histogram.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let want = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.sync_latency_histogram.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Duration::from_micros(1u64 << i);
            }
        }
        self.max_sync
    }

    /// Average sync latency.
    pub fn mean_sync(&self) -> Duration {
        if self.syncs == 0 {
            Duration::ZERO
        } else {
            self.sync_time / u32::try_from(self.syncs).unwrap_or(u32::MAX)
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Handles of the `metrics` recorder, registered at the first event.
    #[cfg(feature = "metrics")]
    metrics: std::sync::OnceLock<crate::metrics::Handles>,
    pub(crate) appends: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) synced_records: AtomicU64,
    pub(crate) sync_ns: AtomicU64,
    pub(crate) max_sync_ns: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) last_group: AtomicU64,
    pub(crate) last_sync_ns: AtomicU64,
    pub(crate) latency: [AtomicU64; LATENCY_BUCKETS],
}

impl Counters {
    #[cfg(feature = "metrics")]
    fn metrics(&self) -> &crate::metrics::Handles {
        self.metrics.get_or_init(crate::metrics::Handles::register)
    }

    pub(crate) fn appended(&self, records: u64, bytes: u64) {
        self.appends.fetch_add(1, Relaxed);
        self.records.fetch_add(records, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics().appended(records, bytes);
    }

    pub(crate) fn rotated(&self) {
        self.rotations.fetch_add(1, Relaxed);
        crate::metrics::rotated();
    }

    pub(crate) fn synced(&self, records: u64, took: Duration) {
        #[cfg(feature = "metrics")]
        self.metrics().synced(records, took);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.syncs.fetch_add(1, Relaxed);
        self.synced_records.fetch_add(records, Relaxed);
        self.sync_ns.fetch_add(ns, Relaxed);
        self.max_sync_ns.fetch_max(ns, Relaxed);
        let us = ns / 1000;
        let bucket = (u64::BITS - us.leading_zeros()) as usize;
        self.latency[bucket.min(LATENCY_BUCKETS - 1)].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WalStats {
        WalStats {
            appends: self.appends.load(Relaxed),
            records: self.records.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            syncs: self.syncs.load(Relaxed),
            synced_records: self.synced_records.load(Relaxed),
            sync_time: Duration::from_nanos(self.sync_ns.load(Relaxed)),
            max_sync: Duration::from_nanos(self.max_sync_ns.load(Relaxed)),
            rotations: self.rotations.load(Relaxed),
            last_group: self.last_group.load(Relaxed),
            last_sync: Duration::from_nanos(self.last_sync_ns.load(Relaxed)),
            sync_latency_histogram: std::array::from_fn(|i| self.latency[i].load(Relaxed)),
        }
    }
}
