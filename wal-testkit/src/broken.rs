//! Deliberately broken stores, to prove the kit notices a backend that breaks its contract.
//!
//! [`BrokenStore`] wraps any [`SegmentStore`] and breaks one promise of the contract, chosen
//! by a [`Breakage`]. Some breakages show at once (a read that misses bytes); others only
//! after a power loss (a create that was never made durable). For those the wrapper writes
//! down what it only pretended in a [`Ledger`], and [`BrokenFactory`] (a [`StoreFactory`]
//! around the backend's own) undoes it in every power-loss image, so the kit's crash cases see
//! what a real disk under such a backend would show.
//!
//! [`check_case`] runs one case of [`all_cases`](crate::all_cases) and reports instead of
//! panicking, so a test can run the kit against every breakage and demand that each one fails
//! at least one case, while the honest wrapper ([`BrokenFactory::honest`]) passes them.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::{
    Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentStoreExt,
    SegmentWriter,
};

use crate::{Case, Outcome, StoreFactory};

/// One broken promise of the store contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Breakage {
    /// `sync` returns `Ok` and does nothing.
    SyncDoesNothing,
    /// `create` is not durable: a power loss removes the segment.
    CreateNotDurable,
    /// `open_tail` does not cut: the writer appends after the old end.
    OpenTailDoesNotCut,
    /// Reads return stale bytes: what the segment held at its last sync (or creation).
    StaleReads,
    /// `list` returns the segments in descending order.
    ListOutOfOrder,
    /// `list` leaves out the first segment when there are two or more.
    ListMissesSegment,
    /// `delete` and `quarantine` are not durable: a power loss brings the segment back.
    DeleteNotDurable,
    /// fsyncgate inside the backend: a failed sync loses its bytes, and the next sync
    /// returns `Ok` without covering them. Armed by [`StoreFactory::fail_next_sync`].
    FailedSyncForgotten,
    /// `seal` closes the segment but makes nothing durable: a power loss can drop the
    /// trailer and any unsynced record before it.
    SealNotDurable,
    /// A file system backend that syncs the directory before each create instead of after
    /// it: the newest create, delete or quarantine is undone by a power loss until the next
    /// create syncs the directory.
    DirectoryNotSynced,
    /// `rewrite` does nothing: bytes a failed sync of the crashed process dropped
    /// from a cache stay dropped, though they read back (a file system store that relies on
    /// `fsync` alone after a failed write-back).
    TailNotRewritten,
}

impl Breakage {
    /// Every breakage.
    pub const ALL: [Breakage; 11] = [
        Breakage::SyncDoesNothing,
        Breakage::CreateNotDurable,
        Breakage::OpenTailDoesNotCut,
        Breakage::StaleReads,
        Breakage::ListOutOfOrder,
        Breakage::ListMissesSegment,
        Breakage::DeleteNotDurable,
        Breakage::FailedSyncForgotten,
        Breakage::SealNotDurable,
        Breakage::DirectoryNotSynced,
        Breakage::TailNotRewritten,
    ];
}

/// Something a broken store pretended, to be undone by the next power loss.
#[derive(Clone, Debug)]
enum Undo {
    /// A create that never became durable.
    Remove(SegmentId),
    /// A delete or quarantine that never became durable: the segment and its bytes.
    Restore(SegmentId, Vec<u8>),
    /// Bytes that will never reach the disk.
    Zero(SegmentId, Range<u64>),
}

#[derive(Debug, Default)]
struct LedgerState {
    undo: Vec<Undo>,
    arm_failed_sync: bool,
    /// Per segment, the bytes [`Breakage::StaleReads`] serves.
    snapshots: HashMap<SegmentId, Bytes>,
}

