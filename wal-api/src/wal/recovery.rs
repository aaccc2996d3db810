//! Opening a log: list segments, check them, repair the tail, decide what is corruption.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{SegmentHeader, Trailer, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::lsn::{Lsn, SegmentId};
use crate::options::{RecoveryMode, WalOptions};
use crate::scan::{scan_segment, Problem};
use crate::store::{SegmentMeta, SegmentStore, SegmentStoreExt, SegmentWriter};

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments in the log after recovery.
    pub segments: usize,
    /// Bytes cut from a torn tail.
    pub torn_bytes: u64,
    /// Segments moved to quarantine, or (point-in-time) copied there before being cut.
    pub quarantined: Vec<SegmentId>,
    /// Segments removed because their creation never completed (no valid header, no data).
    pub removed_incomplete: Vec<SegmentId>,
    /// Frames skipped in [`RecoveryMode::SkipCorrupted`]: segment, offset, resume offset.
    pub skipped: Vec<(SegmentId, u64, u64)>,
    /// LSN of the last record after recovery.
    pub last_lsn: Lsn,
}

/// A segment as the engine tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegInfo {
    pub(crate) id: SegmentId,
    pub(crate) base: Lsn,
    /// Readable bytes (flushed to the store).
    pub(crate) len: u64,
    pub(crate) sealed: bool,
}

/// The open tail segment after recovery.
pub(crate) struct Tail {
    pub(crate) writer: Arc<dyn SegmentWriter>,
    pub(crate) id: SegmentId,
    pub(crate) base: Lsn,
    pub(crate) len: u64,
    /// CRC of the segment's bytes so far; `None` until needed (computed at seal).
    pub(crate) body_crc: Option<u32>,
    pub(crate) records: u64,
    pub(crate) next: Lsn,
}

pub(crate) struct Recovered {
    pub(crate) segs: Vec<SegInfo>,
    pub(crate) tail: Tail,
    pub(crate) report: RecoveryReport,
}

struct Found {
    info: SegInfo,
    last_lsn: Lsn,
    records: u64,
    /// Body CRC of the good bytes, when known (computed lazily for the tail).
    body_crc: Option<u32>,
    /// Stretches of bad frames stepped over in [`RecoveryMode::SkipCorrupted`]: (offset,
    /// resume offset).
    skipped: Vec<(u64, u64)>,
}

enum Verdict {
    Good(Found),
    /// Bad bytes at `offset`; `prefix` is the good part when the header was fine.
    Bad {
        offset: u64,
        reason: String,
        prefix: Option<(SegmentHeader, bytes::Bytes, Found)>,
        torn: bool,
    },
}

fn corrupt_err(id: SegmentId, offset: u64, reason: &str) -> Error {
    Error::corrupt(id, offset, reason)
}

