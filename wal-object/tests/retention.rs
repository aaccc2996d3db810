//! The archive as a retention gate when segment ids are reused: a suffix truncation deletes
//! the segments after the cut and the log creates new ones under the same ids. Retention
//! judges a segment by its contents, and a segment being archived is pinned against the
//! truncation or reset that would discard it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use tokio::sync::Notify;
use wal_api::{
    Capabilities, Error, Lsn, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter, Wal,
    WalOptions,
};
use wal_memory::MemoryStore;
use wal_object::{read_through, Archiver};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Record `i` written in round `round`: a record written again at the same LSN after a
/// truncation differs from the one it replaces.
fn record(round: u32, i: u64) -> Vec<u8> {
    format!(
        "round {round} record {i:04} {}",
        "x".repeat((i % 40) as usize)
    )
    .into_bytes()
}

async fn fill<S: SegmentStore>(wal: &Wal<S>, round: u32, n: u64, expect: &mut Vec<Vec<u8>>) {
    for _ in 0..n {
        let r = record(round, expect.len() as u64);
        let lsn = wal.append(&r).await.unwrap();
        assert_eq!(lsn.0, expect.len() as u64 + 1);
        expect.push(r);
    }
}

async fn check_all<S: SegmentStore>(archiver: &Archiver, wal: &Wal<S>, expect: &[Vec<u8>]) {
    let end = wal.written_lsn().next();
    let got = read_through(archiver, wal, Lsn(1)..end).await.unwrap();
    assert_eq!(got.len(), expect.len());
    for (r, want) in got.iter().zip(expect) {
        assert_eq!(&r.data[..], &want[..], "record {}", r.lsn);
    }
}

/// Regression: the gate used to judge by id. An archive written by another archiver (walctl,
/// another process) held segments that a suffix truncation then replaced under the same ids;
/// prefix truncation deleted the new segments on the strength of the old copies, and reads
/// through the archive returned records the log had discarded.
#[test]
fn a_reused_segment_id_is_never_deleted_on_the_strength_of_an_older_copy() {
    rt().block_on(async {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let gate = Archiver::open(bucket.clone(), "arch").await.unwrap();
        let local = MemoryStore::new();
        let opts = WalOptions::default()
            .segment_size(1000)
            .retention(Arc::new(gate.clone()));
        let wal = Wal::open(local.clone(), opts).await.unwrap();
        let mut expect = Vec::new();
        fill(&wal, 0, 150, &mut expect).await;
        // Another archiver copies every sealed segment; the gate has not reloaded.
        let other = Archiver::open(bucket.clone(), "arch").await.unwrap();
        let copied = other.archive_sealed(&local).await.unwrap();
        assert!(copied.len() >= 4, "{}", copied.len());
        // Cut back to the end of an early segment: the later ids are reused from here.
        let keep = copied[1].last_lsn;
        wal.truncate_suffix(keep).await.unwrap();
        expect.truncate(keep.0 as usize);
        fill(&wal, 1, 150, &mut expect).await;
        gate.reload().await.unwrap();
        wal.truncate_prefix(wal.written_lsn()).await.unwrap();
        check_all(&gate, &wal, &expect).await;
        // The segments written after the cut are behind, although their ids are archived.
        let lag = gate.lag(&local).await.unwrap();
        assert!(lag.segments_behind >= 2 && lag.bytes_behind > 0, "{lag:?}");
        assert!(
            lag.oldest_unarchived.is_some_and(|id| id > copied[1].id),
            "{lag:?}"
        );
        // Archiving again supersedes the older copies; then they may go, and reads agree.
        gate.archive_sealed(&local).await.unwrap();
        assert_eq!(gate.lag(&local).await.unwrap().segments_behind, 0);
        let first = wal.truncate_prefix(wal.written_lsn()).await.unwrap();
        assert!(first > keep.next(), "{first}");
        check_all(&gate, &wal, &expect).await;
        let fresh = Archiver::open(bucket, "arch").await.unwrap();
        assert_eq!(fresh.archived(), gate.archived());
        check_all(&fresh, &wal, &expect).await;
    });
}

