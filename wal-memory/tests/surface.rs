//! Regression tests for the surface around the records: state slots (metadata and
//! checkpoint), reset intents, readers racing truncations, option and id limits. Each failed
//! before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use wal_api::format::state::STATE_SLOTS;
use wal_api::format::SegmentHeader;
use wal_api::{Error, Interval, Lsn, RecoveryMode, SegmentId, SegmentStore, Wal, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

const MODES: [RecoveryMode; 4] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
    RecoveryMode::SkipCorrupted,
];

fn opts() -> WalOptions {
    WalOptions::default().segment_size(512)
}

async fn records(wal: &Wal<MemoryStore>) -> Vec<u64> {
    let mut got = Vec::new();
    wal.replay(wal.first_lsn().., |l, _| {
        got.push(l.0);
        Ok(())
    })
    .await
    .unwrap();
    got
}

/// A log of 40 records of 40 bytes, closed, and its segments of records (in id order).
async fn closed_log(o: WalOptions) -> (MemoryStore, Vec<SegmentId>) {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), o).await.unwrap();
    for i in 0..40u8 {
        wal.append(&[i; 40]).await.unwrap();
    }
    wal.close().await.unwrap();
    drop(wal);
    let segs = store
        .list()
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .filter(|id| !STATE_SLOTS.contains(id))
        .collect();
    (store, segs)
}

/// A log with records 1..=12, `vote = term 3` (after `term 2`) and checkpoint 10.
async fn log_with_state() -> MemoryStore {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    for i in 0..12u8 {
        wal.append(&[i; 40]).await.unwrap();
    }
    wal.put_meta("vote", b"term 2").await.unwrap();
    wal.checkpoint(Lsn(10)).await.unwrap();
    wal.put_meta("vote", b"term 3").await.unwrap();
    drop(wal);
    store
}

#[tokio::test]
async fn one_damaged_state_slot_rolls_nothing_back_in_any_mode() {
    let store = log_with_state().await;
    for slot in STATE_SLOTS {
        let len = store.segment_bytes(slot).unwrap().len();
        for at in (0..len).step_by(7) {
            for mode in MODES {
                let image = store.process_crash();
                image.tamper(slot, |b| b[at] ^= 0x04);
                let wal = Wal::open(image.clone(), opts().recovery_mode(mode))
                    .await
                    .unwrap_or_else(|e| panic!("slot {slot}, byte {at}, {mode:?}: {e}"));
                let what = format!("slot {slot}, byte {at}, {mode:?}");
                assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 3"[..]), "{what}");
                assert_eq!(wal.last_checkpoint(), Some(Lsn(10)), "{what}");
                assert_eq!(records(&wal).await, vec![11, 12], "{what}");
                assert_eq!(
                    wal.recovery_report().damaged_state_slots,
                    vec![slot],
                    "{what}"
                );
                drop(wal);
                // The damaged copy was rewritten: now either slot alone holds the state.
                for other in STATE_SLOTS {
                    let again = image.process_crash();
                    again.tamper(other, |b| b[40] ^= 1);
                    let wal = Wal::open(again, opts()).await.unwrap();
                    assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 3"[..]), "{what}");
                }
            }
        }
    }
}

