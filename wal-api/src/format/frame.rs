//! Frames: the 32-byte header, encoding, decoding, and a data frame's body (version 3:
//! timestamp and compression).

use std::borrow::Cow;

use super::{
    get_u32, get_u64, Compression, FrameKind, Layout, BATCH_ENTRY_HEADER_LEN,
    CHECKPOINT_PAYLOAD_LEN, FLAGS_AT, FLAG_COMPRESSION_MASK, FLAG_ENCRYPTED, FLAG_TIMESTAMP,
    FRAME_HEADER_LEN, KIND_AT, KNOWN_FLAGS, NONCE_LEN, RAW_LEN_LEN, TAG_LEN, TIMESTAMP_LEN,
};
use crate::crypto::{frame_aad, Key};
use crate::lsn::Lsn;

/// The fields of a frame header other than its checksum.
#[derive(Clone, Copy, Debug)]
struct FrameHead {
    len: u32,
    lsn: Lsn,
    durable: Lsn,
    count: u32,
    kind: FrameKind,
    flags: u8,
}

impl FrameHead {
    fn fields(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut h = [0u8; FRAME_HEADER_LEN];
        h[4..8].copy_from_slice(&self.len.to_le_bytes());
        h[8..16].copy_from_slice(&self.lsn.0.to_le_bytes());
        h[16..24].copy_from_slice(&self.durable.0.to_le_bytes());
        h[24..28].copy_from_slice(&self.count.to_le_bytes());
        h[KIND_AT] = self.kind as u8;
        h[FLAGS_AT] = self.flags;
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
pub(crate) fn frame_crc(salt: u64, body: &[u8]) -> u32 {
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

/// How a version 3 data frame (record or batch) stores its body: its append time and its
/// compression. The default (no time, no compression) is a frame a version 2 segment
/// could hold too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Append time in microseconds since the Unix epoch ([`FLAG_TIMESTAMP`]).
    pub time: Option<u64>,
    /// The codec the body went through ([`Compression::compress`]'s output), or
    /// [`Compression::None`] for a body stored as the records' bytes.
    pub compression: Compression,
    /// Whether the stored body is a nonce, a ciphertext and a tag ([`encode_encrypted`]).
    pub encrypted: bool,
}

impl Stored {
    /// The frame flags saying this.
    pub fn flags(&self) -> u8 {
        let t = if self.time.is_some() {
            FLAG_TIMESTAMP
        } else {
            0
        };
        let e = if self.encrypted { FLAG_ENCRYPTED } else { 0 };
        t | e | self.compression.flag()
    }

    /// Bytes the payload holds before the body.
    pub fn prefix_len(&self) -> usize {
        if self.time.is_some() {
            TIMESTAMP_LEN
        } else {
            0
        }
    }
}

/// Appends a single-record frame to `out`, stored plain and without a time (valid in every
/// version); returns the frame length. `durable` is the highest LSN known synced when the
/// frame is written.
pub fn encode_record(out: &mut Vec<u8>, salt: u64, lsn: Lsn, durable: Lsn, data: &[u8]) -> usize {
    encode_data(
        out,
        salt,
        FrameKind::Record,
        lsn,
        durable,
        1,
        Stored::default(),
        data,
    )
}

/// Appends a record or batch frame of `count` records to `out`, whose body is `body`
/// (already compressed when `stored.compression` says so; for a plain batch, the entries);
/// returns the frame length. Flags other than the default need a version 3 segment.
#[allow(clippy::too_many_arguments)]
pub fn encode_data(
    out: &mut Vec<u8>,
    salt: u64,
    kind: FrameKind,
    lsn: Lsn,
    durable: Lsn,
    count: u32,
    stored: Stored,
    body: &[u8],
) -> usize {
    let start = out.len();
    let payload = stored.prefix_len() + body.len();
    out.reserve(FRAME_HEADER_LEN + payload);
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    if let Some(t) = stored.time {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.extend_from_slice(body);
    FrameHead {
        len: payload as u32,
        lsn,
        durable,
        count,
        kind,
        flags: stored.flags(),
    }
    .write(&mut out[start..], salt);
    out.len() - start
}

/// Appends a record or batch frame whose body (already compressed when
/// `stored.compression` says so) is encrypted with `key` and `nonce` (which must never have
/// been used with this key); returns the frame length, always
/// [`NONCE_LEN`] + [`TAG_LEN`] bytes longer than the frame [`encode_data`] would write.
#[allow(clippy::too_many_arguments)]
pub fn encode_encrypted(
    out: &mut Vec<u8>,
    salt: u64,
    kind: FrameKind,
    lsn: Lsn,
    durable: Lsn,
    count: u32,
    stored: Stored,
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    body: &[u8],
) -> Result<usize, String> {
    let stored = Stored {
        encrypted: true,
        ..stored
    };
    let aad = frame_aad(salt, lsn.0, count, kind as u8, stored.flags(), stored.time);
    let sealed = crate::crypto::seal(key, nonce, &aad, body)?;
    let mut sealed_body = Vec::with_capacity(NONCE_LEN + sealed.len());
    sealed_body.extend_from_slice(nonce);
    sealed_body.extend_from_slice(&sealed);
    Ok(encode_data(
        out,
        salt,
        kind,
        lsn,
        durable,
        count,
        stored,
        &sealed_body,
    ))
}

/// Appends a frame that holds no record (kind [`FrameKind::Meta`], [`FrameKind::Checkpoint`]
/// or, for a trailer, [`FrameKind::Seal`]) whose LSN field is `lsn`; returns the frame
/// length.
pub fn encode_marker(
    out: &mut Vec<u8>,
    salt: u64,
    kind: FrameKind,
    lsn: Lsn,
    durable: Lsn,
    payload: &[u8],
) -> usize {
    encode_data(out, salt, kind, lsn, durable, 0, Stored::default(), payload)
}

/// Payload length of a plain batch frame holding `records` (before any timestamp).
pub fn batch_payload_len<R: AsRef<[u8]>>(records: &[R]) -> u64 {
    records
        .iter()
        .map(|r| (BATCH_ENTRY_HEADER_LEN + r.as_ref().len()) as u64)
        .sum()
}

/// Appends an atomic batch frame to `out`, its entries stored plain, with the time
/// `stored.time` (`stored.compression` must be [`Compression::None`]: a compressed batch
/// is [`encode_data`] of the compressed entries); returns the frame length.
/// The caller has checked that the payload fits in a `u32` and the record count is not zero.
pub fn encode_batch<R: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    salt: u64,
    lsn: Lsn,
    durable: Lsn,
    stored: Stored,
    records: &[R],
) -> usize {
    debug_assert_eq!(stored.compression, Compression::None);
    let start = out.len();
    let stored = Stored {
        compression: Compression::None,
        ..stored
    };
    let payload = stored.prefix_len() + batch_payload_len(records) as usize;
    out.reserve(FRAME_HEADER_LEN + payload);
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    if let Some(t) = stored.time {
        out.extend_from_slice(&t.to_le_bytes());
    }
    encode_entries(out, records);
    FrameHead {
        len: payload as u32,
        lsn,
        durable,
        count: records.len() as u32,
        kind: FrameKind::Batch,
        flags: stored.flags(),
    }
    .write(&mut out[start..], salt);
    out.len() - start
}

/// Appends `records` as batch entries (`u32 len` + bytes each): a plain batch body, or the
/// bytes a compressed one is made from.
pub fn encode_entries<R: AsRef<[u8]>>(out: &mut Vec<u8>, records: &[R]) {
    for r in records {
        let r = r.as_ref();
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
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
    /// The flags byte (version 3; always 0 in version 2).
    pub flags: u8,
    /// The stored payload (timestamp, then the body as stored).
    pub payload: &'a [u8],
    /// The layout of the frame's segment (its salt, its payload limit, the bound on a
    /// decompressed body, and its key).
    pub layout: Layout,
}

impl<'a> Frame<'a> {
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

    /// The append time in microseconds since the Unix epoch, when the frame records one.
    pub fn time(&self) -> Option<u64> {
        (self.flags & FLAG_TIMESTAMP != 0).then(|| get_u64(self.payload, 0))
    }

    /// The codec the body is stored with (`None` for flag value 3, which never decodes).
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_flags(self.flags)
    }

    /// Offset of the stored body within the payload (after the timestamp).
    fn body_at(&self) -> usize {
        if self.flags & FLAG_TIMESTAMP != 0 {
            TIMESTAMP_LEN
        } else {
            0
        }
    }

    /// The body as stored (compressed when flagged).
    pub fn stored_body(&self) -> &'a [u8] {
        self.payload.get(self.body_at()..).unwrap_or_default()
    }

    /// Whether the body is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }

    /// The records' bytes of a frame that is not encrypted, see [`body_with`](Self::body_with).
    pub fn body(&self) -> Result<Body<'a>, FrameError> {
        self.body_with(None)
    }

