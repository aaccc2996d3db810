//! [`ObjectWriter`]: the writer of one segment (chunks on sync, one object on seal).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use wal_api::{Error, Result, SegmentId, SegmentMeta, SegmentWriter};

use super::{lock, Inner, OpenSeg, Resolved, SegState};
use crate::io::{self, map_err, Created, Multipart};

/// Writer of one segment.
pub(super) struct ObjectWriter {
    pub(super) inner: Arc<Inner>,
    pub(super) seg: Arc<OpenSeg>,
}

impl fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("segment", &self.seg.id)
            .field("epoch", &self.inner.epoch)
            .finish()
    }
}

impl ObjectWriter {
    fn check_usable(&self, st: &SegState) -> Result<()> {
        let id = self.seg.id;
        if st.deleted {
            return Err(Error::NotFound { segment: id });
        }
        if let Some(f) = &st.failed {
            return Err(Error::other(
                format!("writing segment {id} after an earlier write of it failed"),
                f.clone(),
            ));
        }
        Ok(())
    }

    /// Remembers a failure so no later sync reports success over it.
    fn fail(&self, e: Error) -> Error {
        let mut st = lock(&self.seg.state);
        if st.failed.is_none() {
            st.failed = Some(e.clone());
        }
        e
    }
}

#[async_trait]
impl SegmentWriter for ObjectWriter {
    fn id(&self) -> SegmentId {
        self.seg.id
    }

    async fn append(&self, bytes: &[u8]) -> Result<u64> {
        let mut st = lock(&self.seg.state);
        self.check_usable(&st)?;
        if st.sealed {
            return Err(Error::InvalidArgument(format!(
                "segment {} is sealed",
                self.seg.id
            )));
        }
        if self.inner.fenced.load(Ordering::SeqCst) {
            return Err(self.inner.fenced_error("fenced earlier"));
        }
        st.data.extend_from_slice(bytes);
        Ok(st.data.len() as u64)
    }

    async fn sync(&self) -> Result<()> {
        let _g = self.seg.sync_lock.lock().await;
        let (start, data, seq) = {
            let st = lock(&self.seg.state);
            if st.sealed && st.failed.is_none() {
                return Ok(());
            }
            self.check_usable(&st)?;
            if st.durable == st.data.len() {
                return Ok(());
            }
            (st.durable, st.data[st.durable..].to_vec(), st.next_seq)
        };
        let id = self.seg.id;
        let used = match self.inner.put_chunk(id, seq, start as u64, &data).await {
            Ok(used) => used,
            Err(e) => return Err(self.fail(e)),
        };
        let mut st = lock(&self.seg.state);
        st.durable = st.durable.max(start + data.len());
        st.next_seq = used + 1;
        Ok(())
    }

    async fn seal(&self) -> Result<SegmentMeta> {
        let _g = self.seg.sync_lock.lock().await;
        let id = self.seg.id;
        let inner = &self.inner;
        let data = {
            let st = lock(&self.seg.state);
            self.check_usable(&st)?;
            if st.sealed {
                return Ok(SegmentMeta {
                    id,
                    len: st.data.len() as u64,
                });
            }
            Bytes::from(st.data.clone())
        };
        let key = inner.keys.sealed(id, inner.epoch);
        let tmp = || inner.keys.tmp(&format!("{}-{}", id.padded(), io::unique()));
        let created = io::create_object(
            inner.store.as_ref(),
            &key,
            data.clone(),
            Multipart {
                threshold: inner.opts.multipart_threshold,
                part_size: inner.opts.part_size,
            },
            tmp,
        )
        .await;
        match created {
            Ok(Created::Ours) => {}
            Ok(Created::Taken) => {
                return Err(self.fail(inner.fenced_error(&format!(
                    "sealed segment {id} of this epoch holds other bytes"
                ))))
            }
            Err(e) => return Err(self.fail(map_err("sealing", Some(id), e))),
        }
        if let Err(e) = inner.check_fence().await {
            return Err(self.fail(e));
        }
        {
            let mut st = lock(&self.seg.state);
            st.sealed = true;
            st.durable = st.data.len();
        }
        // The sealed object now wins over the chunks and older sealed copies; removing them is
        // cleanup, and a failure leaves only garbage that reads never use.
        let _ = inner.delete_chunks(id).await;
        let _ = inner.delete_sealed(id, Some(inner.epoch)).await;
        lock(&inner.cache).insert(
            id,
            Resolved::Sealed {
                key,
                size: data.len() as u64,
                epoch: inner.epoch,
            },
        );
        let mut open = lock(&inner.open);
        if open.get(&id).is_some_and(|s| Arc::ptr_eq(s, &self.seg)) {
            open.remove(&id);
        }
        Ok(SegmentMeta {
            id,
            len: data.len() as u64,
        })
    }
}
