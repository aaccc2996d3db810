//! Regression tests for durability bugs of the engine found by review and by tests written
//! as an adopter would write them. Each one failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Notify;
use wal_api::{
    Capabilities, Error, Interval, Lsn, Never, PerWrite, RecoveryMode, Result, SegmentId,
    SegmentMeta, SegmentStore, SegmentWriter, Wal, WalOptions,
};
use wal_memory::{FaultPlan, MemoryStore};
use wal_testkit::faults::FaultyStore;

const LIMIT: Duration = Duration::from_secs(10);

/// Gates shared by [`GatedStore`] and its writers.
#[derive(Debug, Default)]
struct Gates {
    /// The next `sync` blocks until `release`, then fails (as a sync whose writeback failed).
    fail_next_sync: AtomicBool,
    /// The next `delete` blocks after deleting, until `release`.
    hold_next_delete: AtomicBool,
    /// Every `append` sleeps this long (µs) before it writes.
    append_delay_us: AtomicU64,
    entered: Notify,
    release: Notify,
}

/// A memory store whose operations can be held at chosen points.
#[derive(Clone, Debug)]
struct GatedStore {
    inner: MemoryStore,
    gates: Arc<Gates>,
}

#[derive(Debug)]
struct GatedWriter {
    inner: Box<dyn SegmentWriter>,
    gates: Arc<Gates>,
}

#[async_trait]
impl SegmentStore for GatedStore {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        let inner = self.inner.create(id, header).await?;
        Ok(Box::new(GatedWriter {
            inner,
            gates: self.gates.clone(),
        }))
    }
    async fn open_tail(&self, id: SegmentId, at: u64) -> Result<Box<dyn SegmentWriter>> {
        let inner = self.inner.open_tail(id, at).await?;
        Ok(Box::new(GatedWriter {
            inner,
            gates: self.gates.clone(),
        }))
    }
    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        self.inner.read(id, range).await
    }
    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        self.inner.list().await
    }
    async fn delete(&self, id: SegmentId) -> Result<()> {
        self.inner.delete(id).await?;
        if self.gates.hold_next_delete.swap(false, Ordering::SeqCst) {
            self.gates.entered.notify_one();
            self.gates.release.notified().await;
        }
        Ok(())
    }
    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        self.inner.quarantine(id, reason).await
    }
    async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
        self.inner.preserve(id, bytes, reason).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

#[async_trait]
impl SegmentWriter for GatedWriter {
    fn id(&self) -> SegmentId {
        self.inner.id()
    }
    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        let delay = self.gates.append_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_micros(delay)).await;
        }
        self.inner.append(bytes).await
    }
    async fn sync(&self) -> Result<()> {
        if self.gates.fail_next_sync.swap(false, Ordering::SeqCst) {
            self.gates.entered.notify_one();
            self.gates.release.notified().await;
            return Err(Error::io(
                "syncing",
                Some(self.id()),
                std::io::Error::other("writeback failed (injected)"),
            ));
        }
        self.inner.sync().await
    }
    async fn seal(&self) -> Result<SegmentMeta> {
        // Linux errseq: the failed writeback was reported to the concurrent sync only, so a
        // seal's fsync returns 0.
        self.inner.seal().await
    }
}

fn gated() -> (GatedStore, Arc<Gates>) {
    let gates = Arc::new(Gates::default());
    (
        GatedStore {
            inner: MemoryStore::new(),
            gates: gates.clone(),
        },
        gates,
    )
}

async fn all(wal: &Wal<impl SegmentStore>) -> Vec<(u64, Vec<u8>)> {
    wal.read(Lsn(1)..)
        .map(|r| {
            let r = r.unwrap();
            (r.lsn.0, r.data.to_vec())
        })
        .collect()
        .await
}

