//! Decoding arbitrary bytes never panics, and the documented layout holds byte for byte.

use bytes::Bytes;
use proptest::prelude::*;
use wal_api::format::{decode_frame, encode_batch, encode_record, SegmentHeader, Trailer};
use wal_api::segment::{check_segment, segment_records};
use wal_api::{Lsn, SegmentId};

fn segment_with(records: &[Vec<u8>]) -> Vec<u8> {
    let mut b = SegmentHeader::new(SegmentId(1), Lsn(1), 7)
        .encode()
        .to_vec();
    for (i, r) in records.iter().enumerate() {
        encode_record(&mut b, 7, Lsn(i as u64 + 1), Lsn(i as u64 + 1).prev(), r);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame(&bytes, wal_api::format::Layout { salt: 7, max_payload: 1 << 20, version: wal_api::format::FORMAT_VERSION, key_id: 0, key_check: 0 });
        let _ = SegmentHeader::decode(&bytes);
        let _ = Trailer::decode(&bytes, 7);
        let _ = check_segment(SegmentId(1), &Bytes::from(bytes.clone()), true);
        let _ = segment_records(SegmentId(1), &Bytes::from(bytes));
    }

    #[test]
    fn mutated_segments_decode_without_panic(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut seg = segment_with(&records);
        for (at, x) in flips {
            let i = at % seg.len();
            seg[i] ^= x;
        }
        seg.truncate(cut % (seg.len() + 1));
        if let Ok(recs) = segment_records(SegmentId(1), &Bytes::from(seg.clone())) {
            // Whatever decodes is a prefix of what was written, unchanged.
            for r in recs {
                prop_assert_eq!(&r.data[..], &records[r.lsn.0 as usize - 1][..]);
            }
        }
    }
}

#[test]
fn crc_is_ieee() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn header_layout_matches_format_md() {
    let h = SegmentHeader {
        id: SegmentId(0x0102),
        base: Lsn(0x0304),
        salt: 0x0506,
        segment_size: 0x0708,
        max_record_size: 0x090a,
        max_batch_size: 0x0b0c,
        version: wal_api::format::FORMAT_VERSION,
        key_id: 0,
        key_check: 0,
    }
    .encode();
    assert_eq!(&h[0..8], b"RSWALSEG");
    assert_eq!(&h[8..10], &[3, 0]);
    assert_eq!(&h[10..12], &[0, 0]);
    assert_eq!(&h[12..16], &[64, 0, 0, 0]);
    assert_eq!(&h[16..24], &[2, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&h[24..32], &[4, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&h[32..40], &[6, 5, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&h[40..48], &[8, 7, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&h[48..52], &[0x0a, 9, 0, 0]);
    assert_eq!(&h[52..56], &[0x0c, 0x0b, 0, 0]);
    assert_eq!(&h[56..60], &[0, 0, 0, 0]);
    assert_eq!(&h[60..64], &crc32fast::hash(&h[0..60]).to_le_bytes());
}

#[test]
fn frame_layout_matches_format_md() {
    let salt = 0x1122_3344_5566_7788u64;
    let mut b = Vec::new();
    encode_batch(
        &mut b,
        salt,
        Lsn(9),
        Lsn(5),
        Default::default(),
        &[&b"ab"[..], b"c"],
    );
    assert_eq!(&b[4..8], &[11, 0, 0, 0]); // payload: 4+2 + 4+1
    assert_eq!(&b[8..16], &[9, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[16..24], &[5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[24..28], &[2, 0, 0, 0]);
    assert_eq!(b[28], 2);
    assert_eq!(&b[29..32], &[0, 0, 0]);
    assert_eq!(&b[32..38], &[2, 0, 0, 0, b'a', b'b']);
    // Version 3: byte 29 holds the flags; a timestamp opens the payload.
    let stamped = wal_api::format::Stored {
        time: Some(0x0102_0304_0506_0708),
        compression: wal_api::Compression::None,
        encrypted: false,
    };
    let mut t3 = Vec::new();
    encode_batch(&mut t3, salt, Lsn(9), Lsn(5), stamped, &[&b"ab"[..], b"c"]);
    assert_eq!(&t3[4..8], &[19, 0, 0, 0]); // 8 + 11
    assert_eq!(&t3[28..32], &[2, 0x08, 0, 0]);
    assert_eq!(&t3[32..40], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&t3[40..46], &[2, 0, 0, 0, b'a', b'b']);
    let mut salted = salt.to_le_bytes().to_vec();
    salted.extend_from_slice(&t3[4..]);
    assert_eq!(&t3[0..4], &crc32fast::hash(&salted).to_le_bytes());
    let mut salted = salt.to_le_bytes().to_vec();
    salted.extend_from_slice(&b[4..]);
    assert_eq!(&b[0..4], &crc32fast::hash(&salted).to_le_bytes());
    let t = Trailer {
        last_lsn: Lsn(10),
        records: 2,
        body_len: 100,
        body_crc: 7,
    }
    .encode(salt, Lsn(8));
    assert_eq!(t.len(), 56);
    assert_eq!(t[28], 3);
    assert_eq!(&t[16..24], &[8, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&t[52..56], b"WEND");
}
