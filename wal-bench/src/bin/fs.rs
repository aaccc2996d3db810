//! Benchmarks of the filesystem backend against raw syscalls and okaywal, all in one run so
//! the ratios hold on a noisy machine (fdatasync on these VMs moves between ~0.25 ms and ~4 ms
//! with CPU load; only ratios to a baseline taken in the same run mean anything).
//!
//! - raw baselines: append + fdatasync; pwrite into a preallocated file + fdatasync;
//!   sequential write bandwidth; a CRC scan of the W4 log's frames.
//! - W1 durable, 1 appender, 100 B: per-append latency.
//! - W2 durable, 16 and 64 appenders, 100 B, group commit: records/s.
//! - W3 non-durable 100 B (batches of 1000, single awaited appends) and 4 KiB.
//! - W4 reopen + replay of 1 M x 100 B records, in a child process (seconds, MB/s, peak RSS),
//!   and a 1 GiB log for the RSS bound.
//! - W1-W4 on okaywal 0.3.1, side by side.
//!
//! Files live under `target/bench-fs/` (the repository's disk, not a tmpfs).
//! `cargo run --release -p wal-bench --bin bench-fs`; `WAL_BENCH_RUNS` sets the runs (5),
//! `WAL_BENCH_SKIP_1GIB=1` skips the 1 GiB replay, `WAL_BENCH_ONLY=w1,w2,w3,w4` picks groups.

// A benchmark aborts on any failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_api::{GroupCommit, Lsn, Never, Wal, WalOptions};
use wal_bench::{human, median, rate, report, runs, selected};
use wal_fs::{FsOptions, FsStore, SyncExecution};

const REC: usize = 100;
/// Frame bytes of a 100 B record (32 B header): what the raw baselines write per record.
const FRAME: usize = REC + 32;
const W1_OPS: usize = 400;
const W2_TIME: Duration = Duration::from_millis(2000);
/// 2 M x 100 B (248 MB of frames) per run, like the 256 MiB of the bandwidth runs.
const W3_BATCHES: u64 = 2_000;
const W3_SINGLES: u64 = 2_000_000;
/// Default segment size (rotation seals, i.e. fsyncs, every 64 MiB even without durable
/// appends) and one larger than a run (no rotation: the append path alone).
const SEG_DEFAULT: u64 = 64 << 20;
const SEG_HUGE: u64 = 4 << 30;
const W3_BIG: u64 = 65_536; // 4 KiB records: 256 MiB
const W4_RECORDS: u64 = 1_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fs")
}

