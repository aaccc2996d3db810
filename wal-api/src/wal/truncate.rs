//! Prefix truncation (after a checkpoint) and suffix truncation (log rollback).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Inner, Wal};
use crate::error::{Error, Result};
use crate::format::{decode_frame, FrameKind, Layout, SEGMENT_HEADER_LEN};
use crate::lsn::{Lsn, SegmentId};
use crate::retention::{Discarding, SegmentIdentity};
use crate::store::{SegmentStore, SegmentStoreExt};

impl<S: SegmentStore> Wal<S> {
    /// Drops every whole segment whose records are all below `lsn`. The active segment is never
    /// dropped. Returns the new [`first_lsn`](Self::first_lsn); readers of dropped LSNs get
    /// [`Error::Trimmed`].
    pub async fn truncate_prefix(&self, lsn: Lsn) -> Result<Lsn> {
        self.detached(move |wal| async move { wal.truncate_prefix_now(lsn).await })
            .await
    }

    /// The body of [`truncate_prefix`](Self::truncate_prefix), which runs it [detached](Self::detached).
    async fn truncate_prefix_now(&self, lsn: Lsn) -> Result<Lsn> {
        let inner = &*self.inner;
        let _life = inner.lifecycle.lock().await;
        inner.check_open()?;
        // Candidates: sealed segments whose successor starts at or below `lsn`, oldest first.
        let candidates: Vec<(SegmentId, u64)> = {
            let t = inner
                .table
                .read()
                .map_err(|_| Error::InvalidArgument("segment table lock poisoned".into()))?;
            t.segs
                .windows(2)
                .take_while(|w| w[1].base <= lsn && w[0].sealed)
                .map(|w| (w[0].id, w[0].len))
                .collect()
        };
        // The gate judges each by its contents: an id alone may name a segment the archive
        // never saw (ids are reused after a suffix truncation).
        let mut victims = Vec::with_capacity(candidates.len());
        for (id, len) in candidates {
            if let Some(gate) = inner.opts.retention.as_deref() {
                let seg = SegmentIdentity::read(&inner.store, id, len).await?;
                if !seg.is_some_and(|seg| gate.may_delete(&seg)) {
                    break;
                }
            }
            victims.push(id);
        }
        for id in victims {
            // Leave the table first: a reader then finds the segment gone and reports
            // `Trimmed`, instead of finding it listed and failing to read it. A failed delete
            // leaves a file the next open lists again and a later truncation drops.
            if let Ok(mut t) = inner.table.write() {
                t.segs.retain(|s| s.id != id);
                t.epoch += 1;
                inner.epoch.fetch_add(1, Ordering::SeqCst);
            }
            inner.store.delete(id).await?;
        }
        Ok(inner.first_lsn())
    }

    /// Discards every record after `lsn`; durable when it returns (no crash brings them back),
    /// and the next append gets `lsn + 1`. Metadata and the checkpoint are not touched; `lsn`
    /// below the checkpoint is refused ([`Error::Trimmed`]; use [`reset`](Self::reset)).
    ///
    /// `lsn` must not fall inside an atomic batch ([`Error::InvalidArgument`] names the
    /// batch's bounds). A batch is one frame under one checksum, which is what makes it all or
    /// nothing after a crash; keeping part of it means writing a shorter frame where the
    /// synced one was, and a crash during that rewrite could lose the records kept, which
    /// were acknowledged. Logs that must cut anywhere (a Raft log, whose entries are each
    /// valid alone) should append each entry as its own record: [`enqueue`](Self::enqueue)
    /// every entry, then [`wait_durable`](Self::wait_durable) on the last ticket costs one
    /// group commit, like a batch.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Error, Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let wal = Wal::open(MemoryStore::new(), WalOptions::default()).await?;
    /// let mut last = None;
    /// for entry in [&b"e1"[..], b"e2", b"e3"] {
    ///     last = Some(wal.enqueue(entry).await?); // one record per entry
    /// }
    /// wal.wait_durable(last.unwrap()).await?; // one sync for all three
    /// wal.truncate_suffix(Lsn(1)).await?; // a conflict at entry 2: keep entry 1
    /// assert_eq!(wal.append(b"e2'").await?, Lsn(2));
    ///
    /// let batch = wal.append_batch(&[&b"a"[..], b"b"]).await?;
    /// assert!(matches!(wal.truncate_suffix(batch.first).await, Err(Error::InvalidArgument(_))));
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn truncate_suffix(&self, lsn: Lsn) -> Result<()> {
        self.detached(move |wal| async move { wal.truncate_suffix_now(lsn).await })
            .await
    }

