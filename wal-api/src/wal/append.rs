//! The append path: two locks, so an append that needs no I/O never awaits.
//!
//! The writing side is split in two:
//!
//! - [`Enc`], the encoding state (salt, next LSN, segment length, record count, the buffer of
//!   frames not yet handed to the writer), under a std mutex that is never held across an
//!   await. Every append takes it once: it checks that the log is open, encodes its frame,
//!   advances the LSN and the byte count and publishes the written LSN, all without awaiting.
//! - [`Io`], the writer, the active segment and the CRC of the bytes handed to the writer,
//!   under the async append lock. A flush holds it while it writes; a flush swaps the buffer
//!   out under the std mutex first, so appends go on encoding while the bytes are written.
//!
//! Whatever changes the active segment or must stop appends (rotation, seal, close, both
//! truncations, reset) takes the append lock *and* the encoding state out of its slot: a
//! [`WriteState`]. An append that finds the slot empty waits for the append lock and runs
//! the same steps as that holder, so nothing is encoded into a segment being sealed or cut.
//! The holder puts the state back when it is dropped, also when its future is cancelled.
//!
//! A flush captures the last LSN, the segment length and the byte count in the same critical
//! section as the buffer swap, so a sync publishes exactly the records its write covered,
//! never one encoded after the swap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard, PoisonError};

use tokio::sync::{Mutex, MutexGuard};

use super::{Inner, LsnRange, Ticket, Wal};
use crate::crypto::{Key, Nonces};
use crate::error::{Error, Result};
use crate::format::{
    batch_payload_len, encode_batch, encode_data, encode_encrypted, encode_entries, encode_record,
    Compression, FrameKind, Layout, Stored, FRAME_HEADER_LEN, NONCE_LEN, TAG_LEN, TIMESTAMP_LEN,
    TRAILER_LEN,
};
use crate::lsn::{Lsn, SegmentId};
use crate::policy::Ack;
use crate::store::{SegmentStore, SegmentWriter};

/// The encoding state every append changes.
pub(super) struct Enc {
    /// Salt (covered by every frame's checksum), payload limit and format version of the
    /// active segment.
    pub(super) layout: Layout,
    /// LSN the next record gets.
    pub(super) next: Lsn,
    /// Segment length including buffered bytes.
    pub(super) len: u64,
    /// Records in the active segment.
    pub(super) records: u64,
    /// Frames accepted and not yet handed to the writer.
    pub(super) buf: Vec<u8>,
    /// The last append time stamped on a frame: none is stamped earlier.
    pub(super) last_time: u64,
    /// The key of the active segment, when it is encrypted.
    pub(super) key: Option<Key>,
    /// Nonces for encrypted frames (drawn when the log opened with a key provider).
    pub(super) nonces: Option<Nonces>,
}

impl Enc {
    /// What a [`WriteState`] leaves behind while it owns the real state (never read).
    const TAKEN: Enc = Enc {
        layout: Layout {
            salt: 0,
            max_payload: 0,
            version: 0,
            key_id: 0,
            key_check: 0,
        },
        next: Lsn(0),
        len: 0,
        records: 0,
        buf: Vec::new(),
        last_time: 0,
        key: None,
        nonces: None,
    };
}

/// The I/O side of the active segment, behind the append lock.
pub(super) struct Io {
    pub(super) writer: Option<Arc<dyn SegmentWriter>>,
    pub(super) seg: SegmentId,
    pub(super) base: Lsn,
    /// CRC of the bytes already handed to the writer; `None` after recovery until the segment
    /// is sealed (then it is computed from the store, so opening never pays for it).
    pub(super) body_crc: Option<u32>,
    /// The buffer a flush writes from (swapped with [`Enc::buf`]); empty between flushes
    /// unless a flush was cancelled before its write, and then written first by the next.
    spare: Vec<u8>,
}

