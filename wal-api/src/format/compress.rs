//! Compression of a data frame's body (format version 3).
//!
//! A compressed body is the original length (`u32`, little-endian) followed by the codec's
//! output: an lz4 block (no frame header) or a zstd frame. The original length is checked
//! against the segment's payload limit before anything is allocated, and the decompressed
//! bytes must have exactly that length.

use super::{get_u32, FrameError, FLAG_COMPRESSION_MASK, RAW_LEN_LEN};

/// How the body of a record or batch frame is compressed (frame flag bits 0-1).
///
/// The engine compresses a body only when that makes it smaller, so a frame of a log
/// configured with a codec may still be stored plain. Each codec needs its crate feature
/// (`lz4`, `zstd`) to write and to read; a build without it reports such a frame as
/// unreadable (never as damage: the checksum covers the stored bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored as given.
    #[default]
    None,
    /// lz4 block compression (feature `lz4`): fast, modest ratio.
    Lz4,
    /// zstd at the given level (feature `zstd`; 1 is fast, up to 22; 0 means zstd's
    /// default, 3).
    Zstd(i32),
}

impl Compression {
    /// The flag bits naming this codec.
    pub fn flag(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 1,
            Compression::Zstd(_) => 2,
        }
    }

    /// The codec named by a frame's flags (`None` for the undefined value 3).
    pub fn from_flags(flags: u8) -> Option<Compression> {
        match flags & FLAG_COMPRESSION_MASK {
            0 => Some(Compression::None),
            1 => Some(Compression::Lz4),
            2 => Some(Compression::Zstd(0)),
            _ => None,
        }
    }

    /// Whether this build can write and read bodies of this codec.
    pub fn available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd(_) => cfg!(feature = "zstd"),
        }
    }

    /// `raw` compressed with this codec, original length first, when that is shorter than
    /// `raw` (`None`: store it plain; also for [`Compression::None`] and a codec this
    /// build lacks).
    pub fn compress(self, raw: &[u8]) -> Option<Vec<u8>> {
        let len = u32::try_from(raw.len()).ok()?;
        let mut out = Vec::with_capacity(RAW_LEN_LEN + raw.len() / 2);
        out.extend_from_slice(&len.to_le_bytes());
        match self {
            Compression::None => return None,
            Compression::Lz4 => lz4_compress(raw, &mut out)?,
            Compression::Zstd(level) => zstd_compress(raw, level, &mut out)?,
        }
        (out.len() < raw.len()).then_some(out)
    }

    /// The original bytes of a body compressed with this codec, whose original length may
    /// be at most `limit`.
    pub fn decompress(self, stored: &[u8], limit: u32) -> Result<Vec<u8>, FrameError> {
        if self == Compression::None {
            return Ok(stored.to_vec());
        }
        if !self.available() {
            return Err(FrameError::Unsupported(format!(
                "the frame is compressed with {}: build wal-api with feature `{}`",
                self.name(),
                self.name()
            )));
        }
        if stored.len() < RAW_LEN_LEN {
            return Err(FrameError::Invalid(
                "compressed body shorter than its length prefix".into(),
            ));
        }
        let raw = get_u32(stored, 0);
        if raw > limit {
            return Err(FrameError::Invalid(format!(
                "compressed body claims {raw} bytes, more than the limit {limit}"
            )));
        }
        let data = &stored[RAW_LEN_LEN..];
        let out = match self {
            Compression::Lz4 => lz4_decompress(data, raw as usize),
            _ => zstd_decompress(data, raw as usize),
        }
        .map_err(|e| {
            FrameError::Invalid(format!("{} body does not decompress: {e}", self.name()))
        })?;
        if out.len() != raw as usize {
            return Err(FrameError::Invalid(format!(
                "compressed body holds {} bytes, its prefix says {raw}",
                out.len()
            )));
        }
        Ok(out)
    }

    /// The codec's name (and its crate feature's).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd(_) => "zstd",
        }
    }
}

#[cfg(feature = "lz4")]
fn lz4_compress(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let at = out.len();
    out.resize(at + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
    let n = lz4_flex::block::compress_into(raw, &mut out[at..]).ok()?;
    out.truncate(at + n);
    Some(())
}

#[cfg(not(feature = "lz4"))]
fn lz4_compress(_: &[u8], _: &mut Vec<u8>) -> Option<()> {
    None
}

#[cfg(feature = "lz4")]
fn lz4_decompress(data: &[u8], raw: usize) -> Result<Vec<u8>, String> {
    lz4_flex::block::decompress(data, raw).map_err(|e| e.to_string())
}

#[cfg(not(feature = "lz4"))]
fn lz4_decompress(_: &[u8], _: usize) -> Result<Vec<u8>, String> {
    Err("lz4 is not built in".into())
}

#[cfg(feature = "zstd")]
fn zstd_compress(raw: &[u8], level: i32, out: &mut Vec<u8>) -> Option<()> {
    let z = zstd::bulk::compress(raw, level).ok()?;
    out.extend_from_slice(&z);
    Some(())
}

#[cfg(not(feature = "zstd"))]
fn zstd_compress(_: &[u8], _: i32, _: &mut Vec<u8>) -> Option<()> {
    None
}

#[cfg(feature = "zstd")]
fn zstd_decompress(data: &[u8], raw: usize) -> Result<Vec<u8>, String> {
    zstd::bulk::decompress(data, raw).map_err(|e| e.to_string())
}

#[cfg(not(feature = "zstd"))]
fn zstd_decompress(_: &[u8], _: usize) -> Result<Vec<u8>, String> {
    Err("zstd is not built in".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codecs() -> Vec<Compression> {
        let mut v = Vec::new();
        if cfg!(feature = "lz4") {
            v.push(Compression::Lz4);
        }
        if cfg!(feature = "zstd") {
            v.push(Compression::Zstd(3));
        }
        v
    }

    #[test]
    fn compressible_bytes_round_trip_and_random_bytes_stay_plain() {
        let text = b"the quick brown fox jumps over the lazy dog ".repeat(20);
        let mut x = 0x1234_5678_9abc_def0u64;
        let noise: Vec<u8> = (0..900)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for c in codecs() {
            let z = c.compress(&text).expect("text shrinks");
            assert!(z.len() < text.len());
            assert_eq!(c.decompress(&z, 1 << 20).unwrap(), text);
            assert_eq!(
                c.compress(&noise),
                None,
                "{c:?} kept bytes it did not shrink"
            );
            assert!(c.decompress(&z, text.len() as u32 - 1).is_err());
            let mut bad = z.clone();
            bad[0] ^= 1;
            assert!(c.decompress(&bad, 1 << 20).is_err());
        }
        assert_eq!(Compression::None.compress(&text), None);
    }
}
