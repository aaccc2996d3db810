//! Recovery by proof (format v2): the limits come from the log, damage in the unsynced
//! window is a torn tail even with good frames after it, damage to synced bytes is still
//! caught, and nothing with data behind it is deleted. Each test failed on format v1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::format::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, TIMESTAMP_LEN};
use wal_api::{Error, Lsn, Never, RecoveryMode, SegmentId, SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

async fn records(wal: &Wal<MemoryStore>) -> Vec<(u64, Vec<u8>)> {
    wal.read(Lsn(1)..)
        .map(|r| {
            let r = r.unwrap();
            (r.lsn.0, r.data.to_vec())
        })
        .collect()
        .await
}

/// Reopening with smaller `max_record_size`/`max_batch_size` keeps every record: the
/// limits a frame is checked against come from the segment header.
#[tokio::test]
async fn reopening_with_smaller_limits_keeps_every_record() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    for i in 0..20u8 {
        wal.append(&[i; 50]).await.unwrap();
    }
    wal.append_batch(&[[1u8; 60], [2u8; 60]]).await.unwrap();
    drop(wal); // no close: the tail stays unsealed and is scanned
    let small = WalOptions::default().max_record_size(10).max_batch_size(10);
    let wal = Wal::open(store.clone(), small.clone()).await.unwrap();
    assert_eq!(records(&wal).await.len(), 22);
    drop(wal);
    let wal = Wal::open(store, WalOptions::default()).await.unwrap();
    assert_eq!(records(&wal).await.len(), 22);
}

/// A last segment whose header is zeroed but has frames and a trailer behind it is
/// corruption in every mode; it is never deleted as an unfinished creation.
#[tokio::test]
async fn zeroed_header_with_frames_behind_it_is_never_deleted() {
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
        RecoveryMode::SkipCorrupted,
    ] {
        let store = MemoryStore::new();
        let wal = Wal::open(store.clone(), WalOptions::default())
            .await
            .unwrap();
        for i in 0..5u8 {
            wal.append(&[i; 30]).await.unwrap();
        }
        wal.close().await.unwrap();
        drop(wal);
        let id = store.list().await.unwrap()[0].id;
        let before = store.segment_bytes(id).unwrap();
        store.tamper(id, |b| b[..SEGMENT_HEADER_LEN].fill(0));
        let r = Wal::open(store.clone(), WalOptions::default().recovery_mode(mode)).await;
        match mode {
            RecoveryMode::TolerateTornTail | RecoveryMode::AbsoluteConsistency => {
                assert!(matches!(r, Err(Error::Corrupt { .. })), "{mode:?}: {r:?}");
                assert!(store.segment_bytes(id).is_some(), "{mode:?}: deleted");
            }
            _ => {
                // Moved aside with every byte, never deleted.
                let q = store.quarantined();
                assert!(
                    q.iter().any(|(qid, _, b)| *qid == id
                        && b[SEGMENT_HEADER_LEN..] == before[SEGMENT_HEADER_LEN..]),
                    "{mode:?}: the segment's bytes are gone ({r:?})"
                );
            }
        }
    }
}

/// A newly created segment whose header was torn by a power loss (nothing written behind
/// it yet) is an unfinished creation: removed, and the log opens.
#[tokio::test]
async fn torn_header_of_a_new_segment_is_removed() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    wal.append(b"kept").await.unwrap();
    wal.rotate().await.unwrap();
    drop(wal);
    let segs = store.list().await.unwrap();
    let new = segs.last().unwrap().id;
    store.tamper(new, |b| {
        b.truncate(SEGMENT_HEADER_LEN - 9);
        b[20] ^= 0x55;
    });
    let wal = Wal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    assert_eq!(records(&wal).await.len(), 1);
    assert_eq!(wal.recovery_report().removed_incomplete, vec![new]);
}

/// A power cut during writeback: an earlier page of the unsynced tail is lost while a later
/// page (with whole frames) reached the disk. The default mode opens, cuts at the hole and
/// keeps every acknowledged record.
#[tokio::test]
async fn hole_in_the_unsynced_tail_is_cut_in_the_default_mode() {
    let store = MemoryStore::new();
    let opts = WalOptions::default().sync_policy(Never).write_buffer(0);
    let wal = Wal::open(store.clone(), opts).await.unwrap();
    for i in 0..10u8 {
        wal.append(&[i; 100]).await.unwrap();
    }
    wal.sync().await.unwrap();
    let acked = wal.durable_lsn();
    for i in 10..200u8 {
        wal.append(&[i; 100]).await.unwrap();
    }
    drop(wal);
    let id = store.list().await.unwrap()[0].id;
    let frame = FRAME_HEADER_LEN + TIMESTAMP_LEN + 100;
    let synced_end = SEGMENT_HEADER_LEN + 10 * frame;
    // Lose the 4 KiB page that follows the synced part; keep everything after it.
    let hole = synced_end.div_ceil(4096) * 4096;
    store.tamper(id, |b| b[hole..hole + 4096].fill(0));
    let wal = Wal::open(store, WalOptions::default()).await.unwrap();
    let got = records(&wal).await;
    assert!(got.len() as u64 >= acked.0, "{} < {acked}", got.len());
    assert!(got.iter().enumerate().all(|(i, (l, _))| *l == i as u64 + 1));
}

