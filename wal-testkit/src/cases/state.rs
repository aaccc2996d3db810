//! Cases for the log's durable state: metadata (`put_meta`, `meta`, `delete_meta`) and
//! checkpoints (`checkpoint`, `last_checkpoint`), including power loss at every store
//! operation while they change.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use wal_api::format::state::is_state_slot;
use wal_api::{Error, Lsn, Never, SegmentStore, Wal, WalOptions};

use super::{close_and_reopen, fill, open, small, NO_CRASH};
use crate::faults::FaultyStore;
use crate::support::{collect, collect_until_error, payload};
use crate::{Outcome, StoreFactory};

fn meta_of<S: SegmentStore>(wal: &Wal<S>, key: &str) -> Option<Vec<u8>> {
    wal.meta(key).map(|b| b.to_vec())
}

/// Metadata survives rotation, both truncations, a reset, reopen and power loss; overwrites
/// and deletes are durable; bad keys and oversized maps are refused; the state never shows
/// up as a segment.
pub async fn wal_meta_survives_truncations_reset_and_reopen<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    assert_eq!(wal.meta("vote"), None);
    fill(&wal, 0, 10, 60).await;
    wal.put_meta("vote", b"term 1").await.expect("put");
    wal.put_meta("schema", b"v3").await.expect("put");
    wal.put_meta("vote", b"term 2").await.expect("overwrite");
    fill(&wal, 10, 40, 60).await;
    assert!(wal.segments().len() > 2, "the case needs several segments");
    assert!(
        wal.segments().iter().all(|s| !is_state_slot(s.id)),
        "state slots are not segments"
    );
    // Both truncations and a reset leave the map alone.
    wal.truncate_suffix(Lsn(wal.written_lsn().0 - 5))
        .await
        .expect("suffix");
    wal.truncate_prefix(wal.written_lsn())
        .await
        .expect("prefix");
    assert_eq!(meta_of(&wal, "vote").as_deref(), Some(&b"term 2"[..]));
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(meta_of(&wal, "vote").as_deref(), Some(&b"term 2"[..]));
    assert_eq!(meta_of(&wal, "schema").as_deref(), Some(&b"v3"[..]));
    wal.reset(Lsn(500)).await.expect("reset");
    wal.delete_meta("schema").await.expect("delete");
    wal.delete_meta("never there")
        .await
        .expect("delete of a missing key");
    let keys: Vec<_> = wal.metadata().into_keys().collect();
    assert_eq!(keys, vec!["vote".to_owned()]);
    // Limits: a key over 1 KiB, a map over the record limit.
    assert!(matches!(
        wal.put_meta(&"k".repeat(1025), b"").await,
        Err(Error::InvalidArgument(_))
    ));
    let big = vec![7u8; small().max_record_size as usize];
    assert!(matches!(
        wal.put_meta("big", &big).await,
        Err(Error::RecordTooLarge { .. })
    ));
    assert_eq!(meta_of(&wal, "big"), None, "a refused put changes nothing");
    wal.append(b"after reset").await.expect("append");
    drop(wal);
    let wal = open(f.reopen(&g).await, small()).await;
    assert_eq!(meta_of(&wal, "vote").as_deref(), Some(&b"term 2"[..]));
    assert_eq!(meta_of(&wal, "schema"), None, "a delete is durable");
    assert_eq!(wal.first_lsn(), Lsn(500));
    drop(wal);
    if let Some(img) = f.crash(&g, 11).await {
        let wal = open(img, small()).await;
        assert_eq!(meta_of(&wal, "vote").as_deref(), Some(&b"term 2"[..]));
        assert_eq!(meta_of(&wal, "schema"), None);
        assert_eq!(
            wal.last().await.expect("last").map(|r| r.lsn),
            Some(Lsn(500))
        );
    }
    Outcome::Passed
}

