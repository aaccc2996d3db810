//! Decoding arbitrary bytes never panics, and the documented layout holds byte for byte.

use bytes::Bytes;
use proptest::prelude::*;
use wal_api::format::{decode_frame, encode_batch, encode_record, SegmentHeader, Trailer};
use wal_api::segment::{check_segment, segment_records};
use wal_api::{Lsn, SegmentId};

fn segment_with(records: &[Vec<u8>]) -> Vec<u8> {
    let mut b = SegmentHeader {
        id: SegmentId(1),
        base: Lsn(1),
    }
    .encode()
    .to_vec();
    for (i, r) in records.iter().enumerate() {
        encode_record(&mut b, Lsn(i as u64 + 1), r);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame(&bytes, 1 << 20);
        let _ = SegmentHeader::decode(&bytes);
        let _ = Trailer::decode(&bytes);
        let _ = check_segment(&bytes, 1 << 20, true);
        let _ = segment_records(&Bytes::from(bytes), 1 << 20);
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
        if let Ok(recs) = segment_records(&Bytes::from(seg.clone()), 1 << 20) {
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
    }
    .encode();
    assert_eq!(&h[0..8], b"RSWALSEG");
    assert_eq!(&h[8..10], &[1, 0]);
    assert_eq!(&h[12..16], &[40, 0, 0, 0]);
    assert_eq!(&h[16..24], &[2, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&h[24..32], &[4, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&h[36..40], &crc32fast::hash(&h[0..36]).to_le_bytes());
}

#[test]
fn frame_layout_matches_format_md() {
    let mut b = Vec::new();
    encode_batch(&mut b, Lsn(9), &[&b"ab"[..], b"c"]);
    assert_eq!(&b[4..8], &[11, 0, 0, 0]); // payload: 4+2 + 4+1
    assert_eq!(&b[8..16], &[9, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[16..20], &[2, 0, 0, 0]);
    assert_eq!(b[20], 2);
    assert_eq!(&b[24..30], &[2, 0, 0, 0, b'a', b'b']);
    assert_eq!(&b[0..4], &crc32fast::hash(&b[4..]).to_le_bytes());
    let t = Trailer {
        last_lsn: Lsn(10),
        records: 2,
        body_len: 100,
        body_crc: 7,
    }
    .encode();
    assert_eq!(t.len(), 48);
    assert_eq!(t[20], 3);
    assert_eq!(&t[44..48], b"WEND");
}
