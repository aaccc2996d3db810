//! Every sync mode, with and without preallocation: durable appends across rotations, a
//! process-crash image taken while the log is live, and zero fill released on close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::{Lsn, PerWrite, Wal, WalOptions};
use wal_fs::{segment_file_name, FsOptions, FsStore, SyncMode};

fn copy_dir(from: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
        }
    }
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sync_mode_keeps_acknowledged_records() {
    for mode in [SyncMode::DataSync, SyncMode::FullSync, SyncMode::Dsync] {
        for prealloc in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let fs = FsOptions::default()
                .create_if_missing(true)
                .sync_mode(mode)
                .preallocate(prealloc);
            let store = FsStore::open_with(dir.path(), fs.clone()).unwrap();
            let opts = WalOptions::default()
                .segment_size(4 << 10)
                .sync_policy(PerWrite);
            let wal = Wal::open(store, opts.clone()).await.unwrap();
            let mut want = Vec::new();
            for i in 0..300u32 {
                let p = format!("{mode:?} {prealloc} record {i}").into_bytes();
                if i % 7 == 0 {
                    wal.append_batch(&[&p[..], b"pair"]).await.unwrap();
                    want.push(p);
                    want.push(b"pair".to_vec());
                } else {
                    wal.append(&p).await.unwrap();
                    want.push(p);
                }
            }
            let segs = wal.segments();
            assert!(segs.len() > 2, "{mode:?}: no rotation");
            let active = *segs.last().unwrap();
            let path = dir.path().join(segment_file_name(active.id));
            let physical = std::fs::metadata(&path).unwrap().len();
            if prealloc {
                assert!(
                    physical > active.len,
                    "{mode:?}: no zero fill ahead of the writer"
                );
            } else {
                assert_eq!(physical, active.len);
            }
            // Sealed segments carry no zero fill.
            for s in &segs[..segs.len() - 1] {
                let p = dir.path().join(segment_file_name(s.id));
                assert_eq!(std::fs::metadata(p).unwrap().len(), s.len);
            }
            let image = copy_dir(dir.path());
            wal.close().await.unwrap();
            drop(wal);
            // Close seals the tail: trailer appended, zero fill released.
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                active.len + wal_api::format::TRAILER_LEN as u64,
                "{mode:?}: zero fill not released on close"
            );
            for d in [dir.path(), image.path()] {
                let store = FsStore::open_with(d, fs.clone()).unwrap();
                let wal = Wal::open(store, opts.clone()).await.unwrap();
                let got: Vec<_> = wal.read(Lsn(1)..).collect().await;
                assert_eq!(got.len(), want.len(), "{mode:?} prealloc {prealloc}");
                for (r, w) in got.iter().zip(&want) {
                    assert_eq!(&r.as_ref().unwrap().data[..], &w[..]);
                }
                wal.close().await.unwrap();
            }
        }
    }
}
