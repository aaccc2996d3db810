//! A frame whose checksum is good but whose LSN is out of place (a duplicated or transplanted
//! frame inside a sealed segment that open checks by trailer only) is corruption to a
//! reader, never a record handed out under the wrong LSN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::format::{encode_record, SegmentHeader, Trailer};
use wal_api::{Error, Lsn, RecoveryMode, SegmentId, Wal, WalOptions};
use wal_memory::MemoryStore;

/// Segment 1 (sealed): LSNs 1, 2, then a second, valid frame for LSN 2 where LSN 3 belongs;
/// segment 2: LSN 4.
fn store() -> MemoryStore {
    let mut seg = SegmentHeader::new(SegmentId(1), Lsn(1), 7)
        .encode()
        .to_vec();
    encode_record(&mut seg, 7, Lsn(1), Lsn(1).prev(), b"one");
    encode_record(&mut seg, 7, Lsn(2), Lsn(2).prev(), b"two");
    encode_record(&mut seg, 7, Lsn(2), Lsn(2).prev(), b"TWO");
    let trailer = Trailer {
        last_lsn: Lsn(3),
        records: 3,
        body_len: seg.len() as u64,
        body_crc: crc32fast::hash(&seg),
    }
    .encode(7, Lsn(0));
    seg.extend_from_slice(&trailer);
    let mut next = SegmentHeader::new(SegmentId(2), Lsn(4), 7)
        .encode()
        .to_vec();
    encode_record(&mut next, 7, Lsn(4), Lsn(4).prev(), b"four");
    let s = MemoryStore::new();
    s.insert_raw(SegmentId(1), seg);
    s.insert_raw(SegmentId(2), next);
    s
}

#[tokio::test]
async fn default_mode_reports_the_out_of_place_frame() {
    let wal = Wal::open(store(), WalOptions::default()).await.unwrap();
    let got: Vec<_> = wal.read(Lsn(1)..).collect().await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap().lsn, Lsn(1));
    assert_eq!(got[1].as_ref().unwrap().lsn, Lsn(2));
    match &got[2] {
        Err(Error::Corrupt { segment, .. }) => assert_eq!(*segment, SegmentId(1)),
        other => panic!("expected corruption, got {other:?}"),
    }
    let mut seen = Vec::new();
    let r = wal
        .replay(Lsn(1).., |lsn, _| {
            seen.push(lsn);
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(Error::Corrupt { .. })), "{r:?}");
    assert_eq!(seen, vec![Lsn(1), Lsn(2)]);
}

#[tokio::test]
async fn skip_corrupted_skips_it_and_keeps_lsns_increasing() {
    let wal = Wal::open(
        store(),
        WalOptions::default().recovery_mode(RecoveryMode::SkipCorrupted),
    )
    .await
    .unwrap();
    let got: Vec<Lsn> = wal.read(Lsn(1)..).map(|r| r.unwrap().lsn).collect().await;
    assert_eq!(got, vec![Lsn(1), Lsn(2), Lsn(4)]);
}
