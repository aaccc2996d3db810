//! The engine's own recovery, run without changing a byte: `verify`, `stat` and `repair`
//! (without `--apply`) open the log through [`DryRun`], a store that reads the real segments
//! and keeps every change recovery would make (cuts, trailers, rewritten state slots,
//! deletions, quarantines) in memory. So the tools decide what the engine decides, with the
//! engine's code, and read in the engine's bounded windows.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use wal_api::{
    Capabilities, Error, RecoveryMode, RecoveryReport, Result, SegmentId, SegmentMeta,
    SegmentStore, SegmentWriter, Wal, WalOptions,
};

use crate::source::open_regular;

/// A read-only view of a log directory's segment and state-slot files (no lock taken).
#[derive(Debug)]
pub(crate) struct DirReader {
    files: BTreeMap<SegmentId, PathBuf>,
}

impl DirReader {
    pub(crate) fn new(files: impl IntoIterator<Item = (SegmentId, PathBuf)>) -> DirReader {
        DirReader {
            files: files.into_iter().collect(),
        }
    }
}

#[async_trait]
impl SegmentStore for DirReader {
    async fn create(&self, _: SegmentId, _: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        Err(Error::Unsupported("writing through a read-only view"))
    }
    async fn open_tail(&self, _: SegmentId, _: u64) -> Result<Box<dyn SegmentWriter>> {
        Err(Error::Unsupported("writing through a read-only view"))
    }
    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let path = self.files.get(&id).ok_or(Error::NotFound { segment: id })?;
        let f = open_regular(path).map_err(|e| Error::io("reading", Some(id), e))?;
        let len = f
            .metadata()
            .map_err(|e| Error::io("reading", Some(id), e))?
            .len();
        let (start, end) = (range.start.min(len), range.end.min(len));
        let mut buf = vec![0u8; usize::try_from(end.saturating_sub(start)).unwrap_or(0)];
        f.read_exact_at(&mut buf, start)
            .map_err(|e| Error::io("reading", Some(id), e))?;
        Ok(Bytes::from(buf))
    }
    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let mut out = Vec::new();
        for (&id, path) in &self.files {
            let f = open_regular(path).map_err(|e| Error::io("listing", Some(id), e))?;
            let len = f
                .metadata()
                .map_err(|e| Error::io("listing", Some(id), e))?
                .len();
            out.push(SegmentMeta { id, len });
        }
        Ok(out)
    }
    async fn delete(&self, _: SegmentId) -> Result<()> {
        Err(Error::Unsupported("writing through a read-only view"))
    }
    async fn quarantine(&self, _: SegmentId, _: &str) -> Result<()> {
        Err(Error::Unsupported("writing through a read-only view"))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::with_quarantine()
    }
}

/// A segment as the dry run sees it: the first `keep` bytes of the base segment (none for a
/// segment recovery created), then the bytes recovery appended.
#[derive(Clone, Debug)]
struct Changed {
    keep: u64,
    from_base: bool,
    tail: BytesMut,
}

#[derive(Debug, Default)]
struct Changes {
    segs: BTreeMap<SegmentId, Option<Changed>>,
    quarantined: Vec<(SegmentId, String)>,
}

/// A store that reads `base` and keeps every change in memory (see the module docs).
#[derive(Debug)]
pub(crate) struct DryRun<B> {
    base: Arc<B>,
    changes: Arc<Mutex<Changes>>,
}

