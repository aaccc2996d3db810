//! Cases for what format version 3 adds: per-frame append times and compressed bodies,
//! through every reading path (read, replay, tail, reopen, `lsn_at`) and damage.

use std::sync::Arc;

use futures::StreamExt;
use wal_api::clock::ManualClock;
use wal_api::format::{decode_frame, FrameKind, SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::{Compression, Lsn, Never, SegmentId, SegmentStore, Wal, WalOptions};

use super::{close_and_reopen, open, NO_TAMPER};
use crate::support::{collect, collect_until_error, payload};
use crate::{Outcome, StoreFactory};

/// Compressible text of `len` bytes for record `n`.
fn text(n: u64, len: usize) -> Vec<u8> {
    format!("record {n}: the same words again and again; ")
        .bytes()
        .cycle()
        .take(len)
        .collect()
}

/// Every record `replay(..)` hands out.
async fn replayed<S: SegmentStore>(wal: &Wal<S>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    wal.replay(.., |_, d| {
        out.push(d.to_vec());
        Ok(())
    })
    .await
    .expect("replay");
    out
}

/// The frames of segment `id` as (offset, kind, flags, time).
async fn frames<S: SegmentStore>(s: &S, id: SegmentId) -> Vec<(usize, FrameKind, u8, Option<u64>)> {
    let len = s
        .list()
        .await
        .expect("list")
        .iter()
        .find(|m| m.id == id)
        .map_or(0, |m| m.len);
    let bytes = s.read(id, 0..len).await.expect("read segment");
    let h = SegmentHeader::decode(&bytes).expect("header");
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while let Ok(f) = decode_frame(&bytes[pos..], h.layout()) {
        out.push((pos, f.kind, f.flags, f.time()));
        pos += f.len();
    }
    out
}

/// With lz4 compression and a controlled clock, records and batches (compressible and
/// not) read back byte for byte with their append times through `read`, `replay` and
/// `tail`, before and after a reopen; compressible bodies are stored compressed and
/// random ones plain; `lsn_at` finds the first record of a moment; a damaged compressed
/// frame in a sealed segment is reported as corruption, like a plain one.
pub async fn wal_compressed_and_stamped_records_round_trip<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let clock = Arc::new(ManualClock::new(1_000_000));
    let opts = || {
        WalOptions::default()
            .segment_size(4096)
            .sync_policy(Never)
            .compression(Compression::Lz4)
            .clock(clock.clone())
    };
    let wal = open(s, opts()).await;
    let mut want: Vec<(Vec<u8>, u64)> = Vec::new();
    for n in 0..60u64 {
        clock.set(1_000_000 + n * 1_000);
        let t = 1_000_000 + n * 1_000;
        if n % 5 == 4 {
            let batch: Vec<Vec<u8>> = (0..3)
                .map(|i| {
                    if i % 2 == 0 {
                        text(n * 10 + i, 300)
                    } else {
                        payload(n * 10 + i, 40)
                    }
                })
                .collect();
            wal.append_batch(&batch).await.expect("batch");
            want.extend(batch.into_iter().map(|b| (b, t)));
        } else {
            let r = if n % 2 == 0 {
                text(n, 500)
            } else {
                payload(n, 120)
            };
            wal.append(&r).await.expect("append");
            want.push((r, t));
        }
    }
    wal.sync().await.expect("sync");
    let check = |got: &[wal_api::Record], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}: record count");
        for (i, (r, (data, t))) in got.iter().zip(&want).enumerate() {
            assert_eq!(r.lsn, Lsn(i as u64 + 1), "{what}");
            assert_eq!(&r.data[..], &data[..], "{what}: bytes of LSN {}", r.lsn);
            assert_eq!(r.time, Some(*t), "{what}: time of LSN {}", r.lsn);
        }
    };
    check(&collect(&wal, ..).await, "read");
    let plain: Vec<Vec<u8>> = want.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(
        replayed(&wal).await,
        plain,
        "replay hands out the original bytes"
    );
    let tailed: Vec<_> = wal.tail(Lsn(1)).take(want.len()).collect().await;
    let tailed: Vec<wal_api::Record> = tailed.into_iter().map(|r| r.expect("tail")).collect();
    check(&tailed, "tail");
    // Where the bytes are: compressible bodies compressed, random ones plain, all stamped.
    let segs = wal.segments();
    assert!(segs.len() > 2, "the case needs several segments");
    let mut compressed = 0;
    let mut plain_frames = 0;
    for seg in &segs {
        for (_, kind, flags, time) in frames(wal.store(), seg.id).await {
            if kind.holds_records() {
                assert!(time.is_some(), "every record frame carries a time");
                if flags & 0b11 == 1 {
                    compressed += 1;
                } else {
                    plain_frames += 1;
                }
            }
        }
    }
    assert!(
        compressed > 0 && plain_frames > 0,
        "{compressed} compressed, {plain_frames} plain"
    );
    // A moment maps to the first record appended at or after it.
    assert_eq!(wal.lsn_at(0).await.expect("lsn_at"), Some(Lsn(1)));
    let k = want
        .iter()
        .position(|(_, t)| *t >= 1_030_500)
        .expect("a later record");
    assert_eq!(
        wal.lsn_at(1_030_500).await.expect("lsn_at"),
        Some(Lsn(k as u64 + 1))
    );
    let exact = want
        .iter()
        .position(|(_, t)| *t >= 1_030_000)
        .expect("a record");
    assert!(exact < k, "a record is stamped exactly 1_030_000");
    assert_eq!(
        wal.lsn_at(1_030_000).await.expect("lsn_at"),
        Some(Lsn(exact as u64 + 1))
    );
    assert_eq!(wal.lsn_at(9_000_000).await.expect("lsn_at"), None);
    let wal = close_and_reopen(&*f, &g, wal, opts()).await;
    check(&collect(&wal, ..).await, "read after reopen");
    // After a clean close the newest segment is empty: the search must not stop there.
    assert_eq!(
        wal.lsn_at(1_030_500).await.expect("lsn_at"),
        Some(Lsn(k as u64 + 1))
    );
    assert_eq!(wal.lsn_at(0).await.expect("lsn_at"), Some(Lsn(1)));
    let last_time = want.last().expect("records").1;
    let first_of_last = want
        .iter()
        .position(|(_, t)| *t == last_time)
        .expect("last");
    assert_eq!(
        wal.lsn_at(last_time).await.expect("lsn_at"),
        Some(Lsn(first_of_last as u64 + 1))
    );
    // Damage to a compressed body of a sealed segment: corruption at that frame.
    let sealed = wal.segments()[0].id;
    let Some(&(at, ..)) = frames(wal.store(), sealed)
        .await
        .iter()
        .find(|(_, _, flags, _)| flags & 0b11 == 1)
    else {
        panic!("the first segment holds no compressed frame");
    };
    drop(wal);
    let flip = at + 32 + 8 + 6;
    if !f
        .tamper(&g, sealed, &mut |b: &mut Vec<u8>| b[flip] ^= 0x10)
        .await
    {
        return Outcome::Skipped(NO_TAMPER.into());
    }
    let wal = open(f.reopen(&g).await, opts()).await;
    let (_, err) = collect_until_error(&wal, ..).await;
    match err {
        Some(e @ wal_api::Error::Corrupt { .. }) => {
            assert!(e.to_string().contains(&format!("offset {at}")), "{e}");
        }
        other => panic!("expected corruption at offset {at}, got {other:?}"),
    }
    Outcome::Passed
}

