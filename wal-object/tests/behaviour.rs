//! Object-layout and archiver behaviour: chunk recovery, foreign keys, multipart sealing,
//! never-overwrite archiving, manifest, retention gate, read-through and restore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use wal_api::segment::check_segment;
use wal_api::{
    Error, Lsn, Never, PerWrite, RetentionGate, SegmentId, SegmentIdentity, SegmentStore,
    SegmentStoreExt, Wal, WalOptions,
};
use wal_memory::MemoryStore;
use wal_object::{read_through, Archiver, ArchiverOptions, ObjectOptions, ObjectStoreSegments};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn records<S: SegmentStore>(wal: &Wal<S>) -> Vec<(u64, Vec<u8>)> {
    let mut s = wal.read(Lsn(1)..);
    let mut out = Vec::new();
    while let Some(r) = s.next().await {
        let r = r.unwrap();
        out.push((r.lsn.0, r.data.to_vec()));
    }
    out
}

async fn keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map(|m| m.unwrap().location.to_string())
        .collect()
        .await;
    v.sort();
    v
}

/// Writes three synced records, one chunk object each, on an unsealed segment.
async fn three_chunks(mem: &Arc<dyn ObjectStore>) -> Vec<String> {
    let s = ObjectStoreSegments::open(mem.clone(), "log").await.unwrap();
    let wal = Wal::open(s, WalOptions::default().sync_policy(PerWrite))
        .await
        .unwrap();
    for r in [&b"first"[..], b"second", b"third"] {
        wal.append(r).await.unwrap();
    }
    drop(wal);
    keys(mem.as_ref(), "log/chunks")
        .await
        .into_iter()
        .filter(|k| !k.ends_with("00000000000000000000"))
        .collect()
}

#[test]
fn each_sync_writes_one_chunk_object_and_recovery_rebuilds_the_segment() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let chunks = three_chunks(&mem).await;
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        let wal = Wal::open(
            ObjectStoreSegments::open(mem.clone(), "log").await.unwrap(),
            WalOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(records(&wal).await.len(), 3);
    });
}

#[test]
fn recovery_stops_cleanly_at_a_missing_chunk() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let chunks = three_chunks(&mem).await;
        mem.delete(&Path::from(chunks[1].as_str())).await.unwrap();
        let wal = Wal::open(
            ObjectStoreSegments::open(mem.clone(), "log").await.unwrap(),
            WalOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(records(&wal).await, vec![(1, b"first".to_vec())]);
        // The log goes on after the cut, and the orphan chunk after the gap is not revived.
        assert_eq!(wal.append(b"again").await.unwrap(), Lsn(2));
        wal.close().await.unwrap();
        let wal = Wal::open(
            ObjectStoreSegments::open(mem.clone(), "log").await.unwrap(),
            WalOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            records(&wal).await,
            vec![(1, b"first".to_vec()), (2, b"again".to_vec())]
        );
    });
}

#[test]
fn recovery_stops_cleanly_at_a_torn_chunk() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let chunks = three_chunks(&mem).await;
        let key = Path::from(chunks[2].as_str());
        let raw = mem.get(&key).await.unwrap().bytes().await.unwrap();
        mem.put(&key, PutPayload::from(raw.slice(..raw.len() - 3)))
            .await
            .unwrap();
        let wal = Wal::open(
            ObjectStoreSegments::open(mem.clone(), "log").await.unwrap(),
            WalOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            records(&wal).await,
            vec![(1, b"first".to_vec()), (2, b"second".to_vec())]
        );
    });
}

#[test]
fn foreign_keys_under_the_prefix_are_ignored() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for k in [
            "log/README",
            "log/chunks/7/00000000000000000000",
            "log/chunks/00000000000000000009/0",
            "log/segments/00000000000000000003",
            "log/segments/00000000000000000004/x",
            "log/tmp/00000000000000000001-upload",
        ] {
            mem.put(&Path::from(k), PutPayload::from_static(b"junk"))
                .await
                .unwrap();
        }
        let s = ObjectStoreSegments::open(mem.clone(), "log").await.unwrap();
        assert!(s.list().await.unwrap().is_empty());
        let wal = Wal::open(s, WalOptions::default()).await.unwrap();
        assert_eq!(wal.append(b"x").await.unwrap(), Lsn(1));
    });
}

