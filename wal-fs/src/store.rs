//! [`FsStore`]: the segment files of one directory.

use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};

use crate::options::SyncExecution;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::format::state::is_state_slot;
use wal_api::{Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter};

use crate::options::{FsOptions, SyncMode};
use crate::writer::{FsWriter, WriterState};

/// Name of the lock file inside a log directory.
pub const LOCK_FILE: &str = "wal.lock";
/// Name of the subdirectory corrupt segments are moved into.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Suffix of segment files: `<20-digit zero-padded id>.wal`.
pub const SEGMENT_SUFFIX: &str = ".wal";

/// `O_DSYNC` for `OpenOptionsExt::custom_flags` (std exposes no constant; the values come from
/// the platforms' `fcntl.h`: Linux's asm-generic and x86 headers agree on `0o10000`).
#[cfg(target_os = "linux")]
const O_DSYNC: i32 = 0o10000;
#[cfg(target_os = "macos")]
const O_DSYNC: i32 = 0x40_0000;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const O_DSYNC: i32 = 0;

/// `O_NOFOLLOW`: the lock file is never opened through a symbolic link (values from the
/// platforms' `fcntl.h`).
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_NOFOLLOW: i32 = 0o100000;
#[cfg(all(
    target_os = "linux",
    not(any(target_arch = "aarch64", target_arch = "arm"))
))]
const O_NOFOLLOW: i32 = 0o400000;
#[cfg(target_os = "macos")]
const O_NOFOLLOW: i32 = 0x100;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const O_NOFOLLOW: i32 = 0;

/// A [`SegmentStore`] keeping one file per segment in a directory.
///
/// - Segment files are named `<SegmentId::padded()>.wal` and parsed strictly; anything else in
///   the directory is ignored (never opened, never followed) and reported by
///   [`foreign_files`](Self::foreign_files).
/// - Creating, deleting and quarantining a segment fsyncs the directory before returning.
/// - Files are created `0600`, directories `0700`.
/// - One writer per directory: [`open`](Self::open) takes an exclusive lock on `wal.lock`
///   (`File::try_lock`); a second open, in this process or another, fails at once with
///   [`Error::AlreadyOpen`]. The lock is held while any clone of the store or any of its
///   writers lives, and the kernel frees it when the process exits or is killed.
/// - Opening makes what the directory already holds durable (the directory and the segment
///   files a crashed writer may have left unsynced are fsynced), so records recovery finds
///   after a process crash cannot be taken back by a later power loss.
/// - Corrupt segments are moved into `quarantine/` with a `.reason` file, never deleted.
///
/// Clones share the directory and the lock.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use wal_api::{Wal, WalOptions};
/// use wal_fs::FsStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let wal = Wal::open(FsStore::open_or_create(dir.path())?, WalOptions::default()).await?;
/// wal.append(b"hello").await?; // durable (fdatasync) when it returns
/// wal.close().await?;
/// drop(wal);
/// // Later: `open` opens only a directory that holds a log.
/// let wal = Wal::open(FsStore::open(dir.path())?, WalOptions::default()).await?;
/// assert_eq!(wal.written_lsn().0, 1);
/// # Ok::<(), wal_api::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct FsStore {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) opts: FsOptions,
    /// Writers of open (unsealed) segments: `list` and `read` use their logical length, which
    /// excludes preallocated zeros.
    pub(crate) open: Mutex<HashMap<SegmentId, Arc<WriterState>>>,
    /// The locked `wal.lock`, held until [`SegmentStore::close`] or the last clone drops.
    lock: Mutex<Option<File>>,
    /// Set by [`SegmentStore::close`]: the lock is released, nothing more may change.
    closed: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn open_writers(&self) -> MutexGuard<'_, HashMap<SegmentId, Arc<WriterState>>> {
        match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub(crate) fn segment_path(&self, id: SegmentId) -> PathBuf {
        self.dir.join(segment_file_name(id))
    }

    /// `Err(Closed)` once the store was closed (its lock released).
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The quarantine directory, created if needed; never a symbolic link or anything else
    /// that would lead writes out of the log directory.
    fn quarantine_dir(&self, id: SegmentId) -> Result<PathBuf> {
        let qdir = self.dir.join(QUARANTINE_DIR);
        match std::fs::symlink_metadata(&qdir) {
            Ok(m) if m.is_dir() => Ok(qdir),
            Ok(_) => Err(Error::InvalidArgument(format!(
                "{} is not a directory (a symbolic link or a file): recovery will not move                  segments through it; remove it or replace it with a directory",
                qdir.display()
            ))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                DirBuilder::new()
                    .mode(0o700)
                    .create(&qdir)
                    .map_err(io("quarantining", Some(id), &qdir))?;
                sync_dir(&self.dir).map_err(io("quarantining", Some(id), &self.dir))?;
                Ok(qdir)
            }
            Err(e) => Err(Error::io("quarantining", Some(id), e).with_path(&qdir)),
        }
    }

    fn logical_len(&self, id: SegmentId) -> Option<u64> {
        self.open_writers()
            .get(&id)
            .map(|w| w.len.load(Ordering::SeqCst))
    }

    fn segment_options(&self) -> OpenOptions {
        let mut o = OpenOptions::new();
        o.read(true).write(true).mode(0o600);
        if self.opts.sync_mode == SyncMode::Dsync {
            o.custom_flags(O_DSYNC);
        }
        o
    }
}

