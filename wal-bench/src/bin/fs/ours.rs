//! This log (`Wal<FsStore>`) driven as its README shows, for every workload.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_api::blocking::BlockingWal;
use wal_api::{GroupCommit, Lsn, Never, Wal, WalOptions};
use wal_bench::rate;
use wal_fs::{FsOptions, FsStore, SyncExecution};

use crate::child::{peak_rss_kib, ready, record, Check, End};
use crate::dirs::{discard, fresh};
use crate::knobs::REC;
use crate::threads::run_threads;

pub(crate) async fn open_fs(dir: &Path, opts: WalOptions) -> Wal<FsStore> {
    Wal::open(FsStore::open_or_create(dir).unwrap(), opts)
        .await
        .unwrap()
}

pub(crate) fn non_durable() -> WalOptions {
    WalOptions::default().sync_policy(Never)
}

/// What a W2 run of this log measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct W2Run {
    pub(crate) rate: f64,
    /// Records made durable per sync (the average group).
    pub(crate) per_sync: f64,
    /// Mean latency of the log's own syncs, µs.
    pub(crate) sync_us: f64,
}

/// W2: `appenders` tokio tasks appending durably (group commit) for `dur`.
pub(crate) async fn w2_tasks(appenders: usize, how: SyncExecution, dur: Duration) -> W2Run {
    let d = fresh("w2-ours");
    let opts = WalOptions::default().sync_policy(GroupCommit::default());
    let store = FsStore::open_with(
        &d,
        FsOptions::default()
            .create_if_missing(true)
            .sync_execution(how),
    )
    .unwrap();
    let wal = Wal::open(store, opts).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let wal = wal.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let rec = [1u8; REC];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                wal.append(&rec).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let r = rate(total, t0.elapsed());
    let st = wal.stats();
    wal.close().await.unwrap();
    discard(&d);
    W2Run {
        rate: r,
        per_sync: st.records_per_sync(),
        sync_us: st.mean_sync().as_secs_f64() * 1e6,
    }
}

/// W2: `threads` OS threads each appending durably through [`BlockingWal`] (called from a
/// plain thread, outside any runtime): records/s.
pub(crate) fn w2_blocking(threads: usize, dur: Duration) -> f64 {
    let d = fresh("w2-blocking");
    let wal =
        BlockingWal::open(FsStore::open_or_create(&d).unwrap(), WalOptions::default()).unwrap();
    let r = run_threads(threads, dur, |_| {
        let wal = wal.clone();
        let rec = [1u8; REC];
        move || {
            wal.append(&rec).unwrap();
        }
    });
    wal.close().unwrap();
    drop(wal);
    discard(&d);
    r
}

/// W2, the naive blocking caller: `threads` OS threads each calling
/// `handle.block_on(wal.append(..))` on the bench's shared runtime: records/s.
pub(crate) async fn w2_block_on(threads: usize, dur: Duration) -> f64 {
    let d = fresh("w2-block-on");
    let wal = open_fs(&d, WalOptions::default()).await;
    let handle = tokio::runtime::Handle::current();
    let w = wal.clone();
    let r = tokio::task::spawn_blocking(move || {
        run_threads(threads, dur, |_| {
            let (wal, handle) = (w.clone(), handle.clone());
            let rec = [1u8; REC];
            move || {
                handle.block_on(wal.append(&rec)).unwrap();
            }
        })
    })
    .await
    .unwrap();
    wal.close().await.unwrap();
    discard(&d);
    r
}

/// W3: `batches` atomic batches of 1000 x 100 B, non-durable, up to the final flush:
/// records/s.
pub(crate) async fn w3_batches(batches: u64, seg: u64) -> f64 {
    let d = fresh("w3-ours");
    let wal = open_fs(&d, non_durable().segment_size(seg)).await;
    let batch: Vec<Vec<u8>> = vec![vec![7u8; REC]; 1000];
    let t0 = Instant::now();
    for _ in 0..batches {
        wal.append_batch(&batch).await.unwrap();
    }
    wal.flush().await.unwrap();
    let r = rate(batches * 1000, t0.elapsed());
    wal.close().await.unwrap();
    drop(wal);
    discard(&d);
    r
}

/// W3: `n` single awaited appends of `size` bytes, non-durable: records/s up to the final
/// flush (page cache), and including a final sync.
pub(crate) async fn w3_singles(size: usize, n: u64, seg: u64) -> (f64, f64) {
    let d = fresh("w3-ours");
    let wal = open_fs(&d, non_durable().segment_size(seg)).await;
    let rec = vec![7u8; size];
    let t0 = Instant::now();
    for _ in 0..n {
        wal.append(&rec).await.unwrap();
    }
    wal.flush().await.unwrap();
    let cached = t0.elapsed();
    wal.sync().await.unwrap();
    let synced = t0.elapsed();
    wal.close().await.unwrap();
    drop(wal);
    discard(&d);
    (rate(n, cached), rate(n, synced))
}

/// The W4 log: `records` single appends of 100 B (one frame each, non-durable). Closed at the
/// end.
pub(crate) async fn write_log(dir: &Path, records: u64) {
    let wal = open_fs(dir, non_durable()).await;
    for i in 0..records {
        wal.append(&record(i)).await.unwrap();
    }
    wal.close().await.unwrap();
}

/// Writer child: the W4 log, then synced and killed (unsealed tail) or closed.
pub(crate) async fn child_write(dir: &Path, records: u64, end: End) {
    let wal = open_fs(dir, non_durable()).await;
    for i in 0..records {
        wal.append(&record(i)).await.unwrap();
    }
    match end {
        End::Crash => {
            wal.sync().await.unwrap();
            ready(end);
        }
        End::Clean => {
            wal.close().await.unwrap();
            ready(end);
        }
    }
}

/// Replay child: open (recovery) + a replay whose closure reads every record's bytes; with
/// `fused`, in one pass ([`Wal::open_replay`], what the README shows an engine doing), else
/// [`Wal::open`] then [`Wal::replay`].
pub(crate) async fn child_replay(dir: &Path, fused: bool) {
    let t0 = Instant::now();
    let mut check = Check::default();
    let apply = |_, data: &[u8]| {
        check.record(data);
        Ok(())
    };
    let store = FsStore::open_or_create(dir).unwrap();
    if fused {
        // The engine's recovery path: open and replay in one pass.
        Wal::open_replay(store, WalOptions::default(), Lsn(1), apply)
            .await
            .unwrap();
    } else {
        let wal = Wal::open(store, WalOptions::default()).await.unwrap();
        wal.replay(Lsn(1).., apply).await.unwrap();
    }
    check.print(t0);
}

/// Scale child: opens the log (default options) and prints `secs segments last_lsn
/// peak_rss_kib`; exits without closing, so the next run opens the same log.
pub(crate) async fn child_open(dir: &Path) {
    let t0 = Instant::now();
    let wal = open_fs(dir, WalOptions::default()).await;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{secs} {} {} {}",
        wal.segments().len(),
        wal.written_lsn().0,
        peak_rss_kib()
    );
    std::process::exit(0);
}

/// Scale: opens the log (not timed), then times `truncate_prefix(upto)`; returns seconds.
pub(crate) async fn truncate_prefix(dir: &Path, upto: Lsn) -> f64 {
    let wal = open_fs(dir, WalOptions::default()).await;
    let t0 = Instant::now();
    let first = wal.truncate_prefix(upto).await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(first, upto, "truncate_prefix kept segments below the tail");
    wal.close().await.unwrap();
    secs
}
