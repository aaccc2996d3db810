//! Reading records back: ranges across segments and the live tail.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::{Bound, RangeBounds};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use super::{Inner, Record, Wal};
use crate::error::{Error, Result};
use crate::format::{
    decode_frame_checked, FrameError, FrameKind, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::lsn::{Lsn, SegmentId};
use crate::options::{RecoveryMode, Visibility};
use crate::scan::find_next_frame;
use crate::store::SegmentStore;

/// A stream of records (or one error, after which it ends).
pub type RecordStream = Pin<Box<dyn Stream<Item = Result<Record>> + Send + 'static>>;

impl<S: SegmentStore> Wal<S> {
    /// Streams the records of `range` that are visible under the log's default
    /// [`Visibility`], across segments. A range without a start (`..`, `..=n`) starts at
    /// [`first_lsn`](Self::first_lsn) as it is when called; one starting explicitly below it
    /// yields [`Error::Trimmed`] first. The stream stops at the visible end.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use futures::StreamExt;
    /// use wal_api::{Error, Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let wal = Wal::open(MemoryStore::new(), WalOptions::default()).await?;
    /// for r in [&b"a"[..], b"b", b"c"] {
    ///     wal.append(r).await?;
    /// }
    /// wal.checkpoint(Lsn(1)).await?; // record 1 is never returned again
    /// let all: Vec<_> = wal.read(..).collect().await; // from the first LSN: 2 and 3
    /// assert_eq!(all.len(), 2);
    /// let mut from_one = wal.read(Lsn(1)..); // explicitly below it
    /// assert!(matches!(from_one.next().await, Some(Err(Error::Trimmed { .. }))));
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub fn read(&self, range: impl RangeBounds<Lsn>) -> RecordStream {
        self.read_with(range, self.inner.opts.visibility)
    }

    /// Like [`read`](Self::read) with an explicit visibility.
    pub fn read_with(&self, range: impl RangeBounds<Lsn>, visibility: Visibility) -> RecordStream {
        let (start, end) = bounds(&range, self.inner.first_lsn());
        let cursor = Cursor::new(self.inner.clone(), start.max(Lsn::FIRST));
        Box::pin(ReadStream {
            cursor: Some(cursor),
            slow: None,
            end,
            visibility,
            done: false,
        })
    }

    /// A live stream of records from `from` on: it yields what is visible, then waits for
    /// more. It ends with an error when the log is closed or poisoned.
    pub fn tail(&self, from: Lsn) -> RecordStream {
        self.tail_with(from, self.inner.opts.visibility)
    }

    /// Like [`tail`](Self::tail) with an explicit visibility.
    pub fn tail_with(&self, from: Lsn, visibility: Visibility) -> RecordStream {
        let cursor = Cursor::new(self.inner.clone(), from.max(Lsn::FIRST));
        let rx = match visibility {
            Visibility::Durable => Wake::Durable(self.durable_watch()),
            Visibility::Written => Wake::Written(self.written_watch()),
        };
        Box::pin(futures::stream::unfold(
            (cursor, rx, false),
            move |(mut c, mut rx, done)| async move {
                if done {
                    return None;
                }
                loop {
                    rx.borrow_and_update();
                    let limit = match c.visible_limit(visibility).await {
                        Ok(l) => l,
                        Err(e) => return Some((Err(e), (c, rx, true))),
                    };
                    match c.next(limit).await {
                        Ok(Some(r)) => return Some((Ok(r), (c, rx, false))),
                        Ok(None) => {}
                        Err(e) => return Some((Err(e), (c, rx, true))),
                    }
                    if let Err(e) = c.inner.check_open() {
                        return Some((Err(e), (c, rx, true)));
                    }
                    if rx.changed().await.is_err() {
                        return Some((Err(Error::Closed), (c, rx, true)));
                    }
                }
            },
        ))
    }
}

/// The watch a tail waits on.
enum Wake {
    Durable(tokio::sync::watch::Receiver<super::Watermark>),
    Written(tokio::sync::watch::Receiver<super::Watermark>),
}

impl Wake {
    fn borrow_and_update(&mut self) {
        match self {
            Wake::Durable(rx) => {
                rx.borrow_and_update();
            }
            Wake::Written(rx) => {
                rx.borrow_and_update();
            }
        }
    }

    async fn changed(&mut self) -> std::result::Result<(), tokio::sync::watch::error::RecvError> {
        match self {
            Wake::Durable(rx) => rx.changed().await,
            Wake::Written(rx) => rx.changed().await,
        }
    }
}

/// First and last LSN of a range; a range without a start starts at `first` (the log's
/// first LSN).
fn bounds(range: &impl RangeBounds<Lsn>, first: Lsn) -> (Lsn, Lsn) {
    let start = match range.start_bound() {
        Bound::Included(l) => *l,
        Bound::Excluded(l) => l.next(),
        Bound::Unbounded => first,
    };
    let end = match range.end_bound() {
        Bound::Included(l) => *l,
        Bound::Excluded(l) => l.prev(),
        Bound::Unbounded => Lsn(u64::MAX),
    };
    (start, end)
}

type Step2<S> = Pin<Box<dyn Future<Output = (Cursor<S>, Option<Result<Record>>)> + Send>>;

/// The stream behind [`Wal::read`]: records already decoded are handed out synchronously;
/// only when they run out does it run the cursor's async step (fetch and decode a chunk).
struct ReadStream<S: SegmentStore> {
    /// `None` while `slow` owns the cursor.
    cursor: Option<Cursor<S>>,
    slow: Option<Step2<S>>,
    end: Lsn,
    visibility: Visibility,
    done: bool,
}

impl<S: SegmentStore> Stream for ReadStream<S> {
    type Item = Result<Record>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.slow.is_none() {
            let Some(mut c) = this.cursor.take() else {
                this.done = true;
                return Poll::Ready(None);
            };
            if let Some(r) = c.try_pending(this.visibility, this.end) {
                this.cursor = Some(c);
                return Poll::Ready(Some(Ok(r)));
            }
            let (end, visibility) = (this.end, this.visibility);
            this.slow = Some(Box::pin(async move {
                let limit = match c.visible_limit(visibility).await {
                    Ok(l) => l.min(end),
                    Err(e) => return (c, Some(Err(e))),
                };
                let r = c.next(limit).await.transpose();
                (c, r)
            }));
        }
        let Some(fut) = this.slow.as_mut() else {
            return Poll::Ready(None);
        };
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((c, r)) => {
                this.slow = None;
                this.cursor = Some(c);
                match r {
                    Some(Ok(rec)) => Poll::Ready(Some(Ok(rec))),
                    Some(Err(e)) => {
                        this.done = true;
                        Poll::Ready(Some(Err(e)))
                    }
                    None => {
                        this.done = true;
                        Poll::Ready(None)
                    }
                }
            }
        }
    }
}