/// The file name of segment `id`.
pub fn segment_file_name(id: SegmentId) -> String {
    format!("{}{SEGMENT_SUFFIX}", id.padded())
}

/// Parses a segment file name strictly (`<20 digits>.wal`).
pub fn parse_segment_file_name(name: &str) -> Option<SegmentId> {
    SegmentId::parse_padded(name.strip_suffix(SEGMENT_SUFFIX)?)
}

/// Maps an I/O error of `op` on `path` (concerning segment `id`, if any).
fn io<'a>(
    op: &'static str,
    id: Option<SegmentId>,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, id, e).with_path(path)
}

/// fsyncs a directory, making creates, renames and deletes in it durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Runs blocking file work (fsync, cuts, renames) without stalling the runtime: on a
/// multi-threaded runtime with `tokio::task::block_in_place` (the worker hands its other tasks
/// to another thread and runs `f` itself, avoiding a thread hop on the sync path), elsewhere
/// on tokio's blocking pool.
/// Runs the blocking sync `f` as `how` says (see [`SyncExecution`]).
pub(crate) async fn sync_on<T, F>(how: SyncExecution, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    let inline = match how {
        SyncExecution::Inline => true,
        SyncExecution::Offload => false,
        SyncExecution::Auto => {
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        }
    };
    if inline {
        f()
    } else {
        blocking(f).await
    }
}

pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi {
        return tokio::task::block_in_place(f);
    }
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::other("blocking file task failed", e)),
    }
}

