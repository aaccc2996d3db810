//! An in-memory [`SegmentStore`] that models durability, for testing storage engines.
//!
//! Every segment keeps its synced bytes apart from its unsynced ones, and the machine can fail
//! in the ways real ones do (each seeded, so a failure replays):
//! - [`MemoryStore::crash`]: power loss on a disk that persists in order. Synced bytes stay,
//!   unsynced bytes vanish, survive in part, or come back torn and garbage-filled.
//! - [`MemoryStore::crash_reordered`]: power loss on a disk that writes unsynced 4 KiB pages
//!   back in any order and tears 512-byte sectors ([`reordered_power_loss_image`]).
//! - [`MemoryStore::process_crash`]: the process dies (SIGKILL), the machine does not. Every
//!   appended byte stays readable, and what was not synced is still not synced.
//! - fsyncgate ([`FaultPlan::lose_on_sync_failure`], [`MemoryStore::fail_next_sync`]): a
//!   failed sync drops the bytes it covered from the page cache's write-back, as Linux does;
//!   they stay readable but never reach the disk, and a later sync returns `Ok`.
//!
//! A [`FaultPlan`] fails chosen operations, fills the "disk", or slows syncs down. Creates,
//! deletes and quarantines are durable when they return, as the store contract demands
//! (wrappers in `wal-testkit` model backends that break that promise).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::StreamExt;
//! use wal_api::{Lsn, Never, Wal, WalOptions};
//! use wal_memory::MemoryStore;
//!
//! let store = MemoryStore::new();
//! let wal = Wal::open(store.clone(), WalOptions::default().sync_policy(Never)).await?;
//! wal.append(b"synced").await?;
//! wal.sync().await?;
//! wal.append(b"not synced").await?;
//! wal.flush().await?;
//!
//! // Power loss: only what was synced is sure to survive.
//! let after = store.crash(7);
//! let wal = Wal::open(after, WalOptions::default()).await?;
//! let records: Vec<_> = wal.read(Lsn(1)..).collect().await;
//! assert!(!records.is_empty() && records.len() <= 2);
//! # Ok::<(), wal_api::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]

mod image;
mod rng;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::{Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter};

pub use image::{power_loss_image, reordered_power_loss_image, PAGE_SIZE, SECTOR_SIZE};
use rng::SplitMix;

/// Operations a [`FaultPlan`] can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `SegmentWriter::append`.
    Append,
    /// `SegmentWriter::sync` and `seal`.
    Sync,
    /// `SegmentStore::create` and `open_tail`.
    Create,
    /// `SegmentStore::delete` and `quarantine`.
    Delete,
}

/// Faults to inject. Counts are 1-based: `fail_sync_at: Some(3)` fails the third sync.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Fail the Nth append with an I/O error.
    pub fail_append_at: Option<u64>,
    /// Fail the Nth sync (or seal) with an I/O error.
    pub fail_sync_at: Option<u64>,
    /// Fail the Nth create (or open_tail) with an I/O error.
    pub fail_create_at: Option<u64>,
    /// Fail the Nth delete (or quarantine) with an I/O error.
    pub fail_delete_at: Option<u64>,
    /// Total bytes the store may hold; an append past it fails like a full disk.
    pub capacity: Option<u64>,
    /// Time every sync takes (a precise sleep on a blocking thread).
    pub sync_latency: Option<Duration>,
    /// fsyncgate: a sync (or seal) that fails also loses the unsynced bytes of its segment,
    /// as Linux does after a write-back error. They stay readable, a power loss image has
    /// zeros in their place, and later syncs succeed as if nothing happened. The engine must
    /// never acknowledge those bytes.
    pub lose_on_sync_failure: bool,
}

#[derive(Clone, Debug, Default)]
struct Seg {
    data: Vec<u8>,
    durable_len: usize,
    sealed: bool,
    /// Byte ranges a failed sync dropped from write-back: readable, but never on disk.
    lost: Vec<Range<usize>>,
}

impl Seg {
    fn new(data: Vec<u8>) -> Seg {
        let durable_len = data.len();
        Seg {
            data,
            durable_len,
            sealed: false,
            lost: Vec::new(),
        }
    }

    /// This segment after a power loss, its unsynced bytes treated by `image`.
    fn after_power_loss(
        &self,
        rng: &mut SplitMix,
        image: fn(&[u8], usize, &mut SplitMix) -> Vec<u8>,
    ) -> Seg {
        let mut data = image(&self.data, self.durable_len, rng);
        image::zero_ranges(&mut data, &self.lost);
        Seg {
            sealed: self.sealed,
            ..Seg::new(data)
        }
    }
}

#[derive(Debug, Default)]
struct State {
    segs: BTreeMap<SegmentId, Seg>,
    quarantined: Vec<(SegmentId, String, Vec<u8>)>,
    counts: [u64; 4],
    plan: FaultPlan,
    ops: u64,
    /// Set by [`MemoryStore::process_crash`]: the process that used this store is gone.
    dead: bool,
}

