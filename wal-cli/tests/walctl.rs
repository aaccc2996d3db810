//! `walctl` against a directory of segment files written by the engine.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use wal_api::{SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

/// Writes 50 records over small segments and copies the segments into `dir` as files.
async fn write_log(dir: &Path) {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default().segment_size(1024))
        .await
        .unwrap();
    for i in 0..50 {
        wal.append(format!("record {i}").as_bytes()).await.unwrap();
    }
    wal.close().await.unwrap();
    for m in store.list().await.unwrap() {
        let bytes = store.segment_bytes(m.id).unwrap();
        std::fs::write(dir.join(format!("{}.wal", m.id.padded())), bytes).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), b"not a segment").unwrap();
}

fn walctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn walctl_stat_verify_dump_and_detect_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path()).await;
    let d = dir.path().to_str().unwrap();

    let (code, out) = walctl(&["stat", d]);
    assert_eq!(code, 0);
    assert!(out.contains("sealed"), "{out}");
    assert!(out.contains("ignored: notes.txt"), "{out}");

    let (code, out) = walctl(&["verify", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("50 records, last LSN 50"), "{out}");

    let (code, out) = walctl(&["dump", d, "--from", "10", "--to", "12"]);
    assert_eq!(code, 0);
    assert_eq!(out, "10\trecord 9\n11\trecord 10\n12\trecord 11\n");

    let first = dir
        .path()
        .join(format!("{}.wal", wal_api::SegmentId(1).padded()));
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[70] ^= 0x10;
    std::fs::write(&first, bytes).unwrap();
    let (code, out) = walctl(&["verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CORRUPT"), "{out}");
}

#[test]
fn walctl_bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
