//! `Wal::open_replay` hands out exactly what `Wal::open` followed by `Wal::replay` does, on
//! every state a crash can leave: workloads with batches, rotations, checkpoints, both
//! truncations and resets, cut by a halted store after every operation, then by a power loss
//! (in order or reordered) or a process crash, with or without zeros after the newest
//! segment's bytes (a file system's preallocation, which the memory store does not model).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::mem::discriminant;

use wal_api::{Error, Lsn, Never, RecoveryReport, SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;
use wal_testkit::faults::FaultyStore;

fn opts() -> WalOptions {
    WalOptions::default()
        .segment_size(700)
        .sync_policy(Never)
        .write_buffer(0)
}

/// A deterministic draw in `0..n`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Runs workload `seed` on `store` until an append fails (the store halted, or a failed sync
/// poisoned the log); the other operations may be refused and the workload goes on.
async fn workload<S: SegmentStore>(store: S, seed: u64) {
    let Ok(wal) = Wal::open(store, opts()).await else {
        return;
    };
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for step in 0..60u64 {
        let (first, last) = (wal.first_lsn().0, wal.written_lsn().0);
        let span = last + 1 - first.min(last + 1);
        let r = match rng.below(20) {
            0..=7 => {
                let len = 1 + rng.below(120) as usize;
                wal.append(&vec![step as u8; len]).await.map(drop)
            }
            8..=10 => {
                let batch: Vec<Vec<u8>> = (0..2 + rng.below(4))
                    .map(|i| vec![(step + i) as u8; 1 + rng.below(60) as usize])
                    .collect();
                wal.append_batch(&batch).await.map(drop)
            }
            11 | 12 => {
                let _ = wal.sync().await;
                continue;
            }
            13 => {
                let _ = wal.rotate().await;
                continue;
            }
            14 => {
                let _ = wal.checkpoint(Lsn(first + rng.below(span))).await;
                continue;
            }
            15 => {
                let _ = wal.truncate_prefix(Lsn(first + rng.below(span))).await;
                continue;
            }
            16 => {
                let _ = wal
                    .truncate_suffix(Lsn(last - rng.below(4).min(last)))
                    .await;
                continue;
            }
            17 => {
                let _ = wal.reset(Lsn(1 + rng.below(last + 20))).await;
                continue;
            }
            _ => {
                let _ = wal.put_meta("k", &step.to_le_bytes()).await;
                continue;
            }
        };
        if r.is_err() {
            return;
        }
    }
}

/// What an open and replay from `from` gave: records, report and log ends, or the error's
/// kind.
type Outcome = Result<(Vec<(u64, Vec<u8>)>, RecoveryReport, Lsn, Lsn), Error>;

async fn open_then_replay(store: MemoryStore, opts: WalOptions, from: Lsn) -> Outcome {
    let wal = Wal::open(store, opts).await?;
    let mut got = Vec::new();
    wal.replay(from.., |l, d| {
        got.push((l.0, d.to_vec()));
        Ok(())
    })
    .await?;
    Ok((
        got,
        wal.recovery_report().clone(),
        wal.first_lsn(),
        wal.written_lsn(),
    ))
}

async fn fused(store: MemoryStore, opts: WalOptions, from: Lsn) -> Outcome {
    let mut got = Vec::new();
    let (wal, n) = Wal::open_replay(store, opts, from, |l, d| {
        got.push((l.0, d.to_vec()));
        Ok(())
    })
    .await?;
    assert_eq!(n, got.len() as u64, "applied count");
    Ok((
        got,
        wal.recovery_report().clone(),
        wal.first_lsn(),
        wal.written_lsn(),
    ))
}

/// A copy of `store` whose bytes all count as synced (a process crash's image keeps unsynced
/// bytes readable, and both opens must see them).
async fn fork(store: &MemoryStore) -> MemoryStore {
    let copy = MemoryStore::new();
    for m in store.list().await.unwrap() {
        copy.insert_raw(m.id, store.segment_bytes(m.id).unwrap());
    }
    copy
}

/// Appends `zeros` zero bytes to the newest segment of `store`.
async fn preallocate(store: &MemoryStore, zeros: usize) {
    let metas = store.list().await.unwrap();
    if let Some(m) = metas.iter().rev().find(|m| m.id.0 < u64::MAX - 8) {
        store.tamper(m.id, |b| b.resize(b.len() + zeros, 0));
    }
}

#[tokio::test]
async fn open_replay_hands_out_what_open_then_replay_does_after_every_crash() {
    let (mut states, mut compared, mut errors) = (0u64, 0u64, 0u64);
    let (mut fused_states, mut fused_records) = (0u64, 0u64);
    for seed in 0..24u64 {
        let total = {
            let (s, faults) = FaultyStore::new(MemoryStore::new());
            workload(s, seed).await;
            faults.ops()
        };
        for k in 0..=total {
            let mem = MemoryStore::new();
            let (s, faults) = FaultyStore::new(mem.clone());
            faults.halt_after(k);
            workload(s, seed).await;
            let mut rng = Rng(k * 7919 + seed + 1);
            let image = match rng.below(3) {
                0 => mem.crash(k),
                1 => mem.crash_reordered(k),
                _ => mem.process_crash(),
            };
            if rng.below(2) == 0 {
                preallocate(&image, 1 + rng.below(3000) as usize).await;
            }
            let (first, end) = match Wal::open(fork(&image).await, opts()).await {
                Ok(w) => (w.first_lsn(), w.written_lsn()),
                Err(_) => (Lsn(1), Lsn(1)),
            };
            let mid = Lsn(first.0 + rng.below(end.0 + 2 - first.0.min(end.0 + 1)));
            for from in [Lsn(1), first, mid, end.next()] {
                let (a, b) = (fork(&image).await, fork(&image).await);
                let want = open_then_replay(a.clone(), opts(), from).await;
                let got = fused(b.clone(), opts(), from).await;
                states += 1;
                let at = format!("seed {seed}, crash after op {k}, from {from}");
                match (&want, &got) {
                    (Ok(w), Ok(g)) => {
                        let mut g = g.clone();
                        // How many records recovery handed out itself (open reports 0).
                        let handed = std::mem::take(&mut g.1.replayed);
                        assert_eq!(w, &g, "{at}");
                        compared += g.0.len() as u64;
                        if handed > 0 {
                            fused_states += 1;
                            fused_records += handed;
                        }
                        // Recovery repaired both copies alike.
                        let (la, lb) = (a.list().await.unwrap(), b.list().await.unwrap());
                        let lens = |l: &[wal_api::SegmentMeta]| {
                            l.iter().map(|m| (m.id, m.len)).collect::<Vec<_>>()
                        };
                        assert_eq!(lens(&la), lens(&lb), "{at}");
                    }
                    (Err(w), Err(g)) => {
                        errors += 1;
                        assert_eq!(discriminant(w), discriminant(g), "{at}: {w} / {g}");
                    }
                    _ => panic!("{at}: open + replay gave {want:?}, open_replay gave {got:?}"),
                }
            }
        }
    }
    println!(
        "states: {states}, records compared: {compared}, errors alike: {errors}, \
         handed out by recovery: {fused_records} records in {fused_states} states"
    );
    assert!(
        states > 10_000 && compared > 30_000,
        "{states} / {compared}"
    );
    // Most states take the one-pass path (not a fallback to open then replay).
    assert!(fused_states > states / 4, "{fused_states} of {states}");
}

#[tokio::test]
async fn an_error_from_apply_ends_open_replay() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    for i in 0..50u8 {
        wal.append(&[i; 40]).await.unwrap();
    }
    wal.sync().await.unwrap();
    drop(wal);
    for stop_at in [3u64, 30, 50] {
        let mut seen = 0;
        let r = Wal::open_replay(fork(&store).await, opts(), Lsn(1), |l, _| {
            seen += 1;
            if l.0 == stop_at {
                return Err(Error::InvalidArgument("engine refused".into()));
            }
            Ok(())
        })
        .await;
        match r {
            Err(Error::InvalidArgument(m)) => assert_eq!(m, "engine refused"),
            other => panic!("stop at {stop_at}: {other:?}"),
        }
        assert_eq!(seen, stop_at, "apply was called past its error");
    }
}

