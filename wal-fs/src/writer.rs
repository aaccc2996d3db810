//! [`FsWriter`]: appends to one segment file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use wal_api::{Error, Result, SegmentId, SegmentMeta, SegmentWriter};

use crate::options::SyncMode;
use crate::store::{sync_on, FsStore};

/// Smallest preallocation step; steps double with the file up to
/// [`FsOptions::preallocate_max_step`](crate::FsOptions::preallocate_max_step).
const MIN_STEP: u64 = 64 << 10;
static ZEROS: [u8; 64 << 10] = [0u8; 64 << 10];

/// State of one open segment, shared by its writer and the store (for `list` and `read`).
#[derive(Debug)]
pub(crate) struct WriterState {
    pub(crate) id: SegmentId,
    file: Arc<File>,
    /// Logical length: bytes appended (excludes preallocated zeros).
    pub(crate) len: AtomicU64,
    /// Physical length: logical bytes plus zero fill.
    allocated: AtomicU64,
    /// No more appends (seal started).
    sealing: AtomicBool,
    /// Seal finished: everything is durable, later syncs have nothing to do.
    sealed: AtomicBool,
    /// A sync ran since the zero fill was last extended. Zero fill only pays off for a writer
    /// that syncs between appends; a bulk writer that syncs rarely would write every byte
    /// twice, so it extends the fill at most once per sync.
    synced: AtomicBool,
    /// Logical length covered by the last sync (or write-behind) that started.
    sync_mark: AtomicU64,
    /// A write-behind sync is running.
    behind: AtomicBool,
    /// The first write or sync failure; every later sync fails too (no false success).
    failed: Mutex<Option<String>>,
}

impl WriterState {
    pub(crate) fn new(id: SegmentId, file: File, len: u64) -> WriterState {
        WriterState {
            id,
            file: Arc::new(file),
            len: AtomicU64::new(len),
            allocated: AtomicU64::new(len),
            sealing: AtomicBool::new(false),
            sealed: AtomicBool::new(false),
            synced: AtomicBool::new(true),
            sync_mark: AtomicU64::new(len),
            behind: AtomicBool::new(false),
            failed: Mutex::new(None),
        }
    }

    fn fail(&self, op: &'static str, e: std::io::Error) -> Error {
        if let Ok(mut f) = self.failed.lock() {
            if f.is_none() {
                *f = Some(format!("{op}: {e}"));
            }
        }
        Error::io(op, Some(self.id), e)
    }

    fn check_failed(&self, op: &'static str) -> Result<()> {
        let earlier = self.failed.lock().ok().and_then(|f| f.clone());
        match earlier {
            Some(cause) => Err(Error::io(
                op,
                Some(self.id),
                std::io::Error::other(format!(
                    "an earlier write or sync of this segment failed ({cause})"
                )),
            )),
            None => Ok(()),
        }
    }
}

/// Writer of one segment file. `append` writes with `pwrite` on the calling thread (a page
/// cache copy); syncs and seals run where
/// [`SyncExecution`](crate::SyncExecution) says.
#[derive(Debug)]
pub(crate) struct FsWriter {
    store: FsStore,
    st: Arc<WriterState>,
}

impl FsWriter {
    pub(crate) fn new(store: FsStore, st: Arc<WriterState>) -> FsWriter {
        FsWriter { store, st }
    }

    /// Zero-fills ahead of `end` when preallocation is on and `end` passes the filled part.
    /// Best effort: if the fill fails (a full disk), the data is already written, so the
    /// append stands and the next append reports the problem if there is one.
    fn preallocate(&self, end: u64, allocated: u64) {
        let opts = &self.store.shared.opts;
        if !opts.preallocate || end <= allocated || !self.st.synced.swap(false, Ordering::SeqCst) {
            return;
        }
        let step = allocated.clamp(MIN_STEP, opts.preallocate_max_step.max(MIN_STEP));
        // Round to whole 4 KiB pages.
        let target = (end + step).div_ceil(4096) * 4096;
        let mut pos = end;
        while pos < target {
            let n = (target - pos).min(ZEROS.len() as u64) as usize;
            if self.st.file.write_all_at(&ZEROS[..n], pos).is_err() {
                // Part of the fill may be on disk: count all of it, so seal and drop trim it.
                pos = target;
                break;
            }
            pos += n as u64;
        }
        self.st.allocated.fetch_max(pos, Ordering::SeqCst);
    }

