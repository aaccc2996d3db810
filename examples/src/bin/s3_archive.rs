//! Archive sealed segments to object storage, let retention delete them locally, read them
//! back through the archive, and restore a log from it.
//!
//! By default the archive is a local directory (a temporary one; no setup). To archive to a
//! real S3 endpoint (AWS, MinIO, moto) set `WAL_S3_ENDPOINT` and `WAL_S3_BUCKET` (credentials
//! and region come from the usual `AWS_*` variables; plain `http://` endpoints are allowed):
//!
//! ```text
//! cargo run -p wal-examples --bin s3_archive
//! WAL_S3_ENDPOINT=http://127.0.0.1:9000 WAL_S3_BUCKET=wal cargo run -p wal-examples --bin s3_archive
//! ```
//!
//! The local log is on the filesystem backend, in a temporary directory.

use std::sync::Arc;

use object_store::ObjectStore;
use wal_api::{Lsn, RetentionGate, SegmentStore, Wal, WalOptions};
use wal_fs::FsStore;
use wal_object::{read_through, Archiver};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The archive's object store: S3 if configured, else a local directory.
fn archive_store() -> Result<(Arc<dyn ObjectStore>, Option<tempfile::TempDir>), AnyError> {
    if let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("WAL_S3_ENDPOINT"),
        std::env::var("WAL_S3_BUCKET"),
    ) {
        use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
        let s3 = AmazonS3Builder::from_env()
            .with_endpoint(&endpoint)
            .with_bucket_name(bucket)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
            .build()?;
        println!("archive: S3 at {endpoint}");
        return Ok((Arc::new(s3), None));
    }
    let dir = tempfile::tempdir()?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path())?.with_fsync(true);
    println!("archive: local directory {}", dir.path().display());
    Ok((Arc::new(fs), Some(dir)))
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let (bucket, _dir) = archive_store()?;
    let prefix = format!("wal-example/{}", std::process::id());
    let archiver = Archiver::open(bucket.clone(), &prefix).await?;

    // The archiver is the log's retention gate: prefix truncation deletes a segment locally
    // only once its archived copy is verified and recorded in the manifest.
    let local_dir = tempfile::tempdir()?;
    let local = FsStore::open_or_create(local_dir.path().join("log"))?;
    println!("local log: {}", local.dir().display());
    let gate: Arc<dyn RetentionGate> = Arc::new(archiver.clone());
    let opts = WalOptions::default().segment_size(4096).retention(gate);
    let wal = Wal::open(local.clone(), opts).await?;
    for i in 0..300u32 {
        wal.append(format!("order {i}: {} widgets", i % 17).as_bytes())
            .await?;
    }
    println!(
        "wrote {} records in {} segments",
        wal.written_lsn(),
        wal.segments().len()
    );

    // A checkpoint covers everything: without an archive nothing may go yet.
    wal.truncate_prefix(wal.written_lsn()).await?;
    println!(
        "before archiving, the log still starts at LSN {}",
        wal.first_lsn()
    );

    let archived = archiver.archive_sealed(&local).await?;
    for a in &archived {
        println!(
            "archived segment {} (LSNs {}..={}, {} bytes, crc32 {:08x})",
            a.id, a.base_lsn, a.last_lsn, a.len, a.crc32
        );
    }
    let first = wal.truncate_prefix(wal.written_lsn()).await?;
    println!(
        "after archiving, retention deleted {} local segments; the log starts at LSN {first}",
        archived.len()
    );
    assert!(local.list().await?.len() < archived.len());

    // Read-through: LSNs below the local log's start come from the archive.
    let all = read_through(&archiver, &wal, Lsn(1)..wal.written_lsn().next()).await?;
    assert_eq!(all.len() as u64, wal.written_lsn().0);
    println!(
        "read through archive + log: {} records, LSN 1 = {:?}",
        all.len(),
        String::from_utf8_lossy(&all[0].data)
    );

    // Restore a fresh local log from the archive up to LSN 150 and keep writing on it.
    let restored_store = FsStore::open_or_create(local_dir.path().join("restored"))?;
    let report = archiver.restore(&restored_store, Lsn(150)).await?;
    let restored = Wal::open(restored_store, WalOptions::default()).await?;
    let next = restored.append(b"first record after the restore").await?;
    println!(
        "restored {} segments up to LSN {}; the restored log appends at LSN {next}",
        report.segments.len(),
        report.last_lsn
    );
    assert_eq!(next, Lsn(151));
    wal.close().await?;
    restored.close().await?;
    Ok(())
}
