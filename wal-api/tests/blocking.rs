//! The blocking handle: many OS threads append through it and share group commits; calls from
//! inside a runtime are refused instead of panicking; errors are the async ones.
#![cfg(feature = "blocking")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use wal_api::blocking::BlockingWal;
use wal_api::{Error, Lsn, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

#[test]
fn threads_share_group_commits_and_every_record_is_durable() {
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(std::time::Duration::from_millis(2)),
        ..FaultPlan::default()
    });
    let wal = BlockingWal::open(store.clone(), WalOptions::default()).unwrap();
    let w = wal.clone();
    let mut lsns: Vec<Lsn> = bounded(16, move |t| {
        (0..20u64)
            .map(|i| w.append(&(t * 1000 + i).to_le_bytes()).unwrap())
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    lsns.sort();
    assert_eq!(lsns, (1..=320).map(Lsn).collect::<Vec<_>>());
    let stats = wal.wal().stats();
    assert!(
        stats.syncs < 320 / 2,
        "16 threads share syncs: {} syncs for 320 records",
        stats.syncs
    );
    drop(wal);
    // Every acknowledged record survives a power loss; a one-pass open replays them all.
    let mut seen = Vec::new();
    let (w, applied) =
        BlockingWal::open_replay(store.crash(1), WalOptions::default(), Lsn(1), |lsn, _| {
            seen.push(lsn);
            Ok(())
        })
        .unwrap();
    assert_eq!(applied, 320);
    assert_eq!(seen, (1..=320).map(Lsn).collect::<Vec<_>>());
    assert_eq!(w.append(b"next").unwrap(), Lsn(321));
    drop(w);
    let wal = BlockingWal::open(store.crash(1), WalOptions::default()).unwrap();
    assert_eq!(wal.read(Lsn(1)..).unwrap().len(), 320);
    let mut n = 0;
    wal.replay(Lsn(1).., |_, _| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 320);
    wal.close().unwrap();
    assert!(matches!(wal.append(b"late"), Err(Error::Closed)));
}

#[test]
fn every_operation_works_through_the_handle() {
    let wal = BlockingWal::open(MemoryStore::new(), WalOptions::default()).unwrap();
    let r = wal.append_batch(&[&b"a"[..], b"b", b"c"]).unwrap();
    assert_eq!((r.first, r.last), (Lsn(1), Lsn(3)));
    assert_eq!(&wal.get(Lsn(2)).unwrap().unwrap().data[..], b"b");
    wal.put_meta("vote", b"3").unwrap();
    assert_eq!(wal.meta("vote").as_deref(), Some(&b"3"[..]));
    wal.truncate_suffix(Lsn(3)).unwrap();
    wal.append(b"d").unwrap();
    wal.rotate().unwrap();
    wal.checkpoint(Lsn(2)).unwrap();
    assert_eq!(wal.wal().first_lsn(), Lsn(3));
    assert_eq!(&wal.last().unwrap().unwrap().data[..], b"d");
    wal.sync().unwrap();
    wal.truncate_prefix(Lsn(4)).unwrap();
    wal.reset(Lsn(100)).unwrap();
    assert_eq!(wal.append(b"e").unwrap(), Lsn(100));
}

#[tokio::test]
async fn calls_from_inside_a_runtime_are_refused() {
    let r = BlockingWal::open(MemoryStore::new(), WalOptions::default());
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
}

/// Runs `threads` threads that each call `f(thread index)`, and returns their results, failing
/// the test if any thread is still running after 20 s (a waiter that was never woken).
fn bounded<T: Send + 'static>(
    threads: u64,
    f: impl Fn(u64) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = std::sync::Arc::new(f);
    let (tx, rx) = std::sync::mpsc::channel();
    for t in 0..threads {
        let (f, tx) = (f.clone(), tx.clone());
        std::thread::spawn(move || tx.send(f(t)).unwrap());
    }
    (0..threads)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(20))
                .expect("a blocking appender never returned")
        })
        .collect()
}

#[test]
fn appends_across_rotations_lose_no_acknowledged_record() {
    let store = MemoryStore::new();
    let opts = WalOptions::default().segment_size(4096);
    let wal = BlockingWal::open(store.clone(), opts.clone()).unwrap();
    let w = wal.clone();
    let acked: Vec<Lsn> = bounded(8, move |t| {
        (0..100u64)
            .map(|i| w.append(&[t as u8; 100][..(i as usize % 100) + 1]).unwrap())
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(acked.len(), 800);
    assert!(wal.wal().segments().len() > 10, "the appends rotated");
    drop(wal);
    let after = BlockingWal::open(store.crash(7), opts).unwrap();
    let kept: Vec<Lsn> = after
        .read(Lsn(1)..)
        .unwrap()
        .iter()
        .map(|r| r.lsn)
        .collect();
    for lsn in acked {
        assert!(
            kept.contains(&lsn),
            "acknowledged {lsn} lost by a power loss"
        );
    }
}

#[test]
fn waiting_threads_end_when_a_sync_fails() {
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(Duration::from_millis(1)),
        fail_sync_at: Some(5),
        ..FaultPlan::default()
    });
    let wal = BlockingWal::open(store, WalOptions::default()).unwrap();
    let w = wal.clone();
    let ends = bounded(8, move |t| loop {
        if let Err(e) = w.append(&t.to_le_bytes()) {
            return e;
        }
    });
    assert!(
        ends.iter()
            .all(|e| matches!(e, Error::Poisoned { .. } | Error::Io { .. })),
        "{ends:?}"
    );
    assert!(matches!(wal.append(b"late"), Err(Error::Poisoned { .. })));
}