impl Io {
    pub(super) fn new(
        writer: Arc<dyn SegmentWriter>,
        seg: SegmentId,
        base: Lsn,
        body_crc: Option<u32>,
        capacity: usize,
    ) -> Io {
        Io {
            writer: Some(writer),
            seg,
            base,
            body_crc,
            spare: Vec::with_capacity(capacity),
        }
    }
}

/// The two halves of the writing side.
pub(super) struct Appender {
    enc: StdMutex<Slot>,
    io: Mutex<Io>,
}

/// The encoding state, or the mark that a [`WriteState`] owns it.
struct Slot {
    enc: Enc,
    /// A [`WriteState`] owns the encoding state (`enc` is [`Enc::TAKEN`]).
    owned: bool,
}

/// Exclusive ownership of the writing side: the append lock and the encoding state. No
/// append encodes while it lives; dropping it puts the encoding state back.
pub(super) struct WriteState<'a> {
    pub(super) io: MutexGuard<'a, Io>,
    pub(super) enc: Enc,
    slot: &'a StdMutex<Slot>,
}

impl Drop for WriteState<'_> {
    fn drop(&mut self) {
        let mut slot = lock(self.slot);
        slot.enc = std::mem::replace(&mut self.enc, Enc::TAKEN);
        slot.owned = false;
    }
}

fn lock<T>(m: &StdMutex<T>) -> StdGuard<'_, T> {
    // Nothing under these locks can panic half way through a change; a poisoned lock still
    // holds consistent state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Appender {
    pub(super) fn new(enc: Enc, io: Io) -> Appender {
        Appender {
            enc: StdMutex::new(Slot { enc, owned: false }),
            io: Mutex::new(io),
        }
    }

    /// Takes the whole writing side (see [`WriteState`]).
    pub(super) async fn exclusive(&self) -> WriteState<'_> {
        let io = self.io.lock().await;
        // Only a holder of the append lock takes the encoding state, and it puts it back
        // before the lock is released: the state is in its slot here.
        let enc = {
            let mut slot = lock(&self.enc);
            debug_assert!(!slot.owned, "the encoding state is owned twice");
            slot.owned = true;
            std::mem::replace(&mut slot.enc, Enc::TAKEN)
        };
        WriteState {
            io,
            enc,
            slot: &self.enc,
        }
    }

    /// The append lock alone, leaving the encoding state in its slot (a flush).
    pub(super) async fn io(&self) -> MutexGuard<'_, Io> {
        self.io.lock().await
    }

    /// Runs `f` on the encoding state without awaiting; `None` when a [`WriteState`] owns it.
    fn with_enc<R>(&self, f: impl FnOnce(&mut Enc) -> R) -> Option<R> {
        let mut slot = lock(&self.enc);
        (!slot.owned).then(|| f(&mut slot.enc))
    }
}

/// What a flush handed to the writer: everything accepted up to `last`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Flushed {
    /// LSN of the last record written.
    pub(super) last: Lsn,
    /// The segment's length after the write.
    len: u64,
    /// `written_bytes` when the buffer was taken: the byte count a sync of it covers.
    pub(super) bytes: u64,
}

/// An accepted frame.
struct Accepted {
    ticket: Ticket,
    /// `written_bytes` after it.
    bytes: u64,
    /// Bytes buffered after it.
    buffered: usize,
}

impl<S: SegmentStore> Wal<S> {
    /// Appends one record without waiting for durability; pair the ticket with
    /// [`wait_durable`](Self::wait_durable).
    pub async fn enqueue(&self, data: &[u8]) -> Result<Ticket> {
        self.inner.record_frame(data)?;
        let packed = self.inner.pack(|| std::borrow::Cow::Borrowed(data));
        let lens = self.inner.frame_lens(data.len(), packed.as_ref());
        let payload = data.len() as u64;
        let borrowed = packed.as_ref().map(|(c, p)| (*c, p.as_slice()));
        self.enqueue_frame(lens, 1, payload, record_encoder(data, borrowed), || {
            record_encoder(data.to_vec(), packed.clone())
        })
        .await
    }

