//! Time: where the log was at a given moment ([`Wal::lsn_at`]).

use futures::StreamExt;

use super::Wal;
use crate::error::Result;
use crate::lsn::Lsn;
use crate::store::SegmentStore;

impl<S: SegmentStore> Wal<S> {
    /// The first record appended at or after `time` (microseconds since the Unix epoch), by
    /// the append time its frame records; `None` when no visible record is that recent.
    ///
    /// Records without a time (those in version 2 segments, or written with
    /// [`WalOptions::timestamps`](crate::WalOptions) off) never match. Append times never
    /// decrease within one process (see [`clock`](crate::clock)); across restarts they follow
    /// the clock. The search takes, per segment, the time of its first record (a binary
    /// search over segments), then reads the one segment where `time` falls: a few reads,
    /// not a scan of the log. With times that go back across a restart it still returns a
    /// record at or after `time`, not necessarily the first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wal_api::{clock::ManualClock, Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let clock = Arc::new(ManualClock::new(1_000));
    /// let wal = Wal::open(MemoryStore::new(), WalOptions::default().clock(clock.clone())).await?;
    /// wal.append(b"at 1000").await?;
    /// clock.set(2_000);
    /// wal.append(b"at 2000").await?;
    /// assert_eq!(wal.lsn_at(1_500).await?, Some(Lsn(2)));
    /// assert_eq!(wal.lsn_at(2_001).await?, None);
    /// # Ok::<(), wal_api::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn lsn_at(&self, time: u64) -> Result<Option<Lsn>> {
        let first = self.first_lsn();
        let starts: Vec<Lsn> = self.segments().iter().map(|s| s.base.max(first)).collect();
        // The last segment whose first stamped record is earlier than `time`: the answer is
        // in it or after it.
        let (mut lo, mut hi) = (0usize, starts.len());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.first_stamped(starts[mid]).await? {
                Some((_, t)) if t < time => lo = mid,
                // At or after `time`, or no stamped record here (an empty newest segment,
                // a version 2 one): the answer is not after this segment's start.
                _ => hi = mid,
            }
        }
        let from = starts.get(lo).copied().unwrap_or(first);
        let mut records = self.read(from..);
        while let Some(r) = records.next().await {
            let r = r?;
            if r.time.is_some_and(|t| t >= time) {
                return Ok(Some(r.lsn));
            }
        }
        Ok(None)
    }

    /// The LSN and time of the first stamped record at or after `from` in the segment where
    /// `from` lies (`None` when none is stamped before the segment ends).
    async fn first_stamped(&self, from: Lsn) -> Result<Option<(Lsn, u64)>> {
        let end = self
            .segments()
            .iter()
            .find(|s| s.base > from)
            .map_or(Lsn(u64::MAX), |s| s.base);
        let mut records = self.read(from..end);
        while let Some(r) = records.next().await {
            let r = r?;
            if let Some(t) = r.time {
                return Ok(Some((r.lsn, t)));
            }
        }
        Ok(None)
    }
}
