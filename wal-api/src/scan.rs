//! Scanning a segment in bounded memory: where its good frames end, and whether what follows
//! is a torn tail (damage in the unsynced window, cut there) or corruption (damage to bytes a
//! later frame proves were synced).
//!
//! The proof is the durable watermark every v2 frame carries: the highest LSN already synced
//! when the frame was written. Bytes holding record `E` and earlier were synced before any
//! frame whose watermark is `E` or more was written, so a valid frame with such a watermark
//! anywhere after damage at the place record `E` should start proves the damage is in synced
//! bytes. When no later frame proves it, the damage lies in bytes that were never
//! acknowledged, which a power loss may leave in any state, and the tail is cut there.

use bytes::Bytes;

use crate::error::Result;
use crate::format::{
    decode_frame, decode_frame_checked, plausible_head, Frame, FrameError, FrameKind, Layout,
    SegmentHeader, Trailer, FRAME_HEADER_LEN, KIND_AT, SEGMENT_HEADER_LEN, TRAILER_LEN,
};
use crate::lsn::{Lsn, SegmentId};
use crate::store::SegmentStore;

/// Bytes fetched from the store per read while scanning.
pub(crate) const CHUNK: usize = 1 << 20;

/// A stretch of bytes that failed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The bytes from `at` on are not part of the log: zeros, or damage no later frame proves
    /// was synced.
    Torn {
        /// Offset of the first byte not part of a good frame.
        at: u64,
        /// Whether every byte from `at` to the end of the frame area is zero.
        zeros: bool,
        /// What failed at `at`.
        reason: String,
    },
    /// Damage at `at` to bytes that were synced, or that a later good frame follows in a
    /// segment where every byte was synced (a sealed one).
    Corrupt {
        /// Offset of the bad frame.
        at: u64,
        /// Offset of the next good frame of the segment, if any.
        resume: Option<u64>,
        /// What failed, and the proof.
        reason: String,
    },
}

impl Problem {
    pub(crate) fn at(&self) -> u64 {
        match self {
            Problem::Torn { at, .. } | Problem::Corrupt { at, .. } => *at,
        }
    }

    pub(crate) fn reason(&self) -> &str {
        match self {
            Problem::Torn { reason, .. } | Problem::Corrupt { reason, .. } => reason,
        }
    }
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
    /// The first problem found (the scan stops there unless it skips).
    pub(crate) problem: Option<Problem>,
    /// Frames skipped in skip mode: `(offset, resume offset)`.
    pub(crate) skipped: Vec<(u64, u64)>,
    /// Offset up to which the good frames are proven synced: each frame before it holds only
    /// records at or below the highest durable watermark a good frame carries (the header
    /// counts as synced: a segment's creation is durable). Bytes after it may have been
    /// written by a process whose sync then failed.
    pub(crate) proven_end: u64,
    /// Highest durable watermark seen in a good frame.
    durable_max: Lsn,
    /// Good frames after `proven_end`: the LSN that must be durable for each to be proven
    /// (its last record's; for a frame without records, the LSN of the record after it)
    /// and its end offset. Bounded: past [`UNPROVEN_TRACKED`] frames the rest are not
    /// tracked, and `proven_end` stays at or below them.
    unproven: std::collections::VecDeque<(Lsn, u64)>,
    /// Whether `proven_end` is tracked: only where unsynced bytes may be (the newest
    /// segment); elsewhere it follows `end`.
    track_proof: bool,
}

/// Frames after the proven end that a scan tracks (16 bytes each).
const UNPROVEN_TRACKED: usize = 1 << 20;

impl Scan {
    fn new(header: &SegmentHeader, track_proof: bool) -> Scan {
        let pos = SEGMENT_HEADER_LEN as u64;
        Scan {
            end: pos,
            last_lsn: header.base.prev(),
            records: 0,
            trailer: None,
            problem: None,
            skipped: Vec::new(),
            proven_end: pos,
            durable_max: Lsn::NONE,
            unproven: std::collections::VecDeque::new(),
            track_proof,
        }
    }

