//! Runs the whole conformance kit against `ObjectStoreSegments` over `object_store`'s
//! `InMemory`, `LocalFileSystem` (fsync on) and S3 (a moto server in CI).
//!
//! The S3 cases read `WAL_TEST_S3_ENDPOINT` and `WAL_TEST_S3_BUCKET`; without them each prints
//! `skipped: no S3 endpoint` and does nothing else. Every test uses its own key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use object_store::ObjectStore;
use wal_api::SegmentId;
use wal_object::ObjectStoreSegments;
use wal_testkit::StoreFactory;

/// A prefix no other test (or earlier run) uses.
fn unique_prefix(kind: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "wal-test/{kind}/{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The object store and prefix of one test's log; `_dir` keeps a local directory alive.
struct Guard {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    _dir: Option<tempfile::TempDir>,
}

/// A factory over object stores built by `make`.
struct Factory {
    kind: &'static str,
    make: fn() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>),
    crash_budget: usize,
    model_cases: u32,
}

#[async_trait]
impl StoreFactory for Factory {
    type Store = ObjectStoreSegments;
    type Guard = Guard;

    async fn build(&self) -> (Guard, ObjectStoreSegments) {
        let (store, dir) = (self.make)();
        let prefix = unique_prefix(self.kind);
        let s = ObjectStoreSegments::open(store.clone(), &prefix)
            .await
            .expect("open");
        (
            Guard {
                store,
                prefix,
                _dir: dir,
            },
            s,
        )
    }

    async fn reopen(&self, g: &Guard) -> ObjectStoreSegments {
        ObjectStoreSegments::open(g.store.clone(), &g.prefix)
            .await
            .expect("reopen")
    }

    /// For object storage a crash is the death of the process: what was put stays, the
    /// unsynced bytes held in the writer's memory are gone. A new writer (next epoch) sees
    /// exactly that image.
    async fn crash(&self, g: &Guard, _seed: u64) -> Option<ObjectStoreSegments> {
        Some(self.reopen(g).await)
    }

    async fn tamper(
        &self,
        g: &Guard,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        let s = ObjectStoreSegments::open_read_only(g.store.clone(), &g.prefix)
            .await
            .expect("open read-only");
        s.rewrite(id, |b| f(b)).await.expect("rewrite")
    }

    fn crash_budget(&self) -> usize {
        self.crash_budget
    }

    fn model_cases(&self) -> u32 {
        self.model_cases
    }
}

mod in_memory {
    use super::*;

    fn make() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        (Arc::new(object_store::memory::InMemory::new()), None)
    }

    wal_testkit::conformance_tests!(Factory {
        kind: "memory",
        make,
        crash_budget: 1200,
        model_cases: 256,
    });
}

mod local {
    use super::*;

    fn make() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path())
            .expect("local fs")
            .with_fsync(true);
        (Arc::new(fs), Some(dir))
    }

    wal_testkit::conformance_tests!(Factory {
        kind: "local",
        make,
        crash_budget: 1,
        model_cases: 16,
    });
}

#[cfg(feature = "aws")]
mod s3 {
    use super::*;
    use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
    use object_store::{ClientOptions, RetryConfig};
    use std::time::Duration;

    /// The moto/MinIO endpoint and bucket, if configured.
    pub(super) fn endpoint() -> Option<(String, String)> {
        let ep = std::env::var("WAL_TEST_S3_ENDPOINT").ok()?;
        let bucket = std::env::var("WAL_TEST_S3_BUCKET").ok()?;
        (!ep.is_empty() && !bucket.is_empty()).then_some((ep, bucket))
    }

