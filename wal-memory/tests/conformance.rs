//! Runs the whole conformance kit against `MemoryStore`.

use std::sync::Mutex;

use async_trait::async_trait;
use wal_api::SegmentId;
use wal_memory::MemoryStore;
use wal_testkit::StoreFactory;

/// Holds the current image of one store; `crash` replaces it.
struct Guard(Mutex<MemoryStore>);

impl Guard {
    fn get(&self) -> MemoryStore {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

struct Memory;

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
        let image = g.get().crash(seed);
        if let Ok(mut cur) = g.0.lock() {
            *cur = image.clone();
        }
        Some(image)
    }

    async fn tamper(
        &self,
        g: &Guard,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        g.get().tamper(id, |b: &mut Vec<u8>| f(b))
    }
}

wal_testkit::conformance_tests!(Memory);

/// The same kit through `Arc<dyn SegmentStore>`: run-time backend choice forwards every call.
mod dyn_store {
    use std::sync::Arc;

    use async_trait::async_trait;
    use wal_api::{SegmentId, SegmentStore};
    use wal_testkit::StoreFactory;

    use super::{Guard, Memory};

    struct Dyn;

    #[async_trait]
    impl StoreFactory for Dyn {
        type Store = Arc<dyn SegmentStore>;
        type Guard = Guard;

        async fn build(&self) -> (Guard, Arc<dyn SegmentStore>) {
            let (g, s) = Memory.build().await;
            (g, Arc::new(s))
        }

        async fn reopen(&self, g: &Guard) -> Arc<dyn SegmentStore> {
            Arc::new(Memory.reopen(g).await)
        }

        async fn crash(&self, g: &Guard, seed: u64) -> Option<Arc<dyn SegmentStore>> {
            let s = Memory.crash(g, seed).await?;
            Some(Arc::new(s))
        }

        async fn tamper(
            &self,
            g: &Guard,
            id: SegmentId,
            f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
        ) -> bool {
            Memory.tamper(g, id, f).await
        }

        fn crash_budget(&self) -> usize {
            300
        }

        fn model_cases(&self) -> u32 {
            64
        }
    }

    wal_testkit::conformance_tests!(Dyn);
}
