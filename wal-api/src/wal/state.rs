//! Durable metadata ([`Wal::put_meta`]) and checkpoints ([`Wal::checkpoint`]).
//!
//! Both live in the log's *state*, kept in two state slots beside the segments
//! ([`crate::format::state`]): every change writes the whole state, version + 1, into the slot
//! not holding the current one (delete, create, write, seal), so a crash part-way leaves the
//! previous state whole. Slots are not records: rotation, both truncations and a reset leave
//! them alone, so no segment has to carry the state forward and no truncation can lose it.
//!
//! Ordering with the records: a change first makes every record written so far durable, so
//! the state never gets ahead of the log (a checkpoint at LSN `c` never outlives the records
//! up to `c`, and a committed index stored as metadata never names a record a crash lost).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::recovery::RecoveryReport;
use super::{recovery, Inner, Ticket, Wal};
use crate::error::{Error, Result};
use crate::format::state::{LogState, MAX_META_KEY, STATE_SLOTS};
use crate::lsn::Lsn;
use crate::options::{RecoveryMode, WalOptions};
use crate::segment::read_state;
use crate::store::{SegmentMeta, SegmentStore};

impl<S: SegmentStore> Wal<S> {
    /// Stores `value` under `key` in the log's metadata map, durably: when it returns, the
    /// value survives any crash, rotation and both truncations (and a reset), and every
    /// record appended before the call is durable too. For a Raft vote, a committed index,
    /// an engine's schema version.
    ///
    /// Each call writes the whole map (two syncs, plus one for the records when some are not
    /// yet durable), so keep the map small (its encoding must fit in
    /// [`WalOptions::max_record_size`]) and values that change on every append in records.
    /// Keys are at most 1,024 bytes.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// let wal = Wal::open(store.clone(), WalOptions::default()).await?;
    /// wal.append(b"entry 1").await?;
    /// wal.put_meta("vote", b"term 3: node 2").await?;
    /// wal.truncate_suffix(Lsn(0)).await?; // records go, metadata stays
    /// drop(wal);
    ///
    /// let wal = Wal::open(store.crash(7), WalOptions::default()).await?; // power loss
    /// assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 3: node 2"[..]));
    /// assert_eq!(wal.last().await?, None);
    /// # Ok::<(), wal_api::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn put_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.detached(move |wal| async move { wal.put_meta_now(&key, &value).await })
            .await
    }

    /// The body of [`put_meta`](Self::put_meta), which runs it [detached](Self::detached).
    async fn put_meta_now(&self, key: &str, value: &[u8]) -> Result<()> {
        if key.len() > MAX_META_KEY {
            return Err(Error::InvalidArgument(format!(
                "a metadata key is at most {MAX_META_KEY} bytes (got {})",
                key.len()
            )));
        }
        let (key, value) = (key.to_owned(), Bytes::copy_from_slice(value));
        self.change_state(move |s| {
            s.meta.insert(key, value);
            Ok(())
        })
        .await
    }

    /// Removes `key` from the metadata map, durably (see [`put_meta`](Self::put_meta)).
    /// Removing a key that is not there changes nothing and writes nothing.
    pub async fn delete_meta(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.detached(move |wal| async move { wal.delete_meta_now(&key).await })
            .await
    }

    /// The body of [`delete_meta`](Self::delete_meta), which runs it [detached](Self::detached).
    async fn delete_meta_now(&self, key: &str) -> Result<()> {
        if self.meta(key).is_none() {
            return self.inner.check_open();
        }
        let key = key.to_owned();
        self.change_state(move |s| {
            s.meta.remove(&key);
            Ok(())
        })
        .await
    }

    /// The value stored under `key` by [`put_meta`](Self::put_meta), if any.
    pub fn meta(&self, key: &str) -> Option<Bytes> {
        self.inner.log_state().meta.get(key).cloned()
    }

    /// The whole metadata map.
    pub fn metadata(&self) -> BTreeMap<String, Bytes> {
        self.inner.log_state().meta
    }

    /// Records durably that the engine's state up to `lsn` is saved elsewhere (a snapshot):
    /// every record at or below `lsn` is never returned again (reads below get
    /// [`Error::Trimmed`]; [`first_lsn`](Self::first_lsn) becomes at least `lsn + 1`), and
    /// every sealed segment holding only such records is deleted, unless a
    /// [`RetentionGate`](crate::RetentionGate) keeps it for the archiver (a later checkpoint
    /// or [`truncate_prefix`](Self::truncate_prefix) deletes it once allowed).
    ///
    /// The records up to `lsn` are made durable first, so a crash never leaves a checkpoint
    /// ahead of the log. Checkpoints only move forward: `lsn` below the last checkpoint is
    /// refused, `lsn` equal to it changes nothing, and `lsn` past the last written record is
    /// refused. After a reopen, [`last_checkpoint`](Self::last_checkpoint) says where replay
    /// starts.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Error, Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// let wal = Wal::open(store.clone(), WalOptions::default()).await?;
    /// for i in 0..10u8 {
    ///     wal.append(&[i]).await?;
    /// }
    /// // The engine saved a snapshot of its state after record 7.
    /// wal.checkpoint(Lsn(7)).await?;
    /// assert!(matches!(wal.get(Lsn(7)).await, Err(Error::Trimmed { .. })));
    /// drop(wal);
    ///
    /// let wal = Wal::open(store, WalOptions::default()).await?;
    /// let start = wal.last_checkpoint().map_or(Lsn(1), Lsn::next); // replay from here
    /// assert_eq!((start, wal.first_lsn()), (Lsn(8), Lsn(8)));
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn checkpoint(&self, lsn: Lsn) -> Result<()> {
        self.detached(move |wal| async move { wal.checkpoint_now(lsn).await })
            .await
    }

    /// The body of [`checkpoint`](Self::checkpoint), which runs it [detached](Self::detached).
    async fn checkpoint_now(&self, lsn: Lsn) -> Result<()> {
        let inner = &*self.inner;
        inner.check_open()?;
        if lsn.is_none() {
            return Err(Error::InvalidArgument(
                "a checkpoint names a record: LSN 0 is none".into(),
            ));
        }
        let current = inner.log_state().checkpoint;
        if current == Some(lsn) {
            return Ok(());
        }
        self.change_state(move |s| {
            // Checked under the lifecycle lock (no truncation runs meanwhile), against the
            // records and the state the change replaces.
            if lsn > inner.written() {
                return Err(Error::InvalidArgument(format!(
                    "LSN {lsn} has not been written (last written is {})",
                    inner.written()
                )));
            }
            if let Some(c) = s.checkpoint.filter(|&c| lsn < c) {
                return Err(Error::InvalidArgument(format!(
                    "checkpoints only move forward: LSN {lsn} is below the last checkpoint {c}"
                )));
            }
            s.checkpoint = Some(lsn);
            Ok(())
        })
        .await?;
        tracing::debug!(target: "wal", lsn = lsn.0, "checkpoint recorded");
        self.truncate_prefix(lsn.next()).await?;
        Ok(())
    }

    /// The last checkpoint ([`checkpoint`](Self::checkpoint)), kept across reopens: the engine's
    /// state up to it is saved elsewhere, and replay starts right after it. After
    /// [`reset`](Self::reset) to `n` it is `n - 1`.
    pub fn last_checkpoint(&self) -> Option<Lsn> {
        self.inner.log_state().checkpoint
    }

    /// Applies `change` to a copy of the state and writes it (see the module docs), under the
    /// lifecycle lock so changes and truncations never interleave.
    async fn change_state(&self, change: impl FnOnce(&mut LogState) -> Result<()>) -> Result<()> {
        let inner = &self.inner;
        let _life = inner.lifecycle.lock().await;
        inner.check_open()?;
        let mut next = inner.log_state();
        change(&mut next)?;
        next.version += 1;
        let len = next.payload_len() as u64;
        if len > u64::from(inner.opts.max_record_size) {
            return Err(Error::RecordTooLarge {
                size: len,
                max: u64::from(inner.opts.max_record_size),
            });
        }
        // The state never gets ahead of the records written before it.
        inner.wait(Ticket::from(inner.written())).await?;
        write_state(&inner.store, &inner.opts, &next).await?;
        inner.set_log_state(next);
        Ok(())
    }
}

