//! Whole-segment helpers for tools outside the engine: archivers, `walctl`, third-party
//! readers. They apply the same checks as recovery and take the limits from the segment's
//! own header.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::state::{decide_state, LogState, SlotRead, StateDecision, STATE_SLOTS};
use crate::format::{decode_frame, SegmentHeader, Trailer, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::lsn::{Lsn, SegmentId};
use crate::scan::{scan_segment, Damage, Problem};
use crate::store::{Capabilities, SegmentMeta, SegmentStore, SegmentWriter};
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

/// Checks the bytes of segment `id`: header, every frame, and for a sealed segment the
/// trailer and whole-segment checksum.
///
/// With `allow_torn` (the newest segment of a log) damage that no later frame proves was
/// synced is a torn tail, counted in [`SegmentSummary::torn_bytes`], as recovery's default
/// mode treats it; without it (a sealed segment) any damage is [`Error::Corrupt`].
pub fn check_segment(id: SegmentId, bytes: &Bytes, allow_torn: bool) -> Result<SegmentSummary> {
    let header = SegmentHeader::decode(bytes).map_err(|r| Error::corrupt(id, 0, r))?;
    if header.id != id {
        return Err(Error::corrupt(
            id,
            0,
            format!("header names segment {}", header.id),
        ));
    }
    let store = OneSegment(bytes.clone());
    let damage = if allow_torn {
        Damage::MaybeUnsynced
    } else {
        Damage::Synced
    };
    let len = bytes.len() as u64;
    let scan = run_ready(scan_segment(&store, id, len, &header, damage, false))?;
    let torn = match scan.problem {
        None => len.saturating_sub(
            scan.end
                + scan
                    .trailer
                    .map_or(0, |_| crate::format::TRAILER_LEN as u64),
        ),
        Some(Problem::Torn { at, .. }) if scan.trailer.is_none() => len - at,
        Some(p) => return Err(Error::corrupt(id, p.at(), p.reason())),
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

/// Whether these bytes, as the newest segment of a log, are a creation that never completed:
/// no valid header and nothing but zeros behind it. Recovery removes such a segment (it held
/// nothing); a bad header with any byte behind it is corruption instead.
pub fn is_unfinished_creation(bytes: &[u8]) -> bool {
    SegmentHeader::decode(bytes).is_err()
        && bytes
            .get(SEGMENT_HEADER_LEN..)
            .is_none_or(|rest| rest.iter().all(|&b| b == 0))
}

/// The LSN a sealed segment's reset intent restarts the log at (see
/// [`Wal::reset`](crate::Wal::reset) and `docs/FORMAT.md`, "Meta payload"), or `None` when
/// `summary` (from [`check_segment`] of `bytes`) is not sealed by one. The segment after it
/// starts at that LSN, and it and every older segment are discarded at the next open.
pub fn reset_intent(bytes: &[u8], summary: &SegmentSummary) -> Option<Lsn> {
    summary.trailer?;
    let end = usize::try_from(summary.body_len).ok()?;
    let at = end.checked_sub(crate::format::meta::RESET_FRAME_LEN)?;
    if at < SEGMENT_HEADER_LEN {
        return None;
    }
    crate::format::meta::reset_intent_frame(
        bytes.get(at..end)?,
        summary.header.layout(),
        summary.last_lsn,
    )
}

/// What the listed entry `m` of a state slot holds, read in bounded memory: an entry longer
/// than its header allows a slot to be is invalid without being read.
pub async fn read_slot<S: SegmentStore + ?Sized>(
    store: &S,
    m: Option<&SegmentMeta>,
) -> Result<SlotRead> {
    let Some(m) = m else {
        return Ok(SlotRead::Absent);
    };
    if m.len < SEGMENT_HEADER_LEN as u64 {
        return Ok(SlotRead::Invalid);
    }
    let prefix = store.read(m.id, 0..SEGMENT_HEADER_LEN as u64).await?;
    if LogState::max_slot_len(&prefix).is_none_or(|max| m.len > max) {
        return Ok(SlotRead::Invalid);
    }
    let bytes = store.read(m.id, 0..m.len).await?;
    Ok(LogState::decode_slot(m.id, &bytes).map_or(SlotRead::Invalid, SlotRead::Valid))
}

/// The log's state (metadata and checkpoint) as recovery decides it from the two state slots
/// among `listed` (a [`SegmentStore::list`] of `store`), changing nothing: the engine, `walctl`
/// and the archiver all decide it here. The inner error says why the state is lost (both
/// slots damaged); the outer one is a failed read.
pub async fn read_state<S: SegmentStore + ?Sized>(
    store: &S,
    listed: &[SegmentMeta],
) -> Result<std::result::Result<StateDecision, String>> {
    let find = |id| listed.iter().find(|m| m.id == id);
    let reads = [
        read_slot(store, find(STATE_SLOTS[0])).await?,
        read_slot(store, find(STATE_SLOTS[1])).await?,
    ];
    Ok(decide_state(reads))
}

/// Writes `state` into both state slots of `store`, durably, one after the other (the
/// engine's rule, see [`crate::format::state`]), each with `header(slot)`: while one slot is
/// being written the other holds a whole state. The engine and a restore from an archive both
/// write state here.
pub async fn write_state<S: SegmentStore + ?Sized>(
    store: &S,
    state: &LogState,
    header: impl Fn(SegmentId) -> SegmentHeader,
) -> Result<()> {
    for id in STATE_SLOTS {
        write_slot(store, state, &header(id)).await?;
    }
    Ok(())
}

/// Writes `state` into the state slot `header.id`, durably: what the slot held (an older
/// state, or a write a crash interrupted) is deleted, then the slot is created, written and
/// sealed.
pub async fn write_slot<S: SegmentStore + ?Sized>(
    store: &S,
    state: &LogState,
    header: &SegmentHeader,
) -> Result<()> {
    match store.delete(header.id).await {
        Ok(()) | Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let bytes = state.encode_slot(header);
    let w = store
        .create(header.id, &bytes[..SEGMENT_HEADER_LEN])
        .await?;
    w.append(&bytes[SEGMENT_HEADER_LEN..]).await?;
    w.seal().await?;
    Ok(())
}

/// Decodes every record of segment `id` (checked as by [`check_segment`] with torn tails
/// allowed). Payloads share `bytes`' buffer.
pub fn segment_records(id: SegmentId, bytes: &Bytes) -> Result<Vec<Record>> {
    let summary = check_segment(id, bytes, true)?;
    let layout = summary.header.layout();
    let mut out = Vec::with_capacity(usize::try_from(summary.records).unwrap_or(0));
    let mut pos = SEGMENT_HEADER_LEN;
    let end = summary.body_len as usize;
    while pos < end {
        let f = decode_frame(&bytes[pos..end], layout)
            .map_err(|e| Error::corrupt(id, pos as u64, e.to_string()))?;
        let body = f.body().map_err(|e| Error::frame_body(id, pos as u64, e))?;
        let time = f.time();
        let owned = body
            .offset_in_frame()
            .is_none()
            .then(|| Bytes::copy_from_slice(body.bytes()));
        for (lsn, r) in body.records() {
            let data = match (&owned, body.offset_in_frame()) {
                (Some(o), _) => o.slice(r),
                (None, at) => {
                    let base = pos + at.unwrap_or(FRAME_HEADER_LEN);
                    bytes.slice(base + r.start..base + r.end)
                }
            };
            out.push(Record { lsn, data, time });
        }
        pos += f.len();
    }
    Ok(out)
}

/// Runs a future that never waits (it reads only from memory) to completion on this thread.
fn run_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// One segment's bytes as a read-only store, so the streaming scanner runs over them.
#[derive(Debug)]
pub(crate) struct OneSegment(pub(crate) Bytes);

#[async_trait]
impl SegmentStore for OneSegment {
    async fn create(&self, _: SegmentId, _: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        Err(Error::Unsupported("writing to a segment being checked"))
    }
    async fn open_tail(&self, _: SegmentId, _: u64) -> Result<Box<dyn SegmentWriter>> {
        Err(Error::Unsupported("writing to a segment being checked"))
    }
    async fn read(&self, _: SegmentId, r: Range<u64>) -> Result<Bytes> {
        let len = self.0.len() as u64;
        let (s, e) = (r.start.min(len) as usize, r.end.min(len) as usize);
        Ok(self.0.slice(s..e.max(s)))
    }
    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: SegmentId) -> Result<()> {
        Err(Error::Unsupported("writing to a segment being checked"))
    }
    async fn quarantine(&self, _: SegmentId, _: &str) -> Result<()> {
        Err(Error::Unsupported("writing to a segment being checked"))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
}
