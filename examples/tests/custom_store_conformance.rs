//! A third-party backend runs the same conformance kit as ours: about fifteen lines.

use async_trait::async_trait;
use wal_api::SegmentId;
use wal_examples::custom_store::MapStore;
use wal_testkit::StoreFactory;

struct Factory;

#[async_trait]
impl StoreFactory for Factory {
    type Store = MapStore;
    type Guard = MapStore;

    async fn build(&self) -> (MapStore, MapStore) {
        let s = MapStore::new();
        (s.clone(), s)
    }

    async fn reopen(&self, g: &MapStore) -> MapStore {
        g.clone()
    }

    async fn tamper(
        &self,
        g: &MapStore,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        g.tamper(id, |b: &mut Vec<u8>| f(b))
    }
}

wal_testkit::conformance_tests!(Factory);
