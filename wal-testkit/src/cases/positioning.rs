//! Cases for the operations engine authors use to position and inspect the log: starting at a
//! chosen LSN, `get`/`last`, `reset`, and the typed view.

use std::sync::Arc;

use wal_api::{BincodeCodec, Error, Lsn, Never, PerWrite, SegmentStore, TypedWal, Wal, WalOptions};

use super::{close_and_reopen, fill, open, small, NO_CRASH};
use crate::faults::FaultyStore;
use crate::support::{collect, collect_until_error, payload};
use crate::{Outcome, StoreFactory};

/// A new log opened with `first_lsn(N)` hands out N first, keeps it across reopen and crash,
/// and ignores the option once the log exists.
pub async fn wal_first_lsn_starts_an_empty_log<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let opts = small().first_lsn(Lsn(1001));
    let wal = open(s, opts.clone()).await;
    assert_eq!(wal.first_lsn(), Lsn(1001));
    assert_eq!(wal.last().await.expect("last"), None);
    let want = {
        let mut v = Vec::new();
        for i in 0..30 {
            let p = payload(i, 40);
            assert_eq!(wal.append(&p).await.expect("append"), Lsn(1001 + i));
            v.push(p);
        }
        v
    };
    assert!(wal.segments().len() > 1, "the case needs several segments");
    let (got, err) = collect_until_error(&wal, Lsn(1)..).await;
    assert!(got.is_empty());
    assert!(
        matches!(
            err,
            Some(Error::Trimmed {
                first: Lsn(1001),
                ..
            })
        ),
        "reading below the start is reported: {err:?}"
    );
    let wal = close_and_reopen(&*f, &g, wal, small().first_lsn(Lsn(5))).await;
    assert_eq!(wal.first_lsn(), Lsn(1001));
    super::assert_records(&collect(&wal, Lsn(1001)..).await, 1001, &want);
    assert_eq!(wal.append(b"next").await.expect("append"), Lsn(1031));
    drop(wal);
    if let Some(img) = f.crash(&g, 3).await {
        let wal = open(img, small()).await;
        assert_eq!(wal.first_lsn(), Lsn(1001));
        assert_eq!(
            wal.last().await.expect("last").map(|r| r.lsn),
            Some(Lsn(1031))
        );
    }
    assert!(Wal::open(f.build().await.1, small().first_lsn(Lsn(0)))
        .await
        .is_err());
    Outcome::Passed
}

/// `get` finds any record across segments and reports trimmed LSNs; `last` follows appends,
/// suffix truncation and reopen.
pub async fn wal_get_and_last_follow_the_log<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    assert_eq!(wal.get(Lsn(1)).await.expect("get"), None);
    assert_eq!(wal.get(Lsn::NONE).await.expect("get"), None);
    assert_eq!(wal.last().await.expect("last"), None);
    let want = fill(&wal, 0, 40, 60).await;
    assert!(wal.segments().len() > 2, "the case needs several segments");
    for (i, w) in want.iter().enumerate() {
        let lsn = Lsn(i as u64 + 1);
        let r = wal.get(lsn).await.expect("get").expect("record present");
        assert_eq!((r.lsn, &r.data[..]), (lsn, &w[..]));
    }
    assert_eq!(wal.get(Lsn(41)).await.expect("get"), None);
    assert_eq!(
        wal.last().await.expect("last").map(|r| r.lsn),
        Some(Lsn(40))
    );

    wal.truncate_suffix(Lsn(25)).await.expect("truncate_suffix");
    let last = wal.last().await.expect("last").expect("a record");
    assert_eq!((last.lsn, &last.data[..]), (Lsn(25), &want[24][..]));
    assert_eq!(wal.get(Lsn(26)).await.expect("get"), None);

    let first = wal.truncate_prefix(Lsn(20)).await.expect("truncate_prefix");
    assert!(first > Lsn(1), "a segment was dropped");
    match wal.get(first.prev()).await {
        Err(Error::Trimmed { first: f2, .. }) => assert_eq!(f2, first),
        other => panic!("get below first_lsn must be Trimmed, got {other:?}"),
    }
    assert!(wal.get(first).await.expect("get").is_some());

    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(
        wal.last().await.expect("last").map(|r| r.lsn),
        Some(Lsn(25))
    );
    Outcome::Passed
}