impl State {
    /// Counts a sync or seal; a planned failure under fsyncgate also drops the segment's
    /// unsynced bytes from write-back.
    fn sync_tick(&mut self, id: SegmentId) -> Result<()> {
        let r = self.tick(Op::Sync, Some(id));
        if r.is_err() && !self.dead && self.plan.lose_on_sync_failure {
            if let Some(seg) = self.segs.get_mut(&id) {
                if seg.durable_len < seg.data.len() {
                    seg.lost.push(seg.durable_len..seg.data.len());
                }
            }
        }
        r
    }

    fn used(&self) -> u64 {
        self.segs.values().map(|s| s.data.len() as u64).sum()
    }

    /// Fails every call on a store whose process crashed.
    fn alive(&self, seg: Option<SegmentId>) -> Result<()> {
        if self.dead {
            return Err(Error::io(
                "using",
                seg,
                std::io::Error::other("the process using this store crashed"),
            ));
        }
        Ok(())
    }

    /// Counts an operation and fails it if the plan says so.
    fn tick(&mut self, op: Op, seg: Option<SegmentId>) -> Result<()> {
        self.alive(seg)?;
        self.ops += 1;
        let (i, at, what) = match op {
            Op::Append => (0, self.plan.fail_append_at, "appending to"),
            Op::Sync => (1, self.plan.fail_sync_at, "syncing"),
            Op::Create => (2, self.plan.fail_create_at, "creating"),
            Op::Delete => (3, self.plan.fail_delete_at, "deleting"),
        };
        self.counts[i] += 1;
        if at == Some(self.counts[i]) {
            return Err(Error::io(
                what,
                seg,
                std::io::Error::other("injected fault"),
            ));
        }
        Ok(())
    }
}

