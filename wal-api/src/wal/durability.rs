//! The one owner of durability.
//!
//! [`Durability`] is the only code that changes the durable watermark, the poison flag, the
//! truncation point, and the only code that runs a sync or a seal of a segment writer. Group
//! commit, the seal at rotation and at close, the `Interval` syncer and the engine's
//! write-behind all go through it, so its rules hold for every path that makes bytes durable:
//!
//! - **One sync or seal at a time.** Every `sync` and `seal` of a writer runs under the `io`
//!   lock, so a sync and a seal of one writer never overlap. A backend whose fsync reports an
//!   error to only one caller (Linux `errseq`) therefore reports it to the engine, never to a
//!   racing seal that then returns `Ok` for bytes that were lost.
//! - **Poison before publish.** A failed sync or seal poisons the log while the `io` lock is
//!   still held, before any later sync can publish a watermark covering the failed bytes; a
//!   poisoned log runs no further sync or seal. Waiters check poison before the watermark.
//! - **Watermarks only rise.** The watch carries a [`Watermark`] ordered by (truncations,
//!   LSN): a suffix truncation lowers the durable LSN but raises the truncation count, so the
//!   watched value never goes back.
//! - **Truncation-proof waiting.** Every truncation is recorded with the era (truncation
//!   count) it ends; a waiter remembers the era its record was written in and gets
//!   [`Error::Truncated`] if a later cut removed its record, never `Ok` for a record that took
//!   the same LSN afterwards.
//! - **No lost wake-ups.** Releasing the leader lock wakes every waiter, so a waiter that
//!   found the lock held always looks again once it is free.
//! - **Leading means no sync in flight.** A sync or seal whose caller stopped waiting runs to
//!   the end as a task holding `io`; taking the leader lock also waits for `io`, so a
//!   truncation, reset or close (which lead) never touches the store under a sync.
//!
//! # Lock order
//! `lifecycle` (truncations) → `leader` (who runs the next group commit) → the append lock
//! (`appender.io`, see `append`) → `io` (one sync or seal at a time) → the std locks (the
//! encoding state, segment table, cut history), which are never held across an await. A task
//! may skip levels but never takes a lock to the left of one it holds. An append takes only
//! the encoding state, unless the segment must rotate or another task owns the writing side.
//! The group-commit leader holds `leader`, takes the append lock briefly to flush, releases
//! it, and only then takes `io` to sync, so appends continue while a sync is in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::lsn::Lsn;
use crate::store::{SegmentMeta, SegmentWriter};

/// The durable watermark as [`Wal::durable_watch`](crate::Wal::durable_watch) publishes it.
///
/// Ordered by `(truncations, lsn)`: the watched value only ever rises, although a suffix
/// truncation lowers [`lsn`](Self::lsn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark {
    /// Suffix truncations since the log was opened.
    pub truncations: u64,
    /// Every record up to this LSN is durable.
    pub lsn: Lsn,
}

/// Holds the leader lock; releasing it wakes every waiter.
pub(crate) struct Leader<'a> {
    guard: Option<MutexGuard<'a, ()>>,
    owner: &'a Durability,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.owner.wake();
    }
}

/// A truncation: the era it started and the LSN it cut to.
#[derive(Clone, Copy, Debug)]
struct Cut {
    era: u64,
    lsn: Lsn,
}

/// What a successful sync or seal covered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Synced {
    /// Records the watermark rose by.
    pub(crate) records: u64,
    /// How long the backend took.
    pub(crate) took: Duration,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Durability {
    leader: Mutex<()>,
    io: Mutex<()>,
    durable: AtomicU64,
    /// `written_bytes` count (see the engine) the durable watermark covers.
    durable_bytes: AtomicU64,
    tx: watch::Sender<Watermark>,
    /// Set once, by the first failure: what failed and the error it returned.
    poison: OnceLock<(String, Arc<Error>)>,
    /// Truncations so far (the current era).
    era: AtomicU64,
    cuts: StdMutex<Vec<Cut>>,
}

impl Durability {
    /// Starts with everything up to `durable` durable (recovery made it so).
    pub(crate) fn new(durable: Lsn) -> Durability {
        let (tx, _) = watch::channel(Watermark {
            truncations: 0,
            lsn: durable,
        });
        Durability {
            leader: Mutex::new(()),
            io: Mutex::new(()),
            durable: AtomicU64::new(durable.0),
            durable_bytes: AtomicU64::new(0),
            tx,
            poison: OnceLock::new(),
            era: AtomicU64::new(0),
            cuts: StdMutex::new(Vec::new()),
        }
    }

    /// The durable LSN.
    pub(crate) fn durable(&self) -> Lsn {
        Lsn(self.durable.load(Ordering::SeqCst))
    }

    /// The `written_bytes` count the durable LSN covers.
    pub(crate) fn durable_bytes(&self) -> u64 {
        self.durable_bytes.load(Ordering::SeqCst)
    }

    /// Truncations so far.
    pub(crate) fn era(&self) -> u64 {
        self.era.load(Ordering::SeqCst)
    }

