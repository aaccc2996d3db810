//! The backend traits: [`SegmentStore`] and [`SegmentWriter`].

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;
use crate::lsn::SegmentId;

/// What `list` reports about a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentMeta {
    /// The segment.
    pub id: SegmentId,
    /// Its length in bytes (bytes readable through [`SegmentStore::read`]).
    pub len: u64,
}

/// Optional abilities of a store, used by the engine and by the conformance kit.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `quarantine` moves a segment aside and keeps its bytes (otherwise it returns
    /// [`Error::Unsupported`](crate::Error::Unsupported) and the engine refuses to drop it).
    pub quarantine: bool,
    /// Segments live on another machine or service (reads may be slow).
    pub remote: bool,
}

impl Capabilities {
    /// Capabilities with quarantine support, the common case.
    pub fn with_quarantine() -> Capabilities {
        Capabilities {
            quarantine: true,
            remote: false,
        }
    }

    /// Marks the store as remote.
    #[must_use]
    pub fn remote(mut self) -> Capabilities {
        self.remote = true;
        self
    }
}

/// Where a log keeps its segments.
///
/// # Contract
/// - Segment ids are chosen by the engine; a store MUST NOT invent, rename or reorder them.
/// - [`create`](Self::create) MUST fail with [`Error::AlreadyExists`](crate::Error::AlreadyExists)
///   if the id exists, and MUST make the new segment, holding exactly `header`, durable before it
///   returns (a power loss afterwards keeps it).
/// - [`open_tail`](Self::open_tail) MUST cut the segment to `truncate_at` bytes and make the kept
///   bytes durable (not only the cut: a crashed writer may have left them unsynced) before it
///   returns; the writer appends after that point.
/// - [`rewrite`](Self::rewrite) writes bytes again, in place, unchanged, when the store keeps
///   written bytes in a cache that a failed sync may have marked clean without writing them
///   (the Linux page cache after a failed write-back): a later sync then writes them. Such a
///   store MUST implement it.
/// - [`read`](Self::read) returns the bytes of `range` clipped to the segment's length: a short
///   read happens only at the end. It MUST see every byte whose `append` returned.
/// - [`list`](Self::list) returns every segment in ascending id order; anything else under the
///   store's root (foreign files, temporary objects) is ignored, never returned.
/// - [`delete`](Self::delete) and [`quarantine`](Self::quarantine) MUST be durable when they
///   return; a crash never brings the segment back into `list`.
/// - Errors are mapped into [`Error`](crate::Error); running out of space is
///   [`Error::StorageFull`](crate::Error::StorageFull).
/// - One writer per store: a store that can be shared MUST refuse a second writer
///   ([`Error::AlreadyOpen`](crate::Error::AlreadyOpen)) or fence the first
///   ([`Error::Fenced`](crate::Error::Fenced)).
/// - [`preserve`](Self::preserve) MUST keep a durable copy of the given bytes outside the log
///   (next to quarantined segments) before it returns; `list` never shows it.
/// - [`close`](Self::close) releases what makes this the one writer (a directory lock): a new
///   store over the same data can then be opened while clones of this one still exist. After
///   it, mutating calls MAY fail with [`Error::Closed`](crate::Error::Closed).
#[async_trait]
pub trait SegmentStore: Debug + Send + Sync + 'static {
    /// Creates segment `id` holding `header`, durably, and returns its writer.
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>>;
    /// Reopens the last segment for appending after cutting it to `truncate_at` bytes.
    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>>;
    /// Writes bytes `range` of segment `id` again, in place and unchanged, so that the next
    /// sync of the segment ([`open_tail`](Self::open_tail), [`sync_segment`](Self::sync_segment))
    /// writes them. Recovery calls it for the newest segment's bytes that no sync is known to
    /// have covered: a process that died after a failed sync may have left them in a cache
    /// that the failure marked clean, readable but never to be written. The default does
    /// nothing, which is right for a store whose writes have no such cache (an object store's
    /// puts either took or failed); a file system store MUST override it.
    async fn rewrite(&self, id: SegmentId, range: Range<u64>) -> Result<()> {
        let _ = (id, range);
        Ok(())
    }
    /// Reads `range` of segment `id`, clipped to its length.
    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes>;
    /// Lists the segments in ascending id order.
    async fn list(&self) -> Result<Vec<SegmentMeta>>;
    /// Deletes segment `id` durably.
    async fn delete(&self, id: SegmentId) -> Result<()>;
    /// Moves segment `id` out of the log, keeping its bytes for inspection, durably.
    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()>;
    /// Makes the first `len` bytes of segment `id` (all of it) durable. Recovery calls it on
    /// the last segment before building on it, since a crashed writer may have left its bytes,
    /// trailer included, unsynced. The default reopens the segment with
    /// [`open_tail`](Self::open_tail) at `len` and seals it; a store whose writes are always
    /// durable may return `Ok` at once.
    async fn sync_segment(&self, id: SegmentId, len: u64) -> Result<()> {
        self.open_tail(id, len).await?.seal().await.map(|_| ())
    }
    /// Keeps a durable copy of `bytes`, taken from segment `id`, outside the log for
    /// inspection (recovery calls it before cutting damaged bytes out of a segment). Stores
    /// with the `quarantine` capability MUST implement it.
    async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
        let _ = (id, bytes, reason);
        Err(crate::Error::Unsupported(
            "preserve (recovery needs to keep a copy of damaged bytes it cuts)",
        ))
    }
    /// Releases the store's one-writer lock, if it has one. The engine calls it from
    /// [`Wal::close`](crate::Wal::close).
    async fn close(&self) -> Result<()> {
        Ok(())
    }
    /// What this store can do.
    fn capabilities(&self) -> Capabilities;
}

