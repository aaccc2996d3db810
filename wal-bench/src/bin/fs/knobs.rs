//! The environment knobs of bench-fs and the workload sizes they scale.
//!
//! - `WAL_BENCH_RUNS` (5): runs per workload; every figure is the median of the runs.
//! - `WAL_BENCH_ONLY=w1,w2,w3,w4,scale`: picks workload groups (all by default).
//! - `WAL_BENCH_SCALE` (1.0): multiplies the record counts of W3 and W4, the W2 duration and
//!   the segment count of the scale workload (e.g. `0.05` for a smoke test).
//! - `WAL_BENCH_SKIP_1GIB=1`: skips the 1 GiB replay.
//! - `WAL_BENCH_NO_OKAYWAL=1` / `WAL_BENCH_NO_RAFT_ENGINE=1`: skip that peer in W2 (its
//!   slowest workload).
//! - `WAL_BENCH_KEEP=1`: keeps the W4 logs under `target/bench-fs/`.
//! - `WAL_BENCH_VERBOSE=1`: prints every sample of every line.

use std::time::Duration;

/// Payload of the 100 B records.
pub(crate) const REC: usize = 100;
/// Frame bytes of a 100 B record (32 B header): what the raw baselines write per record.
pub(crate) const FRAME: usize = REC + 32;
/// Durable appends per W1 run and variant.
pub(crate) const W1_OPS: usize = 400;
/// Default segment size (rotation seals, i.e. fsyncs, every 64 MiB even without durable
/// appends) and one larger than a run (no rotation: the append path alone).
pub(crate) const SEG_DEFAULT: u64 = 64 << 20;
pub(crate) const SEG_HUGE: u64 = 4 << 30;

/// `WAL_BENCH_SCALE`: a factor on the workload sizes (1.0 unless set).
pub(crate) fn scale() -> f64 {
    std::env::var("WAL_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(1.0)
}

/// `n` scaled, rounded down to a multiple of `multiple`, at least `multiple`.
pub(crate) fn scaled(n: u64, multiple: u64) -> u64 {
    let v = (n as f64 * scale()) as u64 / multiple * multiple;
    v.max(multiple)
}

/// How long each W2 measurement appends.
pub(crate) fn w2_time() -> Duration {
    Duration::from_millis(scaled(2000, 50))
}

/// W3: batches of 1000 x 100 B per run (2 M records, 248 MB of frames, like the 256 MiB of
/// the bandwidth runs).
pub(crate) fn w3_batches() -> u64 {
    scaled(2_000, 1)
}

/// W3: single awaited 100 B appends per run.
pub(crate) fn w3_singles() -> u64 {
    scaled(2_000_000, 1000)
}

/// W3: 4 KiB appends per run (256 MiB).
pub(crate) fn w3_big() -> u64 {
    scaled(65_536, 64)
}

/// W4: records of the replayed log (1 M).
pub(crate) fn w4_records() -> u64 {
    scaled(1_000_000, 1000)
}

/// Scale: sealed segments of the log (10,000).
pub(crate) fn scale_segments() -> u64 {
    scaled(10_000, 10)
}

/// Whether the environment variable `name` is set.
pub(crate) fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

/// Whether the peer's W2 runs (`WAL_BENCH_NO_OKAYWAL`, `WAL_BENCH_NO_RAFT_ENGINE`).
pub(crate) fn w2_peer(peer: &str) -> bool {
    match peer {
        "okaywal" => !flag("WAL_BENCH_NO_OKAYWAL"),
        _ => !flag("WAL_BENCH_NO_RAFT_ENGINE"),
    }
}
