//! Every decoder of the on-disk format, fed arbitrary bytes: none may panic, and whatever a
//! segment scan accepts must be self-consistent.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wal_api::format::{decode_frame, SegmentHeader, Trailer};
use wal_api::segment::{check_segment, segment_records};

fuzz_target!(|data: &[u8]| {
    for version in [2, 3] {
        let layout = wal_api::format::Layout {
            salt: 7,
            max_payload: 1 << 20,
            version,
            key_id: 0,
            key_check: 0,
        };
        // A frame that decodes yields its records (decompressing if flagged) or an error.
        if let Ok(f) = decode_frame(data, layout) {
            if let Ok(body) = f.body() {
                for (_, r) in body.records() {
                    assert!(r.end <= body.bytes().len());
                }
            }
        }
    }
    let _ = SegmentHeader::decode(data);
    let _ = Trailer::decode(data, 7);
    let bytes = Bytes::copy_from_slice(data);
    let id = SegmentHeader::decode(data).map_or(wal_api::SegmentId(1), |h| h.id);
    let strict = check_segment(id, &bytes, false);
    let lenient = check_segment(id, &bytes, true);
    if let (Ok(s), Ok(l)) = (&strict, &lenient) {
        // A segment that passes the strict check reads the same leniently.
        assert_eq!(s.records, l.records);
        assert_eq!(s.last_lsn, l.last_lsn);
    }
    if let Ok(records) = segment_records(id, &bytes) {
        // LSNs are dense and increasing.
        for w in records.windows(2) {
            assert_eq!(w[1].lsn.0, w[0].lsn.0 + 1);
        }
    }
});
