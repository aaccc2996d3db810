//! A third-party backend in about a hundred lines: segments in a map, each byte durable as
//! soon as it is written (like a battery-backed RAM disk). It shows what the traits ask for;
//! `wal-memory` is the one to test engines with, since it models power loss.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::{Capabilities, Error, Result, SegmentId, SegmentMeta, SegmentStore, SegmentWriter};

#[derive(Debug, Default)]
struct Inner {
    live: BTreeMap<SegmentId, Vec<u8>>,
    quarantine: Vec<(SegmentId, Vec<u8>)>,
}

/// Segments in a shared map. Clones share the map.
#[derive(Clone, Debug, Default)]
pub struct MapStore {
    inner: Arc<Mutex<Inner>>,
}

impl MapStore {
    /// An empty store.
    pub fn new() -> MapStore {
        MapStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written segment here, so the
        // data behind a poisoned lock is still consistent.
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Rewrites a segment's bytes (used by the conformance kit to tear or corrupt segments).
    pub fn tamper(&self, id: SegmentId, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        self.lock().live.get_mut(&id).map(f).is_some()
    }
}

#[async_trait]
impl SegmentStore for MapStore {
    async fn create(&self, id: SegmentId, header: &[u8]) -> Result<Box<dyn SegmentWriter>> {
        let mut g = self.lock();
        if g.live.contains_key(&id) {
            return Err(Error::AlreadyExists { segment: id });
        }
        g.live.insert(id, header.to_vec());
        Ok(Box::new(MapWriter {
            store: self.clone(),
            id,
        }))
    }

    async fn open_tail(&self, id: SegmentId, truncate_at: u64) -> Result<Box<dyn SegmentWriter>> {
        let mut g = self.lock();
        let seg = g.live.get_mut(&id).ok_or(Error::NotFound { segment: id })?;
        let at = usize::try_from(truncate_at).unwrap_or(usize::MAX);
        if at > seg.len() {
            return Err(Error::InvalidArgument(format!("cut past the end of {id}")));
        }
        seg.truncate(at);
        Ok(Box::new(MapWriter {
            store: self.clone(),
            id,
        }))
    }

    async fn read(&self, id: SegmentId, range: Range<u64>) -> Result<Bytes> {
        let g = self.lock();
        let seg = g.live.get(&id).ok_or(Error::NotFound { segment: id })?;
        let len = seg.len() as u64;
        let (start, end) = (
            range.start.min(len),
            range.end.min(len).max(range.start.min(len)),
        );
        Ok(Bytes::copy_from_slice(&seg[start as usize..end as usize]))
    }

    async fn list(&self) -> Result<Vec<SegmentMeta>> {
        Ok(self
            .lock()
            .live
            .iter()
            .map(|(id, b)| SegmentMeta {
                id: *id,
                len: b.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, id: SegmentId) -> Result<()> {
        self.lock()
            .live
            .remove(&id)
            .map(|_| ())
            .ok_or(Error::NotFound { segment: id })
    }

    async fn quarantine(&self, id: SegmentId, _reason: &str) -> Result<()> {
        let mut g = self.lock();
        let bytes = g.live.remove(&id).ok_or(Error::NotFound { segment: id })?;
        g.quarantine.push((id, bytes));
        Ok(())
    }

    async fn preserve(&self, id: SegmentId, bytes: &[u8], _reason: &str) -> Result<()> {
        self.lock().quarantine.push((id, bytes.to_vec()));
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::with_quarantine()
    }
}

#[derive(Debug)]
struct MapWriter {
    store: MapStore,
    id: SegmentId,
}

#[async_trait]
impl SegmentWriter for MapWriter {
    fn id(&self) -> SegmentId {
        self.id
    }

    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        let mut g = self.store.lock();
        let seg = g
            .live
            .get_mut(&self.id)
            .ok_or(Error::NotFound { segment: self.id })?;
        seg.extend_from_slice(bytes);
        Ok(seg.len() as u64)
    }

    async fn sync(&self) -> Result<()> {
        Ok(()) // every byte is durable once written
    }

    async fn seal(&self) -> Result<SegmentMeta> {
        let g = self.store.lock();
        let seg = g
            .live
            .get(&self.id)
            .ok_or(Error::NotFound { segment: self.id })?;
        Ok(SegmentMeta {
            id: self.id,
            len: seg.len() as u64,
        })
    }
}
