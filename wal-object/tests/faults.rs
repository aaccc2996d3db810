//! Seeded fault schedules and racing writers against the object-store backend and the
//! archiver, on `InMemory` under a `FailingObjectStore`.
//!
//! - Fencing: two writers on one prefix, 1,000 seeded interleavings; the fenced writer
//!   acknowledges nothing after the fence is visible, and exactly one writer is left.
//! - Backend: 1,000 fault schedules (503s, timeouts before and after a write lands,
//!   `AlreadyExists` after a retry, multipart uploads dying part-way, slow listings); every
//!   acknowledged record survives recovery and no partial object is ever seen as a segment.
//! - Archiver: 1,000 fault schedules (the above plus silently corrupted writes); no segment is
//!   reported archived unless its stored copy verifies, and no acknowledged record is lost
//!   when retention deletes archived segments locally.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use wal_api::segment::check_segment;
use wal_api::{
    Error, Lsn, PerWrite, RetentionGate, SegmentStore, SegmentStoreExt, Wal, WalOptions,
};
use wal_memory::MemoryStore;
use wal_object::{
    read_through, Archiver, ArchiverOptions, FailingObjectStore, FaultConfig, FaultStats,
    ObjectOptions, ObjectStoreSegments,
};

fn add(total: &mut FaultStats, s: FaultStats) {
    total.ops += s.ops;
    total.failed_before += s.failed_before;
    total.failed_after += s.failed_after;
    total.already_exists += s.already_exists;
    total.multipart_crashes += s.multipart_crashes;
    total.corrupted += s.corrupted;
    total.slow_lists += s.slow_lists;
}

fn breakdown(s: &FaultStats) -> String {
    format!(
        "{} ops: {} failed before landing (503/reset), {} timeouts after landing, {} \
         AlreadyExists after retry, {} multipart uploads died part-way, {} corrupted writes, \
         {} slow listings",
        s.ops,
        s.failed_before,
        s.failed_after,
        s.already_exists,
        s.multipart_crashes,
        s.corrupted,
        s.slow_lists
    )
}

const SCHEDULES: u64 = 1000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(k.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 29)
}

fn record(tag: &str, i: u64) -> Vec<u8> {
    format!("{tag}-{i:06}-{}", "x".repeat((i % 40) as usize)).into_bytes()
}

async fn all_records<S: SegmentStore>(wal: &Wal<S>) -> Vec<(Lsn, Vec<u8>)> {
    let mut s = wal.read(Lsn(1)..);
    let mut out = Vec::new();
    while let Some(r) = s.next().await {
        let r = r.expect("read");
        out.push((r.lsn, r.data.to_vec()));
    }
    out
}

fn small_segments() -> WalOptions {
    WalOptions::default()
        .segment_size(1200)
        .sync_policy(PerWrite)
        .write_buffer(0)
}

/// Outcome of one fencing interleaving.
#[derive(Default)]
struct FenceRun {
    a_acked_after_fence: u64,
    a_acked: u64,
    b_acked: u64,
    lost: u64,
    both_writable: bool,
}