/// Bytes of a record that tell it from every other: its index, then a pattern seeded by it.
fn body(i: u64, len: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..len).map(|k| (i as usize * 31 + k * 7) as u8).collect();
    let tag = i.to_le_bytes();
    let n = tag.len().min(len);
    b[..n].copy_from_slice(&tag[..n]);
    b
}

/// Segments of several MiB, read by the scan in 1 MiB windows: records and batches that cross
/// a window's end (small ones, and ones of hundreds of KiB) are handed out whole and
/// unchanged, from the sealed segments and the unsealed newest one, from every start, and
/// after the newest segment's last frame is torn.
#[tokio::test]
async fn open_replay_hands_out_frames_that_cross_read_windows() {
    let opts = WalOptions::default()
        .segment_size(4 << 20)
        .sync_policy(Never);
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
    let mut want: Vec<(u64, Vec<u8>)> = Vec::new();
    let (mut i, mut bytes) = (0u64, 0usize);
    let mut rng = Rng(0x5eed_1234);
    while bytes < 11 << 20 {
        let len = |rng: &mut Rng| match rng.below(9) {
            0 => 150_000 + rng.below(300_000) as usize,
            _ => 1 + rng.below(6_000) as usize,
        };
        if rng.below(5) == 0 {
            let recs: Vec<Vec<u8>> = (0..1 + rng.below(6))
                .map(|k| body(i + k, len(&mut rng)))
                .collect();
            let r = wal.append_batch(&recs).await.unwrap();
            for (k, d) in recs.into_iter().enumerate() {
                assert_eq!(r.first.0 + k as u64, i + 1);
                bytes += d.len() + 4;
                want.push((i + 1, d));
                i += 1;
            }
        } else {
            let d = body(i, len(&mut rng));
            assert_eq!(wal.append(&d).await.unwrap().0, i + 1);
            bytes += d.len() + 32;
            want.push((i + 1, d));
            i += 1;
        }
    }
    wal.sync().await.unwrap();
    let segments = wal.segments().len();
    assert!(segments >= 3, "{segments} segments");
    drop(wal); // no close: the newest segment stays unsealed

    let last = want.len() as u64;
    for from in [1, 2, last / 3, last / 2, last - 1, last] {
        let (got, report, ..) = fused(store.crash(from), opts.clone(), Lsn(from))
            .await
            .unwrap();
        assert!(
            got == want[from as usize - 1..],
            "from {from}: {} records, wanted {}",
            got.len(),
            want.len() + 1 - from as usize
        );
        assert_eq!(
            report.replayed,
            got.len() as u64,
            "from {from}: the one-pass path"
        );
    }

    // The newest segment's last frame torn in its middle: every record before it is handed
    // out, as open then replay gives them.
    let torn = fork(&store).await;
    let newest = torn
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .filter(|id| id.0 < u64::MAX - 8) // not a state slot
        .max()
        .unwrap();
    let len = torn.segment_bytes(newest).unwrap().len();
    let cut = want.last().unwrap().1.len() / 2 + 8;
    torn.tamper(newest, |b| b.truncate(len - cut));
    let (got, report, ..) = fused(fork(&torn).await, opts.clone(), Lsn(1))
        .await
        .unwrap();
    let (two_pass, ..) = open_then_replay(torn, opts, Lsn(1)).await.unwrap();
    assert!(got == two_pass, "torn: one pass differs from open + replay");
    assert!(got.len() < want.len() && got[..] == want[..got.len()]);
    assert_eq!(report.replayed, got.len() as u64);
}
