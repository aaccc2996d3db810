//! The segment header: the 64 bytes that open every segment and say how to read the rest.

use super::{
    get_u16, get_u32, get_u64, Layout, FORMAT_VERSION, FRAME_HEADER_LEN, MIN_FORMAT_VERSION,
    SEGMENT_HEADER_LEN, SEGMENT_MAGIC, TRAILER_LEN, TRAILER_PAYLOAD_LEN, V3_PAYLOAD_ALLOWANCE,
};
use crate::lsn::{Lsn, SegmentId};

/// The header opening every segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Identifier of the segment (must match its name).
    pub id: SegmentId,
    /// LSN of the first record the segment holds or will hold.
    pub base: Lsn,
    /// Random per-segment value covered by every frame checksum.
    pub salt: u64,
    /// Target size the log rotated at when it wrote this segment.
    pub segment_size: u64,
    /// Largest record the log accepted when it wrote this segment.
    pub max_record_size: u32,
    /// Largest atomic batch payload the log accepted when it wrote this segment.
    pub max_batch_size: u32,
    /// The segment's format version: [`FORMAT_VERSION`] for a segment this crate creates;
    /// an older segment keeps its version (and its frames their layout) while it is read
    /// and appended to.
    pub version: u16,
    /// Version 3: the id of the key its record and batch frames are encrypted with (0: not
    /// encrypted), see [`crypto`](crate::crypto).
    pub key_id: u16,
    /// Version 3: a 16-bit check of that key for this segment
    /// ([`crypto::key_check`](crate::crypto::key_check); 0 when `key_id` is 0), so a wrong
    /// key is told apart from altered frames.
    pub key_check: u16,
}

impl SegmentHeader {
    /// A header with the default limits of [`WalOptions`](crate::WalOptions) (64 MiB
    /// segments, 16 MiB records, 64 MiB batches).
    pub fn new(id: SegmentId, base: Lsn, salt: u64) -> SegmentHeader {
        SegmentHeader {
            id,
            base,
            salt,
            segment_size: 64 << 20,
            max_record_size: 16 << 20,
            max_batch_size: 64 << 20,
            version: FORMAT_VERSION,
            key_id: 0,
            key_check: 0,
        }
    }

    /// What decoding this segment's frames needs. A version 3 segment's payloads may hold
    /// [`V3_PAYLOAD_ALLOWANCE`] bytes more than its limits (a timestamp).
    pub fn layout(&self) -> Layout {
        let limit = self
            .max_record_size
            .max(self.max_batch_size)
            .max(TRAILER_PAYLOAD_LEN as u32);
        let allowance = if self.version >= 3 {
            V3_PAYLOAD_ALLOWANCE
        } else {
            0
        };
        Layout {
            salt: self.salt,
            max_payload: limit.saturating_add(allowance),
            version: self.version,
            key_id: self.key_id,
            key_check: self.key_check,
        }
    }

    /// Offset past which no frame of this segment can start: rotation happens before a frame
    /// would push a non-empty segment past `segment_size`, so frames end before
    /// `segment_size` plus one largest frame plus the trailer. Bytes beyond are not part of
    /// the segment (preallocation, or damage).
    pub fn frame_limit(&self) -> u64 {
        self.segment_size
            .saturating_add(SEGMENT_HEADER_LEN as u64)
            .saturating_add(FRAME_HEADER_LEN as u64)
            .saturating_add(u64::from(self.layout().max_payload))
            .saturating_add(TRAILER_LEN as u64)
    }

    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        // 10..12 flags (zero)
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.id.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.base.0.to_le_bytes());
        b[32..40].copy_from_slice(&self.salt.to_le_bytes());
        b[40..48].copy_from_slice(&self.segment_size.to_le_bytes());
        b[48..52].copy_from_slice(&self.max_record_size.to_le_bytes());
        b[52..56].copy_from_slice(&self.max_batch_size.to_le_bytes());
        // 56..60: key id and key check (version 3; zero when not encrypted or version 2)
        b[56..58].copy_from_slice(&self.key_id.to_le_bytes());
        b[58..60].copy_from_slice(&self.key_check.to_le_bytes());
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
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
        let crc = get_u32(b, 60);
        if crc != crc32fast::hash(&b[0..60]) {
            return Err("segment header checksum mismatch".into());
        }
        let version = get_u16(b, 8);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(format!("unsupported format version {version}"));
        }
        let (key_id, key_check) = (get_u16(b, 56), get_u16(b, 58));
        if get_u16(b, 10) != 0 || (version < 3 && (key_id, key_check) != (0, 0)) {
            return Err("unknown segment header flags or reserved bytes".into());
        }
        if (key_id == 0) != (key_check == 0) {
            return Err("segment header's key id and key check disagree".into());
        }
        if get_u32(b, 12) as usize != SEGMENT_HEADER_LEN {
            return Err("unexpected segment header length".into());
        }
        let base = Lsn(get_u64(b, 24));
        if base.is_none() {
            return Err("segment base LSN is 0".into());
        }
        let h = SegmentHeader {
            id: SegmentId(get_u64(b, 16)),
            base,
            salt: get_u64(b, 32),
            segment_size: get_u64(b, 40),
            max_record_size: get_u32(b, 48),
            max_batch_size: get_u32(b, 52),
            version,
            key_id,
            key_check,
        };
        if h.max_record_size == 0 || h.max_batch_size == 0 || h.segment_size == 0 {
            return Err("segment header has a zero limit".into());
        }
        Ok(h)
    }
}