/// The in-memory store. Clones share the same segments.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store with faults planned.
    pub fn with_faults(plan: FaultPlan) -> MemoryStore {
        let s = MemoryStore::new();
        s.set_faults(plan);
        s
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Replaces the fault plan (operation counts restart at zero).
    pub fn set_faults(&self, plan: FaultPlan) {
        let mut s = self.lock();
        s.plan = plan;
        s.counts = [0; 4];
    }

    /// Fails the next sync (or seal) of any segment with an I/O error. With `lose_data` it is
    /// an fsyncgate failure ([`FaultPlan::lose_on_sync_failure`]): the unsynced bytes of that
    /// segment never reach the disk and later syncs succeed. Other planned faults stay.
    pub fn fail_next_sync(&self, lose_data: bool) {
        self.fail_sync_in(1, lose_data);
    }

    /// Like [`fail_next_sync`](Self::fail_next_sync), for the `nth` sync or seal from now
    /// (1-based; 0 counts as 1).
    pub fn fail_sync_in(&self, nth: u64, lose_data: bool) {
        let mut s = self.lock();
        s.plan.fail_sync_at = Some(s.counts[1] + nth.max(1));
        s.plan.lose_on_sync_failure = lose_data;
    }

    /// Appends, syncs (and seals), creates (and `open_tail`s) and deletes (and quarantines)
    /// counted since the fault plan was last set, in that order: the counts a
    /// [`FaultPlan`]'s `fail_*_at` fields refer to.
    pub fn op_counts(&self) -> [u64; 4] {
        self.lock().counts
    }

    /// Operations performed so far (appends, syncs, creates, deletes, reads, lists).
    pub fn op_count(&self) -> u64 {
        self.lock().ops
    }

    /// The image a power loss would leave now, as a new independent store.
    ///
    /// For each segment: synced bytes survive. The unsynced bytes, chosen by `seed`, are lost
    /// (40%), survive up to a random point (30%), or survive up to a random point followed by
    /// a torn stretch of garbage or zeros (30%). Deleted and quarantined segments stay gone;
    /// sealed segments are fully synced.
    ///
    /// Bytes an fsyncgate failure dropped read as zeros in the image, synced or not.
    pub fn crash(&self, seed: u64) -> MemoryStore {
        self.power_loss(seed, image::power_loss_image_with)
    }

    /// The image a power loss would leave now on a disk that writes unsynced pages back out of
    /// order: each segment becomes [`reordered_power_loss_image`] of itself (4 KiB pages whole,
    /// lost or torn at 512-byte sectors, a later page kept while an earlier one is lost).
    /// Otherwise as [`crash`](Self::crash).
    pub fn crash_reordered(&self, seed: u64) -> MemoryStore {
        self.power_loss(seed, image::reordered_power_loss_image_with)
    }

    fn power_loss(
        &self,
        seed: u64,
        image: fn(&[u8], usize, &mut SplitMix) -> Vec<u8>,
    ) -> MemoryStore {
        let s = self.lock();
        let mut rng = SplitMix::new(seed);
        let segs = s
            .segs
            .iter()
            .map(|(id, seg)| (*id, seg.after_power_loss(&mut rng, image)))
            .collect();
        let after = MemoryStore::new();
        {
            let mut st = after.lock();
            st.segs = segs;
            st.quarantined = s.quarantined.clone();
        }
        after
    }

    /// The store a new process finds after this one was killed (SIGKILL) while the machine
    /// stayed up: a new store over the same bytes. Every appended byte is readable, the ones
    /// not synced are still not synced (a later [`crash`](Self::crash) of the new store can
    /// lose them), and bytes an fsyncgate failure dropped stay doomed. The old store and its
    /// writers are dead: every later call through them fails. No fault is planned on the new
    /// store.
    pub fn process_crash(&self) -> MemoryStore {
        let mut s = self.lock();
        s.dead = true;
        let after = MemoryStore::new();
        {
            let mut st = after.lock();
            st.segs = s.segs.clone();
            st.quarantined = s.quarantined.clone();
        }
        after
    }

    /// All bytes of a segment, synced or not.
    pub fn segment_bytes(&self, id: SegmentId) -> Option<Vec<u8>> {
        self.lock().segs.get(&id).map(|s| s.data.clone())
    }

    /// Rewrites a segment's bytes in place (tests use it to corrupt or tear segments).
    /// The new bytes count as synced. Returns false if the segment does not exist.
    pub fn tamper(&self, id: SegmentId, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        let mut s = self.lock();
        match s.segs.get_mut(&id) {
            Some(seg) => {
                f(&mut seg.data);
                seg.durable_len = seg.data.len();
                seg.lost.clear();
                true
            }
            None => false,
        }
    }

    /// Adds a segment with the given bytes, as if found on storage.
    pub fn insert_raw(&self, id: SegmentId, bytes: Vec<u8>) {
        self.lock().segs.insert(id, Seg::new(bytes));
    }

    /// Segments moved to quarantine: id, reason, bytes.
    pub fn quarantined(&self) -> Vec<(SegmentId, String, Vec<u8>)> {
        self.lock().quarantined.clone()
    }

    /// Bytes an fsyncgate failure dropped from write-back (readable, never durable), over all
    /// segments.
    pub fn lost_bytes(&self) -> u64 {
        self.lock()
            .segs
            .values()
            .flat_map(|s| s.lost.iter())
            .map(|r| r.len() as u64)
            .sum()
    }

    /// Bytes not yet synced, over all segments.
    pub fn unsynced_bytes(&self) -> u64 {
        self.lock()
            .segs
            .values()
            .map(|s| (s.data.len() - s.durable_len) as u64)
            .sum()
    }

    fn writer(&self, id: SegmentId) -> Box<dyn SegmentWriter> {
        Box::new(MemoryWriter {
            store: self.clone(),
            id,
        })
    }
}

