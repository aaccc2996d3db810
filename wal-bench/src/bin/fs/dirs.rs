//! Where the benchmark's files live, and making them durable before a timed run.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::knobs::flag;

/// Files live under `target/bench-fs/` of the repository (its disk, not a tmpfs).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fs")
}

/// An empty directory `name` under [`root`] (removed first if it exists).
pub(crate) fn fresh(name: &str) -> PathBuf {
    let p = root().join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Removes a workload's directory unless `WAL_BENCH_KEEP` is set.
pub(crate) fn discard(p: &Path) {
    if !flag("WAL_BENCH_KEEP") {
        let _ = std::fs::remove_dir_all(p);
    }
}

pub(crate) fn sync_dir(p: &Path) {
    File::open(p).unwrap().sync_all().unwrap();
}

/// fsyncs every file under `p` and every directory (itself included), so that no timed run
/// pays for writing back its input.
pub(crate) fn sync_tree(p: &Path) {
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            sync_tree(&e.path());
        } else if t.is_file() {
            File::open(e.path()).unwrap().sync_all().unwrap();
        }
    }
    sync_dir(p);
}

/// Bytes of the regular files under `p` (recursively).
pub(crate) fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_bytes(&e.path())
            } else if m.is_file() {
                m.len()
            } else {
                0
            }
        })
        .sum()
}
