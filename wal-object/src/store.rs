//! [`ObjectStoreSegments`]: a [`SegmentStore`] over any `object_store::ObjectStore`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use wal_api::format::state::is_state_slot;
use wal_api::{Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter};

use crate::io::{self, map_err, Created, Multipart};
use crate::keys::{Key, Keys};

mod resolve;
#[cfg(feature = "testing")]
mod testing;
mod writer;

use writer::ObjectWriter;

/// Tuning of an [`ObjectStoreSegments`]. Start from `ObjectOptions::default()` and use the
/// setters (the struct is `#[non_exhaustive]`, so new options are not breaking changes).
///
/// ```
/// let opts = wal_object::ObjectOptions::default()
///     .multipart_threshold(64 << 20)
///     .part_size(8 << 20);
/// assert_eq!(opts.part_size, 8 << 20);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ObjectOptions {
    /// Sealed segments larger than this are uploaded in parts (then published with a
    /// copy-if-not-exists); smaller ones with one conditional put.
    pub multipart_threshold: usize,
    /// Part size of multipart uploads (S3 needs at least 5 MiB for every part but the last).
    pub part_size: usize,
}

impl Default for ObjectOptions {
    fn default() -> Self {
        ObjectOptions {
            multipart_threshold: 16 << 20,
            part_size: io::PART_SIZE,
        }
    }
}

impl ObjectOptions {
    /// Sets the size above which a sealed segment is uploaded in parts.
    #[must_use]
    pub fn multipart_threshold(mut self, bytes: usize) -> Self {
        self.multipart_threshold = bytes;
        self
    }

    /// Sets the part size of multipart uploads.
    #[must_use]
    pub fn part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }
}

/// A segment store on object storage (S3, GCS, Azure, MinIO, a local directory, memory).
///
/// Each `sync` writes the bytes appended since the previous one as an immutable chunk object
/// (`PutMode::Create`, deterministic key `chunks/<segment>/<seq>`); `seal` writes the whole
/// segment as one object (multipart above [`ObjectOptions::multipart_threshold`]) and removes
/// the chunks. Unsynced appended bytes live in this process only (readable through this store
/// and its clones, like a page cache, also after their writer is dropped; not durable), so a
/// process crash loses exactly them.
///
/// Opening takes a new writer epoch (`epoch/<n>`, created with `PutMode::Create`). A writer
/// checks after every write that no newer epoch exists and fails with
/// [`Error::Fenced`] otherwise, acknowledging nothing more; a writer whose next chunk key is
/// already taken is fenced as well. Clones share the epoch and the open segments.
///
/// # Layout under the prefix
///
/// ```text
/// epoch/<epoch>                   one object per writer that opened the prefix
/// chunks/<segment>/<seq>          the bytes one sync made durable (unsealed segments)
/// segments/<segment>/<epoch>      a sealed segment, byte for byte
/// quarantine/<segment>/<epoch>-…  segments moved aside by recovery (and a `.reason` note)
/// tmp/…                           multipart uploads before they are published
/// ```
///
/// Every number is 20 zero-padded decimal digits and parsed strictly; other keys are ignored.
/// A chunk object is: magic `WCHK`, format version (u16), reserved (u16), writer epoch (u64),
/// start offset (u64), data length (u64), CRC32 of those fields (u32), the data, CRC32 of the
/// data (u32), all little-endian. A segment is rebuilt from chunk 0 on: each chunk cuts the
/// segment at its start offset and appends its data; a missing or torn chunk ends it; a chunk
/// from an older epoch than one already applied (written by a fenced writer) is skipped. A
/// sealed object wins over chunks of the same or an older epoch. A segment from an older epoch
/// than a segment before it was made by a fenced writer and is not listed (the engine's two
/// state slots, `wal_api::format::state`, are exempt: they are rewritten whole in any epoch).
///
/// # Limits
/// - An open segment's bytes are held in memory (up to the segment size) so that reads see
///   every appended byte; unsynced bytes survive only as long as this process.
/// - Every sync costs a conditional put and a fence check (one HEAD); group commit shares them.
/// - `delete` is as durable as the object store's delete (`LocalFileSystem` does not fsync
///   its directory after a delete).
/// - A fenced writer checks the fence before deleting, but a delete racing with the takeover
///   can still land; object stores offer no conditional delete.
#[derive(Clone)]
pub struct ObjectStoreSegments {
    inner: Arc<Inner>,
}

