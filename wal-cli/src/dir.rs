//! Read-only view of a log directory: strictly named segment files, nothing else.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use wal_api::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::segment::{check_segment, segment_records, SegmentSummary};
use wal_api::{Error, Lsn, SegmentId};

/// The segment files of a directory, in id order, plus what was ignored.
pub(crate) struct DirLog {
    segments: Vec<(SegmentId, PathBuf)>,
    ignored: Vec<String>,
}

impl DirLog {
    /// Lists `dir`: files named `<20 digits>.wal` are segments; everything else is ignored.
    pub(crate) fn open(dir: &str) -> std::io::Result<DirLog> {
        let mut segments = Vec::new();
        let mut ignored = Vec::new();
        for entry in std::fs::read_dir(Path::new(dir))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name
                .strip_suffix(".wal")
                .and_then(SegmentId::parse_padded)
                .filter(|_| entry.file_type().is_ok_and(|t| t.is_file()));
            match id {
                Some(id) => segments.push((id, entry.path())),
                None => ignored.push(name),
            }
        }
        segments.sort();
        ignored.sort();
        Ok(DirLog { segments, ignored })
    }

    fn read(&self, path: &Path) -> Result<Bytes, Error> {
        std::fs::read(path)
            .map(Bytes::from)
            .map_err(|e| Error::io("reading", None, e))
    }

    fn summaries(&self) -> Vec<(SegmentId, u64, Result<SegmentSummary, Error>)> {
        let n = self.segments.len();
        self.segments
            .iter()
            .enumerate()
            .map(|(i, (id, path))| {
                let r = self.read(path).and_then(|b| {
                    let s = check_segment(*id, &b, i + 1 == n)?;
                    if s.header.id != *id {
                        return Err(Error::corrupt(*id, 0, "header names another segment"));
                    }
                    Ok((b.len() as u64, s))
                });
                match r {
                    Ok((len, s)) => (*id, len, Ok(s)),
                    Err(e) => (*id, 0, Err(e)),
                }
            })
            .collect()
    }

    /// A table of segments.
    pub(crate) fn stat(&self) -> Result<String, Error> {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>8} {:>12} {:>12} {:>10} {:>12}  state",
            "segment", "first LSN", "last LSN", "records", "bytes"
        );
        for (id, len, s) in self.summaries() {
            match s {
                Ok(s) => {
                    let state = match (s.trailer, s.torn_bytes) {
                        (Some(_), _) => "sealed".to_string(),
                        (None, 0) => "active".to_string(),
                        (None, t) => format!("active, {t} torn/zero bytes at the end"),
                    };
                    let _ = writeln!(
                        out,
                        "{:>8} {:>12} {:>12} {:>10} {:>12}  {state}",
                        id.0, s.header.base.0, s.last_lsn.0, s.records, len
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "{:>8} {:>12} {:>12} {:>10} {:>12}  {e}",
                        id.0, "-", "-", "-", "-"
                    );
                }
            }
        }
        for name in &self.ignored {
            let _ = writeln!(out, "ignored: {name}");
        }
        Ok(out)
    }

    /// Checks every segment and the LSN chain between them.
    pub(crate) fn verify(&self) -> Result<String, Error> {
        let mut records = 0u64;
        let mut prev: Option<(SegmentId, Lsn)> = None;
        let n = self.segments.len();
        for (i, (id, _, s)) in self.summaries().into_iter().enumerate() {
            let s = s?;
            if i + 1 < n && s.trailer.is_none() {
                return Err(Error::corrupt(
                    id,
                    s.body_len,
                    "not the last segment but not sealed",
                ));
            }
            if let Some((pid, last)) = prev {
                if s.header.base != last.next() {
                    return Err(Error::corrupt(
                        id,
                        0,
                        format!(
                            "base LSN {} does not follow segment {pid} (last LSN {last})",
                            s.header.base
                        ),
                    ));
                }
            }
            records += s.records;
            prev = Some((id, s.last_lsn));
        }
        Ok(format!(
            "ok: {n} segments, {records} records, last LSN {}",
            prev.map_or(0, |p| p.1 .0)
        ))
    }

    /// The segment files, in id order.
    pub(crate) fn segments(&self) -> &[(SegmentId, PathBuf)] {
        &self.segments
    }

    /// The header of a segment file (reads only its first bytes).
    pub(crate) fn header(&self, id: SegmentId, path: &Path) -> Result<SegmentHeader, Error> {
        use std::io::Read;
        let mut buf = [0u8; SEGMENT_HEADER_LEN];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|e| Error::io("reading a segment header of", Some(id), e))?;
        SegmentHeader::decode(&buf).map_err(|r| Error::corrupt(id, 0, r))
    }

    /// Prints records with `from <= lsn <= to`; returns the LSN of the last one printed.
    pub(crate) fn dump(
        &self,
        from: Lsn,
        to: Lsn,
        hex: bool,
        out: &mut dyn Write,
    ) -> Result<Option<Lsn>, Error> {
        let mut last = None;
        for (i, (id, path)) in self.segments.iter().enumerate() {
            let header = self.header(*id, path)?;
            let next_base = self
                .segments
                .get(i + 1)
                .and_then(|(nid, p)| self.header(*nid, p).ok())
                .map(|h| h.base);
            if header.base > to || next_base.is_some_and(|b| b <= from) {
                continue;
            }
            let bytes = self.read(path)?;
            for r in segment_records(*id, &bytes)? {
                if r.lsn < from || r.lsn > to {
                    continue;
                }
                print_record(out, r.lsn, &r.data, hex)?;
                last = Some(r.lsn);
            }
        }
        Ok(last)
    }
}

/// Prints one record as `LSN<TAB>payload` (escaped text, or hex).
pub(crate) fn print_record(
    out: &mut dyn Write,
    lsn: Lsn,
    data: &[u8],
    hex: bool,
) -> Result<(), Error> {
    let r = if hex {
        let h: String = data.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, "{lsn}\t{h}")
    } else {
        writeln!(
            out,
            "{lsn}\t{}",
            String::from_utf8_lossy(data).escape_debug()
        )
    };
    r.map_err(|e| Error::io("writing output", None, e))
}
