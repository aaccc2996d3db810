//! walctl reads what the engine writes beside the records: the state slots (metadata and
//! checkpoint) and the reset intent a crash can leave behind.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use wal_api::{Lsn, SegmentStore, Wal, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

fn walctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Copies every entry of `store` (segments and state slots) into `dir` as files.
async fn copy_out(store: &MemoryStore, dir: &Path) {
    for m in store.list().await.unwrap() {
        let bytes = store.segment_bytes(m.id).unwrap();
        std::fs::write(dir.join(format!("{}.wal", m.id.padded())), bytes).unwrap();
    }
}

fn opts() -> WalOptions {
    WalOptions::default().segment_size(400)
}

#[tokio::test]
async fn stat_shows_metadata_and_checkpoint_and_verify_skips_state_slots() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    for i in 0..40u32 {
        wal.append(format!("record {i:04}").as_bytes())
            .await
            .unwrap();
    }
    wal.put_meta("vote", b"term 7").await.unwrap();
    wal.checkpoint(Lsn(30)).await.unwrap();
    wal.close().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_out(&store, dir.path()).await;
    let d = dir.path().to_str().unwrap();

    let (code, out, err) = walctl(&["verify", d]);
    assert_eq!(code, 0, "verify of a log with state slots: {out}{err}");
    let (code, out, err) = walctl(&["stat", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("state: checkpoint LSN 30, metadata: \"vote\" (6 B)"),
        "stat shows the state: {out}"
    );
    assert!(
        !out.contains("ignored"),
        "slots are not foreign files: {out}"
    );
    let (code, out, _) = walctl(&["stat", "--json", d]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["state"]["checkpoint"], 30);
    assert_eq!(v["state"]["metadata"][0][0], "vote");
}

#[tokio::test]
async fn an_interrupted_reset_is_understood_not_reported_as_a_gap() {
    // The second delete fails: the first is the state slot's (absent), the second the
    // oldest segment's, so the reset stops with its intent and its new segment in place.
    let store = MemoryStore::with_faults(FaultPlan {
        fail_delete_at: Some(2),
        ..FaultPlan::default()
    });
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    for i in 0..30u32 {
        wal.append(format!("record {i:04}").as_bytes())
            .await
            .unwrap();
    }
    assert!(
        wal.reset(Lsn(1000)).await.is_err(),
        "the delete fault stops the reset"
    );
    drop(wal);
    let dir = tempfile::tempdir().unwrap();
    copy_out(&store, dir.path()).await;
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = walctl(&["verify", d]);
    assert_eq!(code, 0, "an interrupted reset is a valid log: {out}{err}");
    let (code, out, _) = walctl(&["stat", d]);
    assert_eq!(code, 0);
    assert!(out.contains("reset intent"), "stat names the intent: {out}");
    assert!(!out.contains("gap"), "{out}");
    // The engine finishes the reset at the next open.
    let wal = Wal::open(store.process_crash(), opts()).await.unwrap();
    assert_eq!(wal.first_lsn(), Lsn(1000));
    assert_eq!(wal.last_checkpoint(), Some(Lsn(999)));
}
