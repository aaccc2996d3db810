//! [`WalOptions`]: everything a log is configured with.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::crypto::KeyProvider;
use crate::format::Compression;
use crate::lsn::Lsn;
use crate::policy::{GroupCommit, SyncPolicy};
use crate::retention::RetentionGate;

/// What recovery does with bytes that fail their checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Cut a torn tail (partial last frame, zero fill) of the last segment and go on; any other
    /// bad byte is an error. The default.
    #[default]
    TolerateTornTail,
    /// Every byte must check out: a torn tail that is not a clean zero fill is an error, and every
    /// sealed segment is verified end to end at open.
    AbsoluteConsistency,
    /// Recover up to the last good record before the first bad byte; segments after it are
    /// quarantined.
    PointInTime,
    /// Skip frames that fail their checks (their LSNs become a gap) and keep everything else.
    /// Every segment is scanned at open. When frames of the last segment are skipped, that
    /// segment is sealed where its good part ends and new records go to a new segment, so
    /// they are never written next to damaged bytes. Finding the next good frame after
    /// damage is a search for a frame whose checksum holds, so use this mode to salvage a
    /// log, not as the everyday one.
    SkipCorrupted,
}

/// Which records readers and tails see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visibility {
    /// Only durable records: a reader never sees a record a crash could take back. The default.
    #[default]
    Durable,
    /// Every written record, durable or not.
    Written,
}

/// Configuration of a [`Wal`](crate::Wal). `Default` is safe: durable group commit,
/// tolerate a torn tail, durable visibility.
///
/// Build it from `WalOptions::default()` with one setter per field; fields stay readable (and
/// assignable), but the struct is `#[non_exhaustive]` so that new options are not breaking
/// changes:
///
/// ```
/// use wal_api::{PerWrite, RecoveryMode, WalOptions};
///
/// let opts = WalOptions::default()
///     .segment_size(8 << 20)
///     .sync_policy(PerWrite)
///     .recovery_mode(RecoveryMode::PointInTime);
/// assert_eq!(opts.segment_size, 8 << 20);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WalOptions {
    /// A segment is sealed and a new one started once it would grow past this many bytes.
    pub segment_size: u64,
    /// Largest single record, in bytes.
    pub max_record_size: u32,
    /// Largest atomic batch payload, in bytes (a batch never spans segments).
    pub max_batch_size: u32,
    /// When the log syncs and when appends are acknowledged.
    pub sync_policy: Arc<dyn SyncPolicy>,
    /// What recovery does with bad bytes.
    pub recovery_mode: RecoveryMode,
    /// Which records readers see by default.
    pub visibility: Visibility,
    /// Encoded frames are gathered in memory up to this many bytes before they are handed to
    /// the store (they always are before a sync, a rotation or a read that needs them).
    pub write_buffer: usize,
    /// Bytes fetched from the store per read request while streaming.
    pub read_chunk: usize,
    /// Under policies that do not sync every append (`Interval`, `Never`), start a background
    /// sync once this many bytes are not yet durable, so bulk writes stream to the disk.
    /// `None` leaves it to the policy and the seal. Default 8 MiB.
    pub write_behind: Option<u64>,
    /// Verify every sealed segment end to end at open (always on for the strict recovery modes).
    pub verify_on_open: bool,
    /// Decides which segments prefix truncation may delete (an archiver plugs in here);
    /// `None` lets it delete any sealed segment.
    pub retention: Option<Arc<dyn RetentionGate>>,
    /// The LSN the first record of a new log takes (default [`Lsn::FIRST`]). Used only when
    /// the store holds no log yet; a log that exists continues where it ends.
    pub first_lsn: Lsn,
    /// How record and batch bodies are compressed (default [`Compression::None`]). A body
    /// is stored compressed only when that makes it smaller; readers always get the
    /// original bytes. The codec's crate feature (`lz4`, `zstd`) must be on.
    pub compression: Compression,
    /// Whether each record and batch frame records its append time (default `true`; 8
    /// bytes per frame). Needed by [`Wal::lsn_at`](crate::Wal::lsn_at) and
    /// [`Record::time`](crate::Record).
    pub timestamps: bool,
    /// Where append times come from (default [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
    /// Encryption at rest (feature `encryption`, see [`crate::crypto`]): new segments are
    /// encrypted with the provider's current key, and records of encrypted segments are read
    /// with the key their header names. `None` (the default): nothing is encrypted, and
    /// encrypted segments cannot be read or appended to.
    pub encryption: Option<Arc<dyn KeyProvider>>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 64 << 20,
            max_record_size: 16 << 20,
            max_batch_size: 64 << 20,
            sync_policy: Arc::new(GroupCommit::default()),
            recovery_mode: RecoveryMode::default(),
            visibility: Visibility::default(),
            write_buffer: 256 << 10,
            read_chunk: 256 << 10,
            write_behind: Some(8 << 20),
            verify_on_open: false,
            retention: None,
            first_lsn: Lsn::FIRST,
            compression: Compression::None,
            timestamps: true,
            clock: Arc::new(SystemClock),
            encryption: None,
        }
    }
}