    pub(super) fn make_store() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        make()
    }

    fn make() -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        let (ep, bucket) = endpoint().expect("S3 endpoint");
        assert!(
            ep.starts_with("http://127.0.0.1") || ep.starts_with("http://localhost"),
            "S3 tests talk only to a local server, not {ep}"
        );
        // Client options first: `with_client_options` replaces them (and `allow_http` with them).
        let s3 = AmazonS3Builder::new()
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_timeout(Duration::from_secs(30)),
            )
            .with_endpoint(ep)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..Default::default()
            })
            .build()
            .expect("S3 client");
        (Arc::new(s3), None)
    }

    /// The factory, or `None` (after printing why) when no S3 endpoint is configured.
    fn factory() -> Option<Factory> {
        if endpoint().is_none() {
            println!("skipped: no S3 endpoint (set WAL_TEST_S3_ENDPOINT and WAL_TEST_S3_BUCKET)");
            return None;
        }
        Some(Factory {
            kind: "s3",
            make,
            crash_budget: 1,
            model_cases: 8,
        })
    }

    wal_testkit::conformance_tests!({
        let Some(f) = factory() else { return };
        f
    });

    /// S3-specific checks beyond the kit, against the same server.
    mod extra {
        use super::super::*;
        use object_store::path::Path;
        use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
        use wal_api::{Lsn, Wal, WalOptions};
        use wal_object::Archiver;

        fn rt() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        }

        /// The fence relies on the server refusing a second `PutMode::Create`.
        #[test]
        fn s3_conditional_create_is_enforced() {
            if super::endpoint().is_none() {
                println!("skipped: no S3 endpoint");
                return;
            }
            rt().block_on(async {
                let (store, _) = super::make_store();
                let key = Path::from(format!("{}/once", unique_prefix("s3-extra")));
                let create = || PutOptions::from(PutMode::Create);
                store
                    .put_opts(&key, PutPayload::from_static(b"first"), create())
                    .await
                    .unwrap();
                let second = store
                    .put_opts(&key, PutPayload::from_static(b"second"), create())
                    .await;
                assert!(
                    matches!(second, Err(object_store::Error::AlreadyExists { .. })),
                    "{second:?}"
                );
                let got = store.get(&key).await.unwrap().bytes().await.unwrap();
                assert_eq!(&got[..], b"first");
            });
        }

        /// A second writer fences the first on S3, and the archiver round-trips a segment.
        #[test]
        fn s3_fencing_and_archive_round_trip() {
            if super::endpoint().is_none() {
                println!("skipped: no S3 endpoint");
                return;
            }
            rt().block_on(async {
                let (store, _) = super::make_store();
                let prefix = unique_prefix("s3-extra");
                let a = ObjectStoreSegments::open(store.clone(), &prefix)
                    .await
                    .unwrap();
                let wal_a = Wal::open(a, WalOptions::default().segment_size(2048))
                    .await
                    .unwrap();
                for i in 0..200u32 {
                    wal_a
                        .append(format!("record {i}").as_bytes())
                        .await
                        .unwrap();
                }
                let b = ObjectStoreSegments::open(store.clone(), &prefix)
                    .await
                    .unwrap();
                assert!(wal_a.append(b"late").await.is_err());
                let wal_b = Wal::open(b.clone(), WalOptions::default()).await.unwrap();
                assert!(wal_b.written_lsn() >= Lsn(80));
                let archiver = Archiver::open(store.clone(), &format!("{prefix}/archive"))
                    .await
                    .unwrap();
                let done = archiver.archive_sealed(&b).await.unwrap();
                assert!(done.len() >= 2, "{done:?}");
                let got = archiver.read(Lsn(1)..Lsn(21)).await.unwrap();
                assert_eq!(got.len(), 20);
                assert_eq!(&got[4].data[..], b"record 4");
            });
        }

        /// Sealing and archiving through the multipart path (upload to a temporary key, then
        /// copy-if-not-exists) on S3.
        #[test]
        fn s3_multipart_seal_and_archive_publish_whole_objects() {
            if super::endpoint().is_none() {
                println!("skipped: no S3 endpoint");
                return;
            }
            rt().block_on(async {
                let (store, _) = super::make_store();
                let prefix = unique_prefix("s3-extra");
                let opts = wal_object::ObjectOptions::default().multipart_threshold(1000);
                let s = ObjectStoreSegments::open_with(store.clone(), &prefix, opts)
                    .await
                    .unwrap();
                let wal = Wal::open(s.clone(), WalOptions::default().segment_size(3000))
                    .await
                    .unwrap();
                for i in 0..200u32 {
                    wal.append(format!("record {i}").as_bytes()).await.unwrap();
                }
                wal.close().await.unwrap();
                let listed: Vec<String> = {
                    use futures::StreamExt;
                    store
                        .list(Some(&Path::from(prefix.as_str())))
                        .map(|m| m.unwrap().location.to_string())
                        .collect()
                        .await
                };
                assert!(
                    listed.iter().any(|k| k.contains("/segments/")),
                    "{listed:?}"
                );
                assert!(!listed.iter().any(|k| k.contains("/tmp/")), "{listed:?}");
                let archiver = Archiver::open_with(
                    store.clone(),
                    &format!("{prefix}/archive"),
                    wal_object::ArchiverOptions::default().multipart_threshold(1000),
                )
                .await
                .unwrap();
                let done = archiver.archive_sealed(&s).await.unwrap();
                assert!(done.len() >= 2, "{done:?}");
                // Archiving again from a fresh archiver finds identical copies: success.
                let again = Archiver::open(store.clone(), &format!("{prefix}/archive"))
                    .await
                    .unwrap();
                assert_eq!(again.archived(), archiver.archived());
                let wal = Wal::open(
                    ObjectStoreSegments::open(store.clone(), &prefix)
                        .await
                        .unwrap(),
                    WalOptions::default(),
                )
                .await
                .unwrap();
                assert_eq!(wal.written_lsn(), Lsn(200));
                let got = archiver.read(Lsn(1)..Lsn(11)).await.unwrap();
                assert_eq!(&got[9].data[..], b"record 9");
            });
        }
    }
}
