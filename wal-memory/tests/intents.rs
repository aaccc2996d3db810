//! Every crash point of the operations with an effect beyond their records: `reset` (from a
//! fresh log and from a full one, above and below its end), `put_meta`, `delete_meta`,
//! `checkpoint` and a log started at a chosen first LSN.
//!
//! Each operation runs with one fault injected at its k-th append, sync, create or delete
//! (k = 1, 2, ... until the operation completes without meeting it). Then the process dies,
//! and the log is reopened as it is, and after power losses, in every recovery mode (strict
//! mode only as the process left it: it refuses the non-zero torn tails a power loss leaves).
//! Every reopened log must:
//! - open (no interrupted operation may leave a log that refuses to open);
//! - show the operation all or nothing, and all when it returned `Ok`;
//! - keep showing the same thing after an append, a `close` (which seals) and another reopen
//!   (an undecided intent kept by recovery must not become decided by a later seal).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use bytes::Bytes;
use wal_api::{Error, Lsn, RecoveryMode, Wal, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

fn opts(mode: RecoveryMode) -> WalOptions {
    WalOptions::default().segment_size(512).recovery_mode(mode)
}

/// What an engine sees of a log.
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    first: Lsn,
    records: Vec<(u64, Vec<u8>)>,
    checkpoint: Option<Lsn>,
    meta: BTreeMap<String, Bytes>,
}

