//! `walctl tail`: follows a log directory while a writer appends, reading only the bytes that
//! are new since the last poll.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use wal_api::format::{decode_frame, FrameKind, Layout, SEGMENT_HEADER_LEN};
use wal_api::{Error, Lsn, SegmentId};

use crate::dir::{print_record, DirLog};

/// Where the follower is: a segment, the offset of its next frame and that frame's LSN.
struct At {
    id: SegmentId,
    path: PathBuf,
    off: u64,
    expect: Lsn,
    /// Salt and limits from the segment's header.
    layout: Layout,
}

/// Follows the log in `dir` from LSN `from` on.
pub(crate) struct Follower {
    dir: String,
    from: Lsn,
    hex: bool,
    at: Option<At>,
}

impl Follower {
    pub(crate) fn new(dir: &str, from: Lsn, hex: bool) -> Follower {
        Follower {
            dir: dir.to_string(),
            from,
            hex,
            at: None,
        }
    }

    /// Prints the records that appeared since the last poll; returns how many.
    pub(crate) fn poll(&mut self, out: &mut dyn Write) -> Result<u64, Error> {
        let mut printed = 0;
        loop {
            if self.at.is_none() && !self.seek()? {
                return Ok(printed);
            }
            let Some(at) = self.at.as_mut() else {
                return Ok(printed);
            };
            let bytes = match read_from(&at.path, at.off) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Removed (prefix truncation, quarantine): find the position again.
                    self.from = self.from.max(at.expect);
                    self.at = None;
                    continue;
                }
                Err(e) => return Err(Error::io("reading", Some(at.id), e)),
            };
            let mut pos = 0;
            let mut sealed = false;
            // Stop at the first frame that is not whole yet: the writer is still on it.
            while let Ok(f) = decode_frame(&bytes[pos..], at.layout) {
                if f.kind == FrameKind::Seal {
                    sealed = true;
                    break;
                }
                if f.lsn != at.expect {
                    return Err(Error::corrupt(
                        at.id,
                        at.off + pos as u64,
                        format!("expected LSN {}, found {}", at.expect, f.lsn),
                    ));
                }
                let base = pos + wal_api::format::FRAME_HEADER_LEN;
                for (lsn, r) in f.records() {
                    if lsn >= self.from {
                        print_record(out, lsn, &bytes[base + r.start..base + r.end], self.hex)?;
                        printed += 1;
                    }
                }
                at.expect = f.last_lsn().next();
                pos += f.len();
            }
            at.off += pos as u64;
            if !sealed {
                return Ok(printed);
            }
            // Sealed: go on with the next segment once the writer has created it.
            let log = DirLog::open(&self.dir).map_err(|e| Error::io("listing", None, e))?;
            let Some((id, path)) = log.segments().iter().find(|(id, _)| *id > at.id) else {
                return Ok(printed);
            };
            let header = log.header(*id, path)?;
            if header.base != at.expect {
                return Err(Error::corrupt(
                    *id,
                    0,
                    format!(
                        "base LSN {} does not follow segment {} (last LSN {})",
                        header.base,
                        at.id,
                        at.expect.prev()
                    ),
                ));
            }
            *at = At {
                id: *id,
                path: path.clone(),
                off: SEGMENT_HEADER_LEN as u64,
                expect: header.base,
                layout: header.layout(),
            };
        }
    }

    /// Positions the follower at the segment holding `from` (or the first one after it).
    /// Returns false when the directory holds no segment yet.
    fn seek(&mut self) -> Result<bool, Error> {
        let log = DirLog::open(&self.dir).map_err(|e| Error::io("listing", None, e))?;
        let mut chosen = None;
        for (id, path) in log.segments() {
            let header = log.header(*id, path)?;
            if chosen.is_none() || header.base <= self.from {
                chosen = Some(At {
                    id: *id,
                    path: path.clone(),
                    off: SEGMENT_HEADER_LEN as u64,
                    expect: header.base,
                    layout: header.layout(),
                });
            }
            if header.base > self.from {
                break;
            }
        }
        self.at = chosen;
        Ok(self.at.is_some())
    }
}

/// The bytes of `path` from `off` to its current end.
fn read_from(path: &std::path::Path, off: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(off))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}
