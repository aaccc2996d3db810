//! The conformance cases. Each is a plain async function over a [`StoreFactory`]; the
//! [`conformance_tests!`](crate::conformance_tests) macro makes each one its own test.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use wal_api::format::{SegmentHeader, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use wal_api::{
    BincodeCodec, Codec, Error, Lsn, Never, PerWrite, RecoveryMode, SegmentId, SegmentStore,
    SegmentStoreExt, Visibility, Wal, WalOptions,
};

use crate::faults::FaultyStore;
use crate::support::{collect, collect_until_error, payload};
use crate::{Outcome, StoreFactory};

pub use crate::crash::crash_exploration;
pub use crate::durability::{
    store_create_survives_power_loss, store_delete_survives_power_loss,
    store_failed_sync_is_covered_or_sticky, store_open_tail_cut_survives_power_loss,
    store_quarantine_survives_power_loss, store_seal_survives_power_loss,
    store_sync_survives_power_loss,
};
pub use crate::model::model_state_machine;
pub use crate::sequence::crash_sequence_exploration;
pub use positioning::{
    wal_first_lsn_starts_an_empty_log, wal_get_and_last_follow_the_log,
    wal_reset_crash_at_every_op_is_old_or_new, wal_reset_restarts_at_the_chosen_lsn,
    wal_typed_view_round_trips,
};

mod positioning;

const NO_TAMPER: &str = "backend cannot rewrite raw segment bytes (StoreFactory::tamper)";
const NO_CRASH: &str = "backend cannot model power loss (StoreFactory::crash)";

fn small() -> WalOptions {
    WalOptions::default().segment_size(1024)
}

fn header(id: u64, base: u64) -> Vec<u8> {
    SegmentHeader {
        id: SegmentId(id),
        base: Lsn(base),
        salt: 0x7e57_0000 + id,
        segment_size: 1024,
        max_record_size: 1 << 20,
        max_batch_size: 1 << 20,
    }
    .encode()
    .to_vec()
}

async fn open<S: SegmentStore>(store: S, opts: WalOptions) -> Wal<S> {
    Wal::open(store, opts)
        .await
        .unwrap_or_else(|e| panic!("open failed: {e}"))
}

/// Appends `n` records numbered from `from` with lengths cycling 1..=`max_len`.
async fn fill<S: SegmentStore>(wal: &Wal<S>, from: u64, n: u64, max_len: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in from..from + n {
        let p = payload(i, 1 + (i as usize * 7) % max_len);
        wal.append(&p).await.expect("append");
        out.push(p);
    }
    out
}

fn assert_records(got: &[wal_api::Record], first: u64, want: &[Vec<u8>]) {
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (r, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(r.lsn, Lsn(first + i as u64), "LSN of record {i}");
        assert_eq!(&r.data[..], &w[..], "payload of LSN {}", r.lsn);
    }
}

async fn close_and_reopen<F: StoreFactory>(
    f: &F,
    g: &F::Guard,
    wal: Wal<F::Store>,
    opts: WalOptions,
) -> Wal<F::Store> {
    wal.close().await.expect("close");
    drop(wal);
    open(f.reopen(g).await, opts).await
}

/// Stops a log without closing it: everything is synced, the tail stays unsealed (as after a
/// crash once the last sync landed). Cases that tear or corrupt the active segment start here.
async fn stop_unsealed<S: SegmentStore>(wal: Wal<S>) {
    wal.sync().await.expect("sync");
    drop(wal);
}

/// Raw bytes of a segment through `tamper` (None when unsupported).
async fn raw<F: StoreFactory>(f: &F, g: &F::Guard, id: SegmentId) -> Option<Vec<u8>> {
    let mut copy = Vec::new();
    let ok = f
        .tamper(g, id, &mut |b: &mut Vec<u8>| copy = b.clone())
        .await;
    ok.then_some(copy)
}

/// Offsets of the frames of a segment's bytes.
fn frame_offsets(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Ok(h) = SegmentHeader::decode(bytes) else {
        return out;
    };
    let mut pos = SEGMENT_HEADER_LEN;
    while let Ok(fr) = wal_api::format::decode_frame(&bytes[pos.min(bytes.len())..], h.layout()) {
        if fr.kind == wal_api::format::FrameKind::Seal {
            break;
        }
        out.push((pos, fr.len()));
        pos += fr.len();
    }
    out
}

// ---- store contract -------------------------------------------------------------------