    /// Counts the good frame `f` at `pos`: the next frame is expected after it.
    fn take(&mut self, f: &Info, expected: &mut Lsn, pos: &mut u64) {
        self.records += u64::from(f.count);
        self.last_lsn = self.last_lsn.max(f.last);
        *expected = f.last.next();
        *pos += f.len;
        self.end = *pos;
        self.durable_max = self.durable_max.max(f.durable);
        if !self.track_proof {
            self.proven_end = *pos;
            return;
        }
        let needs = if f.count > 0 { f.last } else { f.lsn };
        if self.unproven.len() < UNPROVEN_TRACKED {
            self.unproven.push_back((needs, *pos));
        }
        while let Some(&(needs, end)) = self.unproven.front() {
            if needs > self.durable_max {
                break;
            }
            self.proven_end = end;
            self.unproven.pop_front();
        }
    }
}

/// A read window over one segment: memory stays at one chunk plus the largest frame.
pub(crate) struct Window<'a, S: ?Sized> {
    store: &'a S,
    id: SegmentId,
    /// Bytes of the segment considered (its length, clipped to the frame limit).
    pub(crate) len: u64,
    buf: Bytes,
    off: u64,
}

impl<'a, S: SegmentStore + ?Sized> Window<'a, S> {
    pub(crate) fn new(store: &'a S, id: SegmentId, len: u64) -> Self {
        Window {
            store,
            id,
            len,
            buf: Bytes::new(),
            off: 0,
        }
    }

    /// At least `need` bytes from `pos` (fewer only at the end), as a slice.
    pub(crate) async fn get(&mut self, pos: u64, need: usize) -> Result<&[u8]> {
        let want_end = pos.saturating_add(need as u64).min(self.len);
        let have_end = self.off + self.buf.len() as u64;
        if pos < self.off || want_end > have_end {
            let end = pos
                .saturating_add(need.max(CHUNK) as u64)
                .min(self.len)
                .max(pos);
            self.buf = self.store.read(self.id, pos..end).await?;
            self.off = pos;
        }
        let rel = (pos - self.off) as usize;
        Ok(self.buf.get(rel..).unwrap_or_default())
    }

    /// The bytes from `pos` already in the window (clipped to `len`), without reading.
    fn buffered(&self, pos: u64) -> &[u8] {
        if pos < self.off {
            return &[];
        }
        let rel = (pos - self.off) as usize;
        let end = (self.len.saturating_sub(self.off) as usize).min(self.buf.len());
        self.buf.get(rel..end).unwrap_or_default()
    }

    /// Decodes the frame at `pos`.
    async fn frame_at(&mut self, pos: u64, layout: Layout) -> Result<Decoded> {
        let head = self.get(pos, FRAME_HEADER_LEN).await?;
        let need = if head.len() >= FRAME_HEADER_LEN {
            let mut l = [0u8; 4];
            l.copy_from_slice(&head[4..8]);
            let payload = u32::from_le_bytes(l).min(layout.max_payload);
            FRAME_HEADER_LEN + payload as usize
        } else {
            FRAME_HEADER_LEN
        };
        let bytes = self.get(pos, need).await?;
        Ok(match decode_frame(bytes, layout) {
            Ok(f) => Decoded::Frame(Info::of(&f), Trailer::from_frame(&f)),
            Err(e) => Decoded::Bad(e),
        })
    }

    /// Whether every byte in `from..self.len` is zero.
    pub(crate) async fn zeros_from(&mut self, from: u64) -> Result<bool> {
        let mut p = from;
        while p < self.len {
            let b = self.get(p, CHUNK).await?;
            if b.is_empty() {
                break;
            }
            if first_nonzero(b).is_some() {
                return Ok(false);
            }
            p += b.len() as u64;
        }
        Ok(true)
    }
}

/// The parts of a decoded frame the scan keeps (the frame itself borrows the window).
#[derive(Clone, Copy, Debug)]
struct Info {
    kind: FrameKind,
    lsn: Lsn,
    last: Lsn,
    durable: Lsn,
    count: u32,
    len: u64,
}

