//! Write-ahead-log segments on object storage, and an archiver of sealed segments.
//!
//! Everything goes through the [`object_store`] crate, so S3 (AWS, MinIO), GCS, Azure, a local
//! directory and memory all work.
//!
//! - [`ObjectStoreSegments`] is a full [`SegmentStore`](wal_api::SegmentStore): every sync
//!   writes an immutable chunk object with `PutMode::Create`, sealing writes one segment
//!   object, and one writer per prefix is enforced with writer epochs (a newer writer fences
//!   the older one, which then fails with [`Error::Fenced`](wal_api::Error::Fenced)).
//! - [`Archiver`] copies sealed segments from any store (filesystem, memory) to an object
//!   store, verifies them, records them in a manifest, and only then lets prefix truncation
//!   delete the local copy (it is a [`RetentionGate`](wal_api::RetentionGate)). It reads
//!   archived LSNs back ([`Archiver::read`], [`read_through`]) and restores a local log
//!   ([`Archiver::restore`]).
//! - [`open_url`] opens `s3://` (feature `aws`, on by default), `gs://` (feature `gcp`),
//!   `az://` (feature `azure`), `file://` and `memory://` stores configured as the log needs.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use object_store::memory::InMemory;
//! use wal_api::{Lsn, Wal, WalOptions};
//! use wal_object::ObjectStoreSegments;
//!
//! let bucket = Arc::new(InMemory::new());
//! let store = ObjectStoreSegments::open(bucket.clone(), "logs/orders").await?;
//! let wal = Wal::open(store, WalOptions::default()).await?;
//! wal.append(b"put a=1").await?; // durable on return: a chunk object was written
//! wal.close().await?;
//!
//! // A new writer takes the next epoch and recovers the log.
//! let store = ObjectStoreSegments::open(bucket, "logs/orders").await?;
//! let wal = Wal::open(store, WalOptions::default()).await?;
//! let records: Vec<_> = wal.read(Lsn(1)..).collect().await;
//! assert_eq!(records.len(), 1);
//! # Ok::<(), wal_api::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//! - `aws` (default), `gcp`, `azure`: object_store's cloud backends, and the `s3://`,
//!   `gs://` and `az://` URLs of [`open_url`].
//! - `testing` (off by default): test support only. It adds `FailingObjectStore` (wraps any
//!   object store with seeded faults) and `ObjectStoreSegments::rewrite` (corrupts or tears a
//!   stored segment in place). Enable it in `[dev-dependencies]`, never in a production build.
#![forbid(unsafe_code)]

mod archive;
mod archive_state;
mod chunk;
#[cfg(feature = "testing")]
mod faults;
mod gate;
mod io;
mod keys;
mod restore;
mod store;
mod url;

pub use archive::{ArchiveLag, ArchivedSegment, Archiver, ArchiverOptions};
#[cfg(feature = "testing")]
pub use faults::{FailingObjectStore, FaultConfig, FaultStats};
pub use restore::{read_through, RestoreReport};
pub use store::{ObjectOptions, ObjectStoreSegments};
pub use url::open_url;

/// Re-export of the `object_store` crate this one is built on.
pub use object_store;
