//! [`SimDir`]: a simulated directory for an engine's own files, with the power-loss semantics
//! of the log's [`MemoryStore`](wal_memory::MemoryStore).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use wal_memory::{power_loss_image, reordered_power_loss_image};

use super::Draws;

use crate::faults::Faults;

/// The contents of one file (an inode): what a reader sees now, and what the last fsync made
/// durable.
#[derive(Clone, Debug, Default)]
struct Node {
    data: Vec<u8>,
    synced: Vec<u8>,
}

/// A name operation not yet made durable by a directory sync.
#[derive(Clone, Debug)]
enum NameOp {
    Create { name: String, node: u64 },
    Rename { from: String, to: String },
    Remove { name: String },
}

impl NameOp {
    /// Applies the operation to a directory; one whose source is missing changes nothing.
    fn apply(&self, names: &mut BTreeMap<String, u64>) {
        match self {
            NameOp::Create { name, node } => {
                names.insert(name.clone(), *node);
            }
            NameOp::Rename { from, to } => {
                if let Some(node) = names.remove(from) {
                    names.insert(to.clone(), node);
                }
            }
            NameOp::Remove { name } => {
                names.remove(name);
            }
        }
    }
}

#[derive(Debug, Default)]
struct DirState {
    nodes: BTreeMap<u64, Node>,
    next_node: u64,
    /// The directory as a reader sees it now.
    live: BTreeMap<String, u64>,
    /// The directory as of the last directory sync.
    durable: BTreeMap<String, u64>,
    /// Name operations since the last directory sync, in order.
    pending: Vec<NameOp>,
}

impl DirState {
    fn node_of(&self, name: &str) -> io::Result<u64> {
        self.live.get(name).copied().ok_or_else(|| not_found(name))
    }

    fn node_mut(&mut self, name: &str) -> io::Result<&mut Node> {
        let id = self.node_of(name)?;
        self.nodes.get_mut(&id).ok_or_else(|| not_found(name))
    }

    /// Opens `name` for writing from byte 0: truncates an existing file, creates a missing one
    /// (a name operation until the next directory sync).
    fn create_or_truncate(&mut self, name: &str) -> &mut Node {
        let id = match self.live.get(name) {
            Some(&id) => id,
            None => {
                let id = self.next_node;
                self.next_node += 1;
                self.live.insert(name.to_string(), id);
                self.pending.push(NameOp::Create {
                    name: name.to_string(),
                    node: id,
                });
                id
            }
        };
        let node = self.nodes.entry(id).or_default();
        node.data.clear();
        node
    }
}