impl Info {
    fn of(f: &Frame<'_>) -> Info {
        Info {
            kind: f.kind,
            lsn: f.lsn,
            last: f.last_lsn(),
            durable: f.durable,
            count: f.count,
            len: f.len() as u64,
        }
    }
}

enum Decoded {
    Frame(Info, Option<Trailer>),
    Bad(FrameError),
}

/// How a scan treats damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The segment may end in an unsynced window (the last one): damage no later frame proves
    /// synced is a torn tail.
    MaybeUnsynced,
    /// Every byte was synced (a sealed, non-last segment): any damage is corruption.
    Synced,
}

/// Where a replaying open ([`Wal::open_replay`](crate::Wal::open_replay)) hands the records
/// a scan checks, as it checks them: each record of LSN [`next`](Self::next) or later, once,
/// in LSN order.
pub(crate) struct Sink<'a> {
    /// The next LSN to hand out; records below it are passed over.
    pub(crate) next: Lsn,
    /// Records handed out so far.
    pub(crate) applied: u64,
    apply: &'a mut (dyn FnMut(Lsn, &[u8]) -> Result<()> + Send),
    /// Keys of encrypted segments.
    keys: Option<std::sync::Arc<dyn crate::crypto::KeyProvider>>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(
        from: Lsn,
        apply: &'a mut (dyn FnMut(Lsn, &[u8]) -> Result<()> + Send),
        keys: Option<std::sync::Arc<dyn crate::crypto::KeyProvider>>,
    ) -> Self {
        Sink {
            next: from,
            applied: 0,
            apply,
            keys,
        }
    }

    /// Hands out the records of the good frame `f` (at `pos` in segment `id`); an error
    /// from `apply`, or a body that does not decompress, ends the scan.
    fn frame(&mut self, f: &Frame<'_>, id: SegmentId, pos: u64) -> Result<()> {
        if f.count == 0 || f.last_lsn() < self.next {
            return Ok(());
        }
        let key = crate::crypto::key_of(self.keys.as_deref(), f.layout.key_id);
        let body = f
            .body_with(key.as_ref())
            .map_err(|e| crate::Error::frame_body(id, pos, e))?;
        for (lsn, r) in body.records() {
            if lsn >= self.next {
                (self.apply)(lsn, &body.bytes()[r])?;
                self.applied += 1;
                self.next = lsn.next();
            }
        }
        Ok(())
    }
}

/// Scans the frames of segment `id` (of `len` bytes) whose header is `header`.
///
/// With `skip`, bad frames followed by good ones are stepped over (recorded in `skipped`);
/// otherwise the scan stops at the first problem.
pub(crate) async fn scan_segment<S: SegmentStore + ?Sized>(
    store: &S,
    id: SegmentId,
    len: u64,
    header: &SegmentHeader,
    damage: Damage,
    skip: bool,
) -> Result<Scan> {
    scan_segment_into(store, id, len, header, damage, skip, None).await
}

