//! A fault-injecting wrapper that any backend can be put inside.
//!
//! [`FaultyStore`] counts the mutating operations (create, open_tail, append, sync, seal,
//! delete, quarantine) and can fail the Nth sync, act like a full disk, slow syncs down, or
//! halt: after a chosen operation every later one fails, as if the machine lost power there.
//! Combined with [`StoreFactory::crash`](crate::StoreFactory::crash) that gives a crash point
//! after every store operation.

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::{Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter};

/// The knobs of a [`FaultyStore`]; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    ops: u64,
    halt_after: Option<u64>,
    syncs: u64,
    fail_sync_at: Option<u64>,
    appended: u64,
    capacity: Option<u64>,
    sync_delay: Option<Duration>,
    sync_delay_after: Option<Duration>,
    /// Syncs and seals whose future was dropped before it answered.
    abandoned: u64,
    /// Every mutating operation, when tracing.
    trace: Option<Vec<String>>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Lets operations 1..=`n` through and fails every later one.
    pub fn halt_after(&self, n: u64) {
        self.lock().halt_after = Some(n);
    }

    /// Fails the Nth sync (1-based) with an I/O error.
    pub fn fail_sync_at(&self, n: u64) {
        self.lock().fail_sync_at = Some(n);
    }

    /// Fails appends once `bytes` have been appended in total, like a full disk.
    pub fn capacity(&self, bytes: u64) {
        self.lock().capacity = Some(bytes);
    }

    /// Makes every sync take `d` longer.
    pub fn sync_delay(&self, d: Duration) {
        self.lock().sync_delay = Some(d);
    }

    /// Makes every sync and seal return `d` after the wrapped store answered, whatever the
    /// answer (a failing fsync takes its time too): widens the window in which another sync
    /// or seal of the same writer runs while a failure is on its way.
    pub fn sync_delay_after(&self, d: Duration) {
        self.lock().sync_delay_after = Some(d);
    }

    /// Syncs and seals whose future was dropped before it answered. The engine promises none
    /// (see [`SegmentWriter`]): a backend whose request is in flight must learn how it ended.
    pub fn abandoned(&self) -> u64 {
        self.lock().abandoned
    }

    /// Starts recording every mutating operation (see [`trace`](Self::trace)).
    pub fn record_trace(&self) {
        self.lock().trace.get_or_insert_with(Vec::new);
    }

    /// The operations recorded since [`record_trace`](Self::record_trace), numbered as
    /// [`halt_after`](Self::halt_after) counts them; refused ones are marked.
    pub fn trace(&self) -> Vec<String> {
        self.lock().trace.clone().unwrap_or_default()
    }

    /// Mutating operations seen so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Syncs and seals that got past the halt so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Counts one operation, described by `describe` in the trace; `false` when the halt
    /// refuses it. Shared with the simulated directory of [`explore`](crate::explore), so the
    /// log's store and the engine's own files count on one counter.
    pub(crate) fn count(&self, describe: impl FnOnce() -> String) -> bool {
        let mut s = self.lock();
        s.ops += 1;
        let (n, halted) = (s.ops, s.halt_after.is_some_and(|h| s.ops > h));
        if let Some(t) = s.trace.as_mut() {
            let mark = if halted { " (refused: halted)" } else { "" };
            t.push(format!("{n}: {}{mark}", describe()));
        }
        !halted
    }

    /// Lets every operation counted so far through and fails every later one (a halt that
    /// was already reached stays where it is).
    pub(crate) fn freeze(&self) {
        let mut s = self.lock();
        let at = s.halt_after.map_or(s.ops, |h| h.min(s.ops));
        s.halt_after = Some(at);
    }

    fn op(&self, what: &'static str, seg: Option<SegmentId>) -> Result<()> {
        let described = || {
            let seg = seg.map_or(String::new(), |id| format!(" segment {id}"));
            format!("{what}{seg}")
        };
        if self.count(described) {
            return Ok(());
        }
        Err(Error::io(
            what,
            seg,
            std::io::Error::other("store halted (simulated power loss)"),
        ))
    }

    fn sync_op(&self, seg: SegmentId, what: &'static str) -> Result<Option<Duration>> {
        self.op(what, Some(seg))?;
        let mut s = self.lock();
        s.syncs += 1;
        if s.fail_sync_at == Some(s.syncs) {
            return Err(Error::io(
                "syncing",
                Some(seg),
                std::io::Error::other("injected sync failure"),
            ));
        }
        Ok(s.sync_delay)
    }

    async fn after_sync(&self) {
        let d = self.lock().sync_delay_after;
        if let Some(d) = d {
            tokio::time::sleep(d).await;
        }
    }

    fn append_op(&self, seg: SegmentId, len: usize) -> Result<()> {
        self.op("appending to", Some(seg))?;
        let mut s = self.lock();
        if let Some(cap) = s.capacity {
            if s.appended + len as u64 > cap {
                return Err(Error::storage_full("appending to", Some(seg)));
            }
        }
        s.appended += len as u64;
        Ok(())
    }
}