pub(crate) async fn recover<S: SegmentStore>(store: &S, opts: &WalOptions) -> Result<Recovered> {
    let mode = opts.recovery_mode;
    let full = opts.verify_on_open || mode != RecoveryMode::TolerateTornTail;
    let max_payload = opts.max_frame_payload();
    let metas = store.list().await?;
    if metas.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(Error::InvalidArgument(
            "store listed segments out of order (backend contract violation)".into(),
        ));
    }
    let mut report = RecoveryReport::default();
    let mut segs: Vec<Found> = Vec::new();
    let mut tail_open: Option<(SegmentHeader, u64, u64)> = None; // header, cut at, torn bytes
    let n = metas.len();
    let mut i = 0;
    while i < n {
        let m = metas[i];
        let is_last = i + 1 == n;
        let expected = segs.last().map(|f| (f.last_lsn.next(), f.info.id));
        let verdict = check_segment(store, m, full, is_last, expected, max_payload, mode).await?;
        match verdict {
            Verdict::Good(mut f) => {
                report
                    .skipped
                    .extend(f.skipped.iter().map(|&(at, to)| (m.id, at, to)));
                if is_last && !f.info.sealed && !f.skipped.is_empty() {
                    report.torn_bytes = m.len - f.info.len;
                    seal_damaged(store, &mut f).await?;
                    segs.push(f);
                    i += 1;
                    continue;
                }
                if is_last && f.info.sealed && m.len > f.info.len {
                    // Sealed, but zeros follow the trailer: the writer died after writing the
                    // trailer and before seal released its preallocated space. Cut them
                    // durably, or the next segment's creation would leave a sealed segment
                    // whose length does not end at its trailer.
                    store.open_tail(m.id, f.info.len).await?.seal().await?;
                    report.torn_bytes = m.len - f.info.len;
                } else if is_last && f.info.sealed {
                    // A successor is about to be created durably: the trailer (and any byte)
                    // a crashed writer left unsynced must not be lost to a later power loss,
                    // which would leave a non-last segment without its seal.
                    store.sync_segment(m.id, f.info.len).await?;
                }
                if is_last && !f.info.sealed {
                    tail_open = Some((
                        SegmentHeader {
                            id: f.info.id,
                            base: f.info.base,
                        },
                        f.info.len,
                        0,
                    ));
                }
                segs.push(f);
            }
            Verdict::Bad {
                offset,
                reason,
                prefix,
                torn,
            } => {
                if torn && is_last {
                    // A torn tail: cut it, unless strict mode sees non-zero bytes.
                    let Some((h, bytes, mut f)) = prefix else {
                        // Creation never completed: no header, nothing acknowledged.
                        store.delete(m.id).await?;
                        report.removed_incomplete.push(m.id);
                        i += 1;
                        continue;
                    };
                    let zeros = bytes[offset as usize..].iter().all(|&b| b == 0);
                    if mode == RecoveryMode::AbsoluteConsistency && !zeros {
                        return Err(corrupt_err(m.id, offset, &reason));
                    }
                    report
                        .skipped
                        .extend(f.skipped.iter().map(|&(at, to)| (m.id, at, to)));
                    if f.skipped.is_empty() {
                        tail_open = Some((h, f.info.len, m.len - f.info.len));
                    } else {
                        report.torn_bytes = m.len - f.info.len;
                        seal_damaged(store, &mut f).await?;
                    }
                    segs.push(f);
                    i += 1;
                    continue;
                }
                match mode {
                    RecoveryMode::TolerateTornTail | RecoveryMode::AbsoluteConsistency => {
                        return Err(corrupt_err(m.id, offset, &reason));
                    }
                    RecoveryMode::SkipCorrupted => {
                        // Frame-level damage was skipped during the scan; what is left here
                        // is a segment that cannot be used at all.
                        quarantine(store, m.id, &reason, &mut report).await?;
                    }
                    RecoveryMode::PointInTime => {
                        // Every step leaves a log this same repair can finish after a crash:
                        // later segments leave newest first, then a copy of the damaged one is
                        // kept aside, and only then is it cut in place at its good prefix.
                        for later in metas[i + 1..].iter().rev() {
                            quarantine(store, later.id, "after a point-in-time cut", &mut report)
                                .await?;
                        }
                        let Some((_, bytes, mut f)) = prefix else {
                            quarantine(store, m.id, &reason, &mut report).await?;
                            break;
                        };
                        if !store.capabilities().quarantine {
                            return Err(Error::Unsupported(
                                "quarantine (recovery needs to keep the damaged bytes it cuts)",
                            ));
                        }
                        store
                            .preserve(m.id, &bytes, &format!("cut at offset {offset}: {reason}"))
                            .await?;
                        report.quarantined.push(m.id);
                        let end = f.info.len as usize;
                        report.torn_bytes = m.len - f.info.len;
                        {
                            let w = store.open_tail(m.id, f.info.len).await?;
                            f.info.sealed = false;
                            let crc = crc32fast::hash(&bytes[..end]);
                            f.body_crc = Some(crc);
                            segs.push(f);
                            let last = segs.len() - 1;
                            let info = segs[last].info;
                            let found = &segs[last];
                            return finish(
                                store,
                                segs_to_info(&segs),
                                Some(Tail {
                                    writer: Arc::from(w),
                                    id: info.id,
                                    base: info.base,
                                    len: info.len,
                                    body_crc: found.body_crc,
                                    records: found.records,
                                    next: found.last_lsn.next(),
                                }),
                                report,
                            )
                            .await;
                        }
                    }
                }
            }
        }
        i += 1;
    }

    let infos = segs_to_info(&segs);
    let tail = match tail_open {
        Some((h, cut, torn)) => {
            let f = segs.last();
            let (records, last, crc) = f.map_or((0, h.base.prev(), None), |f| {
                (f.records, f.last_lsn, f.body_crc)
            });
            let w = store.open_tail(h.id, cut).await?;
            report.torn_bytes = torn;
            Some(Tail {
                writer: Arc::from(w),
                id: h.id,
                base: h.base,
                len: cut,
                body_crc: crc,
                records,
                next: last.next(),
            })
        }
        None => None,
    };
    finish(store, infos, tail, report).await
}

