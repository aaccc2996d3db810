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

mod compress;
mod frame;
mod header;
pub mod meta;
pub mod state;

pub use compress::Compression;
pub(crate) use frame::decode_frame_checked;
pub use frame::{
    batch_payload_len, decode_frame, encode_batch, encode_data, encode_encrypted, encode_entries,
    encode_marker, encode_record, Body, Frame, FrameError, FrameRecords, Stored,
};
pub use header::SegmentHeader;

/// Magic bytes opening every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RSWALSEG";
/// Format version of the segments this crate creates.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest format version this crate reads (and keeps appending to: a segment keeps the
/// version it was created with, see `docs/FORMAT.md`).
pub const MIN_FORMAT_VERSION: u16 = 2;
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
/// Bytes a version 3 frame's payload may hold beyond the segment's limits: room for the
/// timestamp (and the envelope later flags may add), so a record or batch at the limit
/// still fits.
pub const V3_PAYLOAD_ALLOWANCE: u32 = 64;
/// Length of a data frame's timestamp (version 3, [`FLAG_TIMESTAMP`]): microseconds since
/// the Unix epoch, a little-endian `u64` opening the payload.
pub const TIMESTAMP_LEN: usize = 8;
/// Length of the original-length prefix of a compressed body (version 3).
pub const RAW_LEN_LEN: usize = 4;

/// Frame flag bits 0-1 (version 3, header byte 29): the body's compression
/// ([`Compression`]): 0 none, 1 lz4, 2 zstd (3 is not defined).
pub const FLAG_COMPRESSION_MASK: u8 = 0b0000_0011;
/// Frame flag bit 2 (version 3): the stored body is encrypted ([`crate::crypto`]): after
/// the timestamp come a [`NONCE_LEN`]-byte nonce, the ciphertext and a [`TAG_LEN`]-byte tag.
pub const FLAG_ENCRYPTED: u8 = 0b0000_0100;
/// Frame flag bit 3 (version 3): the payload opens with a [`TIMESTAMP_LEN`]-byte timestamp.
pub const FLAG_TIMESTAMP: u8 = 0b0000_1000;
/// Every frame flag this version defines; a frame whose checksum matches but which sets
/// another bit (or names an unknown kind) is unreadable, never a torn tail.
pub const KNOWN_FLAGS: u8 = FLAG_COMPRESSION_MASK | FLAG_ENCRYPTED | FLAG_TIMESTAMP;
/// Length of an encrypted frame's nonce (XChaCha20-Poly1305).
pub const NONCE_LEN: usize = 24;
/// Length of an encrypted frame's authentication tag (Poly1305).
pub const TAG_LEN: usize = 16;

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

/// Offset of the kind byte in a frame header; the flags byte (version 3; reserved in
/// version 2) and two reserved (zero) bytes follow it.
pub(crate) const KIND_AT: usize = 28;
/// Offset of the flags byte in a frame header (version 3).
pub(crate) const FLAGS_AT: usize = 29;

/// Whether a frame header (at least [`FRAME_HEADER_LEN`] bytes) of a segment of format
/// `version` passes the checks that come before its checksum: a known kind and zero
/// reserved bytes.
pub(crate) fn plausible_head(h: &[u8], version: u16) -> bool {
    let reserved = if version >= 3 { FLAGS_AT + 1 } else { FLAGS_AT };
    FrameKind::from_byte(h[KIND_AT]).is_some()
        && h[reserved..FRAME_HEADER_LEN].iter().all(|&b| b == 0)
}

impl FrameKind {
    pub(crate) fn from_byte(b: u8) -> Option<FrameKind> {
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
/// covers, the largest payload the log was written with and the segment's format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The segment's salt.
    pub salt: u64,
    /// Largest payload a frame of the segment may declare.
    pub max_payload: u32,
    /// The segment's format version ([`MIN_FORMAT_VERSION`]..=[`FORMAT_VERSION`]): version 3
    /// frames carry flags (timestamp, compression, encryption).
    pub version: u16,
    /// The key id of an encrypted segment (0: not encrypted): its record and batch frames
    /// must be encrypted, and no other frame may be.
    pub key_id: u16,
    /// The segment's key check (see [`SegmentHeader::key_check`]).
    pub key_check: u16,
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
        let mut p = [0u8; TRAILER_PAYLOAD_LEN];
        p[0..8].copy_from_slice(&self.records.to_le_bytes());
        p[8..16].copy_from_slice(&self.body_len.to_le_bytes());
        p[16..20].copy_from_slice(&self.body_crc.to_le_bytes());
        p[20..24].copy_from_slice(&TRAILER_MAGIC);
        let mut out = Vec::with_capacity(TRAILER_LEN);
        encode_marker(&mut out, salt, FrameKind::Seal, self.last_lsn, durable, &p);
        let mut b = [0u8; TRAILER_LEN];
        b.copy_from_slice(&out);
        b
    }

    /// Decodes a trailer from the last [`TRAILER_LEN`] bytes of a segment.
    pub fn decode(b: &[u8], salt: u64) -> Option<Trailer> {
        // A trailer is the same in every version and carries no flags.
        let layout = Layout {
            salt,
            max_payload: TRAILER_PAYLOAD_LEN as u32,
            version: MIN_FORMAT_VERSION,
            key_id: 0,
            key_check: 0,
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
