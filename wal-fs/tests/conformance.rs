//! Runs the whole conformance kit against `FsStore`, power loss included: the store records
//! the length of every segment known durable (`DurabilityTracker`), and `crash` cuts each file
//! back to it, keeping a seeded part of the unsynced bytes, torn with garbage or zeros.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/rng.rs"]
mod rng;

use std::fs::OpenOptions;
use std::io::Write;

use async_trait::async_trait;
use tempfile::TempDir;
use wal_api::SegmentId;
use wal_fs::{parse_segment_file_name, segment_file_name, DurabilityTracker, FsOptions, FsStore};
use wal_memory::{power_loss_image, reordered_power_loss_image};
use wal_testkit::StoreFactory;

use rng::Rng;

struct Guard {
    dir: TempDir,
    tracker: DurabilityTracker,
}

impl Guard {
    fn store(&self) -> FsStore {
        FsStore::open_with(
            self.dir.path(),
            FsOptions::default()
                .create_if_missing(true)
                .tracker(self.tracker.clone()),
        )
        .expect("open store")
    }
}

fn rewrite(path: &std::path::Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open segment");
    f.write_all(bytes).expect("write segment");
    f.sync_all().expect("sync segment");
}

/// Every segment file becomes `image` of itself and its durable length. One time in five the
/// last segment then gets 4 KiB of zeros appended: the zero fill of a writer that never ran its
/// `Drop` (sealed segments were trimmed durably by `seal`).
fn power_loss(g: &Guard, seed: u64, image: fn(&[u8], usize, u64) -> Vec<u8>) -> FsStore {
    let mut rng = Rng::new(seed);
    let last = std::fs::read_dir(g.dir.path())
        .expect("read dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()
                .and_then(parse_segment_file_name)
        })
        // The newest segment of records: a state slot is sealed (cut to its frame and
        // synced) before the engine goes on, so no zero fill outlives its write.
        .filter(|id| !wal_api::format::state::is_state_slot(*id))
        .max();
    for entry in std::fs::read_dir(g.dir.path()).expect("read dir") {
        let entry = entry.expect("entry");
        let Some(id) = entry.file_name().to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        let bytes = std::fs::read(entry.path()).expect("read segment");
        let durable = g
            .tracker
            .durable_len(id)
            .map_or(bytes.len(), |d| d as usize);
        let mut img = image(&bytes, durable, rng.next_u64());
        // A killed writer leaves its zero fill behind (Drop never trims it): model it.
        if Some(id) == last && rng.below(5) == 0 {
            img.resize(img.len() + 4096, 0);
        }
        if img != bytes {
            rewrite(&entry.path(), &img);
        }
        g.tracker.set(id, img.len() as u64);
    }
    g.store()
}

struct Fs;

#[async_trait]
impl StoreFactory for Fs {
    type Store = FsStore;
    type Guard = Guard;

    async fn build(&self) -> (Guard, FsStore) {
        let g = Guard {
            dir: tempfile::tempdir().expect("tempdir"),
            tracker: DurabilityTracker::new(),
        };
        let s = g.store();
        (g, s)
    }

    async fn reopen(&self, g: &Guard) -> FsStore {
        g.store()
    }

    /// Power loss: every segment file becomes `wal_memory::power_loss_image` of itself and its
    /// durable length (see [`power_loss`]).
    async fn crash(&self, g: &Guard, seed: u64) -> Option<FsStore> {
        Some(power_loss(g, seed, power_loss_image))
    }

    /// Power loss on a disk that writes unsynced pages back out of order:
    /// `wal_memory::reordered_power_loss_image` of every segment file.
    async fn crash_reordered(&self, g: &Guard, seed: u64) -> Option<FsStore> {
        Some(power_loss(g, seed, reordered_power_loss_image))
    }

    async fn tamper(
        &self,
        g: &Guard,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        let path = g.dir.path().join(segment_file_name(id));
        let Ok(mut bytes) = std::fs::read(&path) else {
            return false;
        };
        f(&mut bytes);
        rewrite(&path, &bytes);
        g.tracker.set(id, bytes.len() as u64);
        true
    }

    /// Appended bytes sit in the page cache: a killed process loses none of them.
    fn unsynced_survive_process_crash(&self) -> bool {
        true
    }

    /// Crash sequences sync real files many times (1,200 take over a minute): keep CI time
    /// bounded.
    fn sequence_budget(&self) -> usize {
        400
    }
}

wal_testkit::conformance_tests!(Fs);