impl<B> Clone for DryRun<B> {
    fn clone(&self) -> Self {
        DryRun {
            base: self.base.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<B: SegmentStore> DryRun<B> {
    pub(crate) fn new(base: B) -> DryRun<B> {
        DryRun {
            base: Arc::new(base),
            changes: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What recovery would change: per segment its length before and after (`None`: removed
    /// or absent), and the segments it would quarantine with their reasons.
    pub(crate) async fn plan(&self) -> Result<Plan> {
        let before = lengths(&*self.base).await?;
        let after = lengths(self).await?;
        let changed: Vec<SegmentId> = self.lock().segs.keys().copied().collect();
        Ok(Plan {
            before,
            after,
            changed,
            quarantined: self.lock().quarantined.clone(),
        })
    }
}

/// Every listed entry of `store` and its length.
async fn lengths<S: SegmentStore + ?Sized>(store: &S) -> Result<BTreeMap<SegmentId, u64>> {
    Ok(store
        .list()
        .await?
        .into_iter()
        .map(|m| (m.id, m.len))
        .collect())
}

/// What a dry run would change (see [`DryRun::plan`]).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) before: BTreeMap<SegmentId, u64>,
    pub(crate) after: BTreeMap<SegmentId, u64>,
    /// Segments recovery wrote, cut, created or removed (some may end with their old length:
    /// a trailer rewritten in place, a state slot written again).
    pub(crate) changed: Vec<SegmentId>,
    pub(crate) quarantined: Vec<(SegmentId, String)>,
}

#[derive(Debug)]
struct DryWriter<B> {
    id: SegmentId,
    store: DryRun<B>,
    /// The segment's length when the writer was opened: a segment reopened at its length
    /// is recorded as changed only once something is appended.
    opened_at: u64,
}

#[async_trait]
impl<B: SegmentStore> SegmentWriter for DryWriter<B> {
    fn id(&self) -> SegmentId {
        self.id
    }
    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        let mut c = self.store.lock();
        let entry = c.segs.entry(self.id).or_insert(Some(Changed {
            keep: self.opened_at,
            from_base: true,
            tail: BytesMut::new(),
        }));
        match entry {
            Some(s) => {
                s.tail.extend_from_slice(bytes);
                Ok(s.keep + s.tail.len() as u64)
            }
            None => Err(Error::NotFound { segment: self.id }),
        }
    }
    async fn sync(&self) -> Result<()> {
        Ok(())
    }
    async fn seal(&self) -> Result<SegmentMeta> {
        let c = self.store.lock();
        match c.segs.get(&self.id) {
            Some(Some(s)) => Ok(SegmentMeta {
                id: self.id,
                len: s.keep + s.tail.len() as u64,
            }),
            None => Ok(SegmentMeta {
                id: self.id,
                len: self.opened_at,
            }),
            Some(None) => Err(Error::NotFound { segment: self.id }),
        }
    }
}

#[async_trait]
impl<B: SegmentStore> SegmentStore for DryRun<B> {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        if self.list().await?.iter().any(|m| m.id == id) {
            return Err(Error::AlreadyExists { segment: id });
        }
        self.lock().segs.insert(
            id,
            Some(Changed {
                keep: 0,
                from_base: false,
                tail: BytesMut::from(header),
            }),
        );
        Ok(Box::new(DryWriter {
            id,
            store: self.clone(),
            opened_at: header.len() as u64,
        }))
    }
    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        let len = self
            .list()
            .await?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or(Error::NotFound { segment: id })?
            .len;
        if truncate_at > len {
            return Err(Error::InvalidArgument(format!(
                "cannot cut segment {id} of {len} bytes at {truncate_at}"
            )));
        }
        {
            let mut c = self.lock();
            // Reopened where it ends: nothing changes until something is appended.
            if truncate_at < len || c.segs.contains_key(&id) {
                let entry = c.segs.entry(id).or_insert(Some(Changed {
                    keep: len,
                    from_base: true,
                    tail: BytesMut::new(),
                }));
                if let Some(s) = entry {
                    if truncate_at <= s.keep {
                        s.keep = truncate_at;
                        s.tail.clear();
                    } else {
                        s.tail.truncate((truncate_at - s.keep) as usize);
                    }
                }
            }
        }
        Ok(Box::new(DryWriter {
            id,
            store: self.clone(),
            opened_at: truncate_at,
        }))
    }
    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        let changed = self.lock().segs.get(&id).cloned();
        let s = match changed {
            None => return self.base.read(id, range).await,
            Some(None) => return Err(Error::NotFound { segment: id }),
            Some(Some(s)) => s,
        };
        let len = s.keep + s.tail.len() as u64;
        let (start, end) = (range.start.min(len), range.end.min(len));
        let mut out = BytesMut::new();
        if start < s.keep && s.from_base {
            out.extend_from_slice(&self.base.read(id, start..end.min(s.keep)).await?);
        }
        if end > s.keep {
            let from = (start.max(s.keep) - s.keep) as usize;
            out.extend_from_slice(&s.tail[from..(end - s.keep) as usize]);
        }
        Ok(out.freeze())
    }
    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let mut all = lengths(&*self.base).await?;
        for (id, s) in &self.lock().segs {
            match s {
                None => {
                    all.remove(id);
                }
                Some(s) => {
                    all.insert(*id, s.keep + s.tail.len() as u64);
                }
            }
        }
        Ok(all
            .into_iter()
            .map(|(id, len)| SegmentMeta { id, len })
            .collect())
    }
    async fn delete(&self, id: SegmentId) -> Result<()> {
        if !self.list().await?.iter().any(|m| m.id == id) {
            return Err(Error::NotFound { segment: id });
        }
        self.lock().segs.insert(id, None);
        Ok(())
    }
    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        self.delete(id).await?;
        self.lock().quarantined.push((id, reason.to_string()));
        Ok(())
    }
    async fn sync_segment(&self, _: SegmentId, _: u64) -> Result<()> {
        Ok(())
    }
    async fn preserve(&self, id: SegmentId, _: &[u8], reason: &str) -> Result<()> {
        self.lock()
            .quarantined
            .push((id, format!("copy kept: {reason}")));
        Ok(())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::with_quarantine()
    }
}

