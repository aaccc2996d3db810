//! Opening a log: list segments, check them, repair the tail, decide what is corruption.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::meta::{reset_intent_frame, RESET_FRAME_LEN};
use crate::format::state::{is_state_slot, LogState, STATE_SLOTS};
use crate::format::{new_salt, Layout, SegmentHeader, Trailer, SEGMENT_HEADER_LEN, TRAILER_LEN};
use crate::lsn::{Lsn, SegmentId};
use crate::options::{RecoveryMode, WalOptions};
use crate::scan::{body_crc, ends_in_trailer, scan_segment_into, Damage, Problem, Sink, Window};
use crate::store::{SegmentMeta, SegmentStore, SegmentStoreExt, SegmentWriter};

use super::state::{load_state, write_reset_checkpoint};

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
    /// Segments removed to finish a [`Wal::reset`](crate::Wal::reset) a crash interrupted.
    pub removed_reset: Vec<SegmentId>,
    /// Frames skipped in [`RecoveryMode::SkipCorrupted`]: segment, offset, resume offset.
    pub skipped: Vec<(SegmentId, u64, u64)>,
    /// LSN of the last record after recovery.
    pub last_lsn: Lsn,
    /// Records [`Wal::open_replay`](crate::Wal::open_replay) applied while recovery checked
    /// them, in the same pass (0 for [`Wal::open`](crate::Wal::open), and when recovery could
    /// not hand them out: then the replay after the open applied them).
    pub replayed: u64,
    /// LSN ranges (first, last) missing between segments, which
    /// [`RecoveryMode::SkipCorrupted`] stepped over (their records are lost); every other
    /// mode refuses such a log.
    pub missing: Vec<(Lsn, Lsn)>,
    /// State slots found invalid (a state write a crash interrupted, or damage); the state
    /// came from the other copy, and the slot was rewritten.
    pub damaged_state_slots: Vec<SegmentId>,
    /// Both state slots were damaged and [`RecoveryMode::SkipCorrupted`] opened the log with
    /// an empty state: metadata and checkpoint are lost (the slots are in quarantine). Every
    /// other mode refuses such a log.
    pub state_lost: bool,
}

/// A segment as the engine tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegInfo {
    pub(crate) id: SegmentId,
    pub(crate) base: Lsn,
    /// Readable bytes (flushed to the store).
    pub(crate) len: u64,
    pub(crate) sealed: bool,
    /// Salt and frame limit from the segment's header.
    pub(crate) layout: Layout,
}

/// The open tail segment after recovery.
pub(crate) struct Tail {
    pub(crate) writer: Arc<dyn SegmentWriter>,
    pub(crate) id: SegmentId,
    /// Salt, payload limit and format version from the segment's header.
    pub(crate) layout: Layout,
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
    /// The log's durable state (metadata, checkpoint) from its state slots.
    pub(crate) state: LogState,
    /// Segments whose frames this open checked, with the length checked.
    pub(crate) verified: Vec<(SegmentId, u64)>,
}

struct Found {
    header: SegmentHeader,
    info: SegInfo,
    last_lsn: Lsn,
    records: u64,
    /// Body CRC of the good bytes, when known (computed lazily for the tail).
    body_crc: Option<u32>,
    /// Stretches of bad frames stepped over in [`RecoveryMode::SkipCorrupted`]: (offset,
    /// resume offset).
    skipped: Vec<(u64, u64)>,
    /// A sealed segment whose last frame is a reset intent: the LSN the log restarts at.
    reset: Option<Lsn>,
    /// Whether `reset` was already looked for (the trailer-only check reads both at once).
    reset_checked: bool,
    /// Whether every frame in `..info.len` was decoded and checked by this open.
    scanned: bool,
    /// Offset up to which the bytes are proven synced (a later frame's durable watermark
    /// covers them); recovery writes the newest segment's bytes after it again before the
    /// sync that makes them durable ([`SegmentStore::rewrite`]).
    proven: u64,
}

enum Verdict {
    Good(Found),
    /// The newest segment's creation never completed: no valid header and nothing behind it.
    Unfinished,
    /// Bad bytes at `offset`; `prefix` is the good part when the header was fine.
    Bad {
        offset: u64,
        reason: String,
        prefix: Option<(SegmentHeader, Found)>,
        /// Damage of the last segment in its unsynced window (a torn tail), and whether it is
        /// all zeros.
        torn: Option<bool>,
    },
}

