//! W2: durable appends from many callers, 100 B records: group commit.
//!
//! - 16 and 64 tokio tasks on this log, against `appenders / fdatasync latency` (the rate if
//!   every fdatasync carried one record from each appender) measured in the same run, and
//!   okaywal and raft-engine with as many OS threads.
//! - 64 OS threads each doing a blocking append: through `BlockingWal`, and the naive way
//!   (`handle.block_on(wal.append(..))` on the bench's runtime, the "block_on baseline"),
//!   against a mutex + condvar group commit with 64 threads and the peers' 64 threads.

use std::time::Duration;

use wal_bench::{human, median, report, runs};
use wal_fs::SyncExecution;

use crate::knobs::{w2_peer, w2_time};
use crate::summary::{Better, Row, Tables};
use crate::threads::{blocking, off_runtime, run_threads};
use crate::w1::paired;
use crate::{inproc, ours, peer_okaywal, peer_raft_engine, raw};

/// The mutex + condvar group commit, `threads` OS threads: (records/s, records per sync).
fn group_commit(threads: usize, dur: Duration) -> (f64, f64) {
    let log = std::sync::Arc::new(inproc::GroupLog::create(16 << 20));
    let r = run_threads(threads, dur, |_| {
        let log = log.clone();
        move || {
            log.append(&[1u8; crate::knobs::REC]);
        }
    });
    (r, log.records_per_sync())
}

#[derive(Default)]
struct Samples {
    raw: Vec<f64>,
    ours: Vec<f64>,
    per_sync: Vec<f64>,
    sync_us: Vec<f64>,
    off: Vec<f64>,
    okay: Vec<f64>,
    raft: Vec<f64>,
    blocking: Vec<f64>,
    block_on: Vec<f64>,
    condvar: Vec<f64>,
    condvar_per_sync: Vec<f64>,
}

async fn measure(appenders: usize, threads_too: bool) -> Samples {
    let dur = w2_time();
    let mut s = Samples::default();
    for _ in 0..runs() {
        // The reference: 50 fdatasyncs right before and 50 right after this log's run, so
        // that it sees the device in the same state (its latency moves with load).
        let mut lat = blocking(|| raw::prealloc_pwrite_lat(50)).await;
        let o = ours::w2_tasks(appenders, SyncExecution::Auto, dur).await;
        lat.extend(blocking(|| raw::prealloc_pwrite_lat(50)).await);
        s.raw.push(raw::median_us(lat));
        s.ours.push(o.rate);
        s.per_sync.push(o.per_sync);
        s.sync_us.push(o.sync_us);
        s.off.push(
            ours::w2_tasks(appenders, SyncExecution::Offload, dur)
                .await
                .rate,
        );
        if w2_peer("okaywal") {
            s.okay
                .push(blocking(move || peer_okaywal::w2(appenders, dur)).await);
        }
        if w2_peer("raft-engine") {
            s.raft
                .push(blocking(move || peer_raft_engine::w2(appenders, dur)).await);
        }
        if threads_too {
            s.blocking
                .push(off_runtime(move || ours::w2_blocking(appenders, dur)).await);
            s.block_on.push(ours::w2_block_on(appenders, dur).await);
            let (r, per) = blocking(move || group_commit(appenders, dur)).await;
            s.condvar.push(r);
            s.condvar_per_sync.push(per);
        }
    }
    s
}

