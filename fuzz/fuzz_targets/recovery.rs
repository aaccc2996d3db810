//! Recovery of a log whose segment holds arbitrary bytes after a valid header, in every
//! recovery mode: it either refuses with an error or opens a log whose records have
//! increasing LSNs (dense from 1 except under `SkipCorrupted`, which leaves holes where it
//! skipped frames) and that accepts and keeps a new record. It never panics. `open_replay`
//! of the same bytes opens or refuses alike, fails with the same kind of error, and hands out
//! exactly the records `open` then `replay` does, from a start the input picks.
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
    // The mode byte's high bits pick where the replays start.
    let from = Lsn(1 + u64::from(mode >> 2) % 8);
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
    store.insert_raw(SegmentId(1), seg.clone());
    let twin = MemoryStore::new();
    twin.insert_raw(SegmentId(1), seg);
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
        let mut fused = Vec::new();
        let one_pass = Wal::open_replay(twin, opts.clone(), from, |lsn, data| {
            fused.push((lsn, data.to_vec()));
            Ok(())
        })
        .await;
        let Ok(wal) = Wal::open(store.clone(), opts.clone()).await else {
            assert!(one_pass.is_err(), "open refused what open_replay opened");
            return;
        };
        let mut replayed = Vec::new();
        let two_pass = wal
            .replay(from.., |lsn, data| {
                replayed.push((lsn, data.to_vec()));
                Ok(())
            })
            .await;
        match (&two_pass, &one_pass) {
            (Ok(n), Ok((_, m))) => {
                assert_eq!(n, m, "records applied");
                assert_eq!(replayed, fused, "open_replay handed out other records");
            }
            (Err(a), Err(b)) => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "open + replay failed with {a:?}, open_replay with {b:?}"
            ),
            _ => panic!(
                "open + replay gave {:?}, open_replay gave {:?}",
                two_pass.as_ref().map(|n| *n),
                one_pass.as_ref().map(|(_, n)| *n)
            ),
        }
        drop(one_pass);
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