#[test]
fn waiting_threads_end_when_the_log_is_closed() {
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(Duration::from_millis(2)),
        ..FaultPlan::default()
    });
    let wal = BlockingWal::open(store.clone(), WalOptions::default()).unwrap();
    let closer = wal.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        closer.close().unwrap();
    });
    let w = wal.clone();
    let results = bounded(8, move |t| {
        let mut acked = Vec::new();
        loop {
            match w.append(&t.to_le_bytes()) {
                Ok(lsn) => acked.push(lsn),
                Err(Error::Closed) => return acked,
                Err(e) => panic!("append: {e}"),
            }
        }
    });
    drop(wal);
    let after = BlockingWal::open(store.crash(3), WalOptions::default()).unwrap();
    let written = after.wal().written_lsn();
    for lsn in results.into_iter().flatten() {
        assert!(
            lsn <= written,
            "acknowledged {lsn} lost (the log kept up to {written})"
        );
    }
}

#[test]
fn waiting_threads_see_suffix_truncations() {
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(Duration::from_micros(300)),
        ..FaultPlan::default()
    });
    let wal = BlockingWal::open(store, WalOptions::default()).unwrap();
    let cutter = wal.clone();
    let cuts = std::thread::spawn(move || {
        let mut cuts = 0;
        for _ in 0..200 {
            let w = cutter.wal().written_lsn();
            if w.0 > 2 && cutter.truncate_suffix(Lsn(w.0 - 2)).is_ok() {
                cuts += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        cuts
    });
    let w = wal.clone();
    let outcomes = bounded(4, move |t| {
        let mut truncated = 0;
        for i in 0..300u64 {
            match w.append(&(t * 1000 + i).to_le_bytes()) {
                Ok(_) => {}
                Err(Error::Truncated { .. }) => truncated += 1,
                Err(e) => panic!("append: {e}"),
            }
        }
        truncated
    });
    assert!(cuts.join().unwrap() >= 10, "the truncations ran");
    assert!(
        outcomes.iter().sum::<u64>() > 0,
        "some waiter saw its record cut"
    );
    wal.close().unwrap();
}

#[test]
fn non_durable_appends_return_at_once_and_write_behind_still_syncs() {
    // Syncs take 20 ms: an append that waited for one would take the whole budget below.
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(Duration::from_millis(20)),
        ..FaultPlan::default()
    });
    let opts = WalOptions::default()
        .sync_policy(wal_api::policy::Never)
        .write_buffer(1024)
        .write_behind(Some(4096));
    let wal = BlockingWal::open(store, opts).unwrap();
    let w = wal.clone();
    let lsns = bounded(1, move |_| {
        let t0 = std::time::Instant::now();
        let lsns: Vec<Lsn> = (0..200u64)
            .map(|i| w.append(&[i as u8; 100]).unwrap())
            .collect();
        (lsns, t0.elapsed())
    });
    let (lsns, took) = &lsns[0];
    assert_eq!(*lsns, (1..=200).map(Lsn).collect::<Vec<_>>());
    assert!(took < &Duration::from_secs(2), "appends waited: {took:?}");
    assert!(
        wal.wal().durable_lsn() < Lsn(200),
        "no append waited for a sync"
    );
    // 20 KiB is past the write-behind threshold: a background sync makes records durable
    // without any call asking for it.
    let t0 = std::time::Instant::now();
    while wal.wal().durable_lsn() == Lsn(0) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no write-behind sync ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    wal.sync().unwrap();
    assert_eq!(wal.read(Lsn(1)..).unwrap().len(), 200);
    wal.close().unwrap();
}

#[test]
fn blocking_waiters_wake_when_async_tasks_lead_the_syncs() {
    // Async appenders on another runtime share the log: many syncs are led by them, not by
    // the handle's driver, and every parked thread must still wake with its record durable.
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(Duration::from_micros(500)),
        ..FaultPlan::default()
    });
    let wal = BlockingWal::open(store.clone(), WalOptions::default()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (aw, astop) = (wal.wal().clone(), stop.clone());
    let async_side = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let (w, s) = (aw.clone(), astop.clone());
                    tokio::spawn(async move {
                        let mut acked = Vec::new();
                        while !s.load(std::sync::atomic::Ordering::Relaxed) {
                            acked.push(w.append(b"async").await.unwrap());
                        }
                        acked
                    })
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            all
        })
    });
    let w = wal.clone();
    let blocking: Vec<Lsn> = bounded(8, move |t| {
        (0..50u64)
            .map(|i| {
                let lsn = w.append(&(t * 1000 + i).to_le_bytes()).unwrap();
                assert!(w.wal().durable_lsn() >= lsn, "acknowledged before durable");
                lsn
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let async_acked = async_side.join().unwrap();
    assert_eq!(blocking.len(), 400);
    assert!(!async_acked.is_empty(), "the async appenders ran");
    drop(wal);
    let after = BlockingWal::open(store.crash(11), WalOptions::default()).unwrap();
    let kept = after.wal().written_lsn();
    for lsn in blocking.iter().chain(async_acked.iter()) {
        assert!(*lsn <= kept, "acknowledged {lsn} lost (kept up to {kept})");
    }
    assert_eq!(
        after.read(Lsn(1)..).unwrap().len() as u64,
        kept.0,
        "every record up to the last kept one is readable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_inside_a_runtime_does_not_panic() {
    let wal = std::thread::spawn(|| {
        let wal = BlockingWal::open(MemoryStore::new(), WalOptions::default()).unwrap();
        wal.append(b"one").unwrap();
        wal
    })
    .join()
    .unwrap();
    let clone = wal.clone();
    drop(wal);
    // The last clone goes on a thread of this runtime.
    tokio::spawn(async move { drop(clone) }).await.unwrap();
}