/// Damage to synced bytes is still caught: a later frame's watermark proves it.
#[tokio::test]
async fn damage_to_synced_bytes_is_refused_in_the_default_mode() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    for i in 0..10u8 {
        wal.append(&[i; 100]).await.unwrap(); // each durable before the next is written
    }
    drop(wal);
    let id = store.list().await.unwrap()[0].id;
    let third = SEGMENT_HEADER_LEN + 2 * (FRAME_HEADER_LEN + TIMESTAMP_LEN + 100);
    store.tamper(id, |b| b[third + FRAME_HEADER_LEN + 5] ^= 0x01);
    let r = Wal::open(store, WalOptions::default()).await;
    match r {
        Err(Error::Corrupt {
            segment, offset, ..
        }) => {
            assert_eq!((segment, offset), (id, third as u64));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A record whose payload holds a valid frame (written by the user, copied from another
/// segment) never becomes a record after a torn write or a flipped CRC bit.
#[tokio::test]
async fn frame_embedded_in_a_payload_never_becomes_a_record() {
    let donor = MemoryStore::new();
    let wal = Wal::open(donor.clone(), WalOptions::default())
        .await
        .unwrap();
    wal.append(b"INJECTED").await.unwrap();
    drop(wal);
    let donor_bytes = donor.segment_bytes(SegmentId(1)).unwrap();
    let embedded = donor_bytes[SEGMENT_HEADER_LEN..].to_vec();
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::SkipCorrupted] {
        let store = MemoryStore::new();
        let wal = Wal::open(store.clone(), WalOptions::default())
            .await
            .unwrap();
        wal.append(b"before").await.unwrap();
        wal.append(&embedded).await.unwrap();
        drop(wal);
        // Flip a CRC bit of the record that carries the frame.
        let at = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN + TIMESTAMP_LEN + 6;
        store.tamper(SegmentId(1), |b| b[at] ^= 0x80);
        let wal = Wal::open(store, WalOptions::default().recovery_mode(mode))
            .await
            .unwrap();
        let got = records(&wal).await;
        assert!(
            got.iter().all(|(_, d)| d != b"INJECTED"),
            "{mode:?}: the embedded frame became a record: {got:?}"
        );
        assert_eq!(got[0].1, b"before");
    }
}

/// A version 3 frame whose checksum holds but that sets a flag this version does not define
/// (a newer writer's) is never a torn tail, not even in the unsynced window of the newest
/// segment where damage is cut: the default mode refuses the log, naming the frame, and
/// `SkipCorrupted` steps over it and keeps every record around it. (Format v2 cut such a
/// frame, and every record after it, as a torn tail.)
#[tokio::test]
async fn an_unreadable_frame_is_never_a_torn_tail() {
    let store = MemoryStore::new();
    let opts = || WalOptions::default().sync_policy(Never).write_buffer(0);
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    for i in 1..=6u8 {
        wal.append(&[i; 50]).await.unwrap();
    }
    drop(wal);
    let frame = FRAME_HEADER_LEN + TIMESTAMP_LEN + 50;
    let third = SEGMENT_HEADER_LEN + 2 * frame;
    store.tamper(SegmentId(1), |b| {
        let salt = u64::from_le_bytes(b[32..40].try_into().unwrap());
        b[third + 29] |= 0x10; // the undefined bit 4
        let mut h = crc32fast::Hasher::new();
        h.update(&salt.to_le_bytes());
        h.update(&b[third + 4..third + frame]);
        let crc = h.finalize().to_le_bytes();
        b[third..third + 4].copy_from_slice(&crc);
    });
    let image = store.segment_bytes(SegmentId(1)).unwrap();
    match Wal::open(store.clone(), opts()).await {
        Err(Error::Corrupt {
            segment,
            offset,
            reason,
        }) => {
            assert_eq!((segment, offset), (SegmentId(1), third as u64));
            assert!(reason.contains("unknown frame flags"), "{reason}");
        }
        other => panic!(
            "expected Corrupt at the unreadable frame, got {:?}",
            other.err()
        ),
    }
    assert_eq!(
        store.segment_bytes(SegmentId(1)).unwrap(),
        image,
        "nothing was cut"
    );
    let wal = Wal::open(store, opts().recovery_mode(RecoveryMode::SkipCorrupted))
        .await
        .unwrap();
    let got: Vec<u64> = records(&wal).await.iter().map(|r| r.0).collect();
    assert_eq!(got, vec![1, 2, 4, 5, 6]);
}