/// Appends go on while a group commit writes its buffer out (the write is slow here). The
/// sync after the write may publish only the records the write covered: a watermark taken
/// after the write also covers records still in the buffer, which a power loss then takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_publishes_only_the_records_its_write_covered() {
    let (store, gates) = gated();
    gates.append_delay_us.store(300, Ordering::SeqCst);
    let wal = Wal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let appenders: Vec<_> = (0..2u8)
        .map(|t| {
            let (wal, stop) = (wal.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let mut rec = vec![t];
                    rec.extend_from_slice(&i.to_le_bytes());
                    wal.enqueue(&rec).await.unwrap();
                    i += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for seed in 0..12u64 {
        tokio::time::timeout(LIMIT, wal.sync())
            .await
            .unwrap()
            .unwrap();
        let durable = wal.durable_lsn();
        let image = store.inner.crash(seed);
        let after = Wal::open(image, WalOptions::default()).await.unwrap();
        assert!(
            after.written_lsn() >= durable,
            "check {seed}: LSN {durable} was published durable, but a power loss kept only \
             up to {}",
            after.written_lsn()
        );
        after.close().await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for t in appenders {
        tokio::time::timeout(LIMIT, t).await.unwrap().unwrap();
    }
    wal.close().await.unwrap();
}

/// A rotation seals the writer while the group-commit leader's sync of it is in flight and
/// about to fail. The seal must wait for the sync and fail with it; before the fix it
/// published the records as durable while their sync was failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_racing_a_failing_sync_never_publishes_its_records() {
    let (store, gates) = gated();
    let opts = WalOptions::default()
        .segment_size(200)
        .sync_policy(PerWrite);
    let wal = Wal::open(store, opts).await.unwrap();
    let _ = wal.enqueue(b"first record").await.unwrap();
    let first = wal.written_lsn();
    gates.fail_next_sync.store(true, Ordering::SeqCst);
    let leader = tokio::spawn({
        let wal = wal.clone();
        async move { wal.wait_durable(first).await }
    });
    tokio::time::timeout(LIMIT, gates.entered.notified())
        .await
        .expect("the leader's sync started");
    // This append does not fit: it rotates, sealing the segment the leader is syncing.
    let rotating = tokio::spawn({
        let wal = wal.clone();
        async move { wal.enqueue(&[7u8; 120]).await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        wal.durable_lsn() < first,
        "LSN {first} published as durable while its sync is still failing"
    );
    gates.release.notify_one();
    let led = tokio::time::timeout(LIMIT, leader).await.unwrap().unwrap();
    assert!(led.is_err(), "the failed sync was acknowledged");
    let rotated = tokio::time::timeout(LIMIT, rotating)
        .await
        .unwrap()
        .unwrap();
    assert!(rotated.is_err(), "the seal after a failed sync succeeded");
    assert!(wal.durable_lsn() < first);
    assert!(matches!(wal.close().await, Err(Error::Poisoned { .. })));
}

/// A crashed writer left a sealed last segment whose trailer was never synced. Recovery must
/// make it durable before it durably creates the next segment: otherwise a power loss takes the
/// trailer away from a segment that is no longer last, and the log cannot be opened.
#[tokio::test]
async fn recovery_syncs_an_unsynced_sealed_tail_before_building_on_it() {
    for seed in 0..24 {
        let store = MemoryStore::with_faults(FaultPlan {
            fail_sync_at: Some(1),
            ..FaultPlan::default()
        });
        let wal = Wal::open(store.clone(), WalOptions::default().sync_policy(Never))
            .await
            .unwrap();
        for i in 0..5u8 {
            wal.append(&[i; 30]).await.unwrap();
        }
        // The seal at close appends the trailer, then its sync fails: a process that died
        // right after writing the trailer.
        assert!(wal.close().await.is_err());
        drop(wal);
        store.set_faults(FaultPlan::default());
        let reopened = Wal::open(store.clone(), WalOptions::default())
            .await
            .unwrap();
        assert_eq!(reopened.written_lsn(), Lsn(5));
        assert_eq!(
            reopened.durable_lsn(),
            Lsn(5),
            "recovery reports what it found as durable"
        );
        drop(reopened);
        let image = store.crash(seed);
        let after = Wal::open(image, WalOptions::default())
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: open after power loss failed: {e}"));
        assert_eq!(all(&after).await.len(), 5, "seed {seed}");
    }
}

/// `close` is the last durability barrier: on a poisoned log it must say so.
#[tokio::test]
async fn close_of_a_poisoned_log_reports_poisoned() {
    let store = MemoryStore::with_faults(FaultPlan {
        fail_sync_at: Some(1),
        ..FaultPlan::default()
    });
    let wal = Wal::open(store, WalOptions::default().sync_policy(PerWrite))
        .await
        .unwrap();
    assert!(wal.append(b"x").await.is_err());
    assert!(matches!(wal.close().await, Err(Error::Poisoned { .. })));
    assert!(matches!(wal.close().await, Err(Error::Poisoned { .. })));
}

/// Under `Interval` the background syncer's failure must reach `close`.
#[tokio::test]
async fn close_after_a_failed_interval_sync_reports_poisoned() {
    let store = MemoryStore::with_faults(FaultPlan {
        fail_sync_at: Some(1),
        ..FaultPlan::default()
    });
    let opts = WalOptions::default().sync_policy(Interval {
        period: Duration::from_millis(5),
    });
    let wal = Wal::open(store, opts).await.unwrap();
    wal.append(b"accepted, never durable").await.unwrap();
    for _ in 0..400 {
        if wal.is_poisoned() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(wal.is_poisoned(), "the interval syncer never ran");
    assert!(matches!(wal.close().await, Err(Error::Poisoned { .. })));
}

/// A reader that handed out LSNs a suffix truncation later discarded must report
/// `Truncated`, even once appends have refilled the log past its position.
#[tokio::test]
async fn reader_reports_a_suffix_truncation_after_the_log_is_refilled() {
    let wal = Wal::open(MemoryStore::new(), WalOptions::default())
        .await
        .unwrap();
    for i in 0..10u8 {
        wal.append(&[i]).await.unwrap();
    }
    let mut reader = wal.read(Lsn(1)..);
    let mut tail = wal.tail(Lsn(1));
    for want in 1..=8u64 {
        assert_eq!(reader.next().await.unwrap().unwrap().lsn, Lsn(want));
        assert_eq!(tail.next().await.unwrap().unwrap().lsn, Lsn(want));
    }
    wal.truncate_suffix(Lsn(5)).await.unwrap();
    for i in 0..10u8 {
        wal.append(&[100 + i]).await.unwrap();
    }
    for (name, s) in [("read", &mut reader), ("tail", &mut tail)] {
        match tokio::time::timeout(LIMIT, s.next()).await.unwrap() {
            Some(Err(Error::Truncated { lsn })) => assert_eq!(lsn, Lsn(6), "{name}"),
            other => panic!("{name}: expected Truncated, got {other:?}"),
        }
    }
}

/// Waiting on a record that a truncation discarded fails with `Truncated`, even after
/// another record took its LSN.
#[tokio::test]
async fn waiter_of_a_discarded_record_gets_truncated() {
    let wal = Wal::open(MemoryStore::new(), WalOptions::default())
        .await
        .unwrap();
    for i in 0..3u8 {
        wal.append(&[i]).await.unwrap();
    }
    let a = wal.enqueue(b"A").await.unwrap();
    assert_eq!(wal.written_lsn(), Lsn(4));
    wal.truncate_suffix(Lsn(3)).await.unwrap();
    assert_eq!(wal.append(b"B").await.unwrap(), Lsn(4));
    let r = tokio::time::timeout(LIMIT, wal.wait_durable(a))
        .await
        .unwrap();
    assert!(
        matches!(r, Err(Error::Truncated { lsn: Lsn(4) })),
        "A's waiter got {r:?}"
    );
}

/// Appenders racing suffix truncations: a waiter woken while the truncation still held the
/// sync lock went back to sleep and nobody led the next sync, parking every appender.
#[test]
fn appenders_racing_suffix_truncations_never_park() {
    for round in 0..20u64 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Slow syncs keep the appenders waiting while a truncation holds the lock.
            let store = MemoryStore::with_faults(FaultPlan {
                sync_latency: Some(Duration::from_micros(300)),
                ..FaultPlan::default()
            });
            let wal = Wal::open(store, WalOptions::default()).await.unwrap();
            let mut tasks = Vec::new();
            for t in 0..4u8 {
                let wal = wal.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..150u8 {
                        match wal.append(&[t, i]).await {
                            Ok(_) | Err(Error::Truncated { .. }) => {}
                            Err(e) => panic!("append: {e}"),
                        }
                    }
                }));
            }
            let mut cuts = 0;
            for _ in 0..5000 {
                if cuts >= 30 || tasks.iter().all(|t| t.is_finished()) {
                    break;
                }
                let w = wal.written_lsn();
                if w.0 > 2 {
                    match wal.truncate_suffix(Lsn(w.0 - 2)).await {
                        Ok(()) => cuts += 1,
                        // A batch boundary or an already-trimmed point: not the subject here.
                        Err(Error::InvalidArgument(_)) => {}
                        Err(e) => panic!("truncate_suffix: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
            assert!(cuts >= 10, "only {cuts} truncations ran");
            for t in tasks {
                tokio::time::timeout(LIMIT, t)
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "round {round}: appenders parked (written {}, durable {})",
                            wal.written_lsn(),
                            wal.durable_lsn()
                        )
                    })
                    .unwrap();
            }
            wal.close().await.unwrap();
        });
    }
}