/// Where a [`Paused`] store stops: the first read of one segment, or its deletion.
#[derive(Debug, Default)]
struct Hold {
    read: Option<SegmentId>,
    delete: Option<SegmentId>,
}

/// A memory store that parks one operation until released.
#[derive(Clone, Debug)]
struct Paused {
    inner: MemoryStore,
    hold: Arc<Mutex<Hold>>,
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

impl Paused {
    fn new(inner: MemoryStore) -> Paused {
        Paused {
            inner,
            hold: Arc::default(),
            reached: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
        }
    }

    async fn park(&self) {
        self.reached.notify_one();
        self.release.notified().await;
    }
}

#[async_trait]
impl SegmentStore for Paused {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        self.inner.create(id, header).await
    }
    async fn open_tail(&self, id: SegmentId, at: u64) -> Result<Box<dyn SegmentWriter>> {
        self.inner.open_tail(id, at).await
    }
    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        let park = {
            let mut h = self.hold.lock().unwrap();
            let hit = h.read == Some(id) && range.end == u64::MAX;
            if hit {
                h.read = None;
            }
            hit
        };
        if park {
            self.park().await;
        }
        self.inner.read(id, range).await
    }
    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        self.inner.list().await
    }
    async fn delete(&self, id: SegmentId) -> Result<()> {
        let park = {
            let mut h = self.hold.lock().unwrap();
            let hit = h.delete == Some(id);
            if hit {
                h.delete = None;
            }
            hit
        };
        if park {
            self.park().await;
        }
        self.inner.delete(id).await
    }
    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        self.inner.quarantine(id, reason).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

/// A segment being archived is pinned: the suffix truncation that would discard it is
/// refused while the copy runs, and the copy that starts while a truncation discards its
/// segment is refused. Neither leaves the archive holding records the log discarded.
#[test]
fn archiving_and_truncation_exclude_each_other() {
    rt().block_on(async {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let archiver = Archiver::open(bucket.clone(), "arch").await.unwrap();
        let store = Paused::new(MemoryStore::new());
        let opts = WalOptions::default()
            .segment_size(1000)
            .retention(Arc::new(archiver.clone()));
        let wal = Arc::new(Wal::open(store.clone(), opts).await.unwrap());
        let mut expect = Vec::new();
        fill(&wal, 0, 150, &mut expect).await;
        let segs = wal.segments();
        assert!(segs.len() >= 5);
        let (victim, before) = (segs[3], segs[2]);
        let victim_last = segs[4].base.prev();

        // 1. The copy runs (parked in its read) when the truncation comes: refused.
        store.hold.lock().unwrap().read = Some(victim.id);
        let copy = tokio::spawn({
            let (archiver, store) = (archiver.clone(), store.clone());
            async move { archiver.archive_segment(&store, victim.id).await }
        });
        store.reached.notified().await;
        let cut = before.base;
        let e = wal.truncate_suffix(cut).await.unwrap_err();
        assert!(
            matches!(&e, Error::Archived { segment, detail } if *segment == victim.id && detail.contains("being archived")),
            "{e}"
        );
        store.release.notify_one();
        let a = copy.await.unwrap().unwrap();
        assert_eq!(a.id, victim.id);
        // Now it is archived, and cutting it stays refused.
        let e = wal.truncate_suffix(cut).await.unwrap_err();
        assert!(matches!(e, Error::Archived { .. }), "{e}");
        check_all(&archiver, &wal, &expect).await;

        // 2. A truncation after the archived segment runs (parked in a deletion) when a copy
        //    of a segment it discards starts: the copy is refused.
        let segs = wal.segments();
        let newest_sealed = *segs.iter().rev().find(|s| s.sealed).unwrap();
        let last = *segs.last().unwrap();
        assert!(newest_sealed.id > victim.id);
        let cut = victim_last;
        store.hold.lock().unwrap().delete = Some(last.id);
        let trunc = tokio::spawn({
            let wal = Arc::clone(&wal);
            async move { wal.truncate_suffix(cut).await }
        });
        store.reached.notified().await;
        let e = archiver
            .archive_segment(&store, newest_sealed.id)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Archived { detail, .. } if detail.contains("discarding")),
            "{e}"
        );
        // The bulk pass leaves discarded segments for later instead of failing.
        assert!(archiver
            .archive_sealed(&store)
            .await
            .unwrap()
            .iter()
            .all(|a| a.id <= victim.id));
        store.release.notify_one();
        trunc.await.unwrap().unwrap();
        expect.truncate(cut.0 as usize);
        fill(&wal, 1, 100, &mut expect).await;
        archiver.archive_sealed(&store).await.unwrap();
        wal.truncate_prefix(wal.written_lsn()).await.unwrap();
        check_all(&archiver, &wal, &expect).await;
    });
}