    /// Starts a background `fdatasync` once `write_behind` bytes are unsynced, so a writer
    /// that rarely syncs (bulk, non-durable) streams to the disk while it appends instead of
    /// flushing a whole segment at its seal. It only ever makes more bytes durable; a failure
    /// is recorded and fails every later append and sync.
    fn write_behind(&self, end: u64) {
        let opts = &self.store.shared.opts;
        let Some(limit) = opts.write_behind else {
            return;
        };
        let st = &self.st;
        if opts.sync_mode == SyncMode::Dsync
            || end.saturating_sub(st.sync_mark.load(Ordering::SeqCst)) < limit
            || st.behind.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            st.behind.store(false, Ordering::SeqCst);
            return;
        };
        st.sync_mark.fetch_max(end, Ordering::SeqCst);
        let st = Arc::clone(st);
        let tracker = opts.tracker.clone();
        rt.spawn_blocking(move || {
            match st.file.sync_data() {
                Ok(()) => {
                    if let Some(t) = tracker {
                        t.raise(st.id, end);
                    }
                }
                Err(e) => {
                    let _ = st.fail("syncing behind the writer", e);
                }
            }
            st.behind.store(false, Ordering::SeqCst);
        });
    }

    fn raise_durable(&self, len: u64) {
        if let Some(t) = &self.store.shared.opts.tracker {
            t.raise(self.st.id, len);
        }
    }
}

#[async_trait]
impl SegmentWriter for FsWriter {
    fn id(&self) -> SegmentId {
        self.st.id
    }

    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        let st = &*self.st;
        if st.sealing.load(Ordering::SeqCst) {
            return Err(Error::InvalidArgument(format!(
                "segment {} is sealed",
                st.id
            )));
        }
        st.check_failed("appending to")?;
        let off = st.len.load(Ordering::SeqCst);
        let end = off + bytes.len() as u64;
        let allocated = st.allocated.load(Ordering::SeqCst);
        st.file
            .write_all_at(bytes, off)
            .map_err(|e| st.fail("appending to", e))?;
        st.allocated.fetch_max(end, Ordering::SeqCst);
        st.len.store(end, Ordering::SeqCst);
        if self.store.shared.opts.sync_mode == SyncMode::Dsync {
            self.raise_durable(end);
        }
        // Zero fill after the data, so the append itself is never delayed by it twice.
        self.preallocate(end, allocated);
        self.write_behind(end);
        Ok(end)
    }

    async fn sync(&self) -> Result<()> {
        let st = &self.st;
        if st.sealed.load(Ordering::SeqCst) {
            return Ok(());
        }
        st.check_failed("syncing")?;
        let target = st.len.load(Ordering::SeqCst);
        st.sync_mark.fetch_max(target, Ordering::SeqCst);
        let mode = self.store.shared.opts.sync_mode;
        if mode != SyncMode::Dsync {
            let file = Arc::clone(&st.file);
            let how = self.store.shared.opts.sync_execution;
            let r = sync_on(how, move || {
                let r = match mode {
                    SyncMode::FullSync => file.sync_all(),
                    _ => file.sync_data(),
                };
                Ok(r)
            })
            .await?;
            r.map_err(|e| st.fail("syncing", e))?;
        }
        st.synced.store(true, Ordering::SeqCst);
        self.raise_durable(target);
        Ok(())
    }

    async fn seal(&self) -> Result<SegmentMeta> {
        let st = Arc::clone(&self.st);
        st.sealing.store(true, Ordering::SeqCst);
        let len = st.len.load(Ordering::SeqCst);
        if st.sealed.load(Ordering::SeqCst) {
            return Ok(SegmentMeta { id: st.id, len });
        }
        st.check_failed("sealing")?;
        let s2 = Arc::clone(&st);
        let how = self.store.shared.opts.sync_execution;
        let r = sync_on(how, move || {
            let r = if s2.allocated.load(Ordering::SeqCst) > len {
                s2.file.set_len(len)
            } else {
                Ok(())
            };
            Ok(r.and_then(|()| s2.file.sync_all()))
        })
        .await?;
        r.map_err(|e| st.fail("sealing", e))?;
        st.allocated.store(len, Ordering::SeqCst);
        st.sealed.store(true, Ordering::SeqCst);
        self.raise_durable(len);
        let mut open = self.store.shared.open_writers();
        if open.get(&st.id).is_some_and(|w| Arc::ptr_eq(w, &st)) {
            open.remove(&st.id);
        }
        Ok(SegmentMeta { id: st.id, len })
    }
}

impl Drop for FsWriter {
    /// Releases the zero fill of an unsealed segment (best effort: a crash leaves it, and
    /// recovery treats zeros as a clean end).
    fn drop(&mut self) {
        let st = &self.st;
        let mut open = self.store.shared.open_writers();
        let ours = open.get(&st.id).is_some_and(|w| Arc::ptr_eq(w, st));
        if !ours {
            return;
        }
        open.remove(&st.id);
        let len = st.len.load(Ordering::SeqCst);
        if !st.sealing.load(Ordering::SeqCst) && st.allocated.load(Ordering::SeqCst) > len {
            let _ = st.file.set_len(len);
        }
    }
}