#[tokio::test]
async fn both_state_slots_damaged_refuse_to_open_but_in_skip_corrupted() {
    let store = log_with_state().await;
    for mode in MODES {
        let image = store.process_crash();
        for slot in STATE_SLOTS {
            image.tamper(slot, |b| b[60] ^= 0x80);
        }
        let r = Wal::open(image.clone(), opts().recovery_mode(mode)).await;
        if mode == RecoveryMode::SkipCorrupted {
            let wal = r.unwrap();
            assert!(wal.recovery_report().state_lost);
            assert_eq!(wal.meta("vote"), None);
            let quarantined: Vec<SegmentId> = image.quarantined().iter().map(|q| q.0).collect();
            assert_eq!(quarantined, STATE_SLOTS.to_vec());
        } else {
            match r {
                Err(Error::Corrupt {
                    segment, reason, ..
                }) => {
                    assert_eq!(segment, STATE_SLOTS[0], "{mode:?}");
                    assert!(reason.contains("both state slots"), "{mode:?}: {reason}");
                    let shown = Error::corrupt(segment, 0, "x").to_string();
                    assert!(shown.contains("state slot a"), "{shown}");
                }
                other => panic!("{mode:?}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_state_slot_longer_than_a_slot_can_be_is_not_read() {
    let store = log_with_state().await;
    let image = store.process_crash();
    // An entry claiming far more bytes than its header allows a slot: invalid without a read
    // of its length (on a file system, a sparse file of any size).
    image.tamper(STATE_SLOTS[1], |b| b.resize(b.len() + (64 << 20) + 1, 0));
    let wal = Wal::open(image, opts()).await.unwrap();
    assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 3"[..]));
    assert_eq!(
        wal.recovery_report().damaged_state_slots,
        vec![STATE_SLOTS[1]]
    );
}

#[tokio::test]
async fn reset_cut_between_its_intent_and_its_trailer_did_not_happen() {
    for power_loss in [false, true] {
        let store = MemoryStore::new();
        let wal = Wal::open(store.clone(), opts()).await.unwrap();
        for i in 0..3u8 {
            wal.append(&[i; 8]).await.unwrap();
        }
        // The reset's first append (its intent) succeeds, the second (its trailer) fails.
        store.set_faults(FaultPlan {
            fail_append_at: Some(2),
            ..FaultPlan::default()
        });
        assert!(wal.reset(Lsn(101)).await.is_err());
        drop(wal);
        let image = if power_loss {
            store.process_crash().crash(1)
        } else {
            store.process_crash()
        };
        for round in 0..2 {
            let wal = Wal::open(image.clone(), opts()).await.unwrap();
            assert_eq!(wal.first_lsn(), Lsn(1), "round {round}");
            assert_eq!(records(&wal).await, vec![1, 2, 3], "round {round}");
            // The next close seals the segment: the intent must not be decided by it.
            wal.close().await.unwrap();
        }
        for mode in MODES {
            let wal = Wal::open(image.clone(), opts().recovery_mode(mode))
                .await
                .unwrap();
            assert_eq!(records(&wal).await, vec![1, 2, 3], "{mode:?}");
        }
    }
}

#[tokio::test]
async fn reset_of_a_log_that_never_held_a_record_reopens_at_every_crash_point() {
    for k in 1..=6 {
        let store = MemoryStore::new();
        let wal = Wal::open(store.clone(), opts()).await.unwrap();
        store.set_faults(FaultPlan {
            fail_delete_at: Some(k),
            ..FaultPlan::default()
        });
        let done = wal.reset(Lsn(101)).await.is_ok();
        drop(wal);
        for seed in [None, Some(1), Some(2)] {
            let dead = store.process_crash();
            let image = seed.map_or(dead.clone(), |s| dead.crash(s));
            let wal = Wal::open(image.clone(), opts())
                .await
                .unwrap_or_else(|e| panic!("delete {k} failed, power loss {seed:?}: {e}"));
            let first = wal.first_lsn();
            assert!(first == Lsn(101) || (!done && first == Lsn(1)), "{first}");
            let l = wal.append(b"after").await.unwrap();
            assert_eq!(l, first);
            wal.close().await.unwrap();
            let wal = Wal::open(image, opts()).await.unwrap();
            assert_eq!(records(&wal).await, vec![first.0]);
        }
    }
}

#[tokio::test]
async fn a_zero_sync_interval_is_refused_at_open() {
    let r = Wal::open(
        MemoryStore::new(),
        WalOptions::default().sync_policy(Interval {
            period: Duration::ZERO,
        }),
    )
    .await;
    assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.contains("interval")));
}

#[tokio::test]
async fn segment_ids_never_reach_the_reserved_ids() {
    let store = MemoryStore::new();
    let id = SegmentId(u64::MAX - 4);
    let header = SegmentHeader::new(id, Lsn(1), 77).encode();
    store.insert_raw(id, header.to_vec());
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    let mut refused = None;
    for i in 0..40u8 {
        match wal.append(&[i; 60]).await {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("appends past the last segment id are refused");
    assert!(
        matches!(e, Error::InvalidArgument(ref m) if m.contains("last id")),
        "{e}"
    );
    assert!(!wal.is_poisoned());
    let written = wal.written_lsn();
    wal.put_meta("k", b"v").await.unwrap();
    drop(wal);
    let listed = store.list().await.unwrap();
    assert!(listed
        .iter()
        .all(|m| m.id.0 <= u64::MAX - 3 || STATE_SLOTS.contains(&m.id)));
    let wal = Wal::open(store.process_crash(), opts()).await.unwrap();
    assert_eq!(wal.written_lsn(), written);
    assert_eq!(wal.meta("k").as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_reader_that_never_waits_still_lets_timers_run() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fired = rt.block_on(async {
            let wal = Wal::open(MemoryStore::new(), opts()).await.unwrap();
            for i in 0..50u8 {
                wal.append(&[i; 100]).await.unwrap();
            }
            let reader = async {
                loop {
                    let mut s = wal.read(Lsn(1)..);
                    while let Some(r) = s.next().await {
                        r.unwrap();
                    }
                }
            };
            tokio::select! {
                () = reader => false,
                () = tokio::time::sleep(Duration::from_millis(50)) => true,
            }
        });
        let _ = tx.send(fired);
    });
    let fired = rx.recv_timeout(Duration::from_secs(20));
    assert_eq!(fired, Ok(true), "the timer never ran beside the reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_racing_truncate_suffix_never_outlives_the_records() {
    for round in 0..20 {
        let store = MemoryStore::with_faults(FaultPlan {
            sync_latency: Some(Duration::from_millis(5)),
            ..FaultPlan::default()
        });
        let wal = std::sync::Arc::new(Wal::open(store.clone(), opts()).await.unwrap());
        for i in 0..12u8 {
            wal.append(&[i; 40]).await.unwrap();
        }
        let w = wal.clone();
        let cut = tokio::spawn(async move { w.truncate_suffix(Lsn(5)).await });
        tokio::time::sleep(Duration::from_micros(200 * round)).await;
        let c = wal.checkpoint(Lsn(10)).await;
        // One of the two wins: a checkpoint first makes the cut below it `Trimmed`; a cut
        // first makes the checkpoint name an LSN that is no longer written.
        let t = cut.await.unwrap();
        assert!(
            t.is_ok() || matches!(t, Err(Error::Trimmed { .. })),
            "round {round}: {t:?}"
        );
        assert!(c.is_err() || t.is_err(), "round {round}: both took effect");
        if c.is_ok() {
            assert!(
                wal.last_checkpoint() <= Some(wal.written_lsn()),
                "round {round}"
            );
        }
        drop(wal);
        let wal = Wal::open(store.process_crash(), opts())
            .await
            .unwrap_or_else(|e| panic!("round {round} ({c:?}): {e}"));
        assert!(
            wal.last_checkpoint() <= Some(wal.written_lsn()),
            "round {round}: checkpoint past the records"
        );
    }
}

/// A memory store whose syncs take 30 ms and fail when their segment was cut or removed
/// meanwhile, as an object store's sync (a chunk put for bytes that are no longer the
/// segment's) does.
#[derive(Clone, Debug)]
struct SlowSyncStore(MemoryStore);

#[derive(Debug)]
struct SlowSyncWriter {
    store: MemoryStore,
    inner: Box<dyn wal_api::SegmentWriter>,
}

#[async_trait::async_trait]
impl wal_api::SegmentWriter for SlowSyncWriter {
    fn id(&self) -> SegmentId {
        self.inner.id()
    }
    async fn append(&self, bytes: &[u8]) -> wal_api::Result<u64> {
        self.inner.append(bytes).await
    }
    async fn sync(&self) -> wal_api::Result<()> {
        let id = self.inner.id();
        let before = self.store.segment_bytes(id).map(|b| b.len());
        tokio::time::sleep(Duration::from_millis(30)).await;
        let after = self.store.segment_bytes(id).map(|b| b.len());
        if after.is_none() || after < before {
            return Err(Error::io(
                "syncing",
                Some(id),
                std::io::Error::other("the segment changed under the sync"),
            ));
        }
        self.inner.sync().await
    }
    async fn seal(&self) -> wal_api::Result<wal_api::SegmentMeta> {
        self.inner.seal().await
    }
}

#[async_trait::async_trait]
impl SegmentStore for SlowSyncStore {
    async fn create(
        &self,
        id: SegmentId,
        header: &[u8],
    ) -> wal_api::Result<Box<dyn wal_api::SegmentWriter>> {
        let inner = self.0.create(id, header).await?;
        Ok(Box::new(SlowSyncWriter {
            store: self.0.clone(),
            inner,
        }))
    }
    async fn open_tail(
        &self,
        id: SegmentId,
        at: u64,
    ) -> wal_api::Result<Box<dyn wal_api::SegmentWriter>> {
        let inner = self.0.open_tail(id, at).await?;
        Ok(Box::new(SlowSyncWriter {
            store: self.0.clone(),
            inner,
        }))
    }
    async fn read(
        &self,
        id: SegmentId,
        range: std::ops::Range<u64>,
    ) -> wal_api::Result<bytes::Bytes> {
        self.0.read(id, range).await
    }
    async fn list(&self) -> wal_api::Result<Vec<wal_api::SegmentMeta>> {
        self.0.list().await
    }
    async fn delete(&self, id: SegmentId) -> wal_api::Result<()> {
        self.0.delete(id).await
    }
    async fn quarantine(&self, id: SegmentId, reason: &str) -> wal_api::Result<()> {
        self.0.quarantine(id, reason).await
    }
    fn capabilities(&self) -> wal_api::Capabilities {
        self.0.capabilities()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_commit_whose_caller_stopped_waiting_never_poisons_a_truncation() {
    for round in 0..6u64 {
        let store = SlowSyncStore(MemoryStore::new());
        let wal = Wal::open(store.clone(), opts()).await.unwrap();
        wal.append(b"one").await.unwrap();
        wal.rotate().await.unwrap();
        // The append's sync is in flight when its caller stops waiting: it runs on, holding
        // the writer of the segment the truncation below removes.
        let cancelled =
            tokio::time::timeout(Duration::from_millis(2 + round), wal.append(b"two")).await;
        assert!(
            cancelled.is_err(),
            "round {round}: the append was not cut short"
        );
        wal.truncate_suffix(Lsn(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !wal.is_poisoned(),
            "round {round}: a healthy log was poisoned"
        );
        assert_eq!(wal.append(b"three").await.unwrap(), Lsn(2), "round {round}");
        drop(wal);
        let wal = Wal::open(store.0.process_crash(), opts()).await.unwrap();
        assert_eq!(records(&wal).await, vec![1, 2], "round {round}");
    }
}

#[tokio::test]
async fn a_log_never_starts_where_no_record_fits() {
    let last = Lsn::LAST_START;
    for bad in [Lsn(last.0 + 1), Lsn(u64::MAX)] {
        let r = Wal::open(MemoryStore::new(), opts().first_lsn(bad)).await;
        assert!(
            matches!(r, Err(Error::InvalidArgument(_))),
            "first_lsn {bad}"
        );
        let wal = Wal::open(MemoryStore::new(), opts()).await.unwrap();
        assert!(
            matches!(wal.reset(bad).await, Err(Error::InvalidArgument(_))),
            "reset {bad}"
        );
        assert!(!wal.is_poisoned());
    }
    // At the limit one record fits, and the next append says the LSNs ran out.
    let wal = Wal::open(MemoryStore::new(), opts().first_lsn(last))
        .await
        .unwrap();
    assert_eq!(wal.append(b"last").await.unwrap(), last);
    assert!(matches!(
        wal.append(b"more").await,
        Err(Error::InvalidArgument(_))
    ));
    let wal = Wal::open(MemoryStore::new(), opts()).await.unwrap();
    wal.reset(last).await.unwrap();
    assert_eq!(wal.append(b"last").await.unwrap(), last);
}

#[tokio::test]
async fn a_point_in_time_repair_interrupted_anywhere_keeps_a_copy_of_what_it_cuts() {
    for k in 1.. {
        let (store, segs) = closed_log(opts().sync_policy(wal_api::Never)).await;
        assert!(segs.len() >= 4, "{segs:?}");
        // Damage inside the second segment: only the later segments prove it was synced.
        let victim = segs[1];
        store.tamper(victim, |b| b[100] ^= 0x40);
        let original = store.segment_bytes(victim).unwrap();
        store.set_faults(FaultPlan {
            fail_delete_at: Some(k),
            ..FaultPlan::default()
        });
        let pit = || opts().recovery_mode(RecoveryMode::PointInTime);
        let interrupted = Wal::open(store.clone(), pit()).await.is_err();
        store.set_faults(FaultPlan::default());
        let wal = Wal::open(store.clone(), pit())
            .await
            .unwrap_or_else(|e| panic!("delete {k}: {e}"));
        let kept = store
            .quarantined()
            .iter()
            .any(|(id, _, bytes)| *id == victim && *bytes == original);
        let intact = store.segment_bytes(victim).as_deref() == Some(&original[..]);
        assert!(
            kept || intact,
            "delete {k}: segment {victim} was cut without a copy"
        );
        assert!(!records(&wal).await.is_empty(), "delete {k}");
        if !interrupted {
            // The repair ran past every step it can be interrupted at: a copy and one
            // quarantine per later segment.
            assert!(k > segs.len() as u64 - 2, "only {k} steps");
            break;
        }
    }
}

#[tokio::test]
async fn skip_corrupted_keeps_the_records_of_a_segment_whose_trailer_alone_is_damaged() {
    let (store, segs) = closed_log(opts()).await;
    assert!(segs.len() >= 3, "{segs:?}");
    // The trailer's last byte (its magic) of a middle segment.
    store.tamper(segs[1], |b| {
        let n = b.len();
        b[n - 1] ^= 0x01;
    });
    for mode in [RecoveryMode::SkipCorrupted, RecoveryMode::PointInTime] {
        let image = store.process_crash();
        let wal = Wal::open(image.clone(), opts().recovery_mode(mode))
            .await
            .unwrap();
        let got = records(&wal).await;
        if mode == RecoveryMode::SkipCorrupted {
            assert_eq!(got, (1..=40).collect::<Vec<u64>>(), "{mode:?}");
            assert!(wal.recovery_report().missing.is_empty());
        } else {
            assert!(got.len() >= 2, "{mode:?}: {got:?}");
        }
        // A copy of the damaged bytes is kept, whole.
        assert!(
            image.quarantined().iter().any(|q| q.0 == segs[1]),
            "{mode:?}"
        );
        drop(wal);
        let again = Wal::open(image, opts().recovery_mode(mode)).await.unwrap();
        assert_eq!(records(&again).await, got, "{mode:?}: a second open agrees");
    }
}

#[tokio::test]
async fn skip_corrupted_reports_the_lsns_of_a_missing_middle_segment() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    for i in 0..40u8 {
        wal.append(&[i; 40]).await.unwrap();
    }
    wal.close().await.unwrap();
    let infos = wal.segments();
    drop(wal);
    assert!(infos.len() >= 4);
    let gone = infos[1];
    let last_gone = Lsn(infos[2].base.0 - 1);
    store.delete(gone.id).await.unwrap();
    let r = Wal::open(store.process_crash(), opts()).await;
    assert!(matches!(r, Err(Error::Corrupt { .. })), "{r:?}");
    let wal = Wal::open(
        store.process_crash(),
        opts().recovery_mode(RecoveryMode::SkipCorrupted),
    )
    .await
    .unwrap();
    assert_eq!(wal.recovery_report().missing, vec![(gone.base, last_gone)]);
    let got = records(&wal).await;
    assert!(got.iter().all(|l| *l < gone.base.0 || *l > last_gone.0));
    assert_eq!(got.len() as u64, 40 - (last_gone.0 + 1 - gone.base.0));
}

#[tokio::test]
async fn the_written_watch_never_goes_back() {
    let wal = Wal::open(MemoryStore::new(), opts()).await.unwrap();
    let mut rx = wal.written_watch();
    let mut seen = vec![*rx.borrow_and_update()];
    for i in 0..10u8 {
        wal.append(&[i; 20]).await.unwrap();
    }
    seen.push(*rx.borrow_and_update());
    wal.truncate_suffix(Lsn(3)).await.unwrap();
    seen.push(*rx.borrow_and_update());
    wal.append(b"after the cut").await.unwrap();
    seen.push(*rx.borrow_and_update());
    wal.reset(Lsn(2)).await.unwrap();
    seen.push(*rx.borrow_and_update());
    let lsns: Vec<u64> = seen.iter().map(|w| w.lsn.0).collect();
    assert_eq!(lsns, vec![0, 10, 3, 4, 1]);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

/// Regression (a newcomer's trap): `replay(..)` and `read(..)` failed with "LSN 1 is
/// trimmed" once a checkpoint existed; a range without a start begins at the first LSN.
/// An explicit start below it still reports `Trimmed`.
#[tokio::test]
async fn an_unbounded_range_starts_at_the_first_lsn() {
    let wal = Wal::open(MemoryStore::new(), opts()).await.unwrap();
    for i in 0..40u8 {
        wal.append(&[i; 40]).await.unwrap();
    }
    wal.checkpoint(Lsn(25)).await.unwrap();
    assert!(wal.first_lsn() > Lsn(1));
    let mut replayed = Vec::new();
    let n = wal
        .replay(.., |l, _| {
            replayed.push(l.0);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(n, 15);
    assert_eq!(replayed, (26..=40).collect::<Vec<_>>());
    let read: Vec<u64> = wal.read(..).map(|r| r.unwrap().lsn.0).collect().await;
    assert_eq!(read, replayed);
    let upto: Vec<u64> = wal
        .read(..=Lsn(27))
        .map(|r| r.unwrap().lsn.0)
        .collect()
        .await;
    assert_eq!(upto, vec![26, 27]);
    let e = wal.replay(Lsn(1).., |_, _| Ok(())).await.unwrap_err();
    assert!(matches!(e, Error::Trimmed { .. }), "{e}");
    assert!(matches!(
        wal.read(Lsn(1)..).next().await,
        Some(Err(Error::Trimmed { .. }))
    ));
}

/// Regression (found by a reader written from FORMAT.md alone): `SkipCorrupted` resealed a
/// segment holding a skipped frame and a damaged trailer at the skipped frame, yet its new
/// trailer counted the frames after it; every later open found that trailer inconsistent and
/// resealed (and quarantined a copy) again. The reseal now keeps the segment up to its last
/// good frame, skipped bytes inside, so a second open changes nothing.
#[tokio::test]
async fn a_skip_corrupted_reseal_is_final() {
    let (store, segs) = closed_log(opts()).await;
    assert!(segs.len() >= 3, "{segs:?}");
    // Records are 40 bytes, frames 72: a payload byte of the second frame of a middle
    // segment, and its trailer's magic.
    store.tamper(segs[1], |b| {
        b[64 + 72 + 32 + 5] ^= 0x40;
        let n = b.len();
        b[n - 1] ^= 0x01;
    });
    let o = opts().recovery_mode(RecoveryMode::SkipCorrupted);
    let wal = Wal::open(store.clone(), o.clone()).await.unwrap();
    let got = records(&wal).await;
    assert_eq!(got.len(), 39, "one record skipped: {got:?}");
    let first = wal.recovery_report().clone();
    assert_eq!(first.quarantined, vec![segs[1]], "{first:?}");
    wal.close().await.unwrap();
    drop(wal);
    for round in 0..2 {
        let wal = Wal::open(store.clone(), o.clone()).await.unwrap();
        let report = wal.recovery_report().clone();
        assert!(
            report.quarantined.is_empty(),
            "round {round}: resealed again: {report:?}"
        );
        assert_eq!(records(&wal).await, got, "round {round}");
        wal.close().await.unwrap();
    }
}
