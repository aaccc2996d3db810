//! Traits, on-disk format and the generic engine of a pluggable write-ahead log.
//!
//! A storage engine appends records to a [`Wal`], gets dense [`Lsn`]s back, and reads them after
//! a restart. Where the bytes live is a [`SegmentStore`]: the filesystem (`wal-fs`), memory with
//! simulated power loss (`wal-memory`) or object storage (`wal-object`); pick one at compile
//! time, or use `Arc<dyn SegmentStore>` to pick at run time.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::StreamExt;
//! use wal_api::{Lsn, Wal, WalOptions};
//! use wal_memory::MemoryStore;
//!
//! let store = MemoryStore::new();
//! let wal = Wal::open(store.clone(), WalOptions::default()).await?;
//! wal.append(b"put a=1").await?;                    // durable on return (group commit)
//! wal.append_batch(&[&b"put b=2"[..], b"put c=3"]).await?; // all or nothing
//! wal.close().await?;
//!
//! let wal = Wal::open(store, WalOptions::default()).await?; // recovery
//! let records: Vec<_> = wal.read(Lsn(1)..).collect().await;
//! assert_eq!(records.len(), 3);
//! # Ok::<(), wal_api::Error>(())
//! # }).unwrap();
//! ```
//!
//! The contracts a backend must meet are in the `# Contract` sections of [`SegmentStore`] and
//! [`SegmentWriter`]; `wal-testkit` checks them.
#![forbid(unsafe_code)]

pub mod codec;
pub mod error;
pub mod format;
pub mod lsn;
pub mod metrics;
pub mod options;
pub mod policy;
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
pub use lsn::{Lsn, SegmentId};
pub use options::{RecoveryMode, RetentionGate, Visibility, WalOptions};
pub use policy::{
    Ack, Adaptive, FixedDelay, Gather, GroupCommit, Interval, Never, PendingBatch, PerWrite,
    SyncPolicy,
};
pub use store::{Capabilities, SegmentMeta, SegmentStore, SegmentStoreExt, SegmentWriter};
pub use typed::{TypedStream, TypedWal};
pub use wal::{
    LsnRange, Record, RecordStream, RecoveryReport, SegmentInfo, Ticket, Wal, WalStats, Watermark,
    LATENCY_BUCKETS,
};
