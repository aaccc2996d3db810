//! `walctl stat`, `verify` and `dump`: read a log, check every segment and the LSN chain
//! between them, and report what is wrong with segment ids and offsets.

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use wal_api::format::state::{decide_state, SlotRead, STATE_SLOTS};
use wal_api::segment::check_segment;
use wal_api::{Error, Lsn, RecoveryMode, SegmentId, Visibility, Wal, WalOptions};
use wal_memory::MemoryStore;

use crate::output::{bytes_bar, human_bytes, payload, print_record};
use crate::source::Source;
use crate::Outcome;

/// Something wrong found in the log.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Problem {
    /// `corrupt` (bad bytes), `gap` (LSNs missing between segments), `unsealed` (a segment
    /// other than the last lacks its seal) or `unreadable` (the bytes could not be read).
    pub(crate) kind: &'static str,
    /// The segment where it shows.
    pub(crate) segment: u64,
    /// Byte offset inside the segment, when it is about bytes.
    pub(crate) offset: Option<u64>,
    /// What is wrong, in words.
    pub(crate) reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(
                f,
                "{}: segment {}, offset {o}: {}",
                self.kind, self.segment, self.reason
            ),
            None => write!(
                f,
                "{}: segment {}: {}",
                self.kind, self.segment, self.reason
            ),
        }
    }
}

/// One segment as `stat` shows it.
#[derive(Debug, Serialize)]
struct Row {
    segment: u64,
    first_lsn: Option<u64>,
    last_lsn: Option<u64>,
    records: Option<u64>,
    bytes: u64,
    /// `sealed`, `active` or `damaged`.
    state: &'static str,
    torn_bytes: u64,
    /// Whether the torn bytes are all zeros (preallocation, or a clean end).
    zero_tail: bool,
}

/// What checking a whole log found.
#[derive(Debug, Default, Serialize)]
struct Analysis {
    segments: Vec<Row>,
    /// The log's durable state (metadata and checkpoint), when it has written one.
    state: Option<StateView>,
    problems: Vec<Problem>,
    records: u64,
    last_lsn: u64,
    bytes: u64,
    ignored: Vec<String>,
}

/// The log's state slots as `stat` shows them: the current one's version and checkpoint, and
/// the metadata keys with their value sizes.
#[derive(Debug, Serialize)]
struct StateView {
    version: u64,
    checkpoint: Option<u64>,
    metadata: Vec<(String, usize)>,
    /// State slots that do not decode (the state came from the other copy; the next open
    /// rewrites them).
    damaged_slots: Vec<u64>,
}

/// Reads the state slots in bounded memory and decides the state with the engine's rule
/// ([`decide_state`]); damaged slots become problems (both damaged: the engine refuses the log
/// in every mode but `SkipCorrupted`).
async fn read_state(src: &Source, problems: &mut Vec<Problem>) -> Option<StateView> {
    let mut reads = [SlotRead::Absent, SlotRead::Absent];
    for (i, id) in STATE_SLOTS.iter().enumerate() {
        if !src.slots().contains(id) {
            continue;
        }
        reads[i] = match src.slot(*id).await {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(*id, e));
                SlotRead::Invalid
            }
        };
    }
    let decision = match decide_state(reads) {
        Ok(d) => d,
        Err(reason) => {
            problems.push(Problem {
                kind: "state",
                segment: STATE_SLOTS[0].0,
                offset: None,
                reason,
            });
            return None;
        }
    };
    let s = decision.state;
    (s.version > 0).then(|| StateView {
        version: s.version,
        checkpoint: s.checkpoint.map(|c| c.0),
        metadata: s.meta.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
        damaged_slots: decision.damaged.iter().map(|d| d.0).collect(),
    })
}

/// Turns an error about segment `id` into a problem.
fn problem(id: SegmentId, e: Error) -> Problem {
    match e {
        Error::Corrupt { offset, reason, .. } => Problem {
            kind: "corrupt",
            segment: id.0,
            offset: Some(offset),
            reason,
        },
        e => Problem {
            kind: "unreadable",
            segment: id.0,
            offset: None,
            reason: e.to_string(),
        },
    }
}

