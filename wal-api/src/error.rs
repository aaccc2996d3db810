//! The one error type of the log and its backends.
//!
//! Every variant keeps what it knows: the segment, the file path where a backend has one, and
//! the error underneath as [`source`](std::error::Error::source) (an I/O error, a codec's
//! error, the failure that poisoned the log), so a caller can walk the whole chain. Display
//! text is meant for people: it names segments by number and never prints Rust debug syntax.
//!
//! `Error` is `Clone` (sources are shared through `Arc`): one failure can reach every task
//! that waited on it.

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
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// An earlier sync or write failed; nothing written since is known to be durable.
    /// Close the log and open it again: recovery decides what survived.
    #[error("log is poisoned: {during} failed earlier ({cause}); close it and reopen to recover")]
    Poisoned {
        /// What the log was doing when it failed (`"syncing"`, `"writing a seal trailer"`, ...).
        during: String,
        /// The failure that poisoned the log, as the call that hit it returned it.
        #[source]
        cause: Arc<Error>,
    },
    /// Bytes on storage fail their checks and are not a torn tail. Inspect or restore the segment;
    /// a different [`RecoveryMode`](crate::RecoveryMode) may open the log anyway.
    #[error("corrupt log: segment {segment}, offset {offset}: {reason}")]
    Corrupt {
        /// Segment holding the bad bytes.
        segment: SegmentId,
        /// Byte offset of the bad frame or header inside the segment.
        offset: u64,
        /// What failed.
        reason: String,
    },
    /// Another writer took over this log; stop writing and hand over.
    #[error("fenced: another writer took over this log ({detail})")]
    Fenced {
        /// What showed the fence.
        detail: String,
    },
    /// The log is already open for writing elsewhere; close the other writer first.
    #[error("log already open by another writer: {what}")]
    AlreadyOpen {
        /// The directory or prefix that is locked.
        what: String,
    },
    /// A record (or atomic batch) is larger than the configured maximum.
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Size of the rejected record or batch payload.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The log was closed; open it again to keep using it.
    #[error("log is closed")]
    Closed,
    /// The storage ran out of space. Free space, then close and reopen the log.
    #[error("storage full when {op}{}", place(.segment, .path))]
    StorageFull {
        /// Operation that hit the limit.
        op: &'static str,
        /// Segment involved, if any.
        segment: Option<SegmentId>,
        /// File or directory involved, where the backend has one.
        path: Option<PathBuf>,
        /// The I/O error that reported it, if one did.
        #[source]
        source: Option<Arc<std::io::Error>>,
    },
    /// An I/O operation of a backend failed.
    #[error("I/O error when {op}{}: {source}", place(.segment, .path))]
    Io {
        /// What was being done (`"appending to"`, `"syncing"`, ...).
        op: &'static str,
        /// Segment involved, if any.
        segment: Option<SegmentId>,
        /// File or directory involved, where the backend has one.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The requested LSNs were removed by prefix truncation; the log now starts at `first`.
    #[error("LSN {requested} is trimmed: the log starts at {first}")]
    Trimmed {
        /// First LSN asked for.
        requested: Lsn,
        /// First LSN still held.
        first: Lsn,
    },
    /// The log was truncated under a reader (suffix truncation); re-read from `lsn`.
    #[error("log was truncated under this reader: records from {lsn} on were discarded")]
    Truncated {
        /// First discarded LSN the reader had not yet consumed.
        lsn: Lsn,
    },
    /// A segment the caller named does not exist.
    #[error("segment {segment} not found")]
    NotFound {
        /// The missing segment.
        segment: SegmentId,
    },
    /// A segment the caller tried to create already exists.
    #[error("segment {segment} already exists")]
    AlreadyExists {
        /// The existing segment.
        segment: SegmentId,
    },
    /// An argument is out of range or inconsistent; the message says which.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The backend does not support this operation.
    #[error("not supported by this store: {0}")]
    Unsupported(&'static str),
    /// The operation would change or drop a segment that is archived, or drop one that is not
    /// archived yet; archive first, or restore from the archive.
    #[error("segment {segment} is held by the archive: {detail}")]
    Archived {
        /// The segment concerned.
        segment: SegmentId,
        /// What was refused.
        detail: String,
    },
    /// A typed record could not be encoded or decoded (see [`Error::codec`]).
    #[error("codec error{}: {source}", at_lsn(.lsn))]
    Codec {
        /// The record that failed to decode, when the log knows it.
        lsn: Option<Lsn>,
        /// The codec's own error.
        #[source]
        source: SharedError,
    },
    /// Any other backend failure (see [`Error::other`]).
    #[error("{context}: {source}")]
    Other {
        /// What was being done.
        context: String,
        /// The backend's own error.
        #[source]
        source: SharedError,
    },
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

    /// Whether this error means bytes on storage are corrupt.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}