/// `PointInTime` repair, cut short by a crash at every store operation and then a power
/// loss, never loses the good prefix.
#[tokio::test]
async fn point_in_time_repair_survives_a_crash_at_every_step() {
    let pristine = MemoryStore::new();
    let opts = WalOptions::default().segment_size(400);
    let wal = Wal::open(pristine.clone(), opts.clone()).await.unwrap();
    for i in 0..30u8 {
        wal.append(&[i; 20]).await.unwrap();
    }
    wal.close().await.unwrap();
    drop(wal);
    let segs = pristine.list().await.unwrap();
    assert!(segs.len() >= 4, "need several segments");
    // Damage the third frame's payload of the second segment.
    use wal_api::format::{FRAME_HEADER_LEN as F, SEGMENT_HEADER_LEN as H};
    let victim = segs[1].id;
    assert!(pristine.tamper(victim, |b| b[H + 2 * (F + 20) + F + 3] ^= 0xff));
    let good = {
        let w = Wal::open(
            pristine.crash(0),
            opts.clone().recovery_mode(RecoveryMode::PointInTime),
        )
        .await
        .unwrap();
        all(&w).await
    };
    assert!(
        good.len() > 4 && good.len() < 30,
        "good prefix: {}",
        good.len()
    );
    let pit = opts.clone().recovery_mode(RecoveryMode::PointInTime);
    let mut k = 0u64;
    loop {
        let copy = pristine.crash(0);
        let (s, faults) = FaultyStore::new(copy.clone());
        faults.halt_after(k);
        let done = Wal::open(s, pit.clone()).await.is_ok();
        for seed in 0..3 {
            let after = Wal::open(copy.crash(seed), pit.clone())
                .await
                .unwrap_or_else(|e| panic!("halt after {k}, seed {seed}: {e}"));
            let got = all(&after).await;
            assert_eq!(got, good, "halt after {k} ops, seed {seed}");
        }
        if done {
            break;
        }
        k += 1;
    }
    assert!(k >= 2, "the repair took only {k} operations");
}

