//! Cases for appending and reading: dense LSNs, batches, limits, rotation, close and reopen,
//! ranges, replay, typed records.

use std::sync::Arc;

use wal_api::{BincodeCodec, Codec, Error, Lsn, Never, WalOptions};

use super::{assert_records, close_and_reopen, fill, open, small};
use crate::support::{collect, collect_until_error, payload};
use crate::{Outcome, StoreFactory};

/// LSNs start at 1 and are dense.
pub async fn wal_lsns_are_dense_from_one<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    for i in 1..=10u64 {
        assert_eq!(wal.append(b"x").await.expect("append"), Lsn(i));
    }
    assert_eq!(wal.written_lsn(), Lsn(10));
    assert_eq!(wal.durable_lsn(), Lsn(10));
    Outcome::Passed
}

/// What was appended reads back, byte for byte, in LSN order.
pub async fn wal_append_then_read<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let want = fill(&wal, 1, 50, 300).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    Outcome::Passed
}

/// A batch gets consecutive LSNs between its neighbours.
pub async fn wal_batch_gets_consecutive_lsns<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    assert_eq!(wal.append(b"a").await.expect("append"), Lsn(1));
    let batch: Vec<Vec<u8>> = (0..5).map(|i| payload(i, 10 + i as usize)).collect();
    let r = wal.append_batch(&batch).await.expect("batch");
    assert_eq!((r.first, r.last), (Lsn(2), Lsn(6)));
    assert_eq!(wal.append(b"b").await.expect("append"), Lsn(7));
    let mut want = vec![b"a".to_vec()];
    want.extend(batch);
    want.push(b"b".to_vec());
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    Outcome::Passed
}

/// An empty batch is refused with a clear error.
pub async fn wal_empty_batch_is_rejected<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let empty: Vec<Vec<u8>> = Vec::new();
    let r = wal.append_batch(&empty).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
    assert_eq!(wal.append(b"ok").await.expect("append"), Lsn(1));
    Outcome::Passed
}

/// Records and batches over the limits are refused and the log goes on.
pub async fn wal_record_too_large_is_rejected<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let mut opts = WalOptions::default().max_record_size(100);
    opts.max_batch_size = 300;
    let wal = open(s, opts).await;
    let r = wal.append(&[0u8; 101]).await;
    assert!(
        matches!(
            r,
            Err(Error::RecordTooLarge {
                size: 101,
                max: 100
            })
        ),
        "got {r:?}"
    );
    let big = vec![vec![0u8; 90]; 4];
    let r = wal.append_batch(&big).await;
    assert!(matches!(r, Err(Error::RecordTooLarge { .. })), "got {r:?}");
    assert_eq!(wal.append(&[0u8; 100]).await.expect("append"), Lsn(1));
    Outcome::Passed
}

/// Segments rotate at the target size; all but the last are sealed and verify.
pub async fn wal_rotation_seals_segments<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 100, 60).await;
    let segs = wal.segments();
    assert!(segs.len() >= 3, "only {} segments", segs.len());
    for (i, seg) in segs.iter().enumerate() {
        assert_eq!(
            seg.sealed,
            i + 1 < segs.len(),
            "segment {} sealed flag",
            seg.id
        );
        assert!(seg.len <= 1024, "segment {} is {} bytes", seg.id, seg.len);
    }
    for w in segs.windows(2) {
        assert_eq!(w[1].id, w[0].id.next());
    }
    assert_eq!(wal.verify().await.expect("verify"), 100);
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    assert_eq!(wal.verify().await.expect("verify"), 100);
    Outcome::Passed
}

/// A clean close seals the tail; the next open starts a fresh segment after it.
pub async fn wal_clean_close_seals_the_tail<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let want = fill(&wal, 1, 10, 40).await;
    let wal = close_and_reopen(&*f, &g, wal, WalOptions::default()).await;
    let segs = wal.segments();
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert!(segs[0].sealed && !segs[1].sealed);
    assert_eq!(segs[1].base, Lsn(11));
    assert_eq!(wal.recovery_report().torn_bytes, 0);
    assert_eq!(wal.verify().await.expect("verify"), 10);
    // Closing a log with an empty tail does not pile up empty segments.
    let wal = close_and_reopen(&*f, &g, wal, WalOptions::default()).await;
    assert_eq!(wal.segments().len(), 2);
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    Outcome::Passed
}

/// Close and reopen recovers every record and continues the LSNs.
pub async fn wal_reopen_recovers_everything<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let mut want = fill(&wal, 1, 150, 40).await;
    let batch: Vec<Vec<u8>> = (0..20).map(|i| payload(1000 + i, 5)).collect();
    wal.append_batch(&batch).await.expect("batch");
    want.extend(batch);
    let wal = close_and_reopen(&*f, &g, wal, small()).await;
    assert_eq!(wal.written_lsn(), Lsn(170));
    assert_eq!(wal.durable_lsn(), Lsn(170));
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    assert_eq!(wal.append(b"next").await.expect("append"), Lsn(171));
    Outcome::Passed
}