/// What broken stores over one storage pretended; clones share it. It outlives the stores
/// (it describes the "disk"), and [`BrokenFactory`] applies it at every power loss.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    state: Arc<Mutex<LedgerState>>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, LedgerState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn push(&self, u: Undo) {
        self.lock().undo.push(u);
    }

    /// Entries pretended so far that a power loss would undo.
    pub fn pending(&self) -> usize {
        self.lock().undo.len()
    }

    /// A directory sync: creates, deletes and quarantines so far are durable now.
    fn sync_directory(&self) {
        self.lock()
            .undo
            .retain(|u| !matches!(u, Undo::Remove(_) | Undo::Restore(..)));
    }

    fn take_armed_failure(&self) -> bool {
        std::mem::take(&mut self.lock().arm_failed_sync)
    }

    /// A new process: caches are gone.
    fn forget_caches(&self) {
        self.lock().snapshots.clear();
    }

    /// Undoes, newest first, what was pretended, in `image` (a power-loss image of the
    /// inner factory's storage), then forgets it.
    async fn apply<F: StoreFactory>(&self, f: &F, g: &F::Guard, image: &F::Store) {
        let undo = {
            let mut s = self.lock();
            s.snapshots.clear();
            std::mem::take(&mut s.undo)
        };
        for u in undo.into_iter().rev() {
            match u {
                Undo::Remove(id) => {
                    let _ = image.delete(id).await;
                }
                Undo::Restore(id, bytes) => {
                    let exists = image
                        .list()
                        .await
                        .map(|l| l.iter().any(|m| m.id == id))
                        .unwrap_or(true);
                    if !exists {
                        let _ = image.create(id, &bytes).await;
                    }
                }
                Undo::Zero(id, r) => {
                    f.tamper(g, id, &mut |b: &mut Vec<u8>| {
                        let end = (r.end as usize).min(b.len());
                        let start = (r.start as usize).min(end);
                        b[start..end].fill(0);
                    })
                    .await;
                }
            }
        }
    }
}

/// A store that breaks one promise of the contract (or none: [`BrokenStore::honest`]).
#[derive(Clone, Debug)]
pub struct BrokenStore<S> {
    inner: S,
    kind: Option<Breakage>,
    ledger: Ledger,
}

impl<S: SegmentStore + Clone> BrokenStore<S> {
    /// Wraps `inner`, breaking `kind`; what it pretends goes to `ledger`.
    pub fn new(inner: S, kind: Breakage, ledger: Ledger) -> BrokenStore<S> {
        BrokenStore {
            inner,
            kind: Some(kind),
            ledger,
        }
    }

    /// Wraps `inner` and breaks nothing (the control group).
    pub fn honest(inner: S, ledger: Ledger) -> BrokenStore<S> {
        BrokenStore {
            inner,
            kind: None,
            ledger,
        }
    }

    fn is(&self, k: Breakage) -> bool {
        self.kind == Some(k)
    }