    /// Appends an atomic batch without waiting for durability.
    pub async fn enqueue_batch<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<Ticket> {
        let payload = self.inner.batch_frame(records)?;
        let count = records.len() as u64;
        let packed = self.inner.pack(|| {
            let mut raw = Vec::with_capacity(payload as usize);
            crate::format::encode_entries(&mut raw, records);
            std::borrow::Cow::Owned(raw)
        });
        let lens = self.inner.frame_lens(payload as usize, packed.as_ref());
        let borrowed = packed.as_ref().map(|(c, p)| (*c, p.as_slice()));
        self.enqueue_frame(
            lens,
            count,
            payload - 4 * count,
            batch_encoder(records, borrowed),
            || {
                let owned: Vec<Vec<u8>> = records.iter().map(|r| r.as_ref().to_vec()).collect();
                batch_encoder(owned, packed.clone())
            },
        )
        .await
    }

    /// Appends a frame of `frame` bytes holding `count` records (`payload` bytes of data):
    /// under the std lock alone when it can, else [detached](Self::detached) with the writing
    /// side locked, encoding with `owned()`, a copy of `encode` that owns its data.
    async fn enqueue_frame<E, O>(
        &self,
        frame: FrameLen,
        count: u64,
        payload: u64,
        encode: E,
        owned: impl FnOnce() -> O,
    ) -> Result<Ticket>
    where
        E: Fn(&mut Vec<u8>, At) -> Result<()>,
        O: Fn(&mut Vec<u8>, At) -> Result<()> + Send + Sync + 'static,
    {
        let acc = match self.inner.append_now(frame, count, &encode) {
            Some(acc) => acc?,
            None => {
                let encode = owned();
                self.detached(move |wal| async move {
                    wal.inner.append_locked(frame, count, &encode).await
                })
                .await?
            }
        };
        self.flush_full(acc.buffered).await?;
        self.accepted(&acc, count, payload);
        Ok(acc.ticket)
    }

    #[cfg(feature = "blocking")]
    /// [`enqueue`](Self::enqueue) on the calling thread, for [`BlockingWal`](crate::blocking::BlockingWal):
    /// `None` (and nothing appended) when the append must await the writing side (a
    /// rotation, or another task owns it). `Some(Ok((ticket, full)))`: the record is accepted,
    /// and when `full` the buffer has reached the write size and the caller hands it to the
    /// writer with [`flush`](Self::flush).
    pub(crate) fn enqueue_now(&self, data: &[u8]) -> Option<Result<(Ticket, bool)>> {
        if let Err(e) = self.inner.record_frame(data) {
            return Some(Err(e));
        }
        let packed = self.inner.pack(|| std::borrow::Cow::Borrowed(data));
        let frame = self.inner.frame_lens(data.len(), packed.as_ref());
        let packed = packed.as_ref().map(|(c, p)| (*c, p.as_slice()));
        let acc = match self
            .inner
            .append_now(frame, 1, &record_encoder(data, packed))?
        {
            Ok(acc) => acc,
            Err(e) => return Some(Err(e)),
        };
        self.accepted(&acc, 1, data.len() as u64);
        let full = acc.buffered >= self.inner.opts.write_buffer;
        Some(Ok((acc.ticket, full)))
    }

    #[cfg(feature = "blocking")]
    /// How waiting for `ticket` ends, if it is decided now (see
    /// [`wait_durable`](Self::wait_durable)): `None` while the record is pending.
    pub(crate) fn decided(&self, ticket: Ticket) -> Option<Result<()>> {
        let era = ticket.era.unwrap_or_else(|| self.inner.dur.era());
        self.inner.decided(ticket.range.last, era)
    }

    #[cfg(feature = "blocking")]
    /// Whether an append waits for durability before it is acknowledged.
    pub(crate) fn acks_durable(&self) -> bool {
        self.inner.opts.sync_policy.ack() == Ack::Durable
    }

