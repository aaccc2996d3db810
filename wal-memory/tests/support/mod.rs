//! The `StoreFactory` over `MemoryStore` shared by the test files of this crate.

use std::sync::Mutex;

use async_trait::async_trait;
use wal_api::SegmentId;
use wal_memory::MemoryStore;
use wal_testkit::StoreFactory;

/// Holds the current image of one store; `crash` and `process_crash` replace it.
pub(crate) struct Guard(Mutex<MemoryStore>);

impl Guard {
    pub(crate) fn get(&self) -> MemoryStore {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn replace(&self, s: MemoryStore) -> MemoryStore {
        if let Ok(mut cur) = self.0.lock() {
            *cur = s.clone();
        }
        s
    }
}

/// `MemoryStore` with every crash mode: power loss in and out of order, process crash,
/// fsyncgate.
pub(crate) struct Memory {
    /// Distinct states `crash_sequence_exploration` aims for.
    pub(crate) sequence_budget: usize,
    /// States `crash_exploration` visits.
    pub(crate) crash_budget: usize,
    /// Cases of the model test.
    pub(crate) model_cases: u32,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory {
            sequence_budget: 22_000,
            crash_budget: 1200,
            model_cases: 256,
        }
    }
}

#[async_trait]
impl StoreFactory for Memory {
    type Store = MemoryStore;
    type Guard = Guard;

    async fn build(&self) -> (Guard, MemoryStore) {
        let s = MemoryStore::new();
        (Guard(Mutex::new(s.clone())), s)
    }

    async fn reopen(&self, g: &Guard) -> MemoryStore {
        g.get()
    }

    async fn crash(&self, g: &Guard, seed: u64) -> Option<MemoryStore> {
        Some(g.replace(g.get().crash(seed)))
    }

    async fn crash_reordered(&self, g: &Guard, seed: u64) -> Option<MemoryStore> {
        Some(g.replace(g.get().crash_reordered(seed)))
    }

    async fn process_crash(&self, g: &Guard) -> Option<MemoryStore> {
        Some(g.replace(g.get().process_crash()))
    }

    fn unsynced_survive_process_crash(&self) -> bool {
        true
    }

    async fn fsyncgate(&self, g: &Guard, nth: u64) -> bool {
        g.get().fail_sync_in(nth, true);
        true
    }

    async fn fail_next_sync(&self, g: &Guard) -> bool {
        g.get().fail_next_sync(false);
        true
    }

    async fn tamper(
        &self,
        g: &Guard,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        g.get().tamper(id, |b: &mut Vec<u8>| f(b))
    }

    fn crash_budget(&self) -> usize {
        self.crash_budget
    }

    fn sequence_budget(&self) -> usize {
        self.sequence_budget
    }

    fn model_cases(&self) -> u32 {
        self.model_cases
    }
}
