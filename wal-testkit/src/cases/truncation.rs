//! Cases for prefix and suffix truncation.

use std::sync::Arc;

use wal_api::{Error, Lsn, WalOptions};

use super::{assert_records, close_and_reopen, fill, open, small, NO_CRASH};
use crate::support::collect;
use crate::{Outcome, StoreFactory};

/// Prefix truncation drops whole segments below the LSN, durably.
pub async fn wal_truncate_prefix_drops_whole_segments<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 100, 40).await;
    let before = wal.segments().len();
    let first = wal.truncate_prefix(Lsn(50)).await.expect("truncate");
    let segs = wal.segments();
    assert!(segs.len() < before);
    assert_eq!(segs[0].base, first);
    assert!(first <= Lsn(50));
    if let Some(second) = segs.get(1) {
        assert!(second.base > Lsn(50), "segment holding LSN 50 was dropped");
    }
    let got = collect(&wal, first..).await;
    assert_records(&got, first.0, &want[first.0 as usize - 1..]);
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(wal.first_lsn(), first);
    assert_eq!(wal.written_lsn(), Lsn(100));
    Outcome::Passed
}

/// The active segment survives any prefix truncation.
pub async fn wal_truncate_prefix_never_drops_active<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small()).await;
    fill(&wal, 1, 60, 40).await;
    let active = *wal.segments().last().expect("segment");
    wal.truncate_prefix(Lsn(10_000)).await.expect("truncate");
    let segs = wal.segments();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].id, active.id);
    assert_eq!(
        collect(&wal, active.base..).await.len() as u64,
        60 - active.base.0 + 1
    );
    assert_eq!(wal.append(b"more").await.expect("append"), Lsn(61));
    Outcome::Passed
}

/// Suffix truncation discards later records; the next append gets `lsn + 1`.
pub async fn wal_truncate_suffix_discards_and_continues<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 100, 40).await;
    wal.truncate_suffix(Lsn(40)).await.expect("truncate");
    assert_eq!(wal.written_lsn(), Lsn(40));
    assert_eq!(wal.append(b"replaced").await.expect("append"), Lsn(41));
    let got = collect(&wal, Lsn(1)..).await;
    assert_records(&got[..40], 1, &want[..40]);
    assert_eq!(got.len(), 41);
    assert_eq!(&got[40].data[..], b"replaced");
    wal.truncate_suffix(Lsn(0)).await.expect("truncate all");
    assert_eq!(wal.written_lsn(), Lsn(0));
    assert_eq!(wal.append(b"first again").await.expect("append"), Lsn(1));
    Outcome::Passed
}

/// Suffix truncation survives reopen and (where modelled) power loss.
pub async fn wal_truncate_suffix_is_durable_across_reopen<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 100, 40).await;
    wal.truncate_suffix(Lsn(30)).await.expect("truncate");
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want[..30]);
    // No close this time: only the truncation's own durability holds.
    wal.truncate_suffix(Lsn(20)).await.expect("truncate");
    drop(wal);
    let Some(s) = f.crash(&g, 3).await else {
        return Outcome::Skipped(format!("reopen checked; {NO_CRASH}"));
    };
    let wal = open(s, small()).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want[..20]);
    Outcome::Passed
}

/// Truncating into the middle of an atomic batch is refused.
pub async fn wal_truncate_suffix_inside_batch_is_refused<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    wal.append_batch(&[&b"a"[..], b"b", b"c", b"d", b"e"])
        .await
        .expect("batch");
    wal.append(b"f").await.expect("append");
    let r = wal.truncate_suffix(Lsn(3)).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
    assert_eq!(wal.written_lsn(), Lsn(6));
    wal.truncate_suffix(Lsn(5)).await.expect("at the batch end");
    assert_eq!(collect(&wal, Lsn(1)..).await.len(), 5);
    Outcome::Passed
}
