//! okaywal 0.3.1, driven as its README shows: `begin_entry`, `write_chunk`, `commit` (every
//! commit is durable: okaywal has no non-durable append), recovery through
//! `LogManager::recover`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wal_bench::rate;

use crate::child::{ready, record, Check, End};
use crate::dirs::{discard, fresh};
use crate::knobs::REC;
use crate::threads::run_threads;

/// A log manager that replays every chunk of every entry through [`Check`].
#[derive(Debug, Default)]
struct Replaying {
    check: Arc<Mutex<Check>>,
}

impl okaywal::LogManager for Replaying {
    fn recover(&mut self, entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        if let Some(chunks) = entry.read_all_chunks()? {
            let mut check = self.check.lock().unwrap();
            for c in &chunks {
                check.record(c);
            }
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

fn open_with(dir: &Path, m: Replaying) -> okaywal::WriteAheadLog {
    // No checkpointing during a run: every record stays in the log (W4 replays them all).
    okaywal::Configuration::default_for(dir)
        .checkpoint_after_bytes(1 << 40)
        .open(m)
        .unwrap()
}

pub(crate) fn open(dir: &Path) -> okaywal::WriteAheadLog {
    open_with(dir, Replaying::default())
}

/// One durable record: an entry of one chunk, committed.
pub(crate) fn commit_one(log: &okaywal::WriteAheadLog, rec: &[u8]) {
    let mut e = log.begin_entry().unwrap();
    e.write_chunk(rec).unwrap();
    e.commit().unwrap();
}

/// W1: `n` durable single-record commits: their latencies.
pub(crate) fn w1_block(log: &okaywal::WriteAheadLog, n: usize) -> Vec<Duration> {
    let rec = [7u8; REC];
    (0..n)
        .map(|_| {
            let t = Instant::now();
            commit_one(log, &rec);
            t.elapsed()
        })
        .collect()
}

/// W2: `threads` OS threads each committing single-record entries: records/s.
pub(crate) fn w2(threads: usize, dur: Duration) -> f64 {
    let d = fresh("w2-okay");
    let log = open(&d);
    let r = run_threads(threads, dur, |_| {
        let log = log.clone();
        move || commit_one(&log, &[1u8; REC])
    });
    log.shutdown().unwrap();
    discard(&d);
    r
}

/// W3: `entries` entries of `per` chunks of `size` bytes, one commit (one fsync) each, its
/// closest thing to a batch: records/s.
pub(crate) fn w3(entries: u64, per: u64, size: usize) -> f64 {
    let d = fresh("w3-okay");
    let log = open(&d);
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
    discard(&d);
    r
}

/// Writer child: the W4 log as entries of 1000 chunks (one commit, one fsync each; an entry
/// per record would take a million fsyncs). Every chunk carries its own header and CRC, like
/// our frames.
pub(crate) fn child_write(dir: &Path, records: u64, end: End) {
    let log = open(dir);
    let mut i = 0;
    while i < records {
        let mut e = log.begin_entry().unwrap();
        for _ in 0..1000.min(records - i) {
            e.write_chunk(&record(i)).unwrap();
            i += 1;
        }
        e.commit().unwrap();
    }
    if end == End::Clean {
        log.shutdown().unwrap();
    }
    ready(end);
}

/// Replay child: open, whose recovery hands every entry to the log manager.
pub(crate) fn child_replay(dir: &Path) {
    let t0 = Instant::now();
    let m = Replaying::default();
    let check = m.check.clone();
    let log = open_with(dir, m);
    let check = std::mem::take(&mut *check.lock().unwrap());
    check.print(t0);
    drop(log);
}