/// A store that injects the faults of its [`Faults`] into `S`.
#[derive(Clone, Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Faults,
}

impl<S: SegmentStore> FaultyStore<S> {
    /// Wraps `inner`; returns the store and the handle controlling its faults.
    pub fn new(inner: S) -> (FaultyStore<S>, Faults) {
        let faults = Faults::default();
        (
            FaultyStore {
                inner,
                faults: faults.clone(),
            },
            faults,
        )
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn wrap(&self, w: Box<dyn SegmentWriter>) -> Box<dyn SegmentWriter> {
        Box::new(FaultyWriter {
            inner: w,
            faults: self.faults.clone(),
        })
    }
}

#[async_trait]
impl<S: SegmentStore> SegmentStore for FaultyStore<S> {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        self.faults.op("creating", Some(id))?;
        let w = self.inner.create(id, header).await?;
        Ok(self.wrap(w))
    }

    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        self.faults.op("reopening", Some(id))?;
        let w = self.inner.open_tail(id, truncate_at).await?;
        Ok(self.wrap(w))
    }

    async fn rewrite(&self, id: SegmentId, range: Range<u64>) -> Result<()> {
        self.faults.op("rewriting", Some(id))?;
        self.inner.rewrite(id, range).await
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        self.inner.read(id, range).await
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        self.inner.list().await
    }

    async fn delete(&self, id: SegmentId) -> Result<()> {
        self.faults.op("deleting", Some(id))?;
        self.inner.delete(id).await
    }

    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        self.faults.op("quarantining", Some(id))?;
        self.inner.quarantine(id, reason).await
    }

    async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
        self.faults.op("keeping a copy of", Some(id))?;
        self.inner.preserve(id, bytes, reason).await
    }

    async fn sync_segment(&self, id: SegmentId, len: u64) -> Result<()> {
        self.faults.op("syncing", Some(id))?;
        self.inner.sync_segment(id, len).await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

#[derive(Debug)]
struct FaultyWriter {
    inner: Box<dyn SegmentWriter>,
    faults: Faults,
}

#[async_trait]
impl SegmentWriter for FaultyWriter {
    fn id(&self) -> SegmentId {
        self.inner.id()
    }

    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        self.faults.append_op(self.id(), bytes.len())?;
        self.inner.append(bytes).await
    }

    async fn sync(&self) -> Result<()> {
        let pending = Pending(&self.faults);
        let r = async {
            if let Some(d) = self.faults.sync_op(self.id(), "syncing")? {
                tokio::time::sleep(d).await;
            }
            let r = self.inner.sync().await;
            self.faults.after_sync().await;
            r
        }
        .await;
        std::mem::forget(pending);
        r
    }

    async fn seal(&self) -> Result<SegmentMeta> {
        let pending = Pending(&self.faults);
        let r = async {
            if let Some(d) = self.faults.sync_op(self.id(), "sealing")? {
                tokio::time::sleep(d).await;
            }
            let r = self.inner.seal().await;
            self.faults.after_sync().await;
            r
        }
        .await;
        std::mem::forget(pending);
        r
    }
}

/// Lives while a sync or seal has not answered; dropped with its future, it counts an
/// abandoned one ([`Faults::abandoned`]). Forgotten once the answer is in.
struct Pending<'a>(&'a Faults);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.lock().abandoned += 1;
    }
}
