//! Test support (feature `testing`): rewriting a stored segment in place.

use object_store::{ObjectStoreExt, PutPayload};
use wal_api::{Result, SegmentId};

use super::{lock, ObjectStoreSegments, Resolved};
use crate::chunk;
use crate::io::{self, map_err};

impl ObjectStoreSegments {
    /// Replaces the stored bytes of segment `id` in place, keeping its sealed or unsealed form,
    /// for tests that corrupt or tear segments. Returns false if the segment does not exist.
    ///
    /// Only with the `testing` feature, which is for tests (enable it in
    /// `[dev-dependencies]`). It also works on a [read-only](Self::open_read_only) handle.
    pub async fn rewrite(&self, id: SegmentId, f: impl FnOnce(&mut Vec<u8>)) -> Result<bool> {
        let inner = &self.inner;
        let Some(res) = inner.resolve(id).await? else {
            return Ok(false);
        };
        let mut bytes = inner.read_resolved(id, &res, 0..u64::MAX).await?.to_vec();
        f(&mut bytes);
        match res {
            Resolved::Sealed { key, .. } => {
                inner
                    .store
                    .put(&key, PutPayload::from(bytes))
                    .await
                    .map_err(|e| map_err("rewriting", Some(id), e))?;
            }
            Resolved::Chunked { epoch, .. } => {
                let listed = io::list_all(inner.store.as_ref(), &inner.keys.chunk_dir(id))
                    .await
                    .map_err(|e| map_err("rewriting", Some(id), e))?;
                for (k, _) in listed {
                    io::delete_if_exists(inner.store.as_ref(), &k)
                        .await
                        .map_err(|e| map_err("rewriting", Some(id), e))?;
                }
                inner
                    .store
                    .put(
                        &inner.keys.chunk(id, 0),
                        PutPayload::from(chunk::encode(epoch, 0, &bytes)),
                    )
                    .await
                    .map_err(|e| map_err("rewriting", Some(id), e))?;
            }
        }
        lock(&inner.cache).remove(&id);
        Ok(true)
    }
}
