//! The one error type of the log and its backends.

use crate::lsn::{Lsn, SegmentId};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the log or a backend returns. Each variant says what the caller should do.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An earlier sync or write failed; nothing written since is known to be durable.
    /// Close the log and open it again: recovery decides what survived.
    #[error("log is poisoned by an earlier I/O failure ({cause}); close it and reopen to recover")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: String,
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
    #[error("storage full when {op} segment {segment:?}")]
    StorageFull {
        /// Operation that hit the limit.
        op: &'static str,
        /// Segment involved, if any.
        segment: Option<SegmentId>,
    },
    /// An I/O operation of a backend failed.
    #[error("I/O error when {op} segment {segment:?}: {source}")]
    Io {
        /// What was being done (`"appending to"`, `"syncing"`, ...).
        op: &'static str,
        /// Segment involved, if any.
        segment: Option<SegmentId>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
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
    /// A typed record could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// Any other backend failure.
    #[error("{context}: {source}")]
    Other {
        /// What was being done.
        context: String,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// Builds an [`Error::Io`], turning "no space" errors into [`Error::StorageFull`].
    pub fn io(op: &'static str, segment: Option<SegmentId>, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return Error::StorageFull { op, segment };
        }
        Error::Io {
            op,
            segment,
            source,
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
