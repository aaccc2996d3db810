//! Cases for recovery: torn tails, zero fill, corruption in every recovery mode, segment gaps,
//! unfinished creations, idempotence.

use std::sync::Arc;

use wal_api::format::FRAME_HEADER_LEN;
use wal_api::{Error, Lsn, RecoveryMode, SegmentId, SegmentStore, Wal, WalOptions};

use super::{
    assert_records, close_and_reopen, fill, frame_offsets, open, raw, small, stop_unsealed,
    NO_TAMPER,
};
use crate::support::{collect, collect_until_error};
use crate::{Outcome, StoreFactory};

async fn last_segment<S: SegmentStore>(s: &S) -> SegmentId {
    s.list().await.expect("list").last().expect("a segment").id
}

/// Cutting the last frame at every byte recovers the records before it, and appends go on.
pub async fn wal_torn_tail_every_byte_recovers<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let want = fill(&wal, 1, 5, 40).await;
    stop_unsealed(wal).await;
    let s = f.reopen(&g).await;
    let id = last_segment(&s).await;
    drop(s);
    let Some(orig) = raw(&*f, &g, id).await else {
        return Outcome::Skipped(NO_TAMPER.into());
    };
    let frames = frame_offsets(&orig);
    let (start, len) = *frames.last().expect("frames");
    assert_eq!(start + len, orig.len());
    for cut in start + 1..start + len {
        let o = orig.clone();
        f.tamper(&g, id, &mut |b: &mut Vec<u8>| *b = o[..cut].to_vec())
            .await;
        let wal = open(f.reopen(&g).await, WalOptions::default()).await;
        assert_eq!(wal.written_lsn(), Lsn(4), "cut at {cut}");
        assert_eq!(wal.recovery_report().torn_bytes, (cut - start) as u64);
        assert_records(&collect(&wal, Lsn(1)..).await, 1, &want[..4]);
        assert_eq!(wal.append(b"again").await.expect("append"), Lsn(5));
        stop_unsealed(wal).await;
        let wal = open(f.reopen(&g).await, WalOptions::default()).await;
        let got = collect(&wal, Lsn(1)..).await;
        assert_eq!(got.len(), 5);
        assert_eq!(&got[4].data[..], b"again");
        stop_unsealed(wal).await;
    }
    Outcome::Passed
}

/// A zero-filled tail (preallocation) is a clean end.
pub async fn wal_zero_filled_tail_is_clean<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let mut want = fill(&wal, 1, 10, 40).await;
    stop_unsealed(wal).await;
    let s = f.reopen(&g).await;
    let id = last_segment(&s).await;
    drop(s);
    if !f
        .tamper(&g, id, &mut |b: &mut Vec<u8>| {
            b.extend_from_slice(&[0u8; 4096])
        })
        .await
    {
        return Outcome::Skipped(NO_TAMPER.into());
    }
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let wal = open(
            f.reopen(&g).await,
            WalOptions::default().recovery_mode(mode),
        )
        .await;
        assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
        drop(wal);
    }
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    want.extend(fill(&wal, 11, 3, 40).await);
    let wal = close_and_reopen(&*f, &g, wal, WalOptions::default()).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    Outcome::Passed
}