#[test]
fn sealing_a_large_segment_goes_multipart_and_removes_its_chunks() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let opts = ObjectOptions::default()
            .multipart_threshold(1000)
            .part_size(300);
        let s = ObjectStoreSegments::open_with(mem.clone(), "log", opts)
            .await
            .unwrap();
        let wal = Wal::open(
            s.clone(),
            WalOptions::default()
                .segment_size(4000)
                .sync_policy(PerWrite),
        )
        .await
        .unwrap();
        for i in 0..150u32 {
            wal.append(format!("record {i:04} {}", "y".repeat(50)).as_bytes())
                .await
                .unwrap();
        }
        wal.close().await.unwrap();
        let all = keys(mem.as_ref(), "log").await;
        let sealed: Vec<_> = all.iter().filter(|k| k.contains("/segments/")).collect();
        assert!(sealed.len() >= 2, "{all:?}");
        assert!(!all.iter().any(|k| k.contains("/tmp/")), "{all:?}");
        // Close sealed the tail and created its empty successor: the only chunk left is that
        // segment's header, and every other segment is one sealed object.
        let list = s.list().await.unwrap();
        let newest = list.last().unwrap().id;
        let chunk_segs: Vec<_> = all
            .iter()
            .filter(|k| k.contains("/chunks/"))
            .map(|k| k.split('/').nth(2).unwrap().to_string())
            .collect();
        assert_eq!(chunk_segs, vec![newest.padded()], "{all:?}");
        assert_eq!(
            s.read_all(newest).await.unwrap().len(),
            64,
            "an empty segment"
        );
        for m in &list[..list.len() - 1] {
            let b = s.read_all(m.id).await.unwrap();
            assert!(check_segment(m.id, &b, false).unwrap().trailer.is_some());
        }
    });
}

#[test]
fn a_second_writer_fences_the_first_on_its_next_sync() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a = ObjectStoreSegments::open(mem.clone(), "log").await.unwrap();
        let wal_a = Wal::open(a, WalOptions::default().sync_policy(Never))
            .await
            .unwrap();
        wal_a.append(b"1").await.unwrap();
        wal_a.sync().await.unwrap();
        let _b = ObjectStoreSegments::open(mem.clone(), "log").await.unwrap();
        wal_a.append(b"2").await.unwrap();
        let e = wal_a.sync().await.unwrap_err();
        assert!(matches!(e, Error::Fenced { .. }), "{e}");
    });
}

/// A memory log with `n` sealed segments and an active one; returns it with the records.
async fn local_log(
    gate: Option<Arc<dyn RetentionGate>>,
) -> (MemoryStore, Wal<MemoryStore>, Vec<Vec<u8>>) {
    let local = MemoryStore::new();
    let mut opts = WalOptions::default().segment_size(1000);
    if let Some(g) = gate {
        opts = opts.retention(g);
    }
    let wal = Wal::open(local.clone(), opts).await.unwrap();
    let mut recs = Vec::new();
    for i in 0..80u32 {
        let r = format!("rec {i:03} {}", "z".repeat((i % 30) as usize)).into_bytes();
        wal.append(&r).await.unwrap();
        recs.push(r);
    }
    wal.append_batch(&[&b"batch-a"[..], b"batch-b"])
        .await
        .unwrap();
    recs.push(b"batch-a".to_vec());
    recs.push(b"batch-b".to_vec());
    (local, wal, recs)
}

#[test]
fn archiver_gates_retention_reads_through_and_restores() {
    rt().block_on(async {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let archiver = Archiver::open(bucket.clone(), "arch").await.unwrap();
        let (local, wal, recs) = local_log(Some(Arc::new(archiver.clone()))).await;
        let sealed = wal.segments().iter().filter(|s| s.sealed).count();
        assert!(sealed >= 3);
        // Nothing archived: prefix truncation keeps everything.
        wal.truncate_prefix(wal.written_lsn()).await.unwrap();
        assert_eq!(wal.first_lsn(), Lsn(1));
        let done = archiver.archive_sealed(&local).await.unwrap();
        assert_eq!(done.len(), sealed);
        for a in &done {
            assert!(archiver.may_delete(&a.identity()) && archiver.is_archived(&a.identity()));
            let src = local.read_all(a.id).await.unwrap();
            assert_eq!(crc32fast::hash(&src), a.crc32);
        }
        // Archiving again is a no-op; a fresh archiver finds the manifest.
        assert!(archiver.archive_sealed(&local).await.unwrap().is_empty());
        let fresh = Archiver::open(bucket.clone(), "arch").await.unwrap();
        assert_eq!(fresh.archived(), archiver.archived());
        // Now retention deletes the archived segments locally.
        let first = wal.truncate_prefix(wal.written_lsn()).await.unwrap();
        assert!(first > Lsn(1));
        assert!(matches!(
            wal.truncate_suffix(Lsn(2)).await,
            Err(Error::Archived { .. }) | Err(Error::Trimmed { .. })
        ));
        // Read-through: the archive serves what the local log no longer has.
        let end = wal.written_lsn().next();
        let got = read_through(&archiver, &wal, Lsn(1)..end).await.unwrap();
        let want: Vec<_> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, r))
            .collect();
        assert_eq!(got.len(), want.len());
        for (r, (lsn, data)) in got.iter().zip(want) {
            assert_eq!((r.lsn.0, &r.data[..]), (lsn, &data[..]));
        }
        let part = archiver.read(Lsn(3)..Lsn(7)).await.unwrap();
        assert_eq!(
            part.iter().map(|r| r.lsn.0).collect::<Vec<_>>(),
            vec![3, 4, 5, 6]
        );
        // Restore up to an LSN inside an archived segment, into a fresh store.
        let last_archived = archiver.archived().last().unwrap().last_lsn;
        let upto = Lsn(last_archived.0 - 2);
        let dst = MemoryStore::new();
        let rep = archiver.restore(&dst, upto).await.unwrap();
        assert_eq!(rep.last_lsn, upto);
        let restored = Wal::open(dst, WalOptions::default()).await.unwrap();
        let got = records(&restored).await;
        assert_eq!(got.len() as u64, upto.0);
        assert_eq!(got[5].1, recs[5]);
        assert_eq!(
            restored.append(b"after restore").await.unwrap(),
            upto.next()
        );
        // Restoring into a non-empty store is refused.
        assert!(archiver.restore(&local, upto).await.is_err());
    });
}