/// Checks one segment's bytes as the last segment of a log may be (torn tail allowed) or
/// as an earlier one must be (sealed, whole). Also checks it continues the LSN chain.
struct Checker {
    prev: Option<(SegmentId, Lsn)>,
}

impl Checker {
    fn check(
        &mut self,
        id: SegmentId,
        bytes: &[u8],
        last: bool,
    ) -> (Row, Vec<Problem>, Option<wal_api::segment::SegmentSummary>) {
        let mut problems = Vec::new();
        let mut row = Row {
            segment: id.0,
            first_lsn: None,
            last_lsn: None,
            records: None,
            bytes: bytes.len() as u64,
            state: "damaged",
            torn_bytes: 0,
            zero_tail: true,
        };
        if last && wal_api::segment::is_unfinished_creation(bytes) {
            // As recovery sees it: removed at the next open, it held nothing.
            row.state = "unfinished creation (removed at open)";
            return (row, problems, None);
        }
        let s = match check_segment(id, &Bytes::copy_from_slice(bytes), last) {
            Ok(s) => s,
            Err(e) => {
                problems.push(problem(id, e));
                self.prev = None;
                return (row, problems, None);
            }
        };
        if s.header.id != id {
            problems.push(Problem {
                kind: "corrupt",
                segment: id.0,
                offset: Some(0),
                reason: format!("the header names segment {}", s.header.id),
            });
        }
        if let Some((pid, plast)) = self.prev {
            if s.header.base != plast.next() {
                problems.push(Problem {
                    kind: "gap",
                    segment: id.0,
                    offset: None,
                    reason: if s.header.base > plast.next() {
                        format!(
                            "segment {} ends at LSN {}, segment {} starts at LSN {}: LSNs \
                             {}..={} are missing",
                            pid.0,
                            plast.0,
                            id.0,
                            s.header.base.0,
                            plast.0 + 1,
                            s.header.base.0 - 1
                        )
                    } else {
                        format!(
                            "segment {} ends at LSN {}, segment {} starts at LSN {}: the \
                             segments overlap",
                            pid.0, plast.0, id.0, s.header.base.0
                        )
                    },
                });
            }
        }
        if !last && s.trailer.is_none() {
            problems.push(Problem {
                kind: "unsealed",
                segment: id.0,
                offset: Some(s.body_len),
                reason: "not the last segment but not sealed".into(),
            });
        }
        row.first_lsn = Some(s.header.base.0);
        row.last_lsn = Some(s.last_lsn.0);
        row.records = Some(s.records);
        row.torn_bytes = s.torn_bytes;
        row.zero_tail = bytes
            .len()
            .checked_sub(s.torn_bytes as usize)
            .and_then(|from| bytes.get(from..))
            .is_some_and(|t| t.iter().all(|&b| b == 0));
        let intent = wal_api::segment::reset_intent(bytes, &s);
        row.state = match (s.trailer.is_some(), intent) {
            (true, Some(_)) => "sealed, reset intent (discarded at the next open)",
            (true, None) => "sealed",
            _ => "active",
        };
        // After a reset intent the next segment starts at the reset LSN.
        self.prev = Some((id, intent.map_or(s.last_lsn, Lsn::prev)));
        (row, problems, Some(s))
    }
}

/// Largest segment the per-segment checks read into memory. A longer one (a sparse or
/// hostile file) is judged by the engine's check alone, which reads in bounded windows.
const MAX_INSPECTED: u64 = 4 << 30;

