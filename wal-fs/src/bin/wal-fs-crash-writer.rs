//! Crash-test writer for `tests/sigkill.rs`: appends records with durable acknowledgement from
//! several tasks and prints every acknowledged record as `A <lsn> <crc32 of payload>` on
//! stdout, until it is killed.
//!
//! Usage: `wal-fs-crash-writer <dir> <per-write|group> <tasks> <run id>`.
//! Payloads are self-describing (`tests/support/payload.rs`): `run id, task, sequence` then filler that
//! is a function of those, so the parent can check any record it finds.

// A test helper: it aborts on any failure, which the parent sees as a missing READY line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Arc;

use wal_api::{GroupCommit, PerWrite, Wal, WalOptions};
use wal_fs::FsStore;

#[path = "../../tests/support/payload.rs"]
mod payload;
use payload::payload;

fn emit(out: &std::io::Stdout, lines: &str) {
    let mut o = out.lock();
    o.write_all(lines.as_bytes()).unwrap();
    o.flush().unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 5,
        "usage: {} <dir> <per-write|group> <tasks> <run>",
        args[0]
    );
    let dir = &args[1];
    let opts = WalOptions::default().segment_size(16 << 10);
    let opts = match args[2].as_str() {
        "per-write" => opts.sync_policy(PerWrite),
        "group" => opts.sync_policy(GroupCommit::default()),
        other => panic!("unknown policy {other}"),
    };
    let tasks: u32 = args[3].parse().unwrap();
    let run: u32 = args[4].parse().unwrap();
    let store = FsStore::open_or_create(dir).unwrap();
    let wal = Wal::open(store, opts).await.unwrap();
    let out = Arc::new(std::io::stdout());
    emit(&out, &format!("READY {}\n", wal.written_lsn()));
    let mut handles = Vec::new();
    for task in 0..tasks {
        let wal = wal.clone();
        let out = Arc::clone(&out);
        handles.push(tokio::spawn(async move {
            let mut seq = 0u64;
            loop {
                if seq % 10 == 9 {
                    let batch: Vec<Vec<u8>> = (0..3).map(|k| payload(run, task, seq + k)).collect();
                    let r = wal.append_batch(&batch).await.unwrap();
                    let mut lines = String::new();
                    for (k, p) in batch.iter().enumerate() {
                        let lsn = r.first.0 + k as u64;
                        lines.push_str(&format!("A {lsn} {}\n", crc32fast::hash(p)));
                    }
                    emit(&out, &lines);
                    seq += 3;
                } else {
                    let p = payload(run, task, seq);
                    let lsn = wal.append(&p).await.unwrap();
                    emit(&out, &format!("A {lsn} {}\n", crc32fast::hash(&p)));
                    seq += 1;
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}
