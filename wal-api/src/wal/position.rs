//! Point lookups: one record by LSN ([`Wal::get`]) and the newest record ([`Wal::last`]).

use futures::StreamExt;

use super::{Record, Wal};
use crate::error::{Error, Result};
use crate::lsn::Lsn;
use crate::options::Visibility;
use crate::store::SegmentStore;

impl<S: SegmentStore> Wal<S> {
    /// The record at `lsn`, if the log holds it and it is visible under the log's default
    /// [`Visibility`].
    ///
    /// Returns `Ok(None)` for [`Lsn::NONE`] and for an LSN past the visible end, and
    /// [`Error::Trimmed`] for an LSN below [`first_lsn`](Self::first_lsn) (dropped by prefix
    /// truncation, or before the LSN the log started at).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Error, Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let wal = Wal::open(MemoryStore::new(), WalOptions::default()).await?;
    /// wal.append(b"first").await?;
    /// let lsn = wal.append(b"second").await?;
    /// assert_eq!(&wal.get(lsn).await?.unwrap().data[..], b"second");
    /// assert_eq!(wal.get(lsn.next()).await?, None); // not written yet
    /// assert_eq!(&wal.last().await?.unwrap().data[..], b"second");
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self, lsn: Lsn) -> Result<Option<Record>> {
        if lsn.is_none() {
            return Ok(None);
        }
        self.read(lsn..=lsn).next().await.transpose()
    }

    /// The newest visible record (under the log's default [`Visibility`]), or `None` when
    /// the log holds no visible record.
    pub async fn last(&self) -> Result<Option<Record>> {
        // A concurrent prefix truncation may drop the segment holding the last record while it
        // is looked up (only when the active segment is empty); the log then holds none.
        loop {
            let end = self.visible_end();
            if end.is_none() || end < self.first_lsn() {
                return Ok(None);
            }
            match self.get(end).await {
                Err(Error::Trimmed { .. }) => continue,
                // A suffix truncation lowered the end while it was looked up: look again.
                Ok(None) if self.visible_end() != end => continue,
                other => return other,
            }
        }
    }

    /// The visible end under the default visibility.
    fn visible_end(&self) -> Lsn {
        match self.inner.opts.visibility {
            Visibility::Durable => self.durable_lsn(),
            Visibility::Written => self.written_lsn(),
        }
    }
}
