//! Random sequences of log operations on the memory backend, with simulated power losses
//! and reopens, checked against a model: every acknowledged record survives with its bytes,
//! nothing unwritten appears, LSNs stay dense, and suffix truncation is durable.
#![no_main]

use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use wal_api::{Lsn, Never, Wal, WalOptions};
use wal_memory::MemoryStore;

fn options(durable: bool) -> WalOptions {
    let o = WalOptions::default().segment_size(512);
    if durable {
        o
    } else {
        o.sync_policy(Never)
    }
}

/// Reads the whole log and compares it with the model (`model[i]` is LSN `i + 1`).
async fn check(wal: &Wal<MemoryStore>, model: &[Vec<u8>]) {
    assert_eq!(wal.written_lsn().0, model.len() as u64, "written LSN");
    let first = wal.first_lsn();
    let mut next = first.0;
    let mut records = wal.read_with(first.., wal_api::Visibility::Written);
    while let Some(r) = records.next().await {
        let r = r.expect("readable");
        assert_eq!(r.lsn.0, next, "dense LSNs");
        assert_eq!(
            &r.data[..],
            &model[next as usize - 1][..],
            "bytes of LSN {next}"
        );
        next += 1;
    }
    assert_eq!(next - 1, model.len() as u64, "read to the end");
}

fuzz_target!(|data: &[u8]| {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let durable_mode = data.first().is_none_or(|b| b & 1 == 0);
        let mut store = MemoryStore::new();
        let mut wal = Wal::open(store.clone(), options(durable_mode))
            .await
            .unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        // Highest LSN known durable (acknowledged under the durable policy, or synced).
        let mut durable = 0u64;
        let mut ops = data.iter().skip(1).copied();
        while let Some(op) = ops.next() {
            let arg = ops.next().unwrap_or(0);
            match op % 8 {
                0 | 1 => {
                    let rec = vec![arg; usize::from(arg % 40)];
                    let lsn = wal.append(&rec).await.unwrap();
                    model.push(rec);
                    assert_eq!(lsn.0, model.len() as u64);
                    if durable_mode {
                        durable = lsn.0;
                    }
                }
                2 => {
                    let n = 1 + usize::from(arg % 4);
                    let recs: Vec<Vec<u8>> = (0..n).map(|i| vec![arg ^ i as u8; i * 3]).collect();
                    let range = wal.append_batch(&recs).await.unwrap();
                    model.extend(recs);
                    assert_eq!(range.last.0, model.len() as u64);
                    if durable_mode {
                        durable = range.last.0;
                    }
                }
                3 => {
                    wal.sync().await.unwrap();
                    durable = model.len() as u64;
                }
                4 => wal.rotate().await.unwrap(),
                5 => {
                    // Suffix truncation to a point chosen by `arg` (refused inside a batch).
                    let to = u64::from(arg) % (model.len() as u64 + 1);
                    if wal.truncate_suffix(Lsn(to)).await.is_ok() {
                        let first = wal.first_lsn().0;
                        if to + 1 >= first {
                            model.truncate(to as usize);
                            durable = durable.min(to);
                        }
                    }
                }
                6 => {
                    // Power loss, then recovery in the default mode.
                    drop(wal);
                    store = store.crash(u64::from(arg) * 7919 + model.len() as u64);
                    wal = Wal::open(store.clone(), options(durable_mode))
                        .await
                        .expect("recovery after a power loss");
                    let got = wal.written_lsn().0;
                    assert!(
                        got >= durable,
                        "acknowledged LSN {durable} lost (log ends at {got})"
                    );
                    assert!(got <= model.len() as u64, "phantom records up to {got}");
                    model.truncate(got as usize);
                    durable = got;
                    check(&wal, &model).await;
                }
                _ => {
                    // Clean close and reopen.
                    wal.close().await.unwrap();
                    drop(wal);
                    wal = Wal::open(store.clone(), options(durable_mode))
                        .await
                        .unwrap();
                    durable = model.len() as u64;
                    check(&wal, &model).await;
                }
            }
        }
        check(&wal, &model).await;
    });
});