/// Reads and checks every segment.
async fn analyse(src: &Source) -> Analysis {
    let ids = src.ids();
    let bar = bytes_bar(src.total_bytes(), "checking");
    let mut a = Analysis {
        ignored: src.ignored().to_vec(),
        ..Analysis::default()
    };
    let mut checker = Checker { prev: None };
    for (i, id) in ids.iter().enumerate() {
        // The per-segment table holds a segment in memory; one larger than a segment can
        // usefully be (a sparse or hostile file) is left to the engine's check, which reads in
        // bounded windows and decides the exit code anyway.
        if let Some(len) = src.len(*id).filter(|&l| l > MAX_INSPECTED) {
            a.segments.push(Row {
                segment: id.0,
                first_lsn: None,
                last_lsn: None,
                records: None,
                bytes: len,
                state: "not inspected here (too large to hold; the engine's check covers it)",
                torn_bytes: 0,
                zero_tail: true,
            });
            a.bytes += len;
            checker.prev = None;
            continue;
        }
        let bytes = match src.bytes(*id).await {
            Ok(b) => b,
            Err(e) => {
                a.problems.push(problem(*id, e));
                checker.prev = None;
                continue;
            }
        };
        bar.inc(bytes.len() as u64);
        let (row, problems, summary) = checker.check(*id, &bytes, i + 1 == ids.len());
        if let Some(s) = summary {
            a.records += s.records;
            a.last_lsn = s.last_lsn.0;
        }
        a.bytes += row.bytes;
        a.segments.push(row);
        a.problems.extend(problems);
    }
    bar.finish_and_clear();
    a.state = read_state(src, &mut a.problems).await;
    for bad in src.refused() {
        a.problems.push(Problem {
            kind: "refused",
            segment: 0,
            offset: None,
            reason: bad.clone(),
        });
    }
    a
}

fn json_line(out: &mut dyn Write, v: &impl Serialize) -> Result<(), String> {
    serde_json::to_writer(&mut *out, v).map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| e.to_string())
}

fn outcome(problems: &[Problem]) -> Outcome {
    if problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problem
    }
}

/// `walctl stat`: a table of segments (or JSON); exit 1 when anything is wrong.
pub(crate) async fn stat(src: &Source, json: bool) -> Result<Outcome, String> {
    let mut a = analyse(src).await;
    if let Some(records) = engine_problems(src, &mut a.problems).await? {
        a.records = records;
    }
    let mut out = std::io::stdout().lock();
    if json {
        json_line(&mut out, &a)?;
        return Ok(outcome(&a.problems));
    }
    let mut text = format!(
        "{:>8} {:>12} {:>12} {:>10} {:>10}  state\n",
        "segment", "first LSN", "last LSN", "records", "size"
    );
    let dash = || "-".to_string();
    for r in &a.segments {
        let state = match (r.state, r.torn_bytes) {
            ("active", t) if t > 0 && r.zero_tail => {
                format!("active, {t} preallocated (zero) bytes at the end")
            }
            ("active", t) if t > 0 => format!("active, {t} torn bytes at the end (cut at open)"),
            (s, _) => s.to_string(),
        };
        text.push_str(&format!(
            "{:>8} {:>12} {:>12} {:>10} {:>10}  {state}\n",
            r.segment,
            r.first_lsn.map_or_else(dash, |v| v.to_string()),
            r.last_lsn.map_or_else(dash, |v| v.to_string()),
            r.records.map_or_else(dash, |v| v.to_string()),
            human_bytes(r.bytes),
        ));
    }
    text.push_str(&format!(
        "total: {} segments, {} records, last LSN {}, {}\n",
        a.segments.len(),
        a.records,
        a.last_lsn,
        human_bytes(a.bytes)
    ));
    if let Some(st) = &a.state {
        let keys: Vec<String> = st
            .metadata
            .iter()
            .map(|(k, n)| format!("{k:?} ({})", human_bytes(*n as u64)))
            .collect();
        for d in &st.damaged_slots {
            text.push_str(&format!(
                "state slot {d} does not decode (the other copy holds the state; the next open rewrites it)\n"
            ));
        }
        text.push_str(&format!(
            "state: checkpoint {}, metadata: {}\n",
            st.checkpoint
                .map_or_else(|| "none".to_string(), |c| format!("LSN {c}")),
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        ));
    }
    for p in &a.problems {
        text.push_str(&format!("problem: {p}\n"));
    }
    for name in &a.ignored {
        text.push_str(&format!("ignored: {name}\n"));
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(outcome(&a.problems))
}

/// The verdict of `walctl verify --json`.
#[derive(Serialize)]
struct Verdict<'a> {
    ok: bool,
    segments: usize,
    records: u64,
    last_lsn: u64,
    bytes: u64,
    problems: &'a [Problem],
}