impl<S: SegmentStore> Inner<S> {
    /// A copy of the current state.
    pub(crate) fn log_state(&self) -> LogState {
        self.log_state.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Installs `state` as the current one (already durable) and moves readers past its
    /// checkpoint.
    pub(crate) fn set_log_state(&self, state: LogState) {
        let ckpt = state.checkpoint.map_or(0, |c| c.0);
        if let Ok(mut s) = self.log_state.write() {
            *s = state;
        }
        if self.checkpoint.swap(ckpt, Ordering::SeqCst) != ckpt {
            // Readers re-check their position against the new first LSN.
            if let Ok(mut t) = self.table.write() {
                t.epoch += 1;
            }
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Writes `state` into both state slots, durably, one after the other (see
/// [`crate::format::state`]): while one is being written the other holds a whole state.
pub(crate) async fn write_state<S: SegmentStore>(
    store: &S,
    opts: &WalOptions,
    state: &LogState,
) -> Result<()> {
    crate::segment::write_state(store, state, |id| recovery::slot_header(opts, id)).await
}

/// Makes `state` say what a reset to `next` means (checkpoint `next - 1`, none for 1) and
/// writes it when that changes it; returns whether it wrote. [`Wal::reset`] calls it before
/// deleting the discarded segments, and recovery when it finishes an interrupted reset.
pub(crate) async fn write_reset_checkpoint<S: SegmentStore>(
    store: &S,
    opts: &WalOptions,
    state: &mut LogState,
    next: Lsn,
) -> Result<bool> {
    let ckpt = Some(next.prev()).filter(|c| !c.is_none());
    if state.checkpoint == ckpt {
        return Ok(false);
    }
    state.checkpoint = ckpt;
    state.version += 1;
    write_state(store, opts, state).await?;
    Ok(true)
}

/// The current state from the listed state slots, decided by [`read_state`]; damaged slots
/// are reported, and slots not holding the state are rewritten so it has two copies again.
/// Both slots damaged refuses the open ([`Error::Corrupt`]), except in
/// [`RecoveryMode::SkipCorrupted`], which moves them to quarantine, opens with an empty state
/// and says so ([`RecoveryReport::state_lost`]).
pub(crate) async fn load_state<S: SegmentStore>(
    store: &S,
    opts: &WalOptions,
    slots: &[SegmentMeta],
    report: &mut RecoveryReport,
) -> Result<LogState> {
    let find = |id| slots.iter().find(|m| m.id == id);
    let d = match read_state(store, slots).await? {
        Ok(d) => d,
        Err(reason) if opts.recovery_mode == RecoveryMode::SkipCorrupted => {
            tracing::error!(target: "wal::recovery", reason = %reason, "state slots unusable: quarantining them and opening with an empty state (metadata and checkpoint lost)");
            for id in STATE_SLOTS {
                if find(id).is_some() {
                    store.quarantine(id, &reason).await?;
                }
            }
            report.damaged_state_slots = STATE_SLOTS.to_vec();
            report.state_lost = true;
            return Ok(LogState::default());
        }
        Err(reason) => return Err(Error::corrupt(STATE_SLOTS[0], 0, reason)),
    };
    for &id in &d.damaged {
        tracing::warn!(target: "wal::recovery", slot = id.0, "a state slot does not decode (a state write a crash interrupted, or damage); the other copy holds the state");
    }
    report.damaged_state_slots.clone_from(&d.damaged);
    for &id in &d.stale {
        if d.state.version == 0 {
            // No state was ever acknowledged: an invalid slot is a first write a crash
            // interrupted, and holds nothing.
            match store.delete(id).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        } else {
            let h = recovery::slot_header(opts, id);
            crate::segment::write_slot(store, &d.state, &h).await?;
        }
    }
    Ok(d.state)
}
