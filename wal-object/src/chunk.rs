//! The chunk object: the bytes one sync made durable, with where they go in the segment.
//!
//! Layout (little-endian): magic `WCHK` (4), format version u16, reserved u16, writer epoch u64,
//! start offset u64 (the segment is cut there before the data is appended), data length u64,
//! CRC32 (crc32fast) of everything before it u32, then the data, then CRC32 of the data u32.

use bytes::{Bytes, BytesMut};

const MAGIC: [u8; 4] = *b"WCHK";
const VERSION: u16 = 1;
/// Bytes before the data.
pub(crate) const HEADER_LEN: usize = 4 + 2 + 2 + 8 + 8 + 8 + 4;

/// A decoded chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) epoch: u64,
    pub(crate) start: u64,
    pub(crate) data: Bytes,
}

pub(crate) fn encode(epoch: u64, start: u64, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN + data.len() + 4);
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&epoch.to_le_bytes());
    b.extend_from_slice(&start.to_le_bytes());
    b.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let hcrc = crc32fast::hash(&b);
    b.extend_from_slice(&hcrc.to_le_bytes());
    b.extend_from_slice(data);
    b.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    b.freeze()
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

/// Decodes a chunk; `None` when it is torn or fails a check.
pub(crate) fn decode(b: &Bytes) -> Option<Chunk> {
    if b.len() < HEADER_LEN || b[..4] != MAGIC || u16::from_le_bytes([b[4], b[5]]) != VERSION {
        return None;
    }
    if crc32fast::hash(&b[..HEADER_LEN - 4]) != u32_at(b, HEADER_LEN - 4)? {
        return None;
    }
    let epoch = u64_at(b, 8)?;
    let start = u64_at(b, 16)?;
    let len = usize::try_from(u64_at(b, 24)?).ok()?;
    if b.len() != HEADER_LEN.checked_add(len)?.checked_add(4)? {
        return None;
    }
    let data = b.slice(HEADER_LEN..HEADER_LEN + len);
    if crc32fast::hash(&data) != u32_at(b, HEADER_LEN + len)? {
        return None;
    }
    Some(Chunk { epoch, start, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trips_and_every_flip_or_cut_is_detected() {
        let enc = encode(3, 40, b"hello chunk");
        let c = decode(&enc).unwrap();
        assert_eq!(
            (c.epoch, c.start, &c.data[..]),
            (3, 40, &b"hello chunk"[..])
        );
        for i in 0..enc.len() {
            let mut v = enc.to_vec();
            v[i] ^= 0x10;
            assert_eq!(decode(&Bytes::from(v)), None, "flip at {i}");
            assert_eq!(decode(&enc.slice(..i)), None, "cut at {i}");
        }
    }
}
