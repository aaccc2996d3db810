//! The log engine [`Wal`]: append, group commit, watermarks, rotation, close.

mod append;
mod detach;
mod durability;
mod open;
mod position;
mod read;
mod recovery;
mod reset;
mod state;
mod stats;
mod time;
mod truncate;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Mutex, Notify};

use crate::error::{Error, Result};
use crate::format::state::LogState;
use crate::format::{Trailer, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::lsn::{Lsn, SegmentId};
use crate::options::WalOptions;
use crate::policy::{Ack, Gather, PendingBatch};
use crate::store::SegmentStore;

pub use durability::Watermark;
pub use read::RecordStream;
pub use recovery::RecoveryReport;
pub use stats::{WalStats, LATENCY_BUCKETS};

use append::{Appender, WriteState};
use durability::{Durability, Leader, Synced};
use recovery::SegInfo;
use stats::Counters;

/// One record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its LSN.
    pub lsn: Lsn,
    /// Its payload.
    pub data: Bytes,
    /// When it was appended, in microseconds since the Unix epoch: the time its frame
    /// records (format version 3 with [`WalOptions::timestamps`](crate::WalOptions); `None`
    /// for a record of a version 2 segment or a log that does not stamp frames).
    pub time: Option<u64>,
}

/// The LSNs an atomic batch received: `first..=last`.
///
/// It serializes (serde) as a struct of two LSNs (`first`, `last`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LsnRange {
    /// LSN of the first record.
    pub first: Lsn,
    /// LSN of the last record.
    pub last: Lsn,
}

/// A record (or atomic batch) handed to the log, to wait on with
/// [`Wal::wait_durable`].
///
/// A ticket names the record, not just its LSN: if a suffix truncation discards it, waiting on
/// the ticket fails with [`Error::Truncated`] even after another record took the same LSN.
/// A bare [`Lsn`] converts into a ticket for whatever record holds that LSN when the wait
/// starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The LSNs the record or batch received.
    pub range: LsnRange,
    /// The truncation era it was written in (`None`: the era when a wait starts).
    era: Option<u64>,
}

impl Ticket {
    /// LSN of the last record of the ticket.
    pub fn lsn(&self) -> Lsn {
        self.range.last
    }
}

impl From<Lsn> for Ticket {
    fn from(lsn: Lsn) -> Ticket {
        Ticket {
            range: LsnRange {
                first: lsn,
                last: lsn,
            },
            era: None,
        }
    }
}

/// A segment as the log reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment.
    pub id: SegmentId,
    /// LSN of its first record.
    pub base: Lsn,
    /// Bytes handed to the store so far.
    pub len: u64,
    /// Whether it is sealed (immutable, ends with a trailer).
    pub sealed: bool,
}

/// The segment table readers consult; `epoch` changes when truncation removes records.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) segs: Vec<SegInfo>,
    pub(crate) epoch: u64,
}

pub(crate) struct Inner<S> {
    pub(crate) store: S,
    pub(crate) opts: WalOptions,
    /// The writing side ([`append`]).
    appender: Appender,
    pub(crate) table: RwLock<Table>,
    /// Mirrors `Table::epoch` so readers check it without the lock.
    pub(crate) epoch: AtomicU64,
    written: AtomicU64,
    flushed: AtomicU64,
    /// Durable watermark, poison, truncation point, leader and io locks.
    dur: Durability,
    written_tx: watch::Sender<Watermark>,
    lifecycle: Mutex<()>,
    arrivals: Notify,
    /// While a leader gathers: the written LSN that should wake it (`u64::MAX`: none).
    wake_lsn: AtomicU64,
    /// While a leader gathers: the `written_bytes` count that should wake it.
    wake_bytes: AtomicU64,
    /// Frame bytes accepted since open (buffered or handed to the writer).
    written_bytes: AtomicU64,
    /// A write-behind sync was started and has not finished.
    behind: AtomicBool,
    closed: AtomicBool,
    counters: Counters,
    last_group: AtomicU64,
    report: RecoveryReport,
    /// Metadata and checkpoint ([`state`]); changed only under `lifecycle`.
    log_state: RwLock<LogState>,
    /// Mirrors the state's checkpoint (0: none) for readers.
    checkpoint: AtomicU64,
    /// Segments whose frames recovery checked at open, with the length checked: readers skip
    /// the checksum there (the bytes were verified in this process; a suffix truncation
    /// clips the length, a reset clears the list).
    verified: RwLock<Vec<(SegmentId, u64)>>,
}