/// A created segment is listed with its header length.
pub async fn store_create_then_list<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let h = header(1, 1);
    let _w = s.create(SegmentId(1), &h).await.expect("create");
    let list = s.list().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, SegmentId(1));
    assert_eq!(list[0].len, h.len() as u64);
    Outcome::Passed
}

/// Creating an existing segment fails with `AlreadyExists`.
pub async fn store_create_existing_fails<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let _w = s.create(SegmentId(3), &header(3, 1)).await.expect("create");
    let again = s.create(SegmentId(3), &header(3, 1)).await;
    assert!(
        matches!(again, Err(Error::AlreadyExists { segment }) if segment == SegmentId(3)),
        "got {again:?}"
    );
    Outcome::Passed
}

/// Appended bytes are readable when `append` returns, and its result is the new length.
pub async fn store_append_is_readable<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    let len = w.append(b"abc").await.expect("append");
    assert_eq!(len, h.len() as u64 + 3);
    let len = w.append(b"defg").await.expect("append");
    assert_eq!(len, h.len() as u64 + 7);
    let all = s.read_all(SegmentId(1)).await.expect("read");
    assert_eq!(&all[..h.len()], &h[..]);
    assert_eq!(&all[h.len()..], b"abcdefg");
    Outcome::Passed
}

/// Reads are clipped to the segment's length; past the end they are empty.
pub async fn store_read_clips_to_length<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    w.append(b"xyz").await.expect("append");
    let n = h.len() as u64;
    let part = s.read(SegmentId(1), n + 1..n + 100).await.expect("read");
    assert_eq!(&part[..], b"yz");
    let none = s.read(SegmentId(1), 1000..2000).await.expect("read");
    assert!(none.is_empty());
    Outcome::Passed
}

/// `open_tail` cuts the segment and appends after the cut.
pub async fn store_open_tail_cuts<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    w.append(&[7u8; 100]).await.expect("append");
    w.sync().await.expect("sync");
    drop(w);
    let n = h.len() as u64;
    let w = s.open_tail(SegmentId(1), n + 10).await.expect("open_tail");
    assert_eq!(w.append(b"z").await.expect("append"), n + 11);
    w.sync().await.expect("sync");
    drop(w);
    drop(s);
    let s = f.reopen(&g).await;
    let all = s.read_all(SegmentId(1)).await.expect("read");
    assert_eq!(all.len() as u64, n + 11);
    assert_eq!(all[n as usize + 10], b'z');
    Outcome::Passed
}

/// A deleted segment is gone, also after reopening.
pub async fn store_delete_is_gone<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    drop(s.create(SegmentId(1), &header(1, 1)).await.expect("create"));
    drop(s.create(SegmentId(2), &header(2, 1)).await.expect("create"));
    s.delete(SegmentId(1)).await.expect("delete");
    let ids: Vec<_> = s.list().await.expect("list").iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![SegmentId(2)]);
    drop(s);
    let s = f.reopen(&g).await;
    let ids: Vec<_> = s.list().await.expect("list").iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![SegmentId(2)]);
    Outcome::Passed
}

/// A quarantined segment leaves the list for good.
pub async fn store_quarantine_leaves_list<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    if !s.capabilities().quarantine {
        return Outcome::Skipped("backend has no quarantine".into());
    }
    drop(s.create(SegmentId(1), &header(1, 1)).await.expect("create"));
    s.quarantine(SegmentId(1), "test")
        .await
        .expect("quarantine");
    assert!(s.list().await.expect("list").is_empty());
    drop(s);
    let s = f.reopen(&g).await;
    assert!(s.list().await.expect("list").is_empty());
    Outcome::Passed
}

/// `sync` after `seal` succeeds and changes nothing.
pub async fn store_sync_after_seal_is_ok<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    w.append(b"payload").await.expect("append");
    let meta = w.seal().await.expect("seal");
    assert_eq!(meta.len, h.len() as u64 + 7);
    w.sync().await.expect("sync after seal");
    drop(w);
    drop(s);
    let s = f.reopen(&g).await;
    assert_eq!(
        s.read_all(SegmentId(1)).await.expect("read").len(),
        h.len() + 7
    );
    Outcome::Passed
}

/// Reading a segment that does not exist is `NotFound`.
pub async fn store_read_missing_is_not_found<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let r = s.read(SegmentId(99), 0..10).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "got {r:?}");
    Outcome::Passed
}

// ---- engine ---------------------------------------------------------------------------

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

