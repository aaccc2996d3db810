//! [`Archiver`]: sealed segments from any [`SegmentStore`] to an object store, verified and
//! recorded in a manifest; read-through of archived LSNs; restore of a local log.
//!
//! Layout under the archive prefix:
//!
//! ```text
//! <prefix>/segments/<segment>-<crc>  a sealed segment, byte for byte (never overwritten),
//!                                named by its id and its trailer's checksum (ids are reused
//!                                after a suffix truncation); archives written before
//!                                0.4 name it `<segment>` alone
//! <prefix>/manifest/<seq>        JSON manifest entries, each created with PutMode::Create
//! <prefix>/state/<version>       the log's metadata and checkpoint (see `archive_state`)
//! <prefix>/tmp/...               multipart uploads before they are published
//! ```
//!
//! The manifest is an append-only sequence of small immutable objects: each update creates
//! the next sequence number with a conditional put, and a writer that loses the race reloads
//! and retries. This needs only `PutMode::Create`, which every `object_store` backend
//! (including `LocalFileSystem`) supports.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use wal_api::segment::check_segment;
use wal_api::{Error, Lsn, Result, SegmentId, SegmentIdentity, SegmentStore, SegmentStoreExt};

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

impl ArchivedSegment {
    /// What the log compares to decide whether its local segment is this one.
    pub fn identity(&self) -> SegmentIdentity {
        SegmentIdentity {
            id: self.id,
            base_lsn: self.base_lsn,
            len: self.len,
            body_crc: self.body_crc,
        }
    }

    /// The object's name under `segments/`.
    fn object_name(&self) -> String {
        format!("{}-{:08x}", self.id.padded(), self.body_crc)
    }
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
    /// The object's name under `segments/`; absent in entries written before 0.4 (named by
    /// the id alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
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
            key: Some(a.object_name()),
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

/// Copies sealed segments to an object store and lets a log delete them locally only once
/// they are safe there. Clones share state.
///
/// Pass it as the log's [`RetentionGate`](wal_api::RetentionGate) (`WalOptions::retention`):
/// prefix truncation then deletes only segments whose archived copy (same contents, not just
/// the same id) is verified and recorded in the manifest, suffix truncation and reset refuse
/// to touch archived segments, and neither runs on a segment while it is being archived.
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
pub(crate) struct ArchState {
    /// The newest manifest entry of each id.
    segments: BTreeMap<SegmentId, ArchivedSegment>,
    /// Ids whose entry names its object by the id alone (archives written before 0.4).
    legacy_keys: BTreeSet<SegmentId>,
    next_manifest: u64,
    skipped_entries: u64,
    /// Segments being copied, and how many copies of each are in flight.
    pub(crate) pinned: BTreeMap<SegmentId, usize>,
    /// Segments a suffix truncation or reset of a log using this archiver as its gate is
    /// changing or deleting, and how many such operations hold each.
    pub(crate) discarding: BTreeMap<SegmentId, usize>,
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

    pub(crate) fn lock(&self) -> MutexGuard<'_, ArchState> {
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

    /// Where the archived copy `a` lives.
    pub(crate) fn segment_key(&self, a: &ArchivedSegment) -> Path {
        let dir = self.inner.root.clone().join("segments");
        if self.lock().legacy_keys.contains(&a.id) {
            dir.join(a.id.padded())
        } else {
            dir.join(a.object_name())
        }
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
        // Owned keys and store handles: a future borrowing through the closure would not be
        // `Send` for every lifetime, and callers spawn archiving on a runtime.
        let keys: Vec<Path> = seqs.iter().map(|s| dir.clone().join(pad(*s))).collect();
        let loaded: Vec<Bytes> = futures::stream::iter(keys.into_iter().map(|key| {
            let store = Arc::clone(&self.inner.store);
            async move { store.get(&key).await?.bytes().await }
        }))
        .buffered(16)
        .try_collect()
        .await
        .map_err(|e| map_err("reading the archive manifest", None, e))?;
        let mut segments = BTreeMap::new();
        let mut legacy = BTreeSet::new();
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
                // A later entry of an id supersedes an earlier one (the id was reused after a
                // suffix truncation, and the later copy was current when it was recorded).
                match &e.key {
                    None => {
                        legacy.insert(a.id);
                    }
                    Some(k) if *k == a.object_name() => {
                        legacy.remove(&a.id);
                    }
                    Some(_) => {
                        skipped += 1;
                        continue;
                    }
                }
                segments.insert(a.id, a);
            }
        }
        let mut st = self.lock();
        st.segments = segments;
        st.legacy_keys = legacy;
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

    /// Whether the manifest entry of `id` names its object by the id alone.
    pub(crate) fn is_legacy(&self, id: SegmentId) -> bool {
        self.lock().legacy_keys.contains(&id)
    }

    /// Whether the manifest holds exactly the sealed segment `seg` (same id, base LSN,
    /// length and checksum).
    pub fn holds(&self, seg: &SegmentIdentity) -> bool {
        self.get(seg.id).is_some_and(|a| a.identity() == *seg)
    }