/// A write-ahead log over a [`SegmentStore`].
///
/// `Wal` is cheap to clone; clones share one log. Appends from many tasks are serialized
/// into LSN order, and concurrent durable appends share syncs (group commit).
///
/// Dropping any of its futures at an await (a timeout, a `select!`, an aborted task) is safe:
/// an append dropped before it returned may or may not be in the log, and whole if it is.
/// Operations that change several things in turn (an append that rotates, `rotate`, `close`,
/// both truncations, `reset`, `checkpoint`, metadata) and every sync run in place while their
/// caller waits and finish as a task of the runtime once it stops waiting.
///
/// It runs on tokio and needs the runtime's timers (`enable_time` or `enable_all` on a
/// runtime builder; `#[tokio::main]` and `#[tokio::test]` turn them on): group commit bounds
/// how long a sync waits for company with a timer.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use futures::StreamExt;
/// use wal_api::{Lsn, Wal, WalOptions};
/// use wal_memory::MemoryStore;
///
/// let wal = Wal::open(MemoryStore::new(), WalOptions::default()).await?;
/// let lsn = wal.append(b"hello").await?; // durable when it returns
/// let first = wal.read(Lsn(1)..).next().await.unwrap()?;
/// assert_eq!((first.lsn, &first.data[..]), (lsn, &b"hello"[..]));
/// wal.close().await?;
/// # Ok::<(), wal_api::Error>(())
/// # }).unwrap();
/// ```
pub struct Wal<S: SegmentStore> {
    inner: Arc<Inner<S>>,
}

impl<S: SegmentStore> Clone for Wal<S> {
    fn clone(&self) -> Self {
        Wal {
            inner: self.inner.clone(),
        }
    }
}

impl<S: SegmentStore> std::fmt::Debug for Wal<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("store", &self.inner.store)
            .field("written", &self.written_lsn())
            .field("durable", &self.durable_lsn())
            .finish()
    }
}