struct Position {
    id: SegmentId,
    off: u64,
    /// Readable length last seen in the table. Bytes below it never change (truncation bumps
    /// the epoch, which drops the position), so the table is consulted again only past it.
    len: u64,
    /// LSN the next frame of this segment must start at (after a skipped frame, at least).
    expect: Lsn,
    /// Base LSN of the following segment: no frame of this one may reach it.
    bound: Option<Lsn>,
    /// Salt and frame limit of the segment.
    layout: crate::format::Layout,
}

impl Position {
    /// Whether frame `f` belongs where it was found: it starts at the LSN that follows the
    /// previous frame (or later, after skipped frames) and ends before the next segment.
    fn fits(&self, f: &crate::format::Frame<'_>, skip: bool) -> bool {
        let start = if skip {
            f.lsn >= self.expect
        } else {
            f.lsn == self.expect
        };
        start && self.bound.is_none_or(|b| f.last_lsn() < b)
    }
}

/// The position at the first frame of segment `id`, from the table.
fn position_at(t: &super::Table, id: SegmentId) -> Option<Position> {
    let i = t.segs.iter().position(|s| s.id == id)?;
    Some(Position {
        id,
        off: SEGMENT_HEADER_LEN as u64,
        len: 0,
        expect: t.segs[i].base,
        bound: t.segs.get(i + 1).map(|n| n.base),
        layout: t.segs[i].layout,
    })
}

/// Reads frames of one segment after another, yielding records in LSN order.
struct Cursor<S> {
    inner: Arc<Inner<S>>,
    next: Lsn,
    epoch: u64,
    /// Truncation era (see `Durability`) the cursor last checked.
    era: u64,
    pos: Option<Position>,
    chunk: Bytes,
    chunk_off: u64,
    pending: VecDeque<Record>,
}

