//! Cases for syncing and acknowledgement: shared syncs, every sync policy, failed syncs and full
//! storage, power loss.

use std::sync::Arc;
use std::time::Duration;

use wal_api::{Error, Lsn, Never, PerWrite, WalOptions};

use super::{assert_records, fill, open, small, NO_CRASH};
use crate::faults::FaultyStore;
use crate::support::{collect, payload};
use crate::{Outcome, StoreFactory};

/// Many concurrent durable appenders get distinct dense LSNs and share syncs.
pub async fn wal_concurrent_appends_share_syncs<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.sync_delay(Duration::from_millis(2));
    let wal = open(s, WalOptions::default().sync_policy(PerWrite)).await;
    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..20u64 {
                let p = payload(t * 1000 + i, 16);
                let lsn = wal.append(&p).await.expect("append");
                assert!(wal.durable_lsn() >= lsn, "acknowledged before durable");
                mine.push((lsn, p));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    let lsns: Vec<u64> = all.iter().map(|(l, _)| l.0).collect();
    assert_eq!(lsns, (1..=640).collect::<Vec<_>>());
    let stats = wal.stats();
    assert!(
        stats.syncs < 320,
        "{} syncs for 640 appends: not shared",
        stats.syncs
    );
    wal.close().await.expect("close");
    drop(wal);
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    let got = collect(&wal, Lsn(1)..).await;
    let want: Vec<Vec<u8>> = all.into_iter().map(|(_, p)| p).collect();
    assert_records(&got, 1, &want);
    Outcome::Passed
}

/// A failed sync poisons the log: the failing append errors, every later call is
/// `Poisoned`, nothing is retried into success; reopening recovers what was acknowledged.
pub async fn wal_sync_failure_poisons<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.fail_sync_at(4);
    let wal = open(s, WalOptions::default().sync_policy(PerWrite)).await;
    let mut acked = Vec::new();
    let mut failed = false;
    for i in 0..10u64 {
        let p = payload(i, 20);
        match wal.append(&p).await {
            Ok(_) => acked.push(p),
            Err(e) => {
                assert!(!matches!(e, Error::Poisoned { .. }), "first failure: {e}");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "sync failure went unnoticed");
    assert!(wal.is_poisoned());
    assert!(matches!(
        wal.append(b"z").await,
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(wal.sync().await, Err(Error::Poisoned { .. })));
    assert!(matches!(
        wal.wait_durable(wal.written_lsn()).await,
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(
        wal.truncate_suffix(Lsn(0)).await,
        Err(Error::Poisoned { .. })
    ));
    let _ = wal.close().await;
    drop(wal);
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    let got = collect(&wal, Lsn(1)..).await;
    assert!(got.len() >= acked.len());
    assert_records(&got[..acked.len()], 1, &acked);
    Outcome::Passed
}

/// A full store is reported as `StorageFull`; the log is poisoned and reopening keeps every
/// acknowledged record.
pub async fn wal_full_storage_is_reported<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.capacity(3000);
    let wal = open(s, small()).await;
    let mut acked = Vec::new();
    let mut full = false;
    for i in 0..100u64 {
        let p = payload(i, 100);
        match wal.append(&p).await {
            Ok(_) => acked.push(p),
            Err(Error::StorageFull { .. }) => {
                full = true;
                break;
            }
            Err(e) => panic!("expected StorageFull, got {e}"),
        }
    }
    assert!(full, "capacity never hit");
    assert!(matches!(
        wal.append(b"z").await,
        Err(Error::Poisoned { .. })
    ));
    drop(wal);
    let wal = open(f.reopen(&g).await, small()).await;
    let got = collect(&wal, Lsn(1)..).await;
    assert_records(&got[..acked.len()], 1, &acked);
    Outcome::Passed
}

/// Every acknowledged record survives a power loss.
pub async fn wal_crash_keeps_acknowledged<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 80, 50).await;
    drop(wal);
    let Some(s) = f.crash(&g, 11).await else {
        return Outcome::Skipped(NO_CRASH.into());
    };
    let wal = open(s, small()).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    Outcome::Passed
}

/// An unsynced atomic batch survives a power loss whole or not at all, for many crash images.
pub async fn wal_crash_batch_is_atomic<F: StoreFactory>(f: Arc<F>) -> Outcome {
    for seed in 0..24u64 {
        let (g, s) = f.build().await;
        let opts = WalOptions::default().sync_policy(Never).write_buffer(0);
        let wal = open(s, opts).await;
        let mut all = Vec::new();
        for b in 0..12u64 {
            let batch: Vec<Vec<u8>> = (0..10).map(|i| payload(b * 10 + i, 30)).collect();
            wal.append_batch(&batch).await.expect("batch");
            all.extend(batch);
            if b == 3 {
                wal.sync().await.expect("sync");
            }
        }
        drop(wal);
        let Some(s) = f.crash(&g, seed).await else {
            return Outcome::Skipped(NO_CRASH.into());
        };
        let wal = open(s, WalOptions::default()).await;
        let got = collect(&wal, Lsn(1)..).await;
        assert_eq!(
            got.len() % 10,
            0,
            "seed {seed}: batch torn: {} records",
            got.len()
        );
        assert!(got.len() >= 40, "seed {seed}: synced batches lost");
        assert_records(&got, 1, &all[..got.len()]);
    }
    Outcome::Passed
}

