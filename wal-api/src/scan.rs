//! Scanning a segment's bytes: where the good frames end, and whether what follows is a torn
//! tail or corruption.

use crate::format::{
    decode_frame, FrameError, FrameKind, SegmentHeader, Trailer, FRAME_HEADER_LEN,
    SEGMENT_HEADER_LEN, TRAILER_LEN,
};
use crate::lsn::Lsn;

/// A stretch of bytes that failed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The bytes from `at` to the end are a torn or zero-filled tail.
    Torn {
        /// Offset of the first byte not part of a good frame.
        at: u64,
        /// Whether every byte from `at` on is zero.
        zeros: bool,
    },
    /// A bad frame at `at` that is followed by good frames (or sits in a sealed segment).
    Corrupt {
        /// Offset of the bad frame.
        at: u64,
        /// Offset of the next good frame, if any.
        resume: Option<u64>,
        /// What failed.
        reason: String,
    },
}

/// What a scan of one segment found.
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    /// Offset right after the last good frame (before any trailer).
    pub(crate) end: u64,
    /// LSN of the last good record (`base - 1` if none).
    pub(crate) last_lsn: Lsn,
    /// Good records.
    pub(crate) records: u64,
    /// The trailer, when the segment is sealed and the trailer checks out.
    pub(crate) trailer: Option<Trailer>,
    /// The first problem found (the scan stops there unless `skip` was asked).
    pub(crate) problem: Option<Problem>,
    /// Frames skipped in skip mode: `(offset, resume offset)`.
    pub(crate) skipped: Vec<(u64, u64)>,
}

/// Finds the next offset after `from` where a good frame with an LSN of at least `min_lsn`
/// starts.
pub(crate) fn find_next_frame(
    bytes: &[u8],
    from: usize,
    min_lsn: Lsn,
    max_payload: u32,
) -> Option<usize> {
    let mut p = from;
    while p + FRAME_HEADER_LEN <= bytes.len() {
        let h = &bytes[p..p + FRAME_HEADER_LEN];
        // Cheap filters before the checksum: kind, reserved bytes, LSN range, length.
        let kind_ok = matches!(h[20], 1..=3) && h[21..24] == [0, 0, 0];
        if kind_ok {
            if let Ok(f) = decode_frame(&bytes[p..], max_payload) {
                if f.lsn >= min_lsn || f.kind == FrameKind::Seal {
                    return Some(p);
                }
            }
        }
        p += 1;
    }
    None
}

/// Scans the frames of a segment whose header decoded as `header`.
///
/// With `skip`, bad frames followed by good ones are stepped over (recorded in `skipped`);
/// otherwise the scan stops at the first problem.
pub(crate) fn scan_segment(
    bytes: &[u8],
    header: &SegmentHeader,
    max_payload: u32,
    skip: bool,
) -> Scan {
    let mut pos = SEGMENT_HEADER_LEN;
    let mut expected = header.base;
    let mut out = Scan {
        end: pos as u64,
        last_lsn: header.base.prev(),
        records: 0,
        trailer: None,
        problem: None,
        skipped: Vec::new(),
    };
    while pos < bytes.len() {
        let failure = match decode_frame(&bytes[pos..], max_payload) {
            Ok(f) if f.kind == FrameKind::Seal => match check_trailer(bytes, pos, &f, &out) {
                Ok(t) => {
                    out.trailer = Some(t);
                    return out;
                }
                Err(reason) => Some(reason),
            },
            Ok(f) if f.lsn == expected || (skip && f.lsn > expected && !out.skipped.is_empty()) => {
                out.records += u64::from(f.count);
                out.last_lsn = f.last_lsn();
                expected = f.last_lsn().next();
                pos += f.len();
                out.end = pos as u64;
                None
            }
            Ok(f) => Some(format!(
                "LSN discontinuity: expected {expected}, found {}",
                f.lsn
            )),
            Err(FrameError::Invalid(reason)) => Some(reason),
            Err(FrameError::Incomplete) => Some("incomplete frame".into()),
            Err(FrameError::Zero) => Some("zero-filled frame header".into()),
        };
        let Some(reason) = failure else { continue };
        let resume = find_next_frame(bytes, pos + 1, expected, max_payload);
        match resume {
            None => {
                let zeros = bytes[pos..].iter().all(|&b| b == 0);
                out.problem = Some(Problem::Torn {
                    at: pos as u64,
                    zeros,
                });
                return out;
            }
            Some(r) => {
                if out.problem.is_none() {
                    out.problem = Some(Problem::Corrupt {
                        at: pos as u64,
                        resume: Some(r as u64),
                        reason,
                    });
                }
                if !skip {
                    return out;
                }
                out.skipped.push((pos as u64, r as u64));
                pos = r;
                // The skipped bytes are part of the segment, so a later trailer's body length
                // still counts them.
                out.end = pos as u64;
            }
        }
    }
    out
}

