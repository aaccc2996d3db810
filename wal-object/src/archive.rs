//! [`Archiver`]: sealed segments from any [`SegmentStore`] to an object store, verified and
//! recorded in a manifest; read-through of archived LSNs; restore of a local log.
//!
//! Layout under the archive prefix:
//!
//! ```text
//! <prefix>/segments/<segment>    the sealed segment, byte for byte (never overwritten)
//! <prefix>/manifest/<seq>        JSON manifest entries, each created with PutMode::Create
//! <prefix>/state/<version>       the log's metadata and checkpoint (see `archive_state`)
//! <prefix>/tmp/...               multipart uploads before they are published
//! ```
//!
//! The manifest is an append-only sequence of small immutable objects: each update creates
//! the next sequence number with a conditional put, and a writer that loses the race reloads
//! and retries. This needs only `PutMode::Create`, which every `object_store` backend
//! (including `LocalFileSystem`) supports.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use wal_api::format::{decode_frame, FrameKind, SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::segment::{check_segment, segment_records};
use wal_api::{
    Error, Lsn, Record, Result, RetentionGate, SegmentId, SegmentStore, SegmentStoreExt, Wal,
};

use crate::io::{self, map_err, Created, Multipart};
use crate::keys::{pad, parse_pad};

/// Tuning of an [`Archiver`]. Start from `ArchiverOptions::default()` and use the setters
/// (the struct is `#[non_exhaustive]`, so new options are not breaking changes).
///
/// ```
/// let opts = wal_object::ArchiverOptions::default().multipart_threshold(1 << 30);
/// assert_eq!(opts.multipart_threshold, 1 << 30);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ArchiverOptions {
    /// Segments larger than this are uploaded in parts (then published with a
    /// copy-if-not-exists); smaller ones with one conditional put (S3 takes up to 5 GiB).
    pub multipart_threshold: usize,
    /// Part size of multipart uploads (S3 needs at least 5 MiB for every part but the last).
    pub part_size: usize,
}

impl Default for ArchiverOptions {
    fn default() -> Self {
        ArchiverOptions {
            multipart_threshold: 256 << 20,
            part_size: io::PART_SIZE,
        }
    }
}

impl ArchiverOptions {
    /// Sets the size above which a segment is uploaded in parts.
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

/// How far an archive is behind a log: see [`Archiver::lag`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveLag {
    /// The oldest sealed segment not archived yet.
    pub oldest_unarchived: Option<SegmentId>,
    /// Sealed segments not archived yet.
    pub segments_behind: u64,
    /// Their bytes.
    pub bytes_behind: u64,
}

/// A segment the archive holds, verified and recorded in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchivedSegment {
    /// The segment.
    pub id: SegmentId,
    /// LSN of its first record.
    pub base_lsn: Lsn,
    /// LSN of its last record.
    pub last_lsn: Lsn,
    /// Records it holds.
    pub records: u64,
    /// Its length in bytes.
    pub len: u64,
    /// CRC32 (crc32fast) of all its bytes.
    pub crc32: u32,
    /// The trailer's checksum of header and frames.
    pub body_crc: u32,
}

#[derive(Serialize, Deserialize)]
struct EntryJson {
    id: u64,
    base_lsn: u64,
    last_lsn: u64,
    records: u64,
    len: u64,
    crc32: u32,
    body_crc: u32,
}

#[derive(Serialize, Deserialize)]
struct ManifestJson {
    version: u32,
    segments: Vec<EntryJson>,
}

impl From<&ArchivedSegment> for EntryJson {
    fn from(a: &ArchivedSegment) -> Self {
        EntryJson {
            id: a.id.0,
            base_lsn: a.base_lsn.0,
            last_lsn: a.last_lsn.0,
            records: a.records,
            len: a.len,
            crc32: a.crc32,
            body_crc: a.body_crc,
        }
    }
}

impl From<&EntryJson> for ArchivedSegment {
    fn from(e: &EntryJson) -> Self {
        ArchivedSegment {
            id: SegmentId(e.id),
            base_lsn: Lsn(e.base_lsn),
            last_lsn: Lsn(e.last_lsn),
            records: e.records,
            len: e.len,
            crc32: e.crc32,
            body_crc: e.body_crc,
        }
    }
}