/// A bad frame followed by good frames in the last segment is corruption, not a torn tail;
/// point-in-time keeps what precedes it, skip-corrupted keeps everything else.
pub async fn wal_corrupt_tail_frame_before_good_is_corruption<F: StoreFactory>(
    f: Arc<F>,
) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let want = fill(&wal, 1, 5, 40).await;
    stop_unsealed(wal).await;
    let s = f.reopen(&g).await;
    let id = last_segment(&s).await;
    drop(s);
    let Some(orig) = raw(&*f, &g, id).await else {
        return Outcome::Skipped(NO_TAMPER.into());
    };
    let (start, _) = frame_offsets(&orig)[2];
    let restore = |o: Vec<u8>| move |b: &mut Vec<u8>| *b = o.clone();
    let mut bad = orig.clone();
    bad[start + FRAME_HEADER_LEN] ^= 0x40;
    f.tamper(&g, id, &mut restore(bad.clone())).await;
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let r = Wal::open(
            f.reopen(&g).await,
            WalOptions::default().recovery_mode(mode),
        )
        .await;
        match r {
            Err(Error::Corrupt {
                segment, offset, ..
            }) => {
                assert_eq!(segment, id);
                assert_eq!(offset, start as u64);
            }
            other => panic!("{mode:?}: expected corruption, got {other:?}"),
        }
    }
    let skip = WalOptions::default().recovery_mode(RecoveryMode::SkipCorrupted);
    let wal = open(f.reopen(&g).await, skip).await;
    let got = collect(&wal, Lsn(1)..).await;
    let lsns: Vec<u64> = got.iter().map(|r| r.lsn.0).collect();
    assert_eq!(lsns, vec![1, 2, 4, 5]);
    assert_eq!(&got[2].data[..], &want[3][..]);
    // The damaged tail was sealed where its good part ends; new records go to a new segment.
    let segs = wal.segments();
    assert!(segs.iter().any(|s| s.id == id && s.sealed), "{segs:?}");
    assert_eq!(segs.last().map(|s| s.base), Some(Lsn(6)));
    drop(wal);
    f.tamper(&g, id, &mut restore(bad)).await;
    let pit = WalOptions::default().recovery_mode(RecoveryMode::PointInTime);
    let wal = open(f.reopen(&g).await, pit).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want[..2]);
    // The damaged segment and the (empty) one the skip-mode open started after it.
    let q = wal.recovery_report().quarantined.clone();
    assert!(q.contains(&id), "{q:?}");
    assert!(q.iter().all(|&q| q >= id), "{q:?}");
    assert_eq!(wal.append(b"after").await.expect("append"), Lsn(3));
    Outcome::Passed
}

/// Writes 60 records over small segments and flips a payload byte of LSN 2 (segment 1,
/// sealed). Returns the guard and the flipped frame's offset, or None without tampering.
async fn corrupt_sealed<F: StoreFactory>(f: &F) -> Option<(F::Guard, Vec<Vec<u8>>, u64)> {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 60, 40).await;
    assert!(wal.segments()[0].sealed);
    wal.close().await.expect("close");
    drop(wal);
    let orig = raw(f, &g, SegmentId(1)).await?;
    let (start, _) = frame_offsets(&orig)[1];
    let mut bad = orig;
    bad[start + FRAME_HEADER_LEN] ^= 0x01;
    f.tamper(&g, SegmentId(1), &mut |b: &mut Vec<u8>| *b = bad.clone())
        .await;
    Some((g, want, start as u64))
}

/// Default mode opens (sealed segments are checked when read) and reading reports the
/// corruption; `verify` finds it too.
pub async fn wal_corrupt_sealed_frame_tolerate_reports_on_read<F: StoreFactory>(
    f: Arc<F>,
) -> Outcome {
    let Some((g, want, at)) = corrupt_sealed(&*f).await else {
        return Outcome::Skipped(NO_TAMPER.into());
    };
    let wal = open(f.reopen(&g).await, small()).await;
    let (got, err) = collect_until_error(&wal, Lsn(1)..).await;
    assert_records(&got, 1, &want[..1]);
    assert!(
        matches!(err, Some(Error::Corrupt { segment: SegmentId(1), offset, .. }) if offset == at),
        "got {err:?}"
    );
    let v = wal.verify().await;
    assert!(
        matches!(
            v,
            Err(Error::Corrupt {
                segment: SegmentId(1),
                ..
            })
        ),
        "got {v:?}"
    );
    Outcome::Passed
}

/// Absolute consistency refuses to open a log with a bad byte in a sealed segment.
pub async fn wal_corrupt_sealed_frame_absolute_fails_open<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let Some((g, _, at)) = corrupt_sealed(&*f).await else {
        return Outcome::Skipped(NO_TAMPER.into());
    };
    let r = Wal::open(
        f.reopen(&g).await,
        small().recovery_mode(RecoveryMode::AbsoluteConsistency),
    )
    .await;
    assert!(
        matches!(r, Err(Error::Corrupt { segment: SegmentId(1), offset, .. }) if offset == at),
        "got {r:?}"
    );
    Outcome::Passed
}

