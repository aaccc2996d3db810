//! The filesystem backend of the write-ahead log: [`FsStore`] keeps one file per segment in a
//! directory.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::StreamExt;
//! use wal_api::{Lsn, Wal, WalOptions};
//! use wal_fs::{FsOptions, FsStore, SyncMode};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let opts = FsOptions::default().sync_mode(SyncMode::DataSync).create_if_missing(true);
//! let store = FsStore::open_with(dir.path(), opts)?;
//! let wal = Wal::open(store, WalOptions::default()).await?;
//! wal.append(b"put a=1").await?; // durable when it returns
//! wal.close().await?;
//! drop(wal); // releases the directory lock
//!
//! let wal = Wal::open(FsStore::open_or_create(dir.path())?, WalOptions::default()).await?;
//! let records: Vec<_> = wal.read(Lsn(1)..).collect().await;
//! assert_eq!(records.len(), 1);
//! # Ok::<(), wal_api::Error>(())
//! # }).unwrap();
//! ```
//!
//! What the store guarantees (segment naming, directory fsync, the lock, preallocation,
//! quarantine) is listed on [`FsStore`]; sync modes are [`SyncMode`].
//!
//! # Features
//! - `testing` (off by default): test support only. It adds `DurabilityTracker` and
//!   `FsOptions::tracker`, which record the length of every segment known durable so a test
//!   can build the files a power loss would leave. Enable it in `[dev-dependencies]`, never
//!   in a production build.
#![forbid(unsafe_code)]

mod options;
mod rewrite;
mod store;
#[cfg(feature = "testing")]
mod tracker;
mod writer;

pub use options::{FsOptions, SyncExecution, SyncMode};
pub use store::{
    parse_segment_file_name, segment_file_name, FsStore, LOCK_FILE, QUARANTINE_DIR, SEGMENT_SUFFIX,
};
#[cfg(feature = "testing")]
pub use tracker::DurabilityTracker;
