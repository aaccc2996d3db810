//! [`open_url`]: an object store and key prefix from a URL, set up the way the log needs.

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use wal_api::{Error, Result};

/// Opens the object store a URL names and returns it with the key prefix under it:
///
/// - `s3://BUCKET/PREFIX`: S3 or an S3-compatible server. Credentials, region and endpoint
///   come from the usual `AWS_*` environment variables (`AWS_ENDPOINT` for MinIO, moto and
///   the like; a plain `http://` endpoint is allowed and uses path-style requests).
///   Conditional creates use `If-None-Match`, and copy-if-not-exists a multipart copy.
/// - `file:///ABSOLUTE/DIR/PREFIX`: a local directory (created if missing), every write
///   fsynced. The prefix is empty: the directory itself is the root.
/// - `memory://`: an in-memory store (tests and demonstrations).
///
/// Anything else is [`Error::InvalidArgument`].
pub fn open_url(url: &str) -> Result<(Arc<dyn ObjectStore>, String)> {
    let bad = |why: &str| Error::InvalidArgument(format!("object store URL {url:?}: {why}"));
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket"));
        }
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT") {
            b = b
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let s3 = b.build().map_err(|e| bad(&e.to_string()))?;
        return Ok((Arc::new(s3), prefix.trim_matches('/').to_string()));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("a file URL needs an absolute path (file:///dir)"));
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io("creating", None, e))?;
        let fs = LocalFileSystem::new_with_prefix(path)
            .map_err(|e| bad(&e.to_string()))?
            .with_fsync(true);
        return Ok((Arc::new(fs), String::new()));
    }
    if url == "memory://" || url == "memory:" {
        return Ok((Arc::new(InMemory::new()), String::new()));
    }
    Err(bad("expected s3://BUCKET/PREFIX, file:///DIR or memory://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/archive", dir.path().display());
        let (_, prefix) = open_url(&url).unwrap();
        assert_eq!(prefix, "");
        assert!(dir.path().join("archive").is_dir());
        let (_, prefix) = open_url("s3://bucket/logs/orders/").unwrap();
        assert_eq!(prefix, "logs/orders");
        assert!(open_url("memory://").is_ok());
        for bad in ["s3:///x", "file://relative", "ftp://x", ""] {
            let e = open_url(bad).err().unwrap();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
        }
    }
}