fn check_trailer(
    bytes: &[u8],
    pos: usize,
    f: &crate::format::Frame<'_>,
    scan: &Scan,
) -> Result<Trailer, String> {
    let Some(t) = Trailer::from_frame(f) else {
        return Err("malformed seal trailer".into());
    };
    if pos + TRAILER_LEN != bytes.len() && !bytes[pos + TRAILER_LEN..].iter().all(|&b| b == 0) {
        return Err("bytes after the seal trailer".into());
    }
    if t.body_len != pos as u64 {
        return Err(format!(
            "trailer says the body is {} bytes, found {pos}",
            t.body_len
        ));
    }
    if !scan.skipped.is_empty() {
        // Frames were skipped, so counts cannot be compared; but no frame may lie past the
        // LSN the trailer closes the segment at (the next segment starts right after it).
        if scan.last_lsn > t.last_lsn {
            return Err(format!(
                "frames up to LSN {} before a trailer that ends the segment at {}",
                scan.last_lsn, t.last_lsn
            ));
        }
    } else {
        if t.last_lsn != scan.last_lsn || t.records != scan.records {
            return Err(format!(
                "trailer says last LSN {} and {} records, found {} and {}",
                t.last_lsn, t.records, scan.last_lsn, scan.records
            ));
        }
        if crc32fast::hash(&bytes[..pos]) != t.body_crc {
            return Err("segment checksum mismatch".into());
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode_record;
    use crate::lsn::SegmentId;

    fn segment(n: u64) -> (Vec<u8>, SegmentHeader, Vec<usize>) {
        let h = SegmentHeader {
            id: SegmentId(1),
            base: Lsn(1),
        };
        let mut b = h.encode().to_vec();
        let mut starts = Vec::new();
        for i in 1..=n {
            starts.push(b.len());
            encode_record(&mut b, Lsn(i), &[i as u8; 10]);
        }
        (b, h, starts)
    }

    #[test]
    fn torn_last_frame_is_torn_at_every_cut() {
        let (b, h, starts) = segment(3);
        let last = starts[2];
        for cut in last + 1..b.len() {
            let s = scan_segment(&b[..cut], &h, 1024, false);
            assert_eq!(s.records, 2, "cut {cut}");
            assert!(matches!(s.problem, Some(Problem::Torn { at, .. }) if at == last as u64));
        }
    }

    #[test]
    fn bad_frame_followed_by_good_is_corruption() {
        let (mut b, h, starts) = segment(3);
        b[starts[1] + 30] ^= 0xff;
        let s = scan_segment(&b, &h, 1024, false);
        assert!(matches!(s.problem, Some(Problem::Corrupt { at, .. }) if at == starts[1] as u64));
        let s = scan_segment(&b, &h, 1024, true);
        assert_eq!(s.records, 2);
        assert_eq!(s.last_lsn, Lsn(3));
        assert_eq!(s.skipped.len(), 1);
    }

    #[test]
    fn zero_fill_is_a_clean_torn_tail() {
        let (mut b, h, _) = segment(2);
        let end = b.len();
        b.extend_from_slice(&[0u8; 100]);
        let s = scan_segment(&b, &h, 1024, false);
        assert_eq!(s.end, end as u64);
        assert_eq!(
            s.problem,
            Some(Problem::Torn {
                at: end as u64,
                zeros: true
            })
        );
    }
}