/// A checkpoint hides every record at or below it at once (reads, `get`, live readers),
/// deletes the sealed segments it covers, keeps across reopen, only moves forward, bounds
/// suffix truncation, and a reset to `n` checkpoints `n - 1`.
pub async fn wal_checkpoint_hides_drops_and_persists<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    assert_eq!(wal.last_checkpoint(), None);
    let want = fill(&wal, 1, 60, 60).await;
    let before = wal.segments();
    assert!(before.len() > 3, "the case needs several segments");
    // A reader already past the start, positioned below the checkpoint.
    let mut live = wal.read(Lsn(1)..);
    assert_eq!(live.next().await.expect("one").expect("record").lsn, Lsn(1));
    let c = Lsn(40);
    wal.checkpoint(c).await.expect("checkpoint");
    assert_eq!(wal.last_checkpoint(), Some(c));
    assert_eq!(wal.first_lsn(), Lsn(41));
    assert!(
        matches!(live.next().await, Some(Err(Error::Trimmed { .. }))),
        "a reader below the checkpoint is stopped"
    );
    assert!(matches!(wal.get(c).await, Err(Error::Trimmed { .. })));
    assert_eq!(
        &wal.get(c.next()).await.expect("get").expect("held").data[..],
        &want[40][..]
    );
    let (got, err) = collect_until_error(&wal, Lsn(1)..).await;
    assert!(got.is_empty() && matches!(err, Some(Error::Trimmed { first: Lsn(41), .. })));
    super::assert_records(&collect(&wal, Lsn(41)..).await, 41, &want[40..]);
    // Covered sealed segments are gone from the log and from the store.
    let after = wal.segments();
    assert!(after.len() < before.len(), "covered segments are deleted");
    assert!(
        after[0].base <= Lsn(41),
        "no segment holding LSN 41 is deleted"
    );
    let listed: Vec<_> = wal.store().list().await.expect("list");
    let dropped = &before[..before.len() - after.len()];
    assert!(
        dropped.iter().all(|d| listed.iter().all(|m| m.id != d.id)),
        "deleted from the store"
    );
    // Forward only; not past the end; suffix truncation stops at the checkpoint.
    wal.checkpoint(c).await.expect("the same checkpoint again");
    assert!(matches!(
        wal.checkpoint(Lsn(39)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        wal.checkpoint(Lsn(61)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        wal.checkpoint(Lsn(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        wal.truncate_suffix(Lsn(39)).await,
        Err(Error::Trimmed { .. })
    ));
    wal.truncate_suffix(Lsn(45))
        .await
        .expect("suffix above the checkpoint");
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(wal.last_checkpoint(), Some(c));
    assert_eq!(wal.first_lsn(), Lsn(41));
    super::assert_records(&collect(&wal, Lsn(41)..).await, 41, &want[40..45]);
    // Replay from the checkpoint sees exactly the records after it.
    let mut seen = Vec::new();
    wal.replay(wal.first_lsn().., |lsn, _| {
        seen.push(lsn);
        Ok(())
    })
    .await
    .expect("replay");
    assert_eq!(seen, (41..=45).map(Lsn).collect::<Vec<_>>());
    // A reset to n checkpoints n - 1, even backwards.
    wal.reset(Lsn(20)).await.expect("reset");
    assert_eq!(wal.last_checkpoint(), Some(Lsn(19)));
    assert_eq!(wal.append(b"x").await.expect("append"), Lsn(20));
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(
        (wal.last_checkpoint(), wal.first_lsn()),
        (Some(Lsn(19)), Lsn(20))
    );
    assert_eq!(
        &wal.last().await.expect("last").expect("one").data[..],
        b"x"
    );
    Outcome::Passed
}

/// What a state workload did before its store halted.
#[derive(Default)]
struct StateRun {
    /// Payloads issued, LSN `i + 1` at index `i`.
    issued: Vec<Vec<u8>>,
    /// Highest LSN acknowledged durable.
    acked: u64,
    /// Values put under "k", in order, with whether each put returned `Ok`.
    puts: Vec<(Bytes, bool)>,
    /// Checkpoints asked for, with whether each returned `Ok`.
    checkpoints: Vec<(Lsn, bool)>,
}

async fn state_workload<S: SegmentStore>(store: S) -> StateRun {
    let mut run = StateRun::default();
    let Ok(wal) = Wal::open(store, small().sync_policy(Never)).await else {
        return run;
    };
    let mut step = 0u64;
    for round in 0..3u64 {
        for _ in 0..8 {
            let p = payload(step, 40 + (step as usize * 13) % 90);
            step += 1;
            run.issued.push(p.clone());
            if wal.append(&p).await.is_err() {
                return run;
            }
        }
        let v = Bytes::from(format!("value {round}"));
        run.puts.push((v.clone(), false));
        if wal.put_meta("k", &v).await.is_err() {
            return run;
        }
        // A put makes the records before it durable.
        run.acked = run.issued.len() as u64;
        run.puts.last_mut().expect("pushed").1 = true;
        let c = Lsn(run.issued.len() as u64 - 3);
        run.checkpoints.push((c, false));
        if wal.checkpoint(c).await.is_err() {
            return run;
        }
        run.checkpoints.last_mut().expect("pushed").1 = true;
    }
    run
}

/// Checks a recovered log against a state run: the value under "k" is the last
/// acknowledged put or a later issued one; the checkpoint is at least the last acknowledged
/// and at most the last issued; every acknowledged record after the checkpoint is held and
/// nothing else (no phantom, nothing at or below the checkpoint).
async fn check_state_image<S: SegmentStore>(wal: &Wal<S>, run: &StateRun, what: &str) {
    let got = meta_of(wal, "k").map(Bytes::from);
    let last_ok = run.puts.iter().rposition(|p| p.1);
    let allowed: Vec<Option<Bytes>> = match last_ok {
        Some(i) => run.puts[i..].iter().map(|p| Some(p.0.clone())).collect(),
        None => std::iter::once(None)
            .chain(run.puts.iter().map(|p| Some(p.0.clone())))
            .collect(),
    };
    assert!(
        allowed.contains(&got),
        "{what}: metadata {got:?}, allowed {allowed:?}"
    );
    let ckpt = wal.last_checkpoint();
    let min = run.checkpoints.iter().rev().find(|c| c.1).map(|c| c.0);
    let max = run.checkpoints.last().map(|c| c.0);
    assert!(
        ckpt >= min && ckpt <= max,
        "{what}: checkpoint {ckpt:?} outside {min:?}..={max:?}"
    );
    let first = ckpt.map_or(Lsn(1), Lsn::next);
    assert_eq!(
        wal.first_lsn(),
        first,
        "{what}: first LSN follows the checkpoint"
    );
    let recs = collect(wal, first..).await;
    assert!(
        first.0 + recs.len() as u64 > run.acked,
        "{what}: acknowledged records up to {} lost ({} held from {first})",
        run.acked,
        recs.len()
    );
    for r in &recs {
        let i = (r.lsn.0 - 1) as usize;
        assert!(i < run.issued.len(), "{what}: phantom LSN {}", r.lsn);
        assert_eq!(
            &r.data[..],
            &run.issued[i][..],
            "{what}: LSN {} differs",
            r.lsn
        );
    }
}

/// Power loss after every store operation of a workload that appends, puts metadata and
/// checkpoints (and again part-way through the recovery that follows) never loses an
/// acknowledged put, checkpoint or record, never brings back a checkpointed record, and the
/// log always opens.
pub async fn wal_state_crash_at_every_op_keeps_acknowledged<F: StoreFactory>(f: Arc<F>) -> Outcome {
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
        let run = state_workload(s).await;
        assert!(
            run.checkpoints.len() == 3 && run.checkpoints[2].1,
            "dry run completes"
        );
        faults.ops()
    };
    let mut states = 0;
    let step = (total / f.crash_budget().max(1) as u64).max(1);
    let mut k = 0;
    while k <= total {
        for seed in 0..2u64 {
            let (g, s) = f.build().await;
            let (s, faults) = FaultyStore::new(s);
            faults.halt_after(k);
            let run = state_workload(s).await;
            let img = f.crash(&g, k * 31 + seed).await.expect("crash image");
            let img = if seed == 1 {
                let (s2, faults2) = FaultyStore::new(img);
                faults2.halt_after(1 + k % 4);
                let _ = Wal::open(s2, WalOptions::default()).await;
                f.crash(&g, k + 5).await.expect("crash image")
            } else {
                img
            };
            let what = format!("halt after op {k} of {total}, seed {seed}");
            let wal = Wal::open(img, small())
                .await
                .unwrap_or_else(|e| panic!("{what}: recovery failed: {e}"));
            check_state_image(&wal, &run, &what).await;
            drop(wal);
            let wal = open(f.reopen(&g).await, small()).await;
            check_state_image(&wal, &run, &format!("{what}, reopened")).await;
            states += 1;
        }
        k += step;
    }
    println!("state crash states explored: {states} ({total} store operations)");
    Outcome::Passed
}