fn corrupt_err(id: SegmentId, offset: u64, reason: &str) -> Error {
    Error::corrupt(id, offset, reason)
}

/// Runs recovery (see [`recover_log`]) and reports it through `tracing`. With a `sink` (a
/// replaying open), the records recovery checks are handed to it when nothing can discard
/// them afterwards (see [`may_hand_out`]).
pub(crate) async fn recover<S: SegmentStore>(
    store: &S,
    opts: &WalOptions,
    sink: Option<&mut Sink<'_>>,
) -> Result<Recovered> {
    let t0 = std::time::Instant::now();
    let mode = opts.recovery_mode;
    match recover_log(store, opts, sink).await {
        Ok(r) => {
            let rep = &r.report;
            tracing::info!(
                target: "wal::recovery",
                mode = ?mode,
                segments = rep.segments,
                last_lsn = rep.last_lsn.0,
                torn_bytes = rep.torn_bytes,
                quarantined = ?rep.quarantined,
                removed_incomplete = ?rep.removed_incomplete,
                skipped = rep.skipped.len(),
                took_ms = t0.elapsed().as_millis() as u64,
                "log opened"
            );
            crate::metrics::recovered(rep);
            Ok(r)
        }
        Err(e) => {
            tracing::error!(target: "wal::recovery", mode = ?mode, error = %e, "log refused to open");
            Err(e)
        }
    }
}

