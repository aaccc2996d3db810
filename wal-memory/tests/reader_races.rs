//! Readers, tails and replays racing appends, both truncations, reset and checkpoint: each
//! may be told its records were cut (`Truncated`) or trimmed (`Trimmed`), and must never be
//! told a healthy log is corrupt or missing a segment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use wal_api::{Error, Lsn, Never, Visibility, Wal, WalOptions};
use wal_memory::MemoryStore;

/// Whether `e` is what a reader racing a truncation may honestly be told.
fn honest(e: &Error) -> bool {
    matches!(e, Error::Truncated { .. } | Error::Trimmed { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_racing_truncations_are_never_told_the_log_is_corrupt() {
    let rounds = 240u64;
    let mut misleading = Vec::new();
    let mut honest_errors = 0u64;
    let mut reads = 0u64;
    for round in 0..rounds {
        let opts = WalOptions::default()
            .segment_size(400 + (round % 5) * 150)
            .sync_policy(Never)
            .read_chunk(64 + (round as usize % 3) * 100);
        let wal = Arc::new(Wal::open(MemoryStore::new(), opts).await.unwrap());
        for i in 0..40u64 {
            wal.append(format!("record {i} of round {round}").as_bytes())
                .await
                .unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for kind in 0..3u64 {
            let (wal, stop) = (wal.clone(), stop.clone());
            readers.push(tokio::spawn(async move {
                let mut errors = Vec::new();
                let mut reads = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let from = wal.first_lsn();
                    let r = match kind {
                        0 => {
                            let mut s = wal.read_with(from.., Visibility::Written);
                            let mut r = Ok(());
                            while let Some(item) = s.next().await {
                                if let Err(e) = item {
                                    r = Err(e);
                                    break;
                                }
                            }
                            r
                        }
                        1 => wal.replay(from.., |_, _| Ok(())).await.map(|_| ()),
                        _ => {
                            let mut s = wal.tail_with(from, Visibility::Written);
                            let mut r = Ok(());
                            let until = wal.written_lsn();
                            while let Ok(Some(item)) =
                                tokio::time::timeout(Duration::from_millis(20), s.next()).await
                            {
                                match item {
                                    Ok(rec) if rec.lsn >= until => break,
                                    Ok(_) => {}
                                    Err(e) => {
                                        r = Err(e);
                                        break;
                                    }
                                }
                            }
                            r
                        }
                    };
                    reads += 1;
                    if let Err(e) = r {
                        errors.push(e);
                    }
                    tokio::task::yield_now().await;
                }
                (reads, errors)
            }));
        }
        // The writer: appends between every cut.
        let mut next_reset = 1_000 * (round + 1);
        for step in 0..12u64 {
            for i in 0..6u64 {
                wal.append(format!("more {step}.{i}").as_bytes())
                    .await
                    .unwrap();
            }
            let written = wal.written_lsn().0;
            let first = wal.first_lsn().0;
            let r = match (step + round) % 4 {
                0 => wal.truncate_suffix(Lsn((written - 3).max(first))).await,
                1 => wal
                    .truncate_prefix(Lsn(first + (written - first) / 2))
                    .await
                    .map(|_| ()),
                2 => {
                    next_reset += 100;
                    wal.reset(Lsn(next_reset)).await
                }
                _ => wal.checkpoint(Lsn(first + (written - first) / 3)).await,
            };
            r.unwrap_or_else(|e| panic!("round {round}, step {step}: {e}"));
            tokio::task::yield_now().await;
        }
        stop.store(true, Ordering::SeqCst);
        for r in readers {
            let (n, errors) = r.await.unwrap();
            reads += n;
            for e in errors {
                if honest(&e) {
                    honest_errors += 1;
                } else {
                    misleading.push(format!("round {round}: {e}"));
                }
            }
        }
    }
    for m in misleading.iter().take(10) {
        println!("{m}");
    }
    println!(
        "reader races: {rounds} rounds, misleading errors: {} ({reads} reads, {honest_errors} told Truncated/Trimmed)",
        misleading.len()
    );
    assert!(misleading.is_empty());
    assert!(
        honest_errors > 0,
        "no reader ever met a truncation: the race is not exercised"
    );
}