    /// The records' bytes: borrowed from the payload when stored plain, decrypted with `key`
    /// (the key of the segment's key id) and decompressed otherwise. An error when this
    /// build lacks the codec or the key ([`FrameError::Unsupported`], also for a wrong key),
    /// or when the body is damaged or fails authentication ([`FrameError::Invalid`]); none
    /// of these happens to a frame the engine wrote, read with the right key.
    pub fn body_with(&self, key: Option<&Key>) -> Result<Body<'a>, FrameError> {
        let stored = self.stored_body();
        let inner = if self.is_encrypted() {
            Cow::Owned(self.decrypt(stored, key)?)
        } else {
            Cow::Borrowed(stored)
        };
        let bytes = match self.compression() {
            Some(Compression::None) => inner,
            Some(c) => Cow::Owned(c.decompress(&inner, self.layout.max_payload)?),
            None => return Err(FrameError::Unsupported("undefined compression".into())),
        };
        if self.kind == FrameKind::Batch && matches!(bytes, Cow::Owned(_)) {
            // Entries of a compressed or encrypted batch are checked once readable.
            check_batch(&bytes, self.count)?;
        }
        let offset = matches!(bytes, Cow::Borrowed(_)).then(|| FRAME_HEADER_LEN + self.body_at());
        Ok(Body {
            kind: self.kind,
            lsn: self.lsn,
            count: self.count,
            bytes,
            offset,
        })
    }
}