/// Without timestamps a version 3 log stores no time: records read back with `time: None`
/// and `lsn_at` finds nothing; a log whose codec feature is missing is refused at open
/// with a clear error rather than written plain.
pub async fn wal_timestamps_off_and_missing_codecs_are_explicit<F: StoreFactory>(
    f: Arc<F>,
) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().timestamps(false)).await;
    wal.append(b"no time").await.expect("append");
    let got = collect(&wal, ..).await;
    assert_eq!(got[0].time, None);
    assert_eq!(wal.lsn_at(0).await.expect("lsn_at"), None);
    drop(wal);
    if !Compression::Zstd(3).available() {
        let (_g, s) = f.build().await;
        let opts = WalOptions::default().compression(Compression::Zstd(3));
        match Wal::open(s, opts).await {
            Err(wal_api::Error::InvalidArgument(m)) => assert!(m.contains("zstd"), "{m}"),
            other => panic!("expected a refusal naming zstd, got {:?}", other.err()),
        }
    }
    Outcome::Passed
}

/// Encryption at rest: records and batches (compressed or not) of an encrypted log read back
/// through `read`, `replay` and a reopen, and none of their bytes appear in the store; keys
/// rotate between segments (old segments keep their key id and stay readable); reopening
/// without the newest segment's key, or with a wrong one, is refused with a clear error.
pub async fn wal_encrypted_records_round_trip_and_keys_rotate<F: StoreFactory>(
    f: Arc<F>,
) -> Outcome {
    use wal_api::crypto::StaticKeys;
    let (g, s) = f.build().await;
    let k1 = StaticKeys::new(1, [0x11; 32]);
    let opts = |keys: StaticKeys| {
        WalOptions::default()
            .segment_size(2048)
            .sync_policy(Never)
            .compression(Compression::Lz4)
            .encryption(Arc::new(keys))
    };
    let wal = open(s, opts(k1.clone())).await;
    let mut want = Vec::new();
    let secret = |n: u64| format!("secret record {n:05} ").repeat(8).into_bytes();
    for n in 0..30u64 {
        if n % 7 == 6 {
            let batch = vec![secret(n * 100), payload(n, 30), secret(n * 100 + 1)];
            wal.append_batch(&batch).await.expect("batch");
            want.extend(batch);
        } else {
            let r = if n % 2 == 0 {
                secret(n)
            } else {
                payload(n, 90)
            };
            wal.append(&r).await.expect("append");
            want.push(r);
        }
    }
    // Rotate: key 2 becomes current; key 1 stays for the old segments.
    let k2 = k1.clone().with(2, [0x22; 32]).current_id(2);
    let wal = close_and_reopen(&*f, &g, wal, opts(k2.clone())).await;
    for n in 30..50u64 {
        let r = secret(n);
        wal.append(&r).await.expect("append");
        want.push(r);
    }
    wal.sync().await.expect("sync");
    let got = collect(&wal, ..).await;
    let got: Vec<Vec<u8>> = got.iter().map(|r| r.data.to_vec()).collect();
    assert_eq!(got, want, "encrypted records read back");
    assert_eq!(replayed(&wal).await, want, "replay decrypts");
    // The store holds no plaintext, and segments name their keys.
    let mut ids = std::collections::BTreeSet::new();
    for seg in wal.segments() {
        let bytes = wal.store().read(seg.id, 0..seg.len).await.expect("read");
        assert!(
            !bytes.windows(13).any(|w| w == b"secret record"),
            "segment {} holds plaintext",
            seg.id
        );
        let h = SegmentHeader::decode(&bytes).expect("header");
        ids.insert(h.key_id);
        for (_, kind, flags, _) in frames(wal.store(), seg.id).await {
            if kind.holds_records() {
                assert_eq!(flags & 0x04, 0x04, "every record frame is encrypted");
            }
        }
    }
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        vec![1, 2],
        "keys rotated"
    );
    wal.close().await.expect("close");
    drop(wal);
    // Without key 2, or with a wrong key 2, the log does not open for appends.
    for (keys, what) in [
        (k1.clone(), "no key provider with it"),
        (k1.clone().with(2, [0x99; 32]).current_id(2), "wrong key"),
    ] {
        match Wal::open(f.reopen(&g).await, opts(keys)).await {
            Err(wal_api::Error::Unreadable { reason, .. }) => {
                assert!(reason.contains(what), "{reason}");
            }
            other => panic!("expected Unreadable ({what}), got {:?}", other.err()),
        }
    }
    // With key 2 but a wrong key 1, the old records are refused as unreadable, never garbage.
    let wrong_old = StaticKeys::new(2, [0x22; 32]).with(1, [0x98; 32]);
    let wal = open(f.reopen(&g).await, opts(wrong_old)).await;
    let (read, err) = collect_until_error(&wal, ..).await;
    assert!(read.is_empty(), "nothing read with a wrong key");
    match err {
        Some(wal_api::Error::Unreadable { reason, .. }) => {
            assert!(reason.contains("wrong key"), "{reason}")
        }
        other => panic!("expected Unreadable (wrong key), got {other:?}"),
    }
    Outcome::Passed
}
