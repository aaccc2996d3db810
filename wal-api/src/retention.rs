//! [`RetentionGate`]: what decides which sealed segments may leave local storage, and which
//! must stay as they are because a copy of them exists elsewhere (an archive).
//!
//! Segment ids are not names of contents: a suffix truncation deletes the segments after the
//! cut and the log then creates new segments under the same ids. A gate therefore judges a
//! segment by its [`SegmentIdentity`] (id, base LSN, length and the trailer's checksum), and
//! a segment that is being copied is pinned against the truncation or reset that would
//! discard it ([`RetentionGate::begin_discard`]).

use crate::error::{Error, Result};
use crate::format::{SegmentHeader, Trailer, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::lsn::{Lsn, SegmentId};
use crate::store::SegmentStore;

/// What a sealed segment holds, in the terms a retention gate compares: two segments with the
/// same identity hold the same records (the checksum covers the header and every frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentIdentity {
    /// The segment's id (reused after a suffix truncation: never enough alone).
    pub id: SegmentId,
    /// The LSN its first record takes (from its header).
    pub base_lsn: Lsn,
    /// Its length in bytes, trailer included.
    pub len: u64,
    /// The trailer's CRC32 of the header and every frame.
    pub body_crc: u32,
}

impl SegmentIdentity {
    /// The identity of the sealed segment `id` of `store`, `len` bytes long, read from its
    /// header and trailer (two small reads); `None` when it is not a sealed segment (no valid
    /// trailer, or a header that does not name `id`).
    pub async fn read<S: SegmentStore + ?Sized>(
        store: &S,
        id: SegmentId,
        len: u64,
    ) -> Result<Option<SegmentIdentity>> {
        if len < (SEGMENT_HEADER_LEN + TRAILER_LEN) as u64 {
            return Ok(None);
        }
        let head = store.read(id, 0..SEGMENT_HEADER_LEN as u64).await?;
        let tail = store.read(id, len - TRAILER_LEN as u64..len).await?;
        Ok(Self::decode(id, &head, &tail, len))
    }

    /// The identity of sealed segment `id` held whole in `bytes`; `None` as for
    /// [`read`](Self::read).
    pub fn of_bytes(id: SegmentId, bytes: &[u8]) -> Option<SegmentIdentity> {
        let len = bytes.len();
        if len < SEGMENT_HEADER_LEN + TRAILER_LEN {
            return None;
        }
        let (head, tail) = (&bytes[..SEGMENT_HEADER_LEN], &bytes[len - TRAILER_LEN..]);
        Self::decode(id, head, tail, len as u64)
    }

    /// The identity from a segment's header bytes and its last [`TRAILER_LEN`] bytes.
    fn decode(id: SegmentId, head: &[u8], tail: &[u8], len: u64) -> Option<SegmentIdentity> {
        let header = SegmentHeader::decode(head).ok().filter(|h| h.id == id)?;
        let t = Trailer::decode(tail, header.layout().salt)?;
        if t.body_len != len - TRAILER_LEN as u64 {
            return None;
        }
        Some(SegmentIdentity {
            id,
            base_lsn: header.base,
            len,
            body_crc: t.body_crc,
        })
    }
}

/// Tells the log which sealed segments may leave local storage, and which have a copy that
/// must stay identical. An archiver implements it.
///
/// # Contract
/// - `may_delete(seg)` returns true only when losing the local copy of exactly `seg` loses
///   nothing (for an archiver: a copy with the same identity is verified and recorded in its
///   manifest).
/// - `is_archived(seg)` returns true when a copy of exactly `seg` exists elsewhere; the log
///   then refuses a suffix truncation into or before it, and a reset
///   ([`Error::Archived`]).
/// - `begin_discard(ids)` is called before a suffix truncation or a reset changes or deletes
///   the segments `ids`, and `end_discard(ids)` after (also when it failed). A gate that is
///   copying one of them refuses; one that accepts must not start copying any of them before
///   `end_discard`. This is what keeps an archive from recording a segment the log is
///   discarding at the same moment.
pub trait RetentionGate: std::fmt::Debug + Send + Sync + 'static {
    /// Whether the segment `seg` may be deleted locally now.
    fn may_delete(&self, seg: &SegmentIdentity) -> bool;
    /// Whether the segment `seg` has a copy elsewhere.
    fn is_archived(&self, seg: &SegmentIdentity) -> bool {
        let _ = seg;
        false
    }
    /// Announces that a suffix truncation or reset is about to change or delete `ids`.
    /// The default accepts.
    fn begin_discard(&self, ids: &[SegmentId]) -> Result<()> {
        let _ = ids;
        Ok(())
    }
    /// Ends what [`begin_discard`](Self::begin_discard) announced.
    fn end_discard(&self, ids: &[SegmentId]) {
        let _ = ids;
    }
}

/// A discard announced to a gate, ended when dropped.
pub(crate) struct Discarding<'a> {
    gate: Option<&'a dyn RetentionGate>,
    ids: Vec<SegmentId>,
}

impl<'a> Discarding<'a> {
    /// Checks that no segment in `segs` (as the engine tracks them: id, length, sealed) has
    /// an archived copy, then announces the discard of all of them. `what` names the
    /// operation in the errors.
    pub(crate) async fn begin<S: SegmentStore + ?Sized>(
        gate: Option<&'a dyn RetentionGate>,
        store: &S,
        segs: impl Iterator<Item = (SegmentId, u64, bool)>,
        what: &str,
    ) -> Result<Discarding<'a>> {
        let Some(g) = gate else {
            return Ok(Discarding {
                gate: None,
                ids: Vec::new(),
            });
        };
        let mut ids = Vec::new();
        for (id, len, sealed) in segs {
            if sealed {
                if let Some(seg) = SegmentIdentity::read(store, id, len).await? {
                    if g.is_archived(&seg) {
                        return Err(Error::Archived {
                            segment: id,
                            detail: format!("{what} would change or discard an archived segment"),
                        });
                    }
                }
            }
            ids.push(id);
        }
        g.begin_discard(&ids)?;
        Ok(Discarding { gate, ids })
    }
}

impl Drop for Discarding<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.gate {
            g.end_discard(&self.ids);
        }
    }
}
