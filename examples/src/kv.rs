//! A small key-value store on the log, the way an engine author would build one, and the
//! crash exploration that proves it (`examples/tests/kv_crash.rs`).
//!
//! - Every [`put`](Kv::put) and [`delete`](Kv::delete) is one record of a typed log
//!   ([`TypedWal`]), applied to the in-memory map once the log acknowledged it (durable under
//!   the default sync policy).
//! - [`snapshot`](Kv::snapshot) saves the whole map with the LSN it covers into the engine's
//!   own directory (a [`SnapshotDir`]) the crash-safe way: write a temporary file, fsync it,
//!   rename it over the old snapshot, fsync the directory. Then [`compact`](Kv::compact)
//!   records a checkpoint at the LSN it covers ([`Wal::checkpoint`](wal_api::Wal::checkpoint)),
//!   so the log drops the records the snapshot holds.
//! - [`open`](Kv::open) recovers: load the snapshot, check the log's
//!   [`last_checkpoint`](wal_api::Wal::last_checkpoint) is not past it, replay the log after
//!   it.
//!
//! The directory is a trait so the same engine runs on a real directory ([`FsDir`]) and, in
//! tests, on [`SimDir`], whose power losses lose unsynced file bytes and undo unsynced
//! renames. [`KvOptions::fsync_snapshot`] set to `false` is the deliberately broken variant
//! (the snapshot is renamed into place without its fsync) that the exploration must catch.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use wal_examples::kv::{Kv, KvOptions};
//! use wal_memory::MemoryStore;
//! use wal_testkit::explore::SimDir;
//!
//! let (log, dir) = (MemoryStore::new(), SimDir::new());
//! let mut kv = Kv::open(log.clone(), dir.clone(), KvOptions::default()).await?;
//! kv.put("a", "1").await?;
//! kv.put("b", "2").await?;
//! kv.snapshot().await?; // the log before it is dropped
//! kv.delete("a").await?;
//! drop(kv);
//!
//! // Power loss: the snapshot and every acknowledged operation survive.
//! let kv = Kv::open(log.crash(1), dir.crash(1), KvOptions::default()).await?;
//! assert_eq!(kv.get("a"), None);
//! assert_eq!(kv.get("b"), Some("2"));
//! # Ok::<(), wal_examples::kv::KvError>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use wal_api::{BincodeCodec, Codec, Lsn, SegmentStore, TypedWal, WalOptions};
use wal_testkit::explore::SimDir;

/// The snapshot's file name.
pub const SNAPSHOT: &str = "snapshot";
/// The file a snapshot is written to before it is renamed into place.
pub const SNAPSHOT_TMP: &str = "snapshot.tmp";

const MAGIC: &[u8; 8] = b"KVSNAP01";
/// Magic, LSN, body length, CRC32 of LSN, length and body.
const HEADER_LEN: usize = 8 + 8 + 4 + 4;

/// The flat directory a [`Kv`] keeps its snapshot in: the file operations it needs, with
/// the durability of a POSIX directory (a write is durable after [`sync`](Self::sync), a
/// rename after [`sync_dir`](Self::sync_dir)).
#[async_trait]
pub trait SnapshotDir: Send + Sync + 'static {
    /// Creates or truncates `name` and writes `bytes` to it.
    async fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes the bytes of `name` durable (fsync).
    async fn sync(&self, name: &str) -> io::Result<()>;
    /// Renames `from` over `to`, atomically.
    async fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Makes the names in the directory durable (fsync of the directory).
    async fn sync_dir(&self) -> io::Result<()>;
    /// The bytes of `name`, or `None` when there is no such file.
    async fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Removes `name`.
    async fn remove(&self, name: &str) -> io::Result<()>;
}

#[async_trait]
impl SnapshotDir for SimDir {
    async fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        SimDir::write(self, name, bytes).await
    }

    async fn sync(&self, name: &str) -> io::Result<()> {
        SimDir::sync(self, name).await
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        SimDir::rename(self, from, to).await
    }

    async fn sync_dir(&self) -> io::Result<()> {
        SimDir::sync_dir(self).await
    }

    async fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match SimDir::read(self, name).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        SimDir::remove(self, name).await
    }
}

/// A real directory (Unix: the directory fsync opens the directory and syncs it).
#[derive(Clone, Debug)]
pub struct FsDir {
    path: PathBuf,
}

impl FsDir {
    /// The directory at `path`, created if missing.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<FsDir> {
        let path = path.into();
        std::fs::create_dir_all(&path)?;
        Ok(FsDir { path })
    }

    /// Runs blocking file system work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce(PathBuf) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let path = self.path.join(name);
        tokio::task::spawn_blocking(move || f(path))
            .await
            .map_err(io::Error::other)?
    }
}