/// `reset(N)` discards every record and the next one takes N, forward and backward, durably.
pub async fn wal_reset_restarts_at_the_chosen_lsn<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    fill(&wal, 0, 30, 60).await;
    let mut tail = wal.tail(Lsn(1));
    wal.reset(Lsn(500)).await.expect("reset forward");
    assert_eq!(wal.first_lsn(), Lsn(500));
    assert_eq!(wal.last().await.expect("last"), None);
    assert_eq!(wal.segments().len(), 1);
    assert!(matches!(
        wal.get(Lsn(3)).await,
        Err(Error::Trimmed {
            first: Lsn(500),
            ..
        })
    ));
    // A live reader positioned in the discarded log is told, not silently moved on.
    use futures::StreamExt;
    let mut saw_error = false;
    while let Some(r) = tail.next().await {
        if r.is_err() {
            saw_error = true;
            break;
        }
    }
    assert!(
        saw_error,
        "a tail over discarded records ends with an error"
    );
    assert_eq!(wal.append(b"five hundred").await.expect("append"), Lsn(500));
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(wal.first_lsn(), Lsn(500));
    let got = collect(&wal, Lsn(500)..).await;
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].data[..], b"five hundred");

    wal.reset(Lsn(7)).await.expect("reset backward");
    assert_eq!(wal.append(b"seven").await.expect("append"), Lsn(7));
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(wal.first_lsn(), Lsn(7));
    let got = collect(&wal, Lsn(7)..).await;
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].data[..], b"seven");
    assert!(wal.reset(Lsn(0)).await.is_err(), "LSN 0 is refused");
    Outcome::Passed
}

/// What the reset workload issued before the power went out.
struct ResetRun {
    /// Records written before the reset (LSNs 1..).
    before: Vec<Vec<u8>>,
    /// Highest pre-reset LSN acknowledged durable.
    acked_before: u64,
    /// `reset` returned `Ok`.
    reset_done: bool,
    /// Records appended after the reset (LSNs `RESET_AT`..).
    after: Vec<Vec<u8>>,
    /// Post-reset records acknowledged durable.
    acked_after: u64,
}

const RESET_AT: u64 = 300;

async fn reset_workload<S: SegmentStore>(store: S) -> ResetRun {
    let mut run = ResetRun {
        before: Vec::new(),
        acked_before: 0,
        reset_done: false,
        after: Vec::new(),
        acked_after: 0,
    };
    let opts = small().sync_policy(PerWrite).write_buffer(0);
    let Ok(wal) = Wal::open(store, opts).await else {
        return run;
    };
    for i in 0..24 {
        let p = payload(i, 50);
        run.before.push(p.clone());
        match wal.append(&p).await {
            Ok(l) => run.acked_before = l.0,
            Err(_) => return run,
        }
    }
    if wal.reset(Lsn(RESET_AT)).await.is_err() {
        return run;
    }
    run.reset_done = true;
    for i in 0..4 {
        let p = payload(1000 + i, 50);
        run.after.push(p.clone());
        match wal.append(&p).await {
            Ok(l) => run.acked_after = l.0 - RESET_AT + 1,
            Err(_) => return run,
        }
    }
    run
}

/// Checks a recovered log against a reset run: the old log (a prefix of it holding every
/// acknowledged record) or the reset one, never a mix; a returned reset is never undone.
async fn check_reset_image<S: SegmentStore>(wal: &Wal<S>, run: &ResetRun, what: &str) {
    if wal.first_lsn() == Lsn(RESET_AT) {
        let got = collect(wal, Lsn(RESET_AT)..).await;
        assert!(
            got.len() as u64 >= run.acked_after && got.len() <= run.after.len(),
            "{what}: reset log holds {} records, acknowledged {}",
            got.len(),
            run.acked_after
        );
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.lsn, Lsn(RESET_AT + i as u64), "{what}");
            assert_eq!(&r.data[..], &run.after[i][..], "{what}: phantom record");
        }
    } else {
        assert!(!run.reset_done, "{what}: a completed reset was undone");
        assert_eq!(
            wal.first_lsn(),
            Lsn(1),
            "{what}: neither the old nor the reset log"
        );
        let got = collect(wal, Lsn(1)..).await;
        assert!(
            got.len() as u64 >= run.acked_before && got.len() <= run.before.len(),
            "{what}: old log holds {} records, acknowledged {}",
            got.len(),
            run.acked_before
        );
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.lsn, Lsn(i as u64 + 1), "{what}");
            assert_eq!(&r.data[..], &run.before[i][..], "{what}: phantom record");
        }
    }
}