    /// Counts an accepted append and starts a write-behind sync when due.
    fn accepted(&self, acc: &Accepted, records: u64, payload: u64) {
        self.inner.counters.appended(records, payload);
        self.write_behind(acc.bytes);
    }

    /// Hands a full buffer (`buffered` bytes) to the writer, on the appender's task. (Handing
    /// it to another thread measured no faster on 2 cores: the copy into the page cache is
    /// the cost either way.)
    async fn flush_full(&self, buffered: usize) -> Result<()> {
        if buffered < self.inner.opts.write_buffer {
            return Ok(());
        }
        self.inner.flush().await.map(drop)
    }

    /// Starts a background sync once [`WalOptions::write_behind`](crate::WalOptions::write_behind)
    /// bytes are not yet durable under a policy that does not sync on every append, so a bulk
    /// writer streams to the disk instead of paying for a whole segment at its seal. It runs
    /// through the same durability rules as every other sync.
    fn write_behind(&self, written_bytes: u64) {
        let inner = &*self.inner;
        let Some(limit) = inner.opts.write_behind else {
            return;
        };
        if inner.opts.sync_policy.ack() == Ack::Durable
            || written_bytes.saturating_sub(inner.dur.durable_bytes()) < limit
            || inner.behind.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            inner.behind.store(false, Ordering::SeqCst);
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        rt.spawn(async move {
            let Some(inner) = weak.upgrade() else { return };
            if let Some(leader) = inner.dur.try_lead() {
                let _ = inner.sync_round(leader, false).await;
            }
            inner.behind.store(false, Ordering::SeqCst);
        });
    }
}

/// Where and when a frame is encoded: what an encoder learns under the encoding lock.
#[derive(Clone, Copy, Debug)]
pub(super) struct At {
    /// The active segment's layout (salt, format version).
    layout: Layout,
    /// LSN of the frame's first record.
    lsn: Lsn,
    /// The durable watermark the frame carries.
    durable: Lsn,
    /// The append time, when the segment's version and the options stamp one.
    time: Option<u64>,
    /// The segment's key and this frame's nonce, when the segment is encrypted.
    seal: Option<(Key, [u8; NONCE_LEN])>,
}

impl At {
    /// Writes a version 3 record or batch frame of `body` (already compressed when
    /// `compression` says so), encrypted when the segment is.
    fn write(
        &self,
        buf: &mut Vec<u8>,
        kind: FrameKind,
        count: u32,
        compression: Compression,
        body: &[u8],
    ) -> Result<()> {
        let stored = Stored {
            time: self.time,
            compression,
            encrypted: false,
        };
        let (salt, lsn, durable) = (self.layout.salt, self.lsn, self.durable);
        match &self.seal {
            None => {
                encode_data(buf, salt, kind, lsn, durable, count, stored, body);
                Ok(())
            }
            Some((key, nonce)) => encode_encrypted(
                buf, salt, kind, lsn, durable, count, stored, key, nonce, body,
            )
            .map(drop)
            .map_err(Error::InvalidArgument),
        }
    }
}

/// A frame's length in a version 2 segment (plain, no time) and in a version 3 one (with
/// the options' time and compression): known before the segment it lands in is.
#[derive(Clone, Copy, Debug)]
pub(super) struct FrameLen {
    v2: u64,
    v3: u64,
}

impl FrameLen {
    /// The length in a segment of `layout`.
    fn at(self, layout: &Layout) -> u64 {
        match (layout.version >= 3, layout.key_id != 0) {
            (false, _) => self.v2,
            (true, false) => self.v3,
            (true, true) => self.v3 + (NONCE_LEN + TAG_LEN) as u64,
        }
    }
}

/// A body compressed before the encoding lock is taken: its codec and stored bytes.
type Packed<P> = Option<(Compression, P)>;

