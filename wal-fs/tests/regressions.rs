//! Regression tests for filesystem-backend bugs found by review; each failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::{Error, Lsn, RecoveryMode, SegmentId, Wal, WalOptions};
use wal_fs::{segment_file_name, FsStore, LOCK_FILE, QUARANTINE_DIR};

async fn count(wal: &Wal<FsStore>) -> usize {
    wal.read(Lsn(1)..)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await
}

/// `close` releases the directory lock at once, although clones of the log (and so of the
/// store) still exist.
#[tokio::test]
async fn close_releases_the_directory_lock_while_clones_live() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    wal.append(b"x").await.unwrap();
    let clone = wal.clone();
    wal.close().await.unwrap();
    let again = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(count(&again).await, 1);
    assert!(matches!(clone.append(b"y").await, Err(Error::Closed)));
    assert!(matches!(clone.sync().await, Err(Error::Closed)));
    again.close().await.unwrap();
}

/// A directory (or FIFO, or symlink) squatting on the next segment's name is reported at
/// open, naming the entry, instead of an unopenable log ("segment 2 already exists").
#[tokio::test]
async fn foreign_entry_at_a_segment_name_is_reported_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    wal.append(b"kept").await.unwrap();
    wal.close().await.unwrap();
    drop(wal);
    // Close created segment 2 (the sealed tail's successor); squat on the name after it.
    let squatter = dir.path().join(segment_file_name(SegmentId(3)));
    std::fs::create_dir(&squatter).unwrap();
    let opened = match FsStore::open_or_create(dir.path()) {
        Ok(store) => Wal::open(store, WalOptions::default()).await,
        Err(e) => Err(e),
    };
    let err = opened.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::InvalidArgument(_)) && msg.contains(&*squatter.to_string_lossy()),
        "{msg}"
    );
    std::fs::remove_dir(&squatter).unwrap();
    let wal = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(count(&wal).await, 1);
}

/// A `quarantine` symlink must not lead point-in-time recovery to move segments (or write
/// `.reason` files) into another directory.
#[tokio::test]
async fn symlinked_quarantine_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let opts = WalOptions::default().segment_size(300);
    let wal = Wal::open(FsStore::open_or_create(dir.path()).unwrap(), opts.clone())
        .await
        .unwrap();
    for i in 0..20u8 {
        wal.append(&[i; 20]).await.unwrap();
    }
    wal.close().await.unwrap();
    drop(wal);
    // Damage a sealed segment in the middle.
    let victim = dir.path().join(segment_file_name(SegmentId(2)));
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[40 + 24 + 2] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(QUARANTINE_DIR)).unwrap();
    let r = Wal::open(
        FsStore::open_or_create(dir.path()).unwrap(),
        opts.clone().recovery_mode(RecoveryMode::PointInTime),
    )
    .await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "recovery wrote outside the log directory"
    );
    assert!(
        victim.exists(),
        "the damaged segment left the log directory"
    );
}

/// A dangling `wal.lock` symlink is refused; its target is never created.
#[tokio::test]
async fn symlinked_lock_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("created-by-the-log");
    std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
    let r = FsStore::open_or_create(dir.path());
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    assert!(!target.exists(), "the lock was created through the symlink");
}
