//! [`open_url`]: an object store and key prefix from a URL, set up the way the log needs.

use std::sync::Arc;

#[cfg(feature = "aws")]
use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
#[cfg(feature = "azure")]
use object_store::azure::MicrosoftAzureBuilder;
#[cfg(feature = "gcp")]
use object_store::gcp::GoogleCloudStorageBuilder;
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
///   Needs the `aws` feature (on by default).
/// - `gs://BUCKET/PREFIX`: Google Cloud Storage, configured from the `GOOGLE_*` environment
///   variables (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`, ...). Needs the
///   `gcp` feature.
/// - `az://CONTAINER/PREFIX`: Azure Blob Storage, configured from the `AZURE_*` environment
///   variables (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, ...). Needs the
///   `azure` feature.
/// - `file:///ABSOLUTE/DIR/PREFIX`: a local directory (created if missing), every write
///   fsynced. The prefix is empty: the directory itself is the root.
/// - `memory://`: an in-memory store (tests and demonstrations).
///
/// Anything else, or a cloud scheme whose feature this build lacks, is
/// [`Error::InvalidArgument`] saying so.
pub fn open_url(url: &str) -> Result<(Arc<dyn ObjectStore>, String)> {
    let bad = |why: &str| Error::InvalidArgument(format!("object store URL '{url}': {why}"));
    for (scheme, feature) in [("s3://", "aws"), ("gs://", "gcp"), ("az://", "azure")] {
        let Some(rest) = url.strip_prefix(scheme) else {
            continue;
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket or container"));
        }
        let store = match cloud(scheme, bucket) {
            Some(Ok(store)) => store,
            Some(Err(e)) => return Err(bad(&e.to_string())),
            None => {
                return Err(bad(&format!(
                    "{scheme} URLs need wal-object's `{feature}` feature, which this build lacks"
                )))
            }
        };
        return Ok((store, prefix.trim_matches('/').to_string()));
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
    Err(bad(
        "expected s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX, file:///DIR \
         or memory://",
    ))
}

/// The cloud store for `scheme` over `bucket`; `None` when its feature is off.
fn cloud(scheme: &str, bucket: &str) -> Option<object_store::Result<Arc<dyn ObjectStore>>> {
    let _ = bucket;
    match scheme {
        #[cfg(feature = "aws")]
        "s3://" => {
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_conditional_put(S3ConditionalPut::ETagMatch)
                .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT") {
                b = b
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            Some(b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>))
        }
        #[cfg(feature = "gcp")]
        "gs://" => Some(
            GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        ),
        #[cfg(feature = "azure")]
        "az://" => Some(
            MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        ),
        _ => None,
    }
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
        assert!(open_url("memory://").is_ok());
        for bad in [
            "s3:///x",
            "gs:///x",
            "az:///x",
            "file://relative",
            "ftp://x",
            "",
        ] {
            let e = open_url(bad).err().unwrap();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn s3_url_keeps_the_prefix() {
        let (_, prefix) = open_url("s3://bucket/logs/orders/").unwrap();
        assert_eq!(prefix, "logs/orders");
    }

    /// A scheme whose feature is off names the feature instead of failing obscurely.
    #[test]
    fn disabled_schemes_name_their_feature() {
        for (url, feature, on) in [
            ("s3://b/p", "`aws`", cfg!(feature = "aws")),
            ("gs://b/p", "`gcp`", cfg!(feature = "gcp")),
            ("az://c/p", "`azure`", cfg!(feature = "azure")),
        ] {
            let r = open_url(url);
            if on {
                if let Err(e) = r {
                    assert!(!e.to_string().contains("feature"), "{url}: {e}");
                }
            } else {
                let e = r.err().unwrap().to_string();
                assert!(e.contains(feature), "{url}: {e}");
            }
        }
    }
}
