//! Runs the whole conformance kit against `MemoryStore`, with every crash mode it models.

mod support;

use support::Memory;

wal_testkit::conformance_tests!(Memory::default());

/// The same kit through `Arc<dyn SegmentStore>`: run-time backend choice forwards every call.
mod dyn_store {
    use std::sync::Arc;

    use async_trait::async_trait;
    use wal_api::{SegmentId, SegmentStore};
    use wal_testkit::StoreFactory;

    use super::support::{Guard, Memory};

    struct Dyn;

    #[async_trait]
    impl StoreFactory for Dyn {
        type Store = Arc<dyn SegmentStore>;
        type Guard = Guard;

        async fn build(&self) -> (Guard, Arc<dyn SegmentStore>) {
            let (g, s) = Memory::default().build().await;
            (g, Arc::new(s))
        }

        async fn reopen(&self, g: &Guard) -> Arc<dyn SegmentStore> {
            Arc::new(Memory::default().reopen(g).await)
        }

        async fn crash(&self, g: &Guard, seed: u64) -> Option<Arc<dyn SegmentStore>> {
            let s = Memory::default().crash(g, seed).await?;
            Some(Arc::new(s))
        }

        async fn tamper(
            &self,
            g: &Guard,
            id: SegmentId,
            f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
        ) -> bool {
            Memory::default().tamper(g, id, f).await
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
