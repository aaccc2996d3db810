//! The one error type of the log and its backends.
//!
//! Every variant keeps what it knows: the segment, the file path where a backend has one, and
//! the error underneath as [`source`](std::error::Error::source) (an I/O error, a codec's
//! error, the failure that poisoned the log), so a caller can walk the whole chain. Display
//! text is meant for people: it names segments by number and never prints Rust debug syntax.
//!
//! `Error` is `Clone` (sources are shared through `Arc`): one failure can reach every task
//! that waited on it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::lsn::{Lsn, SegmentId};

/// A boxed error of any type, as backends and codecs produce them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of any type, shared (see [`Error::Codec`] and [`Error::Other`]).
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the log or a backend returns. Each variant says what the caller should do.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum Error {
    /// An earlier sync or write failed; nothing written since is known to be durable.
    /// Close the log and open it again: recovery decides what survived.
    Poisoned {
        /// What the log was doing when it failed (`"syncing"`, `"writing a seal trailer"`, ...).
        during: String,
        /// The failure that poisoned the log, as the call that hit it returned it.
        cause: Arc<Error>,
    },
    /// Bytes on storage fail their checks and are not a torn tail. Inspect or restore the segment;
    /// a different [`RecoveryMode`](crate::RecoveryMode) may open the log anyway.
    Corrupt {
        /// Segment holding the bad bytes.
        segment: SegmentId,
        /// Byte offset of the bad frame or header inside the segment.
        offset: u64,
        /// What failed.
        reason: String,
    },
    /// A frame whose checksum holds but that this build cannot interpret: compressed with a
    /// codec whose crate feature is off, or a kind or flag of a newer format. The bytes are
    /// intact; read them with a build that has the feature (or a newer release).
    Unreadable {
        /// Segment holding the frame.
        segment: SegmentId,
        /// Byte offset of the frame inside the segment.
        offset: u64,
        /// What this build lacks.
        reason: String,
    },
    /// Another writer took over this log; stop writing and hand over.
    Fenced {
        /// What showed the fence.
        detail: String,
    },
    /// The log is already open for writing elsewhere; close the other writer first.
    AlreadyOpen {
        /// The directory or prefix that is locked.
        what: String,
    },
    /// The place a log was to be opened from holds no log (a typo, or the wrong directory
    /// level); nothing was created. Check the path, or ask for a new log explicitly (for the
    /// filesystem backend, `FsStore::open_or_create`).
    NoLog {
        /// The path or prefix.
        path: String,
        /// What was found there instead ("nothing", or the entries).
        found: String,
    },
    /// A record (or atomic batch) is larger than the configured maximum.
    RecordTooLarge {
        /// Size of the rejected record or batch payload.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The log was closed; open it again to keep using it.
    Closed,
    /// The storage ran out of space. Free space, then close and reopen the log.
    StorageFull {
        /// Operation that hit the limit.
        op: &'static str,
        /// Segment involved, if any.
        segment: Option<SegmentId>,
        /// File or directory involved, where the backend has one.
        path: Option<PathBuf>,
        /// The I/O error that reported it, if one did.
        source: Option<Arc<std::io::Error>>,
    },
    /// An I/O operation of a backend failed.
    Io {
        /// What was being done (`"appending to"`, `"syncing"`, ...).
        op: &'static str,
        /// Segment involved, if any.
        segment: Option<SegmentId>,
        /// File or directory involved, where the backend has one.
        path: Option<PathBuf>,
        /// The underlying error.
        source: Arc<std::io::Error>,
    },
    /// The requested LSNs were removed by prefix truncation; the log now starts at `first`.
    Trimmed {
        /// First LSN asked for.
        requested: Lsn,
        /// First LSN still held.
        first: Lsn,
    },
    /// The log was truncated under a reader (suffix truncation); re-read from `lsn`.
    Truncated {
        /// First discarded LSN the reader had not yet consumed.
        lsn: Lsn,
    },
    /// A segment the caller named does not exist.
    NotFound {
        /// The missing segment.
        segment: SegmentId,
    },
    /// A segment the caller tried to create already exists.
    AlreadyExists {
        /// The existing segment.
        segment: SegmentId,
    },
    /// An argument is out of range or inconsistent; the message says which.
    InvalidArgument(String),
    /// The backend does not support this operation.
    Unsupported(&'static str),
    /// The operation would change or drop a segment that is archived, or drop one that is not
    /// archived yet; archive first, or restore from the archive.
    Archived {
        /// The segment concerned.
        segment: SegmentId,
        /// What was refused.
        detail: String,
    },
    /// A typed record could not be encoded or decoded (see [`Error::codec`]).
    Codec {
        /// The record that failed to decode, when the log knows it.
        lsn: Option<Lsn>,
        /// The codec's own error.
        source: SharedError,
    },
    /// Any other backend failure (see [`Error::other`]).
    Other {
        /// What was being done.
        context: String,
        /// The backend's own error.
        source: SharedError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Poisoned { during, cause } => write!(
                f,
                "log is poisoned: {during} failed earlier ({cause}); close it and reopen to recover"
            ),
            Error::Corrupt {
                segment,
                offset,
                reason,
            } if crate::format::state::is_state_slot(*segment) => {
                let n = if *segment == crate::format::state::STATE_SLOTS[0] {
                    "a"
                } else {
                    "b"
                };
                write!(
                    f,
                    "corrupt log: state slot {n} (id {segment}), offset {offset}: {reason}"
                )
            }
            Error::Corrupt {
                segment,
                offset,
                reason,
            } => write!(
                f,
                "corrupt log: segment {segment}, offset {offset}: {reason}"
            ),
            Error::Unreadable {
                segment,
                offset,
                reason,
            } => write!(
                f,
                "unreadable frame: segment {segment}, offset {offset}: {reason}"
            ),
            Error::Fenced { detail } => {
                write!(f, "fenced: another writer took over this log ({detail})")
            }
            Error::AlreadyOpen { what } => write!(f, "log already open by another writer: {what}"),
            Error::NoLog { path, found } => write!(
                f,
                "no log at {path} (found {found}); check the path, or create a new log there explicitly"
            ),
            Error::RecordTooLarge { size, max } => {
                write!(
                    f,
                    "record of {size} bytes exceeds the maximum of {max} bytes"
                )
            }
            Error::Closed => f.write_str("log is closed"),
            Error::StorageFull {
                op, segment, path, ..
            } => write!(f, "storage full when {op}{}", place(segment, path)),
            Error::Io {
                op,
                segment,
                path,
                source,
            } => write!(f, "I/O error when {op}{}: {source}", place(segment, path)),
            Error::Trimmed { requested, first } => {
                write!(f, "LSN {requested} is trimmed: the log starts at {first}")
            }
            Error::Truncated { lsn } => write!(
                f,
                "log was truncated under this reader: records from {lsn} on were discarded"
            ),
            Error::NotFound { segment } => write!(f, "segment {segment} not found"),
            Error::AlreadyExists { segment } => write!(f, "segment {segment} already exists"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::Unsupported(what) => write!(f, "not supported by this store: {what}"),
            Error::Archived { segment, detail } => {
                write!(f, "segment {segment} is held by the archive: {detail}")
            }
            Error::Codec { lsn, source } => write!(f, "codec error{}: {source}", at_lsn(lsn)),
            Error::Other { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

/// The source is the shared error itself (an `io::Error`, the codec's own error, the
/// [`Error`] that poisoned the log), not the `Arc` around it, so `downcast_ref` on it works.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Poisoned { cause, .. } => Some(&**cause),
            Error::Io { source, .. } => Some(&**source),
            Error::StorageFull { source, .. } => source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            Error::Codec { source, .. } | Error::Other { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// `" segment 3 (/var/wal/…3.wal)"`, `" segment 3"`, `" /var/wal"` or nothing.
fn place(segment: &Option<SegmentId>, path: &Option<PathBuf>) -> String {
    match (segment, path) {
        (Some(id), Some(p)) => format!(" segment {id} ({})", p.display()),
        (Some(id), None) => format!(" segment {id}"),
        (None, Some(p)) => format!(" {}", p.display()),
        (None, None) => String::new(),
    }
}

fn at_lsn(lsn: &Option<Lsn>) -> String {
    lsn.map(|l| format!(" in the record at LSN {l}"))
        .unwrap_or_default()
}

impl Error {
    /// Builds an [`Error::Io`], turning "no space" errors into [`Error::StorageFull`]. Add the
    /// file it concerns with [`with_path`](Self::with_path).
    pub fn io(op: &'static str, segment: Option<SegmentId>, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return Error::StorageFull {
                op,
                segment,
                path: None,
                source: Some(Arc::new(source)),
            };
        }
        Error::Io {
            op,
            segment,
            path: None,
            source: Arc::new(source),
        }
    }

    /// Builds an [`Error::StorageFull`] that no I/O error reported (a quota of the backend).
    pub fn storage_full(op: &'static str, segment: Option<SegmentId>) -> Error {
        Error::StorageFull {
            op,
            segment,
            path: None,
            source: None,
        }
    }

    /// Names the file or directory an [`Error::Io`] or [`Error::StorageFull`] concerns; any
    /// other error is returned unchanged.
    ///
    /// ```
    /// use wal_api::{Error, SegmentId};
    ///
    /// let e = Error::io("syncing", Some(SegmentId(9)), std::io::Error::other("disk gone"))
    ///     .with_path("/var/wal/00000000000000000009.wal");
    /// assert_eq!(
    ///     e.to_string(),
    ///     "I/O error when syncing segment 9 (/var/wal/00000000000000000009.wal): disk gone"
    /// );
    /// ```
    #[must_use]
    pub fn with_path(mut self, at: impl AsRef<Path>) -> Error {
        if let Error::Io { path, .. } | Error::StorageFull { path, .. } = &mut self {
            *path = Some(at.as_ref().to_path_buf());
        }
        self
    }

    /// Builds an [`Error::Codec`] from a codec's error (or a message: `&str` and `String`
    /// convert).
    pub fn codec(source: impl Into<BoxError>) -> Error {
        Error::Codec {
            lsn: None,
            source: Arc::from(source.into()),
        }
    }

    /// Builds an [`Error::Other`]: `context` says what was being done, `source` is the
    /// backend's own error.
    pub fn other(context: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Other {
            context: context.into(),
            source: Arc::from(source.into()),
        }
    }

    /// Builds an [`Error::Corrupt`].
    pub fn corrupt(segment: SegmentId, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            segment,
            offset,
            reason: reason.into(),
        }
    }

    /// The error for a frame at `offset` in `segment` whose body cannot be read: damage
    /// ([`Error::Corrupt`]) or something this build lacks ([`Error::Unreadable`]).
    pub fn frame_body(segment: SegmentId, offset: u64, e: crate::format::FrameError) -> Error {
        match e {
            crate::format::FrameError::Unsupported(reason) => Error::Unreadable {
                segment,
                offset,
                reason,
            },
            other => Error::corrupt(segment, offset, other.to_string()),
        }
    }

    /// Whether this error means bytes on storage are corrupt.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// One of every variant, with and without the optional parts.
    fn every_variant() -> Vec<Error> {
        let io = || std::io::Error::other("disk gone");
        vec![
            Error::Poisoned {
                during: "syncing".into(),
                cause: Arc::new(Error::io("syncing", Some(SegmentId(9)), io())),
            },
            Error::corrupt(SegmentId(9), 64, "bad checksum"),
            Error::Fenced {
                detail: "epoch 3 exists".into(),
            },
            Error::AlreadyOpen {
                what: "/var/wal".into(),
            },
            Error::NoLog {
                path: "/var/wal".into(),
                found: "nothing".into(),
            },
            Error::RecordTooLarge { size: 10, max: 5 },
            Error::Closed,
            Error::storage_full("appending to", Some(SegmentId(9))),
            Error::storage_full("creating", None),
            Error::io("appending to", Some(SegmentId(9)), io()),
            Error::io("listing", None, io()),
            Error::io("listing", None, io()).with_path("/var/wal"),
            Error::Trimmed {
                requested: Lsn(3),
                first: Lsn(10),
            },
            Error::Truncated { lsn: Lsn(4) },
            Error::NotFound {
                segment: SegmentId(9),
            },
            Error::AlreadyExists {
                segment: SegmentId(9),
            },
            Error::InvalidArgument("x".into()),
            Error::Unsupported("quarantine"),
            Error::Archived {
                segment: SegmentId(9),
                detail: "archived".into(),
            },
            Error::codec("bad varint"),
            Error::other("checking a segment", io()),
        ]
    }

    #[test]
    fn display_never_shows_rust_debug_syntax() {
        for e in every_variant() {
            let text = e.to_string();
            for debug in ["Some(", "None", "SegmentId(", "Lsn(", "{ ", "\""] {
                assert!(!text.contains(debug), "{text:?} contains {debug:?}");
            }
        }
    }

    #[test]
    fn io_error_names_segment_and_path_and_keeps_the_io_error() {
        let e = Error::io(
            "syncing",
            Some(SegmentId(9)),
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        )
        .with_path("/var/wal/00000000000000000009.wal");
        assert_eq!(
            e.to_string(),
            "I/O error when syncing segment 9 (/var/wal/00000000000000000009.wal): denied"
        );
        let io = e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the source is the io::Error itself");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            Error::io("listing", None, std::io::Error::other("gone")).to_string(),
            "I/O error when listing: gone"
        );
    }

    #[test]
    fn no_space_becomes_storage_full_with_its_io_error() {
        let e = Error::io(
            "appending to",
            Some(SegmentId(2)),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        )
        .with_path("/w/2.wal");
        assert!(matches!(e, Error::StorageFull { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "storage full when appending to segment 2 (/w/2.wal)"
        );
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(|e| e.kind()), Some(std::io::ErrorKind::StorageFull));
        assert!(Error::storage_full("creating", None).source().is_none());
        // with_path leaves other variants alone.
        assert!(matches!(Error::Closed.with_path("/x"), Error::Closed));
    }

    #[test]
    fn poisoned_keeps_the_first_failure_as_its_source_chain() {
        let first = Error::io("syncing", Some(SegmentId(3)), std::io::Error::other("EIO"));
        let e = Error::Poisoned {
            during: "syncing".into(),
            cause: Arc::new(first.clone()),
        };
        assert_eq!(
            e.to_string(),
            "log is poisoned: syncing failed earlier (I/O error when syncing segment 3: EIO); \
             close it and reopen to recover"
        );
        let cause = e.source().expect("poison keeps its cause");
        let cause = cause
            .downcast_ref::<Error>()
            .expect("the cause is the log's Error");
        assert!(
            matches!(cause, Error::Io { op: "syncing", .. }),
            "{cause:?}"
        );
        let io = cause.source().expect("and the cause keeps its io::Error");
        assert_eq!(io.to_string(), "EIO");
        assert!(io.source().is_none());
    }

    #[test]
    fn codec_and_other_keep_the_original_error() {
        let e = Error::other("checking segment 4", std::io::Error::other("lost"));
        assert_eq!(e.to_string(), "checking segment 4: lost");
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some());
        let e = Error::codec("bad varint");
        assert_eq!(e.to_string(), "codec error: bad varint");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("bad varint")
        );
        let at = Error::Codec {
            lsn: Some(Lsn(7)),
            source: Arc::from(BoxError::from("short read")),
        };
        assert_eq!(
            at.to_string(),
            "codec error in the record at LSN 7: short read"
        );
    }
}