/// What [`Archiver::restore`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Segments written to the destination.
    pub segments: Vec<SegmentId>,
    /// LSN of the last restored record (`Lsn::NONE` if none).
    pub last_lsn: Lsn,
    /// The log state (metadata and checkpoint) written into the restored log, from the
    /// newest archived state ([`Archiver::archive_state`]); `None` when the archive has none.
    pub state: Option<wal_api::format::state::LogState>,
    /// The archived checkpoint, when it lies past the restored records (a restore to an
    /// earlier LSN): the restored log keeps no checkpoint then, since one past its last
    /// record would make it refuse to open.
    pub checkpoint_dropped: Option<Lsn>,
}

/// Copies sealed segments to an object store and lets a log delete them locally only once
/// they are safe there. Clones share state.
///
/// Pass it as the log's [`RetentionGate`] (`WalOptions::retention`): prefix truncation then
/// deletes only segments whose archived copy is verified and recorded in the manifest, and
/// suffix truncation refuses to touch archived segments.
#[derive(Clone)]
pub struct Archiver {
    inner: Arc<ArchInner>,
}

struct ArchInner {
    store: Arc<dyn ObjectStore>,
    root: Path,
    opts: ArchiverOptions,
    state: Mutex<ArchState>,
    /// Serializes manifest updates of this process.
    manifest_lock: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct ArchState {
    segments: BTreeMap<SegmentId, ArchivedSegment>,
    next_manifest: u64,
    skipped_entries: u64,
}

impl fmt::Debug for Archiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archiver")
            .field("store", &self.inner.store.to_string())
            .field("prefix", &self.inner.root.as_ref())
            .field("segments", &self.lock().segments.len())
            .finish()
    }
}