/// Every built-in policy acknowledges as documented: durable ones only once durable,
/// `Interval` syncs in the background within its period, `Never` only when asked.
pub async fn wal_every_policy_acknowledges_as_documented<F: StoreFactory>(f: Arc<F>) -> Outcome {
    use wal_api::{Adaptive, FixedDelay, GroupCommit, Interval, SyncPolicy};
    let durable: Vec<Arc<dyn SyncPolicy>> = vec![
        Arc::new(PerWrite),
        Arc::new(GroupCommit::default()),
        Arc::new(FixedDelay {
            delay: Duration::from_millis(1),
            max_records: 8,
        }),
        Arc::new(Adaptive::default()),
    ];
    for p in durable {
        let (_g, s) = f.build().await;
        let opts = WalOptions::default().sync_policy(p.clone());
        let wal = open(s, opts).await;
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let lsn = wal.append(&payload(t * 100 + i, 10)).await.expect("append");
                    assert!(wal.durable_lsn() >= lsn, "acknowledged before durable");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(wal.durable_lsn(), Lsn(40), "{p:?}");
    }
    let (_g, s) = f.build().await;
    let wal = open(
        s,
        WalOptions::default().sync_policy(Interval {
            period: Duration::from_millis(20),
        }),
    )
    .await;
    let lsn = wal.append(b"later").await.expect("append");
    let mut rx = wal.durable_watch();
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| d.lsn >= lsn))
        .await
        .expect("interval sync never came")
        .expect("watch");
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    let lsn = wal.append(b"whenever").await.expect("append");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(wal.durable_lsn(), Lsn(0));
    wal.wait_durable(lsn).await.expect("wait_durable syncs");
    assert_eq!(wal.durable_lsn(), lsn);
    Outcome::Passed
}

/// Calls dropped at any await (a timeout, a `select!`) leave a sound log: appends, syncs and
/// rotations cancelled mid-way never make a later call fail, never leave an acknowledged
/// record unreadable, and reopening cuts, skips or quarantines nothing.
///
/// The budgets are fractions of the backend's own append latency, so every await (the write,
/// the sync, the seal, the next segment's creation) is cut short somewhere in the run. Each
/// sync and seal answers 200 µs after the backend did, so a dropped one is counted
/// ([`Faults::abandoned`](crate::faults::Faults::abandoned)) on every backend: the engine
/// promises none.
pub async fn wal_cancelled_calls_leave_a_sound_log<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.sync_delay_after(Duration::from_micros(200));
    let opts = WalOptions::default().segment_size(4096);
    let wal = open(s, opts.clone()).await;
    let t0 = std::time::Instant::now();
    wal.append(b"calibrate").await.expect("append");
    // 0..2 durable appends' worth of time, in 16 steps.
    let step = (t0.elapsed() / 8).max(Duration::from_micros(20));
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..60u64 {
                let budget = step * ((i * 7 + t * 5) % 16) as u32;
                let p = payload(t * 1000 + i, 40);
                if let Ok(r) = tokio::time::timeout(budget, wal.append(&p)).await {
                    acked.push((r.expect("an append after cancelled calls"), p));
                }
                if i % 9 == 4 {
                    let _ = tokio::time::timeout(budget, wal.rotate()).await;
                }
                if i % 4 == 1 {
                    if let Ok(r) = tokio::time::timeout(budget / 2, wal.sync()).await {
                        r.expect("a sync after cancelled calls");
                    }
                }
            }
            acked
        }));
    }
    let mut acked = vec![(Lsn(1), b"calibrate".to_vec())];
    for t in tasks {
        acked.extend(t.await.expect("task"));
    }
    wal.close().await.expect("close after cancelled calls");
    assert_eq!(
        faults.abandoned(),
        0,
        "the engine dropped a sync or seal of the backend before it answered"
    );
    let written = wal.written_lsn();
    drop(wal);
    let wal = open(f.reopen(&g).await, opts).await;
    let report = wal.recovery_report().clone();
    assert!(
        report.torn_bytes == 0 && report.quarantined.is_empty() && report.skipped.is_empty(),
        "reopening a cleanly closed log cut or skipped data: {report:?}"
    );
    let kept = collect(&wal, Lsn(1)..).await;
    assert_eq!(
        kept.len() as u64,
        written.0,
        "records written before close but not readable after reopening"
    );
    for (lsn, p) in acked {
        let got = &kept[(lsn.0 - 1) as usize];
        assert!(
            got.lsn == lsn && got.data[..] == p[..],
            "acknowledged LSN {lsn} reads back as another record"
        );
    }
    Outcome::Passed
}
