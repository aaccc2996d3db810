//! Benchmarks of the filesystem backend against raw syscalls, in-process baselines, okaywal
//! 0.3.1 and raft-engine 0.4.2, all in one run so the ratios hold on a noisy machine
//! (fdatasync on these VMs moves between ~0.25 ms and ~4 ms with CPU load; only ratios to a
//! baseline taken in the same run mean anything).
//!
//! - `w1`: durable, 1 appender, 100 B: per-append latency against raw pwrite into a
//!   preallocated file + fdatasync.
//! - `w2`: durable, 16 and 64 tokio tasks against `appenders / fdatasync`; 64 OS threads
//!   through `BlockingWal` and through `block_on`, against a mutex + condvar group commit.
//! - `w3`: non-durable 100 B (single awaited appends, batches of 1000) and 4 KiB, against a
//!   mutex-protected buffer of the same frames and raw write bandwidth.
//! - `w4`: a fresh process opens and replays 1 M x 100 B records after a crash and after a
//!   clean close, against a raw read + CRC scan of the same files (seconds, MB/s, peak RSS);
//!   a 1 GiB log for the RSS bound.
//! - `codec`: 4 KiB appends, compressible and random, without compression, with lz4 and
//!   with zstd: MB/s (ratio to no compression) and stored over original bytes.
//! - `scale`: open of a log of 10,000 sealed segments against listing it and reading every
//!   header and trailer; `truncate_prefix` dropping them against unlink(2).
//!
//! Every workload runs on okaywal and raft-engine too where they have the operation. The
//! output ends with two tables: the okaywal-only comparison of earlier versions, then every
//! workload with its baseline ratio and best peer.
//!
//! Files live under `target/bench-fs/` (the repository's disk, not a tmpfs).
//! `cargo run --release -p wal-bench --bin bench-fs`; the knobs are in `knobs.rs`
//! (`WAL_BENCH_RUNS`, `WAL_BENCH_ONLY=w1,w2,w3,w4,scale,codec`, `WAL_BENCH_SCALE`,
//! `WAL_BENCH_SKIP_1GIB`, `WAL_BENCH_NO_OKAYWAL`, `WAL_BENCH_NO_RAFT_ENGINE`,
//! `WAL_BENCH_KEEP`, `WAL_BENCH_VERBOSE`).
//!
//! Recording results: on a quiet machine (no build running),
//! `cargo run --release -p wal-bench --bin bench-fs | tee /tmp/bench-fs.txt`, then add the
//! output as a fenced block to `wal-bench/results/bench-fs.md` under a heading with the date
//! and what changed. The first lines of the output carry the date, the commit, the machine and
//! the fdatasync latency measured at the start of the run.

// A benchmark aborts on any failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod child;
mod codecs;
mod dirs;
mod inproc;
mod knobs;
mod ours;
mod peer_okaywal;
mod peer_raft_engine;
mod raw;
mod scale;
mod summary;
mod threads;
mod w1;
mod w2;
mod w3;
mod w4;

use wal_bench::{runs, selected};

use crate::summary::Tables;
use crate::threads::blocking;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The run's header: date, commit, machine and the fdatasync latency measured now.
async fn header() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "date {y:04}-{m:02}-{d:02} {:02}:{:02} UTC, commit {commit}, {cpus} CPUs, Linux {}",
        tod / 3600,
        tod % 3600 / 60,
        kernel.trim()
    );
    let pre = blocking(|| raw::prealloc_pwrite(200)).await;
    let app = blocking(|| raw::append_fdatasync(200)).await;
    println!(
        "fdatasync latency of this machine now: {pre:.1} µs (132 B pwrite into a preallocated file + fdatasync, median of 200), {app:.1} µs (append + fdatasync)"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 4 && args[1] == "--child" {
        child::run(&args[2..]).await;
        return;
    }
    let n = runs();
    println!(
        "== wal-fs benchmarks ({n} runs each, medians; files under {})",
        dirs::root().display()
    );
    header().await;
    let mut t = Tables::default();
    if selected("w1") {
        w1::run(&mut t).await;
    }
    if selected("w2") {
        w2::run(&mut t).await;
    }
    if selected("w3") {
        w3::run(&mut t).await;
    }
    if selected("w4") {
        w4::run(&mut t).await;
        w4::one_gib().await;
    }
    if selected("scale") {
        scale::run(&mut t).await;
    }
    if selected("codec") {
        codecs::run().await;
    }
    t.print(n);
}
