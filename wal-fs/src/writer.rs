//! [`FsWriter`]: appends to one segment file.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
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
    /// The segment file, named in errors.
    path: PathBuf,
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
    /// Held across every `fdatasync`/`fsync` of the file, with the failure check before it
    /// and the failure record after it: two syncs of one file never overlap, so an error
    /// the kernel reports to only one caller (errseq) is always seen here and recorded.
    sync_gate: Mutex<()>,
    /// The first write or sync failure; every later sync fails too (no false success).
    failed: Mutex<Option<Error>>,
}

/// The error a sync returns after an earlier failure of the same file: the earlier error is
/// its source.
#[derive(Debug)]
struct EarlierFailure(Error);

impl fmt::Display for EarlierFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an earlier write or sync of this segment failed ({})",
            self.0
        )
    }
}

impl std::error::Error for EarlierFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl WriterState {
    pub(crate) fn new(id: SegmentId, path: PathBuf, file: File, len: u64) -> WriterState {
        WriterState {
            id,
            path,
            file: Arc::new(file),
            len: AtomicU64::new(len),
            allocated: AtomicU64::new(len),
            sealing: AtomicBool::new(false),
            sealed: AtomicBool::new(false),
            synced: AtomicBool::new(true),
            sync_gate: Mutex::new(()),
            failed: Mutex::new(None),
        }
    }

    fn fail(&self, op: &'static str, e: std::io::Error) -> Error {
        let e = Error::io(op, Some(self.id), e).with_path(&self.path);
        if let Ok(mut f) = self.failed.lock() {
            if f.is_none() {
                *f = Some(e.clone());
            }
        }
        e
    }

    /// Runs the blocking sync `f` of the file under the sync gate: fails without syncing once
    /// an earlier write or sync failed, and records a failure of `f`.
    fn gated_sync(&self, op: &'static str, f: impl FnOnce() -> std::io::Result<()>) -> Result<()> {
        let _gate = match self.sync_gate.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        self.check_failed(op)?;
        f().map_err(|e| self.fail(op, e))
    }

    fn check_failed(&self, op: &'static str) -> Result<()> {
        let earlier = self.failed.lock().ok().and_then(|f| f.clone());
        match earlier {
            Some(cause) => Err(Error::io(
                op,
                Some(self.id),
                std::io::Error::other(EarlierFailure(cause)),
            )
            .with_path(&self.path)),
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

    fn raise_durable(&self, len: u64) {
        #[cfg(feature = "testing")]
        if let Some(t) = &self.store.shared.opts.tracker {
            t.raise(self.st.id, len);
        }
        #[cfg(not(feature = "testing"))]
        let _ = len;
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
        Ok(end)
    }

    async fn sync(&self) -> Result<()> {
        let st = &self.st;
        if st.sealed.load(Ordering::SeqCst) {
            return Ok(());
        }
        st.check_failed("syncing")?;
        let target = st.len.load(Ordering::SeqCst);
        let mode = self.store.shared.opts.sync_mode;
        if mode != SyncMode::Dsync {
            let s2 = Arc::clone(st);
            let how = self.store.shared.opts.sync_execution;
            sync_on(how, move || {
                s2.gated_sync("syncing", || match mode {
                    SyncMode::FullSync => s2.file.sync_all(),
                    _ => s2.file.sync_data(),
                })
            })
            .await?;
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
        sync_on(how, move || {
            s2.gated_sync("sealing", || {
                if s2.allocated.load(Ordering::SeqCst) > len {
                    s2.file.set_len(len)?;
                }
                s2.file.sync_all()
            })
        })
        .await?;
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
