//! Names of the metrics the log (and `wal-object`'s archiver) emits through the
//! [`metrics`](https://docs.rs/metrics) facade when the `metrics` feature is on.
//!
//! What each one measures is in the [table in the crate docs](crate#metrics); the constants
//! here are the same names, for code that looks a metric up (dashboards, tests). Nothing is
//! emitted, and nothing is linked, without the feature. Install the recorder (for example
//! `metrics-exporter-prometheus`) before opening a log: a log binds its metric handles to the
//! recorder installed when it first records.

/// Counter: records appended (each record of an atomic batch counts).
pub const APPEND_RECORDS: &str = "wal_append_records_total";
/// Counter: payload bytes appended.
pub const APPEND_BYTES: &str = "wal_append_bytes_total";
/// Counter: syncs that made records durable (group commits, interval and write-behind syncs,
/// seals).
pub const SYNCS: &str = "wal_syncs_total";
/// Histogram: seconds each of those syncs took in the backend.
pub const SYNC_SECONDS: &str = "wal_sync_duration_seconds";
/// Histogram: records each of those syncs made durable (the group-commit size).
pub const GROUP_RECORDS: &str = "wal_sync_group_records";
/// Counter: rotations (the active segment sealed and a new one started).
pub const ROTATIONS: &str = "wal_rotations_total";
/// Counter: segments sealed (at rotation, close and reset).
pub const SEALS: &str = "wal_seals_total";
/// Counter: opens whose recovery cut a torn tail.
pub const RECOVERY_CUTS: &str = "wal_recovery_cuts_total";
/// Counter: bytes recovery cut from torn tails.
pub const RECOVERY_CUT_BYTES: &str = "wal_recovery_cut_bytes_total";
/// Counter: segments recovery quarantined (or copied to quarantine before cutting them).
pub const RECOVERY_QUARANTINED: &str = "wal_recovery_quarantined_segments_total";
/// Counter: damaged frames recovery skipped (`RecoveryMode::SkipCorrupted`).
pub const RECOVERY_SKIPPED: &str = "wal_recovery_skipped_frames_total";
/// Counter: logs poisoned by a failed write, sync or seal.
pub const POISONED: &str = "wal_poisoned_total";
/// Counter: sealed segments archived and verified (`wal-object`'s `Archiver`).
pub const ARCHIVE_SEGMENTS: &str = "wal_archive_segments_total";
/// Counter: bytes of those segments.
pub const ARCHIVE_BYTES: &str = "wal_archive_bytes_total";
/// Counter: attempts to archive a segment that failed.
pub const ARCHIVE_FAILURES: &str = "wal_archive_failures_total";

#[cfg(feature = "metrics")]
use std::time::Duration;

/// The per-append handles, registered once per log (the rare events use the macros).
#[cfg(feature = "metrics")]
pub(crate) struct Handles {
    append_records: ::metrics::Counter,
    append_bytes: ::metrics::Counter,
    syncs: ::metrics::Counter,
    sync_seconds: ::metrics::Histogram,
    group_records: ::metrics::Histogram,
}

#[cfg(feature = "metrics")]
impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("metrics::Handles")
    }
}

#[cfg(feature = "metrics")]
impl Handles {
    pub(crate) fn register() -> Handles {
        Handles {
            append_records: ::metrics::counter!(APPEND_RECORDS),
            append_bytes: ::metrics::counter!(APPEND_BYTES),
            syncs: ::metrics::counter!(SYNCS),
            sync_seconds: ::metrics::histogram!(SYNC_SECONDS),
            group_records: ::metrics::histogram!(GROUP_RECORDS),
        }
    }

    pub(crate) fn appended(&self, records: u64, bytes: u64) {
        self.append_records.increment(records);
        self.append_bytes.increment(bytes);
    }

    pub(crate) fn synced(&self, records: u64, took: Duration) {
        self.syncs.increment(1);
        self.sync_seconds.record(took.as_secs_f64());
        self.group_records.record(records as f64);
    }
}

/// Counts one event of the counter `name` (a no-op without the feature).
fn count(name: &'static str, n: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(name).increment(n);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, n);
}

/// A rotation happened.
pub(crate) fn rotated() {
    count(ROTATIONS, 1);
}

/// A segment was sealed.
pub(crate) fn sealed() {
    count(SEALS, 1);
}

/// The log was poisoned.
pub(crate) fn poisoned() {
    count(POISONED, 1);
}

/// Recovery finished with `report`.
pub(crate) fn recovered(report: &crate::RecoveryReport) {
    if report.torn_bytes > 0 {
        count(RECOVERY_CUTS, 1);
        count(RECOVERY_CUT_BYTES, report.torn_bytes);
    }
    if !report.quarantined.is_empty() {
        count(RECOVERY_QUARANTINED, report.quarantined.len() as u64);
    }
    if !report.skipped.is_empty() {
        count(RECOVERY_SKIPPED, report.skipped.len() as u64);
    }
}
