//! `walctl verify` and `walctl repair` decide what the engine decides: for every committed
//! fixture and for damaged images of a log with metadata and a checkpoint (flipped bytes and
//! cuts in every segment and state slot, a missing middle segment, a directory or FIFO at a
//! segment's name), each tool's verdict in each recovery mode equals `Wal::open`'s on a copy
//! of the same files (every segment verified: a log a reader would find damaged is not sound).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use wal_api::{Lsn, RecoveryMode, Wal, WalOptions};
use wal_fs::FsStore;

const MODES: [(RecoveryMode, &str); 4] = [
    (RecoveryMode::TolerateTornTail, "tolerate-torn-tail"),
    (RecoveryMode::AbsoluteConsistency, "absolute"),
    (RecoveryMode::PointInTime, "point-in-time"),
    (RecoveryMode::SkipCorrupted, "skip-corrupted"),
];

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

/// Copies the regular files, directories (empty) and FIFOs of `from` into a fresh directory.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        let dest = to.path().join(e.file_name());
        if t.is_file() {
            std::fs::copy(e.path(), dest).unwrap();
        } else if t.is_dir() {
            std::fs::create_dir(dest).unwrap();
        } else if std::os::unix::fs::FileTypeExt::is_fifo(&t) {
            let ok = Command::new("mkfifo")
                .arg(&dest)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "mkfifo");
        }
    }
    to
}

/// The engine's verdict on the files of `dir` in `mode`: whether it opens them (on a copy,
/// every sealed segment verified), and whether it then loses nothing.
async fn engine(dir: &Path, mode: RecoveryMode) -> (bool, bool) {
    let copy = copy_dir(dir);
    let opts = WalOptions::default()
        .recovery_mode(mode)
        .verify_on_open(true)
        .max_record_size(1 << 30);
    let store = match FsStore::open_or_create(copy.path()) {
        Ok(s) => s,
        Err(_) => return (false, false),
    };
    match Wal::open(store, opts).await {
        Ok(wal) => {
            let r = wal.recovery_report();
            let whole = r.skipped.is_empty()
                && r.quarantined.is_empty()
                && r.missing.is_empty()
                && !r.state_lost;
            (true, whole)
        }
        Err(_) => (false, false),
    }
}

/// A log of 60 records over several sealed segments and an open one, with metadata and a
/// checkpoint, written by the engine on the file system.
async fn base_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default().segment_size(700),
    )
    .await
    .unwrap();
    for i in 0..60u32 {
        wal.append(format!("record {i:04}").as_bytes())
            .await
            .unwrap();
    }
    wal.put_meta("vote", b"term 7").await.unwrap();
    wal.checkpoint(Lsn(12)).await.unwrap();
    drop(wal);
    dir
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Damaged images of `base`, each a directory.
fn images(base: &Path) -> Vec<(String, tempfile::TempDir)> {
    let mut out = Vec::new();
    let fs = files(base);
    for f in &fs {
        let len = std::fs::metadata(f).unwrap().len() as usize;
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for k in 0..12 {
            let at = (k * 7919 + 13) % len.max(1);
            let img = copy_dir(base);
            let p = img.path().join(&name);
            let mut b = std::fs::read(&p).unwrap();
            b[at] ^= 1 << (k % 8);
            std::fs::write(&p, b).unwrap();
            out.push((format!("{name}: bit flipped at {at}"), img));
        }
        for cut in [
            0,
            10,
            len / 3,
            len / 2,
            len.saturating_sub(20),
            len.saturating_sub(1),
        ] {
            let img = copy_dir(base);
            let p = img.path().join(&name);
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..cut.min(b.len())]).unwrap();
            out.push((format!("{name}: cut at {cut}"), img));
        }
    }
    // A missing middle segment; a directory and a FIFO at a segment's name.
    let img = copy_dir(base);
    std::fs::remove_file(img.path().join(fs[1].file_name().unwrap())).unwrap();
    out.push(("middle segment missing".into(), img));
    let img = copy_dir(base);
    std::fs::create_dir(img.path().join("00000000000000000099.wal")).unwrap();
    out.push(("a directory at a segment's name".into(), img));
    let img = copy_dir(base);
    let fifo = img.path().join("00000000000000000098.wal");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo");
    out.push(("a FIFO at a segment's name".into(), img));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walctl_verdicts_equal_the_engines_in_every_mode() {
    let base = base_log().await;
    let mut cases: Vec<(String, PathBuf, Option<tempfile::TempDir>)> = Vec::new();
    cases.push(("undamaged".into(), base.path().to_path_buf(), None));
    for (what, img) in images(base.path()) {
        let p = img.path().to_path_buf();
        cases.push((what, p, Some(img)));
    }
    // Every committed fixture, as a directory of segment files.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wal-memory/tests/fixtures");
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let img = tempfile::tempdir().unwrap();
        for s in std::fs::read_dir(e.path()).unwrap() {
            let s = s.unwrap().path();
            if s.extension().is_some_and(|x| x == "seg") {
                let id: u64 = s.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                std::fs::copy(&s, img.path().join(format!("{id:020}.wal"))).unwrap();
            }
        }
        let p = img.path().to_path_buf();
        cases.push((
            format!("fixture {}", e.file_name().to_string_lossy()),
            p,
            Some(img),
        ));
    }

    let (mut checked, mut agreed) = (0u64, 0u64);
    let mut disagreements = Vec::new();
    for (what, dir, _keep) in &cases {
        let d = dir.to_str().unwrap();
        for (mode, name) in MODES {
            let (opens, whole) = engine(dir, mode).await;
            // repair (dry run): refuses exactly when the engine does.
            let (rc, out) = walctl(&["repair", d, "--mode", name]);
            let refused = out.contains("refuses the log");
            checked += 1;
            if refused == opens || (rc == 0 && !whole) {
                disagreements.push(format!(
                    "{what}, {name}: engine opens {opens} (whole {whole}), repair rc {rc}: {out}"
                ));
            } else {
                agreed += 1;
            }
            if mode == RecoveryMode::TolerateTornTail {
                // verify judges the default mode: ok exactly when the engine opens the log.
                let (rc, out) = walctl(&["verify", d]);
                checked += 1;
                if (rc == 0) != opens {
                    disagreements.push(format!(
                        "{what}: engine opens {opens}, verify rc {rc}: {out}"
                    ));
                } else {
                    agreed += 1;
                }
            }
        }
    }
    for d in disagreements.iter().take(15) {
        println!("{d}");
    }
    println!("walctl verdicts agree with the engine: {agreed} of {checked}");
    assert_eq!(agreed, checked);
    assert!(checked >= 500, "{checked} verdicts");
}