/// Range bounds are honoured; a range past the end is empty.
pub async fn wal_read_range_bounds<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small()).await;
    fill(&wal, 1, 40, 50).await;
    let lsns = |v: Vec<wal_api::Record>| v.iter().map(|r| r.lsn.0).collect::<Vec<_>>();
    assert_eq!(
        lsns(collect(&wal, Lsn(5)..Lsn(10)).await),
        (5..10).collect::<Vec<_>>()
    );
    assert_eq!(
        lsns(collect(&wal, Lsn(5)..=Lsn(10)).await),
        (5..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        lsns(collect(&wal, Lsn(35)..).await),
        (35..=40).collect::<Vec<_>>()
    );
    assert!(collect(&wal, Lsn(41)..).await.is_empty());
    assert_eq!(lsns(collect(&wal, ..Lsn(3)).await), vec![1, 2]);
    Outcome::Passed
}

/// `replay` hands out the same records as `read`, honours ranges and visibility, and stops at
/// the first error `apply` returns.
pub async fn wal_replay_matches_read<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small().sync_policy(Never)).await;
    let want = fill(&wal, 1, 120, 60).await;
    wal.append_batch(&[&b"b1"[..], b"b2"]).await.expect("batch");
    wal.sync().await.expect("sync");
    wal.append(b"not durable").await.expect("append");
    let mut got = Vec::new();
    let n = wal
        .replay(Lsn(1).., |lsn, data| {
            got.push((lsn, data.to_vec()));
            Ok(())
        })
        .await
        .expect("replay");
    assert_eq!(n, 122, "durable records only");
    let read: Vec<(Lsn, Vec<u8>)> = collect(&wal, Lsn(1)..)
        .await
        .into_iter()
        .map(|r| (r.lsn, r.data.to_vec()))
        .collect();
    assert_eq!(got, read);
    assert_eq!(
        &got[..120]
            .iter()
            .map(|(_, d)| d.clone())
            .collect::<Vec<_>>(),
        &want
    );
    let mut part = Vec::new();
    wal.replay(Lsn(50)..=Lsn(60), |lsn, _| {
        part.push(lsn.0);
        Ok(())
    })
    .await
    .expect("replay");
    assert_eq!(part, (50..=60).collect::<Vec<_>>());
    let mut seen = 0;
    let r = wal
        .replay(Lsn(1).., |lsn, _| {
            seen += 1;
            if lsn == Lsn(7) {
                Err(Error::InvalidArgument("stop".into()))
            } else {
                Ok(())
            }
        })
        .await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
    assert_eq!(seen, 7);
    Outcome::Passed
}

/// Reading below the first LSN after prefix truncation reports `Trimmed`.
pub async fn wal_read_below_first_is_trimmed<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small()).await;
    fill(&wal, 1, 100, 50).await;
    let first = wal.truncate_prefix(Lsn(60)).await.expect("truncate");
    assert!(first > Lsn(1) && first <= Lsn(60), "first = {first}");
    let (got, err) = collect_until_error(&wal, Lsn(1)..).await;
    assert!(got.is_empty());
    assert!(
        matches!(err, Some(Error::Trimmed { requested: Lsn(1), first: f2 }) if f2 == first),
        "got {err:?}"
    );
    Outcome::Passed
}

/// After close every call fails with `Closed`.
pub async fn wal_closed_log_rejects_calls<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    wal.append(b"x").await.expect("append");
    let other = wal.clone();
    wal.close().await.expect("close");
    assert!(matches!(other.append(b"y").await, Err(Error::Closed)));
    assert!(matches!(
        other.append_batch(&[b"y"]).await,
        Err(Error::Closed)
    ));
    assert!(matches!(other.sync().await, Ok(()) | Err(Error::Closed)));
    assert_eq!(other.durable_lsn(), Lsn(1), "close syncs");
    wal.close().await.expect("second close is a no-op");
    Outcome::Passed
}

/// Typed records go through the bincode codec and back.
pub async fn wal_typed_records_round_trip<F: StoreFactory>(f: Arc<F>) -> Outcome {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Put {
        key: String,
        value: Vec<u8>,
    }
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    let codec = BincodeCodec;
    let v = Put {
        key: "k1".into(),
        value: vec![1, 2, 3],
    };
    let mut buf = Vec::new();
    codec.encode(&v, &mut buf).expect("encode");
    let lsn = wal.append(&buf).await.expect("append");
    let got = collect(&wal, lsn..).await;
    let back: Put = codec.decode(&got[0].data).expect("decode");
    assert_eq!(back, v);
    Outcome::Passed
}