/// The encoder of a single-record frame of `data` (stored as `packed` in a version 3
/// segment when compression shrank it).
fn record_encoder<D, P>(data: D, packed: Packed<P>) -> impl Fn(&mut Vec<u8>, At) -> Result<()>
where
    D: AsRef<[u8]>,
    P: AsRef<[u8]>,
{
    move |buf, at| {
        if at.layout.version < 3 {
            encode_record(buf, at.layout.salt, at.lsn, at.durable, data.as_ref());
            return Ok(());
        }
        let (compression, body) = match &packed {
            Some((c, p)) => (*c, p.as_ref()),
            None => (Compression::None, data.as_ref()),
        };
        at.write(buf, FrameKind::Record, 1, compression, body)
    }
}

/// The encoder of an atomic batch frame of `records` (see [`record_encoder`]).
fn batch_encoder<B, R, P>(records: B, packed: Packed<P>) -> impl Fn(&mut Vec<u8>, At) -> Result<()>
where
    B: AsRef<[R]>,
    R: AsRef<[u8]>,
    P: AsRef<[u8]>,
{
    move |buf, at| {
        let records = records.as_ref();
        let count = records.len() as u32;
        let v3 = at.layout.version >= 3;
        match &packed {
            Some((compression, p)) if v3 => {
                at.write(buf, FrameKind::Batch, count, *compression, p.as_ref())
            }
            _ if at.seal.is_some() => {
                let mut entries = Vec::with_capacity(batch_payload_len(records) as usize);
                encode_entries(&mut entries, records);
                at.write(buf, FrameKind::Batch, count, Compression::None, &entries)
            }
            _ => {
                let stored = Stored {
                    time: at.time.filter(|_| v3),
                    compression: Compression::None,
                    encrypted: false,
                };
                encode_batch(buf, at.layout.salt, at.lsn, at.durable, stored, records);
                Ok(())
            }
        }
    }
}

/// Bodies shorter than this are never compressed (the codecs' framing outweighs the gain).
const MIN_COMPRESSED: usize = 32;

/// Refuses an append of `count` records at `next` that would reach the end of the LSN space
/// (`u64::MAX` is never handed out, so `next` never overflows).
fn check_lsn_room(next: Lsn, count: u64) -> Result<()> {
    match next.0.checked_add(count) {
        Some(end) if end < u64::MAX => Ok(()),
        _ => Err(Error::InvalidArgument(format!(
            "the log has run out of LSNs: {count} more record(s) after LSN {} would pass {}",
            next.prev(),
            u64::MAX - 1
        ))),
    }
}

impl<S: SegmentStore> Inner<S> {
    /// Checks that the log is open and `data` is not too large for a record.
    fn record_frame(&self, data: &[u8]) -> Result<()> {
        self.check_open()?;
        if data.len() > self.opts.max_record_size as usize {
            return Err(Error::RecordTooLarge {
                size: data.len() as u64,
                max: u64::from(self.opts.max_record_size),
            });
        }
        Ok(())
    }