async fn fence_interleaving(seed: u64) -> FenceRun {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let jitter = |s: u64| FaultConfig {
        seed: s,
        jitter_yields: 4,
        ..Default::default()
    };
    let sa = FailingObjectStore::new(mem.clone(), jitter(seed));
    let sb = FailingObjectStore::new(mem.clone(), jitter(seed ^ 0xB));
    let store_a = ObjectStoreSegments::open(Arc::new(sa), "log")
        .await
        .unwrap();
    let wal_a = Arc::new(Wal::open(store_a, small_segments()).await.unwrap());
    let fence = Arc::new(AtomicBool::new(false));
    let b_done = Arc::new(AtomicBool::new(false));

    // Writer A appends until it fails; it notes, for each acknowledged record, whether the
    // append started after the fence was visible.
    let a = {
        let (wal, fence, b_done) = (wal_a.clone(), fence.clone(), b_done.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut after_fence_acks = 0u64;
            for i in 0.. {
                if b_done.load(Ordering::SeqCst) && i > 10_000 {
                    break;
                }
                let after = fence.load(Ordering::SeqCst);
                match wal.append(&record("A", i)).await {
                    Ok(lsn) => {
                        acked.push((lsn, record("A", i)));
                        if after {
                            after_fence_acks += 1;
                        }
                    }
                    Err(_) => break,
                }
            }
            (acked, after_fence_acks)
        })
    };
    // Writer B opens at a seeded moment, recovers, appends.
    let delay = mix(seed, 1) % 60;
    let b = {
        let (fence, b_done, mem) = (fence.clone(), b_done.clone(), mem.clone());
        tokio::spawn(async move {
            for _ in 0..delay {
                tokio::task::yield_now().await;
            }
            let store_b = ObjectStoreSegments::open(Arc::new(sb), "log")
                .await
                .unwrap();
            fence.store(true, Ordering::SeqCst); // the new epoch is stored: the fence is visible
            let wal_b = Wal::open(store_b, small_segments()).await.unwrap();
            let start = all_records(&wal_b).await;
            let mut acked = Vec::new();
            for i in 0..12 {
                let lsn = wal_b.append(&record("B", i)).await.expect("B append");
                acked.push((lsn, record("B", i)));
            }
            b_done.store(true, Ordering::SeqCst);
            drop(mem);
            (wal_b, start, acked)
        })
    };
    let (b_res, a_res) = (b.await.unwrap(), a.await.unwrap());
    let (wal_b, _start, b_acked) = b_res;
    let (a_acked, a_after) = a_res;
    // Exactly one writer is left: A fails, B keeps going.
    let a_still = wal_a.append(b"A-after-B").await.is_ok();
    let b_still = wal_b.append(b"B-last").await.is_ok();
    wal_b.close().await.unwrap();
    // Recover with a third writer: everything acknowledged by A (before the fence) and by B
    // is there, in order.
    let store_c = ObjectStoreSegments::open(mem.clone(), "log").await.unwrap();
    let wal_c = Wal::open(store_c, WalOptions::default()).await.unwrap();
    let got = all_records(&wal_c).await;
    let mut lost = 0;
    for (lsn, data) in a_acked.iter().chain(b_acked.iter()) {
        let hit = got
            .get((lsn.0 - 1) as usize)
            .is_some_and(|(l, d)| l == lsn && d == data);
        if !hit {
            lost += 1;
        }
    }
    FenceRun {
        a_acked_after_fence: a_after,
        a_acked: a_acked.len() as u64,
        b_acked: b_acked.len() as u64,
        lost,
        both_writable: a_still || !b_still,
    }
}

#[test]
fn fencing_two_writers_fenced_writer_acknowledges_nothing_after_fence() {
    let rt = rt();
    let (mut after, mut a_total, mut b_total, mut lost, mut bad_end) = (0, 0, 0, 0, 0);
    for seed in 0..SCHEDULES {
        let r = rt.block_on(fence_interleaving(seed));
        after += r.a_acked_after_fence;
        a_total += r.a_acked;
        b_total += r.b_acked;
        lost += r.lost;
        bad_end += u64::from(r.both_writable);
        assert_eq!(r.a_acked_after_fence, 0, "seed {seed}");
        assert_eq!(r.lost, 0, "seed {seed}");
        assert!(!r.both_writable, "seed {seed}: not exactly one writer left");
    }
    println!(
        "fencing: {SCHEDULES} seeded interleavings, fenced-writer acks after fence: {after}, \
         acknowledged lost: {lost}, runs without exactly one writer: {bad_end} \
         (A acked {a_total}, B acked {b_total})"
    );
    assert!(a_total > 0 && b_total > 0);
}

fn backend_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        fail_before: 20,
        fail_after: 15,
        already_exists_after_retry: 15,
        multipart_crash: 150,
        corrupt_write: 0,
        slow_list: if seed.is_multiple_of(10) {
            Some(Duration::from_micros(200))
        } else {
            None
        },
        jitter_yields: 2,
    }
}

