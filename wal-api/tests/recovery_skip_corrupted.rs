//! `SkipCorrupted` on a damaged last segment: the skipped stretches are reported, and the
//! segment is sealed where its good part ends, so new records go to a fresh segment and
//! are never put next to bytes that were judged bad.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::format::{encode_record, SegmentHeader};
use wal_api::{Lsn, RecoveryMode, SegmentId, SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

#[tokio::test]
async fn damaged_tail_is_sealed_and_new_records_survive() {
    let mut seg = SegmentHeader::new(SegmentId(1), Lsn(1), 7)
        .encode()
        .to_vec();
    encode_record(&mut seg, 7, Lsn(1), Lsn(1).prev(), b"one");
    let bad = seg.len();
    encode_record(&mut seg, 7, Lsn(2), Lsn(2).prev(), b"two");
    seg[bad + 24] ^= 0x55; // LSN 2 fails its checksum
    encode_record(&mut seg, 7, Lsn(3), Lsn(3).prev(), b"three");
    seg.extend_from_slice(&[0xAB; 7]); // a torn frame at the end
    let store = MemoryStore::new();
    store.insert_raw(SegmentId(1), seg);
    let opts = WalOptions::default().recovery_mode(RecoveryMode::SkipCorrupted);

    let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
    let report = wal.recovery_report();
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].0, SegmentId(1));
    assert_eq!(report.torn_bytes, 7);
    let lsn = wal.append(b"four").await.unwrap();
    assert_eq!(lsn, Lsn(4));
    let segs = wal.segments();
    assert_eq!(segs.len(), 2);
    assert!(segs[0].sealed, "the damaged segment is sealed");
    assert_eq!(segs[1].base, Lsn(4));
    drop(wal);

    for _ in 0..2 {
        let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
        let got: Vec<(Lsn, Vec<u8>)> = wal
            .read(Lsn(1)..)
            .map(|r| {
                let r = r.unwrap();
                (r.lsn, r.data.to_vec())
            })
            .collect()
            .await;
        assert_eq!(
            got,
            vec![
                (Lsn(1), b"one".to_vec()),
                (Lsn(3), b"three".to_vec()),
                (Lsn(4), b"four".to_vec()),
            ]
        );
        assert_eq!(store.list().await.unwrap().len(), 2);
    }
}
