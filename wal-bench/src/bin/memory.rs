//! Benchmarks on the in-memory backend: non-durable throughput (single awaited appends and
//! batches, 100 B and 4 KiB) and group commit under a simulated 1 ms sync.
//!
//! `cargo run --release -p wal-bench --bin bench-memory`; `WAL_BENCH_RUNS` sets the runs.

// A benchmark aborts on any failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_api::{GroupCommit, Never, Wal, WalOptions};
use wal_bench::{rate, report, sample};
use wal_memory::{FaultPlan, MemoryStore};

const SYNC_LATENCY: Duration = Duration::from_millis(1);

/// Non-durable log with 8 MiB segments. The loops below release old segments with
/// `truncate_prefix` as a checkpointing engine would, so the in-memory store's working set stays
/// bounded and the figures measure the log rather than the kernel zeroing fresh pages.
fn non_durable() -> WalOptions {
    WalOptions::default()
        .sync_policy(Never)
        .segment_size(8 << 20)
}

/// Records between two checkpoints (`truncate_prefix`) in the loops.
const CHECKPOINT_EVERY: u64 = 1 << 18;

async fn singles(n: u64, size: usize) -> f64 {
    let wal = Wal::open(MemoryStore::new(), non_durable()).await.unwrap();
    let rec = vec![7u8; size];
    let t0 = Instant::now();
    for i in 0..n {
        let lsn = wal.append(&rec).await.unwrap();
        if i % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1 {
            wal.truncate_prefix(lsn).await.unwrap();
        }
    }
    wal.flush().await.unwrap();
    rate(n, t0.elapsed())
}

async fn batches(n_batches: u64, per: usize, size: usize) -> f64 {
    let wal = Wal::open(MemoryStore::new(), non_durable()).await.unwrap();
    let batch: Vec<Vec<u8>> = vec![vec![7u8; size]; per];
    let every = (CHECKPOINT_EVERY / per as u64).max(1);
    let t0 = Instant::now();
    for i in 0..n_batches {
        let r = wal.append_batch(&batch).await.unwrap();
        if i % every == every - 1 {
            wal.truncate_prefix(r.last).await.unwrap();
        }
    }
    wal.flush().await.unwrap();
    rate(n_batches * per as u64, t0.elapsed())
}

/// Durable appends from `appenders` tasks for `dur`; returns (records/s, records per sync).
async fn group_commit(appenders: usize, dur: Duration) -> (f64, f64) {
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(SYNC_LATENCY),
        ..FaultPlan::default()
    });
    let opts = WalOptions::default().sync_policy(GroupCommit::default());
    let wal = Wal::open(store, opts).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let wal = wal.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let rec = [1u8; 100];
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                wal.append(&rec).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(dur).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let elapsed = t0.elapsed();
    let stats = wal.stats();
    (rate(total, elapsed), stats.records_per_sync())
}

/// Writes `n` x 100 B records (closed log), then times reopen + replay against a raw CRC scan
/// of the same frames. Returns (replay seconds, raw scan seconds).
async fn replay(n: u64) -> (f64, f64) {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default().sync_policy(Never))
        .await
        .unwrap();
    let rec = [3u8; 100];
    for _ in 0..n {
        wal.append(&rec).await.unwrap();
    }
    wal.close().await.unwrap();
    drop(wal);
    // Raw: walk the frames of every segment and check their CRCs, nothing else.
    let segs: Vec<Vec<u8>> = wal_api::SegmentStore::list(&store)
        .await
        .unwrap()
        .iter()
        .map(|m| store.segment_bytes(m.id).unwrap())
        .collect();
    let t0 = Instant::now();
    let mut seen = 0u64;
    for b in &segs {
        let layout = wal_api::format::SegmentHeader::decode(b).unwrap().layout();
        let mut pos = wal_api::format::SEGMENT_HEADER_LEN;
        while let Ok(f) = wal_api::format::decode_frame(&b[pos..], layout) {
            seen += u64::from(f.count);
            pos += f.len();
        }
    }
    let raw = t0.elapsed().as_secs_f64();
    assert!(seen >= n);
    let t0 = Instant::now();
    let wal = Wal::open(store, WalOptions::default()).await.unwrap();
    if std::env::var("WAL_BENCH_ONLY").is_ok() {
        println!("open {:.3} s", t0.elapsed().as_secs_f64());
    }
    let mut got = 0u64;
    wal.replay(wal_api::Lsn(1).., |_, data| {
        got += data.len() as u64 / 100;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(got, n);
    (t0.elapsed().as_secs_f64(), raw)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "== wal-memory benchmarks ({} runs each, medians)",
        wal_bench::runs()
    );
    if std::env::var("WAL_BENCH_ONLY").as_deref() == Ok("replay") {
        let (o, r) = replay(1_000_000).await;
        println!("replay {o:.3} s, raw {r:.3} s");
        return;
    }
    let s = sample(|| singles(2_000_000, 100)).await;
    report(
        "non-durable 100 B, single awaited appends",
        &s,
        "records/s",
        None,
    );
    let b = sample(|| batches(20_000, 1000, 100)).await;
    report("non-durable 100 B, batches of 1000", &b, "records/s", None);
    let k = sample(|| singles(200_000, 4096)).await;
    report(
        "non-durable 4 KiB, single awaited appends",
        &k,
        "records/s",
        None,
    );
    let mb: Vec<f64> = k.iter().map(|r| r * 4096.0 / 1e6).collect();
    report(
        "non-durable 4 KiB, single awaited appends",
        &mb,
        "MB/s",
        None,
    );
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..wal_bench::runs() {
        let (o, r) = replay(1_000_000).await;
        ours.push(o);
        raw.push(r);
    }
    let ratio = wal_bench::median(&raw) / wal_bench::median(&ours);
    report("raw CRC scan of 1 M x 100 B frames", &raw, "s", None);
    report(
        "reopen + replay 1 M x 100 B",
        &ours,
        "s",
        Some((ratio, "raw CRC scan (speed)")),
    );
    for appenders in [1usize, 16, 64] {
        let mut rates = Vec::new();
        let mut per_sync = Vec::new();
        for _ in 0..wal_bench::runs() {
            let (r, p) = group_commit(appenders, Duration::from_millis(1500)).await;
            rates.push(r);
            per_sync.push(p);
        }
        let ideal = appenders as f64 / SYNC_LATENCY.as_secs_f64();
        let ratio = wal_bench::median(&rates) / ideal;
        report(
            &format!("group commit, {appenders} appenders, 1 ms sync"),
            &rates,
            "records/s",
            Some((ratio, &format!("ideal {}/s", wal_bench::human(ideal)))),
        );
        report(
            &format!("group commit, {appenders} appenders: records per sync"),
            &per_sync,
            "records",
            None,
        );
    }
}