impl<S: SegmentStore> Wal<S> {
    /// The store under this log.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The options this log was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.inner.opts
    }

    /// What recovery found and did when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// LSN of the last record accepted by the log (readable in this process).
    pub fn written_lsn(&self) -> Lsn {
        Lsn(self.inner.written.load(Ordering::SeqCst))
    }

    /// LSN of the last record that survives power loss.
    pub fn durable_lsn(&self) -> Lsn {
        self.inner.dur.durable()
    }

    /// LSN of the first record still held: prefix truncation, [`checkpoint`](Self::checkpoint)
    /// and [`reset`](Self::reset) move it.
    pub fn first_lsn(&self) -> Lsn {
        self.inner.first_lsn()
    }

    /// A watch of the durable watermark. Its value only rises (a suffix truncation lowers the
    /// LSN but raises the truncation count). Receivers are also woken when the log is closed
    /// or poisoned; check [`is_poisoned`](Self::is_poisoned).
    pub fn durable_watch(&self) -> watch::Receiver<Watermark> {
        self.inner.dur.subscribe()
    }

    /// A watch of [`written_lsn`](Self::written_lsn), as a [`Watermark`]: a suffix
    /// truncation or a reset lowers the LSN but raises the truncation count, so the watched
    /// value never goes back.
    pub fn written_watch(&self) -> watch::Receiver<Watermark> {
        let rx = self.inner.written_tx.subscribe();
        // The count first: a truncation between the two reads makes this value the older.
        let truncations = self.inner.dur.era();
        self.inner
            .notify_written_in(truncations, self.written_lsn());
        rx
    }

    /// Whether an earlier failure poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.inner.dur.is_poisoned()
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        self.inner.counters.snapshot()
    }

    /// The segments of the log, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.inner
            .table
            .read()
            .map(|t| {
                t.segs
                    .iter()
                    .map(|s| SegmentInfo {
                        id: s.id,
                        base: s.base,
                        len: s.len,
                        sealed: s.sealed,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Appends one record and returns its LSN once the sync policy acknowledges it: durable
    /// for the durable policies, accepted for the others.
    pub async fn append(&self, data: &[u8]) -> Result<Lsn> {
        let ticket = self.enqueue(data).await?;
        if self.inner.opts.sync_policy.ack() == Ack::Durable {
            self.inner.wait(ticket).await?;
        }
        Ok(ticket.lsn())
    }

    /// Appends records as one atomic batch: after any crash either all of them are in the log
    /// or none is. Returns their LSNs once acknowledged, like [`append`](Self::append).
    pub async fn append_batch<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<LsnRange> {
        let ticket = self.enqueue_batch(records).await?;
        if self.inner.opts.sync_policy.ack() == Ack::Durable {
            self.inner.wait(ticket).await?;
        }
        Ok(ticket.range)
    }

    /// Waits until the record of `ticket` (or, for a bare [`Lsn`], the record that holds it
    /// when the wait starts) is durable, leading a sync if none is running.
    ///
    /// Ends with an error, never a hang, when the log is poisoned or closed first, and with
    /// [`Error::Truncated`] when a suffix truncation discards the record.
    pub async fn wait_durable(&self, ticket: impl Into<Ticket>) -> Result<()> {
        self.inner.wait(ticket.into()).await
    }

    /// Makes every record written so far durable.
    pub async fn sync(&self) -> Result<()> {
        self.inner.check_open()?;
        let lsn = self.written_lsn();
        self.inner.wait(Ticket::from(lsn)).await
    }

    /// Hands buffered records to the store (readable by `Visibility::Written` readers of other
    /// processes' tools) without syncing.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await.map(drop)
    }

    /// Seals the active segment and starts a new one (no-op when the active segment is empty).
    pub async fn rotate(&self) -> Result<()> {
        self.detached(move |wal| async move { wal.rotate_now().await })
            .await
    }

    /// The body of [`rotate`](Self::rotate), which runs it [detached](Self::detached).
    async fn rotate_now(&self) -> Result<()> {
        let mut st = self.inner.appender.exclusive().await;
        self.inner.check_open()?;
        if st.enc.records == 0 {
            return Ok(());
        }
        self.inner.rotate_locked(&mut st).await
    }

    /// Syncs everything, seals the active segment if it holds records (so the next open need
    /// not scan it), releases the store (its directory lock, for `FsStore`) and closes the
    /// log. Later calls on any clone return [`Error::Closed`]; waiters and tails end.
    ///
    /// Returns [`Error::Poisoned`] if an earlier failure poisoned the log (the log is closed
    /// anyway): `Ok` means every record appended is durable.
    pub async fn close(&self) -> Result<()> {
        self.detached(move |wal| async move { wal.close_now().await })
            .await
    }

    /// The body of [`close`](Self::close), which runs it [detached](Self::detached).
    async fn close_now(&self) -> Result<()> {
        let inner = &*self.inner;
        let leader = inner.dur.lead().await;
        let mut st = inner.appender.exclusive().await;
        if inner.closed.load(Ordering::SeqCst) {
            return inner.dur.check();
        }
        let mut result = Ok(());
        if !inner.dur.is_poisoned() {
            if st.enc.records > 0 {
                // Seal the tail and create its successor: the sealed segment is then not the
                // newest, so the next open checks it by header and trailer only instead of
                // scanning it whole (a sealed newest segment must be scanned: its trailer may
                // have been written but not synced). A failed creation loses nothing (every
                // record is durable once sealed); the next open creates the segment.
                result = inner.seal_locked(&mut st).await;
                if result.is_ok() {
                    if let Err(e) = inner.start_next_locked(&mut st).await {
                        tracing::warn!(target: "wal", error = %e, "closing: the segment after the sealed tail was not created (the next open creates it)");
                    }
                }
            } else if let Err(e) = inner.flush_locked(&mut st).await {
                result = Err(e);
            } else if let Some(w) = st.io.writer.clone() {
                let target = st.enc.next.prev();
                let bytes = inner.written_bytes.load(Ordering::SeqCst);
                match inner.dur.sync(&*w, target, bytes).await {
                    Ok(s) => inner.record_sync(s),
                    Err(e) => result = Err(e),
                }
            }
        }
        st.io.writer = None;
        inner.closed.store(true, Ordering::SeqCst);
        drop(st);
        let released = inner.store.close().await;
        drop(leader);
        inner.wake_all();
        result?;
        inner.dur.check()?;
        released
    }
}

impl<S: SegmentStore> Inner<S> {
    pub(crate) fn check_open(&self) -> Result<()> {
        self.dur.check()?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Poisons the log (see [`Durability::poison`]) and wakes every waiter.
    fn poison(&self, what: &str, e: Error) -> Error {
        let e = self.dur.poison(what, e);
        self.wake_all();
        e
    }

    fn wake_all(&self) {
        self.dur.wake();
        self.written_tx.send_modify(|_| {});
        self.arrivals.notify_waiters();
    }

    pub(crate) fn first_lsn(&self) -> Lsn {
        match self.table.read() {
            Ok(t) => self.first_in(&t),
            Err(_) => Lsn::FIRST,
        }
    }

    /// How many leading bytes of segment `id` this open verified (0: none).
    pub(crate) fn verified_len(&self, id: SegmentId) -> u64 {
        self.verified
            .read()
            .ok()
            .and_then(|v| v.iter().find(|s| s.0 == id).map(|s| s.1))
            .unwrap_or(0)
    }

    /// Forgets verification of segment `id` past `len` (`None`: of every segment).
    pub(crate) fn unverify(&self, id: Option<SegmentId>, len: u64) {
        if let Ok(mut v) = self.verified.write() {
            match id {
                None => v.clear(),
                Some(id) => v
                    .iter_mut()
                    .filter(|s| s.0 >= id)
                    .for_each(|s| s.1 = s.1.min(len)),
            }
        }
    }

    /// The first LSN held, given the segment table: the first segment's base, or the record
    /// after the checkpoint when that is later.
    pub(crate) fn first_in(&self, t: &Table) -> Lsn {
        let base = t.segs.first().map_or(Lsn::FIRST, |s| s.base);
        base.max(Lsn(self
            .checkpoint
            .load(Ordering::SeqCst)
            .saturating_add(1)))
    }

    pub(crate) fn written(&self) -> Lsn {
        Lsn(self.written.load(Ordering::SeqCst))
    }

    pub(crate) fn durable(&self) -> Lsn {
        self.dur.durable()
    }

    pub(crate) fn flushed(&self) -> Lsn {
        Lsn(self.flushed.load(Ordering::SeqCst))
    }

    /// Sets the written LSN and tells its watchers.
    fn publish_written(&self, lsn: Lsn) {
        self.written.store(lsn.0, Ordering::SeqCst);
        self.notify_written(lsn);
    }

    /// Tells the watchers of the written LSN that it is `lsn`, with the truncation count it
    /// belongs to (a truncation or reset records its count first, so the watched value only
    /// rises; a stale `lsn` of an older count never replaces a newer one).
    pub(crate) fn notify_written(&self, lsn: Lsn) {
        self.notify_written_in(self.dur.era(), lsn);
    }

    /// [`notify_written`](Self::notify_written) of an LSN read during truncation count
    /// `truncations`.
    fn notify_written_in(&self, truncations: u64, lsn: Lsn) {
        if self.written_tx.receiver_count() > 0 {
            let next = Watermark { truncations, lsn };
            self.written_tx.send_if_modified(|w| {
                let rises = next > *w;
                if rises {
                    *w = next;
                }
                rises
            });
        }
    }

    /// Wakes a gathering sync leader once an append reaches the threshold it waits for.
    fn wake_gatherer(&self, written: Lsn, bytes: u64) {
        if written.0 >= self.wake_lsn.load(Ordering::SeqCst)
            || bytes >= self.wake_bytes.load(Ordering::SeqCst)
        {
            self.arrivals.notify_waiters();
        }
    }

    /// Counts a successful sync or seal and tells the policy.
    fn record_sync(&self, s: Synced) {
        if s.records > 0 {
            self.counters.synced(s.records, s.took);
            // Everything that was waiting when this sync ended, covered or not: with appenders
            // that each keep one record in flight, this is how many of them are active.
            let before = self.durable().0.saturating_sub(s.records);
            let waiting = self.written().0.saturating_sub(before);
            self.last_group.store(waiting, Ordering::Relaxed);
            self.counters.last_group.store(s.records, Ordering::Relaxed);
        }
        let ns = u64::try_from(s.took.as_nanos()).unwrap_or(u64::MAX);
        self.counters.last_sync_ns.store(ns, Ordering::Relaxed);
        self.opts.sync_policy.observe(s.records, s.took);
    }

    /// Seals the active segment (trailer + seal) and durably creates the next one.
    async fn rotate_locked(&self, st: &mut WriteState<'_>) -> Result<()> {
        check_successor(st.io.seg)?;
        self.seal_locked(st).await?;
        match self.start_next_locked(st).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.poison("creating the next segment", e)),
        }
    }

    /// Durably creates the segment after the sealed active one and makes it active (its id
    /// was checked by [`check_successor`] before the seal).
    async fn start_next_locked(&self, st: &mut WriteState<'_>) -> Result<()> {
        let id = st.io.seg.next();
        let h = recovery::new_header(&self.opts, id, st.enc.next);
        let key = recovery::segment_key(&self.opts, id, &h.layout())?;
        let header = h.encode();
        let new = match self.store.create(id, &header).await {
            Ok(w) => Arc::from(w),
            Err(e) => return Err(e),
        };
        if let Ok(mut t) = self.table.write() {
            t.segs.push(SegInfo {
                id,
                base: st.enc.next,
                len: SEGMENT_HEADER_LEN as u64,
                sealed: false,
                layout: h.layout(),
            });
        }
        st.io.writer = Some(new);
        st.io.seg = id;
        st.enc.layout = h.layout();
        st.enc.key = key;
        st.io.base = st.enc.next;
        st.enc.len = SEGMENT_HEADER_LEN as u64;
        st.io.body_crc = Some(crc32fast::hash(&header));
        st.enc.records = 0;
        self.counters.rotated();
        tracing::debug!(target: "wal", segment = id.0, base = st.io.base.0, "rotated to a new segment");
        self.dur.wake();
        Ok(())
    }

    /// Flushes, writes the trailer and seals the active segment; afterwards `st.io.writer` must
    /// not be appended to.
    async fn seal_locked(&self, st: &mut WriteState<'_>) -> Result<()> {
        self.flush_locked(st).await?;
        let Some(w) = st.io.writer.clone() else {
            return Err(Error::Closed);
        };
        let last = st.enc.next.prev();
        let body_crc = match st.io.body_crc {
            Some(crc) => crc,
            None => {
                let mut w = crate::scan::Window::new(&self.store, st.io.seg, st.enc.len);
                match crate::scan::body_crc(&mut w, st.enc.len).await {
                    Ok(crc) => crc,
                    Err(e) => return Err(self.poison("reading back a segment to seal it", e)),
                }
            }
        };
        let trailer = Trailer {
            last_lsn: last,
            records: st.enc.records,
            body_len: st.enc.len,
            body_crc,
        }
        .encode(st.enc.layout.salt, self.dur.durable());
        if let Err(e) = w.append(&trailer).await {
            return Err(self.poison("writing a seal trailer", e));
        }
        let bytes = self.written_bytes.load(Ordering::SeqCst);
        let (_, synced) = self.dur.seal(&*w, last, bytes).await.inspect_err(|_| {
            self.wake_all();
        })?;
        self.record_sync(synced);
        tracing::debug!(target: "wal", segment = st.io.seg.0, last_lsn = last.0, records = st.enc.records, took_us = synced.took.as_micros() as u64, "sealed segment");
        let sealed_len = st.enc.len + TRAILER_LEN as u64;
        if let Ok(mut t) = self.table.write() {
            if let Some(s) = t.segs.last_mut() {
                s.len = sealed_len;
                s.sealed = true;
            }
        }
        st.enc.len = sealed_len;
        Ok(())
    }

    /// How the wait for record `lsn`, written in era `era`, ends: `None` while it is still
    /// pending.
    pub(super) fn decided(&self, lsn: Lsn, era: u64) -> Option<Result<()>> {
        if let Err(e) = self.dur.check() {
            return Some(Err(e));
        }
        if let Some(cut) = self.dur.cut_since(era) {
            if cut < lsn {
                return Some(Err(Error::Truncated { lsn: cut.next() }));
            }
        }
        if self.durable() >= lsn {
            return Some(Ok(()));
        }
        if self.closed.load(Ordering::SeqCst) {
            return Some(Err(Error::Closed));
        }
        let written = self.written();
        if lsn > written {
            return Some(Err(Error::InvalidArgument(format!(
                "LSN {lsn} has not been written (last written is {written})"
            ))));
        }
        None
    }

    /// Waits for the record of `t`: see [`Wal::wait_durable`].
    async fn wait(self: &Arc<Self>, t: Ticket) -> Result<()> {
        let era = t.era.unwrap_or_else(|| self.dur.era());
        let lsn = t.range.last;
        let mut rx = self.dur.subscribe();
        loop {
            // Mark the current value seen before looking: a change after the checks wakes
            // `changed`.
            rx.borrow_and_update();
            if let Some(done) = self.decided(lsn, era) {
                return done;
            }
            if let Some(leader) = self.dur.try_lead() {
                self.sync_round(leader, true).await?;
                continue;
            }
            // The leader lock is held: its release, a sync, a poison or a close wakes us.
            if rx.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    /// One group commit: gather per the policy (when `gather`), flush, sync, publish. Called
    /// holding the leader lock, which it releases (waking every waiter) when done. The sync
    /// runs [to the end](detach::to_the_end) even if this future is dropped, so a backend never
    /// sees a sync abandoned mid-request.
    async fn sync_round(self: &Arc<Self>, leader: Leader<'_>, gather: bool) -> Result<()> {
        if gather {
            self.gather().await;
        }
        let (writer, flushed) = {
            let mut io = self.appender.io().await;
            self.check_open()?;
            let flushed = self.flush_io(&mut io).await?;
            (io.writer.clone(), flushed)
        };
        let (target, bytes) = (flushed.last, flushed.bytes);
        let result = match writer {
            Some(w) if target > self.durable() => {
                let inner = Arc::clone(self);
                let sync = async move {
                    let r = match inner.dur.sync(&*w, target, bytes).await {
                        Ok(s) => {
                            inner.record_sync(s);
                            Ok(())
                        }
                        Err(e) => {
                            inner.wake_all();
                            Err(e)
                        }
                    };
                    (inner, r)
                };
                // Abandoned, it publishes after the leader lock was released: wake again.
                let abandoned = |(inner, _): (Arc<Self>, Result<()>)| inner.dur.wake();
                detach::to_the_end(sync, abandoned).await.1
            }
            _ => Ok(()),
        };
        drop(leader);
        result
    }

    async fn gather(&self) {
        let policy = &self.opts.sync_policy;
        let start = Instant::now();
        let mut idle = 0u32;
        loop {
            let (written, durable) = (self.written().0, self.durable().0);
            let written_bytes = self.written_bytes.load(Ordering::SeqCst);
            let durable_bytes = self.dur.durable_bytes();
            let batch = PendingBatch {
                records: written.saturating_sub(durable),
                bytes: written_bytes.saturating_sub(durable_bytes),
                waited: start.elapsed(),
                idle_rounds: idle,
                previous_records: self.last_group.load(Ordering::Relaxed),
                previous_latency: Duration::from_nanos(
                    self.counters.last_sync_ns.load(Ordering::Relaxed),
                ),
            };
            // The written LSN and byte count that end the wait.
            let (lsn, bytes, wait) = match policy.gather(&batch) {
                Gather::Wait(d) => (written.saturating_add(1), u64::MAX, d),
                Gather::WaitFor {
                    records,
                    bytes,
                    at_most,
                } => (
                    durable.saturating_add(records.max(1)),
                    durable_bytes.saturating_add(bytes.max(1)),
                    at_most,
                ),
                Gather::Yield => {
                    tokio::task::yield_now().await;
                    (u64::MAX, u64::MAX, Duration::ZERO)
                }
                _ => break,
            };
            if wait > Duration::ZERO {
                // Register for the wake-up, then publish the threshold, then look again: an
                // append either sees the threshold and notifies a registered waiter, or
                // finished before the threshold was published and is seen by the check.
                let arrival = self.arrivals.notified();
                tokio::pin!(arrival);
                arrival.as_mut().enable();
                self.wake_lsn.store(lsn, Ordering::SeqCst);
                self.wake_bytes.store(bytes, Ordering::SeqCst);
                let reached =
                    self.written().0 >= lsn || self.written_bytes.load(Ordering::SeqCst) >= bytes;
                if !reached
                    && !self.dur.is_poisoned()
                    && !self.closed.load(Ordering::SeqCst)
                    && tokio::time::timeout(wait, arrival).await.is_err()
                {
                    idle += 1;
                }
                self.wake_lsn.store(u64::MAX, Ordering::SeqCst);
                self.wake_bytes.store(u64::MAX, Ordering::SeqCst);
            }
            if self.dur.is_poisoned() || self.closed.load(Ordering::SeqCst) {
                break;
            }
        }
    }
}

fn spawn_interval_syncer<S: SegmentStore>(weak: Weak<Inner<S>>, period: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            if inner.check_open().is_err() {
                return;
            }
            if inner.durable() < inner.written() {
                // A failure poisons the log (close and every later call report it).
                let leader = inner.dur.lead().await;
                let _ = inner.sync_round(leader, true).await;
            }
        }
    });
}

/// Refuses to start a segment after `id` when `id` is the last id a segment may take
/// ([`MAX_SEGMENT_ID`](crate::format::state::MAX_SEGMENT_ID); the ids above are reserved), before
/// anything is written: the log keeps working, it only cannot start a new segment.
pub(crate) fn check_successor(id: SegmentId) -> Result<()> {
    if id >= crate::format::state::MAX_SEGMENT_ID {
        return Err(Error::InvalidArgument(format!(
            "segment {id} is the last id a segment may take: the log cannot start another segment (ids above are reserved)"
        )));
    }
    Ok(())
}
