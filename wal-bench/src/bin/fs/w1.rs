//! W1: one durable appender, 100 B records: per-append latency of this log, okaywal and
//! raft-engine against raw pwrite into a preallocated file + fdatasync, interleaved in blocks
//! so all four see the same device and CPU states.

use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wal_api::WalOptions;
use wal_bench::{median, report, runs};

use crate::dirs::fresh;
use crate::knobs::{FRAME, REC, W1_OPS};
use crate::summary::{Better, Row, Tables};
use crate::threads::blocking;
use crate::{ours, peer_okaywal, peer_raft_engine, raw};

/// Median latencies (µs) of one interleaved W1 run.
struct Run {
    raw: f64,
    ours: f64,
    okay: f64,
    raft: f64,
}

/// `blocks` blocks of `per_block` operations on each of the four; the order rotates per block.
async fn interleaved(blocks: usize, per_block: usize) -> Run {
    let raw = Arc::new(raw::preallocated(&fresh("w1-raw"), 4 << 20));
    let wal = ours::open_fs(&fresh("w1-ours"), WalOptions::default()).await;
    let okay = peer_okaywal::open(&fresh("w1-okay"));
    let raft = Arc::new(peer_raft_engine::open(&fresh("w1-raft")));
    let raft_app = Arc::new(Mutex::new(peer_raft_engine::Appender::new(1)));
    let (mut l_raw, mut l_ours, mut l_okay, mut l_raft) = (vec![], vec![], vec![], vec![]);
    let mut raw_pos = 0u64;
    for b in 0..blocks {
        for which in 0..4 {
            match (b + which) % 4 {
                0 => {
                    let f: Arc<File> = raw.clone();
                    let start = raw_pos;
                    raw_pos += (per_block * FRAME) as u64;
                    l_raw.extend(blocking(move || raw::pwrite_block(&f, start, per_block)).await);
                }
                1 => {
                    let rec = [7u8; REC];
                    for _ in 0..per_block {
                        let t = Instant::now();
                        wal.append(&rec).await.unwrap();
                        l_ours.push(t.elapsed());
                    }
                }
                2 => {
                    let log = okay.clone();
                    l_okay.extend(blocking(move || peer_okaywal::w1_block(&log, per_block)).await);
                }
                _ => {
                    let (e, a) = (raft.clone(), raft_app.clone());
                    l_raft.extend(
                        blocking(move || {
                            peer_raft_engine::w1_block(&e, &mut a.lock().unwrap(), per_block)
                        })
                        .await,
                    );
                }
            }
        }
    }
    wal.close().await.unwrap();
    okay.shutdown().unwrap();
    let us = |l: Vec<Duration>| raw::median_us(l);
    Run {
        raw: us(l_raw),
        ours: us(l_ours),
        okay: us(l_okay),
        raft: us(l_raft),
    }
}

/// `f(a[i], b[i])` for each run: ratios of measurements taken back to back.
pub(crate) fn paired(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect()
}

pub(crate) async fn run(t: &mut Tables) {
    let (mut r_app, mut r_pre, mut w1, mut w1o, mut w1r) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs() {
        r_app.push(blocking(|| raw::append_fdatasync(W1_OPS)).await);
        let r = interleaved(W1_OPS / 50, 50).await;
        r_pre.push(r.raw);
        w1.push(r.ours);
        w1o.push(r.okay);
        w1r.push(r.raft);
    }
    let pre = median(&r_pre);
    report(
        &format!("raw append + fdatasync, {FRAME} B"),
        &r_app,
        "µs/op",
        None,
    );
    report(
        &format!("raw pwrite into preallocated file + fdatasync, {FRAME} B"),
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
    report(
        "W1 raft-engine write(sync), 1 thread, 100 B",
        &w1r,
        "µs/op",
        Some((median(&w1r) / pre, "raw prealloc pwrite+fdatasync")),
    );
    report(
        "W1 wal-fs / raft-engine latency, paired per run (<= 1)",
        &paired(&w1, &w1r, |a, b| a / b),
        "x",
        None,
    );
    t.legacy("W1 durable 1 appender latency", &w1, &w1o, "µs", false);
    t.rows.push(
        Row::new("W1 durable, 1 appender, 100 B", "µs/op", Better::Lower, &w1)
            .baseline(
                "raw prealloc pwrite+fdatasync",
                &r_pre,
                |o, b| o / b,
                "(latency ratio, target <= 1.1)",
            )
            .peer("okaywal", &w1o)
            .peer("raft-engine", &w1r)
            .peer_target("target >= 1"),
    );
}
