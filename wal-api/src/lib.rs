// The README is the crate's front page (and its Rust examples are doctests). It sits at the
// workspace root; `wal-api/README.md` links to it and `cargo package` ships it as a file.
#![doc = include_str!("../README.md")]
//!
//! # This crate
//!
//! `wal-api` holds the engine, [`Wal`], and what every backend shares: the [`SegmentStore`]
//! and [`SegmentWriter`] traits (their `# Contract` sections say what a backend must do;
//! `wal-testkit` checks it), [`SyncPolicy`] and the built-in policies, [`WalOptions`], the
//! one [`Error`] type, the typed view [`TypedWal`] with its [`Codec`]s, and the on-disk
//! [`format`](mod@format).
//!
//! # Metrics
//!
//! With the `metrics` feature the log reports through the
//! [`metrics`](https://docs.rs/metrics) facade, to whatever recorder the application
//! installed (install it before opening a log). Without the feature nothing is recorded and
//! the `metrics` crate is not a dependency. The names are also constants in [`mod@metrics`].
//!
//! | name | kind | what it counts |
//! |---|---|---|
//! | `wal_append_records_total` | counter | records appended (each record of a batch counts) |
//! | `wal_append_bytes_total` | counter | payload bytes appended |
//! | `wal_syncs_total` | counter | syncs that made records durable (group commits, interval and write-behind syncs, seals) |
//! | `wal_sync_duration_seconds` | histogram | how long each of those syncs took in the backend |
//! | `wal_sync_group_records` | histogram | records each of those syncs made durable (the group size) |
//! | `wal_rotations_total` | counter | rotations: the active segment sealed, a new one started |
//! | `wal_seals_total` | counter | segments sealed (rotation, close, reset) |
//! | `wal_recovery_cuts_total` | counter | opens whose recovery cut a torn tail |
//! | `wal_recovery_cut_bytes_total` | counter | bytes those cuts removed |
//! | `wal_recovery_quarantined_segments_total` | counter | segments recovery quarantined |
//! | `wal_recovery_skipped_frames_total` | counter | damaged frames skipped under `RecoveryMode::SkipCorrupted` |
//! | `wal_poisoned_total` | counter | logs poisoned by a failed write, sync or seal |
//! | `wal_archive_segments_total` | counter | sealed segments archived and verified (`wal-object`'s `Archiver`, its `metrics` feature) |
//! | `wal_archive_bytes_total` | counter | bytes of those segments |
//! | `wal_archive_failures_total` | counter | attempts to archive a segment that failed |
//!
//! No metric has labels; a recorder can add global ones (the process, the log's name).
#![forbid(unsafe_code)]

#[cfg(feature = "blocking")]
pub mod blocking;
pub mod clock;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod format;
pub mod lsn;
pub mod metrics;
pub mod options;
pub mod policy;
pub mod retention;
mod scan;
pub mod segment;
pub mod store;
pub mod typed;
mod wal;

#[cfg(feature = "bincode")]
pub use codec::BincodeCodec;
pub use codec::Codec;
#[cfg(feature = "postcard")]
pub use codec::PostcardCodec;
pub use error::{Error, Result};
pub use format::Compression;
pub use lsn::{Lsn, SegmentId};
pub use options::{RecoveryMode, Visibility, WalOptions};
pub use policy::{
    Ack, Adaptive, FixedDelay, Gather, GroupCommit, Interval, Never, PendingBatch, PerWrite,
    SyncPolicy,
};
pub use retention::{RetentionGate, SegmentIdentity};
pub use store::{Capabilities, SegmentMeta, SegmentStore, SegmentStoreExt, SegmentWriter};
pub use typed::{TypedStream, TypedWal};
pub use wal::{
    LsnRange, Record, RecordStream, RecoveryReport, SegmentInfo, Ticket, Wal, WalStats, Watermark,
    LATENCY_BUCKETS,
};