/// [`Error::NoLog`] unless `dir` is a directory holding at least one entry named like a
/// segment or state slot. Reads only.
fn check_holds_log(dir: &Path) -> Result<()> {
    let no_log = |found: String| Error::NoLog {
        path: dir.display().to_string(),
        found,
    };
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_log("nothing: the path does not exist".into()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(no_log("a file, not a directory".into()))
        }
        Err(e) => return Err(Error::io("listing the log directory", None, e).with_path(dir)),
    };
    let mut others = Vec::new();
    let mut count = 0usize;
    for entry in rd {
        let entry = entry.map_err(io("listing the log directory", None, dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if parse_segment_file_name(&name).is_some() {
            return Ok(());
        }
        count += 1;
        if others.len() < 5 {
            others.push(name);
        }
    }
    others.sort();
    Err(no_log(match count {
        0 => "an empty directory".into(),
        n if n > others.len() => format!(
            "{n} entries and no segment file: {}, ...",
            others.join(", ")
        ),
        n => format!("{n} entries and no segment file: {}", others.join(", ")),
    }))
}

impl FsStore {
    /// Opens the log in directory `dir` with default options. The directory must hold a log:
    /// a missing path or a directory without segment files is [`Error::NoLog`] (naming what
    /// is there), and nothing is created. Start a new log with
    /// [`open_or_create`](Self::open_or_create).
    pub fn open(dir: impl AsRef<Path>) -> Result<FsStore> {
        FsStore::open_with(dir, FsOptions::default())
    }

    /// Opens the log in directory `dir`, or starts a new one there when the directory is
    /// missing (it is created, with its parents) or holds no log.
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<FsStore> {
        FsStore::open_with(dir, FsOptions::default().create_if_missing(true))
    }

    /// Opens the log directory `dir`; whether a missing or empty one starts a new log is
    /// [`FsOptions::create_if_missing`].
    ///
    /// Fails with [`Error::AlreadyOpen`] if another store, in this process or another, holds
    /// the directory, and with [`Error::NoLog`] if it holds no log and `create_if_missing` is
    /// off.
    pub fn open_with(dir: impl AsRef<Path>, opts: FsOptions) -> Result<FsStore> {
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        if opts.sync_mode == SyncMode::Dsync {
            return Err(Error::Unsupported("O_DSYNC on this platform"));
        }
        let dir = dir.as_ref().to_path_buf();
        if !opts.create_if_missing {
            check_holds_log(&dir)?;
        }
        if !dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("creating the log directory", None, &dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent).map_err(io("syncing the parent directory", None, parent))?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        if let Ok(m) = std::fs::symlink_metadata(&lock_path) {
            if !m.is_file() {
                return Err(Error::InvalidArgument(format!(
                    "{} is not a regular file (a symbolic link, directory or other entry): the \
                     lock is never taken through it; remove it",
                    lock_path.display()
                )));
            }
        }
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&lock_path)
            .map_err(io("opening the lock file", None, &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::AlreadyOpen {
                    what: dir.display().to_string(),
                })
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::io("locking", None, e).with_path(&lock_path))
            }
        }
        let store = FsStore {
            shared: Arc::new(Shared {
                dir,
                opts,
                open: Mutex::new(HashMap::new()),
                lock: Mutex::new(Some(lock)),
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        store.make_contents_durable()?;
        Ok(store)
    }

    /// fsyncs the directory and the last two segment files (see the type docs); records their
    /// lengths as durable in the tracker. Older segments were sealed, and a seal completes
    /// (synced) before the next segment is created, so only the last two can hold bytes a
    /// crashed writer left unsynced (the last one, or one it was sealing when the next was
    /// not yet created).
    fn make_contents_durable(&self) -> Result<()> {
        let sh = &self.shared;
        // The state slots sort last but hold no records: each is sealed (synced) before the
        // other is written, and recovery rewrites a slot that does not hold the state, which
        // gives the state a synced copy.
        let files = self.segment_files()?;
        let records = files.into_iter().filter(|(id, _)| !is_state_slot(*id));
        for (id, path) in records.rev().take(2) {
            let f = File::open(&path).map_err(io("opening", Some(id), &path))?;
            f.sync_all().map_err(io("syncing", Some(id), &path))?;
            #[cfg(feature = "testing")]
            if let Some(t) = &sh.opts.tracker {
                let len = f
                    .metadata()
                    .map_err(io("inspecting", Some(id), &path))?
                    .len();
                t.set(id, len);
            }
        }
        sync_dir(&sh.dir).map_err(io("syncing the log directory", None, &sh.dir))
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &FsOptions {
        &self.shared.opts
    }

    /// The path segment `id` lives at.
    pub fn segment_path(&self, id: SegmentId) -> PathBuf {
        self.shared.segment_path(id)
    }

    /// Entries of the directory that are not segment files (nor the lock file or the
    /// quarantine directory): ignored by the store, reported here for operators.
    pub fn foreign_files(&self) -> Result<Vec<PathBuf>> {
        Ok(self.scan()?.1)
    }

    /// Segment files, refusing an entry with a segment's name that is not a regular file (a
    /// directory, FIFO or symbolic link): the log would otherwise skip a segment it cannot
    /// read, or fail later when it tries to create one under that name.
    fn segment_files(&self) -> Result<Vec<(SegmentId, PathBuf)>> {
        let (segs, foreign) = self.scan()?;
        if let Some(bad) = foreign.iter().find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_segment_file_name)
                .is_some()
        }) {
            return Err(Error::InvalidArgument(format!(
                "{} has a segment file's name but is not a regular file (a directory, FIFO or \
                 symbolic link); the log never follows or reads it: move it out of {}",
                bad.display(),
                self.shared.dir.display()
            )));
        }
        Ok(segs)
    }

    /// Segment files (regular files with a strict name) and foreign entries.
    #[allow(clippy::type_complexity)]
    fn scan(&self) -> Result<(Vec<(SegmentId, PathBuf)>, Vec<PathBuf>)> {
        let mut segs = Vec::new();
        let mut foreign = Vec::new();
        let rd = std::fs::read_dir(&self.shared.dir).map_err(io(
            "listing the log directory",
            None,
            &self.shared.dir,
        ))?;
        for entry in rd {
            let entry = entry.map_err(io("listing the log directory", None, &self.shared.dir))?;
            let name = entry.file_name();
            // Does not follow symlinks: a link named like a segment is foreign.
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            let id = name.to_str().and_then(parse_segment_file_name);
            match id {
                Some(id) if is_file => segs.push((id, entry.path())),
                _ => {
                    let skip = name == LOCK_FILE
                        || (name == QUARANTINE_DIR
                            && entry.file_type().map(|t| t.is_dir()).unwrap_or(false));
                    if !skip {
                        foreign.push(entry.path());
                    }
                }
            }
        }
        segs.sort_by_key(|(id, _)| *id);
        foreign.sort();
        Ok((segs, foreign))
    }

    fn forget(&self, id: SegmentId) {
        self.shared.open_writers().remove(&id);
        #[cfg(feature = "testing")]
        if let Some(t) = &self.shared.opts.tracker {
            t.remove(id);
        }
    }

    fn register(&self, state: Arc<WriterState>) -> Box<dyn SegmentWriter> {
        self.shared
            .open_writers()
            .insert(state.id, Arc::clone(&state));
        Box::new(FsWriter::new(self.clone(), state))
    }
}

