//! How a closed segment is found: its chunk chain or sealed object, chosen by writer epoch;
//! the fence check; chunk and sealed-object deletion.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use wal_api::{Error, Result, SegmentId};

use super::{lock, Chain, Inner, OpenSeg, Resolved};
use crate::chunk;
use crate::io::{self, map_err, Created, Multipart};
use crate::keys::Key;

impl Inner {
    pub(super) fn fenced_error(&self, what: &str) -> Error {
        if !self.fenced.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                target: "wal::object",
                prefix = self.keys.root().as_ref(),
                epoch = self.epoch,
                what,
                "fenced: a newer writer owns this log"
            );
        }
        Error::Fenced {
            detail: format!(
                "{what} (prefix {}, epoch {})",
                self.keys.root().as_ref(),
                self.epoch
            ),
        }
    }

    pub(super) async fn check_fence(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::Unsupported("writing through a read-only handle"));
        }
        if self.fenced.load(Ordering::SeqCst) {
            return Err(self.fenced_error("fenced earlier"));
        }
        match self.store.head(&self.keys.epoch(self.epoch + 1)).await {
            Ok(_) => Err(self.fenced_error("a newer writer epoch exists")),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err("checking the writer epoch of", None, e)),
        }
    }

    /// Reads and validates the chunk chain of `id` given its listed sequence numbers.
    pub(super) async fn chain(&self, id: SegmentId, seqs: &[u64]) -> Result<Option<Chain>> {
        let mut bytes: Vec<u8> = Vec::new();
        let mut epoch = 0u64;
        let mut valid = 0u64;
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        for (i, seq) in sorted.iter().enumerate() {
            if *seq != i as u64 {
                break; // a missing chunk ends the chain
            }
            let got = match self.store.get(&self.keys.chunk(id, *seq)).await {
                Ok(r) => r.bytes().await,
                Err(e) => Err(e),
            };
            let raw = match got {
                Ok(b) => b,
                Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => return Err(map_err("reading a chunk of", Some(id), e)),
            };
            let Some(c) = chunk::decode(&raw) else {
                break; // torn or corrupt chunk ends the chain
            };
            if c.epoch < epoch {
                // Written by a fenced writer after a newer one took over: not part of the log.
                valid += 1;
                continue;
            }
            if c.start > bytes.len() as u64 {
                break; // a gap
            }
            bytes.truncate(c.start as usize);
            bytes.extend_from_slice(&c.data);
            epoch = c.epoch;
            valid += 1;
        }
        Ok((valid > 0).then_some(Chain {
            bytes,
            epoch,
            valid,
        }))
    }

    /// Chooses the representation of a segment: the newest sealed object unless the chunk
    /// chain is from a newer epoch.
    pub(super) async fn choose(
        &self,
        id: SegmentId,
        sealed: Option<(u64, u64)>,
        seqs: &[u64],
    ) -> Result<Option<Resolved>> {
        let chain = if seqs.is_empty() {
            None
        } else {
            self.chain(id, seqs).await?
        };
        Ok(match (sealed, chain) {
            (Some((epoch, size)), c) if c.as_ref().is_none_or(|c| epoch >= c.epoch) => {
                Some(Resolved::Sealed {
                    key: self.keys.sealed(id, epoch),
                    size,
                    epoch,
                })
            }
            (_, Some(c)) => Some(Resolved::Chunked {
                bytes: Bytes::from(c.bytes),
                epoch: c.epoch,
            }),
            _ => None,
        })
    }

    /// The stored form of one segment (not consulting open writers).
    pub(super) async fn resolve(&self, id: SegmentId) -> Result<Option<Resolved>> {
        if let Some(r) = lock(&self.cache).get(&id) {
            return Ok(Some(r.clone()));
        }
        let sealed = io::list_all(self.store.as_ref(), &self.keys.sealed_dir(id))
            .await
            .map_err(|e| map_err("listing", Some(id), e))?;
        let sealed = sealed
            .iter()
            .filter_map(|(k, size)| match self.keys.parse(k) {
                Some(Key::Sealed { id: i, epoch }) if i == id => Some((epoch, *size)),
                _ => None,
            })
            .max();
        let seqs = self.chunk_seqs(id).await?;
        let r = self.choose(id, sealed, &seqs).await?;
        if let Some(r) = &r {
            lock(&self.cache).insert(id, r.clone());
        }
        Ok(r)
    }

    pub(super) async fn chunk_seqs(&self, id: SegmentId) -> Result<Vec<u64>> {
        let listed = io::list_all(self.store.as_ref(), &self.keys.chunk_dir(id))
            .await
            .map_err(|e| map_err("listing chunks of", Some(id), e))?;
        Ok(listed
            .iter()
            .filter_map(|(k, _)| match self.keys.parse(k) {
                Some(Key::Chunk { id: i, seq }) if i == id => Some(seq),
                _ => None,
            })
            .collect())
    }

    pub(super) async fn read_resolved(
        &self,
        id: SegmentId,
        r: &Resolved,
        range: Range<u64>,
    ) -> Result<Bytes> {
        let len = r.len();
        let start = range.start.min(len);
        let end = range.end.min(len).max(start);
        match r {
            Resolved::Chunked { bytes, .. } => Ok(bytes.slice(start as usize..end as usize)),
            Resolved::Sealed { key, .. } => {
                if start == end {
                    return Ok(Bytes::new());
                }
                self.store
                    .get_range(key, start..end)
                    .await
                    .map_err(|e| map_err("reading", Some(id), e))
            }
        }
    }

    pub(super) fn open_seg(&self, id: SegmentId) -> Option<Arc<OpenSeg>> {
        lock(&self.open).get(&id).cloned()
    }

    /// Deletes every chunk of `id` (sequence 0 first, so a partial delete hides the rest).
    pub(super) async fn delete_chunks(&self, id: SegmentId) -> Result<()> {
        let mut seqs = self.chunk_seqs(id).await?;
        seqs.sort_unstable();
        for seq in seqs {
            io::delete_if_exists(self.store.as_ref(), &self.keys.chunk(id, seq))
                .await
                .map_err(|e| map_err("deleting a chunk of", Some(id), e))?;
        }
        Ok(())
    }

    /// Deletes the sealed objects of `id` with an epoch in `epochs`.
    pub(super) async fn delete_sealed(&self, id: SegmentId, keep: Option<u64>) -> Result<()> {
        let listed = io::list_all(self.store.as_ref(), &self.keys.sealed_dir(id))
            .await
            .map_err(|e| map_err("listing", Some(id), e))?;
        for (k, _) in listed {
            if let Some(Key::Sealed { epoch, .. }) = self.keys.parse(&k) {
                if Some(epoch) != keep {
                    io::delete_if_exists(self.store.as_ref(), &k)
                        .await
                        .map_err(|e| map_err("deleting", Some(id), e))?;
                }
            }
        }
        Ok(())
    }

    /// The epoch that wrote chunk `seq` of `id`, if it exists and decodes.
    pub(super) async fn chunk_epoch(&self, id: SegmentId, seq: u64) -> Result<Option<u64>> {
        let got = match self.store.get(&self.keys.chunk(id, seq)).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        match got {
            Ok(raw) => Ok(chunk::decode(&raw).map(|c| c.epoch)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(map_err("reading a chunk of", Some(id), e)),
        }
    }

    /// Writes the next chunk of `id` at `seq` (or after chunks that a fenced older writer
    /// slipped in, which readers skip). Returns the sequence number used; `Ok` only when the
    /// chunk is stored with exactly our bytes and no newer writer exists.
    pub(super) async fn put_chunk(
        &self,
        id: SegmentId,
        seq: u64,
        start: u64,
        data: &[u8],
    ) -> Result<u64> {
        let body = chunk::encode(self.epoch, start, data);
        let mut seq = seq;
        for _ in 0..64 {
            let key = self.keys.chunk(id, seq);
            match io::create_object(
                self.store.as_ref(),
                &key,
                body.clone(),
                Multipart::NEVER,
                || key.clone(),
            )
            .await
            {
                Ok(Created::Ours) => {
                    self.check_fence().await?;
                    return Ok(seq);
                }
                Ok(Created::Taken) => match self.chunk_epoch(id, seq).await? {
                    Some(e) if e < self.epoch => seq += 1,
                    _ => {
                        return Err(self.fenced_error(&format!(
                            "chunk {seq} of segment {id} was written by another writer"
                        )))
                    }
                },
                Err(e) => return Err(map_err("writing a chunk of", Some(id), e)),
            }
        }
        Err(self.fenced_error(&format!(
            "segment {id} keeps being written by another writer"
        )))
    }
}