    /// The body of [`truncate_suffix`](Self::truncate_suffix), which runs it [detached](Self::detached).
    async fn truncate_suffix_now(&self, lsn: Lsn) -> Result<()> {
        let inner = &*self.inner;
        let _life = inner.lifecycle.lock().await;
        let leader = inner.dur.lead().await;
        let mut st = inner.appender.exclusive().await;
        inner.check_open()?;
        let last = st.enc.next.prev();
        if lsn >= last {
            return Ok(());
        }
        let first = inner.first_lsn();
        if lsn.next() < first {
            return Err(Error::Trimmed {
                requested: lsn,
                first,
            });
        }
        inner.flush_locked(&mut st).await?;
        let segs = inner
            .table
            .read()
            .map_err(|_| Error::InvalidArgument("segment table lock poisoned".into()))?
            .segs
            .clone();
        let Some(k) = segs.iter().rposition(|s| s.base <= lsn.next()) else {
            return Err(Error::InvalidArgument(format!(
                "LSN {lsn} is before the log"
            )));
        };
        let target = segs[k];
        // New appends go to the cut segment: refuse now, before anything changes, when it is
        // encrypted with a key the options do not have.
        let key = super::recovery::segment_key(&inner.opts, target.id, &target.layout)?;
        let _discarding = Discarding::begin(
            inner.opts.retention.as_deref(),
            &inner.store,
            segs[k..].iter().map(|s| (s.id, s.len, s.sealed)),
            &format!("truncating after LSN {lsn}"),
        )
        .await?;
        let (cut, records, body_crc) = inner
            .find_cut(target.id, target.base, target.layout, lsn)
            .await?;
        // Point of no return: later segments go first (newest first), then the cut.
        st.io.writer = None;
        inner.unverify(Some(target.id), cut);
        for s in segs[k + 1..].iter().rev() {
            if let Err(e) = inner.store.delete(s.id).await {
                return Err(inner.poison("deleting a segment during suffix truncation", e));
            }
        }
        let w = match inner.store.open_tail(target.id, cut).await {
            Ok(w) => w,
            Err(e) => return Err(inner.poison("cutting the tail segment", e)),
        };
        st.io.writer = Some(Arc::from(w));
        st.io.seg = target.id;
        st.enc.layout = target.layout;
        st.enc.key = key;
        st.io.base = target.base;
        st.enc.len = cut;
        st.io.body_crc = Some(body_crc);
        st.enc.records = records;
        st.enc.next = lsn.next();
        st.enc.buf.clear();
        // The cut comes first: a waiter or reader that sees the lower written LSN also sees
        // the new truncation era, and compares its record with the cut point.
        let bytes = inner.written_bytes.load(Ordering::SeqCst);
        inner.dur.cut(lsn, bytes).await;
        if let Ok(mut t) = inner.table.write() {
            t.segs.truncate(k + 1);
            if let Some(s) = t.segs.last_mut() {
                s.len = cut;
                s.sealed = false;
            }
            t.epoch += 1;
            inner.epoch.fetch_add(1, Ordering::SeqCst);
        }
        inner.written.store(lsn.0, Ordering::SeqCst);
        inner.flushed.store(lsn.0, Ordering::SeqCst);
        drop(st);
        inner.notify_written(lsn);
        // Releasing the leader lock wakes every waiter, so one of them leads the next sync.
        drop(leader);
        Ok(())
    }
}

impl<S: SegmentStore> Inner<S> {
    /// Where segment `id` must be cut so that its last record is `lsn`:
    /// (offset, records kept, CRC of the kept bytes).
    async fn find_cut(
        &self,
        id: SegmentId,
        base: Lsn,
        layout: Layout,
        lsn: Lsn,
    ) -> Result<(u64, u64, u32)> {
        let bytes = self.store.read_all(id).await?;
        let mut pos = SEGMENT_HEADER_LEN;
        let mut records = 0u64;
        let mut next = base;
        while next <= lsn {
            let f = decode_frame(bytes.get(pos..).unwrap_or_default(), layout)
                .map_err(|e| Error::corrupt(id, pos as u64, e.to_string()))?;
            if f.kind == FrameKind::Seal {
                break;
            }
            if f.last_lsn() > lsn {
                return Err(Error::InvalidArgument(format!(
                    "LSN {lsn} is inside an atomic batch ({}..={}); truncate at {} or {}",
                    f.lsn,
                    f.last_lsn(),
                    f.lsn.prev(),
                    f.last_lsn()
                )));
            }
            records += u64::from(f.count);
            next = f.last_lsn().next();
            pos += f.len();
        }
        Ok((pos as u64, records, crc32fast::hash(&bytes[..pos])))
    }
}