/// Checks every segment but the last is whole: no partial object is seen as a segment.
async fn check_whole<S: SegmentStore>(s: &S) -> Result<(), String> {
    let list = s.list().await.map_err(|e| e.to_string())?;
    for m in list.iter().take(list.len().saturating_sub(1)) {
        let b = s.read_all(m.id).await.map_err(|e| e.to_string())?;
        let sum = check_segment(m.id, &b, false).map_err(|e| format!("{}: {e}", m.id))?;
        if sum.trailer.is_none() {
            return Err(format!("segment {} is not sealed but not last", m.id));
        }
    }
    Ok(())
}

#[derive(Default)]
struct BackendRun {
    acked: u64,
    lost: u64,
    phantom: u64,
    partial: u64,
    faults: FaultStats,
}

async fn backend_schedule(seed: u64) -> BackendRun {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let failing = FailingObjectStore::new(mem.clone(), backend_faults(seed));
    let opts = ObjectOptions::default()
        .multipart_threshold(600)
        .part_size(256);
    let mut out = BackendRun::default();
    let mut issued: Vec<Vec<u8>> = Vec::new();
    let mut acked_upto = 0u64;
    // Writers come and go (each failure = the process dies; a new one recovers).
    for life in 0..4u64 {
        let Ok(store) =
            ObjectStoreSegments::open_with(Arc::new(failing.clone()), "log", opts.clone()).await
        else {
            continue;
        };
        let Ok(wal) = Wal::open(store, small_segments()).await else {
            continue;
        };
        // The recovered log holds every acknowledged record.
        let next = wal.written_lsn().0;
        if next < acked_upto {
            out.lost += acked_upto - next;
        }
        issued.truncate(next as usize);
        for i in 0..30 {
            let data = record(&format!("L{life}"), i);
            issued.push(data.clone());
            match wal.append(&data).await {
                Ok(lsn) => {
                    assert_eq!(lsn.0, issued.len() as u64);
                    acked_upto = acked_upto.max(lsn.0);
                    out.acked += 1;
                }
                Err(_) => break,
            }
        }
    }
    // Final recovery with the faults off.
    failing.set_enabled(false);
    out.faults = failing.stats();
    let store = ObjectStoreSegments::open(mem.clone(), "log").await.unwrap();
    if let Err(e) = check_whole(&store).await {
        eprintln!("seed {seed}: {e}");
        out.partial += 1;
    }
    let wal = Wal::open(store, WalOptions::default()).await.unwrap();
    let got = all_records(&wal).await;
    if (got.len() as u64) < acked_upto {
        out.lost += acked_upto - got.len() as u64;
    }
    for (i, (lsn, data)) in got.iter().enumerate() {
        if lsn.0 != i as u64 + 1 || issued.get(i) != Some(data) {
            out.phantom += 1;
        }
    }
    out
}

#[test]
fn backend_fault_schedules_lose_no_acknowledged_record() {
    let rt = rt();
    let (mut acked, mut lost, mut phantom, mut partial) = (0, 0, 0, 0);
    let mut faults = FaultStats::default();
    for seed in 0..SCHEDULES {
        let r = rt.block_on(backend_schedule(seed));
        assert_eq!(
            (r.lost, r.phantom, r.partial),
            (0, 0, 0),
            "seed {seed}: lost, phantom, partial"
        );
        acked += r.acked;
        lost += r.lost;
        phantom += r.phantom;
        partial += r.partial;
        add(&mut faults, r.faults);
    }
    println!(
        "backend: {SCHEDULES} fault schedules, {} faults injected, {acked} records \
         acknowledged, acknowledged lost: {lost}, phantom: {phantom}, partial segments seen: {partial}",
        faults.faults()
    );
    println!("backend faults: {}", breakdown(&faults));
    assert!(
        faults.faults() > SCHEDULES,
        "the schedules must actually inject faults"
    );
    assert!(faults.multipart_crashes > 0 && faults.already_exists > 0 && faults.failed_after > 0);
}

