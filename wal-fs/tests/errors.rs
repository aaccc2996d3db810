//! `FsStore` errors name the file or directory they concern and keep the `io::Error`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error as _;

use wal_api::{Error, SegmentId, SegmentStore};
use wal_fs::FsStore;

#[test]
fn opening_a_log_on_a_regular_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let e = FsStore::open_or_create(&file).unwrap_err();
    let Error::Io { path, .. } = &e else {
        panic!("expected an I/O error, got {e:?}");
    };
    assert_eq!(path.as_deref(), Some(file.as_path()));
    assert_eq!(
        e.to_string(),
        format!(
            "I/O error when creating the log directory {}: {}",
            file.display(),
            e.source().unwrap()
        )
    );
    assert!(e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some());
}

#[tokio::test]
async fn a_failed_segment_operation_names_the_segment_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open_or_create(dir.path()).unwrap();
    let e = store.sync_segment(SegmentId(7), 0).await.unwrap_err();
    let expected = store.segment_path(SegmentId(7));
    assert!(
        matches!(&e, Error::Io { op: "syncing", segment: Some(SegmentId(7)), path: Some(p), .. } if *p == expected),
        "{e:?}"
    );
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "I/O error when syncing segment 7 ({}): {io}",
            expected.display()
        )
    );
}

/// A newcomer's trap: `open` used to create any missing path and accept a directory holding
/// no log, so a typo or the wrong directory level silently started an empty log (next to the
/// engine's snapshot, say). Now both are `Error::NoLog`, naming the path and what is there,
/// and nothing is created; `open_or_create` starts a log on purpose.
#[tokio::test]
async fn opening_a_typo_or_the_wrong_directory_is_an_error_and_creates_nothing() {
    use wal_api::{Wal, WalOptions};
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("log");
    {
        let wal = Wal::open(
            FsStore::open_or_create(&log).unwrap(),
            WalOptions::default(),
        )
        .await
        .unwrap();
        wal.append(b"a").await.unwrap();
        wal.close().await.unwrap();
    }
    std::fs::write(root.path().join("snapshot.bin"), b"state").unwrap();
    let before = listing(root.path());
    // A typo.
    let typo = root.path().join("lgo");
    let e = FsStore::open(&typo).unwrap_err();
    assert!(
        matches!(&e, Error::NoLog { path, found } if path == &typo.display().to_string() && found.contains("does not exist")),
        "{e}"
    );
    assert!(!typo.exists());
    // The wrong level: the directory above the log.
    let e = FsStore::open(root.path()).unwrap_err();
    assert!(
        matches!(&e, Error::NoLog { found, .. } if found.contains("log") && found.contains("snapshot.bin")),
        "{e}"
    );
    assert!(
        e.to_string().contains(&root.path().display().to_string()),
        "{e}"
    );
    // An empty directory, and a file.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = FsStore::open(&empty).unwrap_err();
    assert!(
        matches!(&e, Error::NoLog { found, .. } if found == "an empty directory"),
        "{e}"
    );
    std::fs::remove_dir(&empty).unwrap();
    let e = FsStore::open(root.path().join("snapshot.bin")).unwrap_err();
    assert!(matches!(e, Error::NoLog { .. }), "{e}");
    assert_eq!(
        listing(root.path()),
        before,
        "nothing was created or changed"
    );
    // The log itself opens, and `open_or_create` starts one on purpose.
    let wal = Wal::open(FsStore::open(&log).unwrap(), WalOptions::default())
        .await
        .unwrap();
    assert_eq!(wal.written_lsn().0, 1);
    wal.close().await.unwrap();
    let fresh = root.path().join("new").join("log");
    let wal = Wal::open(
        FsStore::open_or_create(&fresh).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    wal.close().await.unwrap();
    drop(wal);
    assert!(FsStore::open(&fresh).is_ok());
}

/// Every path under `dir` (recursively) with its size.
fn listing(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.push((e.path(), 0));
            out.extend(listing(&e.path()));
        } else {
            out.push((e.path(), m.len()));
        }
    }
    out.sort();
    out
}