enum Step {
    Progress,
    Exhausted,
}

impl<S: SegmentStore> Cursor<S> {
    fn new(inner: Arc<Inner<S>>, next: Lsn) -> Self {
        let epoch = inner.epoch.load(std::sync::atomic::Ordering::SeqCst);
        let era = inner.dur.era();
        Cursor {
            inner,
            next,
            epoch,
            era,
            pos: None,
            chunk: Bytes::new(),
            chunk_off: 0,
            pending: VecDeque::new(),
        }
    }

    async fn visible_limit(&self, v: Visibility) -> Result<Lsn> {
        match v {
            Visibility::Durable => Ok(self.inner.durable()),
            Visibility::Written => {
                let w = self.inner.written();
                if w > self.inner.flushed()
                    && self.next <= w
                    && !self.inner.closed.load(std::sync::atomic::Ordering::SeqCst)
                {
                    self.inner.flush().await?;
                }
                Ok(self.inner.flushed())
            }
        }
    }

    /// The next decoded record, without any I/O or locking, when it is visible and nothing
    /// (truncation) invalidated the queue.
    fn try_pending(&mut self, visibility: Visibility, end: Lsn) -> Option<Record> {
        let lsn = self.pending.front()?.lsn;
        if self.inner.epoch.load(std::sync::atomic::Ordering::SeqCst) != self.epoch
            || self.inner.dur.era() != self.era
        {
            return None;
        }
        let limit = match visibility {
            Visibility::Durable => self.inner.durable(),
            Visibility::Written => self.inner.written(),
        };
        if lsn > limit.min(end) {
            return None;
        }
        let r = self.pending.pop_front()?;
        self.next = r.lsn.next();
        Some(r)
    }

    async fn next(&mut self, limit: Lsn) -> Result<Option<Record>> {
        loop {
            self.check_epoch()?;
            if let Some(r) = self.pending.front() {
                if r.lsn > limit {
                    return Ok(None);
                }
                let r = self.pending.pop_front();
                if let Some(r) = &r {
                    self.next = r.lsn.next();
                }
                return Ok(r);
            }
            if self.next > limit {
                return Ok(None);
            }
            if self.pos.is_none() {
                self.seek()?;
            }
            match self.step().await {
                Ok(Step::Exhausted) => return Ok(None),
                Ok(Step::Progress) => {}
                Err(e) => self.after_failed_step(e).await?,
            }
        }
    }

    /// Decides what a failed step means: a truncation or reset that changed the store under
    /// this cursor (a segment gone, bytes cut) is reported as one ([`Error::Truncated`] or
    /// [`Error::Trimmed`] by the next loop turn), never as the missing or damaged bytes it
    /// left the read looking at. Truncations hold the lifecycle lock while they touch the
    /// store and move the epoch or era before releasing it, so once the lock is free a
    /// truncation that raced this step shows in them.
    async fn after_failed_step(&mut self, e: Error) -> Result<()> {
        if !matches!(e, Error::NotFound { .. } | Error::Corrupt { .. }) {
            return Err(e);
        }
        drop(self.inner.lifecycle.lock().await);
        let epoch = self.inner.epoch.load(std::sync::atomic::Ordering::SeqCst);
        if epoch == self.epoch && self.inner.dur.era() == self.era {
            return Err(e);
        }
        // `check_epoch` at the top of the loop reports the truncation or re-seeks.
        Ok(())
    }

    /// Drops decoded state after a truncation; reports [`Error::Truncated`] when a suffix
    /// truncation cut records this cursor already handed out (compared with the cut point,
    /// not the current end, which appends may have moved past them again).
    fn check_epoch(&mut self) -> Result<()> {
        let epoch = self.inner.epoch.load(std::sync::atomic::Ordering::SeqCst);
        let era = self.inner.dur.era();
        if epoch != self.epoch || era != self.era {
            let cut = self.inner.dur.cut_since(self.era);
            self.epoch = epoch;
            self.era = era;
            self.pos = None;
            self.pending.clear();
            self.chunk = Bytes::new();
            if let Some(cut) = cut {
                if self.next > cut.next() {
                    let lsn = cut.next();
                    self.next = lsn;
                    return Err(Error::Truncated { lsn });
                }
            }
        }
        Ok(())
    }

