//! Whole-segment helpers for tools outside the engine: archivers, `walctl`, third-party
//! readers. They apply the same checks as recovery.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::{SegmentHeader, Trailer};
use crate::lsn::{Lsn, SegmentId};
use crate::scan::{scan_segment, Problem};
use crate::wal::Record;

/// What a checked segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The decoded header.
    pub header: SegmentHeader,
    /// LSN of the last record (`base - 1` when empty).
    pub last_lsn: Lsn,
    /// Number of records.
    pub records: u64,
    /// Bytes of header and frames (before any trailer or torn tail).
    pub body_len: u64,
    /// The seal trailer, when sealed.
    pub trailer: Option<Trailer>,
    /// Bytes after the good frames that form a torn or zero-filled tail (unsealed only).
    pub torn_bytes: u64,
}

/// Checks a segment's bytes: header, every frame, and for a sealed segment the trailer and
/// whole-segment checksum. A torn tail is allowed (and counted) only when `allow_torn`.
/// `max_payload` bounds frame lengths (use the log's largest record or batch size).
pub fn check_segment(bytes: &[u8], max_payload: u32, allow_torn: bool) -> Result<SegmentSummary> {
    let header = SegmentHeader::decode(bytes).map_err(|r| Error::corrupt(SegmentId(0), 0, r))?;
    let scan = scan_segment(bytes, &header, max_payload, false);
    let torn = match scan.problem {
        None => 0,
        Some(Problem::Torn { at, .. }) if allow_torn && scan.trailer.is_none() => {
            bytes.len() as u64 - at
        }
        Some(Problem::Torn { at, .. }) => {
            return Err(Error::corrupt(header.id, at, "incomplete frame"));
        }
        Some(Problem::Corrupt { at, reason, .. }) => {
            return Err(Error::corrupt(header.id, at, reason));
        }
    };
    Ok(SegmentSummary {
        header,
        last_lsn: scan.last_lsn,
        records: scan.records,
        body_len: scan.end,
        trailer: scan.trailer,
        torn_bytes: torn,
    })
}

/// Decodes every record of a segment (checked as by [`check_segment`] with torn tails
/// allowed). Payloads share `bytes`' buffer.
pub fn segment_records(bytes: &Bytes, max_payload: u32) -> Result<Vec<Record>> {
    let summary = check_segment(bytes, max_payload, true)?;
    let mut out = Vec::with_capacity(usize::try_from(summary.records).unwrap_or(0));
    let mut pos = crate::format::SEGMENT_HEADER_LEN;
    let end = summary.body_len as usize;
    while pos < end {
        let f = crate::format::decode_frame(&bytes[pos..end], max_payload)
            .map_err(|e| Error::corrupt(summary.header.id, pos as u64, format!("{e:?}")))?;
        let base = pos + crate::format::FRAME_HEADER_LEN;
        for (lsn, r) in f.records() {
            out.push(Record {
                lsn,
                data: bytes.slice(base + r.start..base + r.end),
            });
        }
        pos += f.len();
    }
    Ok(out)
}