async fn recover_log<S: SegmentStore>(
    store: &S,
    opts: &WalOptions,
    mut sink: Option<&mut Sink<'_>>,
) -> Result<Recovered> {
    let mode = opts.recovery_mode;
    let full = opts.verify_on_open || mode != RecoveryMode::TolerateTornTail;
    let listed = store.list().await?;
    if listed.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(Error::InvalidArgument(
            "store listed segments out of order (backend contract violation)".into(),
        ));
    }
    // The state slots sort last (their ids are the highest) and are not segments of records.
    let (slots, metas): (Vec<SegmentMeta>, Vec<SegmentMeta>) =
        listed.into_iter().partition(|m| is_state_slot(m.id));
    let mut report = RecoveryReport::default();
    let mut state = load_state(store, opts, &slots, &mut report).await?;
    let mut segs: Vec<Found> = Vec::new();
    let mut tail_open: Option<(SegmentHeader, u64, u64)> = None; // header, cut at, torn bytes
    let n = metas.len();
    for (i, &m) in metas.iter().enumerate() {
        let is_last = i + 1 == n;
        // After a reset intent the next segment starts at the reset LSN.
        let expected = segs
            .last()
            .map(|f| (f.reset.unwrap_or(f.last_lsn.next()), f.info.id));
        // A replaying open: the sealed segments' records first, then the newest segment's
        // as its scan checks them (instead of a second read of it after the open).
        let mut tail_sink = None;
        if let Some(s) = sink.as_deref_mut() {
            if is_last && may_hand_out(store, full, &segs, m, &state, s.next).await? {
                replay_sealed(store, &segs, s).await?;
                tail_sink = Some(s);
            }
        }
        let fused = tail_sink.is_some();
        let verdict = check_segment(store, m, full, is_last, expected, mode, tail_sink).await?;
        if let (
            Some((exp, _)),
            Verdict::Good(f)
            | Verdict::Bad {
                prefix: Some((_, f)),
                ..
            },
        ) = (expected, &verdict)
        {
            if f.header.base > exp {
                tracing::warn!(target: "wal::recovery", segment = m.id.0, first = exp.0, last = f.header.base.prev().0, "stepping over LSNs missing between segments");
                report.missing.push((exp, f.header.base.prev()));
            }
        }
        match verdict {
            Verdict::Good(mut f) => {
                if f.info.sealed && !f.reset_checked {
                    f.reset = reset_intent(store, &f).await?;
                    if fused && f.reset.is_some() {
                        // Ruled out by `may_hand_out` (no trailer ends the segment's bytes);
                        // the reset would discard records already handed out.
                        return Err(Error::InvalidArgument(format!(
                            "segment {}: a reset intent the replaying open ruled out (a bug)",
                            m.id
                        )));
                    }
                }
                report
                    .skipped
                    .extend(f.skipped.iter().map(|&(at, to)| (m.id, at, to)));
                if is_last && !f.info.sealed && !f.skipped.is_empty() {
                    drop_undecided_intent(store, &mut f).await?;
                    report.torn_bytes = m.len - f.info.len;
                    seal_damaged(store, &mut f).await?;
                } else if is_last && f.info.sealed && m.len > f.info.len {
                    // Sealed, but zeros follow the trailer: the writer died after writing the
                    // trailer and before seal released its preallocated space. Cut them
                    // durably (which syncs what is kept), or the next segment's creation would
                    // leave a sealed segment whose length does not end at its trailer.
                    rewrite_unproven(store, &f).await?;
                    store.open_tail(m.id, f.info.len).await?.seal().await?;
                    report.torn_bytes = m.len - f.info.len;
                } else if is_last && f.info.sealed {
                    // A successor is about to be created durably: the trailer (and any byte)
                    // a crashed writer left unsynced must not be lost to a later power loss,
                    // which would leave a non-last segment without its seal.
                    rewrite_unproven(store, &f).await?;
                    store.sync_segment(m.id, f.info.len).await?;
                } else if is_last {
                    tail_open = Some((f.header, f.info.len, 0));
                }
                segs.push(f);
            }
            Verdict::Unfinished => {
                // Creation never completed: no header, nothing behind it, nothing acknowledged.
                tracing::warn!(target: "wal::recovery", segment = m.id.0, "removing a segment whose creation never completed (no valid header, nothing behind it)");
                store.delete(m.id).await?;
                report.removed_incomplete.push(m.id);
            }
            Verdict::Bad {
                offset,
                reason,
                prefix: Some((h, mut f)),
                torn: Some(zeros),
            } => {
                // A torn tail of the last segment: cut it, unless strict mode sees non-zero
                // bytes.
                if mode == RecoveryMode::AbsoluteConsistency && !zeros {
                    return Err(corrupt_err(m.id, offset, &reason));
                }
                tracing::warn!(
                    target: "wal::recovery",
                    segment = m.id.0,
                    offset,
                    bytes = m.len - f.info.len,
                    reason = %reason,
                    "cutting a torn tail"
                );
                report
                    .skipped
                    .extend(f.skipped.iter().map(|&(at, to)| (m.id, at, to)));
                if f.skipped.is_empty() {
                    tail_open = Some((h, f.info.len, m.len - f.info.len));
                } else {
                    drop_undecided_intent(store, &mut f).await?;
                    report.torn_bytes = m.len - f.info.len;
                    seal_damaged(store, &mut f).await?;
                }
                segs.push(f);
            }
            Verdict::Bad {
                offset,
                reason,
                prefix,
                ..
            } => match mode {
                RecoveryMode::TolerateTornTail | RecoveryMode::AbsoluteConsistency => {
                    return Err(corrupt_err(m.id, offset, &reason));
                }
                RecoveryMode::SkipCorrupted => match prefix {
                    // A sealed segment whose end (its trailer, or frames the scan could not
                    // step over) is damaged: its good records are kept, as `PointInTime`
                    // keeps them. A copy goes to quarantine, then the segment is cut after
                    // its good frames and sealed again there (a crash part-way leaves a
                    // segment this same step repairs). The next segment may then start
                    // above it (LSNs missing, reported).
                    Some((_, mut f))
                        if !is_last && f.records > 0 && store.capabilities().quarantine =>
                    {
                        let bytes = store.read_all(m.id).await?;
                        tracing::warn!(target: "wal::recovery", segment = m.id.0, offset, reason = %reason, "resealing a damaged segment after its good frames, keeping a copy in quarantine");
                        store
                            .preserve(
                                m.id,
                                &bytes,
                                &format!("resealed at offset {}: {reason}", f.info.len),
                            )
                            .await?;
                        report.quarantined.push(m.id);
                        report.skipped.push((m.id, f.info.len, m.len));
                        f.body_crc = None;
                        seal_damaged(store, &mut f).await?;
                        segs.push(f);
                    }
                    // What is left here is a segment that cannot be used at all (frame-level
                    // damage was skipped during the scan).
                    _ => quarantine(store, m.id, &reason, &mut report).await?,
                },
                RecoveryMode::PointInTime => {
                    // Every step leaves a log this same repair can finish after a crash, and
                    // no step loses bytes: a copy of the damaged segment is kept aside first
                    // (once the later segments are gone it is the newest, and its damage
                    // could then pass for a torn tail that any mode cuts without a copy),
                    // then later segments leave newest first, and only then is it cut in
                    // place at its good prefix.
                    let Some((h, mut f)) = prefix else {
                        for later in metas[i + 1..].iter().rev() {
                            quarantine(store, later.id, "after a point-in-time cut", &mut report)
                                .await?;
                        }
                        quarantine(store, m.id, &reason, &mut report).await?;
                        break;
                    };
                    if !store.capabilities().quarantine {
                        return Err(Error::Unsupported(
                            "quarantine (recovery needs to keep the damaged bytes it cuts)",
                        ));
                    }
                    let bytes = store.read_all(m.id).await?;
                    tracing::warn!(
                        target: "wal::recovery",
                        segment = m.id.0,
                        offset,
                        reason = %reason,
                        "point-in-time cut: keeping a copy in quarantine, cutting the segment"
                    );
                    store
                        .preserve(m.id, &bytes, &format!("cut at offset {offset}: {reason}"))
                        .await?;
                    for later in metas[i + 1..].iter().rev() {
                        quarantine(store, later.id, "after a point-in-time cut", &mut report)
                            .await?;
                    }
                    report.quarantined.push(m.id);
                    report.torn_bytes = m.len - f.info.len;
                    f.info.sealed = false;
                    f.body_crc = None;
                    segs.push(f);
                    tail_open = Some((h, segs[segs.len() - 1].info.len, 0));
                    break;
                }
            },
        }
    }

    // An unsealed newest segment is about to take appends: an undecided reset intent at the
    // end of what it keeps is dropped, or a later seal would decide it.
    if let (Some((h, cut, torn)), Some(f)) = (tail_open.as_mut(), segs.last_mut()) {
        if f.info.id == h.id && drop_undecided_intent(store, f).await? {
            let dropped = *cut - f.info.len;
            if *torn > 0 {
                *torn += dropped;
            } else {
                // A cut recovery already counted (point-in-time), or none.
                report.torn_bytes += dropped;
            }
            *cut = f.info.len;
        }
    }
    // A reset decided before the crash: everything up to the segment holding its intent is
    // discarded and the log continues at the reset LSN. Those segments are deleted (oldest
    // first) only once the segment at the reset LSN exists, so a crash here leaves the
    // intent for the next open.
    let mut reset_to = None;
    let mut discarded = Vec::new();
    if let Some(k) = segs.iter().rposition(|f| f.reset.is_some()) {
        reset_to = segs[k].reset.filter(|_| k + 1 == segs.len());
        if let Some(at) = segs[k].reset {
            // A reset to `at` checkpoints `at - 1`; the state says so before the segments
            // holding the intent go (a crash before that finds the intent again).
            write_reset_checkpoint(store, opts, &mut state, at).await?;
        }
        discarded = segs.drain(..=k).map(|f| f.info.id).collect();
        report.removed_reset.clone_from(&discarded);
    }
    let infos = segs_to_info(&segs);
    let verified: Vec<(SegmentId, u64)> = segs
        .iter()
        .filter(|f| f.scanned)
        .map(|f| (f.info.id, f.info.len))
        .collect();
    let tail = match tail_open {
        Some((h, cut, torn)) => {
            let f = segs.last();
            let (records, last, crc) = f.map_or((0, h.base.prev(), None), |f| {
                (f.records, f.last_lsn, f.body_crc)
            });
            if let Some(f) = f.filter(|f| f.info.id == h.id) {
                rewrite_unproven(store, f).await?;
            }
            // Cuts and makes every kept byte durable: what recovery keeps is acknowledged.
            let w = store.open_tail(h.id, cut).await?;
            if torn > 0 {
                report.torn_bytes = torn;
            }
            Some(Tail {
                writer: Arc::from(w),
                id: h.id,
                layout: h.layout(),
                base: h.base,
                len: cut,
                body_crc: crc,
                records,
                next: last.next(),
            })
        }
        None => None,
    };
    let mut recovered = finish(store, opts, infos, tail, reset_to, report).await?;
    if let Some(c) = state.checkpoint.filter(|&c| c >= recovered.tail.next) {
        return Err(corrupt_err(
            STATE_SLOTS[0],
            0,
            &format!(
                "the log's checkpoint is LSN {c} but its records end at LSN {}: records the checkpoint relies on are missing",
                recovered.tail.next.prev()
            ),
        ));
    }
    recovered.state = state;
    recovered.verified = verified;
    for id in discarded {
        store.delete(id).await?;
    }
    Ok(recovered)
}

