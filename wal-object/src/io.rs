//! Object I/O with the rules the log depends on: conditional creates, ambiguous outcomes
//! resolved by reading back, multipart uploads published atomically, error mapping.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions,
    PutPayload,
};
use wal_api::{Error, SegmentId};

/// Default part size of multipart uploads (S3 needs at least 5 MiB but for the last part).
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts uploaded at once.
const PART_CONCURRENCY: usize = 8;

/// Maps an `object_store` error into the log's error.
pub(crate) fn map_err(
    op: &'static str,
    segment: Option<SegmentId>,
    e: object_store::Error,
) -> Error {
    match (e, segment) {
        (object_store::Error::NotFound { .. }, Some(segment)) => Error::NotFound { segment },
        (e, _) => Error::io(op, segment, std::io::Error::other(e)),
    }
}

/// Result of [`create_object`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Created {
    /// The object now holds exactly our bytes (written by us, perhaps on an earlier attempt).
    Ours,
    /// Another object with different bytes was there first.
    Taken,
}

/// Reads `key` back and says whether it holds exactly `want` (`None`: it does not exist).
pub(crate) async fn holds(
    store: &dyn ObjectStore,
    key: &Path,
    want: &[u8],
) -> object_store::Result<Option<bool>> {
    match store.get(key).await {
        Ok(r) => {
            let got = r.bytes().await?;
            Ok(Some(
                got.len() == want.len()
                    && crc32fast::hash(&got) == crc32fast::hash(want)
                    && got[..] == want[..],
            ))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates `key` holding `data`, never overwriting. An error whose outcome is unknown
/// (timeout, 5xx after retries, `AlreadyExists` after the client retried our own request) is
/// resolved by reading the object back and comparing bytes, never by assuming.
pub(crate) async fn create_object(
    store: &dyn ObjectStore,
    key: &Path,
    data: Bytes,
    multipart: Multipart,
    tmp: impl FnOnce() -> Path,
) -> object_store::Result<Created> {
    let res = if data.len() > multipart.threshold {
        create_multipart(store, key, data.clone(), tmp(), multipart.part_size).await
    } else {
        store
            .put_opts(
                key,
                PutPayload::from(data.clone()),
                PutOptions::from(PutMode::Create),
            )
            .await
            .map(|_| ())
    };
    match res {
        Ok(()) => Ok(Created::Ours),
        Err(e) => match holds(store, key, &data).await {
            Ok(Some(true)) => Ok(Created::Ours),
            Ok(Some(false)) => Ok(Created::Taken),
            // Not there: the write did not land; report the original error.
            Ok(None) => Err(e),
            Err(_) => Err(e),
        },
    }
}

/// When and how to upload in parts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Multipart {
    /// Objects larger than this go in parts.
    pub(crate) threshold: usize,
    /// Size of each part but the last.
    pub(crate) part_size: usize,
}

impl Multipart {
    /// Never in parts.
    pub(crate) const NEVER: Multipart = Multipart {
        threshold: usize::MAX,
        part_size: PART_SIZE,
    };
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique suffix for temporary keys.
pub(crate) fn unique() -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{t}-{n}", std::process::id())
}

/// Uploads `data` in parts to `tmp`, then publishes it at `key` with a copy that fails if
/// `key` exists, then removes `tmp`. A crash part-way leaves only a temporary object (ignored
/// by listings) or an aborted upload: never a partial object at `key`.
async fn create_multipart(
    store: &dyn ObjectStore,
    key: &Path,
    data: Bytes,
    tmp: Path,
    part_size: usize,
) -> object_store::Result<()> {
    upload_parts(store, &tmp, data, part_size).await?;
    let copied = store
        .copy_opts(
            &tmp,
            key,
            CopyOptions {
                mode: CopyMode::Create,
                ..Default::default()
            },
        )
        .await;
    let _ = store.delete(&tmp).await;
    copied
}

/// Multipart upload of `data` to `key` (overwrite semantics; callers use temporary keys).
pub(crate) async fn upload_parts(
    store: &dyn ObjectStore,
    key: &Path,
    data: Bytes,
    part_size: usize,
) -> object_store::Result<()> {
    let part_size = part_size.max(1);
    let mut up = store
        .put_multipart_opts(key, PutMultipartOptions::default())
        .await?;
    let mut parts = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let end = (off + part_size).min(data.len());
        parts.push(up.put_part(PutPayload::from(data.slice(off..end))));
        off = end;
    }
    let uploaded: object_store::Result<Vec<()>> = futures::stream::iter(parts)
        .buffered(PART_CONCURRENCY)
        .try_collect()
        .await;
    match uploaded {
        Ok(_) => up.complete().await.map(|_| ()),
        Err(e) => {
            let _ = up.abort().await;
            Err(e)
        }
    }
}

/// Deletes `key`; a missing object counts as deleted.
pub(crate) async fn delete_if_exists(
    store: &dyn ObjectStore,
    key: &Path,
) -> object_store::Result<()> {
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every key under `prefix` with its size.
pub(crate) async fn list_all(
    store: &dyn ObjectStore,
    prefix: &Path,
) -> object_store::Result<Vec<(Path, u64)>> {
    store
        .list(Some(prefix))
        .map_ok(|m| (m.location, m.size))
        .try_collect()
        .await
}