/// A power loss after every store operation of a reset (and during the recovery that
/// follows) leaves the old log or the reset one, and the recovered log accepts appends at
/// the right LSN.
pub async fn wal_reset_crash_at_every_op_is_old_or_new<F: StoreFactory>(f: Arc<F>) -> Outcome {
    {
        let (g, s) = f.build().await;
        drop(s);
        if f.crash(&g, 0).await.is_none() {
            return Outcome::Skipped(NO_CRASH.into());
        }
    }
    let total = {
        let (_g, s) = f.build().await;
        let (s, faults) = FaultyStore::new(s);
        let run = reset_workload(s).await;
        assert!(run.reset_done && run.acked_after == 4, "dry run completes");
        faults.ops()
    };
    let (mut states, mut reset_logs, mut finished_by_recovery) = (0, 0, 0);
    for k in 0..=total {
        for seed in 0..2u64 {
            let (g, s) = f.build().await;
            let (s, faults) = FaultyStore::new(s);
            faults.halt_after(k);
            let run = reset_workload(s).await;
            let img = f.crash(&g, k * 100 + seed).await.expect("crash image");
            let img = if seed == 1 {
                // Cut the power again part-way through the first recovery.
                let (s2, faults2) = FaultyStore::new(img);
                faults2.halt_after(1 + k % 3);
                let _ = Wal::open(s2, WalOptions::default()).await;
                f.crash(&g, k + 17).await.expect("crash image")
            } else {
                img
            };
            let what = format!("halt after op {k}, seed {seed}");
            let wal = Wal::open(img, small())
                .await
                .unwrap_or_else(|e| panic!("{what}: recovery failed: {e}"));
            check_reset_image(&wal, &run, &what).await;
            if wal.first_lsn() == Lsn(RESET_AT) {
                reset_logs += 1;
            }
            if !wal.recovery_report().removed_reset.is_empty() {
                finished_by_recovery += 1;
            }
            drop(wal);
            // Recovery finished the job: a second open sees the same log, and appends go on
            // right after it.
            let wal = open(f.reopen(&g).await, small()).await;
            check_reset_image(&wal, &run, &format!("{what}, reopened")).await;
            let next = wal.written_lsn().next();
            assert_eq!(
                wal.append(b"after").await.expect("append after recovery"),
                next,
                "{what}"
            );
            states += 1;
        }
    }
    println!(
        "reset crash states explored: {states} ({total} store operations), reset log: \
         {reset_logs}, reset finished by recovery: {finished_by_recovery}"
    );
    assert!(
        reset_logs > 0 && reset_logs < states && finished_by_recovery > 0,
        "the exploration must reach the old log, the reset log and an interrupted reset"
    );
    Outcome::Passed
}

/// The typed view round-trips values through append, batch, read, replay, get and last,
/// across rotation and reopen.
pub async fn wal_typed_view_round_trips<F: StoreFactory>(f: Arc<F>) -> Outcome {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Op {
        Put(String, Vec<u8>),
        Delete(String),
        Vote { term: u64, for_lsn: Lsn },
    }
    let op = |i: u64| match i % 3 {
        0 => Op::Put(format!("k{i}"), payload(i, 30)),
        1 => Op::Delete(format!("k{}", i - 1)),
        _ => Op::Vote {
            term: i,
            for_lsn: Lsn(i),
        },
    };
    let (g, s) = f.build().await;
    let log: TypedWal<Op, F::Store, BincodeCodec> = TypedWal::open(s, small().sync_policy(Never))
        .await
        .expect("open");
    let mut want = Vec::new();
    for i in 0..20 {
        if i % 5 == 4 {
            let batch = [op(i * 10), op(i * 10 + 1)];
            log.append_batch(&batch).await.expect("append_batch");
            want.extend(batch);
        } else {
            log.append(&op(i)).await.expect("append");
            want.push(op(i));
        }
    }
    log.wal().close().await.expect("close");
    drop(log);
    let log: TypedWal<Op, F::Store, BincodeCodec> = TypedWal::open(f.reopen(&g).await, small())
        .await
        .expect("reopen");
    assert!(
        log.wal().segments().len() > 1,
        "the case needs several segments"
    );
    use futures::StreamExt;
    let read: Vec<(Lsn, Op)> = log.read(..).map(|r| r.expect("read")).collect().await;
    let expect: Vec<(Lsn, Op)> = want
        .iter()
        .enumerate()
        .map(|(i, v)| (Lsn(i as u64 + 1), v.clone()))
        .collect();
    assert_eq!(read, expect);
    let mut replayed = Vec::new();
    log.replay(.., |l, v| replayed.push((l, v)))
        .await
        .expect("replay");
    assert_eq!(replayed, expect);
    assert_eq!(log.get(Lsn(3)).await.expect("get"), Some(want[2].clone()));
    assert_eq!(log.last().await.expect("last"), expect.last().cloned());
    Outcome::Passed
}