/// The LSN a sealed segment's reset intent restarts the log at: its last frame before the
/// trailer is a reset meta frame, in place (see [`Wal::reset`](crate::Wal::reset)).
async fn reset_intent<S: SegmentStore>(store: &S, f: &Found) -> Result<Option<Lsn>> {
    let body = f.info.len.saturating_sub(TRAILER_LEN as u64);
    let Some(at) = body.checked_sub(RESET_FRAME_LEN as u64) else {
        return Ok(None);
    };
    if at < SEGMENT_HEADER_LEN as u64 {
        return Ok(None);
    }
    let bytes = store.read(f.info.id, at..body).await?;
    Ok(reset_intent_frame(&bytes, f.info.layout, f.last_lsn))
}

/// Drops a reset intent from the end of the kept bytes of `f`, an unsealed segment: an intent
/// takes effect only when the trailer right after it is durable (the segment is sealed), so
/// at the end of an unsealed tail it is a reset that never completed its first step (a crash,
/// a full disk or an I/O error between the intent and its trailer). Returns whether it cut.
async fn drop_undecided_intent<S: SegmentStore>(store: &S, f: &mut Found) -> Result<bool> {
    let end = f.info.len;
    let Some(at) = end.checked_sub(RESET_FRAME_LEN as u64) else {
        return Ok(false);
    };
    if f.info.sealed || at < SEGMENT_HEADER_LEN as u64 {
        return Ok(false);
    }
    let bytes = store.read(f.info.id, at..end).await?;
    if reset_intent_frame(&bytes, f.info.layout, f.last_lsn).is_none() {
        return Ok(false);
    }
    tracing::warn!(target: "wal::recovery", segment = f.info.id.0, offset = at, "dropping an undecided reset intent (its trailer never became durable): the reset did not happen");
    f.info.len = at;
    f.body_crc = None;
    Ok(true)
}