/// [`scan_segment`], handing the records of every good frame to `sink` as it takes them
/// (only without `skip`: a skipping scan may take frames its caller then discards).
pub(crate) async fn scan_segment_into<S: SegmentStore + ?Sized>(
    store: &S,
    id: SegmentId,
    len: u64,
    header: &SegmentHeader,
    damage: Damage,
    skip: bool,
    mut sink: Option<&mut Sink<'_>>,
) -> Result<Scan> {
    if skip {
        sink = None;
    }
    let layout = header.layout();
    let mut w = Window::new(store, id, len.min(header.frame_limit()));
    let mut pos = SEGMENT_HEADER_LEN as u64;
    let mut expected = header.base;
    let mut out = Scan::new(header, damage == Damage::MaybeUnsynced);
    while pos < w.len {
        // Fast path: in-place record, batch and meta frames already in the window are taken
        // without a read (the common case, frame after frame); anything else (a trailer, a
        // frame crossing the window's end, a failure) goes through the full path below.
        while let Ok(f) = decode_frame(w.buffered(pos), layout) {
            if f.kind == FrameKind::Seal || f.lsn != expected {
                break;
            }
            if let Some(s) = sink.as_deref_mut() {
                s.frame(&f, id, pos)?;
            }
            out.take(&Info::of(&f), &mut expected, &mut pos);
        }
        if pos >= w.len {
            break;
        }
        // A version 3 frame whose checksum matches but which this reader cannot interpret
        // was written whole by a newer writer: never a torn tail.
        let mut unsupported = false;
        let failure = match w.frame_at(pos, layout).await? {
            Decoded::Frame(f, t) if f.kind == FrameKind::Seal => {
                match check_trailer(&mut w, pos, t, &out).await? {
                    Ok(t) => {
                        out.trailer = Some(t);
                        return Ok(out);
                    }
                    Err(reason) => reason,
                }
            }
            Decoded::Frame(f, _)
                if f.lsn == expected || (skip && f.lsn > expected && !out.skipped.is_empty()) =>
            {
                if let Some(s) = sink.as_deref_mut() {
                    // The frame is whole in the window and was just checked.
                    let whole = decode_frame_checked(w.buffered(pos), layout, false)
                        .map_err(|_| crate::Error::corrupt(id, pos, "frame changed while read"))?;
                    s.frame(&whole, id, pos)?;
                }
                out.take(&f, &mut expected, &mut pos);
                continue;
            }
            Decoded::Frame(f, _) => {
                format!("frame of LSN {} where LSN {expected} should start", f.lsn)
            }
            Decoded::Bad(FrameError::Invalid(reason)) => reason,
            Decoded::Bad(FrameError::Unsupported(reason)) => {
                unsupported = true;
                format!("unreadable frame: {reason}")
            }
            Decoded::Bad(FrameError::Incomplete) => "incomplete frame".into(),
            Decoded::Bad(FrameError::Zero) => "zero bytes where a frame should start".into(),
        };
        let after = witnesses(&mut w, pos + 1, expected, layout).await?;
        let proven = unsupported
            || match damage {
                Damage::Synced => true,
                Damage::MaybeUnsynced => after.proof.is_some(),
            };
        if !proven {
            let zeros = w.zeros_from(pos).await?;
            out.problem = Some(Problem::Torn {
                at: pos,
                zeros,
                reason: failure,
            });
            return Ok(out);
        }
        let reason = match after.proof {
            _ if unsupported => failure,
            Some((at, durable)) => format!(
                "{failure}; the frame at offset {at} was written when LSN {durable} was \
                 already durable, so these bytes had been synced"
            ),
            None => format!("{failure} (in a sealed segment)"),
        };
        if out.problem.is_none() {
            out.problem = Some(Problem::Corrupt {
                at: pos,
                resume: after.resume,
                reason,
            });
        }
        match (skip, after.resume) {
            (true, Some(r)) => {
                out.skipped.push((pos, r));
                pos = r;
                // The skipped bytes are part of the segment, so a later trailer's body length
                // still counts them.
                out.end = pos;
            }
            _ => return Ok(out),
        }
    }
    Ok(out)
}

/// Whether the newest segment's bytes end in a seal trailer: one ending within a trailer's
/// length after the last non-zero byte (its own last bytes may be zero). A scan accepts a
/// trailer only when nothing but zeros follows it, so a segment for which this is false
/// cannot be sealed, and holds no reset intent (the frame before a trailer).
pub(crate) async fn ends_in_trailer<S: SegmentStore + ?Sized>(
    store: &S,
    m: crate::store::SegmentMeta,
    h: &SegmentHeader,
) -> Result<bool> {
    let (start, end) = (SEGMENT_HEADER_LEN as u64, m.len.min(h.frame_limit()));
    let mut hi = end;
    let last = loop {
        if hi <= start {
            return Ok(false);
        }
        let lo = hi.saturating_sub(CHUNK as u64).max(start);
        let b = store.read(m.id, lo..hi).await?;
        if let Some(k) = last_nonzero(&b) {
            break lo + k as u64;
        }
        hi = lo;
    };
    let trailer = TRAILER_LEN as u64;
    let from = (last + 1).saturating_sub(trailer).max(start);
    let to = (last + trailer).min(end);
    let b = store.read(m.id, from..to).await?;
    Ok((last + 1..=to).any(|e| {
        let at = e.checked_sub(trailer).filter(|&a| a >= from);
        at.and_then(|a| b.get((a - from) as usize..(e - from) as usize))
            .is_some_and(|t| Trailer::decode(t, h.salt).is_some())
    }))
}

