//! W4: a fresh process opens and replays 1 M x 100 B records, with a closure that reads each
//! record's bytes (`child::Check`), from a log left by a crash (writer SIGKILLed after its
//! records were synced: unsealed tail) and from a log closed cleanly; against a raw read +
//! per-frame CRC scan of the same segment files in the same run, and okaywal and raft-engine
//! doing the same; after a crash also `Wal::open` followed by `Wal::replay` (two passes over
//! the unsealed tail) beside the one-pass `Wal::open_replay`. Each run writes its logs anew
//! (an open repairs what a crash left, so a log is replayed once), then fsyncs their files and
//! directories before any timed child. Peak RSS of each child is printed (the replay streams:
//! it is bounded by one segment, 64 MiB, and in practice far below).

use std::path::Path;

use wal_bench::{human, median, report, runs};

use crate::child::{self, End, Replay};
use crate::dirs::{dir_bytes, discard, fresh, sync_tree};
use crate::knobs::{flag, w4_records, FRAME};
use crate::ours;
use crate::summary::{thousands, Better, Row, Tables};
use crate::threads::blocking;

/// "1 M" for a million, else the number.
pub(crate) fn count(n: u64) -> String {
    if n.is_multiple_of(1_000_000) {
        format!("{} M", n / 1_000_000)
    } else {
        thousands(n)
    }
}

#[derive(Default)]
struct Kind {
    secs: Vec<f64>,
    rss: Vec<f64>,
    /// Bytes of the log as written (the first run's).
    bytes: u64,
}

impl Kind {
    fn push(&mut self, r: Replay, records: u64) {
        assert_eq!(r.records, records, "a replay missed records");
        self.secs.push(r.secs);
        self.rss.push(r.rss_mib);
    }

    fn mbps(&self) -> Vec<f64> {
        self.secs
            .iter()
            .map(|s| self.bytes as f64 / s / 1e6)
            .collect()
    }
}

#[derive(Default)]
struct State {
    raw: Kind,
    ours: Kind,
    /// `Wal::open` and then `Wal::replay`: two passes over the unsealed tail (crash only).
    two_pass: Kind,
    okay: Kind,
    raft: Kind,
}