    async fn segment_len(&self, id: SegmentId) -> Result<u64> {
        self.inner
            .list()
            .await?
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.len)
            .ok_or(Error::NotFound { segment: id })
    }

    async fn snapshot(&self, id: SegmentId) -> Result<()> {
        if self.is(Breakage::StaleReads) {
            let bytes = self.inner.read_all(id).await?;
            self.ledger.lock().snapshots.insert(id, bytes);
        }
        Ok(())
    }

    fn wrap(&self, w: Box<dyn SegmentWriter>, len: u64) -> Box<dyn SegmentWriter> {
        Box::new(BrokenWriter {
            inner: w,
            store: self.clone(),
            len: AtomicU64::new(len),
            synced: AtomicU64::new(len),
            sealed: AtomicBool::new(false),
        })
    }

    async fn entry_removed(&self, id: SegmentId) -> Result<()> {
        if self.is(Breakage::DeleteNotDurable) || self.is(Breakage::DirectoryNotSynced) {
            let bytes = self.inner.read_all(id).await?;
            self.ledger.push(Undo::Restore(id, bytes.to_vec()));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: SegmentStore + Clone> SegmentStore for BrokenStore<S> {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        if self.is(Breakage::DirectoryNotSynced) {
            self.ledger.sync_directory();
        }
        let w = self.inner.create(id, header).await?;
        if self.is(Breakage::CreateNotDurable) || self.is(Breakage::DirectoryNotSynced) {
            self.ledger.push(Undo::Remove(id));
        }
        self.snapshot(id).await?;
        Ok(self.wrap(w, header.len() as u64))
    }

    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        let at = if self.is(Breakage::OpenTailDoesNotCut) {
            self.segment_len(id).await?
        } else {
            truncate_at
        };
        let w = self.inner.open_tail(id, at).await?;
        self.snapshot(id).await?;
        Ok(self.wrap(w, at))
    }

    async fn rewrite(&self, id: SegmentId, range: Range<u64>) -> Result<()> {
        if self.is(Breakage::TailNotRewritten) {
            return Ok(());
        }
        self.inner.rewrite(id, range).await
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        if !self.is(Breakage::StaleReads) {
            return self.inner.read(id, range).await;
        }
        let cached = self.ledger.lock().snapshots.get(&id).cloned();
        let bytes = match cached {
            Some(b) => b,
            None => {
                self.snapshot(id).await?;
                self.ledger
                    .lock()
                    .snapshots
                    .get(&id)
                    .cloned()
                    .unwrap_or_default()
            }
        };
        let len = bytes.len() as u64;
        let start = range.start.min(len) as usize;
        let end = range.end.min(len).max(range.start.min(len)) as usize;
        Ok(bytes.slice(start..end))
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let mut l = self.inner.list().await?;
        if self.is(Breakage::ListOutOfOrder) {
            l.reverse();
        }
        if self.is(Breakage::ListMissesSegment) && l.len() >= 2 {
            l.remove(0);
        }
        Ok(l)
    }

    async fn delete(&self, id: SegmentId) -> Result<()> {
        self.entry_removed(id).await?;
        self.inner.delete(id).await
    }

    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        self.entry_removed(id).await?;
        self.inner.quarantine(id, reason).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

#[derive(Debug)]
struct BrokenWriter<S> {
    inner: Box<dyn SegmentWriter>,
    store: BrokenStore<S>,
    /// Length after the last append through this writer.
    len: AtomicU64,
    /// Length covered by the last successful sync.
    synced: AtomicU64,
    /// Sealed without making anything durable ([`Breakage::SealNotDurable`]).
    sealed: AtomicBool,
}

impl<S: SegmentStore + Clone> BrokenWriter<S> {
    /// A sync or seal that fails the fsyncgate way when armed: its bytes never reach the disk.
    fn forgotten_failure(&self) -> Result<()> {
        if self.store.is(Breakage::FailedSyncForgotten) && self.store.ledger.take_armed_failure() {
            let r = self.synced.load(Ordering::SeqCst)..self.len.load(Ordering::SeqCst);
            self.store.ledger.push(Undo::Zero(self.id(), r));
            return Err(Error::io(
                "syncing",
                Some(self.id()),
                std::io::Error::other("injected write-back failure (the bytes are lost)"),
            ));
        }
        Ok(())
    }

    async fn synced_now(&self) -> Result<()> {
        self.synced
            .store(self.len.load(Ordering::SeqCst), Ordering::SeqCst);
        self.store.snapshot(self.id()).await
    }
}

#[async_trait]
impl<S: SegmentStore + Clone> SegmentWriter for BrokenWriter<S> {
    fn id(&self) -> SegmentId {
        self.inner.id()
    }

    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        if self.sealed.load(Ordering::SeqCst) {
            return Err(Error::InvalidArgument(format!(
                "segment {} is sealed",
                self.id()
            )));
        }
        let len = self.inner.append(bytes).await?;
        self.len.store(len, Ordering::SeqCst);
        Ok(len)
    }

    async fn sync(&self) -> Result<()> {
        if self.sealed.load(Ordering::SeqCst) || self.store.is(Breakage::SyncDoesNothing) {
            return Ok(());
        }
        self.forgotten_failure()?;
        self.inner.sync().await?;
        self.synced_now().await
    }

    async fn seal(&self) -> Result<SegmentMeta> {
        if self.store.is(Breakage::SealNotDurable) {
            self.sealed.store(true, Ordering::SeqCst);
            return Ok(SegmentMeta {
                id: self.id(),
                len: self.len.load(Ordering::SeqCst),
            });
        }
        self.forgotten_failure()?;
        let meta = self.inner.seal().await?;
        self.synced_now().await?;
        Ok(meta)
    }
}

/// The guard of a [`BrokenFactory`]: the inner factory's guard and the ledger of what the
/// broken stores over that storage pretended.
pub struct BrokenGuard<G> {
    inner: G,
    ledger: Ledger,
}

impl<G> BrokenGuard<G> {
    /// What was pretended and not yet undone by a power loss.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// A [`StoreFactory`] whose stores are the inner factory's, broken by one [`Breakage`]; its
/// power losses undo what the broken stores only pretended to make durable.
pub struct BrokenFactory<F> {
    inner: F,
    kind: Option<Breakage>,
}

impl<F: StoreFactory> BrokenFactory<F> {
    /// Stores of `inner`, broken by `kind`.
    pub fn new(inner: F, kind: Breakage) -> BrokenFactory<F> {
        BrokenFactory {
            inner,
            kind: Some(kind),
        }
    }

