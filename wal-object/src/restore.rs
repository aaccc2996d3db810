//! Getting records back out of the archive: [`Archiver::fetch`], [`Archiver::read`],
//! [`read_through`] (archive and live log together) and [`Archiver::restore`] (a whole local
//! log rebuilt from the archive).

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use wal_api::format::{decode_frame, FrameKind, SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::segment::segment_records;
use wal_api::{Error, Lsn, Record, Result, SegmentId, SegmentStore, Wal};

use crate::io::map_err;
use crate::{ArchivedSegment, Archiver};

/// What [`Archiver::restore`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Segments written to the destination.
    pub segments: Vec<SegmentId>,
    /// LSN of the last restored record (`Lsn::NONE` if none).
    pub last_lsn: Lsn,
    /// The log state (metadata and checkpoint) written into the restored log, from the
    /// newest archived state ([`Archiver::archive_state`]); `None` when the archive has none.
    pub state: Option<wal_api::format::state::LogState>,
    /// The archived checkpoint, when it lies past the restored records (a restore to an
    /// earlier LSN): the restored log keeps no checkpoint then, since one past its last
    /// record would make it refuse to open.
    pub checkpoint_dropped: Option<Lsn>,
}

impl Archiver {
    /// Fetches an archived segment and checks it against its manifest entry.
    pub async fn fetch(&self, id: SegmentId) -> Result<Bytes> {
        let entry = self.get(id).ok_or(Error::NotFound { segment: id })?;
        let bytes = self
            .store()
            .get(&self.segment_key(&entry))
            .await
            .map_err(|e| map_err("reading the archived copy of", Some(id), e))?
            .bytes()
            .await
            .map_err(|e| map_err("reading the archived copy of", Some(id), e))?;
        if bytes.len() as u64 != entry.len || crc32fast::hash(&bytes) != entry.crc32 {
            return Err(Error::corrupt(id, 0, "archived copy fails its checksum"));
        }
        Ok(bytes)
    }

    /// Reads the records in `range` that the archive holds, in LSN order. Fails with
    /// [`Error::Trimmed`] if the archive does not hold the start of the range.
    pub async fn read(&self, range: Range<Lsn>) -> Result<Vec<Record>> {
        let mut out: Vec<Record> = Vec::new();
        if range.start >= range.end {
            return Ok(out);
        }
        let segs: Vec<ArchivedSegment> = self
            .archived()
            .into_iter()
            .filter(|a| a.records > 0 && a.last_lsn >= range.start && a.base_lsn < range.end)
            .collect();
        let mut next = range.start;
        for a in segs {
            if a.base_lsn > next {
                break;
            }
            let bytes = self.fetch(a.id).await?;
            for r in segment_records(a.id, &bytes)? {
                if r.lsn >= next && r.lsn < range.end {
                    next = r.lsn.next();
                    out.push(r);
                }
            }
        }
        if out.first().is_none_or(|r| r.lsn != range.start) {
            let first = self.archived().first().map_or(Lsn::NONE, |a| a.base_lsn);
            return Err(Error::Trimmed {
                requested: range.start,
                first,
            });
        }
        Ok(out)
    }

    /// Rebuilds a log into `dst` (which must be empty) from the archive, holding every record
    /// up to `upto` (cut at the last whole frame at or before it: a batch is never split). The
    /// last segment is left unsealed when cut, so the log recovers it and appends after it.
    pub async fn restore<S: SegmentStore + ?Sized>(
        &self,
        dst: &S,
        upto: Lsn,
    ) -> Result<RestoreReport> {
        if !dst.list().await?.is_empty() {
            return Err(Error::InvalidArgument(
                "restore needs an empty destination store".into(),
            ));
        }
        let mut report = RestoreReport::default();
        let mut prev: Option<ArchivedSegment> = None;
        for a in self.archived() {
            if a.base_lsn > upto {
                break;
            }
            if let Some(p) = prev {
                if p.last_lsn.next() != a.base_lsn {
                    return Err(Error::corrupt(
                        a.id,
                        0,
                        format!(
                            "archive has a gap after segment {} (LSN {})",
                            p.id, p.last_lsn
                        ),
                    ));
                }
            }
            prev = Some(a);
            let bytes = self.fetch(a.id).await?;
            let header = bytes.get(..SEGMENT_HEADER_LEN).ok_or_else(|| {
                Error::corrupt(a.id, 0, "archived segment shorter than its header")
            })?;
            let layout = SegmentHeader::decode(header)
                .map_err(|r| Error::corrupt(a.id, 0, r))?
                .layout();
            let w = dst.create(a.id, header).await?;
            if a.last_lsn <= upto {
                w.append(&bytes[SEGMENT_HEADER_LEN..]).await?;
                w.seal().await?;
                report.segments.push(a.id);
                report.last_lsn = a.last_lsn;
                tracing::info!(target: "wal::archive", segment = a.id.0, bytes = a.len, last_lsn = a.last_lsn.0, "segment restored");
                continue;
            }
            // Cut inside this segment at the last frame ending at or before `upto`.
            let mut pos = SEGMENT_HEADER_LEN;
            let mut last = a.base_lsn.prev();
            while let Ok(f) = decode_frame(&bytes[pos..], layout) {
                if f.kind == FrameKind::Seal || f.last_lsn() > upto {
                    break;
                }
                last = f.last_lsn();
                pos += f.len();
            }
            w.append(&bytes[SEGMENT_HEADER_LEN..pos]).await?;
            w.sync().await?;
            report.segments.push(a.id);
            report.last_lsn = last;
            tracing::info!(target: "wal::archive", segment = a.id.0, last_lsn = last.0, "segment restored, cut at the requested LSN");
            break;
        }
        if let Some(mut state) = self.archived_state().await? {
            if let Some(c) = state.checkpoint.filter(|&c| c > report.last_lsn) {
                tracing::warn!(target: "wal::archive", checkpoint = c.0, last_lsn = report.last_lsn.0, "the archived checkpoint lies past the restored records: not restored");
                state.checkpoint = None;
                report.checkpoint_dropped = Some(c);
            }
            crate::archive_state::write_slots(dst, &state).await?;
            report.state = Some(state);
        }
        Ok(report)
    }
}

/// Reads `range` across the archive and the live log: LSNs below the log's first LSN come
/// from the archive, the rest from the log (with its default visibility).
pub async fn read_through<S: SegmentStore>(
    archive: &Archiver,
    wal: &Wal<S>,
    range: Range<Lsn>,
) -> Result<Vec<Record>> {
    let first = wal.first_lsn();
    let mut out = Vec::new();
    if range.start < first {
        let end = first.min(range.end);
        out = archive.read(range.start..end).await?;
        if out.last().map(|r| r.lsn.next()) != Some(end) {
            return Err(Error::Trimmed {
                requested: out.last().map_or(range.start, |r| r.lsn.next()),
                first,
            });
        }
    }
    let from = range.start.max(first);
    if from < range.end {
        let mut s = wal.read(from..range.end);
        while let Some(r) = s.next().await {
            out.push(r?);
        }
    }
    Ok(out)
}
