//! `walctl stat`, `verify` and `dump`: read a log, check every segment and the LSN chain
//! between them, and report what is wrong with segment ids and offsets.

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use wal_api::format::state::LogState;
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
}

/// Reads the state slots the way recovery does: the valid one with the higher version.
async fn read_state(src: &Source) -> Option<StateView> {
    let mut best: Option<LogState> = None;
    for id in src.slots() {
        let Ok(bytes) = src.bytes(id).await else {
            continue;
        };
        if let Some(s) = LogState::decode_slot(id, &bytes) {
            if best.as_ref().is_none_or(|b| s.version > b.version) {
                best = Some(s);
            }
        }
    }
    best.map(|s| StateView {
        version: s.version,
        checkpoint: s.checkpoint.map(|c| c.0),
        metadata: s.meta.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
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
                    reason: format!(
                        "segment {} ends at LSN {}, segment {} starts at LSN {}: LSNs {}..{} \
                         are missing",
                        pid.0,
                        plast.0,
                        id.0,
                        s.header.base.0,
                        plast.0 + 1,
                        s.header.base.0
                    ),
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
    a.state = read_state(src).await;
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
    let a = analyse(src).await;
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
            ("active", t) if t > 0 => format!("active, {} torn/zero bytes at the end", t),
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

/// `walctl verify`: every frame, seal and the LSN chain; exit 1 on any problem.
pub(crate) async fn verify(src: &Source, json: bool) -> Result<Outcome, String> {
    let a = analyse(src).await;
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
    /// Payload as escaped text, or hex with `--hex`.
    data: &'a str,
}

/// A problem line of `walctl dump --json`.
#[derive(Serialize)]
struct JsonProblem<'a> {
    problem: &'a Problem,
}

/// `walctl dump`: prints records with `from <= lsn <= to`. At damage it prints the good
/// records before it, reports the damage and stops; a gap between segments is reported and
/// dumping goes on. Exit 1 when anything was reported.
pub(crate) async fn dump(
    src: &Source,
    from: Lsn,
    to: Lsn,
    hex: bool,
    json: bool,
) -> Result<Outcome, String> {
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
                json_line(
                    &mut out,
                    &JsonRecord {
                        lsn: lsn.0,
                        data: &payload(data, hex),
                    },
                )
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