/// Writes the bytes of `f` (the newest segment) that no frame proves synced again, so the
/// sync recovery makes next writes them: the process that wrote them may have died after a
/// failed sync that left them readable but never to be written (see
/// [`SegmentStore::rewrite`]). Up to `f.info.len`, the part recovery keeps.
async fn rewrite_unproven<S: SegmentStore>(store: &S, f: &Found) -> Result<()> {
    let (from, to) = (f.proven.min(f.info.len), f.info.len);
    if from < to {
        store.rewrite(f.info.id, from..to).await?;
    }
    Ok(())
}

/// Seals a last segment in which [`RecoveryMode::SkipCorrupted`] stepped over bad frames,
/// at the end of what it kept, so new records go to a fresh segment. Appending after damage
/// would put new bytes next to bytes that were judged bad, and a later open that resyncs
/// differently across them could lose the new records; a sealed segment's end is fixed by its
/// trailer.
async fn seal_damaged<S: SegmentStore>(store: &S, f: &mut Found) -> Result<()> {
    let (id, cut) = (f.info.id, f.info.len);
    let mut w = Window::new(store, id, cut);
    let crc = body_crc(&mut w, cut).await?;
    let trailer = Trailer {
        last_lsn: f.last_lsn,
        records: f.records,
        body_len: cut,
        body_crc: crc,
    }
    .encode(f.info.layout.salt, f.last_lsn);
    rewrite_unproven(store, f).await?;
    let w = store.open_tail(id, cut).await?;
    w.append(&trailer).await?;
    w.seal().await?;
    f.info.len = cut + TRAILER_LEN as u64;
    f.info.sealed = true;
    f.body_crc = Some(crc);
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
    tracing::warn!(target: "wal::recovery", segment = id.0, reason, "quarantining a segment");
    store.quarantine(id, reason).await?;
    report.quarantined.push(id);
    Ok(())
}