impl Frame<'_> {
    /// The plaintext of an encrypted stored body.
    fn decrypt(&self, stored: &[u8], key: Option<&Key>) -> Result<Vec<u8>, FrameError> {
        let id = self.layout.key_id;
        let Some(key) = key else {
            return Err(FrameError::Unsupported(format!(
                "the frame is encrypted with key id {id}, and no key was given for it"
            )));
        };
        if !crate::crypto::available() {
            return Err(FrameError::Unsupported(
                "the frame is encrypted: build wal-api with feature `encryption`".into(),
            ));
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN.min(stored.len()));
        let aad = frame_aad(
            self.layout.salt,
            self.lsn.0,
            self.count,
            self.kind as u8,
            self.flags,
            self.time(),
        );
        if let Some(plain) = crate::crypto::open(key, nonce, &aad, sealed) {
            return Ok(plain);
        }
        match crate::crypto::key_check(key, self.layout.salt) {
            Ok(check) if check != self.layout.key_check => Err(FrameError::Unsupported(format!(
                "wrong key for key id {id} (the segment's key check does not match)"
            ))),
            _ => Err(FrameError::Invalid(
                "encrypted frame fails authentication: its bytes were altered".into(),
            )),
        }
    }
}

/// The records of a frame with their bytes, see [`Frame::body`].
#[derive(Clone, Debug)]
pub struct Body<'a> {
    kind: FrameKind,
    lsn: Lsn,
    count: u32,
    bytes: Cow<'a, [u8]>,
    offset: Option<usize>,
}

impl<'a> Body<'a> {
    /// The body's bytes: one record, or a batch's entries.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the body starts in the frame's bytes, when it is borrowed from them (so a
    /// caller holding the frame in a shared buffer can slice records out of it).
    pub fn offset_in_frame(&self) -> Option<usize> {
        self.offset
    }

    /// The body's bytes, owned.
    pub fn into_owned(self) -> Vec<u8> {
        self.bytes.into_owned()
    }

    /// Iterates the records as `(lsn, range in self.bytes())`.
    pub fn records(&self) -> FrameRecords<'_> {
        FrameRecords {
            kind: self.kind,
            lsn: self.lsn,
            count: self.count,
            bytes: &self.bytes,
            pos: 0,
            index: 0,
        }
    }
}

/// Iterator over the records of a frame body, see [`Body::records`].
#[derive(Debug)]
pub struct FrameRecords<'a> {
    kind: FrameKind,
    lsn: Lsn,
    count: u32,
    bytes: &'a [u8],
    pos: usize,
    index: u32,
}

