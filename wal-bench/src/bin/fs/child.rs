//! Child processes: every replay runs in a fresh process (its own heap and peak RSS, nothing
//! cached in memory but the page cache), and W4's crashed logs come from writer processes
//! killed with SIGKILL once their records are written.
//!
//! Protocol: `bench-fs --child <kind> <dir> [records crash|clean]`. A replay prints one line
//! `secs records bytes peak_rss_kib`; a writer prints `ready` once its records are written
//! (and synced), then either closes its log and exits (`clean`) or waits to be killed
//! (`crash`). For `perf`, `bench-fs --child <kind> <dir> <n>` also runs one workload alone:
//! `w1-ours` (`n` durable appends, median latency), `w2-tasks` / `w2-blocking` (`n` tokio
//! tasks / OS threads appending durably for 3 s), `w3-singles` (`n` single appends, one
//! segment).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::knobs::REC;
use crate::{ours, peer_okaywal, peer_raft_engine, raw};

/// How a W4 writer leaves its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// SIGKILL after the records are written and synced: no close, the tail stays unsealed.
    Crash,
    /// Closed (sealed) cleanly.
    Clean,
}

impl End {
    pub(crate) fn name(self) -> &'static str {
        match self {
            End::Crash => "crash",
            End::Clean => "clean",
        }
    }

    fn parse(s: &str) -> End {
        match s {
            "crash" => End::Crash,
            "clean" => End::Clean,
            other => panic!("unknown end {other}"),
        }
    }
}

/// The 100 B record `i`: its index in the first 8 bytes, so a replay can check it sees every
/// record once, in order.
pub(crate) fn record(i: u64) -> [u8; REC] {
    let mut r = [7u8; REC];
    r[..8].copy_from_slice(&i.to_le_bytes());
    r
}

/// What every replay does with each record's bytes: reads its index (checking order and
/// completeness) and counts its bytes.
#[derive(Debug, Default)]
pub(crate) struct Check {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
}

impl Check {
    pub(crate) fn record(&mut self, data: &[u8]) {
        let mut i = [0u8; 8];
        i.copy_from_slice(&data[..8]);
        assert_eq!(u64::from_le_bytes(i), self.records, "replayed out of order");
        self.records += 1;
        self.bytes += data.len() as u64;
    }

    /// The replay child's line.
    pub(crate) fn print(&self, t0: Instant) {
        let secs = t0.elapsed().as_secs_f64();
        println!("{secs} {} {} {}", self.records, self.bytes, peak_rss_kib());
    }
}

/// Peak resident set of this process (`VmHWM`), KiB.
pub(crate) fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What a replay child reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Replay {
    pub(crate) secs: f64,
    pub(crate) records: u64,
    /// Bytes replayed (the scale children: a second count).
    pub(crate) bytes: u64,
    pub(crate) rss_mib: f64,
}

/// Runs a replay child of `kind` on `dir` and parses its line.
pub(crate) fn replay(kind: &str, dir: &Path) -> Replay {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind])
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
    Replay {
        secs: v[0].parse().unwrap(),
        records: v[1].parse().unwrap(),
        bytes: v[2].parse().unwrap(),
        rss_mib: v[3].parse::<f64>().unwrap() / 1024.0,
    }
}

/// Runs a writer child of `kind` that writes `records` records into `dir` and ends as `end`.
pub(crate) fn write(kind: &str, dir: &Path, records: u64, end: End) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind])
        .arg(dir)
        .args([records.to_string().as_str(), end.name()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "writer {kind} did not finish its records"
    );
    if end == End::Crash {
        c.kill().unwrap();
        c.wait().unwrap();
    } else {
        assert!(c.wait().unwrap().success(), "writer {kind} failed");
    }
}

/// In a writer child, once the records are written: says so, and for a crash waits for the
/// parent's SIGKILL.
pub(crate) fn ready(end: End) {
    println!("ready");
    if end == End::Crash {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// The child side: runs the `kind` named on the command line.
pub(crate) async fn run(args: &[String]) {
    let kind = args[0].as_str();
    let dir = PathBuf::from(&args[1]);
    let writer = || (args[2].parse::<u64>().unwrap(), End::parse(&args[3]));
    match kind {
        "raw-scan" => raw::child_crc_scan(&dir),
        "scale-raw" => raw::child_headers_trailers(&dir),
        "replay-ours" => ours::child_replay(&dir, true).await,
        "replay-ours-open" => ours::child_replay(&dir, false).await,
        "scale-open" => ours::child_open(&dir).await,
        "replay-okay" => peer_okaywal::child_replay(&dir),
        "replay-raft" => peer_raft_engine::child_replay(&dir),
        "w1-ours" => {
            // For profiling one durable appender alone: `N` appends, median latency.
            let n = args[2].parse::<usize>().unwrap();
            let wal = ours::open_fs(&dir, wal_api::WalOptions::default()).await;
            let mut l = Vec::with_capacity(n);
            for _ in 0..n {
                let t = std::time::Instant::now();
                wal.append(&[7u8; REC]).await.unwrap();
                l.push(t.elapsed());
            }
            wal.close().await.unwrap();
            println!("{:.1} us median", crate::raw::median_us(l));
        }
        "w2-tasks" => {
            // For profiling group commit alone: `N` tokio tasks appending durably for 3 s.
            let n = args[2].parse::<usize>().unwrap();
            let d = std::time::Duration::from_secs(3);
            let how = wal_fs::SyncExecution::Auto;
            let r = ours::w2_tasks(n, how, d).await;
            println!(
                "{:.0} records/s, {:.1} per sync, {:.1} us per sync",
                r.rate, r.per_sync, r.sync_us
            );
        }
        "w2-blocking" => {
            // For profiling BlockingWal alone: `N` threads appending durably for 3 s.
            let n = args[2].parse::<usize>().unwrap();
            let d = std::time::Duration::from_secs(3);
            let rate = std::thread::spawn(move || ours::w2_blocking(n, d)).join();
            println!("{:.0} records/s", rate.unwrap());
        }
        "w3-singles" => {
            // For profiling the append path alone: `N` single 100 B appends, one segment.
            let n = args[2].parse::<u64>().unwrap();
            let (rate, _) = ours::w3_singles(REC, n, crate::knobs::SEG_HUGE).await;
            println!("{rate:.0} records/s");
        }
        "write-ours" => {
            let (n, end) = writer();
            ours::child_write(&dir, n, end).await;
        }
        "write-okay" => {
            let (n, end) = writer();
            peer_okaywal::child_write(&dir, n, end);
        }
        "write-raft" => {
            let (n, end) = writer();
            peer_raft_engine::child_write(&dir, n, end);
        }
        other => panic!("unknown child {other}"),
    }
}