#[async_trait]
impl SegmentStore for MemoryStore {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        {
            let mut s = self.lock();
            s.tick(Op::Create, Some(id))?;
            if s.segs.contains_key(&id) {
                return Err(Error::AlreadyExists { segment: id });
            }
            if let Some(cap) = s.plan.capacity {
                if s.used() + header.len() as u64 > cap {
                    return Err(Error::storage_full("creating", Some(id)));
                }
            }
            s.segs.insert(id, Seg::new(header.to_vec()));
        }
        Ok(self.writer(id))
    }

    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        {
            let mut s = self.lock();
            s.tick(Op::Create, Some(id))?;
            let seg = s.segs.get_mut(&id).ok_or(Error::NotFound { segment: id })?;
            let at = usize::try_from(truncate_at)
                .map_err(|_| Error::InvalidArgument("truncate_at too large".into()))?;
            if at > seg.data.len() {
                return Err(Error::InvalidArgument(format!(
                    "cannot cut segment {id} of {} bytes at {at}",
                    seg.data.len()
                )));
            }
            seg.data.truncate(at);
            seg.durable_len = at;
            seg.sealed = false;
            for r in &mut seg.lost {
                r.end = r.end.min(at);
            }
            seg.lost.retain(|r| r.start < r.end);
        }
        Ok(self.writer(id))
    }

    /// Writes `range` again: those bytes, as they read now, are no longer doomed by an earlier
    /// fsyncgate failure (a later sync makes them durable).
    async fn rewrite(&self, id: SegmentId, range: Range<u64>) -> Result<()> {
        let mut s = self.lock();
        s.alive(Some(id))?;
        s.ops += 1;
        let seg = s.segs.get_mut(&id).ok_or(Error::NotFound { segment: id })?;
        let (from, to) = (
            usize::try_from(range.start).unwrap_or(usize::MAX),
            usize::try_from(range.end).unwrap_or(usize::MAX),
        );
        let mut kept = Vec::new();
        for r in seg.lost.drain(..) {
            if r.start < from {
                kept.push(r.start..r.end.min(from));
            }
            if r.end > to {
                kept.push(r.start.max(to)..r.end);
            }
        }
        kept.retain(|r| r.start < r.end);
        // Dirty again: unsynced (a failed sync never moved `durable_len` past them), and
        // written by the next sync.
        seg.lost = kept;
        Ok(())
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        let mut s = self.lock();
        s.alive(Some(id))?;
        s.ops += 1;
        let seg = s.segs.get(&id).ok_or(Error::NotFound { segment: id })?;
        let len = seg.data.len() as u64;
        let start = range.start.min(len) as usize;
        let end = range.end.min(len).max(range.start.min(len)) as usize;
        Ok(Bytes::copy_from_slice(&seg.data[start..end]))
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let mut s = self.lock();
        s.alive(None)?;
        s.ops += 1;
        Ok(s.segs
            .iter()
            .map(|(id, seg)| SegmentMeta {
                id: *id,
                len: seg.data.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, id: SegmentId) -> Result<()> {
        let mut s = self.lock();
        s.tick(Op::Delete, Some(id))?;
        s.segs
            .remove(&id)
            .map(|_| ())
            .ok_or(Error::NotFound { segment: id })
    }

    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        let mut s = self.lock();
        s.tick(Op::Delete, Some(id))?;
        let seg = s.segs.remove(&id).ok_or(Error::NotFound { segment: id })?;
        s.quarantined.push((id, reason.to_string(), seg.data));
        Ok(())
    }

    async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
        let mut s = self.lock();
        s.tick(Op::Delete, Some(id))?;
        s.quarantined
            .push((id, format!("copy: {reason}"), bytes.to_vec()));
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::with_quarantine()
    }
}

/// Writer of one in-memory segment.
#[derive(Debug)]
struct MemoryWriter {
    store: MemoryStore,
    id: SegmentId,
}

#[async_trait]
impl SegmentWriter for MemoryWriter {
    fn id(&self) -> SegmentId {
        self.id
    }

    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        let mut s = self.store.lock();
        s.tick(Op::Append, Some(self.id))?;
        if let Some(cap) = s.plan.capacity {
            if s.used() + bytes.len() as u64 > cap {
                return Err(Error::storage_full("appending to", Some(self.id)));
            }
        }
        let seg = s
            .segs
            .get_mut(&self.id)
            .ok_or(Error::NotFound { segment: self.id })?;
        if seg.sealed {
            return Err(Error::InvalidArgument(format!(
                "segment {} is sealed",
                self.id
            )));
        }
        seg.data.extend_from_slice(bytes);
        Ok(seg.data.len() as u64)
    }

    async fn sync(&self) -> Result<()> {
        let (target, latency) = {
            let mut s = self.store.lock();
            s.sync_tick(self.id)?;
            let latency = s.plan.sync_latency;
            match s.segs.get(&self.id) {
                Some(seg) => (seg.data.len(), latency),
                None => return Err(Error::NotFound { segment: self.id }),
            }
        };
        if let Some(d) = latency {
            sleep_precisely(d).await;
        }
        let mut s = self.store.lock();
        if let Some(seg) = s.segs.get_mut(&self.id) {
            seg.durable_len = seg.durable_len.max(target.min(seg.data.len()));
        }
        Ok(())
    }

    async fn seal(&self) -> Result<SegmentMeta> {
        let latency = {
            let mut s = self.store.lock();
            s.sync_tick(self.id)?;
            s.plan.sync_latency
        };
        if let Some(d) = latency {
            sleep_precisely(d).await;
        }
        let mut s = self.store.lock();
        let seg = s
            .segs
            .get_mut(&self.id)
            .ok_or(Error::NotFound { segment: self.id })?;
        seg.durable_len = seg.data.len();
        seg.sealed = true;
        Ok(SegmentMeta {
            id: self.id,
            len: seg.data.len() as u64,
        })
    }
}

/// Sleeps `d` with microsecond precision on a blocking thread: tokio timers round up to whole
/// milliseconds and a plain thread sleep overshoots by the kernel's timer slack, so it sleeps
/// most of `d` and spins the rest.
async fn sleep_precisely(d: Duration) {
    let deadline = std::time::Instant::now() + d;
    let blocking = tokio::task::spawn_blocking(move || {
        let slack = Duration::from_micros(80);
        let now = std::time::Instant::now();
        if deadline > now + slack {
            std::thread::sleep(deadline - now - slack);
        }
        while std::time::Instant::now() < deadline {
            std::hint::spin_loop();
        }
    });
    if blocking.await.is_err() {
        tokio::time::sleep_until(deadline.into()).await;
    }
}