/// Seals a last segment in which [`RecoveryMode::SkipCorrupted`] stepped over bad frames,
/// at the end of what it kept, so new records go to a fresh segment. Appending after damage
/// would put new bytes next to bytes that were judged bad, and a later open that resyncs
/// differently across them could lose the new records; a sealed segment's end is fixed by its
/// trailer.
async fn seal_damaged<S: SegmentStore>(store: &S, f: &mut Found) -> Result<()> {
    let (id, cut) = (f.info.id, f.info.len);
    let body = store.read(id, 0..cut).await?;
    if body.len() as u64 != cut {
        return Err(corrupt_err(
            id,
            cut,
            "segment shorter than its recovered part",
        ));
    }
    let body_crc = crc32fast::hash(&body);
    let trailer = Trailer {
        last_lsn: f.last_lsn,
        records: f.records,
        body_len: cut,
        body_crc,
    }
    .encode();
    let w = store.open_tail(id, cut).await?;
    w.append(&trailer).await?;
    w.seal().await?;
    f.info.len = cut + TRAILER_LEN as u64;
    f.info.sealed = true;
    f.body_crc = Some(body_crc);
    Ok(())
}

fn segs_to_info(segs: &[Found]) -> Vec<SegInfo> {
    segs.iter().map(|f| f.info).collect()
}

async fn quarantine<S: SegmentStore>(
    store: &S,
    id: SegmentId,
    reason: &str,
    report: &mut RecoveryReport,
) -> Result<()> {
    if !store.capabilities().quarantine {
        return Err(Error::Unsupported(
            "quarantine (recovery needs to move a corrupt segment aside)",
        ));
    }
    store.quarantine(id, reason).await?;
    report.quarantined.push(id);
    Ok(())
}

/// Opens a fresh tail segment when the log is empty or ends with a sealed segment.
async fn finish<S: SegmentStore>(
    store: &S,
    mut segs: Vec<SegInfo>,
    tail: Option<Tail>,
    mut report: RecoveryReport,
) -> Result<Recovered> {
    let tail = match tail {
        Some(t) => t,
        None => {
            let (id, base) = match segs.last() {
                Some(s) => {
                    let last = last_lsn_of_sealed(store, s).await?;
                    (s.id.next(), last.next())
                }
                None => (
                    report
                        .quarantined
                        .iter()
                        .chain(report.removed_incomplete.iter())
                        .max()
                        .map_or(SegmentId(1), |m| m.next()),
                    Lsn::FIRST,
                ),
            };
            let header = SegmentHeader { id, base }.encode();
            let w = store.create(id, &header).await?;
            segs.push(SegInfo {
                id,
                base,
                len: SEGMENT_HEADER_LEN as u64,
                sealed: false,
            });
            Tail {
                writer: Arc::from(w),
                id,
                base,
                len: SEGMENT_HEADER_LEN as u64,
                body_crc: Some(crc32fast::hash(&header)),
                records: 0,
                next: base,
            }
        }
    };
    report.segments = segs.len();
    report.last_lsn = tail.next.prev();
    Ok(Recovered { segs, tail, report })
}

async fn last_lsn_of_sealed<S: SegmentStore>(store: &S, s: &SegInfo) -> Result<Lsn> {
    let t = store
        .read(s.id, s.len.saturating_sub(TRAILER_LEN as u64)..s.len)
        .await?;
    Trailer::decode(&t)
        .map(|t| t.last_lsn)
        .ok_or_else(|| corrupt_err(s.id, s.len, "sealed segment lost its trailer"))
}