/// The engine's verdict on the log a tool inspects, in the default recovery mode: for a
/// directory or a log on object storage, recovery runs on a dry run (nothing changes) with
/// every sealed segment verified. Problems are added to `problems` when the engine refuses
/// the log (or opens it only by dropping damaged bytes); `None` for an archive, which the
/// segment checks alone judge. Returns the records the engine would hand out.
///
/// An error that says nothing about the log (a failed read, a segment deleted by a running
/// writer between the listing and the read) is returned: the tool cannot judge the log then,
/// and exits 2 rather than calling a healthy log refused.
async fn engine_problems(src: &Source, problems: &mut Vec<Problem>) -> Result<Option<u64>, String> {
    let Some(opened) = src.open_dry(RecoveryMode::TolerateTornTail).await else {
        return Ok(None);
    };
    Ok(match opened {
        Ok(dry) if dry.loses_nothing() => {
            // The engine keeps it whole: what the segment checks called a problem is what
            // recovery repairs on its own (a torn tail), never a refusal.
            problems.retain(|p| p.kind == "state");
            Some(dry.records())
        }
        Ok(_) => None,
        Err(e) if !is_log_problem(&e) => {
            return Err(format!("the log could not be read to judge it: {e}"))
        }
        Err(e) => {
            if problems.is_empty() {
                let (segment, offset) = match &e {
                    Error::Corrupt {
                        segment, offset, ..
                    } => (segment.0, Some(*offset)),
                    _ => (0, None),
                };
                problems.push(Problem {
                    kind: "refused",
                    segment,
                    offset,
                    reason: format!("the engine refuses to open the log: {e}"),
                });
            }
            None
        }
    })
}

/// Whether an error of the engine or a reader is a verdict on the log (exit 1): corruption,
/// a refused argument or layout, or an entry that is not a regular file. Anything else (an
/// I/O failure, a segment that vanished) says nothing about the log (exit 2).
pub(crate) fn is_log_problem(e: &Error) -> bool {
    match e {
        Error::Corrupt { .. } | Error::InvalidArgument(_) => true,
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::InvalidInput,
        _ => false,
    }
}

/// `walctl verify`: every frame, seal and the LSN chain, judged by the engine's own recovery
/// (see [`engine_problems`]); exit 1 when the engine refuses the log.
pub(crate) async fn verify(src: &Source, json: bool) -> Result<Outcome, String> {
    let mut a = analyse(src).await;
    if let Some(records) = engine_problems(src, &mut a.problems).await? {
        a.records = records;
    }
    let mut out = std::io::stdout().lock();
    if json {
        json_line(
            &mut out,
            &Verdict {
                ok: a.problems.is_empty(),
                segments: a.segments.len(),
                records: a.records,
                last_lsn: a.last_lsn,
                bytes: a.bytes,
                problems: &a.problems,
            },
        )?;
    } else if a.problems.is_empty() {
        writeln!(
            out,
            "ok: {} segments, {} records, last LSN {}, {}",
            a.segments.len(),
            a.records,
            a.last_lsn,
            human_bytes(a.bytes)
        )
        .map_err(|e| e.to_string())?;
    } else {
        for p in &a.problems {
            writeln!(out, "CORRUPT: {p}").map_err(|e| e.to_string())?;
        }
    }
    Ok(outcome(&a.problems))
}

/// The good records of one segment: what recovery in
/// [`RecoveryMode::PointInTime`] keeps of it, found by opening the engine on a copy of the
/// segment in memory (so the CLI reads records the way the engine does).
async fn good_records(id: SegmentId, bytes: &Bytes) -> Result<Vec<(Lsn, Bytes)>, Error> {
    let store = MemoryStore::new();
    store.insert_raw(id, bytes.to_vec());
    let opts = WalOptions::default()
        .recovery_mode(RecoveryMode::PointInTime)
        .visibility(Visibility::Written);
    let wal = Wal::open(store, opts).await?;
    let mut out = Vec::new();
    let mut stream = wal.read(wal.first_lsn()..);
    while let Some(r) = stream.next().await {
        let r = r?;
        out.push((r.lsn, r.data));
    }
    Ok(out)
}

/// A record of `walctl dump --json`.
#[derive(Serialize)]
struct JsonRecord<'a> {
    lsn: u64,
    /// The payload, when it is UTF-8 text and `--hex` was not given (JSON escapes keep every
    /// character, so the bytes come back exactly).
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
    /// The payload in hex otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
    /// Append time in microseconds since the Unix epoch, when the frame records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<u64>,
}