    fn seek(&mut self) -> Result<()> {
        let t = self
            .inner
            .table
            .read()
            .map_err(|_| Error::InvalidArgument("segment table lock poisoned".into()))?;
        let first = self.inner.first_in(&t);
        if self.next < first {
            return Err(Error::Trimmed {
                requested: self.next,
                first,
            });
        }
        if let Some(s) = t.segs.iter().rev().find(|s| s.base <= self.next) {
            self.pos = position_at(&t, s.id);
            self.chunk = Bytes::new();
        }
        Ok(())
    }

    /// (readable length, next segment id) of segment `id`, from the table.
    fn seg_state(&self, id: SegmentId) -> Option<(u64, Option<SegmentId>)> {
        let t = self.inner.table.read().ok()?;
        let i = t.segs.iter().position(|s| s.id == id)?;
        let s = t.segs[i];
        Some((s.len, t.segs.get(i + 1).map(|n| n.id)))
    }

    async fn step(&mut self) -> Result<Step> {
        let mut queue = std::mem::take(&mut self.pending);
        let next = self.next;
        let r = self
            .step_into(&mut |lsn, time, chunk: &Bytes, r: std::ops::Range<usize>| {
                if lsn >= next {
                    queue.push_back(Record {
                        lsn,
                        data: chunk.slice(r),
                        time,
                    });
                }
            })
            .await;
        self.pending = queue;
        r
    }

    /// One async step: fetch what the next frame needs and hand every record of the frames
    /// that are whole in the chunk to `sink` as `(lsn, append time, chunk, payload range)`.
    async fn step_into(&mut self, sink: &mut RecordSink<'_>) -> Result<Step> {
        let Some((id, off, mut len, layout)) =
            self.pos.as_ref().map(|p| (p.id, p.off, p.len, p.layout))
        else {
            return Ok(Step::Exhausted);
        };
        if off >= len {
            let Some(state) = self.seg_state(id) else {
                // Removed under us (prefix truncation): seek again, which reports the trim.
                self.pos = None;
                self.seek()?;
                return Ok(Step::Progress);
            };
            len = state.0;
            if let Some(p) = &mut self.pos {
                p.len = state.0;
            }
            if off >= len {
                return self.next_segment(state.1);
            }
        }
        let avail = self.ensure(id, off, FRAME_HEADER_LEN as u64, len).await?;
        let rel = (off - self.chunk_off) as usize;
        let max_payload = layout.max_payload;
        let frame_len = if avail >= FRAME_HEADER_LEN as u64 {
            let h = &self.chunk[rel..rel + FRAME_HEADER_LEN];
            let mut l = [0u8; 4];
            l.copy_from_slice(&h[4..8]);
            let payload = u32::from_le_bytes(l).min(max_payload.saturating_add(1));
            FRAME_HEADER_LEN as u64 + u64::from(payload)
        } else {
            FRAME_HEADER_LEN as u64
        };
        self.ensure(id, off, frame_len, len).await?;
        let rel = (off - self.chunk_off) as usize;
        let chunk = self.chunk.clone();
        let skip = self.inner.opts.recovery_mode == RecoveryMode::SkipCorrupted;
        // Bytes recovery checked at open are not checksummed again.
        let trusted = self.inner.verified_len(id);
        let mut result = decode_trusting(&chunk[rel..], layout, off, trusted);
        if let (Ok(f), Some(p)) = (&result, &self.pos) {
            if f.kind != FrameKind::Seal && !p.fits(f, skip) {
                result = Err(FrameError::Invalid(format!(
                    "frame of LSNs {}..={} out of place (expected LSN {}{})",
                    f.lsn,
                    f.last_lsn(),
                    p.expect,
                    p.bound.map_or(String::new(), |b| format!(", below {b}"))
                )));
            }
        }
        match result {
            Ok(f) if f.kind == FrameKind::Seal => {
                if let Some(p) = &mut self.pos {
                    p.off = len;
                }
                Ok(Step::Progress)
            }
            Ok(f) => {
                let keys = self.inner.opts.encryption.as_deref();
                let key = crate::crypto::key_of(keys, layout.key_id);
                let Some(p) = &mut self.pos else {
                    return Ok(Step::Exhausted);
                };
                take_records(&chunk, sink, rel, &f, key.as_ref())
                    .map_err(|e| Error::frame_body(id, off, e))?;
                p.expect = f.last_lsn().next();
                let mut off = off + f.len() as u64;
                let mut rel = rel + f.len();
                // Decode the frames that follow while they are whole in the chunk, so one
                // async step serves many records.
                let mut frames = 0;
                while frames < 1024 && off < len {
                    frames += 1;
                    match decode_trusting(&chunk[rel..], layout, off, trusted) {
                        Ok(f) if f.kind != FrameKind::Seal && p.fits(&f, skip) => {
                            take_records(&chunk, sink, rel, &f, key.as_ref())
                                .map_err(|e| Error::frame_body(id, off, e))?;
                            p.expect = f.last_lsn().next();
                            off += f.len() as u64;
                            rel += f.len();
                        }
                        _ => break,
                    }
                }
                p.off = off;
                Ok(Step::Progress)
            }
            Err(e) => {
                let reason = match e {
                    FrameError::Invalid(r) => r,
                    FrameError::Unsupported(r) if !skip => {
                        return Err(Error::frame_body(id, off, FrameError::Unsupported(r)));
                    }
                    FrameError::Unsupported(r) => format!("unreadable frame: {r}"),
                    FrameError::Incomplete => "frame overruns the segment".into(),
                    FrameError::Zero => "zero bytes where a frame should be".into(),
                };
                if !skip {
                    return Err(Error::corrupt(id, off, reason));
                }
                // Skip to the next good frame of this segment.
                let rest = self.inner.store.read(id, off..len).await?;
                let expect = self.pos.as_ref().map_or(self.next, |p| p.expect);
                match find_next_frame(&rest, 1, expect, layout) {
                    Some(p) => {
                        self.chunk = rest;
                        self.chunk_off = off;
                        if let Some(pos) = &mut self.pos {
                            pos.off = off + p as u64;
                        }
                    }
                    None => {
                        if let Some(pos) = &mut self.pos {
                            pos.off = len;
                        }
                    }
                }
                Ok(Step::Progress)
            }
        }
    }