/// The first offset in `bytes` where a whole frame header fits and passes the filters that
/// come before the checksum (a known kind, zero reserved bytes).
fn next_plausible(bytes: &[u8], version: u16) -> Option<usize> {
    let mut p = 0;
    while p + FRAME_HEADER_LEN <= bytes.len() {
        // The kind byte is never zero: runs of zeros (a torn tail's preallocation) are
        // stepped over a chunk at a time.
        p += first_nonzero(&bytes[p + KIND_AT..])?;
        if plausible_head(bytes.get(p..p + FRAME_HEADER_LEN)?, version) {
            return Some(p);
        }
        p += 1;
    }
    None
}

/// Bytes tested at once by [`first_nonzero`] and [`last_nonzero`].
const STEP: usize = 64;

/// Whether a [`STEP`]-byte chunk holds a non-zero byte: a branch-free OR of its words (a
/// byte loop stays scalar).
fn any_nonzero(chunk: &[u8]) -> bool {
    let word = |w: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        u64::from_le_bytes(a)
    };
    chunk.chunks_exact(8).map(word).fold(0, |a, w| a | w) != 0
}

/// The index of the first non-zero byte of `bytes`.
fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(STEP);
    let mut at = 0;
    for c in chunks.by_ref() {
        if any_nonzero(c) {
            return c.iter().position(|&b| b != 0).map(|k| at + k);
        }
        at += STEP;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b != 0)
        .map(|k| at + k)
}

/// The index of the last non-zero byte of `bytes`.
fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.rchunks_exact(STEP);
    let mut end = bytes.len();
    for c in chunks.by_ref() {
        end -= STEP;
        if any_nonzero(c) {
            return c.iter().rposition(|&b| b != 0).map(|k| end + k);
        }
    }
    chunks.remainder().iter().rposition(|&b| b != 0)
}

/// Finds the next offset after `from` in `bytes` where a good frame starts whose LSN is at
/// least `min_lsn` (or a trailer): where a skipping reader resumes.
pub(crate) fn find_next_frame(
    bytes: &[u8],
    from: usize,
    min_lsn: Lsn,
    layout: Layout,
) -> Option<usize> {
    let mut p = from;
    while let Some(k) = bytes
        .get(p..)
        .and_then(|b| next_plausible(b, layout.version))
    {
        p += k;
        if let Ok(f) = decode_frame(&bytes[p..], layout) {
            if f.lsn >= min_lsn || f.kind == FrameKind::Seal {
                return Some(p);
            }
        }
        p += 1;
    }
    None
}

/// Good frames found after a failure.
struct Witnesses {
    /// Offset of the first good frame.
    first: Option<u64>,
    /// Offset of the first good frame a skipping reader may resume at (LSN at least the
    /// expected one, or a trailer).
    resume: Option<u64>,
    /// A good frame whose watermark reaches the expected LSN: (offset, its watermark).
    proof: Option<(u64, Lsn)>,
}