#[derive(Default)]
struct ArchiveRun {
    reported: u64,
    bad_reported: u64,
    lost: u64,
    errors: u64,
    faults: FaultStats,
}

async fn archive_schedule(seed: u64) -> ArchiveRun {
    let mut out = ArchiveRun::default();
    let local = MemoryStore::new();
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let failing = FailingObjectStore::new(
        mem.clone(),
        FaultConfig {
            corrupt_write: 40,
            ..backend_faults(seed)
        },
    );
    let opts = ArchiverOptions::default()
        .multipart_threshold(if seed.is_multiple_of(2) {
            700
        } else {
            usize::MAX
        })
        .part_size(256);
    // Opening may fail under faults; retry like an operator would.
    let mut archiver = None;
    for _ in 0..10 {
        if let Ok(a) = Archiver::open_with(Arc::new(failing.clone()), "archive", opts.clone()).await
        {
            archiver = Some(a);
            break;
        }
    }
    let archiver = archiver.expect("archiver opens within 10 tries");
    let gate: Arc<dyn RetentionGate> = Arc::new(archiver.clone());
    let wal = Wal::open(local.clone(), small_segments().retention(gate))
        .await
        .unwrap();
    let mut acked = Vec::new();
    for round in 0..3u64 {
        for i in 0..25 {
            let data = record(&format!("R{round}"), i);
            let lsn = wal.append(&data).await.unwrap();
            acked.push((lsn, data));
        }
        if archiver.archive_sealed(&local).await.is_err() {
            out.errors += 1;
        }
        // Retention: only segments the archiver vouches for are deleted locally.
        wal.truncate_prefix(wal.written_lsn()).await.unwrap();
    }
    failing.set_enabled(false);
    out.faults = failing.stats();
    // Every segment reported archived verifies in the object store (read without faults),
    // also after reloading the manifest from storage.
    let fresh = Archiver::open(mem.clone(), "archive").await.unwrap();
    for a in archiver.archived() {
        out.reported += 1;
        let ok = fresh.get(a.id) == Some(a)
            && fresh.fetch(a.id).await.is_ok_and(|b| {
                crc32fast::hash(&b) == a.crc32
                    && check_segment(a.id, &b, false)
                        .is_ok_and(|s| s.trailer.is_some_and(|t| t.body_crc == a.body_crc))
            });
        if !ok {
            out.bad_reported += 1;
        }
    }
    // No acknowledged record is lost: read through the archive and the local log.
    let got = read_through(&fresh, &wal, Lsn(1)..wal.written_lsn().next())
        .await
        .unwrap_or_default();
    for (lsn, data) in &acked {
        let hit = got
            .get((lsn.0 - 1) as usize)
            .is_some_and(|r| r.lsn == *lsn && r.data[..] == data[..]);
        if !hit {
            out.lost += 1;
        }
    }
    out
}

#[test]
fn archiver_fault_schedules_report_only_verified_copies() {
    let rt = rt();
    let (mut reported, mut bad, mut lost, mut errors) = (0, 0, 0, 0);
    let mut faults = FaultStats::default();
    for seed in 0..SCHEDULES {
        let r = rt.block_on(archive_schedule(seed));
        assert_eq!((r.bad_reported, r.lost), (0, 0), "seed {seed}: bad, lost");
        reported += r.reported;
        bad += r.bad_reported;
        lost += r.lost;
        errors += r.errors;
        add(&mut faults, r.faults);
    }
    println!(
        "archiver: {SCHEDULES} fault schedules, {} faults injected, {errors} archive \
         passes failed, {reported} segments reported archived, reported but failing \
         verification: {bad}, acknowledged lost: {lost}",
        faults.faults()
    );
    println!("archiver faults: {}", breakdown(&faults));
    assert!(faults.corrupted > 0 && faults.multipart_crashes > 0);
    assert!(reported > SCHEDULES && errors > 0);
}