/// Whether a replaying open may hand out records as recovery checks them: only when nothing
/// checked can be discarded afterwards, and when it saves work. So not when a reset intent is
/// pending (recovery discards every segment up to it), not for a start below the log's first
/// LSN (the replay reports the trim), and not when every segment is verified at open anyway
/// (`full`: the replay then trusts what open checked). `tail` is the newest segment.
async fn may_hand_out<S: SegmentStore>(
    store: &S,
    full: bool,
    segs: &[Found],
    tail: SegmentMeta,
    state: &LogState,
    from: Lsn,
) -> Result<bool> {
    if full || segs.iter().any(|f| f.reset.is_some()) {
        return Ok(false);
    }
    let head = store.read(tail.id, 0..SEGMENT_HEADER_LEN as u64).await?;
    let Ok(h) = SegmentHeader::decode(&head) else {
        return Ok(false);
    };
    let checkpoint = state.checkpoint.map_or(Lsn::FIRST, |c| c.next());
    let first = segs.first().map_or(h.base, |f| f.info.base).max(checkpoint);
    if h.id != tail.id || from < first {
        return Ok(false);
    }
    Ok(!ends_in_trailer(store, tail, &h).await?)
}

/// Hands the records of the sealed segments `segs` from `sink.next` on to `sink`, checking
/// every frame (open checked them by header and trailer only): what a replay reads.
async fn replay_sealed<S: SegmentStore>(
    store: &S,
    segs: &[Found],
    sink: &mut Sink<'_>,
) -> Result<()> {
    for f in segs {
        if f.last_lsn < sink.next {
            continue;
        }
        let (id, body) = (f.info.id, f.info.len - TRAILER_LEN as u64);
        let scan = scan_segment_into(
            store,
            id,
            body,
            &f.header,
            Damage::Synced,
            false,
            Some(sink),
        )
        .await?;
        if let Some(p) = scan.problem {
            return Err(corrupt_err(id, p.at(), p.reason()));
        }
        if scan.last_lsn != f.last_lsn {
            return Err(corrupt_err(
                id,
                scan.end,
                &format!(
                    "frames end at LSN {} but the trailer says {}",
                    scan.last_lsn, f.last_lsn
                ),
            ));
        }
    }
    Ok(())
}

/// The header of a new segment `id` starting at `base`, with the log's limits, a fresh salt
/// and, when the log encrypts, its current key's id and check.
pub(crate) fn new_header(opts: &WalOptions, id: SegmentId, base: Lsn) -> SegmentHeader {
    let salt = new_salt();
    let (key_id, key_check) = match &opts.encryption {
        // `WalOptions::validate` checked that this build encrypts, so the check computes.
        Some(p) => {
            let (kid, key) = p.current();
            (kid, crate::crypto::key_check(&key, salt).unwrap_or(1))
        }
        None => (0, 0),
    };
    SegmentHeader {
        id,
        base,
        salt,
        segment_size: opts.segment_size,
        max_record_size: opts.max_record_size,
        max_batch_size: opts.max_batch_size,
        version: crate::format::FORMAT_VERSION,
        key_id,
        key_check,
    }
}

/// The header of state slot `id`: a segment header without a key (the state is not
/// encrypted).
pub(crate) fn slot_header(opts: &WalOptions, id: SegmentId) -> SegmentHeader {
    SegmentHeader {
        key_id: 0,
        key_check: 0,
        ..new_header(opts, id, Lsn::FIRST)
    }
}

/// The key appends to segment `id` of `layout` are encrypted with: `None` when it is not
/// encrypted; an error when the options have no provider with its key, or the provider's
/// key fails the segment's key check (a wrong key would write frames the right one cannot
/// read).
pub(crate) fn segment_key(
    opts: &WalOptions,
    id: SegmentId,
    layout: &Layout,
) -> Result<Option<crate::crypto::Key>> {
    if layout.key_id == 0 {
        return Ok(None);
    }
    let refuse = |reason: String| Error::Unreadable {
        segment: id,
        offset: 0,
        reason,
    };
    let key = opts
        .encryption
        .as_ref()
        .and_then(|p| p.key(layout.key_id))
        .ok_or_else(|| {
            refuse(format!(
                "the segment is encrypted with key id {}, and the options have no key provider with it",
                layout.key_id
            ))
        })?;
    let check = crate::crypto::key_check(&key, layout.salt).map_err(refuse)?;
    if check != layout.key_check {
        return Err(refuse(format!(
            "wrong key for key id {} (the segment's key check does not match)",
            layout.key_id
        )));
    }
    Ok(Some(key))
}