impl fmt::Debug for ObjectStoreSegments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreSegments")
            .field("store", &self.inner.store.to_string())
            .field("prefix", &self.inner.keys.root().as_ref())
            .field("epoch", &self.inner.epoch)
            .finish()
    }
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    keys: Keys,
    epoch: u64,
    opts: ObjectOptions,
    read_only: bool,
    open: Mutex<HashMap<SegmentId, Arc<OpenSeg>>>,
    cache: Mutex<HashMap<SegmentId, Resolved>>,
    fenced: AtomicBool,
}

/// Where a closed segment's bytes are.
#[derive(Clone, Debug)]
enum Resolved {
    Sealed { key: Path, size: u64, epoch: u64 },
    Chunked { bytes: Bytes, epoch: u64 },
}

impl Resolved {
    fn len(&self) -> u64 {
        match self {
            Resolved::Sealed { size, .. } => *size,
            Resolved::Chunked { bytes, .. } => bytes.len() as u64,
        }
    }

    fn epoch(&self) -> u64 {
        match self {
            Resolved::Sealed { epoch, .. } | Resolved::Chunked { epoch, .. } => *epoch,
        }
    }
}

/// A segment with a live writer in this process.
#[derive(Debug)]
struct OpenSeg {
    id: SegmentId,
    state: Mutex<SegState>,
    sync_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct SegState {
    data: Vec<u8>,
    durable: usize,
    next_seq: u64,
    sealed: bool,
    deleted: bool,
    failed: Option<Error>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The valid chunk chain of a segment.
struct Chain {
    bytes: Vec<u8>,
    epoch: u64,
    /// Number of valid chunks (seq `0..valid`).
    valid: u64,
}

impl ObjectStoreSegments {
    /// Opens the log under `prefix` in `store` with default options, taking a new writer epoch
    /// (which fences any earlier writer of the prefix).
    pub async fn open(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<ObjectStoreSegments> {
        Self::open_with(store, prefix, ObjectOptions::default()).await
    }

    /// Opens with explicit options.
    pub async fn open_with(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        opts: ObjectOptions,
    ) -> Result<ObjectStoreSegments> {
        let keys = Keys::new(Path::from(prefix));
        let epoch = take_epoch(store.as_ref(), &keys).await?;
        Ok(Self::build(store, keys, epoch, opts, false))
    }

    /// Opens the log under `prefix` for reading only, without taking a writer epoch (so the
    /// current writer is not fenced). Every write fails with [`Error::Unsupported`].
    pub async fn open_read_only(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
    ) -> Result<ObjectStoreSegments> {
        let keys = Keys::new(Path::from(prefix));
        Ok(Self::build(store, keys, 0, ObjectOptions::default(), true))
    }

    fn build(
        store: Arc<dyn ObjectStore>,
        keys: Keys,
        epoch: u64,
        opts: ObjectOptions,
        read_only: bool,
    ) -> ObjectStoreSegments {
        ObjectStoreSegments {
            inner: Arc::new(Inner {
                store,
                keys,
                epoch,
                opts,
                read_only,
                open: Mutex::new(HashMap::new()),
                cache: Mutex::new(HashMap::new()),
                fenced: AtomicBool::new(false),
            }),
        }
    }

    /// This writer's epoch (0 for a read-only handle).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The object store underneath.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// Whether a newer writer has been seen (every write fails with [`Error::Fenced`]).
    pub fn is_fenced(&self) -> bool {
        self.inner.fenced.load(Ordering::SeqCst)
    }

    /// Checks now whether a newer writer took over; `Err(Fenced)` if so.
    pub async fn check_fence(&self) -> Result<()> {
        self.inner.check_fence().await
    }

    fn register(&self, seg: Arc<OpenSeg>) -> Box<dyn SegmentWriter> {
        lock(&self.inner.open).insert(seg.id, seg.clone());
        lock(&self.inner.cache).remove(&seg.id);
        Box::new(ObjectWriter {
            inner: self.inner.clone(),
            seg,
        })
    }
}

/// Takes the next writer epoch under `keys`: lists the epochs and creates `max + 1`.
async fn take_epoch(store: &dyn ObjectStore, keys: &Keys) -> Result<u64> {
    for _ in 0..32 {
        let listed = io::list_all(store, &keys.epoch_dir())
            .await
            .map_err(|e| map_err("listing epochs of", None, e))?;
        let max = listed
            .iter()
            .filter_map(|(k, _)| match keys.parse(k) {
                Some(Key::Epoch(e)) => Some(e),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let next = max + 1;
        let token = Bytes::from(format!("wal-object writer epoch {next} {}", io::unique()));
        match io::create_object(store, &keys.epoch(next), token, Multipart::NEVER, || {
            keys.tmp("unused")
        })
        .await
        {
            Ok(Created::Ours) => return Ok(next),
            Ok(Created::Taken) => continue,
            Err(e) => return Err(map_err("taking a writer epoch for", None, e)),
        }
    }
    Err(Error::AlreadyOpen {
        what: format!("{}: writer epochs keep being taken", keys.root().as_ref()),
    })
}

#[async_trait]
impl SegmentStore for ObjectStoreSegments {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        let inner = &self.inner;
        inner.check_fence().await?;
        if inner.open_seg(id).is_some() {
            return Err(Error::AlreadyExists { segment: id });
        }
        lock(&inner.cache).remove(&id);
        // A segment written by an older epoch that the engine asks to create was never part
        // of the log it recovered: a fenced writer made it after the takeover (or it is the
        // rest of an interrupted delete). It is taken over; one of this or a newer epoch
        // exists for real.
        let sealed = io::list_all(inner.store.as_ref(), &inner.keys.sealed_dir(id))
            .await
            .map_err(|e| map_err("creating", Some(id), e))?;
        for (k, _) in &sealed {
            if let Some(Key::Sealed { epoch, .. }) = inner.keys.parse(k) {
                if epoch >= inner.epoch {
                    return Err(Error::AlreadyExists { segment: id });
                }
            }
        }
        let seqs = inner.chunk_seqs(id).await?;
        if seqs.contains(&0) {
            match inner.chunk_epoch(id, 0).await? {
                Some(e) if e > inner.epoch => {
                    return Err(
                        inner.fenced_error(&format!("segment {id} was created by a newer writer"))
                    )
                }
                Some(e) if e == inner.epoch => return Err(Error::AlreadyExists { segment: id }),
                _ => {}
            }
        }
        inner.delete_chunks(id).await?;
        inner.delete_sealed(id, None).await?;
        let used = inner.put_chunk(id, 0, 0, header).await?;
        Ok(self.register(Arc::new(OpenSeg {
            id,
            state: Mutex::new(SegState {
                data: header.to_vec(),
                durable: header.len(),
                next_seq: used + 1,
                sealed: false,
                deleted: false,
                failed: None,
            }),
            sync_lock: tokio::sync::Mutex::new(()),
        })))
    }

    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        let inner = &self.inner;
        inner.check_fence().await?;
        let (current, sealed_rep): (Vec<u8>, bool) = match inner.open_seg(id) {
            Some(seg) => {
                let _g = seg.sync_lock.lock().await;
                let mut st = lock(&seg.state);
                st.deleted = true; // the old writer is replaced
                (st.data.clone(), st.sealed)
            }
            None => {
                lock(&inner.cache).remove(&id);
                let res = inner
                    .resolve(id)
                    .await?
                    .ok_or(Error::NotFound { segment: id })?;
                let bytes = inner.read_resolved(id, &res, 0..u64::MAX).await?.to_vec();
                (bytes, matches!(res, Resolved::Sealed { .. }))
            }
        };
        lock(&inner.open).remove(&id);
        lock(&inner.cache).remove(&id);
        let at = usize::try_from(truncate_at)
            .ok()
            .filter(|at| *at <= current.len())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "cannot cut segment {id} of {} bytes at {truncate_at}",
                    current.len()
                ))
            })?;
        // Find where the valid chain ends; chunks after it are garbage and go first.
        let seqs = inner.chunk_seqs(id).await?;
        let chain = inner.chain(id, &seqs).await?;
        let (valid, chain_len) = chain
            .as_ref()
            .map(|c| (c.valid, c.bytes.len()))
            .unwrap_or((0, 0));
        let mut garbage: Vec<u64> = seqs.iter().copied().filter(|s| *s >= valid).collect();
        garbage.sort_unstable();
        for seq in garbage.into_iter().rev() {
            io::delete_if_exists(inner.store.as_ref(), &inner.keys.chunk(id, seq))
                .await
                .map_err(|e| map_err("opening", Some(id), e))?;
        }
        // The cut chunk: records the cut durably and marks the takeover by this epoch. When the
        // chain does not hold the bytes up to the cut (the segment was sealed), it carries them.
        let (start, data) = match chain {
            Some(_) if !sealed_rep && at <= chain_len => (at, &[][..]),
            Some(_) if !sealed_rep => (chain_len, &current[chain_len..at]),
            _ => (0, &current[..at]),
        };
        let start = start as u64;
        let used = inner.put_chunk(id, valid, start, data).await?;
        inner.delete_sealed(id, None).await?;
        let mut data = current;
        data.truncate(at);
        Ok(self.register(Arc::new(OpenSeg {
            id,
            state: Mutex::new(SegState {
                data,
                durable: at,
                next_seq: used + 1,
                sealed: false,
                deleted: false,
                failed: None,
            }),
            sync_lock: tokio::sync::Mutex::new(()),
        })))
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        if let Some(seg) = self.inner.open_seg(id) {
            let st = lock(&seg.state);
            if !st.deleted {
                let len = st.data.len() as u64;
                let start = range.start.min(len) as usize;
                let end = range.end.min(len).max(start as u64) as usize;
                return Ok(Bytes::copy_from_slice(&st.data[start..end]));
            }
        }
        let res = self
            .inner
            .resolve(id)
            .await?
            .ok_or(Error::NotFound { segment: id })?;
        self.inner.read_resolved(id, &res, range).await
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let inner = &self.inner;
        let listed = io::list_all(inner.store.as_ref(), inner.keys.root())
            .await
            .map_err(|e| map_err("listing", None, e))?;
        let mut sealed: BTreeMap<SegmentId, (u64, u64)> = BTreeMap::new();
        let mut chunks: BTreeMap<SegmentId, Vec<u64>> = BTreeMap::new();
        for (k, size) in &listed {
            match inner.keys.parse(k) {
                Some(Key::Sealed { id, epoch }) => {
                    let e = sealed.entry(id).or_insert((epoch, *size));
                    if epoch > e.0 {
                        *e = (epoch, *size);
                    }
                }
                Some(Key::Chunk { id, seq }) => chunks.entry(id).or_default().push(seq),
                _ => {}
            }
        }
        let open: HashMap<SegmentId, Arc<OpenSeg>> = lock(&inner.open).clone();
        let mut ids: Vec<SegmentId> = sealed.keys().chain(chunks.keys()).copied().collect();
        ids.extend(open.keys().copied());
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        let mut max_epoch = 0u64;
        for id in ids {
            if let Some(seg) = open.get(&id) {
                let st = lock(&seg.state);
                if !st.deleted {
                    out.push(SegmentMeta {
                        id,
                        len: st.data.len() as u64,
                    });
                    max_epoch = max_epoch.max(inner.epoch);
                    continue;
                }
            }
            let seqs = chunks.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            let Some(r) = inner.choose(id, sealed.get(&id).copied(), seqs).await? else {
                continue;
            };
            // A segment from an older epoch after one from a newer epoch was created by a
            // fenced writer after the takeover: not part of the log. The engine's state slots
            // are not in that order (they are rewritten whole, by version, in any epoch).
            if !is_state_slot(id) {
                if r.epoch() < max_epoch {
                    continue;
                }
                max_epoch = r.epoch();
            }
            out.push(SegmentMeta { id, len: r.len() });
            lock(&inner.cache).insert(id, r);
        }
        Ok(out)
    }

    async fn delete(&self, id: SegmentId) -> Result<()> {
        let inner = &self.inner;
        inner.check_fence().await?;
        let was_open = match lock(&inner.open).remove(&id) {
            Some(seg) => {
                lock(&seg.state).deleted = true;
                true
            }
            None => false,
        };
        lock(&inner.cache).remove(&id);
        let exists = was_open || inner.resolve(id).await?.is_some();
        lock(&inner.cache).remove(&id);
        inner.delete_chunks(id).await?;
        inner.delete_sealed(id, None).await?;
        if exists {
            Ok(())
        } else {
            Err(Error::NotFound { segment: id })
        }
    }

    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_fence().await?;
        let bytes = self.read(id, 0..u64::MAX).await?;
        let unique = io::unique();
        let key = inner.keys.quarantine(id, inner.epoch, &unique);
        inner
            .store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(|e| map_err("quarantining", Some(id), e))?;
        let note = inner
            .keys
            .quarantine(id, inner.epoch, &format!("{unique}.reason"));
        inner
            .store
            .put(&note, PutPayload::from(reason.as_bytes().to_vec()))
            .await
            .map_err(|e| map_err("quarantining", Some(id), e))?;
        self.delete(id).await
    }

    async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_fence().await?;
        let unique = io::unique();
        let key = inner
            .keys
            .quarantine(id, inner.epoch, &format!("{unique}.copy"));
        inner
            .store
            .put(&key, PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|e| map_err("keeping a copy of", Some(id), e))?;
        let note = inner
            .keys
            .quarantine(id, inner.epoch, &format!("{unique}.copy.reason"));
        inner
            .store
            .put(&note, PutPayload::from(reason.as_bytes().to_vec()))
            .await
            .map_err(|e| map_err("keeping a copy of", Some(id), e))?;
        Ok(())
    }

    /// Every object this store writes is durable once its put returns.
    async fn sync_segment(&self, _id: SegmentId, _len: u64) -> Result<()> {
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::with_quarantine().remote()
    }
}
