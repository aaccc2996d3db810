//! [`FsOptions`] and [`SyncMode`]: how an [`FsStore`](crate::FsStore) writes and syncs.

#[cfg(feature = "testing")]
use crate::tracker::DurabilityTracker;

/// How a segment file is made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// `fdatasync(2)` (`File::sync_data`): data and the metadata needed to read it back. The
    /// default.
    #[default]
    DataSync,
    /// `fsync(2)` (`File::sync_all`): data and all metadata.
    FullSync,
    /// Segment files are opened with `O_DSYNC`: every write is durable when it returns, so a
    /// sync has nothing left to do. Linux and macOS only.
    Dsync,
}

/// Which thread runs a segment's `fdatasync`/`fsync` when the log syncs.
///
/// The engine never runs two syncs (or a sync and a seal) of one segment at once, and the
/// store holds a per-file gate across each one as well, so at most one thread per segment
/// waits in the kernel at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncExecution {
    /// [`Inline`](Self::Inline) on a multi-threaded tokio runtime, [`Offload`](Self::Offload)
    /// elsewhere (a current-thread runtime would otherwise stall every task during a sync).
    /// The default.
    #[default]
    Auto,
    /// The sync leader calls the sync on its own runtime worker thread, as a synchronous log
    /// would: that worker runs nothing else for the length of one sync, and the records the
    /// sync covers are acknowledged without a thread hand-off. Measured fastest for durable
    /// appends from few tasks (`bench-fs` W2, 2026-12-03: 0.84 of the ideal group-commit rate
    /// at 16 appenders against 0.67 for `Offload`; at 64 the two are within noise).
    Inline,
    /// The sync runs off the runtime's workers: `block_in_place` on a multi-threaded runtime,
    /// the blocking pool otherwise. Keeps every worker free at the cost of a thread hand-off
    /// per sync.
    Offload,
}

/// Configuration of an [`FsStore`](crate::FsStore). `Default` is the production setting:
/// fdatasync, preallocation on.
///
/// Start from `FsOptions::default()` and use the setters; the struct is `#[non_exhaustive]`,
/// so new options are not breaking changes.
///
/// ```
/// use wal_fs::{FsOptions, SyncMode};
///
/// let opts = FsOptions::default().sync_mode(SyncMode::FullSync).preallocate(false);
/// assert_eq!(opts.sync_mode, SyncMode::FullSync);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FsOptions {
    /// How syncs are done.
    pub sync_mode: SyncMode,
    /// Zero-fill space ahead of the writer so that a durable append overwrites blocks that are
    /// already allocated and sized, and `fdatasync` has no metadata to commit. The zeros are
    /// trimmed on seal and when a writer is dropped; after a crash, recovery treats them as a
    /// clean end of the segment. The fill is extended at most once between two syncs, so a
    /// bulk writer that rarely syncs does not write every byte twice.
    pub preallocate: bool,
    /// Largest step by which preallocation grows a file (it starts at 64 KiB and doubles up to
    /// this).
    pub preallocate_max_step: u64,
    /// Which thread runs syncs ([`SyncExecution::Auto`] by default).
    pub sync_execution: SyncExecution,
    /// Start a new log when the directory is missing or holds none (`false` by default: a
    /// typo or the wrong directory level is [`Error::NoLog`](wal_api::Error::NoLog), and
    /// nothing is created). [`FsStore::open_or_create`](crate::FsStore::open_or_create) sets it.
    pub create_if_missing: bool,
    /// Test support (feature `testing`): records, per segment, the length known durable after
    /// each successful create, sync, seal and cut. Set with [`FsOptions::tracker`].
    #[cfg(feature = "testing")]
    pub(crate) tracker: Option<DurabilityTracker>,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            sync_mode: SyncMode::default(),
            preallocate: true,
            preallocate_max_step: 4 << 20,
            sync_execution: SyncExecution::Auto,
            create_if_missing: false,
            #[cfg(feature = "testing")]
            tracker: None,
        }
    }
}

impl FsOptions {
    /// Sets the sync mode.
    #[must_use]
    pub fn sync_mode(mut self, mode: SyncMode) -> Self {
        self.sync_mode = mode;
        self
    }

    /// Turns preallocation on or off.
    #[must_use]
    pub fn preallocate(mut self, on: bool) -> Self {
        self.preallocate = on;
        self
    }

    /// Sets the largest step by which preallocation grows a file (at least 64 KiB is used).
    #[must_use]
    pub fn preallocate_max_step(mut self, bytes: u64) -> Self {
        self.preallocate_max_step = bytes;
        self
    }

    /// Sets which thread runs syncs.
    #[must_use]
    pub fn sync_execution(mut self, how: SyncExecution) -> Self {
        self.sync_execution = how;
        self
    }

    /// Whether a missing directory, or one holding no log, starts a new log (see
    /// [`FsOptions::create_if_missing`]).
    #[must_use]
    pub fn create_if_missing(mut self, on: bool) -> Self {
        self.create_if_missing = on;
        self
    }

    /// Records durable lengths into `tracker`, so a test can build the image a power loss
    /// would leave (see [`DurabilityTracker`]).
    ///
    /// Only with the `testing` feature, which is meant for tests (enable it in
    /// `[dev-dependencies]`), never for production builds.
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn tracker(mut self, tracker: DurabilityTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }
}
