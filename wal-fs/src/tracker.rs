//! [`DurabilityTracker`]: test support recording what a power loss would keep (feature
//! `testing` only).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use wal_api::SegmentId;

/// Per segment, the number of leading bytes known durable: set by create (the header), each
/// successful sync and seal, and cuts (`open_tail`). Bytes past it were written but not synced,
/// so a power loss may lose or tear them.
///
/// An [`FsStore`](crate::FsStore) fills it when built with
/// [`FsOptions::tracker`](crate::FsOptions::tracker); a test keeps a clone across store
/// instances and cuts files back to these lengths to simulate a power loss. A segment missing
/// from the map is treated as wholly durable by such tests. Clones share the map.
///
/// Test support: only with the `testing` feature.
#[derive(Clone, Debug, Default)]
pub struct DurabilityTracker {
    map: Arc<Mutex<BTreeMap<SegmentId, u64>>>,
}

impl DurabilityTracker {
    /// An empty tracker.
    pub fn new() -> DurabilityTracker {
        DurabilityTracker::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<SegmentId, u64>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Durable length of segment `id`, if tracked.
    pub fn durable_len(&self, id: SegmentId) -> Option<u64> {
        self.lock().get(&id).copied()
    }

    /// Every tracked segment and its durable length.
    pub fn snapshot(&self) -> Vec<(SegmentId, u64)> {
        self.lock().iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Sets the durable length of `id` (after a create, a cut, or a test rewriting the file).
    pub fn set(&self, id: SegmentId, len: u64) {
        self.lock().insert(id, len);
    }

    /// Raises the durable length of `id` to at least `len` (after a sync).
    pub(crate) fn raise(&self, id: SegmentId, len: u64) {
        let mut m = self.lock();
        let e = m.entry(id).or_insert(0);
        *e = (*e).max(len);
    }

    /// Forgets `id` (deleted or quarantined).
    pub fn remove(&self, id: SegmentId) {
        self.lock().remove(&id);
    }
}