/// A simulated flat directory for the files an engine keeps beside its log (snapshots,
/// manifests), with the same power-loss semantics as the log's
/// [`MemoryStore`](wal_memory::MemoryStore). Async like the engine; clones share the
/// directory (an `Arc` inside).
///
/// # The model
/// A file is its contents (an inode) and a name in the directory; the two become durable
/// separately, as on a POSIX file system:
/// - **Contents.** [`create`](Self::create), [`write`](Self::write) and
///   [`append`](Self::append) change a file's bytes in the page cache; [`sync`](Self::sync)
///   (fsync) makes its current bytes durable. At a power loss, a file that only grew since
///   its last sync keeps its synced bytes, and the rest is lost, kept in part, or torn
///   ([`power_loss_image`] for [`crash`](Self::crash), [`reordered_power_loss_image`], pages
///   out of order and torn sectors, for [`crash_reordered`](Self::crash_reordered)). A file
///   truncated since its last sync (`create` or `write` over it) comes back either with its
///   synced bytes (the truncation never reached the disk) or as the power-loss image of its
///   new bytes, none of which are synced.
/// - **Names.** A new name ([`create`](Self::create), or `write` of a missing file),
///   [`rename`](Self::rename) (which atomically replaces its target) and
///   [`remove`](Self::remove) change the directory at once for readers, but become durable
///   only at the next [`sync_dir`](Self::sync_dir). At a power loss, the name operations not
///   followed by a directory sync are undone from some point on ([`crash`](Self::crash): a
///   journal that commits them in order keeps a prefix of them) or each one independently
///   ([`crash_reordered`](Self::crash_reordered): any subset, applied in order; a rename or
///   remove whose source is then missing does nothing). So a file whose directory entry was
///   never synced may vanish with its synced bytes; a removed file may come back; a rename
///   not followed by a directory sync may be undone.
/// - A file's fsync never makes its name durable, and a directory sync never makes contents
///   durable. Reads ([`read`](Self::read), [`list`](Self::list)) see the current state.
///
/// Names are flat: non-empty, without `/`, not `.` or `..`. Errors are [`io::Error`]s:
/// `NotFound` for a missing file, `InvalidInput` for a bad name.
///
/// # Crash points
/// Built by [`with_faults`](Self::with_faults), every operation that changes the directory
/// (`create`, `write`, `append`, `sync`, `rename`, `remove`, `sync_dir`) counts on the
/// [`Faults`] counter it shares with a [`FaultyStore`](crate::faults::FaultyStore), and
/// once [`Faults::halt_after`] is passed every such operation fails with an I/O error
/// without effect, as for a process that died. Reads are neither counted nor refused (as in
/// `FaultyStore`).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use wal_testkit::explore::SimDir;
///
/// let dir = SimDir::new();
/// dir.write("snapshot.tmp", b"state").await?;
/// dir.sync("snapshot.tmp").await?; // the bytes are durable
/// dir.rename("snapshot.tmp", "snapshot").await?;
/// dir.sync_dir().await?; // and so is the name
/// dir.write("notes", b"never synced").await?;
///
/// let after = dir.crash(7);
/// assert_eq!(after.read("snapshot").await?, b"state");
/// assert!(after.list().await?.iter().all(|n| n == "snapshot" || n == "notes"));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct SimDir {
    state: Arc<Mutex<DirState>>,
    faults: Option<Faults>,
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file named {name:?}"))
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name in a flat directory"),
        ));
    }
    Ok(())
}

impl SimDir {
    /// An empty directory whose operations always succeed (no crash points).
    pub fn new() -> SimDir {
        SimDir::default()
    }

    /// An empty directory whose changing operations count on `faults` and fail once its halt
    /// is passed (see [Crash points](Self#crash-points)).
    pub fn with_faults(faults: Faults) -> SimDir {
        SimDir {
            state: Arc::default(),
            faults: Some(faults),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DirState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Counts one changing operation; an error when the halt refuses it.
    fn tick(&self, describe: impl FnOnce() -> String) -> io::Result<()> {
        match &self.faults {
            Some(f) if !f.count(|| format!("dir: {}", describe())) => Err(io::Error::other(
                "simulated directory halted (simulated power loss)",
            )),
            _ => Ok(()),
        }
    }

    /// Creates an empty file, or truncates an existing one to zero bytes (`File::create`).
    pub async fn create(&self, name: &str) -> io::Result<()> {
        self.tick(|| format!("create {name}"))?;
        check_name(name)?;
        self.lock().create_or_truncate(name);
        Ok(())
    }

    /// Creates or truncates `name` and writes `bytes` to it (`std::fs::write`); nothing is
    /// durable until [`sync`](Self::sync) and, for a new file, [`sync_dir`](Self::sync_dir).
    pub async fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.tick(|| format!("write {name} ({} bytes)", bytes.len()))?;
        check_name(name)?;
        let mut s = self.lock();
        s.create_or_truncate(name).data.extend_from_slice(bytes);
        Ok(())
    }

    /// Appends `bytes` to an existing file.
    pub async fn append(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.tick(|| format!("append to {name} ({} bytes)", bytes.len()))?;
        check_name(name)?;
        let mut s = self.lock();
        s.node_mut(name)?.data.extend_from_slice(bytes);
        Ok(())
    }

    /// Makes the current bytes of `name` durable (fsync); not its name.
    pub async fn sync(&self, name: &str) -> io::Result<()> {
        self.tick(|| format!("sync {name}"))?;
        check_name(name)?;
        let mut s = self.lock();
        let node = s.node_mut(name)?;
        node.synced = node.data.clone();
        Ok(())
    }

    /// Renames `from` to `to`, atomically replacing an existing `to`; durable at the next
    /// [`sync_dir`](Self::sync_dir).
    pub async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.tick(|| format!("rename {from} -> {to}"))?;
        check_name(from)?;
        check_name(to)?;
        let mut s = self.lock();
        let node = s.node_of(from)?;
        if from == to {
            return Ok(());
        }
        s.live.remove(from);
        s.live.insert(to.to_string(), node);
        s.pending.push(NameOp::Rename {
            from: from.to_string(),
            to: to.to_string(),
        });
        Ok(())
    }

