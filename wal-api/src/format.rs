//! The on-disk format: segment header, frames and the seal trailer.
//!
//! Every integer is little-endian. `docs/FORMAT.md` describes the same layout byte by byte.
//! Decoding never panics and never allocates from a length field: lengths are checked against
//! the configured maximum and the bytes actually present first.
//!
//! # Stability
//!
//! This module is the stable Rust API of the on-disk format, for tools that read or write
//! segments without the engine (`walctl`, archivers, fuzzers, third-party readers). Its items
//! describe format version [`FORMAT_VERSION`], which `docs/FORMAT.md` specifies byte by byte,
//! and follow semver like the rest of the crate: within one semver-compatible release series
//! (0.1.x now) no item is removed and no encoder or decoder changes the bytes it writes or
//! accepts. A new format version comes with a semver-incompatible release. Encoders write
//! exactly what the engine writes, and decoders check what the engine checks.

use crate::lsn::Lsn;

mod header;
pub mod meta;
pub mod state;

pub use header::SegmentHeader;

/// Magic bytes opening every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RSWALSEG";
/// Format version written by this crate.
pub const FORMAT_VERSION: u16 = 2;
/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Size of a frame header in bytes.
pub const FRAME_HEADER_LEN: usize = 32;
/// Size of the seal trailer payload in bytes.
pub const TRAILER_PAYLOAD_LEN: usize = 24;
/// Size of the whole seal trailer (frame header plus payload).
pub const TRAILER_LEN: usize = FRAME_HEADER_LEN + TRAILER_PAYLOAD_LEN;
/// Magic closing a trailer payload.
pub const TRAILER_MAGIC: [u8; 4] = *b"WEND";
/// Per-record length prefix inside a batch frame.
pub const BATCH_ENTRY_HEADER_LEN: usize = 4;
/// Payload length of a checkpoint frame (the checkpoint LSN).
pub const CHECKPOINT_PAYLOAD_LEN: usize = 8;

/// The kind of a frame (byte 28 of its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// One record; the payload is the record.
    Record = 1,
    /// An atomic batch; the payload is `count` entries of `u32 len` + bytes.
    Batch = 2,
    /// The seal trailer closing a segment.
    Seal = 3,
    /// Log metadata (key/value entries); holds no record and takes no LSN.
    Meta = 4,
    /// A checkpoint (the payload is the checkpoint LSN); holds no record and takes no LSN.
    Checkpoint = 5,
}

/// Offset of the kind byte in a frame header; the three reserved (zero) bytes follow it.
pub(crate) const KIND_AT: usize = 28;

/// Whether a frame header (at least [`FRAME_HEADER_LEN`] bytes) passes the checks that come
/// before its checksum: a known kind and zero reserved bytes.
pub(crate) fn plausible_head(h: &[u8]) -> bool {
    FrameKind::from_byte(h[KIND_AT]).is_some() && h[KIND_AT + 1..FRAME_HEADER_LEN] == [0, 0, 0]
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Record),
            2 => Some(FrameKind::Batch),
            3 => Some(FrameKind::Seal),
            4 => Some(FrameKind::Meta),
            5 => Some(FrameKind::Checkpoint),
            _ => None,
        }
    }

    /// Whether frames of this kind hold records (and so take LSNs).
    pub fn holds_records(self) -> bool {
        matches!(self, FrameKind::Record | FrameKind::Batch)
    }
}

/// What a frame decoder needs from its segment's header: the salt every frame's checksum
/// covers and the largest payload the log was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The segment's salt.
    pub salt: u64,
    /// Largest payload a frame of the segment may declare.
    pub max_payload: u32,
}

/// A fresh random salt for a new segment (not cryptographic: it only has to differ between
/// segments and logs, so a frame copied from elsewhere never validates).
pub fn new_salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.write_u32(std::process::id());
    h.finish()
}

pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
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
    /// Encodes the trailer frame (header and payload) for a segment salted with `salt`;
    /// `durable` is the highest LSN known synced when it is written.
    pub fn encode(&self, salt: u64, durable: Lsn) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        let p = FRAME_HEADER_LEN;
        b[p..p + 8].copy_from_slice(&self.records.to_le_bytes());
        b[p + 8..p + 16].copy_from_slice(&self.body_len.to_le_bytes());
        b[p + 16..p + 20].copy_from_slice(&self.body_crc.to_le_bytes());
        b[p + 20..p + 24].copy_from_slice(&TRAILER_MAGIC);
        let h = FrameHead {
            len: TRAILER_PAYLOAD_LEN as u32,
            lsn: self.last_lsn,
            durable,
            count: 0,
            kind: FrameKind::Seal,
        };
        h.write(&mut b, salt);
        b
    }

    /// Decodes a trailer from the last [`TRAILER_LEN`] bytes of a segment.
    pub fn decode(b: &[u8], salt: u64) -> Option<Trailer> {
        let layout = Layout {
            salt,
            max_payload: TRAILER_PAYLOAD_LEN as u32,
        };
        let f = decode_frame(b, layout).ok()?;
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

/// The fields of a frame header other than its checksum.
#[derive(Clone, Copy, Debug)]
struct FrameHead {
    len: u32,
    lsn: Lsn,
    durable: Lsn,
    count: u32,
    kind: FrameKind,
}

impl FrameHead {
    fn fields(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut h = [0u8; FRAME_HEADER_LEN];
        h[4..8].copy_from_slice(&self.len.to_le_bytes());
        h[8..16].copy_from_slice(&self.lsn.0.to_le_bytes());
        h[16..24].copy_from_slice(&self.durable.0.to_le_bytes());
        h[24..28].copy_from_slice(&self.count.to_le_bytes());
        h[KIND_AT] = self.kind as u8;
        h
    }

    /// Writes the header into `out[0..32]` with the CRC over the salt, the header fields and
    /// `out[32..]` (`out` holds exactly the frame).
    fn write(&self, out: &mut [u8], salt: u64) {
        out[..FRAME_HEADER_LEN].copy_from_slice(&self.fields());
        let crc = frame_crc(salt, &out[4..]);
        out[0..4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// CRC32 of a frame: the salt (8 bytes, little-endian), then `body`, the frame from header
/// byte 4 to the end of its payload. One update over the contiguous bytes: split at the
/// header's end, a 100-byte payload falls below the size the vectorised CRC needs.
fn frame_crc(salt: u64, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(salt_crc(salt));
    hasher.update(body);
    hasher.finalize()
}

/// CRC32 of the salt's 8 bytes. Every frame of a segment starts its checksum with the same
/// salt, so each thread remembers the last one (8 bytes go through the slow table path: this
/// was ~5% of a replay).
fn salt_crc(salt: u64) -> u32 {
    use std::cell::Cell;
    thread_local! {
        static LAST: Cell<Option<(u64, u32)>> = const { Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((s, crc)) if s == salt => crc,
        _ => {
            let crc = crc32fast::hash(&salt.to_le_bytes());
            last.set(Some((salt, crc)));
            crc
        }
    })
}

/// Appends a single-record frame to `out`; returns the frame length. `durable` is the
/// highest LSN known synced when the frame is written.
pub fn encode_record(out: &mut Vec<u8>, salt: u64, lsn: Lsn, durable: Lsn, data: &[u8]) -> usize {
    let start = out.len();
    let total = FRAME_HEADER_LEN + data.len();
    out.reserve(total);
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    out.extend_from_slice(data);
    FrameHead {
        len: data.len() as u32,
        lsn,
        durable,
        count: 1,
        kind: FrameKind::Record,
    }
    .write(&mut out[start..], salt);
    total
}

/// Appends a frame that holds no record (kind [`FrameKind::Meta`] or
/// [`FrameKind::Checkpoint`]) before the record `next` would take; returns the frame length.
pub fn encode_marker(
    out: &mut Vec<u8>,
    salt: u64,
    kind: FrameKind,
    next: Lsn,
    durable: Lsn,
    payload: &[u8],
) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    out.extend_from_slice(payload);
    FrameHead {
        len: payload.len() as u32,
        lsn: next,
        durable,
        count: 0,
        kind,
    }
    .write(&mut out[start..], salt);
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
pub fn encode_batch<R: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    salt: u64,
    lsn: Lsn,
    durable: Lsn,
    records: &[R],
) -> usize {
    let start = out.len();
    let payload = batch_payload_len(records) as usize;
    out.reserve(FRAME_HEADER_LEN + payload);
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    for r in records {
        let r = r.as_ref();
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
    FrameHead {
        len: payload as u32,
        lsn,
        durable,
        count: records.len() as u32,
        kind: FrameKind::Batch,
    }
    .write(&mut out[start..], salt);
    out.len() - start
}

/// A frame decoded from bytes; the payload borrows the input.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Kind of the frame.
    pub kind: FrameKind,
    /// LSN of the first record (a trailer: the last LSN of the segment; a frame without
    /// records: the LSN the next record takes).
    pub lsn: Lsn,
    /// The highest LSN known synced when the frame was written.
    pub durable: Lsn,
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

    /// LSN of the last record in the frame (the frame LSN for a trailer; the LSN before
    /// the frame for a frame without records).
    pub fn last_lsn(&self) -> Lsn {
        match self.kind {
            FrameKind::Seal => self.lsn,
            FrameKind::Meta | FrameKind::Checkpoint => self.lsn.prev(),
            FrameKind::Record | FrameKind::Batch => {
                Lsn(self.lsn.0.saturating_add(u64::from(self.count)) - 1)
            }
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
            FrameKind::Seal | FrameKind::Meta | FrameKind::Checkpoint => None,
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

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete => f.write_str("incomplete frame"),
            FrameError::Zero => f.write_str("zero bytes where a frame should start"),
            FrameError::Invalid(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for FrameError {}

/// Decodes the frame at the start of `buf` for a segment of `layout`.
///
/// The payload length field is checked against `layout.max_payload` and the bytes present
/// before the payload is touched; the checksum covers the segment's salt, so a frame copied
/// from another segment, another log or a payload never validates.
pub fn decode_frame(buf: &[u8], layout: Layout) -> Result<Frame<'_>, FrameError> {
    decode_frame_checked(buf, layout, true)
}

/// [`decode_frame`], checking the checksum only when `verify` (the engine skips it for bytes
/// it verified earlier in this process, such as a tail recovery just scanned).
pub(crate) fn decode_frame_checked(
    buf: &[u8],
    layout: Layout,
    verify: bool,
) -> Result<Frame<'_>, FrameError> {
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
    let durable = Lsn(get_u64(h, 16));
    let count = get_u32(h, 24);
    let Some(kind) = FrameKind::from_byte(h[KIND_AT]) else {
        return Err(FrameError::Invalid(format!(
            "unknown frame kind {}",
            h[KIND_AT]
        )));
    };
    if h[KIND_AT + 1..FRAME_HEADER_LEN] != [0, 0, 0] {
        return Err(FrameError::Invalid(
            "reserved frame bytes are not zero".into(),
        ));
    }
    if len > layout.max_payload {
        return Err(FrameError::Invalid(format!(
            "frame length {len} exceeds the maximum {}",
            layout.max_payload
        )));
    }
    let end = FRAME_HEADER_LEN + len as usize;
    let Some(payload) = buf.get(FRAME_HEADER_LEN..end) else {
        return Err(FrameError::Incomplete);
    };
    if verify && frame_crc(layout.salt, &buf[4..end]) != crc {
        return Err(FrameError::Invalid("frame checksum mismatch".into()));
    }
    // A trailer's LSN is the segment's last LSN, `base - 1` when it holds no record: 0 for
    // an empty segment at base 1 (sealed by a reset of a log that never held a record).
    if lsn.is_none() && kind != FrameKind::Seal {
        return Err(FrameError::Invalid("frame LSN is 0".into()));
    }
    match kind {
        FrameKind::Record if count != 1 => {
            return Err(FrameError::Invalid("record frame count is not 1".into()));
        }
        FrameKind::Batch => check_batch(payload, count)?,
        FrameKind::Seal | FrameKind::Meta | FrameKind::Checkpoint if count != 0 => {
            return Err(FrameError::Invalid(format!(
                "{kind:?} frame count is not 0"
            )));
        }
        FrameKind::Checkpoint if payload.len() != CHECKPOINT_PAYLOAD_LEN => {
            return Err(FrameError::Invalid(
                "checkpoint frame payload is not 8 bytes".into(),
            ));
        }
        _ => {}
    }
    if kind.holds_records() && lsn.0.checked_add(u64::from(count)).is_none() {
        return Err(FrameError::Invalid("frame LSNs overflow".into()));
    }
    Ok(Frame {
        kind,
        lsn,
        durable,
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
    use crate::lsn::SegmentId;

    const SALT: u64 = 0x5eed;

    fn layout(max_payload: u32) -> Layout {
        Layout {
            salt: SALT,
            max_payload,
        }
    }

    #[test]
    fn record_frame_round_trips() {
        let mut buf = Vec::new();
        let n = encode_record(&mut buf, SALT, Lsn(7), Lsn(5), b"hello");
        assert_eq!(n, FRAME_HEADER_LEN + 5);
        let f = decode_frame(&buf, layout(1024)).unwrap();
        assert_eq!(f.kind, FrameKind::Record);
        assert_eq!((f.lsn, f.durable), (Lsn(7), Lsn(5)));
        assert_eq!(f.payload, b"hello");
        let recs: Vec<_> = f.records().collect();
        assert_eq!(recs, vec![(Lsn(7), 0..5)]);
    }

    #[test]
    fn another_salt_never_validates() {
        let mut buf = Vec::new();
        encode_record(&mut buf, SALT, Lsn(7), Lsn(5), b"hello");
        let other = Layout {
            salt: SALT + 1,
            max_payload: 1024,
        };
        assert!(matches!(
            decode_frame(&buf, other),
            Err(FrameError::Invalid(_))
        ));
    }

    #[test]
    fn batch_frame_round_trips_with_dense_lsns() {
        let mut buf = Vec::new();
        encode_batch(&mut buf, SALT, Lsn(10), Lsn(9), &[&b"a"[..], b"", b"ccc"]);
        let f = decode_frame(&buf, layout(1024)).unwrap();
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
    fn marker_frames_hold_no_record() {
        let mut buf = Vec::new();
        encode_marker(
            &mut buf,
            SALT,
            FrameKind::Checkpoint,
            Lsn(4),
            Lsn(3),
            &9u64.to_le_bytes(),
        );
        let f = decode_frame(&buf, layout(1024)).unwrap();
        assert_eq!(f.kind, FrameKind::Checkpoint);
        assert_eq!(f.last_lsn().next(), Lsn(4));
        assert_eq!(f.records().count(), 0);
    }

    #[test]
    fn every_flipped_byte_of_a_frame_is_detected() {
        let mut buf = Vec::new();
        encode_batch(&mut buf, SALT, Lsn(3), Lsn(2), &[&b"xy"[..], b"zzz"]);
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(
                    decode_frame(&b, layout(1024)).is_err(),
                    "flip at {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn length_is_checked_before_use() {
        let mut buf = Vec::new();
        encode_record(&mut buf, SALT, Lsn(1), Lsn(0), &[1u8; 100]);
        assert!(matches!(
            decode_frame(&buf, layout(10)),
            Err(FrameError::Invalid(_))
        ));
        assert_eq!(
            decode_frame(&buf[..50], layout(1024)).unwrap_err(),
            FrameError::Incomplete
        );
        assert_eq!(
            decode_frame(&[0u8; 40], layout(1024)).unwrap_err(),
            FrameError::Zero
        );
        assert_eq!(
            decode_frame(&[0u8; 3], layout(1024)).unwrap_err(),
            FrameError::Zero
        );
    }

    #[test]
    fn header_and_trailer_round_trip() {
        let h = SegmentHeader {
            id: SegmentId(5),
            base: Lsn(100),
            salt: 77,
            segment_size: 1 << 20,
            max_record_size: 1000,
            max_batch_size: 2000,
        };
        assert_eq!(SegmentHeader::decode(&h.encode()).unwrap(), h);
        for i in 0..SEGMENT_HEADER_LEN {
            let mut bad = h.encode();
            bad[i] ^= 1;
            assert!(SegmentHeader::decode(&bad).is_err(), "flip at {i}");
        }
        let t = Trailer {
            last_lsn: Lsn(150),
            records: 51,
            body_len: 4096,
            body_crc: 0xdead_beef,
        };
        assert_eq!(Trailer::decode(&t.encode(77, Lsn(140)), 77), Some(t));
        assert_eq!(Trailer::decode(&t.encode(77, Lsn(140)), 78), None);
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
            if len >= FRAME_HEADER_LEN {
                b[28] = (x % 6) as u8;
                b[29..32].fill(0);
            }
            let _ = decode_frame(&b, layout(1 << 20));
            let _ = SegmentHeader::decode(&b);
            let _ = Trailer::decode(&b, SALT);
        }
    }
}