#[test]
fn archiving_never_overwrites_a_different_copy_and_accepts_an_identical_one() {
    rt().block_on(async {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let (local, _wal, _) = local_log(None).await;
        let id = SegmentId(1);
        let bytes = local.read_all(id).await.unwrap();
        let seg = SegmentIdentity::read(&local, id, bytes.len() as u64)
            .await
            .unwrap()
            .unwrap();
        let name = format!("{}-{:08x}", id.padded(), seg.body_crc);
        // An identical copy already there (an earlier run died before the manifest): success.
        let key = Path::from(format!("a1/segments/{name}"));
        bucket
            .put(&key, PutPayload::from(bytes.clone()))
            .await
            .unwrap();
        let a1 = Archiver::open(bucket.clone(), "a1").await.unwrap();
        assert_eq!(a1.archive_segment(&local, id).await.unwrap().id, id);
        // A different copy: refused, and left alone.
        let key = Path::from(format!("a2/segments/{name}"));
        let mut other = bytes.to_vec();
        other[60] ^= 1;
        bucket
            .put(&key, PutPayload::from(other.clone()))
            .await
            .unwrap();
        let a2 = Archiver::open(bucket.clone(), "a2").await.unwrap();
        let e = a2.archive_segment(&local, id).await.unwrap_err();
        assert!(matches!(e, Error::Archived { .. }), "{e}");
        assert!(!a2.may_delete(&seg));
        let kept = bucket.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(&kept[..], &other[..]);
        // The unsealed tail is not archived.
        let last = local.list().await.unwrap().last().unwrap().id;
        assert!(a1.archive_segment(&local, last).await.is_err());
        // Multipart path with tiny parts gives the same bytes.
        let a3 = Archiver::open_with(
            bucket.clone(),
            "a3",
            ArchiverOptions::default()
                .multipart_threshold(100)
                .part_size(64),
        )
        .await
        .unwrap();
        let e = a3.archive_segment(&local, id).await.unwrap();
        assert_eq!(a3.fetch(id).await.unwrap(), bytes);
        assert_eq!(e.crc32, crc32fast::hash(&bytes));
    });
}

/// `archive_sealed` never takes the newest segment, even sealed: its trailer may not be
/// durable yet. Every older sealed segment is taken; the newest goes explicitly.
#[test]
fn archive_sealed_leaves_the_newest_segment() {
    rt().block_on(async {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let archiver = Archiver::open(bucket, "arch").await.unwrap();
        let (local, wal, _) = local_log(None).await;
        // The state slots (metadata) sort after every segment: still the newest segment of
        // records is the one left, and the slots are never archived.
        wal.put_meta("vote", b"7").await.unwrap();
        // A clean close seals the tail and creates its empty successor; without that
        // successor (a crash before its creation) every segment has a trailer, and the
        // newest, sealed or not, is still left alone.
        wal.close().await.unwrap();
        drop(wal);
        let successor = local.list_segments().await.unwrap().last().unwrap().id;
        local.delete(successor).await.unwrap();
        let listed = local.list_segments().await.unwrap();
        assert!(
            local.list().await.unwrap().len() > listed.len(),
            "slots exist"
        );
        let newest = listed.iter().map(|m| m.id).max().unwrap();
        let done = archiver.archive_sealed(&local).await.unwrap();
        assert_eq!(done.len(), listed.len() - 1);
        assert!(done.iter().all(|a| a.id < newest));
        assert!(archiver.get(newest).is_none());
        let a = archiver.archive_segment(&local, newest).await.unwrap();
        assert_eq!(a.id, newest);
    });
}