/// Opens a fresh tail segment when the log is empty or ends with a sealed segment.
async fn finish<S: SegmentStore>(
    store: &S,
    opts: &WalOptions,
    mut segs: Vec<SegInfo>,
    tail: Option<Tail>,
    reset_to: Option<Lsn>,
    mut report: RecoveryReport,
) -> Result<Recovered> {
    let tail = match tail {
        Some(t) => t,
        None => {
            let (id, base) = match segs.last() {
                Some(s) => {
                    let last = last_lsn_of_sealed(store, s).await?;
                    super::check_successor(s.id)?;
                    (s.id.next(), last.next())
                }
                None => (
                    report
                        .quarantined
                        .iter()
                        .chain(report.removed_incomplete.iter())
                        .chain(report.removed_reset.iter())
                        .max()
                        .map_or(SegmentId(1), |m| m.next()),
                    // A reset whose new segment was never created starts it now.
                    reset_to.unwrap_or(opts.first_lsn),
                ),
            };
            let h = new_header(opts, id, base);
            let header = h.encode();
            let w = store.create(id, &header).await?;
            segs.push(SegInfo {
                id,
                base,
                len: SEGMENT_HEADER_LEN as u64,
                sealed: false,
                layout: h.layout(),
            });
            Tail {
                writer: Arc::from(w),
                id,
                layout: h.layout(),
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
    Ok(Recovered {
        segs,
        tail,
        report,
        state: LogState::default(),
        verified: Vec::new(),
    })
}

async fn last_lsn_of_sealed<S: SegmentStore>(store: &S, s: &SegInfo) -> Result<Lsn> {
    let t = store
        .read(s.id, s.len.saturating_sub(TRAILER_LEN as u64)..s.len)
        .await?;
    Trailer::decode(&t, s.layout.salt)
        .map(|t| t.last_lsn)
        .ok_or_else(|| corrupt_err(s.id, s.len, "sealed segment lost its trailer"))
}

/// Segments up to this length are read whole when only their header and trailer are checked.
const WHOLE_READ_MAX: u64 = 16 << 10;

async fn check_segment<S: SegmentStore>(
    store: &S,
    m: SegmentMeta,
    verify_all: bool,
    is_last: bool,
    expected: Option<(Lsn, SegmentId)>,
    mode: RecoveryMode,
    sink: Option<&mut Sink<'_>>,
) -> Result<Verdict> {
    // A small segment that is checked by header and trailer is read whole: one store read
    // instead of two (a log of many small segments opens in about half the reads).
    let whole = if !verify_all && !is_last && m.len <= WHOLE_READ_MAX {
        Some(store.read(m.id, 0..m.len).await?)
    } else {
        None
    };
    let head = match &whole {
        Some(b) => b.slice(..b.len().min(SEGMENT_HEADER_LEN)),
        None => store.read(m.id, 0..SEGMENT_HEADER_LEN as u64).await?,
    };
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
                torn: None,
            })
        }
        Err(reason) => {
            // A segment's header is synced before any frame is written into it, so bytes
            // behind a bad header prove the header was once good: that is corruption, never
            // an unfinished creation.
            let mut w = Window::new(store, m.id, m.len);
            let empty_behind = m.len <= SEGMENT_HEADER_LEN as u64
                || w.zeros_from(SEGMENT_HEADER_LEN as u64).await?;
            if is_last && empty_behind {
                return Ok(Verdict::Unfinished);
            }
            return Ok(Verdict::Bad {
                offset: 0,
                reason: format!("damaged segment header with data behind it: {reason}"),
                prefix: None,
                torn: None,
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
                torn: None,
            });
        }
    }
    let layout = header.layout();
    let info = |len: u64, sealed: bool| SegInfo {
        id: m.id,
        base: header.base,
        len,
        sealed,
        layout,
    };
    // The newest segment is always scanned: its seal may never have been synced, and a power
    // loss may then keep its trailer while losing an earlier page.
    if !verify_all && !is_last {
        // Not verified in full: a sealed segment is checked by header and trailer only (its
        // frames are checked when read). The trailer must agree with the header: it covers
        // exactly the bytes before it, and its record count ends at its last LSN. Anything
        // else (no trailer, a torn or inconsistent one) is scanned below, which finds where
        // the segment ends or what is wrong with it.
        // One read for the trailer and the frame before it (a possible reset intent).
        let (trailer, before) = if m.len >= (SEGMENT_HEADER_LEN + TRAILER_LEN) as u64 {
            let from = (m.len - TRAILER_LEN as u64)
                .saturating_sub(RESET_FRAME_LEN as u64)
                .max(SEGMENT_HEADER_LEN as u64);
            let b = match &whole {
                // The store returns fewer bytes if the file shrank since it was listed.
                Some(b) => b.slice(usize::try_from(from).map_or(b.len(), |f| f.min(b.len()))..),
                None => store.read(m.id, from..m.len).await?,
            };
            let split = b.len().saturating_sub(TRAILER_LEN);
            (Trailer::decode(&b[split..], header.salt), b.slice(..split))
        } else {
            (None, bytes::Bytes::new())
        };
        if let Some(t) = trailer {
            let agrees = t.body_len.checked_add(TRAILER_LEN as u64) == Some(m.len)
                && t.last_lsn.0.checked_add(1) == header.base.0.checked_add(t.records);
            if agrees {
                let reset = if before.len() == RESET_FRAME_LEN {
                    reset_intent_frame(&before, layout, t.last_lsn)
                } else {
                    None
                };
                return Ok(Verdict::Good(Found {
                    header,
                    info: info(m.len, true),
                    last_lsn: t.last_lsn,
                    records: t.records,
                    body_crc: Some(t.body_crc),
                    skipped: Vec::new(),
                    reset,
                    reset_checked: true,
                    scanned: false,
                    proven: m.len,
                }));
            }
        }
    }
    let skip = mode == RecoveryMode::SkipCorrupted;
    let damage = if is_last {
        Damage::MaybeUnsynced
    } else {
        Damage::Synced
    };
    let scan = scan_segment_into(store, m.id, m.len, &header, damage, skip, sink).await?;
    let sealed = scan.trailer.is_some();
    let found = |len: u64| Found {
        header,
        info: info(len, sealed),
        // A sealed segment ends at its trailer's last LSN (the scan's, unless frames were
        // skipped, and never below it); the next segment starts right after.
        last_lsn: scan.trailer.map_or(scan.last_lsn, |t| t.last_lsn),
        records: scan.records,
        // Only the tail needs it (to seal later); the engine computes it when it seals.
        body_crc: None,
        skipped: scan.skipped.clone(),
        reset: None,
        reset_checked: false,
        scanned: scan.skipped.is_empty(),
        proven: scan.proven_end.min(len),
    };
    // A sealed segment ends with its trailer (the scan allows zeros after it).
    let sealed_len = scan.end + TRAILER_LEN as u64;
    Ok(match (&scan.problem, sealed) {
        (None, true) => Verdict::Good(found(sealed_len)),
        (None, false) if is_last => Verdict::Good(found(scan.end)),
        (None, false) => Verdict::Bad {
            offset: scan.end,
            reason: "segment is not the last one but has no seal trailer".into(),
            prefix: Some((header, found(scan.end))),
            torn: None,
        },
        (Some(_), true) if skip => Verdict::Good(found(sealed_len)),
        (
            Some(Problem::Corrupt {
                resume: Some(_), ..
            }),
            false,
        ) if skip && is_last => {
            // Skipped frames inside the tail; the scan ended cleanly or at a torn tail.
            Verdict::Good(found(scan.end))
        }
        (Some(Problem::Torn { at, zeros, reason }), _) if is_last => Verdict::Bad {
            offset: *at,
            reason: format!("torn tail: {reason}"),
            prefix: Some((header, found(*at))),
            torn: Some(*zeros),
        },
        // The good prefix ends at the first failure, except for a skipping scan, which took
        // the frames after skipped stretches too: it ends after the last frame taken (the
        // stretches stay inside, as in a sealed segment with skips), so a trailer written
        // there counts exactly the frames before it.
        (Some(p), _) => Verdict::Bad {
            offset: p.at(),
            reason: p.reason().to_string(),
            prefix: Some((header, found(if skip { scan.end } else { p.at() }))),
            torn: None,
        },
    })
}