    /// Archives segment `id` of `src`: it must be sealed and verify end to end. Uploads it
    /// (never overwriting: an identical copy already there counts as success, a different one
    /// is [`Error::Archived`]), verifies the stored copy by checksum, checks that `src` still
    /// holds the same segment, records it in the manifest, and only then reports it archived.
    /// A copy already recorded with the same contents is returned as it is; one recorded for
    /// an earlier segment of the same id (before a suffix truncation) is superseded.
    ///
    /// While it runs the segment is pinned: a suffix truncation or reset of a log that uses
    /// this archiver as its [`RetentionGate`](wal_api::RetentionGate) and would discard the
    /// segment is refused ([`Error::Archived`]), and this call is refused while such an
    /// operation runs.
    pub async fn archive_segment<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
        id: SegmentId,
    ) -> Result<ArchivedSegment> {
        let _pin = self.pin(id)?;
        match self.copy_verify_record(src, id).await {
            // Already archived: nothing copied, nothing counted.
            Ok((a, false)) => Ok(a),
            done => {
                let done = done.map(|(a, _)| a);
                count_archived(&done);
                done
            }
        }
    }

    /// [`archive_segment`](Self::archive_segment) once the segment is pinned; says whether
    /// it copied (`false`: the manifest held this segment already).
    async fn copy_verify_record<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
        id: SegmentId,
    ) -> Result<(ArchivedSegment, bool)> {
        let t0 = std::time::Instant::now();
        let bytes = src.read_all(id).await?;
        if let Some(seg) = SegmentIdentity::of_bytes(id, &bytes) {
            if let Some(a) = self.get(id).filter(|a| a.identity() == seg) {
                return Ok((a, false));
            }
        }
        // Check the whole segment before anything is uploaded, then digest it while the
        // upload runs.
        let entry = describe(id, &bytes)?;
        let md5 = {
            let digest = bytes.clone();
            tokio::task::spawn_blocking(move || hex(&Md5::digest(&digest)))
        };
        let key = self
            .inner
            .root
            .clone()
            .join("segments")
            .join(entry.object_name());
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
        let (md5, created) = futures::join!(md5, upload);
        let md5 = md5.map_err(|e| Error::other(format!("checking segment {id}"), e))?;
        let created = created.map_err(|e| map_err("archiving", Some(id), e))?;
        if created == Created::Taken {
            // An earlier run uploaded this segment and died before recording it, or the
            // object is something else: only an identical copy counts.
            match io::holds(store, &key, &bytes).await {
                Ok(Some(true)) => {}
                Ok(_) => {
                    return Err(archive_err(
                        id,
                        "the archive already holds a different copy of this segment",
                    ))
                }
                Err(e) => return Err(map_err("verifying the archived copy of", Some(id), e)),
            }
        } else {
            self.verify_stored(&key, &bytes, &md5)
                .await
                .map_err(|e| match e {
                    Error::NotFound { .. } => archive_err(id, "archived copy vanished"),
                    e => e,
                })?;
        }
        // The copy counts only if the log still holds this segment: a store shared with
        // another process may have cut it meanwhile (this process's truncations are kept out
        // by the pin).
        if SegmentIdentity::read(src, id, entry.len)
            .await
            .ok()
            .flatten()
            != Some(entry.identity())
        {
            if created == Created::Ours {
                let _ = io::delete_if_exists(store, &key).await;
            }
            return Err(archive_err(
                id,
                "the segment changed while it was being archived (a suffix truncation or reset?)",
            ));
        }
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
        Ok((entry, true))
    }

    /// The segments of `src` before the newest (see [`archive_sealed`](Self::archive_sealed))
    /// the archive does not hold, oldest first, with their lengths and whether they are
    /// sealed.
    async fn unarchived<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
    ) -> Result<Vec<(SegmentId, u64, bool)>> {
        let mut listed = src.list_segments().await?;
        listed.sort_by_key(|m| m.id);
        listed.pop();
        let mut out = Vec::new();
        for m in listed {
            match SegmentIdentity::read(src, m.id, m.len).await? {
                Some(seg) if self.holds(&seg) => {}
                seg => out.push((m.id, m.len, seg.is_some())),
            }
        }
        Ok(out)
    }

    /// How far the archive is behind `src`: the sealed segments (all but the newest) it does
    /// not hold yet, compared by contents (a copy of an earlier segment under the same id does
    /// not count).
    pub async fn lag<S: SegmentStore + ?Sized>(&self, src: &S) -> Result<ArchiveLag> {
        let behind = self.unarchived(src).await?;
        Ok(ArchiveLag {
            oldest_unarchived: behind.first().map(|m| m.0),
            segments_behind: behind.len() as u64,
            bytes_behind: behind.iter().map(|m| m.1).sum(),
        })
    }

    /// Archives every sealed segment of `src` not archived yet, except the newest segment.
    /// Segments a truncation or reset is discarding right now are left for the next call.
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
        for (id, _, sealed) in self.unarchived(src).await? {
            if !sealed || self.is_discarding(id) {
                continue;
            }
            match self.archive_segment(src, id).await {
                Ok(a) => out.push(a),
                // Gone or cut since it was listed: a truncation won the race.
                Err(Error::NotFound { .. }) => {}
                Err(e) if self.is_discarding(id) => {
                    tracing::debug!(target: "wal::archive", segment = id.0, error = %e, "segment discarded while being archived");
                }
                Err(e) => return Err(e),
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
                    if let Some(old) = st.segments.insert(entry.id, entry) {
                        if old != entry {
                            tracing::info!(target: "wal::archive", segment = entry.id.0, "an earlier copy under this id is superseded (the id was reused after a suffix truncation)");
                        }
                    }
                    st.legacy_keys.remove(&entry.id);
                    st.next_manifest = st.next_manifest.max(seq + 1);
                    return Ok(());
                }
                Created::Taken => {
                    // Another archiver wrote this entry; catch up and retry.
                    self.reload().await?;
                    if self.get(entry.id) == Some(entry) && !self.is_legacy(entry.id) {
                        return Ok(());
                    }
                    let mut st = self.lock();
                    st.next_manifest = st.next_manifest.max(seq + 1);
                }
            }
        }
        Err(archive_err(entry.id, "manifest update kept losing races"))
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