#[async_trait]
impl SnapshotDir for FsDir {
    async fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let bytes = bytes.to_vec();
        self.blocking(name, move |p| std::fs::write(p, bytes)).await
    }

    async fn sync(&self, name: &str) -> io::Result<()> {
        self.blocking(name, |p| std::fs::File::open(p)?.sync_all())
            .await
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let to = self.path.join(to);
        self.blocking(from, move |from| std::fs::rename(from, to))
            .await
    }

    async fn sync_dir(&self) -> io::Result<()> {
        self.blocking("", |p| std::fs::File::open(p)?.sync_all())
            .await
    }

    async fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        self.blocking(name, |p| match std::fs::read(p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        self.blocking(name, std::fs::remove_file).await
    }
}

/// One record of the store's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
}

impl KvOp {
    /// Applies the operation to a map.
    pub fn apply(&self, map: &mut BTreeMap<String, String>) {
        match self {
            KvOp::Put { key, value } => {
                map.insert(key.clone(), value.clone());
            }
            KvOp::Delete { key } => {
                map.remove(key);
            }
        }
    }
}

/// What went wrong in a [`Kv`].
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The log failed (see [`wal_api::Error`] for what to do).
    #[error("log: {0}")]
    Log(#[from] wal_api::Error),
    /// A file operation in the snapshot directory failed.
    #[error("{op} {name}: {source}")]
    Dir {
        /// What was being done.
        op: &'static str,
        /// The file.
        name: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The snapshot file does not hold a whole, valid snapshot.
    #[error("snapshot is corrupt: {0}")]
    CorruptSnapshot(String),
    /// The snapshot covers more of the log than the log holds.
    #[error("snapshot covers the log up to {snapshot}, but the log ends at {log}")]
    SnapshotAheadOfLog {
        /// The LSN the snapshot covers.
        snapshot: Lsn,
        /// The last LSN of the log.
        log: Lsn,
    },
    /// The log's checkpoint says a snapshot holds more than the one found.
    #[error(
        "the log is checkpointed at {checkpoint}, but the snapshot only covers up to {snapshot}"
    )]
    CheckpointAheadOfSnapshot {
        /// The LSN the snapshot covers (0 when there is none).
        snapshot: Lsn,
        /// The log's last checkpoint.
        checkpoint: Lsn,
    },
    /// Records after the snapshot were dropped from the log.
    #[error("the log starts at {first}, but the snapshot only covers up to {snapshot}")]
    LogGap {
        /// The LSN the snapshot covers.
        snapshot: Lsn,
        /// The first LSN the log holds.
        first: Lsn,
    },
}

/// Options of a [`Kv`].
#[derive(Clone, Debug)]
pub struct KvOptions {
    /// Options of the log.
    pub wal: WalOptions,
    /// Fsync the snapshot file before renaming it into place (`true`, the default). `false`
    /// is the deliberately broken variant: a power loss can then leave the renamed snapshot
    /// empty or torn after the log it replaced was compacted away.
    pub fsync_snapshot: bool,
}

impl Default for KvOptions {
    fn default() -> Self {
        KvOptions {
            wal: WalOptions::default(),
            fsync_snapshot: true,
        }
    }
}

/// The key-value store. Methods that change it take `&mut self` (wrap it in a mutex to share
/// it), so records are applied in LSN order.
#[derive(Debug)]
pub struct Kv<S: SegmentStore, D: SnapshotDir> {
    log: TypedWal<KvOp, S>,
    dir: D,
    map: BTreeMap<String, String>,
    /// The last LSN applied to `map`.
    applied: Lsn,
    opts: KvOptions,
}

fn dir_err(op: &'static str, name: &'static str) -> impl FnOnce(io::Error) -> KvError {
    move |source| KvError::Dir { op, name, source }
}

impl<S: SegmentStore, D: SnapshotDir> Kv<S, D> {
    /// Opens the store whose log is in `store` and whose snapshot is in `dir`, recovering
    /// its contents: the snapshot, then the log records after the LSN it covers.
    pub async fn open(store: S, dir: D, opts: KvOptions) -> Result<Self, KvError> {
        // A snapshot that was never renamed into place is garbage.
        if dir
            .read(SNAPSHOT_TMP)
            .await
            .map_err(dir_err("reading", SNAPSHOT_TMP))?
            .is_some()
        {
            dir.remove(SNAPSHOT_TMP)
                .await
                .map_err(dir_err("removing", SNAPSHOT_TMP))?;
        }
        let (covered, mut map) = match dir
            .read(SNAPSHOT)
            .await
            .map_err(dir_err("reading", SNAPSHOT))?
        {
            Some(bytes) => decode_snapshot(&bytes)?,
            None => (Lsn(0), BTreeMap::new()),
        };
        let log: TypedWal<KvOp, S> = TypedWal::open(store, opts.wal.clone()).await?;
        let wal = log.wal();
        if wal.written_lsn() < covered {
            return Err(KvError::SnapshotAheadOfLog {
                snapshot: covered,
                log: wal.written_lsn(),
            });
        }
        // The log's checkpoint says which records a snapshot already holds: never more than
        // the snapshot found here.
        if let Some(checkpoint) = wal.last_checkpoint().filter(|&c| c > covered) {
            return Err(KvError::CheckpointAheadOfSnapshot {
                snapshot: covered,
                checkpoint,
            });
        }
        let first = wal.first_lsn();
        if first > covered.next() {
            return Err(KvError::LogGap {
                snapshot: covered,
                first,
            });
        }
        let mut applied = covered;
        log.replay(covered.next().., |lsn, op| {
            op.apply(&mut map);
            applied = lsn;
        })
        .await?;
        Ok(Kv {
            log,
            dir,
            map,
            applied,
            opts,
        })
    }

