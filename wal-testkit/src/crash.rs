//! Crash exploration: run a workload, cut the power after every store operation (under
//! several seeds for what happens to unsynced bytes), recover, and check the log.
//!
//! Each recovered log must be a prefix of what was issued, hold every acknowledged record,
//! hold no record that was never issued (phantom) or twice, and never split an atomic batch.

use std::sync::Arc;

use wal_api::{Lsn, Never, RecoveryMode, SegmentStore, Wal, WalOptions};

use crate::faults::FaultyStore;
use crate::support::payload;
use crate::{Outcome, StoreFactory};

/// What one workload run issued and acknowledged.
#[derive(Debug, Default)]
struct Issued {
    /// Records in LSN order (including ones whose append failed at the crash).
    records: Vec<Vec<u8>>,
    /// LSNs that end a frame (a batch is not split by recovery).
    frame_ends: Vec<u64>,
    /// Highest LSN known durable when the crash hit.
    acked: u64,
}

fn workload_opts() -> WalOptions {
    WalOptions::default()
        .segment_size(900)
        .sync_policy(Never)
        .write_buffer(0)
}

/// Appends, batches, syncs, durable waits and rotations, deterministic; stops at the first
/// error (the store halted).
async fn workload<S: SegmentStore>(store: S) -> Issued {
    let mut out = Issued::default();
    let Ok(wal) = Wal::open(store, workload_opts()).await else {
        return out;
    };
    let mut n = 0u64;
    for step in 0..48u64 {
        let r = match step % 8 {
            0 | 2 | 5 => {
                let p = payload(n, 1 + (n as usize * 13) % 90);
                out.records.push(p.clone());
                n += 1;
                wal.append(&p).await.map(|l| vec![l.0])
            }
            1 | 6 => {
                let k = 2 + step % 4;
                let batch: Vec<Vec<u8>> = (0..k).map(|i| payload(n + i, 20)).collect();
                out.records.extend(batch.iter().cloned());
                n += k;
                wal.append_batch(&batch).await.map(|r| vec![r.last.0])
            }
            3 => wal.sync().await.map(|_| vec![]),
            4 => {
                let w = wal.written_lsn();
                wal.wait_durable(w).await.map(|_| vec![])
            }
            _ => wal.rotate().await.map(|_| vec![]),
        };
        match r {
            Ok(ends) => {
                out.frame_ends.extend(ends);
                out.acked = out.acked.max(wal.durable_lsn().0);
            }
            Err(_) => break,
        }
        out.acked = out.acked.max(wal.durable_lsn().0);
    }
    out.frame_ends.push(out.records.len() as u64);
    out.acked = out.acked.max(wal.durable_lsn().0);
    out
}

/// Runs the exploration: a crash after every store operation of the workload, each under
/// several seeds, up to the factory's crash budget. Prints
/// `power-loss states explored: N, acknowledged lost: L, phantom: P, torn batches: T`
/// ([`crash_sequence_exploration`](crate::sequence::crash_sequence_exploration) prints the
/// wider model's `crash states explored` line).
pub async fn crash_exploration<F: StoreFactory>(f: Arc<F>) -> Outcome {
    {
        let (g, s) = f.build().await;
        drop(s);
        if f.crash(&g, 0).await.is_none() {
            return Outcome::Skipped(
                "backend cannot model power loss (StoreFactory::crash)".into(),
            );
        }
    }
    // Dry run: how many mutating operations the workload makes.
    let total_ops = {
        let (_g, s) = f.build().await;
        let (s, faults) = FaultyStore::new(s);
        let issued = workload(s).await;
        assert!(issued.records.len() > 50, "workload too small");
        faults.ops()
    };
    let budget = f.crash_budget().max(1);
    let seeds = budget.div_ceil(total_ops as usize).max(1) as u64;
    eprintln!("crash exploration: {total_ops} store operations, {seeds} seeds each");
    let (mut states, mut lost, mut phantom, mut torn_batches) = (0u64, 0u64, 0u64, 0u64);
    for k in 0..=total_ops {
        for seed in 0..seeds {
            let (g, s) = f.build().await;
            let (s, faults) = FaultyStore::new(s);
            faults.halt_after(k);
            let issued = workload(s).await;
            let Some(image) = f.crash(&g, k * 1000 + seed).await else {
                return Outcome::Skipped("crash image unavailable".into());
            };
            // A crash during recovery must itself be recoverable: on odd seeds, cut the power
            // again part-way through the first recovery.
            let image = if seed % 2 == 1 {
                let (s2, faults2) = FaultyStore::new(image);
                faults2.halt_after(seed % 3);
                let _ = Wal::open(s2, WalOptions::default()).await;
                match f.crash(&g, seed + 7).await {
                    Some(i) => i,
                    None => return Outcome::Skipped("crash image unavailable".into()),
                }
            } else {
                image
            };
            let wal = match Wal::open(
                image,
                WalOptions::default().recovery_mode(RecoveryMode::TolerateTornTail),
            )
            .await
            {
                Ok(w) => w,
                Err(e) => panic!("op {k} seed {seed}: recovery failed: {e}"),
            };
            let got = crate::support::collect(&wal, Lsn(1)..).await;
            states += 1;
            let mut bad = 0;
            for (i, r) in got.iter().enumerate() {
                let ok = r.lsn.0 == i as u64 + 1
                    && issued
                        .records
                        .get(i)
                        .is_some_and(|want| want[..] == r.data[..]);
                if !ok {
                    bad += 1;
                }
            }
            phantom += bad;
            let n = got.len() as u64;
            if n < issued.acked {
                lost += issued.acked - n;
            }
            if n > 0 && !issued.frame_ends.contains(&n) {
                torn_batches += 1;
            }
            assert!(
                bad == 0 && n >= issued.acked && (n == 0 || issued.frame_ends.contains(&n)),
                "op {k} seed {seed}: recovered {n} records, acknowledged {}, phantom {bad}",
                issued.acked
            );
            // The recovered log accepts appends.
            wal.append(b"after crash")
                .await
                .expect("append after recovery");
        }
    }
    println!(
        "power-loss states explored: {states}, acknowledged lost: {lost}, phantom: {phantom}, torn batches: {torn_batches}"
    );
    assert!(
        states as usize >= budget.min(1000),
        "only {states} crash states"
    );
    Outcome::Passed
}
