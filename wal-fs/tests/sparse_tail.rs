//! A 1 TiB sparse newest segment with a valid header opens with bounded memory: recovery
//! scans in chunks and never past the header's frame limit. (Format v1 read the whole tail
//! into one allocation and aborted the process.) Its own test binary, so the peak RSS it
//! reports is this test's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::{Lsn, SegmentId, Wal, WalOptions};
use wal_fs::{segment_file_name, FsStore};

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terabyte_sparse_tail_opens_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    for i in 0..10u8 {
        wal.append(&[i; 100]).await.unwrap();
    }
    drop(wal);
    let path = dir.path().join(segment_file_name(SegmentId(1)));
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(1 << 40)
        .expect("the temp directory's file system must hold a 1 TiB sparse file");
    drop(f);
    let before = peak_rss_kib();
    let wal = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    let n = wal.read(Lsn(1)..).count().await;
    assert_eq!(n, 10);
    assert!(
        std::fs::metadata(&path).unwrap().len() < 1 << 20,
        "tail not cut"
    );
    let peak = peak_rss_kib();
    println!(
        "1 TiB sparse tail: opened, 10 records kept, peak RSS {} KiB (before open {} KiB)",
        peak.unwrap_or(0),
        before.unwrap_or(0)
    );
    if let Some(p) = peak {
        assert!(p < 256 * 1024, "peak RSS {p} KiB");
    }
}