#[test]
fn fenced_writer_reports_fenced_error() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a = ObjectStoreSegments::open(mem.clone(), "p").await.unwrap();
        let wal_a = Wal::open(a.clone(), WalOptions::default()).await.unwrap();
        wal_a.append(b"one").await.unwrap();
        let b = ObjectStoreSegments::open(mem.clone(), "p").await.unwrap();
        assert!(b.epoch() > a.epoch());
        let err = wal_a.append(b"two").await.unwrap_err();
        assert!(
            matches!(err, Error::Fenced { .. } | Error::Poisoned { .. }),
            "{err}"
        );
        assert!(a.is_fenced());
        // The new writer recovers the acknowledged record (the unacknowledged one may have
        // landed before the fence check) and goes on.
        let wal_b = Wal::open(b, WalOptions::default()).await.unwrap();
        let got = all_records(&wal_b).await;
        assert_eq!(got[0], (Lsn(1), b"one".to_vec()));
        assert!(got.len() <= 2);
        let lsn = wal_b.append(b"three").await.unwrap();
        assert_eq!(lsn.0, got.len() as u64 + 1);
    });
}

/// Every write lands and then reports a failure (`kind` picks timeout or `AlreadyExists`):
/// reading back resolves each one, so every append is acknowledged and recovered.
fn ambiguous_writes_resolve_by_reading_back(cfg: FaultConfig) {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let failing = FailingObjectStore::new(mem.clone(), cfg);
        let store = ObjectStoreSegments::open(Arc::new(failing.clone()), "log")
            .await
            .unwrap();
        let wal = Wal::open(store, small_segments()).await.unwrap();
        for i in 0..60 {
            assert_eq!(wal.append(&record("X", i)).await.unwrap(), Lsn(i + 1));
        }
        assert!(wal.segments().len() > 2, "seals happened");
        wal.close().await.unwrap();
        assert!(failing.stats().faults() > 60, "{:?}", failing.stats());
        let wal = Wal::open(
            ObjectStoreSegments::open(mem, "log").await.unwrap(),
            WalOptions::default(),
        )
        .await
        .unwrap();
        let got = all_records(&wal).await;
        assert_eq!(got.len(), 60);
        assert_eq!(got[59].1, record("X", 59));
    });
}

#[test]
fn timeouts_after_writes_land_are_resolved_by_reading_back() {
    ambiguous_writes_resolve_by_reading_back(FaultConfig {
        fail_after: 1000,
        ..Default::default()
    });
}

#[test]
fn already_exists_after_a_retry_is_resolved_by_reading_back() {
    ambiguous_writes_resolve_by_reading_back(FaultConfig {
        already_exists_after_retry: 1000,
        ..Default::default()
    });
}

#[test]
fn writes_that_never_land_are_never_acknowledged() {
    rt().block_on(async {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let failing = FailingObjectStore::new(
            mem.clone(),
            FaultConfig {
                fail_before: 1000,
                ..Default::default()
            },
        );
        failing.set_enabled(false);
        let store = ObjectStoreSegments::open(Arc::new(failing.clone()), "log")
            .await
            .unwrap();
        let wal = Wal::open(store, small_segments()).await.unwrap();
        wal.append(b"kept").await.unwrap();
        // From now on every request fails before it lands (503s).
        failing.set_enabled(true);
        assert!(wal.append(b"never").await.is_err());
        assert!(wal.append(b"never either").await.is_err(), "poisoned");
        assert!(ObjectStoreSegments::open(Arc::new(failing.clone()), "log")
            .await
            .is_err());
        drop(wal);
        failing.set_enabled(false);
        let s = ObjectStoreSegments::open(Arc::new(failing), "log")
            .await
            .unwrap();
        let wal = Wal::open(s, WalOptions::default()).await.unwrap();
        assert_eq!(all_records(&wal).await, vec![(Lsn(1), b"kept".to_vec())]);
    });
}