    fn next_segment(&mut self, next_id: Option<SegmentId>) -> Result<Step> {
        let Some(n) = next_id else {
            return Ok(Step::Exhausted);
        };
        let found = self
            .inner
            .table
            .read()
            .map_err(|_| Error::InvalidArgument("segment table lock poisoned".into()))
            .map(|t| position_at(&t, n))?;
        self.chunk = Bytes::new();
        self.pos = found;
        if self.pos.is_none() {
            // Removed under us (prefix truncation): seek again, which reports the trim.
            self.seek()?;
        }
        Ok(Step::Progress)
    }

    /// Makes sure the chunk holds `need` bytes from `off` (or up to `len`); returns how many
    /// bytes from `off` it holds.
    async fn ensure(&mut self, id: SegmentId, off: u64, need: u64, len: u64) -> Result<u64> {
        let have_end = self.chunk_off + self.chunk.len() as u64;
        let want_end = off.saturating_add(need).min(len);
        if off < self.chunk_off || have_end < want_end {
            let chunk = self.inner.opts.read_chunk as u64;
            let end = off.saturating_add(need.max(chunk)).min(len);
            // Once per window: a reader of a store that answers at once (memory, page cache)
            // still lets the runtime's other tasks and timers run.
            tokio::task::yield_now().await;
            self.chunk = match self.inner.store.read(id, off..end).await {
                Ok(b) => b,
                Err(Error::NotFound { .. }) if self.seg_state(id).is_none() => {
                    // Dropped by prefix truncation after the table lookup.
                    return Err(Error::Trimmed {
                        requested: self.next,
                        first: self.inner.first_lsn(),
                    });
                }
                Err(e) => return Err(e),
            };
            self.chunk_off = off;
        }
        Ok(self.chunk_off + self.chunk.len() as u64 - off)
    }
}

/// Decodes the frame at segment offset `off` (its bytes start `buf`), skipping the checksum
/// when the whole frame lies in the first `trusted` bytes, which recovery verified.
fn decode_trusting(
    buf: &[u8],
    layout: crate::format::Layout,
    off: u64,
    trusted: u64,
) -> std::result::Result<crate::format::Frame<'_>, FrameError> {
    let len = buf
        .get(4..8)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let end = off.saturating_add(FRAME_HEADER_LEN as u64 + u64::from(len));
    decode_frame_checked(buf, layout, end > trusted)
}

