//! The on-disk format: segment header, frames and the seal trailer.
//!
//! Every integer is little-endian. `docs/FORMAT.md` describes the same layout byte by byte.
//! Decoding never panics and never allocates from a length field: lengths are checked against
//! the configured maximum and the bytes actually present first.

use crate::lsn::{Lsn, SegmentId};

/// Magic bytes opening every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RSWALSEG";
/// Format version written by this crate.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 40;
/// Size of a frame header in bytes.
pub const FRAME_HEADER_LEN: usize = 24;
/// Size of the seal trailer payload in bytes.
pub const TRAILER_PAYLOAD_LEN: usize = 24;
/// Size of the whole seal trailer (frame header plus payload).
pub const TRAILER_LEN: usize = FRAME_HEADER_LEN + TRAILER_PAYLOAD_LEN;
/// Magic closing a trailer payload.
pub const TRAILER_MAGIC: [u8; 4] = *b"WEND";
/// Per-record length prefix inside a batch frame.
pub const BATCH_ENTRY_HEADER_LEN: usize = 4;

/// The kind of a frame (byte 20 of its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// One record; the payload is the record.
    Record = 1,
    /// An atomic batch; the payload is `count` entries of `u32 len` + bytes.
    Batch = 2,
    /// The seal trailer closing a segment.
    Seal = 3,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Record),
            2 => Some(FrameKind::Batch),
            3 => Some(FrameKind::Seal),
            _ => None,
        }
    }
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// The header opening every segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Identifier of the segment (must match its name).
    pub id: SegmentId,
    /// LSN of the first record the segment holds or will hold.
    pub base: Lsn,
}

impl SegmentHeader {
    /// Encodes the header into its 40 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        // 10..12 flags, 12..16 header length
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.id.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.base.0.to_le_bytes());
        // 32..36 reserved
        let crc = crc32fast::hash(&b[0..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header. The error string says what failed.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, String> {
        let Some(b) = b.get(0..SEGMENT_HEADER_LEN) else {
            return Err(format!(
                "segment header needs {SEGMENT_HEADER_LEN} bytes, found {}",
                b.len()
            ));
        };
        if b[0..8] != SEGMENT_MAGIC {
            return Err("bad segment magic".into());
        }
        let crc = get_u32(b, 36);
        if crc != crc32fast::hash(&b[0..36]) {
            return Err("segment header checksum mismatch".into());
        }
        let version = get_u16(b, 8);
        if version != FORMAT_VERSION {
            return Err(format!("unsupported format version {version}"));
        }
        if get_u16(b, 10) != 0 || get_u32(b, 32) != 0 {
            return Err("unknown segment header flags".into());
        }
        if get_u32(b, 12) as usize != SEGMENT_HEADER_LEN {
            return Err("unexpected segment header length".into());
        }
        let base = Lsn(get_u64(b, 24));
        if base.is_none() {
            return Err("segment base LSN is 0".into());
        }
        Ok(SegmentHeader {
            id: SegmentId(get_u64(b, 16)),
            base,
        })
    }
}

/// The seal trailer: the last frame of a sealed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// LSN of the last record in the segment (`base - 1` when empty).
    pub last_lsn: Lsn,
    /// Number of records in the segment.
    pub records: u64,
    /// Bytes before the trailer (header and frames).
    pub body_len: u64,
    /// CRC32 of those `body_len` bytes.
    pub body_crc: u32,
}

impl Trailer {
    /// Encodes the trailer frame (header and payload).
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        let p = FRAME_HEADER_LEN;
        b[p..p + 8].copy_from_slice(&self.records.to_le_bytes());
        b[p + 8..p + 16].copy_from_slice(&self.body_len.to_le_bytes());
        b[p + 16..p + 20].copy_from_slice(&self.body_crc.to_le_bytes());
        b[p + 20..p + 24].copy_from_slice(&TRAILER_MAGIC);
        write_frame_header(
            &mut b,
            TRAILER_PAYLOAD_LEN as u32,
            self.last_lsn,
            0,
            FrameKind::Seal,
        );
        b
    }

    /// Decodes a trailer from the last [`TRAILER_LEN`] bytes of a segment.
    pub fn decode(b: &[u8]) -> Option<Trailer> {
        let f = match decode_frame(b, TRAILER_PAYLOAD_LEN as u32) {
            Ok(f) => f,
            Err(_) => return None,
        };
        Self::from_frame(&f)
    }

    /// Interprets a decoded frame as a trailer.
    pub fn from_frame(f: &Frame<'_>) -> Option<Trailer> {
        if f.kind != FrameKind::Seal || f.payload.len() != TRAILER_PAYLOAD_LEN || f.count != 0 {
            return None;
        }
        let p = f.payload;
        if p[20..24] != TRAILER_MAGIC {
            return None;
        }
        Some(Trailer {
            last_lsn: f.lsn,
            records: get_u64(p, 0),
            body_len: get_u64(p, 8),
            body_crc: get_u32(p, 16),
        })
    }
}