    /// A body of the bytes `raw()` compressed with the log's codec, when it has one and
    /// compressing shrinks them (done before the encoding lock, on the appender's task).
    fn pack<'d>(&self, raw: impl FnOnce() -> std::borrow::Cow<'d, [u8]>) -> Packed<Vec<u8>> {
        let c = self.opts.compression;
        if c == Compression::None {
            return None;
        }
        let raw = raw();
        if raw.len() < MIN_COMPRESSED {
            return None;
        }
        c.compress(&raw).map(|p| (c, p))
    }

    /// The frame lengths of a body of `plain` bytes (stored as `packed` when compressed).
    fn frame_lens(&self, plain: usize, packed: Option<&(Compression, Vec<u8>)>) -> FrameLen {
        let header = FRAME_HEADER_LEN as u64;
        let time = if self.opts.timestamps {
            TIMESTAMP_LEN as u64
        } else {
            0
        };
        let stored = packed.map_or(plain, |(_, p)| p.len()) as u64;
        FrameLen {
            v2: header + plain as u64,
            v3: header + time + stored,
        }
    }

    /// The payload length of a plain atomic batch of `records`, once the log is open and the
    /// batch is neither empty nor too large.
    fn batch_frame<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<u64> {
        self.check_open()?;
        if records.is_empty() {
            return Err(Error::InvalidArgument(
                "an atomic batch needs at least one record".into(),
            ));
        }
        if let Some(big) = records
            .iter()
            .find(|r| r.as_ref().len() > self.opts.max_record_size as usize)
        {
            return Err(Error::RecordTooLarge {
                size: big.as_ref().len() as u64,
                max: u64::from(self.opts.max_record_size),
            });
        }
        let payload = batch_payload_len(records);
        if payload > u64::from(self.opts.max_batch_size) || records.len() > u32::MAX as usize {
            return Err(Error::RecordTooLarge {
                size: payload,
                max: u64::from(self.opts.max_batch_size),
            });
        }
        Ok(payload)
    }

    /// Appends a frame of `frame` bytes holding `count` records under the std lock alone, when
    /// it fits the active segment and no task owns the writing side (`None` otherwise).
    ///
    /// `encode(buffer, at)` appends the frame to the buffer.
    fn append_now<F>(&self, frame: FrameLen, count: u64, encode: &F) -> Option<Result<Accepted>>
    where
        F: Fn(&mut Vec<u8>, At) -> Result<()>,
    {
        let acc = self
            .appender
            .with_enc(|enc| {
                self.fits(enc, frame.at(&enc.layout))
                    .then(|| self.accept(enc, frame, count, encode))
            })
            .flatten()?;
        if let Ok(acc) = &acc {
            self.wake_gatherer(acc.ticket.range.last, acc.bytes);
        }
        Some(acc)
    }

    /// Appends a frame under the whole writing side, rotating first when needed: the path of
    /// an append [`append_now`](Self::append_now) did not take. The caller runs it
    /// [detached](Wal::detached), since a rotation must not stop half way.
    async fn append_locked<F>(&self, frame: FrameLen, count: u64, encode: &F) -> Result<Accepted>
    where
        F: Fn(&mut Vec<u8>, At) -> Result<()>,
    {
        let acc = {
            let mut st = self.lock_for_append(frame).await?;
            self.accept(&mut st.enc, frame, count, encode)?
        };
        self.wake_gatherer(acc.ticket.range.last, acc.bytes);
        Ok(acc)
    }

    /// Whether a frame of `frame` bytes may go into the active segment without rotating.
    fn fits(&self, enc: &Enc, frame: u64) -> bool {
        enc.records == 0 || enc.len + frame + TRAILER_LEN as u64 <= self.opts.segment_size
    }

    /// The one place records are accepted: checks the log is open, encodes the frame, and
    /// advances the LSN, the lengths and the byte count, then publishes the written LSN. Runs
    /// with `enc` locked (or owned), so LSN order, buffer order and byte count agree.
    fn accept<F>(&self, enc: &mut Enc, frame: FrameLen, count: u64, encode: &F) -> Result<Accepted>
    where
        F: Fn(&mut Vec<u8>, At) -> Result<()>,
    {
        self.check_open()?;
        let first = enc.next;
        check_lsn_room(first, count)?;
        let last = Lsn(first.0 + count - 1);
        let frame = frame.at(&enc.layout);
        let time = (enc.layout.version >= 3 && self.opts.timestamps).then(|| {
            let t = self.opts.clock.now_micros().max(enc.last_time);
            enc.last_time = t;
            t
        });
        let seal = match (enc.key, enc.nonces.as_mut()) {
            (Some(key), Some(nonces)) if enc.layout.key_id != 0 => Some((key, nonces.next())),
            _ => None,
        };
        let at = At {
            layout: enc.layout,
            lsn: first,
            durable: self.dur.durable(),
            time,
            seal,
        };
        let before = enc.buf.len();
        encode(&mut enc.buf, at)?;
        debug_assert_eq!((enc.buf.len() - before) as u64, frame, "frame length");
        enc.next = last.next();
        enc.len += frame;
        enc.records += count;
        let era = self.dur.era();
        let bytes = self.written_bytes.fetch_add(frame, Ordering::SeqCst) + frame;
        self.publish_written(last);
        Ok(Accepted {
            ticket: Ticket {
                range: LsnRange { first, last },
                era: Some(era),
            },
            bytes,
            buffered: enc.buf.len(),
        })
    }

    /// Takes the whole writing side with room for a frame of `frame` bytes in the active
    /// segment, rotating first when it would push a non-empty segment past its target size.
    ///
    /// Rotation seals through `Durability`, which needs the `io` lock; the append lock
    /// comes before it in the lock order, so holding it here is allowed.
    async fn lock_for_append(&self, frame: FrameLen) -> Result<WriteState<'_>> {
        let mut st = self.appender.exclusive().await;
        self.check_open()?;
        if !self.fits(&st.enc, frame.at(&st.enc.layout)) {
            self.rotate_locked(&mut st).await?;
        }
        Ok(st)
    }

    /// Hands every frame accepted so far to the writer, holding the append lock but not the
    /// encoding state: appends go on while the bytes are written.
    pub(super) async fn flush_io(&self, io: &mut Io) -> Result<Flushed> {
        // Holding the append lock, this task is the only one that could own the state.
        let Some(flushed) = self
            .appender
            .with_enc(|enc| take_buffer(enc, io, &self.written_bytes))
        else {
            return Err(Error::InvalidArgument(
                "internal: a flush found the encoding state owned by another task".into(),
            ));
        };
        self.write_spare(io, flushed).await
    }

    /// Hands the buffered frames to the writer, owning the whole writing side.
    pub(super) async fn flush_locked(&self, st: &mut WriteState<'_>) -> Result<Flushed> {
        let flushed = take_buffer(&mut st.enc, &mut st.io, &self.written_bytes);
        self.write_spare(&mut st.io, flushed).await
    }

    /// Flushes under the append lock alone (see [`flush_io`](Self::flush_io)).
    pub(super) async fn flush(&self) -> Result<Flushed> {
        let mut io = self.appender.io().await;
        self.check_open()?;
        self.flush_io(&mut io).await
    }

    /// Writes the buffer [`take_buffer`] moved into `io.spare`.
    async fn write_spare(&self, io: &mut Io, flushed: Flushed) -> Result<Flushed> {
        if io.spare.is_empty() {
            return Ok(flushed);
        }
        let Some(w) = io.writer.clone() else {
            return Err(Error::Closed);
        };
        if let Err(e) = w.append(&io.spare).await {
            io.spare.clear();
            return Err(self.poison("appending to the active segment", e));
        }
        if let Some(crc) = io.body_crc {
            let mut h = crc32fast::Hasher::new_with_initial(crc);
            h.update(&io.spare);
            io.body_crc = Some(h.finalize());
        }
        io.spare.clear();
        if let Ok(mut t) = self.table.write() {
            if let Some(s) = t.segs.last_mut() {
                s.len = flushed.len;
            }
        }
        self.flushed.fetch_max(flushed.last.0, Ordering::SeqCst);
        Ok(flushed)
    }
}

/// Moves the buffered frames into `io.spare` and says what they cover. Behind frames a
/// cancelled flush left there, so bytes reach the writer in the order they were accepted.
fn take_buffer(enc: &mut Enc, io: &mut Io, written_bytes: &AtomicU64) -> Flushed {
    if io.spare.is_empty() {
        std::mem::swap(&mut enc.buf, &mut io.spare);
    } else {
        io.spare.extend_from_slice(&enc.buf);
        enc.buf.clear();
    }
    Flushed {
        last: enc.next.prev(),
        len: enc.len,
        bytes: written_bytes.load(Ordering::SeqCst),
    }
}