impl Iterator for FrameRecords<'_> {
    type Item = (Lsn, std::ops::Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        match self.kind {
            FrameKind::Seal | FrameKind::Meta | FrameKind::Checkpoint => None,
            FrameKind::Record => {
                if self.index > 0 {
                    return None;
                }
                self.index = 1;
                Some((self.lsn, 0..self.bytes.len()))
            }
            FrameKind::Batch => {
                if self.index >= self.count {
                    return None;
                }
                // The entries were checked (decode_frame, or Frame::body after
                // decompressing), so they fit exactly.
                let len = get_u32(self.bytes, self.pos) as usize;
                let start = self.pos + BATCH_ENTRY_HEADER_LEN;
                let end = start.checked_add(len)?;
                if end > self.bytes.len() {
                    return None;
                }
                self.pos = end;
                let lsn = Lsn(self.lsn.0 + u64::from(self.index));
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
    /// A version 3 frame whose checksum matches but that this reader cannot interpret (an
    /// unknown kind or flag, a codec this build lacks): written by a writer that knows
    /// more, so never a torn tail. The string says what.
    Unsupported(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete => f.write_str("incomplete frame"),
            FrameError::Zero => f.write_str("zero bytes where a frame should start"),
            FrameError::Invalid(reason) => f.write_str(reason),
            FrameError::Unsupported(reason) => write!(f, "unreadable frame: {reason}"),
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
    let v3 = layout.version >= 3;
    if !v3 {
        // Version 2 checks the kind and the reserved bytes before the length and the
        // checksum (its verdicts are frozen).
        known_kind_and_flags(h, false).map_err(FrameError::Invalid)?;
    }
    let crc = get_u32(h, 0);
    let len = get_u32(h, 4);
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
    // Version 3: the checksum matched, so the bytes are as a writer wrote them; a kind or
    // flag this reader does not know is a newer writer's, never damage.
    let kind = match known_kind_and_flags(h, v3).and_then(|k| encryption_matches(h, k, layout)) {
        Ok(kind) => kind,
        Err(reason) => return Err(FrameError::Unsupported(reason)),
    };
    let frame = Frame {
        kind,
        lsn: Lsn(get_u64(h, 8)),
        durable: Lsn(get_u64(h, 16)),
        count: get_u32(h, 24),
        flags: h[FLAGS_AT],
        payload,
        layout,
    };
    check_fields(&frame)?;
    Ok(frame)
}

/// The frame's kind, when the kind and the flag and reserved bytes are ones this reader
/// knows (`v3`: byte 29 holds flags; else it is reserved like bytes 30 and 31).
fn known_kind_and_flags(h: &[u8], v3: bool) -> Result<FrameKind, String> {
    let Some(kind) = FrameKind::from_byte(h[KIND_AT]) else {
        return Err(format!("unknown frame kind {}", h[KIND_AT]));
    };
    let flags = if v3 { h[FLAGS_AT] } else { 0 };
    let reserved = if v3 { FLAGS_AT + 1 } else { FLAGS_AT };
    if h[reserved..FRAME_HEADER_LEN].iter().any(|&b| b != 0) {
        return Err("reserved frame bytes are not zero".into());
    }
    if flags & !KNOWN_FLAGS != 0 || flags & FLAG_COMPRESSION_MASK == FLAG_COMPRESSION_MASK {
        return Err(format!("unknown frame flags {flags:#04x}"));
    }
    if flags != 0 && !kind.holds_records() {
        return Err(format!("flags {flags:#04x} on a {kind:?} frame"));
    }
    Ok(kind)
}

/// In an encrypted segment every record and batch frame is encrypted, and in any other none
/// is: a frame that breaks this was not written by this segment's writer.
fn encryption_matches(h: &[u8], kind: FrameKind, layout: Layout) -> Result<FrameKind, String> {
    let encrypted = h[FLAGS_AT] & FLAG_ENCRYPTED != 0;
    if kind.holds_records() && encrypted != (layout.key_id != 0) {
        return Err(if encrypted {
            "encrypted frame in a segment without a key".into()
        } else {
            format!(
                "plain frame in a segment encrypted with key id {}",
                layout.key_id
            )
        });
    }
    Ok(kind)
}

/// The checks on a frame's fields that follow its checksum.
fn check_fields(f: &Frame<'_>) -> Result<(), FrameError> {
    let invalid = |s: &str| Err(FrameError::Invalid(s.into()));
    // A trailer's LSN is the segment's last LSN, `base - 1` when it holds no record: 0 for
    // an empty segment at base 1 (sealed by a reset of a log that never held a record).
    if f.lsn.is_none() && f.kind != FrameKind::Seal {
        return invalid("frame LSN is 0");
    }
    if f.payload.len() < f.body_at() {
        return invalid("frame payload shorter than its timestamp");
    }
    let compressed = f.compression() != Some(Compression::None);
    if f.is_encrypted() && f.stored_body().len() < NONCE_LEN + TAG_LEN {
        return invalid("encrypted body shorter than its nonce and tag");
    }
    if compressed && !f.is_encrypted() && f.stored_body().len() < RAW_LEN_LEN {
        return invalid("compressed body shorter than its length prefix");
    }
    // A plain batch's entries are checked here; a compressed or encrypted one's when read.
    let opaque = compressed || f.is_encrypted();
    match f.kind {
        FrameKind::Record if f.count != 1 => return invalid("record frame count is not 1"),
        FrameKind::Batch if opaque && f.count == 0 => {
            return invalid("batch frame holds no record")
        }
        FrameKind::Batch if !opaque => check_batch(f.stored_body(), f.count)?,
        FrameKind::Seal | FrameKind::Meta | FrameKind::Checkpoint if f.count != 0 => {
            return Err(FrameError::Invalid(format!(
                "{:?} frame count is not 0",
                f.kind
            )));
        }
        FrameKind::Checkpoint if f.payload.len() != CHECKPOINT_PAYLOAD_LEN => {
            return invalid("checkpoint frame payload is not 8 bytes");
        }
        _ => {}
    }
    if f.kind.holds_records() && f.lsn.0.checked_add(u64::from(f.count)).is_none() {
        return invalid("frame LSNs overflow");
    }
    Ok(())
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
    use crate::format::{
        SegmentHeader, Trailer, FORMAT_VERSION, MIN_FORMAT_VERSION, SEGMENT_HEADER_LEN,
    };
    use crate::lsn::SegmentId;

    const SALT: u64 = 0x5eed;

    fn layout(max_payload: u32) -> Layout {
        Layout {
            salt: SALT,
            max_payload,
            version: FORMAT_VERSION,
            key_id: 0,
            key_check: 0,
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
        let body = f.body().unwrap();
        assert_eq!(body.offset_in_frame(), Some(FRAME_HEADER_LEN));
        let recs: Vec<_> = body.records().collect();
        assert_eq!(recs, vec![(Lsn(7), 0..5)]);
    }

    #[test]
    fn another_salt_never_validates() {
        let mut buf = Vec::new();
        encode_record(&mut buf, SALT, Lsn(7), Lsn(5), b"hello");
        let other = Layout {
            salt: SALT + 1,
            ..layout(1024)
        };
        assert!(matches!(
            decode_frame(&buf, other),
            Err(FrameError::Invalid(_))
        ));
    }

    #[test]
    fn batch_frame_round_trips_with_dense_lsns() {
        let mut buf = Vec::new();
        encode_batch(
            &mut buf,
            SALT,
            Lsn(10),
            Lsn(9),
            Stored::default(),
            &[&b"a"[..], b"", b"ccc"],
        );
        let f = decode_frame(&buf, layout(1024)).unwrap();
        assert_eq!(f.last_lsn(), Lsn(12));
        let body = f.body().unwrap();
        let recs: Vec<_> = body
            .records()
            .map(|(l, r)| (l, body.bytes()[r].to_vec()))
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
        assert_eq!(f.body().unwrap().records().count(), 0);
    }

    #[test]
    fn every_flipped_byte_of_a_frame_is_detected() {
        let mut buf = Vec::new();
        encode_batch(
            &mut buf,
            SALT,
            Lsn(3),
            Lsn(2),
            Stored::default(),
            &[&b"xy"[..], b"zzz"],
        );
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
            version: FORMAT_VERSION,
            key_id: 0,
            key_check: 0,
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
                b[29] &= 0x0f;
                b[30..32].fill(0);
            }
            let _ =
                decode_frame(&b, layout(1 << 20)).map(|f| f.body().map(|b| b.records().count()));
            let _ = SegmentHeader::decode(&b);
            let _ = Trailer::decode(&b, SALT);
        }
    }

    #[test]
    fn a_timestamp_opens_the_payload_and_the_records_follow_it() {
        let mut buf = Vec::new();
        let stored = Stored {
            time: Some(1_700_000_000_123_456),
            compression: Compression::None,
            encrypted: false,
        };
        encode_batch(&mut buf, SALT, Lsn(4), Lsn(3), stored, &[&b"ab"[..], b"c"]);
        let f = decode_frame(&buf, layout(1024)).unwrap();
        assert_eq!(f.flags, FLAG_TIMESTAMP);
        assert_eq!(f.time(), Some(1_700_000_000_123_456));
        let body = f.body().unwrap();
        assert_eq!(
            body.offset_in_frame(),
            Some(FRAME_HEADER_LEN + TIMESTAMP_LEN)
        );
        let recs: Vec<_> = body
            .records()
            .map(|(l, r)| (l, body.bytes()[r].to_vec()))
            .collect();
        assert_eq!(
            recs,
            vec![(Lsn(4), b"ab".to_vec()), (Lsn(5), b"c".to_vec())]
        );
        // A version 2 segment has no flags: the same bytes are damage there.
        let v2 = Layout {
            version: MIN_FORMAT_VERSION,
            ..layout(1024)
        };
        assert!(matches!(
            decode_frame(&buf, v2),
            Err(FrameError::Invalid(_))
        ));
    }

    #[test]
    fn a_compressed_batch_decompresses_to_its_entries() {
        for c in [Compression::Lz4, Compression::Zstd(1)] {
            let records: Vec<Vec<u8>> = (0..20u8).map(|i| vec![b'a' + i % 3; 200]).collect();
            let mut raw = Vec::new();
            encode_entries(&mut raw, &records);
            let Some(z) = c.compress(&raw) else {
                assert!(!c.available(), "{c:?} did not shrink repetitive bytes");
                continue;
            };
            let stored = Stored {
                time: Some(9),
                compression: c,
                encrypted: false,
            };
            let mut buf = Vec::new();
            encode_data(
                &mut buf,
                SALT,
                FrameKind::Batch,
                Lsn(1),
                Lsn(0),
                20,
                stored,
                &z,
            );
            let f = decode_frame(&buf, layout(1 << 16)).unwrap();
            assert_eq!(f.compression(), Compression::from_flags(c.flag()));
            let body = f.body().unwrap();
            assert_eq!(body.offset_in_frame(), None);
            let got: Vec<Vec<u8>> = body
                .records()
                .map(|(_, r)| body.bytes()[r].to_vec())
                .collect();
            assert_eq!(got, records);
            // A count the decompressed entries do not fill is damage found at read.
            let mut wrong = Vec::new();
            encode_data(
                &mut wrong,
                SALT,
                FrameKind::Batch,
                Lsn(1),
                Lsn(0),
                19,
                stored,
                &z,
            );
            let f = decode_frame(&wrong, layout(1 << 16)).unwrap();
            assert!(matches!(f.body(), Err(FrameError::Invalid(_))));
            // The decompressed size is bounded by the segment's payload limit.
            let f = decode_frame(&buf, layout(buf.len() as u32)).unwrap();
            assert!(f.body().is_err());
        }
    }

    #[test]
    fn a_checksummed_frame_with_unknown_kind_or_flags_is_unsupported_not_damage() {
        let frame = |kind: u8, flags: u8, reserved: u8| {
            let mut buf = Vec::new();
            encode_record(&mut buf, SALT, Lsn(1), Lsn(0), b"0123456789");
            buf[KIND_AT] = kind;
            buf[FLAGS_AT] = flags;
            buf[FLAGS_AT + 1] = reserved;
            let crc = frame_crc(SALT, &buf[4..]);
            buf[0..4].copy_from_slice(&crc.to_le_bytes());
            buf
        };
        for (kind, flags, reserved) in [
            (9, 0, 0),
            (1, 0x04, 0),
            (1, 0x80, 0),
            (1, 0x03, 0),
            (1, 0, 1),
            (4, FLAG_TIMESTAMP, 0),
        ] {
            let b = frame(kind, flags, reserved);
            assert!(
                matches!(
                    decode_frame(&b, layout(1024)),
                    Err(FrameError::Unsupported(_))
                ),
                "kind {kind} flags {flags:#x} reserved {reserved}"
            );
            let v2 = Layout {
                version: MIN_FORMAT_VERSION,
                ..layout(1024)
            };
            assert!(matches!(decode_frame(&b, v2), Err(FrameError::Invalid(_))));
        }
        let b = frame(1, FLAG_TIMESTAMP, 0);
        assert!(decode_frame(&b, layout(1024)).is_ok());
    }
}