/// Where a cursor step hands each record: `(lsn, append time, buffer, payload range)`.
type RecordSink<'a> = dyn FnMut(Lsn, Option<u64>, &Bytes, std::ops::Range<usize>) + Send + 'a;

/// Hands the records of `f` (decoded at `rel` in `chunk`) to `sink`: slices of `chunk`
/// when the body is stored plain, of its decompressed copy otherwise.
fn take_records(
    chunk: &Bytes,
    sink: &mut RecordSink<'_>,
    rel: usize,
    f: &crate::format::Frame<'_>,
    key: Option<&crate::crypto::Key>,
) -> std::result::Result<(), FrameError> {
    let body = f.body_with(key)?;
    let time = f.time();
    match body.offset_in_frame() {
        Some(at) => {
            let base = rel + at;
            for (lsn, r) in body.records() {
                sink(lsn, time, chunk, base + r.start..base + r.end);
            }
        }
        None => {
            let ranges: Vec<_> = body.records().collect();
            let owned = Bytes::from(body.into_owned());
            for (lsn, r) in ranges {
                sink(lsn, time, &owned, r);
            }
        }
    }
    Ok(())
}

impl<S: SegmentStore> Wal<S> {
    /// Replays the visible records of `range` in LSN order, calling `apply(lsn, payload)` for
    /// each: the recovery path of a storage engine. Unlike [`read`](Self::read) it hands out
    /// borrowed payloads, so nothing is allocated or reference-counted per record. Stops at
    /// the first error (including one `apply` returns). Returns the number of records applied.
    /// A range without a start (`..`) starts at [`first_lsn`](Self::first_lsn), so
    /// `replay(.., apply)` after a checkpoint replays what the checkpoint left.
    pub async fn replay<F>(&self, range: impl RangeBounds<Lsn>, mut apply: F) -> Result<u64>
    where
        F: FnMut(Lsn, &[u8]) -> Result<()> + Send,
    {
        let (start, end) = bounds(&range, self.inner.first_lsn());
        let visibility = self.inner.opts.visibility;
        let mut c = Cursor::new(self.inner.clone(), start.max(Lsn::FIRST));
        let mut applied = 0u64;
        loop {
            c.check_epoch()?;
            let limit = c.visible_limit(visibility).await?.min(end);
            if c.next > limit {
                return Ok(applied);
            }
            if c.pos.is_none() {
                c.seek()?;
            }
            let next = c.next;
            let mut last = None;
            let mut failed = None;
            let step = c
                .step_into(&mut |lsn, _, chunk: &Bytes, r: std::ops::Range<usize>| {
                    if lsn < next || lsn > limit || failed.is_some() {
                        return;
                    }
                    match apply(lsn, &chunk[r]) {
                        Ok(()) => {
                            applied += 1;
                            last = Some(lsn);
                        }
                        Err(e) => failed = Some(e),
                    }
                })
                .await;
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    c.after_failed_step(e).await?;
                    continue;
                }
            };
            if let Some(e) = failed {
                return Err(e);
            }
            if let Some(l) = last {
                c.next = l.next();
            }
            if let Step::Exhausted = step {
                return Ok(applied);
            }
        }
    }
}

/// Verifies every segment end to end (header, frames, trailer checksum).
impl<S: SegmentStore> Wal<S> {
    /// Reads every segment and checks every frame; sealed segments must also match their
    /// trailer's whole-segment checksum. Returns the number of records checked. Reads in
    /// bounded chunks.
    pub async fn verify(&self) -> Result<u64> {
        let segs = self.segments();
        let mut records = 0;
        for s in segs {
            let head = self
                .inner
                .store
                .read(s.id, 0..SEGMENT_HEADER_LEN as u64)
                .await?;
            let header = crate::format::SegmentHeader::decode(&head)
                .map_err(|r| Error::corrupt(s.id, 0, r))?;
            let scan = crate::scan::scan_segment(
                &self.inner.store,
                s.id,
                s.len,
                &header,
                crate::scan::Damage::Synced,
                false,
            )
            .await?;
            if let Some(p) = scan.problem {
                return Err(Error::corrupt(s.id, p.at(), p.reason()));
            }
            if s.sealed && scan.trailer.is_none() {
                return Err(Error::corrupt(
                    s.id,
                    scan.end,
                    "sealed segment without a valid trailer",
                ));
            }
            records += scan.records;
        }
        Ok(records)
    }
}
