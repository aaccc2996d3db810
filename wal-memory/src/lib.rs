//! An in-memory [`SegmentStore`] that models durability, for testing storage engines.
//!
//! Every segment keeps its synced bytes apart from its unsynced ones. [`MemoryStore::crash`]
//! returns the image a power loss would leave (seeded, so a failure replays): synced bytes
//! stay, unsynced bytes vanish, survive in part, or come back torn and garbage-filled.
//! A [`FaultPlan`] fails chosen operations, fills the "disk", or slows syncs down.
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

mod rng;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::{Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter};

pub use rng::SplitMix;

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
}

#[derive(Debug, Default)]
struct Seg {
    data: Vec<u8>,
    durable_len: usize,
    sealed: bool,
}

#[derive(Debug, Default)]
struct State {
    segs: BTreeMap<SegmentId, Seg>,
    quarantined: Vec<(SegmentId, String, Vec<u8>)>,
    counts: [u64; 4],
    plan: FaultPlan,
    ops: u64,
}

impl State {
    fn used(&self) -> u64 {
        self.segs.values().map(|s| s.data.len() as u64).sum()
    }

    /// Counts an operation and fails it if the plan says so.
    fn tick(&mut self, op: Op, seg: Option<SegmentId>) -> Result<()> {
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
    pub fn crash(&self, seed: u64) -> MemoryStore {
        let s = self.lock();
        let mut rng = SplitMix::new(seed);
        let mut segs = BTreeMap::new();
        for (id, seg) in &s.segs {
            let data = power_loss_image(&seg.data, seg.durable_len, &mut rng);
            let len = data.len();
            segs.insert(
                *id,
                Seg {
                    data,
                    durable_len: len,
                    sealed: seg.sealed,
                },
            );
        }
        let image = MemoryStore::new();
        {
            let mut st = image.lock();
            st.segs = segs;
            st.quarantined = s.quarantined.clone();
        }
        image
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
                true
            }
            None => false,
        }
    }

    /// Adds a segment with the given bytes, as if found on storage.
    pub fn insert_raw(&self, id: SegmentId, bytes: Vec<u8>) {
        let len = bytes.len();
        self.lock().segs.insert(
            id,
            Seg {
                data: bytes,
                durable_len: len,
                sealed: false,
            },
        );
    }

    /// Segments moved to quarantine: id, reason, bytes.
    pub fn quarantined(&self) -> Vec<(SegmentId, String, Vec<u8>)> {
        self.lock().quarantined.clone()
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
                    return Err(Error::StorageFull {
                        op: "creating",
                        segment: Some(id),
                    });
                }
            }
            s.segs.insert(
                id,
                Seg {
                    data: header.to_vec(),
                    durable_len: header.len(),
                    sealed: false,
                },
            );
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
        }
        Ok(self.writer(id))
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        let mut s = self.lock();
        s.ops += 1;
        let seg = s.segs.get(&id).ok_or(Error::NotFound { segment: id })?;
        let len = seg.data.len() as u64;
        let start = range.start.min(len) as usize;
        let end = range.end.min(len).max(range.start.min(len)) as usize;
        Ok(Bytes::copy_from_slice(&seg.data[start..end]))
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let mut s = self.lock();
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
                return Err(Error::StorageFull {
                    op: "appending to",
                    segment: Some(self.id),
                });
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
            s.tick(Op::Sync, Some(self.id))?;
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
            s.tick(Op::Sync, Some(self.id))?;
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

/// The bytes a power loss leaves of a file of which the first `durable` bytes were synced:
/// those survive, and the rest, chosen by `rng`, is lost (40%), survives up to a random point
/// (30%), or survives up to a random point followed by a torn stretch of garbage or zeros
/// (30%). [`MemoryStore::crash`] applies it to every segment; a backend's
/// `StoreFactory::crash` can apply it to its own files.
pub fn power_loss_image(bytes: &[u8], durable: usize, rng: &mut SplitMix) -> Vec<u8> {
    let durable = durable.min(bytes.len());
    let mut image = bytes[..durable].to_vec();
    let unsynced = &bytes[durable..];
    if unsynced.is_empty() {
        return image;
    }
    let roll = rng.below(10);
    if roll >= 4 {
        let keep = rng.below(unsynced.len() as u64 + 1) as usize;
        image.extend_from_slice(&unsynced[..keep]);
        if roll >= 7 && keep < unsynced.len() {
            let torn = 1 + rng.below((unsynced.len() - keep) as u64) as usize;
            let zeros = rng.below(2) == 0;
            for _ in 0..torn {
                image.push(if zeros { 0 } else { rng.next_u64() as u8 });
            }
        }
    }
    image
}
