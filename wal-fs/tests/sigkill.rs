//! Real crashes: a writer process appends with durable acknowledgement (per-write and group
//! commit, several tasks) and reports every acknowledged record; this test SIGKILLs it at
//! seeded random moments, reopens the log (every other kill with `Wal::open_replay`, as an
//! engine recovers), and checks that every acknowledged record is there with the right bytes,
//! that LSNs are dense, and that nothing is readable after the recovered end. Prints `kills: N, acknowledged lost: L, corrupt: C`.
//!
//! `WAL_FS_KILLS` sets the number of kills (default 500); `WAL_FS_SEED` the seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/payload.rs"]
mod payload;
#[path = "support/rng.rs"]
mod rng;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use wal_api::{Error, Lsn, Visibility, Wal, WalOptions};
use wal_fs::FsStore;

use rng::Rng;

const WRITER: &str = env!("CARGO_BIN_EXE_wal-fs-crash-writer");

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spawn_writer(dir: &std::path::Path, policy: &str, tasks: u32, run: u32) -> Child {
    Command::new(WRITER)
        .arg(dir)
        .arg(policy)
        .arg(tasks.to_string())
        .arg(run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn crash writer")
}

/// Reads the child's stdout on a thread; sends `true` on the READY line, then collects
/// complete lines until EOF.
fn read_output(child: &mut Child) -> (mpsc::Receiver<bool>, std::thread::JoinHandle<String>) {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut first = String::new();
        if r.read_line(&mut first).unwrap_or(0) == 0 || !first.starts_with("READY") {
            let _ = tx.send(false);
            return first;
        }
        let _ = tx.send(true);
        let mut rest = String::new();
        let _ = r.read_to_string(&mut rest);
        rest
    });
    (rx, h)
}

#[derive(Default)]
struct Tally {
    kills: u64,
    lost: u64,
    corrupt: u64,
    acked: u64,
    killed_before_ready: u64,
    /// Most segments seen in one log (rotations happened under the kills).
    max_segments: usize,
}