    /// Stores of `inner` behind the same wrapper, breaking nothing: the control group that
    /// must pass every case used to catch the broken ones.
    pub fn honest(inner: F) -> BrokenFactory<F> {
        BrokenFactory { inner, kind: None }
    }

    fn wrap(&self, s: F::Store, ledger: &Ledger) -> BrokenStore<F::Store> {
        BrokenStore {
            inner: s,
            kind: self.kind,
            ledger: ledger.clone(),
        }
    }
}

#[async_trait]
impl<F: StoreFactory> StoreFactory for BrokenFactory<F> {
    type Store = BrokenStore<F::Store>;
    type Guard = BrokenGuard<F::Guard>;

    async fn build(&self) -> (Self::Guard, Self::Store) {
        let (g, s) = self.inner.build().await;
        let ledger = Ledger::default();
        let s = self.wrap(s, &ledger);
        (BrokenGuard { inner: g, ledger }, s)
    }

    async fn reopen(&self, g: &Self::Guard) -> Self::Store {
        g.ledger.forget_caches();
        self.wrap(self.inner.reopen(&g.inner).await, &g.ledger)
    }

    async fn crash(&self, g: &Self::Guard, seed: u64) -> Option<Self::Store> {
        let image = self.inner.crash(&g.inner, seed).await?;
        g.ledger.apply(&self.inner, &g.inner, &image).await;
        Some(self.wrap(image, &g.ledger))
    }

    async fn crash_reordered(&self, g: &Self::Guard, seed: u64) -> Option<Self::Store> {
        let image = self.inner.crash_reordered(&g.inner, seed).await?;
        g.ledger.apply(&self.inner, &g.inner, &image).await;
        Some(self.wrap(image, &g.ledger))
    }

    async fn process_crash(&self, g: &Self::Guard) -> Option<Self::Store> {
        g.ledger.forget_caches();
        let s = self.inner.process_crash(&g.inner).await?;
        Some(self.wrap(s, &g.ledger))
    }

    async fn fsyncgate(&self, g: &Self::Guard, nth: u64) -> bool {
        self.inner.fsyncgate(&g.inner, nth).await
    }

    async fn fail_next_sync(&self, g: &Self::Guard) -> bool {
        if self.kind == Some(Breakage::FailedSyncForgotten) {
            g.ledger.lock().arm_failed_sync = true;
            return true;
        }
        self.inner.fail_next_sync(&g.inner).await
    }

    async fn tamper(
        &self,
        g: &Self::Guard,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        g.ledger.forget_caches();
        self.inner.tamper(&g.inner, id, f).await
    }

    fn crash_budget(&self) -> usize {
        self.inner.crash_budget()
    }

    fn sequence_budget(&self) -> usize {
        self.inner.sequence_budget()
    }

    fn model_cases(&self) -> u32 {
        self.inner.model_cases()
    }
}

/// How one case ended under [`check_case`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseResult {
    /// Every check held.
    Passed,
    /// The backend cannot run the case; the reason.
    Skipped(String),
    /// A check failed (the panic message), or the case did not end within the timeout.
    Failed(String),
}

/// Runs `case` against `factory` on its own thread and runtime, catching its panic, and
/// gives up after `timeout` (a hang is a failure; the thread is left behind).
pub fn check_case<F: StoreFactory>(case: &Case<F>, factory: F, timeout: Duration) -> CaseResult {
    let (tx, rx) = std::sync::mpsc::channel();
    let run = case.run;
    let spawned = std::thread::Builder::new()
        .name(format!("case {}", case.name))
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(run(Arc::new(factory)))
            }));
            let _ = tx.send(match r {
                Ok(Outcome::Passed) => CaseResult::Passed,
                Ok(Outcome::Skipped(why)) => CaseResult::Skipped(why),
                Err(p) => CaseResult::Failed(panic_message(&*p)),
            });
        });
    if let Err(e) = spawned {
        return CaseResult::Failed(format!("could not start the case's thread: {e}"));
    }
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => CaseResult::Failed(format!("did not finish within {timeout:?}")),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".into()
    }
}