impl<'a> JsonRecord<'a> {
    /// A record line that gives back exactly `data`.
    fn new(lsn: Lsn, data: &'a [u8], hex: bool) -> JsonRecord<'a> {
        match std::str::from_utf8(data) {
            Ok(text) if !hex => JsonRecord {
                lsn: lsn.0,
                data: Some(text),
                hex: None,
                time: None,
            },
            _ => JsonRecord {
                lsn: lsn.0,
                data: None,
                hex: Some(payload(data, true)),
                time: None,
            },
        }
    }
}

/// A problem line of `walctl dump --json`.
#[derive(Serialize)]
struct JsonProblem<'a> {
    problem: &'a Problem,
}

/// What `walctl dump` prints: records with `from <= lsn <= to`, appended within
/// `since..=until` (microseconds since the epoch) when given.
pub(crate) struct DumpRange {
    pub(crate) from: Lsn,
    pub(crate) to: Lsn,
    pub(crate) since: Option<u64>,
    pub(crate) until: Option<u64>,
}

/// `walctl dump`: prints the records of `range`. At damage it prints the good records
/// before it, reports the damage and stops; a gap between segments is reported and dumping
/// goes on. Exit 1 when anything was reported.
pub(crate) async fn dump(
    src: &Source,
    range: DumpRange,
    hex: bool,
    json: bool,
) -> Result<Outcome, String> {
    // A log the engine opens whole is dumped as the engine reads it: records after the
    // checkpoint and after any reset, up to the last written one.
    match src.open_dry(RecoveryMode::TolerateTornTail).await {
        Some(Ok(dry)) if dry.loses_nothing() => return dump_engine(&dry, range, hex, json).await,
        // The log may be sound; this run lacks what reading it needs (a key).
        Some(Err(e @ Error::Unreadable { .. })) => {
            return Err(format!("{e} (give the log's keys with --keys)"));
        }
        _ => {}
    }
    if range.since.is_some() || range.until.is_some() {
        return Err(
            "--since/--until need a log the engine opens without loss; `walctl verify` says why this one is not"
                .into(),
        );
    }
    let DumpRange { from, to, .. } = range;
    let ids = src.ids();
    let bar = bytes_bar(src.total_bytes(), "dumping");
    let mut out = std::io::stdout().lock();
    let mut checker = Checker { prev: None };
    let mut found = Vec::new();
    let mut report = |out: &mut dyn Write, p: Problem| -> Result<bool, String> {
        let fatal = p.kind != "gap";
        if json {
            json_line(out, &JsonProblem { problem: &p })?;
        }
        let _ = out.flush();
        eprintln!("walctl: {p}");
        found.push(p);
        Ok(fatal)
    };
    'segments: for (i, id) in ids.iter().enumerate() {
        if let Some(len) = src.len(*id).filter(|&l| l > MAX_INSPECTED) {
            report(
                &mut out,
                Problem {
                    kind: "unreadable",
                    segment: id.0,
                    offset: None,
                    reason: format!(
                        "{len} bytes: too large to dump segment by segment (the engine refuses this log in the default mode)"
                    ),
                },
            )?;
            break;
        }
        let bytes = match src.bytes(*id).await {
            Ok(b) => b,
            Err(e) => {
                report(&mut out, problem(*id, e))?;
                break;
            }
        };
        bar.inc(bytes.len() as u64);
        let (_, problems, _) = checker.check(*id, &bytes, i + 1 == ids.len());
        let (gaps, damage): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.kind == "gap");
        for g in gaps {
            report(&mut out, g)?;
        }
        let records = match good_records(*id, &bytes).await {
            Ok(r) => r,
            Err(e) if damage.is_empty() => {
                report(&mut out, problem(*id, e))?;
                break;
            }
            Err(_) => Vec::new(),
        };
        for (lsn, data) in records.iter().filter(|r| r.0 >= from && r.0 <= to) {
            let w = if json {
                json_line(&mut out, &JsonRecord::new(*lsn, data, hex))
            } else {
                print_record(&mut out, lsn.0, data, hex).map_err(|e| e.to_string())
            };
            w.map_err(|e| format!("writing output: {e}"))?;
        }
        for d in damage {
            if report(&mut out, d)? {
                break 'segments;
            }
        }
    }
    bar.finish_and_clear();
    out.flush().map_err(|e| e.to_string())?;
    Ok(outcome(&found))
}