/// `sync` after `close` is an error, not a silent `Ok`.
#[tokio::test]
async fn sync_after_close_is_closed() {
    let wal = Wal::open(MemoryStore::new(), WalOptions::default())
        .await
        .unwrap();
    wal.append(b"x").await.unwrap();
    let other = wal.clone();
    wal.close().await.unwrap();
    assert!(matches!(other.sync().await, Err(Error::Closed)));
    assert!(matches!(other.append(b"y").await, Err(Error::Closed)));
}

/// A reader racing `truncate_prefix` gets `Trimmed`, never "segment not found".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_racing_truncate_prefix_gets_trimmed() {
    let (store, gates) = gated();
    let wal = Wal::open(store, WalOptions::default().segment_size(200))
        .await
        .unwrap();
    for i in 0..12u8 {
        wal.append(&[i; 30]).await.unwrap();
    }
    assert!(wal.segments().len() >= 3);
    let cut = wal.segments()[2].base;
    gates.hold_next_delete.store(true, Ordering::SeqCst);
    let trunc = tokio::spawn({
        let wal = wal.clone();
        async move { wal.truncate_prefix(cut).await }
    });
    tokio::time::timeout(LIMIT, gates.entered.notified())
        .await
        .unwrap();
    // The first segment's file is gone; its truncation has not returned yet.
    let first = wal.read(Lsn(1)..).next().await.unwrap();
    assert!(
        matches!(first, Err(Error::Trimmed { .. })),
        "reader got {first:?}"
    );
    gates.release.notify_one();
    gates.release.notify_one();
    tokio::time::timeout(LIMIT, trunc)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Extreme option values are refused at open with an error naming the option.