/// Writes a log with writer child `writer`, ended as `end`, fsyncs it, replays it with each of
/// `replays` (in order): one sample each.
async fn one(
    writer: &'static str,
    end: End,
    replays: &[&'static str],
    records: u64,
) -> (u64, Vec<Replay>) {
    let d = fresh(&format!("w4-{writer}-{}", end.name()));
    let dir = d.clone();
    let bytes = blocking(move || {
        child::write(writer, &dir, records, end);
        sync_tree(&dir);
        dir_bytes(&dir)
    })
    .await;
    let mut out = Vec::new();
    for kind in replays {
        let (k, dir) = (*kind, d.clone());
        out.push(blocking(move || child::replay(k, &dir)).await);
    }
    discard(&d);
    (bytes, out)
}

async fn measure(end: End, records: u64) -> State {
    let mut s = State::default();
    for _ in 0..runs() {
        let (b, r) = one("write-ours", end, &["raw-scan", "replay-ours"], records).await;
        s.raw.bytes = b;
        s.ours.bytes = b;
        s.raw.push(r[0], records);
        s.ours.push(r[1], records);
        if matches!(end, End::Crash) {
            // A crashed log is repaired by its first open: the two-pass line gets its own.
            let (b, r) = one("write-ours", end, &["replay-ours-open"], records).await;
            s.two_pass.bytes = b;
            s.two_pass.push(r[0], records);
        }
        let (b, r) = one("write-okay", end, &["replay-okay"], records).await;
        s.okay.bytes = b;
        s.okay.push(r[0], records);
        let (b, r) = one("write-raft", end, &["replay-raft"], records).await;
        s.raft.bytes = b;
        s.raft.push(r[0], records);
    }
    s
}

pub(crate) async fn run(t: &mut Tables) {
    let n = w4_records();
    let recs = count(n);
    let crash = measure(End::Crash, n).await;
    let clean = measure(End::Clean, n).await;
    println!(
        "W4 log: wal-fs {} bytes, okaywal {} bytes, raft-engine {} bytes, {recs} x 100 B records",
        clean.ours.bytes, clean.okay.bytes, clean.raft.bytes
    );
    let (raw_mb, ours_mb) = (clean.raw.mbps(), clean.ours.mbps());
    report(
        "raw CRC scan of the W4 log's frames",
        &clean.raw.secs,
        "s",
        None,
    );
    report("raw CRC scan", &raw_mb, "MB/s", None);
    report(
        &format!("W4 wal-fs reopen + replay {recs} x 100 B"),
        &clean.ours.secs,
        "s",
        None,
    );
    report(
        "W4 wal-fs reopen + replay",
        &ours_mb,
        "MB/s",
        Some((median(&ours_mb) / median(&raw_mb), "raw CRC scan (>= 0.9)")),
    );
    report("W4 wal-fs replay peak RSS", &clean.ours.rss, "MiB", None);
    report(
        &format!("W4 okaywal recover {recs} x 100 B"),
        &clean.okay.secs,
        "s",
        None,
    );
    let okay_mb = clean.okay.mbps();
    report(
        "W4 okaywal recover",
        &okay_mb,
        "MB/s",
        Some((median(&okay_mb) / median(&raw_mb), "raw CRC scan")),
    );
    report("W4 okaywal recover peak RSS", &clean.okay.rss, "MiB", None);
    report("raw CRC scan peak RSS", &clean.raw.rss, "MiB", None);
    let raft_mb = clean.raft.mbps();
    report(
        &format!("W4 raft-engine open + fetch {recs} x 100 B"),
        &clean.raft.secs,
        "s",
        None,
    );
    report(
        "W4 raft-engine open + fetch",
        &raft_mb,
        "MB/s",
        Some((median(&raft_mb) / median(&raw_mb), "raw CRC scan")),
    );
    report("W4 raft-engine peak RSS", &clean.raft.rss, "MiB", None);
    crash_lines(&crash, &recs);
    t.legacy(
        format!("W4 reopen + replay {recs} x 100 B"),
        &clean.ours.secs,
        &clean.okay.secs,
        "s",
        false,
    );
    t.legacy(
        "W4 peak RSS",
        &clean.ours.rss,
        &clean.okay.rss,
        "MiB",
        false,
    );
    for (s, what, target) in [
        (&crash, "after a crash", ">= 0.8"),
        (&clean, "closed cleanly", ">= 0.9"),
    ] {
        t.rows.push(
            Row::new(
                format!("W4 open + replay {recs} x 100 B, {what}"),
                "s",
                Better::Lower,
                &s.ours.secs,
            )
            .baseline(
                "raw read + per-frame CRC",
                &s.raw.secs,
                |o, b| b / o,
                format!("of its speed ({target})"),
            )
            .peer("okaywal", &s.okay.secs)
            .peer("raft-engine", &s.raft.secs),
        );
        t.rows.push(
            Row::new(
                format!("W4 peak RSS, {what}"),
                "MiB",
                Better::Lower,
                &s.ours.rss,
            )
            .baseline(
                "raw scan",
                &s.raw.rss,
                |o, b| o / b,
                "(bound: one 64 MiB segment)",
            )
            .peer("okaywal", &s.okay.rss)
            .peer("raft-engine", &s.raft.rss),
        );
    }
}

fn crash_lines(s: &State, recs: &str) {
    let speed = |o: &[f64]| median(&s.raw.secs) / median(o);
    report(
        "raw CRC scan of the crashed W4 log's frames",
        &s.raw.secs,
        "s",
        None,
    );
    report(
        &format!("W4 wal-fs open + replay {recs} x 100 B after a crash"),
        &s.ours.secs,
        "s",
        Some((speed(&s.ours.secs), "raw CRC scan speed (>= 0.8)")),
    );
    report(
        "W4 wal-fs open, then replay (two passes) after a crash",
        &s.two_pass.secs,
        "s",
        Some((speed(&s.two_pass.secs), "raw CRC scan speed")),
    );
    report(
        "W4 wal-fs replay after a crash, peak RSS",
        &s.ours.rss,
        "MiB",
        None,
    );
    report(
        &format!("W4 okaywal recover {recs} x 100 B after a crash"),
        &s.okay.secs,
        "s",
        Some((speed(&s.okay.secs), "raw CRC scan speed")),
    );
    report(
        &format!("W4 raft-engine open + fetch {recs} x 100 B after a crash"),
        &s.raft.secs,
        "s",
        Some((speed(&s.raft.secs), "raw CRC scan speed")),
    );
    report(
        "W4 okaywal after a crash, peak RSS",
        &s.okay.rss,
        "MiB",
        None,
    );
    report(
        "W4 raft-engine after a crash, peak RSS",
        &s.raft.rss,
        "MiB",
        None,
    );
}

/// The 1 GiB log: replay throughput and the RSS bound (`WAL_BENCH_SKIP_1GIB` skips it).
pub(crate) async fn one_gib() {
    if flag("WAL_BENCH_SKIP_1GIB") {
        return;
    }
    let dg = fresh("w4-1gib");
    let records = (1u64 << 30) / FRAME as u64 / 1000 * 1000 + 1000;
    ours::write_log(&dg, records).await;
    sync_tree(&dg);
    let bytes = dir_bytes(&dg);
    let d = dg.clone();
    let r = blocking(move || child::replay("replay-ours", &d)).await;
    assert_eq!(r.records, records);
    println!(
        "W4 wal-fs 1 GiB log ({} records, {} bytes): reopen + replay {:.2} s, {} MB/s, peak RSS {} MiB (< 256)",
        records,
        bytes,
        r.secs,
        human(bytes as f64 / r.secs / 1e6),
        r.rss_mib as u64
    );
    discard_path(&dg);
}

fn discard_path(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}