/// Counts an archive attempt in the `metrics` facade (feature `metrics`; names in
/// `wal_api::metrics`).
fn count_archived(done: &Result<ArchivedSegment>) {
    #[cfg(feature = "metrics")]
    match done {
        Ok(a) => {
            metrics::counter!(wal_api::metrics::ARCHIVE_SEGMENTS).increment(1);
            metrics::counter!(wal_api::metrics::ARCHIVE_BYTES).increment(a.len);
        }
        Err(_) => metrics::counter!(wal_api::metrics::ARCHIVE_FAILURES).increment(1),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = done;
}

fn archive_err(id: SegmentId, detail: impl Into<String>) -> Error {
    Error::Archived {
        segment: id,
        detail: detail.into(),
    }
}

impl Archiver {
    /// Opens the archive under `prefix` and loads its manifest.
    pub async fn open(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Archiver> {
        Self::open_with(store, prefix, ArchiverOptions::default()).await
    }

    /// Opens with explicit options.
    pub async fn open_with(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        opts: ArchiverOptions,
    ) -> Result<Archiver> {
        let a = Archiver {
            inner: Arc::new(ArchInner {
                store,
                root: Path::from(prefix),
                opts,
                state: Mutex::new(ArchState::default()),
                manifest_lock: tokio::sync::Mutex::new(()),
            }),
        };
        a.reload().await?;
        Ok(a)
    }

    fn lock(&self) -> MutexGuard<'_, ArchState> {
        match self.inner.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The object store the archive lives in.
    pub(crate) fn store(&self) -> &dyn ObjectStore {
        self.inner.store.as_ref()
    }

    /// The archive's prefix.
    pub(crate) fn root(&self) -> &Path {
        &self.inner.root
    }

    fn segment_key(&self, id: SegmentId) -> Path {
        self.inner.root.clone().join("segments").join(id.padded())
    }

    fn manifest_dir(&self) -> Path {
        self.inner.root.clone().join("manifest")
    }

    /// Reloads the manifest from the object store.
    pub async fn reload(&self) -> Result<()> {
        let store = self.inner.store.as_ref();
        let dir = self.manifest_dir();
        let listed = io::list_all(store, &dir)
            .await
            .map_err(|e| map_err("listing the archive manifest", None, e))?;
        let mut seqs: Vec<u64> = listed
            .iter()
            .filter_map(|(k, _)| {
                let mut parts = k.prefix_match(&dir)?;
                let name = parts.next()?;
                if parts.next().is_some() {
                    return None;
                }
                parse_pad(name.as_ref())
            })
            .collect();
        seqs.sort_unstable();
        let loaded: Vec<Bytes> = futures::stream::iter(seqs.iter().map(|s| {
            let key = dir.clone().join(pad(*s));
            async move { store.get(&key).await?.bytes().await }
        }))
        .buffered(16)
        .try_collect()
        .await
        .map_err(|e| map_err("reading the archive manifest", None, e))?;
        let mut segments = BTreeMap::new();
        let mut skipped = 0;
        for raw in loaded {
            // An entry that does not decode was never reported archived (entries are read
            // back before they count); it can only keep a segment from being deleted.
            let Ok(m) = serde_json::from_slice::<ManifestJson>(&raw) else {
                skipped += 1;
                continue;
            };
            for e in &m.segments {
                let a = ArchivedSegment::from(e);
                segments.insert(a.id, a);
            }
        }
        let mut st = self.lock();
        st.segments = segments;
        st.skipped_entries = skipped;
        st.next_manifest = seqs.last().map_or(0, |s| s + 1);
        Ok(())
    }

    /// Manifest objects that failed to decode at the last load (ignored: such an entry never
    /// counted as archived, so it only keeps its segment from being deleted locally).
    pub fn skipped_manifest_entries(&self) -> u64 {
        self.lock().skipped_entries
    }

    /// The archived segments, in id order.
    pub fn archived(&self) -> Vec<ArchivedSegment> {
        self.lock().segments.values().copied().collect()
    }

    /// The manifest entry of `id`, if archived.
    pub fn get(&self, id: SegmentId) -> Option<ArchivedSegment> {
        self.lock().segments.get(&id).copied()
    }

    /// Archives segment `id` of `src`: it must be sealed and verify end to end. Uploads it
    /// (never overwriting: an identical copy already there counts as success, a different one
    /// is [`Error::Archived`]), verifies the stored copy by checksum, records it in the
    /// manifest, and only then reports it archived.
    pub async fn archive_segment<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
        id: SegmentId,
    ) -> Result<ArchivedSegment> {
        if let Some(a) = self.get(id) {
            return Ok(a);
        }
        let done = self.copy_verify_record(src, id).await;
        count_archived(&done);
        done
    }

    /// [`archive_segment`](Self::archive_segment) of a segment the manifest does not hold.
    async fn copy_verify_record<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
        id: SegmentId,
    ) -> Result<ArchivedSegment> {
        let t0 = std::time::Instant::now();
        let bytes = src.read_all(id).await?;
        // Check the segment and digest it while the upload runs; a segment that fails its
        // check is removed again and never recorded.
        let check = {
            let digest = bytes.clone();
            let md5 = tokio::task::spawn_blocking(move || hex(&Md5::digest(&digest)));
            let bytes = bytes.clone();
            async move {
                let entry = describe(id, &bytes);
                md5.await.map(|md5| (entry, md5))
            }
        };
        let key = self.segment_key(id);
        let store = self.inner.store.as_ref();
        let root = self.inner.root.clone();
        let upload = io::create_object(
            store,
            &key,
            bytes.clone(),
            Multipart {
                threshold: self.inner.opts.multipart_threshold,
                part_size: self.inner.opts.part_size,
            },
            || {
                root.join("tmp")
                    .join(format!("{}-{}", id.padded(), io::unique()))
            },
        );
        let (checked, created) = futures::join!(check, upload);
        let (entry, md5) =
            checked.map_err(|e| Error::other(format!("checking segment {id}"), e))?;
        let created = created.map_err(|e| map_err("archiving", Some(id), e))?;
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                if created == Created::Ours {
                    let _ = io::delete_if_exists(store, &key).await;
                }
                return Err(e);
            }
        };
        if created == Created::Taken {
            return Err(archive_err(
                id,
                "the archive already holds a different copy of this segment",
            ));
        }
        self.verify_stored(&key, &bytes, &md5)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => archive_err(id, "archived copy vanished"),
                e => e,
            })?;
        self.record(entry).await?;
        tracing::info!(
            target: "wal::archive",
            segment = id.0,
            bytes = entry.len,
            last_lsn = entry.last_lsn.0,
            took_ms = t0.elapsed().as_millis() as u64,
            verified = true,
            "segment archived and verified"
        );
        Ok(entry)
    }

    /// How far the archive is behind `src`: the sealed segments (all but the newest) it does
    /// not hold yet.
    pub async fn lag<S: SegmentStore + ?Sized>(&self, src: &S) -> Result<ArchiveLag> {
        let mut listed = src.list_segments().await?;
        listed.sort_by_key(|m| m.id);
        listed.pop();
        let behind: Vec<_> = listed.iter().filter(|m| self.get(m.id).is_none()).collect();
        Ok(ArchiveLag {
            oldest_unarchived: behind.first().map(|m| m.id),
            segments_behind: behind.len() as u64,
            bytes_behind: behind.iter().map(|m| m.len).sum(),
        })
    }

    /// Archives every sealed segment of `src` not archived yet, except the newest segment.
    ///
    /// The newest segment is skipped even when it carries a seal trailer: a writer may have
    /// appended the trailer without having made it durable yet, and an archived copy of bytes
    /// a crash then loses would disagree with the recovered log. Every older segment was
    /// durably sealed before its successor was created. Archive the newest one with
    /// [`archive_segment`](Self::archive_segment) once it is known durable (after
    /// [`Wal::close`](wal_api::Wal::close), say).
    pub async fn archive_sealed<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
    ) -> Result<Vec<ArchivedSegment>> {
        let mut out = Vec::new();
        let mut listed = src.list_segments().await?;
        listed.sort_by_key(|m| m.id);
        listed.pop();
        for meta in listed {
            if self.get(meta.id).is_some() {
                continue;
            }
            let bytes = src.read_all(meta.id).await?;
            if let Ok(s) = check_segment(meta.id, &bytes, true) {
                if s.trailer.is_some() {
                    out.push(self.archive_segment(src, meta.id).await?);
                }
            }
        }
        Ok(out)
    }

    /// Verifies the stored object at `key` holds exactly `bytes`: by its size and an MD5 ETag
    /// (S3 single-part objects, computed by the server from what it stored) when the store
    /// provides one, otherwise by reading it back and comparing CRC32 and bytes.
    async fn verify_stored(&self, key: &Path, bytes: &[u8], md5: &str) -> Result<()> {
        let store = self.inner.store.as_ref();
        let meta = store
            .head(key)
            .await
            .map_err(|e| map_err("verifying the archived copy of", None, e))?;
        if meta.size != bytes.len() as u64 {
            return Err(self.discard(key, "archived copy has the wrong size").await);
        }
        if let Some(tag) = meta.e_tag.as_deref() {
            let tag = tag.trim_matches('"');
            if tag.len() == 32 && tag.eq_ignore_ascii_case(md5) {
                return Ok(());
            }
        }
        match io::holds(store, key, bytes).await {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => Err(self.discard(key, "archived copy fails its checksum").await),
            Ok(None) => Err(Error::InvalidArgument("archived copy vanished".into())),
            Err(e) => Err(map_err("verifying the archived copy of", None, e)),
        }
    }

    /// Removes a copy this call uploaded that failed verification, and returns the error.
    async fn discard(&self, key: &Path, why: &str) -> Error {
        let _ = io::delete_if_exists(self.inner.store.as_ref(), key).await;
        Error::Corrupt {
            segment: SegmentId(0),
            offset: 0,
            reason: format!("{why} ({})", key.as_ref()),
        }
    }

    /// Appends an entry to the manifest with a conditional create of the next manifest object.
    async fn record(&self, entry: ArchivedSegment) -> Result<()> {
        let _g = self.inner.manifest_lock.lock().await;
        let body = serde_json::to_vec(&ManifestJson {
            version: 1,
            segments: vec![EntryJson::from(&entry)],
        })
        .map_err(Error::codec)?;
        let body = Bytes::from(body);
        for _ in 0..64 {
            let seq = self.lock().next_manifest;
            let key = self.manifest_dir().join(pad(seq));
            let created = io::create_object(
                self.inner.store.as_ref(),
                &key,
                body.clone(),
                Multipart::NEVER,
                || key.clone(),
            )
            .await
            .map_err(|e| map_err("recording in the archive manifest", Some(entry.id), e))?;
            match created {
                Created::Ours => {
                    // Read the entry back: it counts only once it is stored intact.
                    match io::holds(self.inner.store.as_ref(), &key, &body).await {
                        Ok(Some(true)) => {}
                        Ok(Some(false)) => {
                            let _ = io::delete_if_exists(self.inner.store.as_ref(), &key).await;
                            return Err(Error::corrupt(
                                entry.id,
                                0,
                                "manifest entry did not read back intact",
                            ));
                        }
                        Ok(None) => {
                            return Err(archive_err(entry.id, "manifest entry vanished"));
                        }
                        Err(e) => {
                            return Err(map_err(
                                "verifying the manifest entry of",
                                Some(entry.id),
                                e,
                            ))
                        }
                    }
                    let mut st = self.lock();
                    st.segments.insert(entry.id, entry);
                    st.next_manifest = st.next_manifest.max(seq + 1);
                    return Ok(());
                }
                Created::Taken => {
                    // Another archiver wrote this entry; catch up and retry.
                    self.reload().await?;
                    match self.get(entry.id) {
                        Some(e) if e == entry => return Ok(()),
                        Some(_) => {
                            return Err(archive_err(
                                entry.id,
                                "the manifest records a different copy of this segment",
                            ))
                        }
                        None => {}
                    }
                    let mut st = self.lock();
                    st.next_manifest = st.next_manifest.max(seq + 1);
                }
            }
        }
        Err(archive_err(entry.id, "manifest update kept losing races"))
    }

    /// Fetches an archived segment and checks it against its manifest entry.
    pub async fn fetch(&self, id: SegmentId) -> Result<Bytes> {
        let entry = self.get(id).ok_or(Error::NotFound { segment: id })?;
        let bytes = self
            .inner
            .store
            .get(&self.segment_key(id))
            .await
            .map_err(|e| map_err("reading the archived copy of", Some(id), e))?
            .bytes()
            .await
            .map_err(|e| map_err("reading the archived copy of", Some(id), e))?;
        if bytes.len() as u64 != entry.len || crc32fast::hash(&bytes) != entry.crc32 {
            return Err(Error::corrupt(id, 0, "archived copy fails its checksum"));
        }
        Ok(bytes)
    }

    /// Reads the records in `range` that the archive holds, in LSN order. Fails with
    /// [`Error::Trimmed`] if the archive does not hold the start of the range.
    pub async fn read(&self, range: Range<Lsn>) -> Result<Vec<Record>> {
        let mut out: Vec<Record> = Vec::new();
        if range.start >= range.end {
            return Ok(out);
        }
        let segs: Vec<ArchivedSegment> = self
            .archived()
            .into_iter()
            .filter(|a| a.records > 0 && a.last_lsn >= range.start && a.base_lsn < range.end)
            .collect();
        let mut next = range.start;
        for a in segs {
            if a.base_lsn > next {
                break;
            }
            let bytes = self.fetch(a.id).await?;
            for r in segment_records(a.id, &bytes)? {
                if r.lsn >= next && r.lsn < range.end {
                    next = r.lsn.next();
                    out.push(r);
                }
            }
        }
        if out.first().is_none_or(|r| r.lsn != range.start) {
            let first = self.archived().first().map_or(Lsn::NONE, |a| a.base_lsn);
            return Err(Error::Trimmed {
                requested: range.start,
                first,
            });
        }
        Ok(out)
    }

    /// Rebuilds a log into `dst` (which must be empty) from the archive, holding every record
    /// up to `upto` (cut at the last whole frame at or before it: a batch is never split). The
    /// last segment is left unsealed when cut, so the log recovers it and appends after it.
    pub async fn restore<S: SegmentStore + ?Sized>(
        &self,
        dst: &S,
        upto: Lsn,
    ) -> Result<RestoreReport> {
        if !dst.list().await?.is_empty() {
            return Err(Error::InvalidArgument(
                "restore needs an empty destination store".into(),
            ));
        }
        let mut report = RestoreReport::default();
        let mut prev: Option<ArchivedSegment> = None;
        for a in self.archived() {
            if a.base_lsn > upto {
                break;
            }
            if let Some(p) = prev {
                if p.last_lsn.next() != a.base_lsn {
                    return Err(Error::corrupt(
                        a.id,
                        0,
                        format!(
                            "archive has a gap after segment {} (LSN {})",
                            p.id, p.last_lsn
                        ),
                    ));
                }
            }
            prev = Some(a);
            let bytes = self.fetch(a.id).await?;
            let header = bytes.get(..SEGMENT_HEADER_LEN).ok_or_else(|| {
                Error::corrupt(a.id, 0, "archived segment shorter than its header")
            })?;
            let layout = SegmentHeader::decode(header)
                .map_err(|r| Error::corrupt(a.id, 0, r))?
                .layout();
            let w = dst.create(a.id, header).await?;
            if a.last_lsn <= upto {
                w.append(&bytes[SEGMENT_HEADER_LEN..]).await?;
                w.seal().await?;
                report.segments.push(a.id);
                report.last_lsn = a.last_lsn;
                tracing::info!(target: "wal::archive", segment = a.id.0, bytes = a.len, last_lsn = a.last_lsn.0, "segment restored");
                continue;
            }
            // Cut inside this segment at the last frame ending at or before `upto`.
            let mut pos = SEGMENT_HEADER_LEN;
            let mut last = a.base_lsn.prev();
            while let Ok(f) = decode_frame(&bytes[pos..], layout) {
                if f.kind == FrameKind::Seal || f.last_lsn() > upto {
                    break;
                }
                last = f.last_lsn();
                pos += f.len();
            }
            w.append(&bytes[SEGMENT_HEADER_LEN..pos]).await?;
            w.sync().await?;
            report.segments.push(a.id);
            report.last_lsn = last;
            tracing::info!(target: "wal::archive", segment = a.id.0, last_lsn = last.0, "segment restored, cut at the requested LSN");
            break;
        }
        if let Some(mut state) = self.archived_state().await? {
            if let Some(c) = state.checkpoint.filter(|&c| c > report.last_lsn) {
                tracing::warn!(target: "wal::archive", checkpoint = c.0, last_lsn = report.last_lsn.0, "the archived checkpoint lies past the restored records: not restored");
                state.checkpoint = None;
                report.checkpoint_dropped = Some(c);
            }
            crate::archive_state::write_slots(dst, &state).await?;
            report.state = Some(state);
        }
        Ok(report)
    }
}