/// Looks for good frames from `from` to the end of the frame area: byte by byte until one
/// decodes, then frame by frame while they follow each other.
async fn witnesses<S: SegmentStore + ?Sized>(
    w: &mut Window<'_, S>,
    from: u64,
    expected: Lsn,
    layout: Layout,
) -> Result<Witnesses> {
    let mut out = Witnesses {
        first: None,
        resume: None,
        proof: None,
    };
    let mut p = from;
    while p + FRAME_HEADER_LEN as u64 <= w.len {
        // Skip, in the bytes at hand, every offset the cheap filters rule out (a torn tail
        // is mostly zeros: this is what keeps a crash's open at memory speed).
        let h = w.get(p, FRAME_HEADER_LEN).await?;
        match next_plausible(h, layout.version) {
            Some(k) => p += k as u64,
            None => {
                p += (h.len().saturating_sub(FRAME_HEADER_LEN) + 1) as u64;
                continue;
            }
        }
        match w.frame_at(p, layout).await? {
            Decoded::Frame(f, _) => {
                out.first.get_or_insert(p);
                if out.resume.is_none() && (f.lsn >= expected || f.kind == FrameKind::Seal) {
                    out.resume = Some(p);
                }
                if f.durable >= expected {
                    out.proof = Some((p, f.durable));
                    return Ok(out);
                }
                p += f.len;
            }
            Decoded::Bad(_) => p += 1,
        }
    }
    Ok(out)
}

async fn check_trailer<S: SegmentStore + ?Sized>(
    w: &mut Window<'_, S>,
    pos: u64,
    t: Option<Trailer>,
    scan: &Scan,
) -> Result<std::result::Result<Trailer, String>> {
    let Some(t) = t else {
        return Ok(Err("malformed seal trailer".into()));
    };
    let after = pos + TRAILER_LEN as u64;
    if after < w.len && !w.zeros_from(after).await? {
        return Ok(Err("bytes after the seal trailer".into()));
    }
    if t.body_len != pos {
        return Ok(Err(format!(
            "trailer says the body is {} bytes, found {pos}",
            t.body_len
        )));
    }
    if !scan.skipped.is_empty() {
        // Frames were skipped, so counts cannot be compared; but no frame may lie past the
        // LSN the trailer closes the segment at (the next segment starts right after it).
        if scan.last_lsn > t.last_lsn {
            return Ok(Err(format!(
                "frames up to LSN {} before a trailer that ends the segment at {}",
                scan.last_lsn, t.last_lsn
            )));
        }
        return Ok(Ok(t));
    }
    if t.last_lsn != scan.last_lsn || t.records != scan.records {
        return Ok(Err(format!(
            "trailer says last LSN {} and {} records, found {} and {}",
            t.last_lsn, t.records, scan.last_lsn, scan.records
        )));
    }
    if body_crc(w, pos).await? != t.body_crc {
        return Ok(Err("segment checksum mismatch".into()));
    }
    Ok(Ok(t))
}

