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
    let e = FsStore::open(&file).unwrap_err();
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
    let store = FsStore::open(dir.path()).unwrap();
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