fn fresh(name: &str) -> PathBuf {
    let p = root().join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn sync_dir(p: &Path) {
    File::open(p).unwrap().sync_all().unwrap();
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn median_us(mut lat: Vec<Duration>) -> f64 {
    lat.sort();
    lat[lat.len() / 2].as_secs_f64() * 1e6
}

// ---- raw baselines -------------------------------------------------------------------------

/// write(2) at the end of a growing file + fdatasync: median latency (µs).
fn raw_append_fdatasync(n: usize) -> f64 {
    let d = fresh("raw-append");
    let mut f = File::create(d.join("log")).unwrap();
    f.sync_all().unwrap();
    sync_dir(&d);
    let buf = [7u8; FRAME];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    median_us(lat)
}

/// pwrite(2) into a zero-filled, synced file + fdatasync: median latency (µs).
fn raw_prealloc_pwrite(n: usize) -> f64 {
    let d = fresh("raw-prealloc");
    let f = File::create(d.join("log")).unwrap();
    f.write_all_at(&vec![0u8; 4 << 20], 0).unwrap();
    f.sync_all().unwrap();
    sync_dir(&d);
    let buf = [7u8; FRAME];
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f.write_all_at(&buf, (i * FRAME) as u64).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    median_us(lat)
}

/// Sequential writes of `chunk` bytes up to `total`: (MB/s into the page cache, MB/s including
/// the final fdatasync).
fn raw_bandwidth(total: u64, chunk: usize) -> (f64, f64) {
    let d = fresh("raw-bw");
    let mut f = File::create(d.join("log")).unwrap();
    let buf = vec![7u8; chunk];
    let t = Instant::now();
    let mut done = 0u64;
    while done < total {
        f.write_all(&buf).unwrap();
        done += chunk as u64;
    }
    let cached = t.elapsed();
    f.sync_data().unwrap();
    let synced = t.elapsed();
    drop(f);
    let _ = std::fs::remove_dir_all(&d);
    (
        total as f64 / cached.as_secs_f64() / 1e6,
        total as f64 / synced.as_secs_f64() / 1e6,
    )
}

/// Reads every segment file of `dir` and checks every frame's CRC, as plainly as possible:
/// returns (records, bytes).
fn raw_crc_scan(dir: &Path) -> (u64, u64) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut payload = Vec::new();
    for p in files {
        let mut r = BufReader::with_capacity(1 << 20, File::open(&p).unwrap());
        let mut head = [0u8; 64];
        r.read_exact(&mut head).unwrap();
        let salt = head[32..40].to_vec();
        bytes += 64;
        loop {
            let mut h = [0u8; 32];
            if r.read_exact(&mut h).is_err() || h == [0u8; 32] {
                break;
            }
            let crc = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let len = u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize;
            payload.resize(len, 0);
            if r.read_exact(&mut payload).is_err() {
                break;
            }
            let mut c = crc32fast::Hasher::new();
            c.update(&salt);
            c.update(&h[4..]);
            c.update(&payload);
            assert_eq!(c.finalize(), crc, "bad frame in {}", p.display());
            bytes += (32 + len) as u64;
            if h[28] == 3 {
                break; // seal trailer
            }
            records += u64::from(u32::from_le_bytes(h[24..28].try_into().unwrap()));
        }
    }
    (records, bytes)
}

// ---- wal-fs --------------------------------------------------------------------------------

async fn open_fs(dir: &Path, opts: WalOptions) -> Wal<FsStore> {
    Wal::open(FsStore::open(dir).unwrap(), opts).await.unwrap()
}

async fn w2_ours(appenders: usize, how: SyncExecution) -> f64 {
    let d = fresh("w2-ours");
    let opts = WalOptions::default().sync_policy(GroupCommit::default());
    let store = FsStore::open_with(&d, FsOptions::default().sync_execution(how)).unwrap();
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
    tokio::time::sleep(W2_TIME).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let r = rate(total, t0.elapsed());
    wal.close().await.unwrap();
    r
}

fn non_durable() -> WalOptions {
    WalOptions::default().sync_policy(Never)
}

async fn w3_ours_batches(seg: u64) -> f64 {
    let d = fresh("w3-ours");
    let wal = open_fs(&d, non_durable().segment_size(seg)).await;
    let batch: Vec<Vec<u8>> = vec![vec![7u8; REC]; 1000];
    let t0 = Instant::now();
    for _ in 0..W3_BATCHES {
        wal.append_batch(&batch).await.unwrap();
    }
    wal.flush().await.unwrap();
    let r = rate(W3_BATCHES * 1000, t0.elapsed());
    wal.close().await.unwrap();
    drop(wal);
    let _ = std::fs::remove_dir_all(&d);
    r
}

async fn w3_ours_singles(size: usize, n: u64, seg: u64) -> (f64, f64) {
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
    let _ = std::fs::remove_dir_all(&d);
    (rate(n, cached), rate(n, synced))
}

/// Writes the W4 log: `records` single appends of 100 B (one frame each, non-durable),
/// closed at the end.
async fn w4_write_ours(dir: &Path, records: u64) {
    let wal = open_fs(dir, non_durable()).await;
    let mut rec = [0u8; REC];
    for i in 0..records {
        rec[..8].copy_from_slice(&i.to_le_bytes());
        wal.append(&rec).await.unwrap();
    }
    wal.close().await.unwrap();
}

/// Child process: open + read every record; prints `secs records bytes peak_rss_kib`.
async fn child_replay_ours(dir: &Path) {
    let t0 = Instant::now();
    let wal = open_fs(dir, WalOptions::default()).await;
    let (mut n, mut bytes) = (0u64, 0u64);
    wal.replay(Lsn(1).., |_, data| {
        n += 1;
        bytes += data.len() as u64;
        Ok(())
    })
    .await
    .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    println!("{secs} {n} {bytes} {}", peak_rss_kib());
}

// ---- okaywal -------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Counting {
    chunks: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl okaywal::LogManager for Counting {
    fn recover(&mut self, entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        if let Some(chunks) = entry.read_all_chunks()? {
            self.chunks
                .fetch_add(chunks.len() as u64, Ordering::Relaxed);
            let b: usize = chunks.iter().map(|c| c.len()).sum();
            self.bytes.fetch_add(b as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last: okaywal::EntryId,
        _entries: &mut okaywal::SegmentReader,
        _wal: &okaywal::WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

fn okay_open(dir: &Path) -> okaywal::WriteAheadLog {
    // No checkpointing during a run: every record stays in the log (W4 replays them all).
    okaywal::Configuration::default_for(dir)
        .checkpoint_after_bytes(1 << 40)
        .open(Counting::default())
        .unwrap()
}

/// W1 on wal-fs and okaywal plus the raw preallocated pwrite + fdatasync loop, interleaved in
/// blocks of `per_block` operations (the order rotates per block) so that all three see the
/// same device and CPU states: median latencies (µs) of (raw, wal-fs, okaywal).
async fn w1_interleaved(blocks: usize, per_block: usize) -> (f64, f64, f64) {
    let d_raw = fresh("w1-raw");
    let raw = Arc::new(File::create(d_raw.join("log")).unwrap());
    raw.write_all_at(&vec![0u8; 4 << 20], 0).unwrap();
    raw.sync_all().unwrap();
    sync_dir(&d_raw);
    let wal = open_fs(&fresh("w1-ours"), WalOptions::default()).await;
    let okay = okay_open(&fresh("w1-okay"));
    let (mut l_raw, mut l_ours, mut l_okay) = (vec![], vec![], vec![]);
    let mut raw_pos = 0u64;
    for b in 0..blocks {
        for which in 0..3 {
            match (b + which) % 3 {
                0 => {
                    let f = raw.clone();
                    let start = raw_pos;
                    raw_pos += (per_block * FRAME) as u64;
                    l_raw.extend(
                        tokio::task::spawn_blocking(move || {
                            let buf = [7u8; FRAME];
                            (0..per_block)
                                .map(|i| {
                                    let t = Instant::now();
                                    f.write_all_at(&buf, start + (i * FRAME) as u64).unwrap();
                                    f.sync_data().unwrap();
                                    t.elapsed()
                                })
                                .collect::<Vec<_>>()
                        })
                        .await
                        .unwrap(),
                    );
                }
                1 => {
                    let rec = [7u8; REC];
                    for _ in 0..per_block {
                        let t = Instant::now();
                        wal.append(&rec).await.unwrap();
                        l_ours.push(t.elapsed());
                    }
                }
                _ => {
                    let log = okay.clone();
                    l_okay.extend(
                        tokio::task::spawn_blocking(move || {
                            let rec = [7u8; REC];
                            (0..per_block)
                                .map(|_| {
                                    let t = Instant::now();
                                    let mut e = log.begin_entry().unwrap();
                                    e.write_chunk(&rec).unwrap();
                                    e.commit().unwrap();
                                    t.elapsed()
                                })
                                .collect::<Vec<_>>()
                        })
                        .await
                        .unwrap(),
                    );
                }
            }
        }
    }
    wal.close().await.unwrap();
    okay.shutdown().unwrap();
    (median_us(l_raw), median_us(l_ours), median_us(l_okay))
}

fn w2_okay(threads: usize) -> f64 {
    let d = fresh("w2-okay");
    let log = okay_open(&d);
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let log = log.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let rec = [1u8; REC];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut e = log.begin_entry().unwrap();
                    e.write_chunk(&rec).unwrap();
                    e.commit().unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(W2_TIME);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let r = rate(total, t0.elapsed());
    log.shutdown().unwrap();
    r
}

/// okaywal has no non-durable append: an entry of `per` chunks with one commit (one fsync)
/// is its closest batch. Returns records/s.
fn w3_okay(entries: u64, per: u64, size: usize) -> f64 {
    let d = fresh("w3-okay");
    let log = okay_open(&d);
    let rec = vec![7u8; size];
    let t0 = Instant::now();
    for _ in 0..entries {
        let mut e = log.begin_entry().unwrap();
        for _ in 0..per {
            e.write_chunk(&rec).unwrap();
        }
        e.commit().unwrap();
    }
    let r = rate(entries * per, t0.elapsed());
    log.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&d);
    r
}

/// okaywal's W4 log: entries of 1000 chunks (one commit, one fsync each; an entry per record
/// would take a million fsyncs). Every chunk carries its own header and CRC, like our frames.
fn w4_write_okay(dir: &Path, records: u64) {
    let log = okay_open(dir);
    let rec = [7u8; REC];
    for _ in 0..records / 1000 {
        let mut e = log.begin_entry().unwrap();
        for _ in 0..1000 {
            e.write_chunk(&rec).unwrap();
        }
        e.commit().unwrap();
    }
    log.shutdown().unwrap();
}

fn child_replay_okay(dir: &Path) {
    let t0 = Instant::now();
    let m = Counting::default();
    let (chunks, bytes) = (m.chunks.clone(), m.bytes.clone());
    let log = okaywal::Configuration::default_for(dir)
        .checkpoint_after_bytes(1 << 40)
        .open(m)
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    drop(log);
    println!(
        "{secs} {} {} {}",
        chunks.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
        peak_rss_kib()
    );
}

fn child_raw_scan(dir: &Path) {
    let t0 = Instant::now();
    let (n, bytes) = raw_crc_scan(dir);
    let secs = t0.elapsed().as_secs_f64();
    println!("{secs} {n} {bytes} {}", peak_rss_kib());
}

/// Runs this binary as a child: (secs, records, bytes, peak RSS KiB).
fn child(kind: &str, dir: &Path) -> (f64, u64, u64, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(kind)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {kind} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let v: Vec<&str> = s.split_whitespace().collect();
    (
        v[0].parse().unwrap(),
        v[1].parse().unwrap(),
        v[2].parse().unwrap(),
        v[3].parse().unwrap(),
    )
}

/// `f(a[i], b[i])` for each run: ratios of measurements taken back to back.
fn paired(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect()
}

fn line(name: &str, ours: f64, okay: Option<f64>, unit: &str, higher_is_better: bool) {
    if ours == 0.0 {
        // The workload did not run (`WAL_BENCH_ONLY`).
        return;
    }
    match okay {
        Some(o) => {
            let r = if higher_is_better { ours / o } else { o / ours };
            println!(
                "  {name:<44} wal-fs {:>10} {unit:<10} okaywal {:>10} {unit:<10} wal-fs advantage x{r:.2}",
                human(ours),
                human(o)
            );
        }
        None => println!(
            "  {name:<44} wal-fs {:>10} {unit:<10} okaywal        n/a",
            human(ours)
        ),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child" {
        let dir = PathBuf::from(&args[3]);
        match args[2].as_str() {
            "replay-ours" => child_replay_ours(&dir).await,
            "replay-okay" => child_replay_okay(&dir),
            "raw-scan" => child_raw_scan(&dir),
            other => panic!("unknown child {other}"),
        }
        return;
    }
    let n = runs();
    println!(
        "== wal-fs benchmarks ({n} runs each, medians; files under {})",
        root().display()
    );

    // Raw fdatasync baselines, W1 on both logs: interleaved per run so load drifts hit all.
    let (mut r_app, mut r_pre, mut w1, mut w1o) = (vec![], vec![], vec![], vec![]);
    if selected("w1") {
        for _ in 0..n {
            r_app.push(
                tokio::task::spawn_blocking(|| raw_append_fdatasync(W1_OPS))
                    .await
                    .unwrap(),
            );
            let (raw, ours, okay) = w1_interleaved(W1_OPS / 50, 50).await;
            r_pre.push(raw);
            w1.push(ours);
            w1o.push(okay);
        }
        let pre = median(&r_pre);
        report("raw append + fdatasync, 132 B", &r_app, "µs/op", None);
        report(
            "raw pwrite into preallocated file + fdatasync, 132 B",
            &r_pre,
            "µs/op",
            None,
        );
        report(
            "W1 wal-fs durable append, 1 appender, 100 B",
            &w1,
            "µs/op",
            Some((median(&w1) / pre, "raw prealloc pwrite+fdatasync (<= 1.1)")),
        );
        report(
            "W1 wal-fs / raw prealloc, paired per run",
            &paired(&w1, &r_pre, |a, b| a / b),
            "x",
            None,
        );
        report(
            "W1 okaywal commit, 1 thread, 100 B",
            &w1o,
            "µs/op",
            Some((median(&w1o) / pre, "raw prealloc pwrite+fdatasync")),
        );
        report(
            "W1 wal-fs / okaywal latency, paired per run (<= 1)",
            &paired(&w1, &w1o, |a, b| a / b),
            "x",
            None,
        );
    }

    // W2.
    let mut w2 = Vec::new();
    for appenders in [16usize, 64].into_iter().filter(|_| selected("w2")) {
        let (mut ours, mut okay, mut raw, mut off) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            raw.push(
                tokio::task::spawn_blocking(|| raw_prealloc_pwrite(100))
                    .await
                    .unwrap(),
            );
            ours.push(w2_ours(appenders, SyncExecution::Auto).await);
            off.push(w2_ours(appenders, SyncExecution::Offload).await);
            if std::env::var("WAL_BENCH_NO_OKAYWAL").is_err() {
                okay.push(
                    tokio::task::spawn_blocking(move || w2_okay(appenders))
                        .await
                        .unwrap(),
                );
            }
        }
        let ideal = appenders as f64 / (median(&raw) / 1e6);
        report(
            &format!("raw prealloc pwrite+fdatasync (W2 {appenders} reference)"),
            &raw,
            "µs/op",
            None,
        );
        report(
            &format!("W2 wal-fs group commit, {appenders} appenders, 100 B"),
            &ours,
            "records/s",
            Some((
                median(&ours) / ideal,
                &format!("{appenders}/fdatasync = {}/s (>= 0.5)", human(ideal)),
            )),
        );
        report(
            &format!("W2 wal-fs, syncs offloaded (block_in_place), {appenders} appenders"),
            &off,
            "records/s",
            Some((median(&off) / ideal, &format!("{}/s", human(ideal)))),
        );
        report(
            &format!("W2 okaywal, {appenders} threads, 100 B"),
            &okay,
            "records/s",
            Some((median(&okay) / ideal, &format!("{}/s", human(ideal)))),
        );
        report(
            &format!("W2 wal-fs {appenders} / ideal, paired per run"),
            &paired(&ours, &raw, |o, r| o / (appenders as f64 / (r / 1e6))),
            "x",
            None,
        );
        w2.push((appenders, median(&ours), median(&okay)));
    }

    // W3.
    let (mut bat, mut sng, mut big_c, mut big_s) = (vec![], vec![], vec![], vec![]);
    let (mut hbat, mut hsng, mut hbig_c) = (vec![], vec![], vec![]);
    let (mut raw_c, mut raw_s, mut okb, mut okbig) = (vec![], vec![], vec![], vec![]);

    if selected("w3") {
        let total = W3_BIG * 4096;
        for _ in 0..n {
            bat.push(w3_ours_batches(SEG_DEFAULT).await);
            hbat.push(w3_ours_batches(SEG_HUGE).await);
            sng.push(w3_ours_singles(REC, W3_SINGLES, SEG_DEFAULT).await.0);
            hsng.push(w3_ours_singles(REC, W3_SINGLES, SEG_HUGE).await.0);
            let (rc, rs) = tokio::task::spawn_blocking(move || raw_bandwidth(total, 256 << 10))
                .await
                .unwrap();
            raw_c.push(rc);
            raw_s.push(rs);
            let (c, s) = w3_ours_singles(4096, W3_BIG, SEG_DEFAULT).await;
            big_c.push(c * 4096.0 / 1e6);
            big_s.push(s * 4096.0 / 1e6);
            let (c, _) = w3_ours_singles(4096, W3_BIG, SEG_HUGE).await;
            hbig_c.push(c * 4096.0 / 1e6);
            okb.push(
                tokio::task::spawn_blocking(|| w3_okay(200, 1000, REC))
                    .await
                    .unwrap(),
            );
            okbig.push(
                tokio::task::spawn_blocking(move || w3_okay(1, W3_BIG, 4096) * 4096.0 / 1e6)
                    .await
                    .unwrap(),
            );
        }
        report(
            "W3 wal-fs non-durable 100 B, batches of 1000",
            &bat,
            "records/s",
            Some((median(&bat) / 10e6, "target 10M/s")),
        );
        report(
            "W3 ... same, one segment (no rotation fsync)",
            &hbat,
            "records/s",
            Some((median(&hbat) / 10e6, "target 10M/s")),
        );
        report(
            "W3 wal-fs non-durable 100 B, single awaited appends",
            &sng,
            "records/s",
            Some((median(&sng) / 2e6, "target 2M/s")),
        );
        report(
            "W3 ... same, one segment (no rotation fsync)",
            &hsng,
            "records/s",
            Some((median(&hsng) / 2e6, "target 2M/s")),
        );
        report(
            "raw sequential write 256 KiB chunks, page cache",
            &raw_c,
            "MB/s",
            None,
        );
        report(
            "raw sequential write 256 KiB chunks + fdatasync",
            &raw_s,
            "MB/s",
            None,
        );
        report(
            "W3 wal-fs non-durable 4 KiB appends, page cache",
            &big_c,
            "MB/s",
            Some((median(&big_c) / median(&raw_c), "raw page-cache bandwidth")),
        );
        report(
            "W3 ... same, one segment (no rotation fsync)",
            &hbig_c,
            "MB/s",
            Some((median(&hbig_c) / median(&raw_c), "raw page-cache bandwidth")),
        );
        report(
            "W3 wal-fs non-durable 4 KiB appends + final sync",
            &big_s,
            "MB/s",
            Some((
                median(&big_s) / median(&raw_s),
                "raw bandwidth incl. fdatasync (>= 0.7)",
            )),
        );
        report(
            "W3 okaywal 100 B, entries of 1000 chunks (1 commit each)",
            &okb,
            "records/s",
            None,
        );
        report(
            "W3 okaywal 4 KiB, one entry of 65536 chunks + commit",
            &okbig,
            "MB/s",
            Some((
                median(&okbig) / median(&raw_s),
                "raw bandwidth incl. fdatasync",
            )),
        );
    }

    // W4.
    let (mut rs, mut rs_rss, mut os, mut os_rss, mut ks, mut ks_rss) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    if selected("w4") {
        let d4 = fresh("w4-ours");
        w4_write_ours(&d4, W4_RECORDS).await;
        let d4o = fresh("w4-okay");
        tokio::task::spawn_blocking({
            let d4o = d4o.clone();
            move || w4_write_okay(&d4o, W4_RECORDS)
        })
        .await
        .unwrap();
        let ours_bytes = dir_bytes(&d4);
        let okay_bytes = dir_bytes(&d4o);
        for _ in 0..n {
            let (s, recs, _, rss) = child("raw-scan", &d4);
            assert_eq!(recs, W4_RECORDS);
            rs.push(s);
            rs_rss.push(rss as f64 / 1024.0);
            let (s, recs, _, rss) = child("replay-ours", &d4);
            assert_eq!(recs, W4_RECORDS);
            os.push(s);
            os_rss.push(rss as f64 / 1024.0);
            let (s, recs, _, rss) = child("replay-okay", &d4o);
            assert_eq!(recs, W4_RECORDS);
            ks.push(s);
            ks_rss.push(rss as f64 / 1024.0);
        }
        let mbps =
            |bytes: u64, v: &[f64]| v.iter().map(|s| bytes as f64 / s / 1e6).collect::<Vec<_>>();
        let raw_mb = mbps(ours_bytes, &rs);
        let ours_mb = mbps(ours_bytes, &os);
        let okay_mb = mbps(okay_bytes, &ks);
        println!(
            "W4 log: wal-fs {} bytes, okaywal {} bytes, 1 M x 100 B records",
            ours_bytes, okay_bytes
        );
        report("raw CRC scan of the W4 log's frames", &rs, "s", None);
        report("raw CRC scan", &raw_mb, "MB/s", None);
        report("W4 wal-fs reopen + replay 1 M x 100 B", &os, "s", None);
        report(
            "W4 wal-fs reopen + replay",
            &ours_mb,
            "MB/s",
            Some((median(&ours_mb) / median(&raw_mb), "raw CRC scan (>= 0.8)")),
        );
        report("W4 wal-fs replay peak RSS", &os_rss, "MiB", None);
        report("W4 okaywal recover 1 M x 100 B", &ks, "s", None);
        report(
            "W4 okaywal recover",
            &okay_mb,
            "MB/s",
            Some((median(&okay_mb) / median(&raw_mb), "raw CRC scan")),
        );
        report("W4 okaywal recover peak RSS", &ks_rss, "MiB", None);
        report("raw CRC scan peak RSS", &rs_rss, "MiB", None);
        if std::env::var("WAL_BENCH_KEEP").is_err() {
            let _ = std::fs::remove_dir_all(&d4);
            let _ = std::fs::remove_dir_all(&d4o);
        }
    }

    if selected("w4") && std::env::var("WAL_BENCH_SKIP_1GIB").is_err() {
        let dg = fresh("w4-1gib");
        let records = (1u64 << 30) / FRAME as u64 / 1000 * 1000 + 1000;
        w4_write_ours(&dg, records).await;
        let bytes = dir_bytes(&dg);
        let (s, recs, _, rss) = child("replay-ours", &dg);
        assert_eq!(recs, records);
        println!(
            "W4 wal-fs 1 GiB log ({} records, {} bytes): reopen + replay {s:.2} s, {} MB/s, peak RSS {} MiB (< 256)",
            recs,
            bytes,
            human(bytes as f64 / s / 1e6),
            rss / 1024
        );
        let _ = std::fs::remove_dir_all(&dg);
    }

    println!("== side by side (medians)");
    line(
        "W1 durable 1 appender latency",
        median(&w1),
        Some(median(&w1o)),
        "µs",
        false,
    );
    for (a, o, k) in &w2 {
        line(
            &format!("W2 durable {a} appenders"),
            *o,
            Some(*k),
            "rec/s",
            true,
        );
    }
    line(
        "W3 100 B batches of 1000",
        median(&bat),
        Some(median(&okb)),
        "rec/s",
        true,
    );
    line(
        "W3 100 B single awaited appends",
        median(&sng),
        None,
        "rec/s",
        true,
    );
    line(
        "W3 4 KiB incl. final sync",
        median(&big_s),
        Some(median(&okbig)),
        "MB/s",
        true,
    );
    line(
        "W4 reopen + replay 1 M x 100 B",
        median(&os),
        Some(median(&ks)),
        "s",
        false,
    );
    line(
        "W4 peak RSS",
        median(&os_rss),
        Some(median(&ks_rss)),
        "MiB",
        false,
    );
}