/// CRC32 of the first `end` bytes of the window's segment, read in chunks.
pub(crate) async fn body_crc<S: SegmentStore + ?Sized>(
    w: &mut Window<'_, S>,
    end: u64,
) -> Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut p = 0u64;
    while p < end {
        let id = w.id;
        let b = w.get(p, CHUNK).await?;
        if b.is_empty() {
            return Err(crate::Error::corrupt(
                id,
                p,
                format!("segment ends before the {end} bytes it should hold"),
            ));
        }
        let n = (b.len() as u64).min(end - p) as usize;
        h.update(&b[..n]);
        p += n as u64;
    }
    Ok(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode_record;
    use crate::segment::OneSegment;

    fn header() -> SegmentHeader {
        SegmentHeader {
            id: SegmentId(1),
            base: Lsn(1),
            salt: 99,
            segment_size: 1 << 20,
            max_record_size: 1024,
            max_batch_size: 1024,
            version: crate::format::FORMAT_VERSION,
            key_id: 0,
            key_check: 0,
        }
    }

    /// `n` records; record `i` carries watermark `durable(i)`.
    fn segment(n: u64, durable: impl Fn(u64) -> u64) -> (Vec<u8>, Vec<usize>) {
        let h = header();
        let mut b = h.encode().to_vec();
        let mut starts = Vec::new();
        for i in 1..=n {
            starts.push(b.len());
            encode_record(&mut b, h.salt, Lsn(i), Lsn(durable(i)), &[i as u8; 10]);
        }
        (b, starts)
    }

    fn scan(b: &[u8], damage: Damage, skip: bool) -> Scan {
        let store = OneSegment(Bytes::copy_from_slice(b));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(scan_segment(
            &store,
            SegmentId(1),
            b.len() as u64,
            &header(),
            damage,
            skip,
        ))
        .unwrap()
    }

    #[test]
    fn torn_last_frame_is_torn_at_every_cut() {
        let (b, starts) = segment(3, |i| i - 1);
        let last = starts[2];
        for cut in last + 1..b.len() {
            let s = scan(&b[..cut], Damage::MaybeUnsynced, false);
            assert_eq!(s.records, 2, "cut {cut}");
            assert!(matches!(s.problem, Some(Problem::Torn { at, .. }) if at == last as u64));
        }
    }

    #[test]
    fn hole_in_the_unsynced_window_is_torn_even_with_good_frames_after() {
        // Records 3.. were never synced (watermarks stay at 2): a lost page before them is
        // a torn tail although later frames are intact.
        let (mut b, starts) = segment(6, |i| (i - 1).min(2));
        b[starts[2] + 35] ^= 0xff;
        let s = scan(&b, Damage::MaybeUnsynced, false);
        assert_eq!(s.records, 2);
        assert!(matches!(s.problem, Some(Problem::Torn { at, .. }) if at == starts[2] as u64));
    }

    #[test]
    fn damage_proven_synced_by_a_later_watermark_is_corruption() {
        let (mut b, starts) = segment(6, |i| i - 1);
        b[starts[1] + 35] ^= 0xff;
        let s = scan(&b, Damage::MaybeUnsynced, false);
        assert!(matches!(s.problem, Some(Problem::Corrupt { at, .. }) if at == starts[1] as u64));
        let s = scan(&b, Damage::MaybeUnsynced, true);
        assert_eq!(s.records, 5);
        assert_eq!(s.last_lsn, Lsn(6));
        assert_eq!(s.skipped.len(), 1);
    }

    #[test]
    fn any_damage_in_a_synced_segment_is_corruption() {
        let (mut b, starts) = segment(3, |_| 0);
        b[starts[1] + 35] ^= 0xff;
        let s = scan(&b, Damage::Synced, false);
        assert!(matches!(s.problem, Some(Problem::Corrupt { .. })));
    }

    #[test]
    fn zero_fill_is_a_clean_torn_tail() {
        let (mut b, _) = segment(2, |i| i - 1);
        let end = b.len();
        b.extend_from_slice(&[0u8; 100]);
        let s = scan(&b, Damage::MaybeUnsynced, false);
        assert_eq!(s.end, end as u64);
        assert!(matches!(
            s.problem,
            Some(Problem::Torn { at, zeros: true, .. }) if at == end as u64
        ));
    }

    /// The zero-skipping filter finds exactly the offsets a byte-by-byte one finds, over
    /// zero runs of every length, frames, and noise with stray kind bytes.
    #[test]
    fn next_plausible_agrees_with_the_byte_by_byte_filter() {
        let reference = |b: &[u8], v3: bool| {
            let from = if v3 { 30 } else { 29 };
            b.windows(FRAME_HEADER_LEN)
                .position(|h| matches!(h[28], 1..=5) && h[from..32].iter().all(|&x| x == 0))
        };
        let (frames, _) = segment(3, |_| 0);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..2000 {
            let mut b = Vec::new();
            for _ in 0..(next() % 6) {
                match next() % 4 {
                    0 => b.resize(b.len() + (next() % 300) as usize, 0),
                    1 => b.extend_from_slice(&frames[..(next() as usize % frames.len())]),
                    2 => b.push((next() % 8) as u8),
                    _ => (0..next() % 70)
                        .for_each(|_| b.push((next() % 3) as u8 * (next() % 7) as u8)),
                }
            }
            assert_eq!(
                next_plausible(&b, 2),
                reference(&b, false),
                "case {case}: {b:?}"
            );
            assert_eq!(
                next_plausible(&b, 3),
                reference(&b, true),
                "case {case}: {b:?}"
            );
            assert_eq!(
                first_nonzero(&b),
                b.iter().position(|&v| v != 0),
                "case {case}"
            );
            assert_eq!(
                last_nonzero(&b),
                b.iter().rposition(|&v| v != 0),
                "case {case}"
            );
        }
    }
}
