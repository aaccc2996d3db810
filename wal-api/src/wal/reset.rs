//! Restarting the log at a chosen LSN ([`Wal::reset`]): after an engine installs a snapshot
//! taken at LSN `N`, everything is discarded and the next record takes `N + 1`.
//!
//! # Steps and crash behaviour
//!
//! Recovery accepts segments only when their base LSNs are contiguous, so a reset cannot
//! just create a segment at the new base. It goes through a durable *intent*:
//!
//! 1. A reset meta frame naming the new LSN is written into the active segment, which is then
//!    sealed (trailer + sync): the reset frame is the last frame before the trailer. From
//!    here on the reset is decided.
//! 2. A new segment is created (durably) whose base is the new LSN.
//! 3. Every older segment is deleted, oldest first, so the sealed segment holding the intent
//!    goes last.
//!
//! Recovery treats a sealed segment whose last frame before the trailer is a reset frame as
//! the end of a discarded log: the next segment must start at the reset LSN (not right after
//! the sealed segment), and recovery finishes the reset: it creates that segment if a crash
//! came before step 2, and deletes the segment with the intent and every one before it
//! (oldest first). So a crash at any point leaves either the log as it was (before step 1
//! is durable) or the reset log (after it), never a mix; a crash during recovery's own
//! completion is completed again by the next open.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{recovery, Wal};
use crate::error::{Error, Result};
use crate::format::meta::encode_reset;
use crate::format::{encode_marker, FrameKind, SEGMENT_HEADER_LEN};
use crate::lsn::Lsn;
use crate::retention::Discarding;
use crate::store::SegmentStore;

use super::recovery::SegInfo;
use super::state::write_reset_checkpoint;

impl<S: SegmentStore> Wal<S> {
    /// Discards every record and restarts the log so that the next record takes `next`
    /// (for Raft: after installing a snapshot at index `N`, `reset(N + 1)`). Durable when it
    /// returns: no crash brings a discarded record back, and a crash before it returns leaves
    /// either the old log or the reset one (the steps are in `docs/FORMAT.md`, "Meta payload").
    ///
    /// `next` may be above or below the current end. Afterwards [`first_lsn`](Self::first_lsn)
    /// is `next`, [`last_checkpoint`](Self::last_checkpoint) is `next - 1` (`None` for 1),
    /// metadata is kept, readers of older LSNs get [`Error::Trimmed`], live readers and waiters on
    /// discarded records get [`Error::Truncated`]. Refused with [`Error::Archived`] when a
    /// retention gate reports an archived segment (the archive would disagree with the log).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// let wal = Wal::open(store.clone(), WalOptions::default()).await?;
    /// wal.append(b"entry 1").await?;
    /// wal.append(b"entry 2").await?;
    ///
    /// // A snapshot up to index 100 was installed: discard the log, continue at 101.
    /// wal.reset(Lsn(101)).await?;
    /// assert_eq!(wal.last().await?, None);
    /// assert_eq!(wal.append(b"entry 101").await?, Lsn(101));
    /// drop(wal);
    ///
    /// let wal = Wal::open(store, WalOptions::default()).await?;
    /// assert_eq!(wal.first_lsn(), Lsn(101));
    /// assert_eq!(&wal.last().await?.unwrap().data[..], b"entry 101");
    /// # Ok::<(), wal_api::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn reset(&self, next: Lsn) -> Result<()> {
        self.detached(move |wal| async move { wal.reset_now(next).await })
            .await
    }

    /// The body of [`reset`](Self::reset), which runs it [detached](Self::detached).
    async fn reset_now(&self, next: Lsn) -> Result<()> {
        let inner = &*self.inner;
        if next.is_none() || next > Lsn::LAST_START {
            return Err(Error::InvalidArgument(format!(
                "a reset must restart at an LSN between 1 and {} (got {next}): a record must fit after it",
                Lsn::LAST_START
            )));
        }
        let _life = inner.lifecycle.lock().await;
        let leader = inner.dur.lead().await;
        let mut st = inner.appender.exclusive().await;
        inner.check_open()?;
        let segs = inner
            .table
            .read()
            .map_err(|_| Error::InvalidArgument("segment table lock poisoned".into()))?
            .segs
            .clone();
        let _discarding = Discarding::begin(
            inner.opts.retention.as_deref(),
            &inner.store,
            segs.iter().map(|s| (s.id, s.len, s.sealed)),
            &format!("a reset to LSN {next}"),
        )
        .await?;
        let first = inner.first_lsn();
        super::check_successor(st.io.seg)?;

        // 1. The intent: a reset frame right before the trailer of the sealed active segment.
        let salt = st.enc.layout.salt;
        let at = st.enc.next;
        let frame = encode_marker(
            &mut st.enc.buf,
            salt,
            FrameKind::Meta,
            at,
            inner.dur.durable(),
            &encode_reset(next),
        ) as u64;
        st.enc.len += frame;
        inner.written_bytes.fetch_add(frame, Ordering::SeqCst);
        inner.seal_locked(&mut st).await?;

        inner.unverify(None, 0);
        // 2. The new segment at the new base.
        let id = st.io.seg.next();
        let h = recovery::new_header(&inner.opts, id, next);
        let key = recovery::segment_key(&inner.opts, id, &h.layout())?;
        let header = h.encode();
        let w = match inner.store.create(id, &header).await {
            Ok(w) => Arc::from(w),
            Err(e) => return Err(inner.poison("creating the segment a reset starts", e)),
        };
        let fresh = SegInfo {
            id,
            base: next,
            len: SEGMENT_HEADER_LEN as u64,
            sealed: false,
            layout: h.layout(),
        };
        // Readers see the reset log from here on; the old segments leave the table before
        // they leave the store, so a reader finds them gone (`Trimmed`) rather than missing.
        if let Ok(mut t) = inner.table.write() {
            t.segs = vec![fresh];
            t.epoch += 1;
            inner.epoch.fetch_add(1, Ordering::SeqCst);
        }
        st.io.writer = Some(w);
        st.io.seg = id;
        st.enc.layout = h.layout();
        st.enc.key = key;
        st.io.base = next;
        st.enc.len = SEGMENT_HEADER_LEN as u64;
        st.io.body_crc = Some(crc32fast::hash(&header));
        st.enc.records = 0;
        st.enc.next = next;
        st.enc.buf.clear();
        let bytes = inner.written_bytes.load(Ordering::SeqCst);
        inner.dur.restart(first.prev(), next, bytes).await;
        inner.written.store(next.prev().0, Ordering::SeqCst);
        inner.flushed.store(next.prev().0, Ordering::SeqCst);
        inner.notify_written(next.prev());

        // The reset checkpoints `next - 1` (the snapshot the engine installed), before the
        // intent goes: a crash before this line is finished by recovery, which reads the
        // intent and writes the same state.
        let mut state = inner.log_state();
        match write_reset_checkpoint(&inner.store, &inner.opts, &mut state, next).await {
            Ok(true) => inner.set_log_state(state),
            Ok(false) => {}
            Err(e) => return Err(inner.poison("writing the state a reset checkpoints", e)),
        }

        // 3. The old segments, oldest first (the one holding the intent last).
        for s in &segs {
            if let Err(e) = inner.store.delete(s.id).await {
                return Err(inner.poison("deleting a segment during a reset", e));
            }
        }
        drop(st);
        drop(leader);
        Ok(())
    }
}