impl WalOptions {
    /// Sets the segment target size.
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets the largest record size.
    #[must_use]
    pub fn max_record_size(mut self, bytes: u32) -> Self {
        self.max_record_size = bytes;
        self
    }

    /// Sets the sync policy.
    #[must_use]
    pub fn sync_policy(mut self, policy: impl SyncPolicy) -> Self {
        self.sync_policy = Arc::new(policy);
        self
    }

    /// Sets the recovery mode.
    #[must_use]
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// Sets the default read visibility.
    #[must_use]
    pub fn visibility(mut self, v: Visibility) -> Self {
        self.visibility = v;
        self
    }

    /// Sets the retention gate (see [`RetentionGate`]).
    #[must_use]
    pub fn retention(mut self, gate: Arc<dyn RetentionGate>) -> Self {
        self.retention = Some(gate);
        self
    }

    /// Sets the write buffer size.
    #[must_use]
    pub fn write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = bytes;
        self
    }

    /// Sets the write-behind threshold (`None` turns it off).
    #[must_use]
    pub fn write_behind(mut self, bytes: Option<u64>) -> Self {
        self.write_behind = bytes;
        self
    }

    /// Sets the largest atomic batch payload.
    #[must_use]
    pub fn max_batch_size(mut self, bytes: u32) -> Self {
        self.max_batch_size = bytes;
        self
    }

    /// Sets how many bytes a reader fetches from the store at a time.
    #[must_use]
    pub fn read_chunk(mut self, bytes: usize) -> Self {
        self.read_chunk = bytes;
        self
    }

    /// Turns full verification of sealed segments at open on or off.
    #[must_use]
    pub fn verify_on_open(mut self, on: bool) -> Self {
        self.verify_on_open = on;
        self
    }

    /// Starts a new log at `lsn` instead of 1: the first record appended to an empty store
    /// takes `lsn` (for an engine that restores a snapshot taken at `lsn - 1` into a fresh
    /// log). It has no effect on a store that already holds a log. Must not be 0.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use wal_api::{Lsn, Wal, WalOptions};
    /// use wal_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// let wal = Wal::open(store.clone(), WalOptions::default().first_lsn(Lsn(101))).await?;
    /// assert_eq!(wal.append(b"entry 101").await?, Lsn(101));
    /// assert_eq!(wal.first_lsn(), Lsn(101));
    /// wal.close().await?;
    ///
    /// // The log exists now: reopening continues it, whatever `first_lsn` says.
    /// let wal = Wal::open(store, WalOptions::default().first_lsn(Lsn(7))).await?;
    /// assert_eq!(wal.append(b"entry 102").await?, Lsn(102));
    /// # Ok::<(), wal_api::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn first_lsn(mut self, lsn: Lsn) -> Self {
        self.first_lsn = lsn;
        self
    }

    /// Sets the compression of record and batch bodies.
    ///
    /// ```
    /// # #[cfg(feature = "lz4")] {
    /// use wal_api::{Compression, WalOptions};
    /// let opts = WalOptions::default().compression(Compression::Lz4);
    /// assert_eq!(opts.compression, Compression::Lz4);
    /// # }
    /// ```
    #[must_use]
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Turns per-frame append times on or off.
    #[must_use]
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }

    /// Encrypts new segments with `keys` (and reads encrypted ones with them).
    #[must_use]
    pub fn encryption(mut self, keys: Arc<dyn KeyProvider>) -> Self {
        self.encryption = Some(keys);
        self
    }

    /// Sets the clock append times come from.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        if !self.compression.available() {
            return Err(crate::Error::InvalidArgument(format!(
                "compression {:?} needs wal-api's `{}` feature",
                self.compression,
                self.compression.name()
            )));
        }
        if let Some(keys) = &self.encryption {
            if !crate::crypto::available() {
                return Err(crate::Error::InvalidArgument(
                    "encryption needs wal-api's `encryption` feature".into(),
                ));
            }
            if keys.current().0 == 0 {
                return Err(crate::Error::InvalidArgument(
                    "the key provider's current key id is 0, which means \"not encrypted\"".into(),
                ));
            }
        }
        if let Compression::Zstd(level) = self.compression {
            if !(0..=22).contains(&level) {
                return Err(crate::Error::InvalidArgument(format!(
                    "zstd level must be between 0 and 22 (got {level})"
                )));
            }
        }
        let min = (crate::format::SEGMENT_HEADER_LEN + crate::format::TRAILER_LEN) as u64;
        if self.segment_size <= min {
            return Err(crate::Error::InvalidArgument(format!(
                "segment_size must exceed {min} bytes"
            )));
        }
        if self.max_record_size == 0 || self.max_batch_size == 0 {
            return Err(crate::Error::InvalidArgument(
                "max_record_size and max_batch_size must be positive".into(),
            ));
        }
        // Frame lengths are u32 on disk and must fit a segment.
        const MAX_PAYLOAD: u32 = u32::MAX - 64;
        if self.max_record_size > MAX_PAYLOAD || self.max_batch_size > MAX_PAYLOAD {
            return Err(crate::Error::InvalidArgument(format!(
                "max_record_size and max_batch_size must be at most {MAX_PAYLOAD} bytes"
            )));
        }
        const MAX_SEGMENT: u64 = 1 << 50;
        if self.segment_size > MAX_SEGMENT {
            return Err(crate::Error::InvalidArgument(format!(
                "segment_size must be at most {MAX_SEGMENT} bytes"
            )));
        }
        // Buffers are allocated up front or per read: keep them to what a process can hold.
        const MAX_BUFFER: usize = 1 << 30;
        if self.read_chunk == 0 || self.read_chunk > MAX_BUFFER {
            return Err(crate::Error::InvalidArgument(format!(
                "read_chunk must be between 1 and {MAX_BUFFER} bytes"
            )));
        }
        if self.write_buffer > MAX_BUFFER {
            return Err(crate::Error::InvalidArgument(format!(
                "write_buffer must be at most {MAX_BUFFER} bytes"
            )));
        }
        // At least one record must fit: see `Lsn::LAST_START`.
        if self.first_lsn.is_none() || self.first_lsn > crate::Lsn::LAST_START {
            return Err(crate::Error::InvalidArgument(format!(
                "first_lsn must be between 1 and {} (got {}): a record must fit after it",
                crate::Lsn::LAST_START,
                self.first_lsn
            )));
        }
        if self.sync_policy.interval().is_some_and(|p| p.is_zero()) {
            return Err(crate::Error::InvalidArgument(
                "the sync policy's interval must be positive (a zero period would never let the background syncer run)".into(),
            ));
        }
        if self.write_behind == Some(0) {
            return Err(crate::Error::InvalidArgument(
                "write_behind must be positive (or None)".into(),
            ));
        }
        Ok(())
    }
}