    /// Removes `name`; durable at the next [`sync_dir`](Self::sync_dir).
    pub async fn remove(&self, name: &str) -> io::Result<()> {
        self.tick(|| format!("remove {name}"))?;
        check_name(name)?;
        let mut s = self.lock();
        s.node_of(name)?;
        s.live.remove(name);
        s.pending.push(NameOp::Remove {
            name: name.to_string(),
        });
        Ok(())
    }

    /// Makes every name operation so far durable (fsync of the directory).
    pub async fn sync_dir(&self) -> io::Result<()> {
        self.tick(|| "sync directory".to_string())?;
        let mut s = self.lock();
        s.durable = s.live.clone();
        s.pending.clear();
        Ok(())
    }

    /// The current bytes of `name`, synced or not.
    pub async fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        check_name(name)?;
        let s = self.lock();
        let id = s.node_of(name)?;
        Ok(s.nodes.get(&id).map(|n| n.data.clone()).unwrap_or_default())
    }

    /// The names in the directory now, sorted.
    pub async fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().live.keys().cloned().collect())
    }

    /// Bytes not yet made durable by a file sync, over all files now named.
    pub fn unsynced_bytes(&self) -> u64 {
        let s = self.lock();
        s.live
            .values()
            .filter_map(|id| s.nodes.get(id))
            .map(|n| match n.data.strip_prefix(&n.synced[..]) {
                Some(rest) => rest.len() as u64,
                None => n.data.len() as u64,
            })
            .sum()
    }

    /// Name operations not yet made durable by a directory sync.
    pub fn unsynced_names(&self) -> usize {
        self.lock().pending.len()
    }

    /// The directory a power loss would leave now, on a disk that persists in order, as a
    /// new independent directory (no crash points). `seed` picks what happens to every
    /// unsynced byte and name operation (see [the model](Self#the-model)); this directory is
    /// unchanged.
    pub fn crash(&self, seed: u64) -> SimDir {
        self.power_loss(seed, false)
    }

    /// Like [`crash`](Self::crash), on a disk that writes unsynced pages back out of order
    /// ([`reordered_power_loss_image`]) and a file system that persists name operations in
    /// any order.
    pub fn crash_reordered(&self, seed: u64) -> SimDir {
        self.power_loss(seed, true)
    }

    fn power_loss(&self, seed: u64, reordered: bool) -> SimDir {
        let s = self.lock();
        let mut rng = Draws::new(seed);
        let mut names = s.durable.clone();
        if reordered {
            for op in &s.pending {
                if rng.below(2) == 0 {
                    op.apply(&mut names);
                }
            }
        } else {
            let kept = rng.below(s.pending.len() as u64 + 1) as usize;
            for op in &s.pending[..kept] {
                op.apply(&mut names);
            }
        }
        let image: fn(&[u8], usize, u64) -> Vec<u8> = if reordered {
            reordered_power_loss_image
        } else {
            power_loss_image
        };
        let mut nodes = BTreeMap::new();
        for (&id, node) in &s.nodes {
            if !names.values().any(|&n| n == id) {
                continue; // no name survived: the file is gone
            }
            let bytes = if node.data.starts_with(&node.synced) {
                image(&node.data, node.synced.len(), rng.next_u64())
            } else if rng.below(2) == 0 {
                node.synced.clone()
            } else {
                image(&node.data, 0, rng.next_u64())
            };
            nodes.insert(
                id,
                Node {
                    data: bytes.clone(),
                    synced: bytes,
                },
            );
        }
        let after = DirState {
            nodes,
            next_node: s.next_node,
            live: names.clone(),
            durable: names,
            pending: Vec::new(),
        };
        SimDir {
            state: Arc::new(Mutex::new(after)),
            faults: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// The outcomes of `crash` (or `crash_reordered`) over many seeds.
    fn outcomes(dir: &SimDir, reordered: bool) -> Vec<BTreeMap<String, Vec<u8>>> {
        block_on(async {
            let mut out = Vec::new();
            for seed in 0..300 {
                let d = if reordered {
                    dir.crash_reordered(seed)
                } else {
                    dir.crash(seed)
                };
                let mut files = BTreeMap::new();
                for name in d.list().await.unwrap() {
                    let bytes = d.read(&name).await.unwrap();
                    files.insert(name, bytes);
                }
                out.push(files);
            }
            out
        })
    }

    #[test]
    fn synced_file_and_synced_name_always_survive() {
        let dir = SimDir::new();
        block_on(async {
            dir.write("a", b"hello").await.unwrap();
            dir.sync("a").await.unwrap();
            dir.sync_dir().await.unwrap();
            dir.append("a", b" world").await.unwrap();
        });
        for reordered in [false, true] {
            let all = outcomes(&dir, reordered);
            assert!(all.iter().all(|f| f["a"].starts_with(b"hello")));
            assert!(all.iter().any(|f| f["a"] == b"hello"));
            assert!(
                all.iter().any(|f| f["a"].len() > 5),
                "reordered {reordered}"
            );
        }
    }

    #[test]
    fn synced_file_without_directory_sync_may_vanish() {
        let dir = SimDir::new();
        block_on(async {
            dir.write("a", b"data").await.unwrap();
            dir.sync("a").await.unwrap();
        });
        for reordered in [false, true] {
            let all = outcomes(&dir, reordered);
            assert!(all.iter().any(|f| f.is_empty()));
            assert!(all.iter().any(|f| f.get("a").is_some_and(|b| b == b"data")));
            // Whenever the name survives, so do the synced bytes.
            assert!(all.iter().all(|f| f.get("a").is_none_or(|b| b == b"data")));
        }
    }

    #[test]
    fn rename_without_directory_sync_may_be_undone_but_never_half_done() {
        let dir = SimDir::new();
        block_on(async {
            dir.write("snap", b"old").await.unwrap();
            dir.sync("snap").await.unwrap();
            dir.write("tmp", b"new").await.unwrap();
            dir.sync("tmp").await.unwrap();
            dir.sync_dir().await.unwrap();
            dir.rename("tmp", "snap").await.unwrap();
        });
        for reordered in [false, true] {
            let all = outcomes(&dir, reordered);
            let old = all.iter().filter(|f| f["snap"] == b"old").count();
            let new = all.iter().filter(|f| f["snap"] == b"new").count();
            assert_eq!(old + new, all.len(), "snap is always one of the two");
            assert!(old > 0 && new > 0);
            // The renamed file is under exactly one of its names.
            assert!(all
                .iter()
                .all(|f| f.contains_key("tmp") == (f["snap"] == b"old")));
        }
        block_on(dir.sync_dir()).unwrap();
        assert!(outcomes(&dir, true)
            .iter()
            .all(|f| f.len() == 1 && f["snap"] == b"new"));
    }

    #[test]
    fn unsynced_file_behind_a_durable_rename_can_be_empty_or_torn() {
        // The mistake the kit must catch: rename and directory sync without the file's fsync.
        let dir = SimDir::new();
        block_on(async {
            dir.write("tmp", &[7u8; 100]).await.unwrap();
            dir.rename("tmp", "snap").await.unwrap();
            dir.sync_dir().await.unwrap();
        });
        let all = outcomes(&dir, false);
        assert!(all.iter().all(|f| f.contains_key("snap")));
        assert!(all.iter().any(|f| f["snap"].is_empty()));
        assert!(all.iter().any(|f| f["snap"] == [7u8; 100]));
        assert!(all
            .iter()
            .any(|f| !f["snap"].is_empty() && f["snap"] != [7u8; 100]));
    }

    #[test]
    fn truncated_file_comes_back_old_or_as_an_image_of_the_new_bytes() {
        let dir = SimDir::new();
        block_on(async {
            dir.write("a", b"old contents").await.unwrap();
            dir.sync("a").await.unwrap();
            dir.sync_dir().await.unwrap();
            dir.write("a", b"new").await.unwrap();
        });
        let all = outcomes(&dir, false);
        assert!(all.iter().any(|f| f["a"] == b"old contents"));
        assert!(all.iter().any(|f| f["a"] == b"new"));
        assert!(all
            .iter()
            .all(|f| f["a"] == b"old contents" || f["a"].len() <= 3));
    }

    #[test]
    fn removed_file_may_come_back_until_the_directory_is_synced() {
        let dir = SimDir::new();
        block_on(async {
            dir.write("a", b"x").await.unwrap();
            dir.sync("a").await.unwrap();
            dir.sync_dir().await.unwrap();
            dir.remove("a").await.unwrap();
        });
        let all = outcomes(&dir, false);
        assert!(all.iter().any(|f| f.is_empty()));
        assert!(all.iter().any(|f| f.get("a").is_some_and(|b| b == b"x")));
        block_on(dir.sync_dir()).unwrap();
        assert!(outcomes(&dir, false).iter().all(|f| f.is_empty()));
    }

    #[test]
    fn in_order_crash_keeps_a_prefix_of_name_operations() {
        let dir = SimDir::new();
        block_on(async {
            for name in ["a", "b", "c"] {
                dir.write(name, b"").await.unwrap();
            }
        });
        for f in outcomes(&dir, false) {
            let names: Vec<&str> = f.keys().map(|s| s.as_str()).collect();
            assert!(["a", "b", "c"].starts_with(&names), "{names:?}");
        }
        let subsets: std::collections::BTreeSet<Vec<String>> = outcomes(&dir, true)
            .into_iter()
            .map(|f| f.into_keys().collect())
            .collect();
        assert_eq!(subsets.len(), 8, "every subset under reordering");
    }

    #[test]
    fn halted_directory_refuses_changes_without_effect() {
        let faults = Faults::default();
        let dir = SimDir::with_faults(faults.clone());
        faults.halt_after(2);
        block_on(async {
            dir.write("a", b"1").await.unwrap();
            dir.sync("a").await.unwrap();
            assert!(dir.append("a", b"2").await.is_err());
            assert!(dir.sync_dir().await.is_err());
            assert_eq!(dir.read("a").await.unwrap(), b"1");
        });
        assert_eq!(faults.ops(), 4);
        assert_eq!(dir.unsynced_names(), 1);
    }

    #[test]
    fn missing_files_and_bad_names_are_errors() {
        let dir = SimDir::new();
        block_on(async {
            let kind = |r: io::Result<()>| r.unwrap_err().kind();
            assert_eq!(kind(dir.sync("x").await), io::ErrorKind::NotFound);
            assert_eq!(kind(dir.append("x", b"").await), io::ErrorKind::NotFound);
            assert_eq!(kind(dir.rename("x", "y").await), io::ErrorKind::NotFound);
            assert_eq!(kind(dir.remove("x").await), io::ErrorKind::NotFound);
            assert_eq!(
                kind(dir.write("a/b", b"").await),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(kind(dir.create("..").await), io::ErrorKind::InvalidInput);
            assert_eq!(
                dir.read("x").await.unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
        });
    }
}
