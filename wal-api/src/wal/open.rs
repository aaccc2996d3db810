//! Opening a log: [`Wal::open`] runs recovery and builds the engine over what it left;
//! [`Wal::open_replay`] also replays, in one pass: the records recovery checks anyway are
//! handed to the engine as they are checked, instead of being read again after the open.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, RwLock};

use tokio::sync::{watch, Mutex, Notify};

use super::append::{Appender, Enc, Io};
use super::durability::Durability;
use super::stats::Counters;
use super::{recovery, spawn_interval_syncer, Inner, Table, Wal, Watermark};
use crate::error::{Error, Result};
use crate::lsn::Lsn;
use crate::options::WalOptions;
use crate::scan::Sink;
use crate::store::SegmentStore;

impl<S: SegmentStore> Wal<S> {
    /// Opens the log held by `store`, running recovery (see [`RecoveryMode`](crate::RecoveryMode)).
    pub async fn open(store: S, opts: WalOptions) -> Result<Wal<S>> {
        opts.validate()?;
        let rec = recovery::recover(&store, &opts, None).await?;
        Self::assemble(store, opts, rec)
    }

    /// The log over what recovery left; fails when its newest segment is encrypted with a
    /// key the options do not have.
    fn assemble(store: S, opts: WalOptions, rec: recovery::Recovered) -> Result<Wal<S>> {
        let t = rec.tail;
        let key = recovery::segment_key(&opts, t.id, &t.layout)?;
        let nonces = match &opts.encryption {
            Some(_) => Some(crate::crypto::Nonces::new().map_err(Error::InvalidArgument)?),
            None => None,
        };
        let last = t.next.prev();
        let (written_tx, _) = watch::channel(Watermark {
            truncations: 0,
            lsn: last,
        });
        let buffer = opts.write_buffer.min(16 << 20);
        let inner = Arc::new(Inner {
            appender: Appender::new(
                Enc {
                    layout: t.layout,
                    next: t.next,
                    last_time: 0,
                    key,
                    nonces,
                    len: t.len,
                    records: t.records,
                    buf: Vec::with_capacity(buffer),
                },
                Io::new(t.writer, t.id, t.base, t.body_crc, buffer),
            ),
            table: RwLock::new(Table {
                segs: rec.segs,
                epoch: 0,
            }),
            epoch: AtomicU64::new(0),
            written: AtomicU64::new(last.0),
            flushed: AtomicU64::new(last.0),
            dur: Durability::new(last),
            written_tx,
            lifecycle: Mutex::new(()),
            arrivals: Notify::new(),
            wake_lsn: AtomicU64::new(u64::MAX),
            wake_bytes: AtomicU64::new(u64::MAX),
            written_bytes: AtomicU64::new(0),
            behind: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            last_group: AtomicU64::new(0),
            report: rec.report,
            checkpoint: AtomicU64::new(rec.state.checkpoint.map_or(0, |c| c.0)),
            log_state: RwLock::new(rec.state),
            verified: RwLock::new(rec.verified),
            store,
            opts,
        });
        if let Some(period) = inner.opts.sync_policy.interval() {
            spawn_interval_syncer(Arc::downgrade(&inner), period);
        }
        Ok(Wal { inner })
    }

    /// Opens the log held by `store` and replays its records from `from` on: the same
    /// records, in the same order, through `apply(lsn, payload)`, as [`open`](Self::open)
    /// followed by [`replay(from..)`](Self::replay). Returns the log and the number of
    /// records applied.
    ///
    /// It is the faster way for an engine to come back after a crash: recovery must read and
    /// check the newest segment (it may end in a torn write), and here each record it checks
    /// is applied at once, where `open` then `replay` reads that segment a second time. The
    /// sealed segments before it are read and checked once, as `replay` reads them, before
    /// the newest one's scan starts.
    ///
    /// Records are applied this way only when no later step of recovery can discard them
    /// (no [`reset`](Self::reset) to finish, `from` not below the first LSN); otherwise, and
    /// with [`RecoveryMode`](crate::RecoveryMode)s other than `TolerateTornTail` or with
    /// [`verify_on_open`](WalOptions::verify_on_open) (which check every segment at open),
    /// this is exactly `open` then `replay`.
    ///
    /// # Errors
    ///
    /// What `open` or `replay` would return, and the first error `apply` returns (which ends
    /// the replay). On an error no log is returned, and records `apply` saw may belong to a
    /// log that did not open (corruption found after them, or `apply` itself failing): an
    /// engine discards what it built from them, as it would after a failed replay.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// let wal = Wal::open(store.clone(), WalOptions::default()).await?;
    /// for i in 1..=3u64 {
    ///     wal.append(&i.to_le_bytes()).await?;
    /// }
    /// drop(wal); // a crash of the process: nothing closed
    ///
    /// // The engine's snapshot holds LSN 1: replay from 2.
    /// let mut sum = 0;
    /// let (wal, applied) = Wal::open_replay(store, WalOptions::default(), Lsn(2), |_, data| {
    ///     sum += u64::from_le_bytes(data.try_into().unwrap());
    ///     Ok(())
    /// })
    /// .await?;
    /// assert_eq!((applied, sum), (2, 2 + 3));
    /// assert_eq!(wal.append(b"next").await?, Lsn(4));
    /// # Ok::<(), wal_api::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open_replay<F>(
        store: S,
        opts: WalOptions,
        from: Lsn,
        mut apply: F,
    ) -> Result<(Wal<S>, u64)>
    where
        F: FnMut(Lsn, &[u8]) -> Result<()> + Send,
    {
        opts.validate()?;
        let mut sink = Sink::new(from.max(Lsn::FIRST), &mut apply, opts.encryption.clone());
        let mut rec = recovery::recover(&store, &opts, Some(&mut sink)).await?;
        let (next, applied) = (sink.next, sink.applied);
        rec.report.replayed = applied;
        let wal = Self::assemble(store, opts, rec)?;
        // What recovery did not hand out: all of it when it could not, else nothing.
        let rest = wal.replay(next.., &mut apply).await?;
        Ok((wal, applied + rest))
    }
}