/// A tail stream yields records appended after it started, in order.
pub async fn wal_tail_follows_appends<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small()).await;
    let pre = fill(&wal, 1, 10, 40).await;
    let mut tail = wal.tail(Lsn(5));
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 56 {
            match tail.next().await {
                Some(Ok(r)) => got.push(r),
                other => panic!("tail ended early: {other:?}"),
            }
        }
        got
    });
    let post = fill(&wal, 11, 50, 40).await;
    let got = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("tail timed out")
        .expect("tail task");
    let mut want = pre[4..].to_vec();
    want.extend(post);
    assert_records(&got, 5, &want);
    Outcome::Passed
}

/// A waiting tail ends with an error, not a hang, when the log closes.
pub async fn wal_tail_ends_on_close<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    wal.append(b"one").await.expect("append");
    let mut tail = wal.tail(Lsn(1));
    assert_eq!(
        tail.next().await.expect("item").expect("record").lsn,
        Lsn(1)
    );
    let waiter = tokio::spawn(async move { tail.next().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    wal.close().await.expect("close");
    let r = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("tail hung after close")
        .expect("task");
    assert!(matches!(r, Some(Err(Error::Closed))), "got {r:?}");
    Outcome::Passed
}

/// Many concurrent durable appenders get distinct dense LSNs and share syncs.
pub async fn wal_concurrent_appends_share_syncs<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.sync_delay(Duration::from_millis(2));
    let wal = open(s, WalOptions::default().sync_policy(PerWrite)).await;
    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..20u64 {
                let p = payload(t * 1000 + i, 16);
                let lsn = wal.append(&p).await.expect("append");
                assert!(wal.durable_lsn() >= lsn, "acknowledged before durable");
                mine.push((lsn, p));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    let lsns: Vec<u64> = all.iter().map(|(l, _)| l.0).collect();
    assert_eq!(lsns, (1..=640).collect::<Vec<_>>());
    let stats = wal.stats();
    assert!(
        stats.syncs < 320,
        "{} syncs for 640 appends: not shared",
        stats.syncs
    );
    wal.close().await.expect("close");
    drop(wal);
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    let got = collect(&wal, Lsn(1)..).await;
    let want: Vec<Vec<u8>> = all.into_iter().map(|(_, p)| p).collect();
    assert_records(&got, 1, &want);
    Outcome::Passed
}

/// The durable watch moves when a sync lands.
pub async fn wal_durable_watch_advances<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    let mut rx = wal.durable_watch();
    for _ in 0..3 {
        wal.append(b"x").await.expect("append");
    }
    assert_eq!(rx.borrow_and_update().lsn, Lsn(0));
    assert_eq!(wal.durable_lsn(), Lsn(0));
    wal.sync().await.expect("sync");
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("watch did not move")
        .expect("watch closed");
    assert_eq!(rx.borrow().lsn, Lsn(3));
    wal.wait_durable(Lsn(3)).await.expect("already durable");
    let r = wal.wait_durable(Lsn(9)).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
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

/// A failed sync poisons the log: the failing append errors, every later call is
/// `Poisoned`, nothing is retried into success; reopening recovers what was acknowledged.
pub async fn wal_sync_failure_poisons<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.fail_sync_at(4);
    let wal = open(s, WalOptions::default().sync_policy(PerWrite)).await;
    let mut acked = Vec::new();
    let mut failed = false;
    for i in 0..10u64 {
        let p = payload(i, 20);
        match wal.append(&p).await {
            Ok(_) => acked.push(p),
            Err(e) => {
                assert!(!matches!(e, Error::Poisoned { .. }), "first failure: {e}");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "sync failure went unnoticed");
    assert!(wal.is_poisoned());
    assert!(matches!(
        wal.append(b"z").await,
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(wal.sync().await, Err(Error::Poisoned { .. })));
    assert!(matches!(
        wal.wait_durable(wal.written_lsn()).await,
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(
        wal.truncate_suffix(Lsn(0)).await,
        Err(Error::Poisoned { .. })
    ));
    let _ = wal.close().await;
    drop(wal);
    let wal = open(f.reopen(&g).await, WalOptions::default()).await;
    let got = collect(&wal, Lsn(1)..).await;
    assert!(got.len() >= acked.len());
    assert_records(&got[..acked.len()], 1, &acked);
    Outcome::Passed
}

/// A full store is reported as `StorageFull`; the log is poisoned and reopening keeps every
/// acknowledged record.
pub async fn wal_full_storage_is_reported<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    faults.capacity(3000);
    let wal = open(s, small()).await;
    let mut acked = Vec::new();
    let mut full = false;
    for i in 0..100u64 {
        let p = payload(i, 100);
        match wal.append(&p).await {
            Ok(_) => acked.push(p),
            Err(Error::StorageFull { .. }) => {
                full = true;
                break;
            }
            Err(e) => panic!("expected StorageFull, got {e}"),
        }
    }
    assert!(full, "capacity never hit");
    assert!(matches!(
        wal.append(b"z").await,
        Err(Error::Poisoned { .. })
    ));
    drop(wal);
    let wal = open(f.reopen(&g).await, small()).await;
    let got = collect(&wal, Lsn(1)..).await;
    assert_records(&got[..acked.len()], 1, &acked);
    Outcome::Passed
}

/// Durable visibility hides unsynced records; written visibility shows them.
pub async fn wal_written_visibility_sees_unsynced<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    fill(&wal, 1, 5, 30).await;
    assert!(collect(&wal, Lsn(1)..).await.is_empty());
    let seen: Vec<_> = wal.read_with(Lsn(1).., Visibility::Written).collect().await;
    assert_eq!(seen.len(), 5);
    wal.sync().await.expect("sync");
    assert_eq!(collect(&wal, Lsn(1)..).await.len(), 5);
    Outcome::Passed
}

/// Every acknowledged record survives a power loss.
pub async fn wal_crash_keeps_acknowledged<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let wal = open(s, small()).await;
    let want = fill(&wal, 1, 80, 50).await;
    drop(wal);
    let Some(s) = f.crash(&g, 11).await else {
        return Outcome::Skipped(NO_CRASH.into());
    };
    let wal = open(s, small()).await;
    assert_records(&collect(&wal, Lsn(1)..).await, 1, &want);
    Outcome::Passed
}

/// An unsynced atomic batch survives a power loss whole or not at all, for many crash images.
pub async fn wal_crash_batch_is_atomic<F: StoreFactory>(f: Arc<F>) -> Outcome {
    for seed in 0..24u64 {
        let (g, s) = f.build().await;
        let opts = WalOptions::default().sync_policy(Never).write_buffer(0);
        let wal = open(s, opts).await;
        let mut all = Vec::new();
        for b in 0..12u64 {
            let batch: Vec<Vec<u8>> = (0..10).map(|i| payload(b * 10 + i, 30)).collect();
            wal.append_batch(&batch).await.expect("batch");
            all.extend(batch);
            if b == 3 {
                wal.sync().await.expect("sync");
            }
        }
        drop(wal);
        let Some(s) = f.crash(&g, seed).await else {
            return Outcome::Skipped(NO_CRASH.into());
        };
        let wal = open(s, WalOptions::default()).await;
        let got = collect(&wal, Lsn(1)..).await;
        assert_eq!(
            got.len() % 10,
            0,
            "seed {seed}: batch torn: {} records",
            got.len()
        );
        assert!(got.len() >= 40, "seed {seed}: synced batches lost");
        assert_records(&got, 1, &all[..got.len()]);
    }
    Outcome::Passed
}

/// Every built-in policy acknowledges as documented: durable ones only once durable,
/// `Interval` syncs in the background within its period, `Never` only when asked.
pub async fn wal_every_policy_acknowledges_as_documented<F: StoreFactory>(f: Arc<F>) -> Outcome {
    use wal_api::{Adaptive, FixedDelay, GroupCommit, Interval, SyncPolicy};
    let durable: Vec<Arc<dyn SyncPolicy>> = vec![
        Arc::new(PerWrite),
        Arc::new(GroupCommit::default()),
        Arc::new(FixedDelay {
            delay: Duration::from_millis(1),
            max_records: 8,
        }),
        Arc::new(Adaptive::default()),
    ];
    for p in durable {
        let (_g, s) = f.build().await;
        let opts = WalOptions::default().sync_policy(p.clone());
        let wal = open(s, opts).await;
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let lsn = wal.append(&payload(t * 100 + i, 10)).await.expect("append");
                    assert!(wal.durable_lsn() >= lsn, "acknowledged before durable");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(wal.durable_lsn(), Lsn(40), "{p:?}");
    }
    let (_g, s) = f.build().await;
    let wal = open(
        s,
        WalOptions::default().sync_policy(Interval {
            period: Duration::from_millis(20),
        }),
    )
    .await;
    let lsn = wal.append(b"later").await.expect("append");
    let mut rx = wal.durable_watch();
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| d.lsn >= lsn))
        .await
        .expect("interval sync never came")
        .expect("watch");
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    let lsn = wal.append(b"whenever").await.expect("append");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(wal.durable_lsn(), Lsn(0));
    wal.wait_durable(lsn).await.expect("wait_durable syncs");
    assert_eq!(wal.durable_lsn(), lsn);
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