/// `walctl dump` of a log the engine opens without loss: its records in `from..=to`, read
/// through the engine.
async fn dump_engine(
    dry: &crate::dryrun::Dry,
    range: DumpRange,
    hex: bool,
    json: bool,
) -> Result<Outcome, String> {
    let (mut from, mut to) = (range.from, range.to);
    // Times map to LSNs through the engine's own search (`Wal::lsn_at`).
    let at = |t: u64| async move {
        dry.wal
            .lsn_at(t)
            .await
            .map_err(|e| format!("finding the records of time {t}: {e}"))
    };
    if let Some(since) = range.since {
        match at(since).await? {
            Some(l) => from = from.max(l),
            None => return Err(format!("no record appended at or after {since} µs")),
        }
    }
    if let Some(until) = range.until {
        if let Some(l) = at(until.saturating_add(1)).await? {
            to = to.min(l.prev());
        }
    }
    let mut out = std::io::stdout().lock();
    let (first, last) = (dry.wal.first_lsn(), dry.wal.written_lsn());
    let start = from.max(first);
    if first <= last && (start > to || from > last) {
        // A log with records, none of them in the range: say so rather than print nothing.
        return Err(format!(
            "no record in LSN {from}..={to}: the log holds LSN {first}..={last}"
        ));
    }
    let mut stream = dry.wal.read_with(start..=to, Visibility::Written);
    while let Some(r) = stream.next().await {
        let r = r.map_err(|e| format!("reading LSN {}: {e}", start))?;
        let w = if json {
            let rec = JsonRecord {
                time: r.time,
                ..JsonRecord::new(r.lsn, &r.data, hex)
            };
            json_line(&mut out, &rec)
        } else {
            print_record(&mut out, r.lsn.0, &r.data, hex).map_err(|e| e.to_string())
        };
        w.map_err(|e| format!("writing output: {e}"))?;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Regression: a segment deleted between the listing and the engine's read (a running
    /// writer's prefix truncation) made `verify` report the healthy log as refused (exit 1);
    /// it is a failed read, which says nothing about the log (exit 2).
    #[test]
    fn a_segment_vanishing_under_the_tool_is_not_a_verdict_on_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = wal_fs::FsStore::open_or_create(dir.path()).unwrap();
            let opts = wal_api::WalOptions::default().segment_size(4096);
            let wal = wal_api::Wal::open(store, opts).await.unwrap();
            for i in 0..200u32 {
                wal.append(format!("record {i}").as_bytes()).await.unwrap();
            }
            wal.close().await.unwrap();
        });
        let listing = crate::source::list_dir(dir.path()).unwrap();
        assert!(listing.segments.len() > 2);
        let src = Source::Dir(listing);
        // Healthy as listed.
        let mut problems = Vec::new();
        let got = rt.block_on(engine_problems(&src, &mut problems));
        assert!(matches!(got, Ok(Some(200))), "{got:?}");
        assert!(problems.is_empty());
        // The oldest segment goes before the engine reads it.
        let Source::Dir(l) = &src else { unreachable!() };
        std::fs::remove_file(&l.segments[0].1).unwrap();
        let got = rt.block_on(engine_problems(&src, &mut problems));
        assert!(got.is_err(), "{got:?} {problems:?}");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(rt.block_on(verify(&src, true)).is_err());
    }

    #[test]
    fn corruption_and_refused_entries_are_verdicts_and_io_failures_are_not() {
        assert!(is_log_problem(&Error::corrupt(
            wal_api::SegmentId(1),
            0,
            "bad"
        )));
        let io = |kind| Error::io("reading", None, std::io::Error::from(kind));
        assert!(is_log_problem(&io(std::io::ErrorKind::InvalidInput)));
        assert!(!is_log_problem(&io(std::io::ErrorKind::NotFound)));
        assert!(!is_log_problem(&io(std::io::ErrorKind::PermissionDenied)));
        assert!(!is_log_problem(&Error::NotFound {
            segment: wal_api::SegmentId(3)
        }));
    }
}