pub(crate) async fn run(t: &mut Tables) {
    for appenders in [16usize, 64] {
        let threads_too = appenders == 64;
        let s = measure(appenders, threads_too).await;
        let ideal_of = |r: f64| appenders as f64 / (r / 1e6);
        let ideal_runs: Vec<f64> = s.raw.iter().map(|r| ideal_of(*r)).collect();
        let ideal = ideal_of(median(&s.raw));
        let target = if appenders == 64 { ">= 0.8" } else { ">= 0.9" };
        report(
            &format!(
                "raw prealloc pwrite+fdatasync (W2 {appenders} reference, 50 before + 50 after)"
            ),
            &s.raw,
            "µs/op",
            None,
        );
        report(
            &format!("W2 wal-fs group commit, {appenders} appenders, 100 B"),
            &s.ours,
            "records/s",
            Some((
                median(&s.ours) / ideal,
                &format!("{appenders}/fdatasync = {}/s ({target})", human(ideal)),
            )),
        );
        report(
            &format!("W2 wal-fs {appenders} appenders: records per sync"),
            &s.per_sync,
            "records",
            None,
        );
        report(
            &format!("W2 wal-fs {appenders} appenders: mean sync latency"),
            &s.sync_us,
            "µs",
            Some((
                median(&s.sync_us) / median(&s.raw),
                "raw prealloc pwrite+fdatasync",
            )),
        );
        report(
            &format!("W2 wal-fs, syncs offloaded (block_in_place), {appenders} appenders"),
            &s.off,
            "records/s",
            Some((median(&s.off) / ideal, &format!("{}/s", human(ideal)))),
        );
        report(
            &format!("W2 okaywal, {appenders} threads, 100 B"),
            &s.okay,
            "records/s",
            Some((median(&s.okay) / ideal, &format!("{}/s", human(ideal)))),
        );
        report(
            &format!("W2 raft-engine, {appenders} threads, 100 B"),
            &s.raft,
            "records/s",
            Some((median(&s.raft) / ideal, &format!("{}/s", human(ideal)))),
        );
        report(
            &format!("W2 wal-fs {appenders} / ideal, paired per run"),
            &paired(&s.ours, &s.raw, |o, r| o / ideal_of(r)),
            "x",
            None,
        );
        t.legacy(
            format!("W2 durable {appenders} appenders"),
            &s.ours,
            &s.okay,
            "rec/s",
            true,
        );
        t.rows.push(
            Row::new(
                format!("W2 durable, {appenders} tokio tasks, 100 B"),
                "rec/s",
                Better::Higher,
                &s.ours,
            )
            .baseline(
                format!("{appenders}/fdatasync"),
                &ideal_runs,
                |o, b| o / b,
                format!("of it ({target})"),
            )
            .peer("okaywal", &s.okay)
            .peer("raft-engine", &s.raft),
        );
        if threads_too {
            threads_lines(t, appenders, &s);
        }
    }
}

/// The OS-thread lines of W2 (64 threads).
fn threads_lines(t: &mut Tables, n: usize, s: &Samples) {
    let cv = median(&s.condvar);
    report(
        &format!("W2 mutex+condvar group commit, {n} threads, 100 B"),
        &s.condvar,
        "records/s",
        None,
    );
    report(
        &format!("W2 mutex+condvar group commit {n} threads: records per sync"),
        &s.condvar_per_sync,
        "records",
        None,
    );
    report(
        &format!("W2 wal-fs BlockingWal::append, {n} threads, 100 B"),
        &s.blocking,
        "records/s",
        Some((median(&s.blocking) / cv, "mutex+condvar group commit")),
    );
    report(
        &format!("W2 wal-fs block_on(append) baseline, {n} threads"),
        &s.block_on,
        "records/s",
        Some((median(&s.block_on) / cv, "mutex+condvar group commit")),
    );
    for (name, samples, target) in [
        (
            format!("W2 durable, {n} OS threads, BlockingWal::append"),
            &s.blocking,
            "target >= 2",
        ),
        (
            format!("W2 durable, {n} OS threads, block_on baseline"),
            &s.block_on,
            "",
        ),
    ] {
        t.rows.push(
            Row::new(name, "rec/s", Better::Higher, samples)
                .baseline(
                    "mutex+condvar group commit",
                    &s.condvar,
                    |o, b| o / b,
                    "of it",
                )
                .peer("okaywal", &s.okay)
                .peer("raft-engine", &s.raft)
                .peer_target(target),
        );
    }
}