    /// Sets `key` to `value`; returns the operation's LSN once the log acknowledged it.
    pub async fn put(&mut self, key: &str, value: &str) -> Result<Lsn, KvError> {
        self.apply(KvOp::Put {
            key: key.to_string(),
            value: value.to_string(),
        })
        .await
    }

    /// Removes `key` (also when it is not there); returns the operation's LSN once the log
    /// acknowledged it.
    pub async fn delete(&mut self, key: &str) -> Result<Lsn, KvError> {
        self.apply(KvOp::Delete {
            key: key.to_string(),
        })
        .await
    }

    /// Logs `op`, then applies it.
    pub async fn apply(&mut self, op: KvOp) -> Result<Lsn, KvError> {
        let lsn = self.log.append(&op).await?;
        op.apply(&mut self.map);
        self.applied = lsn;
        Ok(lsn)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Every key and value.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// The last LSN applied.
    pub fn applied_lsn(&self) -> Lsn {
        self.applied
    }

    /// The log.
    pub fn log(&self) -> &TypedWal<KvOp, S> {
        &self.log
    }

    /// Saves the whole map, then [compacts](Self::compact) the log it covers. Returns the
    /// LSN the snapshot covers.
    pub async fn snapshot(&mut self) -> Result<Lsn, KvError> {
        // The snapshot must never cover records the log could still lose: under a policy
        // that acknowledges before syncing (`Interval`, `Never`) the map runs ahead of the
        // durable log.
        self.log.wal().sync().await?;
        let covered = self.applied;
        let bytes = encode_snapshot(covered, &self.map)?;
        let d = &self.dir;
        d.write(SNAPSHOT_TMP, &bytes)
            .await
            .map_err(dir_err("writing", SNAPSHOT_TMP))?;
        if self.opts.fsync_snapshot {
            d.sync(SNAPSHOT_TMP)
                .await
                .map_err(dir_err("syncing", SNAPSHOT_TMP))?;
        }
        d.rename(SNAPSHOT_TMP, SNAPSHOT)
            .await
            .map_err(dir_err("renaming", SNAPSHOT_TMP))?;
        d.sync_dir()
            .await
            .map_err(dir_err("syncing the directory of", SNAPSHOT))?;
        self.compact(covered).await?;
        Ok(covered)
    }

    /// Lets the log drop every record at or below `covered`, which a durable snapshot holds:
    /// a checkpoint at `covered` (records at or below it are never read again, and sealed
    /// segments holding only such records are deleted).
    pub async fn compact(&self, covered: Lsn) -> Result<(), KvError> {
        if covered.is_none() {
            return Ok(()); // nothing was ever applied
        }
        self.log.wal().checkpoint(covered).await?;
        Ok(())
    }

    /// Closes the log (see [`Wal::close`](wal_api::Wal::close)).
    pub async fn close(self) -> Result<(), KvError> {
        self.log.wal().close().await?;
        Ok(())
    }
}

/// The snapshot file: magic, LSN covered, body length, CRC32 (of LSN, length and body), body
/// (the map through [`BincodeCodec`]); integers little-endian.
fn encode_snapshot(covered: Lsn, map: &BTreeMap<String, String>) -> Result<Vec<u8>, KvError> {
    let mut body = Vec::new();
    BincodeCodec.encode(map, &mut body)?;
    let len = u32::try_from(body.len())
        .map_err(|_| KvError::CorruptSnapshot("snapshot over 4 GiB".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&covered.0.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&snapshot_crc(covered.0, len, &body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn snapshot_crc(lsn: u64, len: u32, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(body);
    h.finalize()
}

fn decode_snapshot(bytes: &[u8]) -> Result<(Lsn, BTreeMap<String, String>), KvError> {
    let corrupt = |why: String| KvError::CorruptSnapshot(why);
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "{} bytes, shorter than its header",
            bytes.len()
        )));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic".into()));
    }
    let field = |at: usize, n: usize| &bytes[at..at + n];
    let lsn = u64::from_le_bytes(field(8, 8).try_into().unwrap_or([0; 8]));
    let len = u32::from_le_bytes(field(16, 4).try_into().unwrap_or([0; 4]));
    let crc = u32::from_le_bytes(field(20, 4).try_into().unwrap_or([0; 4]));
    let body = &bytes[HEADER_LEN..];
    if body.len() != len as usize {
        return Err(corrupt(format!(
            "body of {} bytes, header says {len}",
            body.len()
        )));
    }
    if snapshot_crc(lsn, len, body) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    let map = BincodeCodec
        .decode(body)
        .map_err(|e| corrupt(format!("body does not decode: {e}")))?;
    Ok((Lsn(lsn), map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wal_memory::MemoryStore;

    #[tokio::test]
    async fn snapshot_round_trips_and_rejects_every_torn_prefix() {
        let map = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let bytes = encode_snapshot(Lsn(42), &map).unwrap();
        assert_eq!(decode_snapshot(&bytes).unwrap(), (Lsn(42), map));
        for cut in 0..bytes.len() {
            assert!(decode_snapshot(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            decode_snapshot(&flipped),
            Err(KvError::CorruptSnapshot(_))
        ));
    }

    #[tokio::test]
    async fn reopen_recovers_snapshot_and_log_after_it() {
        let (log, dir) = (MemoryStore::new(), SimDir::new());
        let opts = KvOptions {
            wal: WalOptions::default().segment_size(600),
            ..KvOptions::default()
        };
        let mut kv = Kv::open(log.clone(), dir.clone(), opts.clone())
            .await
            .unwrap();
        for i in 0..40 {
            kv.put(&format!("k{}", i % 7), &format!("v{i}"))
                .await
                .unwrap();
        }
        assert!(log.segment_bytes(wal_api::SegmentId(1)).is_some());
        let covered = kv.snapshot().await.unwrap();
        assert_eq!(covered, Lsn(40));
        assert_eq!(kv.log().wal().last_checkpoint(), Some(Lsn(40)));
        assert_eq!(kv.log().wal().first_lsn(), Lsn(41));
        assert!(
            log.segment_bytes(wal_api::SegmentId(1)).is_none(),
            "compaction deleted the first segment"
        );
        kv.delete("k3").await.unwrap();
        let want = kv.entries().clone();
        kv.close().await.unwrap();
        let kv = Kv::open(log, dir, opts).await.unwrap();
        assert_eq!(kv.entries(), &want);
        assert_eq!(kv.applied_lsn(), Lsn(41));
        assert_eq!(kv.get("k3"), None);
    }

    #[tokio::test]
    async fn same_engine_runs_on_a_real_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let log = wal_fs::FsStore::open_or_create(tmp.path().join("log")).unwrap();
        let dir = FsDir::open(tmp.path().join("snapshots")).unwrap();
        let mut kv = Kv::open(log, dir.clone(), KvOptions::default())
            .await
            .unwrap();
        kv.put("a", "1").await.unwrap();
        kv.snapshot().await.unwrap();
        kv.put("b", "2").await.unwrap();
        kv.close().await.unwrap();
        assert!(dir.read(SNAPSHOT).await.unwrap().is_some());
        assert!(dir.read(SNAPSHOT_TMP).await.unwrap().is_none());
        let log = wal_fs::FsStore::open_or_create(tmp.path().join("log")).unwrap();
        let kv = Kv::open(log, dir, KvOptions::default()).await.unwrap();
        assert_eq!(kv.get("a"), Some("1"));
        assert_eq!(kv.get("b"), Some("2"));
    }

    #[tokio::test]
    async fn lost_snapshot_behind_a_checkpoint_is_refused() {
        let (log, dir) = (MemoryStore::new(), SimDir::new());
        let mut kv = Kv::open(log.clone(), dir.clone(), KvOptions::default())
            .await
            .unwrap();
        kv.put("a", "1").await.unwrap();
        kv.snapshot().await.unwrap();
        kv.close().await.unwrap();
        dir.remove(SNAPSHOT).await.unwrap();
        let err = Kv::open(log, dir, KvOptions::default()).await.unwrap_err();
        assert!(
            matches!(
                err,
                KvError::CheckpointAheadOfSnapshot {
                    snapshot: Lsn(0),
                    checkpoint: Lsn(1)
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn stale_temporary_snapshot_is_removed_at_open() {
        let dir = SimDir::new();
        dir.write(SNAPSHOT_TMP, b"half written").await.unwrap();
        let kv = Kv::open(MemoryStore::new(), dir.clone(), KvOptions::default())
            .await
            .unwrap();
        assert!(kv.entries().is_empty());
        assert!(dir.list().await.unwrap().is_empty());
    }
}