/// Writes a frame header into `out[0..24]` and the CRC over header and `out[24..]`.
/// `out` must hold exactly the frame.
fn write_frame_header(out: &mut [u8], len: u32, lsn: Lsn, count: u32, kind: FrameKind) {
    out[4..8].copy_from_slice(&len.to_le_bytes());
    out[8..16].copy_from_slice(&lsn.0.to_le_bytes());
    out[16..20].copy_from_slice(&count.to_le_bytes());
    out[20] = kind as u8;
    out[21..24].copy_from_slice(&[0, 0, 0]);
    let crc = crc32fast::hash(&out[4..]);
    out[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a single-record frame to `out`; returns the frame length.
pub fn encode_record(out: &mut Vec<u8>, lsn: Lsn, data: &[u8]) -> usize {
    let start = out.len();
    let total = FRAME_HEADER_LEN + data.len();
    out.reserve(total);
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
    h[8..16].copy_from_slice(&lsn.0.to_le_bytes());
    h[16..20].copy_from_slice(&1u32.to_le_bytes());
    h[20] = FrameKind::Record as u8;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&h[4..]);
    hasher.update(data);
    h[0..4].copy_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.len() - start
}

/// Payload length of a batch frame holding `records`.
pub fn batch_payload_len<R: AsRef<[u8]>>(records: &[R]) -> u64 {
    records
        .iter()
        .map(|r| (BATCH_ENTRY_HEADER_LEN + r.as_ref().len()) as u64)
        .sum()
}

/// Appends an atomic batch frame to `out`; returns the frame length.
/// The caller has checked that the payload fits in a `u32` and the record count is not zero.
pub fn encode_batch<R: AsRef<[u8]>>(out: &mut Vec<u8>, lsn: Lsn, records: &[R]) -> usize {
    let start = out.len();
    let payload = batch_payload_len(records) as usize;
    out.reserve(FRAME_HEADER_LEN + payload);
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    for r in records {
        let r = r.as_ref();
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
    write_frame_header(
        &mut out[start..],
        payload as u32,
        lsn,
        records.len() as u32,
        FrameKind::Batch,
    );
    out.len() - start
}

/// A frame decoded from bytes; the payload borrows the input.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Kind of the frame.
    pub kind: FrameKind,
    /// LSN of the first record (for a trailer: last LSN of the segment).
    pub lsn: Lsn,
    /// Number of records in the frame.
    pub count: u32,
    /// The payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Total encoded length of the frame.
    pub fn len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload.len()
    }

    /// Whether the frame has an empty payload.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// LSN of the last record in the frame (the frame LSN for a trailer).
    pub fn last_lsn(&self) -> Lsn {
        if self.kind == FrameKind::Seal || self.count == 0 {
            self.lsn
        } else {
            Lsn(self.lsn.0 + u64::from(self.count) - 1)
        }
    }

    /// Iterates the records of a record or batch frame as `(lsn, payload range in self.payload)`.
    pub fn records(&self) -> FrameRecords<'_> {
        FrameRecords {
            frame: *self,
            pos: 0,
            index: 0,
        }
    }
}

/// Iterator over the records of a frame, see [`Frame::records`].
#[derive(Debug)]
pub struct FrameRecords<'a> {
    frame: Frame<'a>,
    pos: usize,
    index: u32,
}

impl Iterator for FrameRecords<'_> {
    type Item = (Lsn, std::ops::Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        let f = &self.frame;
        match f.kind {
            FrameKind::Seal => None,
            FrameKind::Record => {
                if self.index > 0 {
                    return None;
                }
                self.index = 1;
                Some((f.lsn, 0..f.payload.len()))
            }
            FrameKind::Batch => {
                if self.index >= f.count {
                    return None;
                }
                // The frame was validated by decode_frame, so the entries fit exactly.
                let len = get_u32(f.payload, self.pos) as usize;
                let start = self.pos + BATCH_ENTRY_HEADER_LEN;
                let end = start.checked_add(len)?;
                if end > f.payload.len() {
                    return None;
                }
                self.pos = end;
                let lsn = Lsn(f.lsn.0 + u64::from(self.index));
                self.index += 1;
                Some((lsn, start..end))
            }
        }
    }
}

/// Why bytes do not decode as a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes are present than the header announces (or than a header needs).
    Incomplete,
    /// The frame header is all zero bytes: a clean end (preallocated or never written space).
    Zero,
    /// The bytes are present but fail a check; the string says which.
    Invalid(String),
}