/// Checks a sealed segment and describes it for the manifest.
fn describe(id: SegmentId, bytes: &Bytes) -> Result<ArchivedSegment> {
    let s = check_segment(id, bytes, false)?;
    let Some(t) = s.trailer else {
        return Err(Error::InvalidArgument(format!(
            "segment {id} is not sealed; only sealed segments are archived"
        )));
    };
    if s.header.id != id {
        return Err(Error::corrupt(
            id,
            0,
            format!("header names segment {}", s.header.id),
        ));
    }
    Ok(ArchivedSegment {
        id,
        base_lsn: s.header.base,
        last_lsn: s.last_lsn,
        records: s.records,
        len: bytes.len() as u64,
        crc32: crc32fast::hash(bytes),
        body_crc: t.body_crc,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl RetentionGate for Archiver {
    fn may_delete(&self, id: SegmentId) -> bool {
        self.lock().segments.contains_key(&id)
    }

    fn is_archived(&self, id: SegmentId) -> bool {
        self.lock().segments.contains_key(&id)
    }
}

/// Reads `range` across the archive and the live log: LSNs below the log's first LSN come
/// from the archive, the rest from the log (with its default visibility).
pub async fn read_through<S: SegmentStore>(
    archive: &Archiver,
    wal: &Wal<S>,
    range: Range<Lsn>,
) -> Result<Vec<Record>> {
    let first = wal.first_lsn();
    let mut out = Vec::new();
    if range.start < first {
        let end = first.min(range.end);
        out = archive.read(range.start..end).await?;
        if out.last().map(|r| r.lsn.next()) != Some(end) {
            return Err(Error::Trimmed {
                requested: out.last().map_or(range.start, |r| r.lsn.next()),
                first,
            });
        }
    }
    let from = range.start.max(first);
    if from < range.end {
        let mut s = wal.read(from..range.end);
        while let Some(r) = s.next().await {
            out.push(r?);
        }
    }
    Ok(out)
}