async fn view(wal: &Wal<MemoryStore>) -> View {
    let mut records = Vec::new();
    wal.replay(wal.first_lsn().., |l, d| {
        records.push((l.0, d.to_vec()));
        Ok(())
    })
    .await
    .unwrap();
    View {
        first: wal.first_lsn(),
        records,
        checkpoint: wal.last_checkpoint(),
        meta: wal.metadata(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Reset(u64),
    PutMeta,
    DeleteMeta,
    Checkpoint(u64),
}

#[derive(Clone, Copy, Debug)]
struct Case {
    /// Records appended before the operation.
    records: u64,
    op: Op,
}

async fn setup(store: &MemoryStore, case: Case) -> Wal<MemoryStore> {
    let wal = Wal::open(store.clone(), opts(RecoveryMode::TolerateTornTail))
        .await
        .unwrap();
    for i in 0..case.records {
        wal.append(format!("record {i:03} of the setup").as_bytes())
            .await
            .unwrap();
    }
    if case.records > 0 {
        wal.put_meta("vote", b"term 2").await.unwrap();
    }
    wal
}

async fn run(wal: &Wal<MemoryStore>, op: Op) -> Result<(), Error> {
    match op {
        Op::Reset(n) => wal.reset(Lsn(n)).await,
        Op::PutMeta => wal.put_meta("vote", b"term 3").await,
        Op::DeleteMeta => wal.delete_meta("vote").await,
        Op::Checkpoint(c) => wal.checkpoint(Lsn(c)).await,
    }
}

/// The view after `op` took effect, from the view before it.
fn applied(before: &View, op: Op) -> View {
    let mut v = before.clone();
    match op {
        Op::Reset(n) => {
            v.first = Lsn(n);
            v.records.clear();
            v.checkpoint = Some(Lsn(n - 1)).filter(|c| !c.is_none());
        }
        Op::PutMeta => {
            v.meta.insert("vote".into(), Bytes::from_static(b"term 3"));
        }
        Op::DeleteMeta => {
            v.meta.remove("vote");
        }
        Op::Checkpoint(c) => {
            v.checkpoint = Some(Lsn(c));
            v.records.retain(|r| r.0 > c);
            v.first = v.first.max(Lsn(c + 1));
        }
    }
    v
}

fn plan(kind: usize, k: u64) -> FaultPlan {
    let mut p = FaultPlan::default();
    match kind {
        0 => p.fail_append_at = Some(k),
        1 => p.fail_sync_at = Some(k),
        2 => p.fail_create_at = Some(k),
        _ => p.fail_delete_at = Some(k),
    }
    p
}

/// The records of a view whose LSNs the engine's next append follows.
fn next_lsn(v: &View) -> u64 {
    v.records.last().map_or(v.first.0, |r| r.0 + 1)
}

/// Opens `store` and checks it shows `before` or `after` (exactly `after` when `done`);
/// then appends, closes, reopens and checks again. Returns a violation, if any.
async fn check(
    store: MemoryStore,
    before: &View,
    after: &View,
    done: bool,
    mode: RecoveryMode,
) -> Option<String> {
    let wal = match Wal::open(store.clone(), opts(mode)).await {
        Ok(w) => w,
        Err(e) => return Some(format!("open refused: {e}")),
    };
    let got = view(&wal).await;
    let ok = got == *after || (!done && got == *before);
    if !ok {
        return Some(format!("opened as {got:?}"));
    }
    let extra = b"appended after recovery".to_vec();
    match wal.append(&extra).await {
        Ok(l) if l.0 == next_lsn(&got) => {}
        Ok(l) => {
            return Some(format!(
                "append after recovery took {l}, wanted {}",
                next_lsn(&got)
            ))
        }
        Err(e) => return Some(format!("append after recovery failed: {e}")),
    }
    if let Err(e) = wal.close().await {
        return Some(format!("close after recovery failed: {e}"));
    }
    drop(wal);
    let wal = match Wal::open(store, opts(mode)).await {
        Ok(w) => w,
        Err(e) => return Some(format!("second open refused: {e}")),
    };
    let mut want = got.clone();
    want.records.push((next_lsn(&got), extra));
    let again = view(&wal).await;
    (again != want).then(|| format!("second open shows {again:?}, wanted {want:?}"))
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            records: 0,
            op: Op::Reset(101),
        },
        Case {
            records: 0,
            op: Op::Reset(2),
        },
        Case {
            records: 0,
            op: Op::PutMeta,
        },
        Case {
            records: 12,
            op: Op::Reset(101),
        },
        Case {
            records: 12,
            op: Op::Reset(4),
        },
        Case {
            records: 12,
            op: Op::Reset(13),
        },
        Case {
            records: 12,
            op: Op::PutMeta,
        },
        Case {
            records: 12,
            op: Op::DeleteMeta,
        },
        Case {
            records: 12,
            op: Op::Checkpoint(5),
        },
        Case {
            records: 12,
            op: Op::Checkpoint(12),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_state_changes_shows_all_or_nothing() {
    let mut points = 0u64;
    let mut violations = Vec::new();
    for case in cases() {
        for kind in 0..4 {
            for k in 1.. {
                let store = MemoryStore::new();
                let wal = setup(&store, case).await;
                let before = view(&wal).await;
                let after = applied(&before, case.op);
                store.set_faults(plan(kind, k));
                let r = run(&wal, case.op).await;
                // The operation performed fewer than k operations of this kind: the fault was
                // not met, and every crash point of this kind was visited.
                let finished = store.op_counts()[kind] < k;
                drop(wal);
                let dead = store.process_crash();
                let mut images = vec![("process crash".to_string(), dead.clone())];
                for seed in 0..3 {
                    images.push((format!("power loss {seed}"), dead.crash(seed)));
                }
                for (what, image) in images {
                    for mode in [
                        RecoveryMode::TolerateTornTail,
                        RecoveryMode::AbsoluteConsistency,
                        RecoveryMode::PointInTime,
                        RecoveryMode::SkipCorrupted,
                    ] {
                        // Strict mode refuses a torn tail that is not all zeros, which a power
                        // loss may leave: it must open the process-crash images only.
                        if mode == RecoveryMode::AbsoluteConsistency && what != "process crash" {
                            continue;
                        }
                        points += 1;
                        let fork = image.process_crash();
                        if let Some(v) = check(fork, &before, &after, r.is_ok(), mode).await {
                            violations.push(format!(
                                "{case:?}, fault kind {kind} at {k} ({r:?}), {what}, {mode:?}: {v}"
                            ));
                        }
                    }
                }
                if finished {
                    break;
                }
                assert!(k < 200, "{case:?}: fault kind {kind} never stops being met");
            }
        }
    }
    for v in violations.iter().take(20) {
        println!("{v}");
    }
    println!(
        "intent crash points: {points}, violations: {}",
        violations.len()
    );
    assert!(violations.is_empty());
    assert!(points >= 1000, "{points} crash points");
}