/// Regression: `reload` (and so `archive_segment`, which reloads after losing a manifest
/// race) built futures that were not `Send`, so archiving could not be spawned on a runtime.
/// This test does not compile when one of them is not.
#[test]
fn archiver_futures_can_be_spawned() {
    fn spawnable<T: Send + 'static>(_: impl FnOnce() -> T) {}
    let archiver = rt()
        .block_on(Archiver::open(Arc::new(InMemory::new()), "arch"))
        .unwrap();
    let store = MemoryStore::new();
    let (a, s) = (archiver.clone(), store.clone());
    spawnable(move || async move { a.reload().await });
    let (a, s2) = (archiver.clone(), s.clone());
    spawnable(move || async move { a.archive_sealed(&s2).await });
    let (a, s3) = (archiver.clone(), s.clone());
    spawnable(move || async move { a.archive_state(&s3).await });
    let a = archiver.clone();
    spawnable(move || async move { a.restore(&s, Lsn(10)).await });
    let a = archiver;
    spawnable(move || async move { a.lag(&store).await });
}

/// Archives written before segment objects were named by their checksum (`segments/<id>`,
/// manifest entries without a `key`) keep working: they are read, fetched and gate
/// retention by contents.
#[test]
fn an_archive_with_id_named_objects_keeps_working() {
    rt().block_on(async {
        use object_store::path::Path;
        use object_store::{ObjectStoreExt, PutPayload};
        use wal_api::{RetentionGate, SegmentIdentity, SegmentStoreExt};
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let local = MemoryStore::new();
        let wal = Wal::open(local.clone(), WalOptions::default().segment_size(1000))
            .await
            .unwrap();
        let mut expect = Vec::new();
        fill(&wal, 0, 60, &mut expect).await;
        let id = SegmentId(1);
        let bytes = local.read_all(id).await.unwrap();
        let seg = SegmentIdentity::read(&local, id, bytes.len() as u64)
            .await
            .unwrap()
            .unwrap();
        let summary = wal_api::segment::check_segment(id, &bytes, false).unwrap();
        let key = Path::from(format!("old/segments/{}", id.padded()));
        bucket.put(&key, PutPayload::from(bytes.clone())).await.unwrap();
        let entry = format!(
            r#"{{"version":1,"segments":[{{"id":1,"base_lsn":1,"last_lsn":{},"records":{},"len":{},"crc32":{},"body_crc":{}}}]}}"#,
            summary.last_lsn.0,
            summary.records,
            bytes.len(),
            crc32fast::hash(&bytes),
            seg.body_crc
        );
        let manifest = Path::from(format!("old/manifest/{}", SegmentId(0).padded()));
        bucket.put(&manifest, PutPayload::from(entry)).await.unwrap();
        let archiver = Archiver::open(bucket.clone(), "old").await.unwrap();
        assert_eq!(archiver.skipped_manifest_entries(), 0);
        assert!(archiver.may_delete(&seg));
        assert_eq!(archiver.fetch(id).await.unwrap(), bytes);
        // Archiving it again finds it there.
        assert_eq!(
            archiver.archive_segment(&local, id).await.unwrap().identity(),
            seg
        );
        let got = archiver.read(Lsn(1)..Lsn(3)).await.unwrap();
        assert_eq!(&got[1].data[..], &expect[1][..]);
    });
}