    /// A receiver of the watermark.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Watermark> {
        self.tx.subscribe()
    }

    /// Wakes every waiter without changing the watermark (close, poison, leader released).
    pub(crate) fn wake(&self) {
        self.tx.send_modify(|_| {});
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poison.get().is_some()
    }

    /// `Err(Poisoned)` once the log is poisoned.
    pub(crate) fn check(&self) -> Result<()> {
        match self.poison.get() {
            Some((during, cause)) => Err(Error::Poisoned {
                during: during.clone(),
                cause: Arc::clone(cause),
            }),
            None => Ok(()),
        }
    }

    /// Poisons the log after a failed write, sync or seal; returns the original error for the
    /// caller that hit it. Every later call sees [`Error::Poisoned`] with the first failure as
    /// its source.
    pub(crate) fn poison(&self, what: &str, e: Error) -> Error {
        let first = self
            .poison
            .set((what.to_string(), Arc::new(e.clone())))
            .is_ok();
        if first {
            tracing::error!(
                target: "wal",
                cause = %e,
                during = what,
                "log poisoned: every later call fails until it is reopened"
            );
            crate::metrics::poisoned();
        }
        self.wake();
        e
    }

    /// Waits for the leader lock, and for any sync or seal still in flight: holding the
    /// leader means no sync is in flight. (A sync whose caller stopped waiting runs on as a
    /// task that holds `io` but no longer the leader lock; a truncation, reset or close that
    /// leads must not change the store under it.)
    pub(crate) async fn lead(&self) -> Leader<'_> {
        let guard = self.leader.lock().await;
        drop(self.io.lock().await);
        Leader {
            guard: Some(guard),
            owner: self,
        }
    }

    /// The leader lock, if no one holds it and no sync or seal is in flight.
    pub(crate) fn try_lead(&self) -> Option<Leader<'_>> {
        let guard = self.leader.try_lock().ok()?;
        drop(self.io.try_lock().ok()?);
        Some(Leader {
            guard: Some(guard),
            owner: self,
        })
    }

    /// Syncs `w`, then publishes `target` (covering `bytes`) as durable. Fails without syncing
    /// on a poisoned log; a failure poisons it before the `io` lock is released.
    pub(crate) async fn sync(
        &self,
        w: &dyn SegmentWriter,
        target: Lsn,
        bytes: u64,
    ) -> Result<Synced> {
        let _io = self.io.lock().await;
        self.check()?;
        let era = self.era();
        let t0 = Instant::now();
        if let Err(e) = w.sync().await {
            return Err(self.poison("syncing", e));
        }
        let took = t0.elapsed();
        Ok(Synced {
            records: self.publish(era, target, bytes),
            took,
        })
    }

    /// Seals `w` (its trailer already appended), then publishes `last` as durable.
    pub(crate) async fn seal(
        &self,
        w: &dyn SegmentWriter,
        last: Lsn,
        bytes: u64,
    ) -> Result<(SegmentMeta, Synced)> {
        let io = self.io.lock().await;
        self.check()?;
        let era = self.era();
        let t0 = Instant::now();
        let meta = match w.seal().await {
            Ok(m) => m,
            Err(e) => return Err(self.poison("sealing a segment", e)),
        };
        let took = t0.elapsed();
        crate::metrics::sealed();
        let records = self.publish(era, last, bytes);
        // Woken once `io` is free, so a waiter that leads next finds no seal in flight.
        drop(io);
        self.wake();
        Ok((meta, Synced { records, took }))
    }

    /// Raises the watermark to `target` unless a truncation happened since `era` (then the
    /// LSNs may name other records). Returns how many records it rose by.
    fn publish(&self, era: u64, target: Lsn, bytes: u64) -> u64 {
        if self.era() != era {
            return 0;
        }
        self.durable_bytes.fetch_max(bytes, Ordering::SeqCst);
        let before = self.durable.fetch_max(target.0, Ordering::SeqCst);
        let truncations = era;
        // The value rises now; waiters are woken once, when the caller releases the leader
        // lock (a sync) or right after (a seal), not twice per round.
        self.tx.send_if_modified(|w| {
            let next = Watermark {
                truncations,
                lsn: Lsn(target.0.max(before)),
            };
            if next > *w {
                *w = next;
            }
            false
        });
        target.0.saturating_sub(before)
    }

    /// Records a suffix truncation to `lsn`: starts a new era, lowers the durable LSN to at
    /// most `lsn`, and makes waiters for cut records fail with [`Error::Truncated`]. The caller
    /// holds the leader lock and the append lock; this takes `io`, so no sync is in flight.
    pub(crate) async fn cut(&self, lsn: Lsn, written_bytes: u64) {
        let _io = self.io.lock().await;
        let era = self.era.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cuts) = self.cuts.lock() {
            cuts.push(Cut { era, lsn });
        }
        self.durable.fetch_min(lsn.0, Ordering::SeqCst);
        // Everything written so far is either durable or cut: nothing pending remains.
        self.durable_bytes
            .fetch_max(written_bytes, Ordering::SeqCst);
        let durable = self.durable();
        self.tx.send_modify(|w| {
            *w = Watermark {
                truncations: era + 1,
                lsn: durable,
            }
        });
    }

    /// A reset ([`Wal::reset`](crate::Wal::reset)): every record after `discarded_after` is
    /// gone (waiters on them get `Truncated`, like after a suffix truncation) and the log
    /// restarts at `next`, so everything before `next` counts as durable.
    pub(crate) async fn restart(&self, discarded_after: Lsn, next: Lsn, written_bytes: u64) {
        let _io = self.io.lock().await;
        let era = self.era.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cuts) = self.cuts.lock() {
            cuts.push(Cut {
                era,
                lsn: discarded_after,
            });
        }
        self.durable.store(next.prev().0, Ordering::SeqCst);
        self.durable_bytes
            .fetch_max(written_bytes, Ordering::SeqCst);
        let durable = self.durable();
        self.tx.send_modify(|w| {
            *w = Watermark {
                truncations: era + 1,
                lsn: durable,
            }
        });
    }

    /// The lowest LSN a truncation after era `era` cut to, if any.
    pub(crate) fn cut_since(&self, era: u64) -> Option<Lsn> {
        if self.era() == era {
            return None;
        }
        let cuts = self.cuts.lock().ok()?;
        cuts.iter().filter(|c| c.era >= era).map(|c| c.lsn).min()
    }
}