/// Point in time recovers the records before the bad frame, quarantines the rest, and goes on.
pub async fn wal_corrupt_sealed_frame_point_in_time_keeps_prefix<F: StoreFactory>(
    f: Arc<F>,
) -> Outcome {
    let Some((g, want, _)) = corrupt_sealed(&*f).await else {
        return Outcome::Skipped(NO_TAMPER.into());
    };
    let opts = small().recovery_mode(RecoveryMode::PointInTime);
    let wal = open(f.reopen(&g).await, opts.clone()).await;
    assert_eq!(wal.written_lsn(), Lsn(1));
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want[..1]);
    assert!(wal.recovery_report().quarantined.contains(&SegmentId(1)));
    assert_eq!(wal.append(b"new").await.expect("append"), Lsn(2));
    let wal = close_and_reopen(&*f, &g, wal, opts).await;
    assert_eq!(wal.written_lsn(), Lsn(2));
    Outcome::Passed
}

/// Skip-corrupted skips exactly the bad frame and keeps every other record.
pub async fn wal_corrupt_sealed_frame_skip_skips_exactly_it<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let Some((g, want, _)) = corrupt_sealed(&*f).await else {
        return Outcome::Skipped(NO_TAMPER.into());
    };
    let wal = open(
        f.reopen(&g).await,
        small().recovery_mode(RecoveryMode::SkipCorrupted),
    )
    .await;
    let got = collect(&wal, Lsn(1)..).await;
    let lsns: Vec<u64> = got.iter().map(|r| r.lsn.0).collect();
    let expect: Vec<u64> = (1..=60).filter(|&l| l != 2).collect();
    assert_eq!(lsns, expect);
    for r in &got {
        assert_eq!(&r.data[..], &want[r.lsn.0 as usize - 1][..]);
    }
    Outcome::Passed
}

/// A missing middle segment is corruption, reported with both neighbours' ids.
pub async fn wal_segment_gap_is_corruption_naming_both<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    fill(&wal, 1, 100, 40).await;
    assert!(wal.segments().len() >= 4);
    wal.close().await.expect("close");
    drop(wal);
    let s = f.reopen(&g).await;
    s.delete(SegmentId(2)).await.expect("delete");
    let r = Wal::open(s, small()).await;
    match r {
        Err(Error::Corrupt {
            segment, reason, ..
        }) => {
            assert_eq!(segment, SegmentId(3));
            assert!(reason.contains("segment 1"), "reason: {reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    Outcome::Passed
}

/// A last segment whose creation never completed (shorter than a header) is removed, and
/// the log continues from the previous one.
pub async fn wal_incomplete_segment_creation_is_removed<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let want = fill(&wal, 1, 10, 40).await;
    wal.rotate().await.expect("rotate");
    let id = wal.segments().last().expect("segment").id;
    wal.close().await.expect("close");
    drop(wal);
    if !f
        .tamper(&g, id, &mut |b: &mut Vec<u8>| b.truncate(10))
        .await
    {
        return Outcome::Skipped(NO_TAMPER.into());
    }
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    assert_eq!(wal.recovery_report().removed_incomplete, vec![id]);
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    assert_eq!(wal.append(b"next").await.expect("append"), Lsn(11));
    let wal = close_and_reopen(&*f, &g, wal, WalOptions::default()).await;
    assert_eq!(collect(&wal, Lsn(1)..).await.len(), 11);
    Outcome::Passed
}

/// Recovering twice gives the same log; the second recovery has nothing to repair.
pub async fn wal_recovery_is_idempotent<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    fill(&wal, 1, 20, 40).await;
    stop_unsealed(wal).await;
    let s = f.reopen(&g).await;
    let id = last_segment(&s).await;
    drop(s);
    if !f
        .tamper(&g, id, &mut |b: &mut Vec<u8>| {
            let n = b.len();
            b.truncate(n - 7);
            b.extend_from_slice(&[0xAB; 3]);
        })
        .await
    {
        return Outcome::Skipped(NO_TAMPER.into());
    }
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    assert!(wal.recovery_report().torn_bytes > 0);
    let first = collect(&wal, Lsn(1)..).await;
    assert_eq!(first.len(), 19);
    drop(wal);
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    assert_eq!(wal.recovery_report().torn_bytes, 0);
    assert_eq!(collect(&wal, Lsn(1)..).await, first);
    Outcome::Passed
}