#[allow(clippy::too_many_arguments)]
async fn check_segment<S: SegmentStore>(
    store: &S,
    m: SegmentMeta,
    verify_all: bool,
    is_last: bool,
    expected: Option<(Lsn, SegmentId)>,
    max_payload: u32,
    mode: RecoveryMode,
) -> Result<Verdict> {
    let head = store.read(m.id, 0..SEGMENT_HEADER_LEN as u64).await?;
    let header = match SegmentHeader::decode(&head) {
        Ok(h) if h.id == m.id => h,
        Ok(h) => {
            return Ok(Verdict::Bad {
                offset: 0,
                reason: format!(
                    "header names segment {} but the store calls it {}",
                    h.id, m.id
                ),
                prefix: None,
                torn: false,
            })
        }
        Err(reason) => {
            let incomplete = head.len() < SEGMENT_HEADER_LEN || head.iter().all(|&b| b == 0);
            return Ok(Verdict::Bad {
                offset: 0,
                reason,
                prefix: None,
                torn: incomplete && is_last,
            });
        }
    };
    if let Some((exp, prev)) = expected {
        let gap_ok = mode == RecoveryMode::SkipCorrupted && header.base > exp;
        if header.base != exp && !gap_ok {
            return Ok(Verdict::Bad {
                offset: 0,
                reason: format!(
                    "base LSN {} does not follow segment {prev} (expected {exp}): segments missing or overlapping",
                    header.base
                ),
                prefix: None,
                torn: false,
            });
        }
    }
    if !verify_all {
        // Not verified in full: a sealed segment is checked by header and trailer only (its
        // frames are checked when read). The trailer must agree with the header: it covers
        // exactly the bytes before it, and its record count ends at its last LSN. Anything
        // else (no trailer, a torn or inconsistent one) is scanned below, which finds where
        // the segment ends or what is wrong with it.
        let trailer = if m.len >= (SEGMENT_HEADER_LEN + TRAILER_LEN) as u64 {
            let t = store.read(m.id, m.len - TRAILER_LEN as u64..m.len).await?;
            Trailer::decode(&t)
        } else {
            None
        };
        if let Some(t) = trailer {
            let agrees = t.body_len.checked_add(TRAILER_LEN as u64) == Some(m.len)
                && t.last_lsn.0.checked_add(1) == header.base.0.checked_add(t.records);
            if agrees {
                return Ok(Verdict::Good(Found {
                    info: SegInfo {
                        id: m.id,
                        base: header.base,
                        len: m.len,
                        sealed: true,
                    },
                    last_lsn: t.last_lsn,
                    records: t.records,
                    body_crc: Some(t.body_crc),
                    skipped: Vec::new(),
                }));
            }
        }
    }
    let bytes = store.read_all(m.id).await?;
    let skip = mode == RecoveryMode::SkipCorrupted;
    let scan = scan_segment(&bytes, &header, max_payload, skip);
    let sealed = scan.trailer.is_some();
    let found = |len: u64| Found {
        info: SegInfo {
            id: m.id,
            base: header.base,
            len,
            sealed,
        },
        // A sealed segment ends at its trailer's last LSN (the scan's, unless frames were
        // skipped, and never below it); the next segment starts right after.
        last_lsn: scan.trailer.map_or(scan.last_lsn, |t| t.last_lsn),
        records: scan.records,
        // Only the tail needs it (to seal later); the engine computes it when it seals.
        body_crc: None,
        skipped: scan.skipped.clone(),
    };
    // A sealed segment ends with its trailer (the scan allows zeros after it).
    let sealed_len = scan.end + TRAILER_LEN as u64;
    match (&scan.problem, sealed) {
        (None, true) => Ok(Verdict::Good(found(sealed_len))),
        (None, false) if is_last => Ok(Verdict::Good(found(scan.end))),
        (None, false) => Ok(Verdict::Bad {
            offset: scan.end,
            reason: "segment is not the last one but has no seal trailer".into(),
            prefix: Some((header, bytes.clone(), found(scan.end))),
            torn: false,
        }),
        (Some(_), true) if skip => Ok(Verdict::Good(found(sealed_len))),
        (
            Some(Problem::Corrupt {
                resume: Some(_), ..
            }),
            false,
        ) if skip && is_last => {
            // Skipped frames inside the tail; the scan ended cleanly or at a torn tail.
            Ok(Verdict::Good(found(scan.end)))
        }
        (Some(Problem::Torn { at, .. }), _) => Ok(Verdict::Bad {
            offset: *at,
            reason: "torn tail".into(),
            prefix: Some((header, bytes.clone(), found(*at))),
            torn: is_last,
        }),
        (Some(Problem::Corrupt { at, reason, .. }), _) => Ok(Verdict::Bad {
            offset: *at,
            reason: reason.clone(),
            prefix: Some((header, bytes.clone(), found(*at))),
            torn: false,
        }),
    }
}
