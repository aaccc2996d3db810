//! The archiver as a log's [`RetentionGate`]: a local segment may go once the archive holds
//! exactly it (by [`SegmentIdentity`], never by id alone), and a segment being copied is
//! pinned against the suffix truncation or reset that would discard it.

use wal_api::{Error, Result, RetentionGate, SegmentId, SegmentIdentity};

use crate::Archiver;

/// A segment pinned while [`Archiver::archive_segment`] copies it; unpinned when dropped.
pub(crate) struct Pin<'a> {
    archiver: &'a Archiver,
    id: SegmentId,
}

impl Archiver {
    /// Pins `id` for copying; refused while a truncation or reset discards it.
    pub(crate) fn pin(&self, id: SegmentId) -> Result<Pin<'_>> {
        let mut st = self.lock();
        if st.discarding.contains_key(&id) {
            return Err(Error::Archived {
                segment: id,
                detail: "a suffix truncation or reset of the log is discarding this segment; \
                         archive it again once that is done"
                    .into(),
            });
        }
        *st.pinned.entry(id).or_default() += 1;
        Ok(Pin { archiver: self, id })
    }

    /// Whether a truncation or reset is discarding `id` right now.
    pub(crate) fn is_discarding(&self, id: SegmentId) -> bool {
        self.lock().discarding.contains_key(&id)
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        let mut st = self.archiver.lock();
        if let Some(n) = st.pinned.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                st.pinned.remove(&self.id);
            }
        }
    }
}

impl RetentionGate for Archiver {
    fn may_delete(&self, seg: &SegmentIdentity) -> bool {
        self.holds(seg)
    }

    fn is_archived(&self, seg: &SegmentIdentity) -> bool {
        self.holds(seg)
    }

    fn begin_discard(&self, ids: &[SegmentId]) -> Result<()> {
        let mut st = self.lock();
        if let Some(&id) = ids.iter().find(|id| st.pinned.contains_key(id)) {
            return Err(Error::Archived {
                segment: id,
                detail: "the segment is being archived; retry once the archiver is done with it"
                    .into(),
            });
        }
        for &id in ids {
            *st.discarding.entry(id).or_default() += 1;
        }
        Ok(())
    }

    fn end_discard(&self, ids: &[SegmentId]) {
        let mut st = self.lock();
        for id in ids {
            if let Some(n) = st.discarding.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    st.discarding.remove(id);
                }
            }
        }
    }
}