/// Decodes the frame at the start of `buf`.
///
/// `max_payload` bounds the payload length field; it is checked, together with the bytes
/// present, before the payload is touched.
pub fn decode_frame(buf: &[u8], max_payload: u32) -> Result<Frame<'_>, FrameError> {
    let Some(h) = buf.get(0..FRAME_HEADER_LEN) else {
        if buf.iter().all(|&b| b == 0) {
            return Err(FrameError::Zero);
        }
        return Err(FrameError::Incomplete);
    };
    if h.iter().all(|&b| b == 0) {
        return Err(FrameError::Zero);
    }
    let crc = get_u32(h, 0);
    let len = get_u32(h, 4);
    let lsn = Lsn(get_u64(h, 8));
    let count = get_u32(h, 16);
    let Some(kind) = FrameKind::from_byte(h[20]) else {
        return Err(FrameError::Invalid(format!("unknown frame kind {}", h[20])));
    };
    if h[21..24] != [0, 0, 0] {
        return Err(FrameError::Invalid(
            "reserved frame bytes are not zero".into(),
        ));
    }
    if len > max_payload {
        return Err(FrameError::Invalid(format!(
            "frame length {len} exceeds the maximum {max_payload}"
        )));
    }
    let end = FRAME_HEADER_LEN + len as usize;
    let Some(payload) = buf.get(FRAME_HEADER_LEN..end) else {
        return Err(FrameError::Incomplete);
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&h[4..]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err(FrameError::Invalid("frame checksum mismatch".into()));
    }
    if lsn.is_none() {
        return Err(FrameError::Invalid("frame LSN is 0".into()));
    }
    match kind {
        FrameKind::Record if count != 1 => {
            return Err(FrameError::Invalid("record frame count is not 1".into()));
        }
        FrameKind::Batch => check_batch(payload, count)?,
        _ => {}
    }
    Ok(Frame {
        kind,
        lsn,
        count,
        payload,
    })
}

fn check_batch(payload: &[u8], count: u32) -> Result<(), FrameError> {
    if count == 0 {
        return Err(FrameError::Invalid("batch frame holds no record".into()));
    }
    let mut pos = 0usize;
    for _ in 0..count {
        if payload.len() - pos < BATCH_ENTRY_HEADER_LEN {
            return Err(FrameError::Invalid(
                "batch entry header overruns frame".into(),
            ));
        }
        let len = get_u32(payload, pos) as usize;
        pos += BATCH_ENTRY_HEADER_LEN;
        if payload.len() - pos < len {
            return Err(FrameError::Invalid("batch entry overruns frame".into()));
        }
        pos += len;
    }
    if pos != payload.len() {
        return Err(FrameError::Invalid("batch frame has trailing bytes".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_frame_round_trips() {
        let mut buf = Vec::new();
        let n = encode_record(&mut buf, Lsn(7), b"hello");
        assert_eq!(n, FRAME_HEADER_LEN + 5);
        let f = decode_frame(&buf, 1024).unwrap();
        assert_eq!(f.kind, FrameKind::Record);
        assert_eq!(f.lsn, Lsn(7));
        assert_eq!(f.payload, b"hello");
        let recs: Vec<_> = f.records().collect();
        assert_eq!(recs, vec![(Lsn(7), 0..5)]);
    }

    #[test]
    fn batch_frame_round_trips_with_dense_lsns() {
        let mut buf = Vec::new();
        encode_batch(&mut buf, Lsn(10), &[&b"a"[..], b"", b"ccc"]);
        let f = decode_frame(&buf, 1024).unwrap();
        assert_eq!(f.last_lsn(), Lsn(12));
        let recs: Vec<_> = f
            .records()
            .map(|(l, r)| (l, f.payload[r].to_vec()))
            .collect();
        assert_eq!(
            recs,
            vec![
                (Lsn(10), b"a".to_vec()),
                (Lsn(11), vec![]),
                (Lsn(12), b"ccc".to_vec())
            ]
        );
    }

    #[test]
    fn every_flipped_byte_of_a_frame_is_detected() {
        let mut buf = Vec::new();
        encode_batch(&mut buf, Lsn(3), &[&b"xy"[..], b"zzz"]);
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(decode_frame(&b, 1024).is_err(), "flip at {i} bit {bit}");
            }
        }
    }

    #[test]
    fn length_is_checked_before_use() {
        let mut buf = Vec::new();
        encode_record(&mut buf, Lsn(1), &[1u8; 100]);
        assert!(matches!(
            decode_frame(&buf, 10),
            Err(FrameError::Invalid(_))
        ));
        assert_eq!(
            decode_frame(&buf[..50], 1024).unwrap_err(),
            FrameError::Incomplete
        );
        assert_eq!(
            decode_frame(&[0u8; 30], 1024).unwrap_err(),
            FrameError::Zero
        );
        assert_eq!(decode_frame(&[0u8; 3], 1024).unwrap_err(), FrameError::Zero);
    }

    #[test]
    fn header_and_trailer_round_trip() {
        let h = SegmentHeader {
            id: SegmentId(5),
            base: Lsn(100),
        };
        assert_eq!(SegmentHeader::decode(&h.encode()).unwrap(), h);
        let mut bad = h.encode();
        bad[20] ^= 1;
        assert!(SegmentHeader::decode(&bad).is_err());
        let t = Trailer {
            last_lsn: Lsn(150),
            records: 51,
            body_len: 4096,
            body_crc: 0xdead_beef,
        };
        assert_eq!(Trailer::decode(&t.encode()), Some(t));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..200 {
            let mut b = vec![0u8; len];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x as u8;
            }
            if len >= 24 {
                b[20] = (x % 4) as u8;
                b[21..24].fill(0);
            }
            let _ = decode_frame(&b, 1 << 20);
            let _ = SegmentHeader::decode(&b);
            let _ = Trailer::decode(&b);
        }
    }
}