/// Up to `n` bytes of `file` from `start` (fewer if the file ends first).
fn read_range(file: &File, start: u64, n: usize) -> std::io::Result<Vec<u8>> {
    /// Reads up to this size go into a zeroed buffer with positioned reads (no seek, no read
    /// to find the end); larger ones use `read_to_end`, which does not zero the buffer first.
    const SMALL: usize = 64 << 10;
    if n <= SMALL {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match file.read_at(&mut buf[got..], start + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        return Ok(buf);
    }
    let mut buf = Vec::with_capacity(n);
    let mut f = file;
    f.seek(SeekFrom::Start(start))?;
    f.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn quarantine_target(qdir: &Path, id: SegmentId) -> PathBuf {
    let base = segment_file_name(id);
    let mut candidate = qdir.join(&base);
    let mut n = 1u32;
    while candidate.exists() || candidate.with_extension("wal.reason").exists() {
        candidate = qdir.join(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}

#[async_trait]
impl SegmentStore for FsStore {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        self.shared.check_open()?;
        let sh = Arc::clone(&self.shared);
        let header = header.to_vec();
        let len = header.len() as u64;
        let file = blocking(move || {
            let path = sh.segment_path(id);
            let mut o = sh.segment_options();
            o.create_new(true);
            let file = match o.open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
                    if regular {
                        return Err(Error::AlreadyExists { segment: id });
                    }
                    return Err(Error::InvalidArgument(format!(
                        "cannot create segment {id}: {} is taken by an entry that is not a \
                         segment file; move it out of the log directory",
                        path.display()
                    )));
                }
                Err(e) => return Err(Error::io("creating", Some(id), e).with_path(&path)),
            };
            let made = file
                .write_all_at(&header, 0)
                .and_then(|()| file.sync_all())
                .and_then(|()| sync_dir(&sh.dir));
            if let Err(e) = made {
                // Best effort: recovery removes a segment without a valid header anyway.
                let _ = std::fs::remove_file(&path);
                let _ = sync_dir(&sh.dir);
                return Err(Error::io("creating", Some(id), e).with_path(&path));
            }
            Ok(file)
        })
        .await?;
        #[cfg(feature = "testing")]
        if let Some(t) = &self.shared.opts.tracker {
            t.set(id, len);
        }
        Ok(self.register(Arc::new(WriterState::new(
            id,
            self.shared.segment_path(id),
            file,
            len,
        ))))
    }

    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        self.shared.check_open()?;
        let sh = Arc::clone(&self.shared);
        // A writer of this segment still registered (the engine dropped it) is replaced.
        sh.open_writers().remove(&id);
        let file = blocking(move || {
            let path = sh.segment_path(id);
            let file = match sh.segment_options().open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::NotFound { segment: id })
                }
                Err(e) => return Err(Error::io("reopening", Some(id), e).with_path(&path)),
            };
            let len = file
                .metadata()
                .map_err(io("reopening", Some(id), &path))?
                .len();
            if truncate_at > len {
                return Err(Error::InvalidArgument(format!(
                    "cannot cut segment {id} of {len} bytes at {truncate_at}"
                )));
            }
            if truncate_at < len {
                file.set_len(truncate_at)
                    .map_err(io("cutting the tail of", Some(id), &path))?;
            }
            // Always sync: the bytes recovery kept become acknowledged records.
            file.sync_all().map_err(io("syncing", Some(id), &path))?;
            Ok(file)
        })
        .await?;
        #[cfg(feature = "testing")]
        if let Some(t) = &self.shared.opts.tracker {
            t.set(id, truncate_at);
        }
        Ok(self.register(Arc::new(WriterState::new(
            id,
            self.shared.segment_path(id),
            file,
            truncate_at,
        ))))
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        let path = self.shared.segment_path(id);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Err(Error::NotFound { segment: id }),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound { segment: id })
            }
            Err(e) => return Err(Error::io("reading", Some(id), e).with_path(&path)),
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound { segment: id })
            }
            Err(e) => return Err(Error::io("reading", Some(id), e).with_path(&path)),
        };
        let len = self.shared.logical_len(id).unwrap_or(meta.len());
        let start = range.start.min(len);
        let end = range.end.min(len).max(start);
        let n = usize::try_from(end - start)
            .map_err(|_| Error::InvalidArgument("read range too large".into()))?;
        let buf = read_range(&file, start, n).map_err(io("reading", Some(id), &path))?;
        Ok(Bytes::from(buf))
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        let segs = self.segment_files()?;
        let mut out = Vec::with_capacity(segs.len());
        for (id, path) in segs {
            let len = match self.shared.logical_len(id) {
                Some(l) => l,
                None => match std::fs::symlink_metadata(&path) {
                    Ok(m) => m.len(),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("listing", Some(id), e).with_path(&path)),
                },
            };
            out.push(SegmentMeta { id, len });
        }
        Ok(out)
    }

    async fn delete(&self, id: SegmentId) -> Result<()> {
        self.shared.check_open()?;
        let sh = Arc::clone(&self.shared);
        blocking(move || {
            match std::fs::remove_file(sh.segment_path(id)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::NotFound { segment: id })
                }
                Err(e) => {
                    return Err(Error::io("deleting", Some(id), e).with_path(sh.segment_path(id)))
                }
            }
            sync_dir(&sh.dir).map_err(io("deleting", Some(id), &sh.dir))
        })
        .await?;
        self.forget(id);
        Ok(())
    }

    async fn quarantine(&self, id: SegmentId, reason: &str) -> Result<()> {
        self.shared.check_open()?;
        let sh = Arc::clone(&self.shared);
        let reason = reason.to_string();
        blocking(move || {
            let from = sh.segment_path(id);
            if !std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
                return Err(Error::NotFound { segment: id });
            }
            let qdir = sh.quarantine_dir(id)?;
            let to = quarantine_target(&qdir, id);
            write_new_durably(&reason_path(&to), reason.as_bytes()).map_err(io(
                "quarantining",
                Some(id),
                &to,
            ))?;
            std::fs::rename(&from, &to).map_err(io("quarantining", Some(id), &from))?;
            sync_dir(&qdir).map_err(io("quarantining", Some(id), &qdir))?;
            sync_dir(&sh.dir).map_err(io("quarantining", Some(id), &sh.dir))
        })
        .await?;
        self.forget(id);
        Ok(())
    }

    async fn preserve(&self, id: SegmentId, bytes: &[u8], reason: &str) -> Result<()> {
        self.shared.check_open()?;
        let sh = Arc::clone(&self.shared);
        let (bytes, reason) = (bytes.to_vec(), reason.to_string());
        blocking(move || {
            let qdir = sh.quarantine_dir(id)?;
            let to = quarantine_target(&qdir, id);
            write_new_durably(&reason_path(&to), reason.as_bytes())
                .and_then(|()| write_new_durably(&to, &bytes))
                .and_then(|()| sync_dir(&qdir))
                .map_err(io("keeping a copy of", Some(id), &to))
        })
        .await
    }

    /// Reads the range and writes the same bytes back at the same offsets (a crash part-way
    /// leaves them as they were), so the page cache holds them dirty and the next `fsync`
    /// writes them, whatever a failed write-back of an earlier process did to those pages.
    async fn rewrite(&self, id: SegmentId, range: Range<u64>) -> Result<()> {
        self.shared.check_open()?;
        let sh = Arc::clone(&self.shared);
        blocking(move || {
            let path = sh.segment_path(id);
            let file = match sh.segment_options().open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::NotFound { segment: id })
                }
                Err(e) => return Err(Error::io("rewriting", Some(id), e).with_path(&path)),
            };
            crate::rewrite::rewrite_in_place(&path, &file, range).map_err(io(
                "rewriting",
                Some(id),
                &path,
            ))
        })
        .await
    }

    async fn sync_segment(&self, id: SegmentId, _len: u64) -> Result<()> {
        let sh = Arc::clone(&self.shared);
        blocking(move || {
            let path = sh.segment_path(id);
            let f = File::open(&path).map_err(io("syncing", Some(id), &path))?;
            f.sync_all().map_err(io("syncing", Some(id), &path))?;
            #[cfg(feature = "testing")]
            if let Some(t) = &sh.opts.tracker {
                let len = f
                    .metadata()
                    .map_err(io("inspecting", Some(id), &path))?
                    .len();
                t.set(id, len);
            }
            Ok(())
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        self.shared.closed.store(true, Ordering::SeqCst);
        let lock = match self.shared.lock.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        drop(lock);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::with_quarantine()
    }
}

/// `<path>.reason`, the note written next to a quarantined segment or copy.
fn reason_path(to: &Path) -> PathBuf {
    let mut note = to.to_path_buf().into_os_string();
    note.push(".reason");
    PathBuf::from(note)
}

/// Writes a new file (never an existing one) and fsyncs it.
fn write_new_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all_at(bytes, 0)?;
    f.sync_all()
}