/// Appends to one open segment.
///
/// # Contract
/// - The engine never calls `append` concurrently with `append` or `seal`.
/// - `append` returns once the bytes are readable through [`SegmentStore::read`]; it returns the
///   segment's new length.
/// - `sync` MAY run concurrently with `append`, never with `seal` or another `sync` of the same
///   writer (the engine serializes them), and MAY be called after `seal` (then it returns `Ok`
///   and does nothing). On `Ok`, every byte whose `append` returned before the call is durable.
/// - Once any `sync`, `seal` or background flush of a writer has failed, every later `sync`
///   and `seal` of it MUST fail too: a store MUST NOT report success for a sync that does not
///   cover bytes an earlier failure may have lost (on Linux, a failed writeback marks the pages
///   clean and only one `fsync` caller sees the error). The engine poisons the log on the
///   first failure.
/// - A store that flushes in the background MUST serialize that flush with `sync` and `seal`
///   and record its failure as above.
/// - `seal` makes every appended byte durable, releases preallocated space and closes the
///   segment for writing; the engine has already appended the trailer.
/// - The engine never drops a `sync` or `seal` future before it answered, even when its own
///   caller stops waiting (the rest runs as a task), so a request in flight is never left
///   unsure. It may drop an `append` future, and then appends the same bytes again later: a
///   dropped `append` MUST have appended nothing (ours never await inside `append`).
#[async_trait]
pub trait SegmentWriter: Debug + Send + Sync {
    /// The segment this writer appends to.
    fn id(&self) -> SegmentId;
    /// Appends `bytes`; returns the new segment length.
    async fn append(&self, bytes: &[u8]) -> Result<u64>;
    /// Makes everything appended so far durable.
    async fn sync(&self) -> Result<()>;
    /// Makes everything durable and closes the segment for writing.
    async fn seal(&self) -> Result<SegmentMeta>;
}

macro_rules! forward_store {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<T: SegmentStore + ?Sized> SegmentStore for $ptr<T> {
            async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
                (**self).create(id, header).await
            }
            async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
                (**self).open_tail(id, truncate_at).await
            }
            async fn rewrite(&self, id: SegmentId, range: Range<u64>) -> Result<()> {
                (**self).rewrite(id, range).await
            }
            async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
                (**self).read(id, range).await
            }
            async fn list(&self) -> Result<Vec<SegmentMeta>> {
                (**self).list().await
            }
            async fn delete(&self, id: SegmentId) -> Result<()> {
                (**self).delete(id).await
            }
            async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
                (**self).quarantine(id, reason).await
            }
            async fn sync_segment(&self, id: SegmentId, len: u64) -> Result<()> {
                (**self).sync_segment(id, len).await
            }
            async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
                (**self).preserve(id, bytes, reason).await
            }
            async fn close(&self) -> Result<()> {
                (**self).close().await
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
        }
    )*};
}

forward_store!(Arc, Box);

/// Helpers over any [`SegmentStore`]; implemented for every store, never by hand.
#[async_trait]
pub trait SegmentStoreExt: SegmentStore {
    /// Reads a whole segment.
    async fn read_all(&self, id: SegmentId) -> Result<Bytes> {
        self.read(id, 0..u64::MAX).await
    }

    /// Lists the segments of records in ascending id order: [`list`](SegmentStore::list)
    /// without the log's two state slots ([`crate::format::state::STATE_SLOTS`]), which hold
    /// its metadata and checkpoint and are not part of the record sequence.
    async fn list_segments(&self) -> Result<Vec<SegmentMeta>> {
        let mut l = self.list().await?;
        l.retain(|m| !crate::format::state::is_state_slot(m.id));
        Ok(l)
    }
}

impl<T: SegmentStore + ?Sized> SegmentStoreExt for T {}