#[tokio::test]
async fn extreme_options_are_refused_at_open() {
    for (name, opts) in [
        ("read_chunk", WalOptions::default().read_chunk(usize::MAX)),
        ("read_chunk", WalOptions::default().read_chunk(0)),
        (
            "write_buffer",
            WalOptions::default().write_buffer(usize::MAX),
        ),
        ("segment_size", WalOptions::default().segment_size(u64::MAX)),
        (
            "max_record_size",
            WalOptions::default().max_record_size(u32::MAX),
        ),
    ] {
        match Wal::open(MemoryStore::new(), opts).await {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(name), "{name}: {m}"),
            other => panic!("{name}: expected InvalidArgument, got {other:?}"),
        }
    }
}

/// A log whose LSNs reach the end of the `u64` space refuses further appends with a clear
/// error instead of spinning.
#[tokio::test]
async fn append_at_the_end_of_the_lsn_space_is_refused() {
    use wal_api::format::SegmentHeader;
    let store = MemoryStore::new();
    let header = SegmentHeader {
        id: SegmentId(1),
        base: Lsn(u64::MAX - 2),
        salt: 1,
        segment_size: 1 << 20,
        max_record_size: 1 << 20,
        max_batch_size: 1 << 20,
        version: wal_api::format::FORMAT_VERSION,
        key_id: 0,
        key_check: 0,
    }
    .encode();
    store.insert_raw(SegmentId(1), header.to_vec());
    let wal = Wal::open(store, WalOptions::default()).await.unwrap();
    assert_eq!(wal.append(b"x").await.unwrap(), Lsn(u64::MAX - 2));
    let r = tokio::time::timeout(LIMIT, wal.append(b"y")).await.unwrap();
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
    let r = tokio::time::timeout(LIMIT, wal.append_batch(&[b"a", b"b"]))
        .await
        .unwrap();
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
}

/// Callers that give up on appends (a timeout drops the future at whatever await it was in:
/// waiting for a lock, mid-flush, mid-rotation, mid-sync) leave a log that still works, whose
/// acknowledged records all survive a crash, and that reopens without cutting anything.
#[test]
fn appends_cancelled_at_any_await_leave_a_sound_log() {
    for round in 0..8u64 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = MemoryStore::with_faults(FaultPlan {
                sync_latency: Some(Duration::from_micros(200)),
                ..FaultPlan::default()
            });
            let opts = WalOptions::default().segment_size(8 << 10);
            let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
            let tasks: Vec<_> = (0..4u64)
                .map(|t| {
                    let wal = wal.clone();
                    tokio::spawn(async move {
                        let mut acked = Vec::new();
                        for i in 0..300u64 {
                            // 0-400 µs: some finish, some are dropped at any await.
                            let budget =
                                Duration::from_micros((i * 37 + t * 101 + round * 13) % 400);
                            let rec = (t * 100_000 + i).to_le_bytes();
                            if let Ok(r) = tokio::time::timeout(budget, wal.append(&rec)).await {
                                acked.push((r.unwrap(), rec));
                            }
                            if i % 50 == 0 {
                                let _ = tokio::time::timeout(budget, wal.rotate()).await;
                            }
                            if i % 7 == 0 {
                                let _ = tokio::time::timeout(budget / 3, wal.sync()).await;
                            }
                        }
                        acked
                    })
                })
                .collect();
            let mut acked = Vec::new();
            for t in tasks {
                acked.extend(tokio::time::timeout(LIMIT, t).await.unwrap().unwrap());
            }
            tokio::time::timeout(LIMIT, wal.sync())
                .await
                .unwrap()
                .unwrap();
            let written = wal.written_lsn();
            let live = all(&wal).await;
            assert_eq!(
                live.len() as u64,
                written.0,
                "round {round}: records readable before close"
            );
            tokio::time::timeout(LIMIT, wal.close())
                .await
                .unwrap()
                .unwrap();
            let after = Wal::open(store.crash(round), opts).await.unwrap();
            let report = after.recovery_report().clone();
            assert!(
                report.torn_bytes == 0
                    && report.quarantined.is_empty()
                    && report.skipped.is_empty(),
                "round {round}: reopening cut or skipped data: {report:?}"
            );
            let kept = all(&after).await;
            assert_eq!(
                kept, live,
                "round {round}: the closed log lost or changed records"
            );
            for (lsn, rec) in acked {
                assert_eq!(
                    kept[lsn.0 as usize - 1],
                    (lsn.0, rec.to_vec()),
                    "round {round}"
                );
            }
        });
    }
}