/// Reopens the log in `dir` and checks it against the acknowledged records.
async fn check(dir: &std::path::Path, acked: &BTreeMap<u64, u32>, t: &mut Tally, kill: u64) {
    let store = FsStore::open_or_create(dir).expect("reopen after kill (lock must be free)");
    let opts = WalOptions::default().segment_size(16 << 10);
    // Every other kill reopens the way an engine recovers: open and replay in one pass.
    let (wal, records) = if kill % 2 == 1 {
        let mut got = Vec::new();
        let (wal, _) = Wal::open_replay(store, opts, Lsn(1), |lsn, data| {
            got.push(Ok((lsn, data.to_vec())));
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("kill {kill}: recovery + replay failed: {e}"));
        (wal, got)
    } else {
        let wal = Wal::open(store, opts)
            .await
            .unwrap_or_else(|e| panic!("kill {kill}: recovery failed: {e}"));
        let read: Vec<_> = wal.read(Lsn(1)..).collect().await;
        let got = read
            .into_iter()
            .map(|r| r.map(|r| (r.lsn, r.data.to_vec())))
            .collect();
        (wal, got)
    };
    let mut n = 0u64;
    let mut found: BTreeMap<u64, u32> = BTreeMap::new();
    for r in records {
        let (lsn, data) = match r {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kill {kill}: read error after LSN {n}: {e}");
                t.corrupt += 1;
                break;
            }
        };
        n += 1;
        if lsn != Lsn(n) {
            eprintln!("kill {kill}: LSN {lsn} where {n} was expected");
            t.corrupt += 1;
            n = lsn.0;
        }
        if !payload::is_well_formed(&data) {
            eprintln!("kill {kill}: LSN {lsn} holds bytes no writer sent");
            t.corrupt += 1;
        }
        found.insert(lsn.0, crc32fast::hash(&data));
    }
    assert_eq!(wal.written_lsn(), Lsn(n), "kill {kill}: recovered end");
    t.max_segments = t.max_segments.max(wal.segments().len());
    for (lsn, crc) in acked {
        match found.get(lsn) {
            None => {
                eprintln!("kill {kill}: acknowledged LSN {lsn} lost (log ends at {n})");
                t.lost += 1;
            }
            Some(c) if c != crc => {
                eprintln!("kill {kill}: acknowledged LSN {lsn} has other bytes");
                t.corrupt += 1;
            }
            Some(_) => {}
        }
    }
    // Nothing after the recovered end, even for a reader of unsynced records.
    let after: Vec<_> = wal
        .read_with(Lsn(n + 1).., Visibility::Written)
        .collect()
        .await;
    if !after.is_empty() {
        eprintln!(
            "kill {kill}: {} records readable after the end",
            after.len()
        );
        t.corrupt += after.len() as u64;
    }
    wal.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_record() {
    let kills = env_u64("WAL_FS_KILLS", 500);
    let seed = env_u64("WAL_FS_SEED", 0x5eed_2026);
    let mut rng = Rng::new(seed);
    let mut t = Tally::default();
    let started = Instant::now();
    let mut dir = tempfile::tempdir().unwrap();
    let mut acked: BTreeMap<u64, u32> = BTreeMap::new();
    for kill in 0..kills {
        // A fresh log every 25 kills keeps the check's full read short.
        if kill % 25 == 0 && kill > 0 {
            dir = tempfile::tempdir().unwrap();
            acked.clear();
        }
        let policy = if kill % 2 == 0 { "per-write" } else { "group" };
        let tasks = 1 + rng.below(8) as u32;
        let mut child = spawn_writer(dir.path(), policy, tasks, kill as u32);
        let (ready, reader) = read_output(&mut child);
        if rng.below(10) == 0 {
            // Kill during start-up or recovery.
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
            t.killed_before_ready += 1;
        } else {
            let ok = ready.recv_timeout(Duration::from_secs(30)).unwrap_or(false);
            if !ok {
                let _ = child.kill();
                let out = child.wait_with_output().expect("wait");
                panic!(
                    "kill {kill}: writer did not start: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_micros(1000 + rng.below(60_000)));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "kill {kill}: writer exited on its own");
        let text = reader.join().expect("reader thread");
        t.kills += 1;
        // Only complete lines count: the kill may cut the last one.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        for line in complete.lines() {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("A") {
                continue;
            }
            let lsn: u64 = parts.next().and_then(|v| v.parse().ok()).expect("lsn");
            let crc: u32 = parts.next().and_then(|v| v.parse().ok()).expect("crc");
            acked.insert(lsn, crc);
            t.acked += 1;
        }
        check(dir.path(), &acked, &mut t, kill).await;
    }
    println!(
        "kills: {}, acknowledged lost: {}, corrupt: {} ({} acknowledgements checked, {} kills during start-up, up to {} segments per log, {:.1} s)",
        t.kills,
        t.lost,
        t.corrupt,
        t.acked,
        t.killed_before_ready,
        t.max_segments,
        started.elapsed().as_secs_f64()
    );
    assert!(t.kills >= kills);
    assert!(t.max_segments > 2, "no rotation happened under the kills");
    assert_eq!(t.lost, 0, "acknowledged records lost");
    assert_eq!(t.corrupt, 0, "corrupt or phantom records");
}

/// The directory lock: a second open fails at once in this process and in another one, and
/// the lock is free again once the holder is gone (dropped, or killed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_refuses_second_writer_and_frees_on_kill() {
    let dir = tempfile::tempdir().unwrap();
    let first = FsStore::open_or_create(dir.path()).unwrap();
    let clone = first.clone();
    let t0 = Instant::now();
    match FsStore::open_or_create(dir.path()) {
        Err(Error::AlreadyOpen { what }) => {
            assert_eq!(what, dir.path().display().to_string());
        }
        other => panic!("expected AlreadyOpen, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "second open waited");
    drop(first);
    assert!(
        matches!(
            FsStore::open_or_create(dir.path()),
            Err(Error::AlreadyOpen { .. })
        ),
        "a clone keeps the lock"
    );
    drop(clone);
    open_once_free(dir.path(), "the last clone was dropped");

    let mut child = spawn_writer(dir.path(), "group", 2, 1);
    let (ready, reader) = read_output(&mut child);
    assert!(ready.recv_timeout(Duration::from_secs(30)).unwrap());
    match FsStore::open_or_create(dir.path()) {
        Err(Error::AlreadyOpen { what }) => assert!(what.contains(&*dir.path().to_string_lossy())),
        other => panic!("expected AlreadyOpen while another process writes, got {other:?}"),
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = reader.join();
    open_once_free(dir.path(), "the holder was killed");
}

/// Opens `dir`, retrying for up to 2 s: the other test of this file spawns processes
/// concurrently, and a child forked from this process holds a copy of every descriptor (a
/// lock just released here included) until it execs.
fn open_once_free(dir: &Path, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match FsStore::open_or_create(dir) {
            Ok(s) => break drop(s),
            Err(Error::AlreadyOpen { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("lock not free after {after}: {e}"),
        }
    }
}