/// Options the tools run recovery with: the chosen mode, every sealed segment verified end to
/// end (so a tool never calls a log sound that a reader would find damaged), and limits wide
/// enough for any log (a log's own limits come from its segment headers).
pub(crate) fn tool_options(mode: RecoveryMode) -> WalOptions {
    let o = WalOptions::default()
        .recovery_mode(mode)
        .verify_on_open(true)
        .max_record_size(1 << 30);
    match KEYS.get() {
        Some(keys) => o.encryption(keys.clone()),
        None => o,
    }
}

/// The keys given with `--keys`, for every engine the tools open.
static KEYS: std::sync::OnceLock<Arc<wal_api::crypto::StaticKeys>> = std::sync::OnceLock::new();

/// The key `--keys` gave for key id `id` (`None` for 0, or without `--keys`).
pub(crate) fn key_for(id: u16) -> Option<wal_api::crypto::Key> {
    use wal_api::crypto::KeyProvider;
    KEYS.get().filter(|_| id != 0).and_then(|k| k.key(id))
}

/// Makes `keys` the keys of every log the tools open.
pub(crate) fn set_keys(keys: wal_api::crypto::StaticKeys) {
    let _ = KEYS.set(Arc::new(keys));
}

/// Reads a key file: lines `ID HEX` (id 1..=65535, 64 hex digits), `#` comments, blank
/// lines. The first key is current (the tools never write records).
pub(crate) fn load_keys(path: &std::path::Path) -> Result<wal_api::crypto::StaticKeys, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the key file {}: {e}", path.display()))?;
    let mut keys: Option<wal_api::crypto::StaticKeys> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "{}:{}: expected `ID HEX` (a key id 1..=65535, 64 hex digits)",
                path.display(),
                n + 1
            )
        };
        let (id, hex) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let id: u16 = id.parse().ok().filter(|&i| i != 0).ok_or_else(bad)?;
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        keys = Some(match keys {
            None => wal_api::crypto::StaticKeys::new(id, key),
            Some(k) => k.with(id, key),
        });
    }
    keys.ok_or_else(|| format!("the key file {} holds no key", path.display()))
}

/// The engine opened on a dry run of a log: what it decided, and the log as it would be after
/// recovery (readable through `wal`), with nothing changed on storage.
pub(crate) struct Dry {
    pub(crate) wal: Wal<DryRun<Arc<dyn SegmentStore>>>,
    pub(crate) store: DryRun<Arc<dyn SegmentStore>>,
}

impl Dry {
    /// The engine's recovery report.
    pub(crate) fn report(&self) -> &RecoveryReport {
        self.wal.recovery_report()
    }

    /// What recovery would change.
    pub(crate) async fn plan(&self) -> Result<Plan> {
        self.store.plan().await
    }

    /// Records the engine would hand out (after the checkpoint, after any reset).
    pub(crate) fn records(&self) -> u64 {
        let (first, last) = (self.wal.first_lsn(), self.wal.written_lsn());
        (last.0 + 1).saturating_sub(first.0)
    }

    /// Whether opening in this mode loses nothing: it refused nothing, skipped no frame,
    /// quarantined no segment, stepped over no missing LSN and lost no state (cutting a torn
    /// tail, removing an unfinished creation, finishing a reset and rewriting a state slot
    /// lose nothing acknowledged).
    pub(crate) fn loses_nothing(&self) -> bool {
        let r = self.report();
        r.skipped.is_empty() && r.quarantined.is_empty() && r.missing.is_empty() && !r.state_lost
    }
}

/// Opens the engine in `mode` on a dry run over `base` (see [`Dry`]); the error is the
/// engine's refusal.
pub(crate) async fn open_dry(
    base: Arc<dyn SegmentStore>,
    mode: RecoveryMode,
) -> std::result::Result<Dry, Error> {
    let store = DryRun::new(base);
    let wal = Wal::open(store.clone(), tool_options(mode)).await?;
    Ok(Dry { wal, store })
}

/// What the engine decides about a log in `mode`: its recovery report and what it would
/// change, or why it refuses the log. Changes nothing.
pub(crate) async fn engine_verdict(
    base: Arc<dyn SegmentStore>,
    mode: RecoveryMode,
) -> std::result::Result<(RecoveryReport, Plan), Error> {
    let dry = open_dry(base, mode).await?;
    let report = dry.report().clone();
    let plan = dry.plan().await?;
    Ok((report, plan))
}
