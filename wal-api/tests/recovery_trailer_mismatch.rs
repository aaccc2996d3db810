//! A sealed segment whose trailer disagrees with its header (frames and trailer written for
//! another base LSN, under a valid header) is not trusted by the trailer-only check at open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::{Error, Lsn, RecoveryMode, SegmentId, Wal, WalOptions};
use wal_memory::MemoryStore;

/// Segment 2 of a log (records 7..=12, sealed) under a valid header that says segment 1,
/// base LSN 1: the only segment of a new store.
async fn transplanted() -> MemoryStore {
    let src = MemoryStore::new();
    let wal = Wal::open(src.clone(), WalOptions::default()).await.unwrap();
    for i in 1..=6u32 {
        wal.append(&i.to_le_bytes()).await.unwrap();
    }
    wal.rotate().await.unwrap();
    for i in 7..=12u32 {
        wal.append(&i.to_le_bytes()).await.unwrap();
    }
    wal.rotate().await.unwrap();
    wal.close().await.unwrap();
    let mut bytes = src.segment_bytes(SegmentId(2)).unwrap();
    // Same salt (so its frames validate), other id and base.
    let orig = SegmentHeader::decode(&bytes).unwrap();
    let header = SegmentHeader {
        id: SegmentId(1),
        base: Lsn(1),
        ..orig
    }
    .encode();
    bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&header);
    let dst = MemoryStore::new();
    dst.insert_raw(SegmentId(1), bytes);
    dst
}

#[tokio::test]
async fn trailer_that_disagrees_with_the_header_is_scanned_and_refused() {
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let store = transplanted().await;
        match Wal::open(store, WalOptions::default().recovery_mode(mode)).await {
            Err(Error::Corrupt { segment, .. }) => assert_eq!(segment, SegmentId(1)),
            Err(e) => panic!("{mode:?}: unexpected error {e}"),
            Ok(wal) => {
                let first = wal.read(Lsn(1)..).next().await;
                panic!("{mode:?}: opened; first record {first:?}");
            }
        }
    }
}

#[tokio::test]
async fn point_in_time_keeps_nothing_of_it() {
    let store = transplanted().await;
    let wal = Wal::open(
        store,
        WalOptions::default().recovery_mode(RecoveryMode::PointInTime),
    )
    .await
    .unwrap();
    assert_eq!(wal.written_lsn(), Lsn(0));
    assert_eq!(wal.append(b"x").await.unwrap(), Lsn(1));
}

/// Under `SkipCorrupted`, a sealed last segment with a skipped frame whose later frames run
/// past the LSN its trailer closes at: recovery must settle on one end LSN, so a record
/// appended after it survives the next open (it was quarantined with the new tail before).
#[tokio::test]
async fn skip_corrupted_settles_one_end_for_a_segment_with_frames_past_its_trailer() {
    use wal_api::format::{encode_record, Trailer};
    let mut seg = SegmentHeader::new(SegmentId(1), Lsn(1), 7)
        .encode()
        .to_vec();
    for lsn in 1..=3u64 {
        encode_record(
            &mut seg,
            7,
            Lsn(lsn),
            Lsn(lsn).prev(),
            format!("r{lsn}").as_bytes(),
        );
    }
    let bad = seg.len();
    encode_record(&mut seg, 7, Lsn(4), Lsn(4).prev(), b"r4");
    seg[bad + 24] ^= 0xFF; // the payload of LSN 4: fails its CRC
    for lsn in 5..=6u64 {
        encode_record(
            &mut seg,
            7,
            Lsn(lsn),
            Lsn(lsn).prev(),
            format!("r{lsn}").as_bytes(),
        );
    }
    let body_crc = crc32fast::hash(&seg);
    let trailer = Trailer {
        last_lsn: Lsn(4),
        records: 4,
        body_len: seg.len() as u64,
        body_crc,
    }
    .encode(7, Lsn(0));
    seg.extend_from_slice(&trailer);
    let store = MemoryStore::new();
    store.insert_raw(SegmentId(1), seg);
    let opts = WalOptions::default().recovery_mode(RecoveryMode::SkipCorrupted);
    let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
    let lsn = wal.append(b"acknowledged").await.unwrap();
    drop(wal);
    let wal = Wal::open(store, opts).await.unwrap();
    assert!(wal.written_lsn() >= lsn, "lost LSN {lsn}");
    let got: Vec<_> = wal.read(lsn..=lsn).collect().await;
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].as_ref().unwrap().data[..], b"acknowledged");
}
