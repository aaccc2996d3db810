//! Recovery of a log whose segment holds arbitrary bytes after a valid header, in every
//! recovery mode: it either refuses with an error or opens a log whose records have
//! increasing LSNs (dense from 1 except under `SkipCorrupted`, which leaves holes where it
//! skipped frames) and that accepts and keeps a new record. It never panics.
#![no_main]

use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use wal_api::format::SegmentHeader;
use wal_api::{Lsn, RecoveryMode, SegmentId, Visibility, Wal, WalOptions};
use wal_memory::MemoryStore;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mode = match mode % 4 {
        0 => RecoveryMode::TolerateTornTail,
        1 => RecoveryMode::AbsoluteConsistency,
        2 => RecoveryMode::PointInTime,
        _ => RecoveryMode::SkipCorrupted,
    };
    let mut seg = SegmentHeader::new(SegmentId(1), Lsn(1), 7)
        .encode()
        .to_vec();
    seg.extend_from_slice(body);
    let store = MemoryStore::new();
    store.insert_raw(SegmentId(1), seg);
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let opts = WalOptions::default()
            .recovery_mode(mode)
            .max_record_size(1 << 16);
        let Ok(wal) = Wal::open(store.clone(), opts.clone()).await else {
            return;
        };
        let holes = mode == RecoveryMode::SkipCorrupted;
        let mut next = 1;
        let mut records = wal.read_with(Lsn(1).., Visibility::Written);
        while let Some(r) = records.next().await {
            let Ok(r) = r else { break };
            if holes {
                assert!(r.lsn.0 >= next, "LSNs increase");
            } else {
                assert_eq!(r.lsn.0, next, "LSNs are dense from 1");
            }
            next = r.lsn.0 + 1;
        }
        let lsn = wal
            .append(b"after recovery")
            .await
            .expect("append after recovery");
        assert_eq!(lsn, wal.written_lsn());
        drop(wal);
        let wal = Wal::open(store, opts).await.expect("reopen after recovery");
        assert!(wal.written_lsn() >= lsn, "the new record survives a reopen");
    });
});
