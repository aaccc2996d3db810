//! `walctl tail`: follows a log directory while a writer appends, reading only the bytes that
//! are new since the last poll.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wal_api::format::{
    decode_frame, FrameError, FrameKind, Layout, SegmentHeader, SEGMENT_HEADER_LEN,
};
use wal_api::{Error, Lsn, SegmentId};

use crate::output::print_record;
use crate::source::{list_dir, open_regular};

/// How long a frame that fails its checks may stay so before it counts as corruption. A
/// reader can catch a frame the writer is still writing (into preallocated zeros, it then
/// fails its checksum rather than looking incomplete); a writer finishes a frame in one
/// write, so a frame still bad this long after it was first seen is damage.
const SUSPECT_GRACE: Duration = Duration::from_millis(500);

/// Where the follower is: a segment, the offset of its next frame and that frame's LSN.
struct At {
    id: SegmentId,
    path: PathBuf,
    off: u64,
    expect: Lsn,
    /// Salt and limits from the segment's header.
    layout: Layout,
}

/// A frame that failed its checks: where, why, and since when.
struct Suspect {
    id: SegmentId,
    off: u64,
    reason: String,
    since: Instant,
}

/// Follows the log in `dir` from LSN `from` on.
pub(crate) struct Follower {
    dir: String,
    from: Lsn,
    hex: bool,
    at: Option<At>,
    suspect: Option<Suspect>,
}

impl Follower {
    pub(crate) fn new(dir: &str, from: Lsn, hex: bool) -> Follower {
        Follower {
            dir: dir.to_string(),
            from,
            hex,
            at: None,
            suspect: None,
        }
    }

    /// A frame that has failed its checks for longer than a writer needs to finish one, as
    /// corruption; `now` ends the grace period at once (the follower is about to stop).
    pub(crate) fn damage(&self, now: bool) -> Option<Error> {
        let s = self.suspect.as_ref()?;
        (now || s.since.elapsed() >= SUSPECT_GRACE)
            .then(|| Error::corrupt(s.id, s.off, s.reason.clone()))
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
            // Stop at the first frame that is not whole yet: the writer is still on it. A
            // frame that fails its checks is suspect until it stays so (see `damage`).
            loop {
                let f = match decode_frame(&bytes[pos..], at.layout) {
                    Ok(f) => f,
                    Err(FrameError::Invalid(reason)) => {
                        let off = at.off + pos as u64;
                        let same = self
                            .suspect
                            .as_ref()
                            .is_some_and(|s| s.id == at.id && s.off == off);
                        if !same {
                            self.suspect = Some(Suspect {
                                id: at.id,
                                off,
                                reason,
                                since: Instant::now(),
                            });
                        }
                        break;
                    }
                    Err(FrameError::Incomplete | FrameError::Zero) => {
                        self.suspect = None;
                        break;
                    }

                    Err(FrameError::Unsupported(reason)) => {
                        return Err(Error::corrupt(
                            at.id,
                            at.off + pos as u64,
                            format!("unreadable frame: {reason}"),
                        ));
                    }
                };
                self.suspect = None;
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
                let off = at.off + pos as u64;
                // Encrypted frames need the key of `--keys`; without it the tool cannot read
                // them (exit 2), which says nothing against the log.
                let key = crate::dryrun::key_for(at.layout.key_id);
                let body = f
                    .body_with(key.as_ref())
                    .map_err(|e| Error::frame_body(at.id, off, e))?;
                for (lsn, r) in body.records() {
                    if lsn >= self.from {
                        print_record(out, lsn.0, &body.bytes()[r], self.hex)
                            .map_err(|e| Error::io("writing output", None, e))?;
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
            let log = list_dir(Path::new(&self.dir)).map_err(|e| Error::io("listing", None, e))?;
            let Some((id, path)) = log.segments.iter().find(|(id, _)| *id > at.id) else {
                return Ok(printed);
            };
            let header = header(*id, path)?;
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
        let log = list_dir(Path::new(&self.dir)).map_err(|e| Error::io("listing", None, e))?;
        let mut chosen = None;
        for (id, path) in &log.segments {
            let header = header(*id, path)?;
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

/// The header of a segment file (reads only its first bytes).
fn header(id: SegmentId, path: &Path) -> Result<SegmentHeader, Error> {
    let mut buf = [0u8; SEGMENT_HEADER_LEN];
    open_regular(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::io("reading a segment header of", Some(id), e))?;
    SegmentHeader::decode(&buf).map_err(|r| Error::corrupt(id, 0, r))
}

/// The bytes of `path` from `off` to its current end. Anything but a regular file (a FIFO
/// put in place of a segment, say) is an error, never a blocking read.
fn read_from(path: &Path, off: u64) -> std::io::Result<Vec<u8>> {
    let mut f = open_regular(path)?;
    f.seek(SeekFrom::Start(off))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}
