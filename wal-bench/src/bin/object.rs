//! Benchmarks of `wal-object` against a local S3 server (moto):
//!
//! - archiving a sealed 64 MiB segment (read from the local log, check, conditional upload,
//!   verification, manifest entry) vs a raw `object_store` put of the same bytes, in the same
//!   run (ratio of throughputs);
//! - durable appends on the object-store backend with 64 concurrent appenders (group commit:
//!   records per chunk object).
//!
//! `WAL_TEST_S3_ENDPOINT` / `WAL_TEST_S3_BUCKET` name the server; without them the benchmark
//! starts `moto_server` from `target/moto-venv` (made by `.ci/run` or `source .ci/moto.sh`).
//! `cargo run --release -p wal-bench --bin bench-object`; `WAL_BENCH_RUNS` sets the runs.

// A benchmark aborts on any failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use wal_api::{GroupCommit, Never, SegmentId, SegmentStoreExt, Wal, WalOptions};
use wal_bench::{median, rate, report, runs};
use wal_memory::MemoryStore;
use wal_object::{Archiver, ObjectStoreSegments};

const SEGMENT: u64 = 64 << 20;

fn s3(endpoint: &str, bucket: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_timeout(Duration::from_secs(120)),
            )
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
            .build()
            .unwrap(),
    )
}

/// A moto server this process started (killed on drop).
struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The endpoint and bucket to use, starting moto if none is configured.
fn endpoint() -> Option<(String, String, Option<Moto>)> {
    if let (Ok(ep), Ok(b)) = (
        std::env::var("WAL_TEST_S3_ENDPOINT"),
        std::env::var("WAL_TEST_S3_BUCKET"),
    ) {
        return Some((ep, b, None));
    }
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/moto-venv/bin/moto_server");
    if !bin.exists() {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let moto = Moto(child);
    let ep = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Create the bucket (an S3 CreateBucket is a bare PUT).
    let status = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-o",
            "/dev/null",
            &format!("{ep}/wal-bench"),
        ])
        .status()
        .ok()?;
    status
        .success()
        .then_some((ep, "wal-bench".into(), Some(moto)))
}

/// A local log whose first segment is sealed at about 64 MiB.
async fn sealed_segment() -> MemoryStore {
    let local = MemoryStore::new();
    let wal = Wal::open(
        local.clone(),
        WalOptions::default()
            .segment_size(SEGMENT)
            .sync_policy(Never),
    )
    .await
    .unwrap();
    let rec = vec![0x5Au8; 4096];
    let batch: Vec<&[u8]> = vec![&rec[..]; 64];
    while wal.segments().len() < 2 {
        wal.append_batch(&batch).await.unwrap();
    }
    wal.close().await.unwrap();
    local
}

async fn durable_appends(
    store: Arc<dyn ObjectStore>,
    appenders: usize,
    dur: Duration,
) -> (f64, f64) {
    let prefix = format!("bench/log-{}", rand_u64());
    let segs = ObjectStoreSegments::open(store, &prefix).await.unwrap();
    let wal = Wal::open(
        segs,
        WalOptions::default().sync_policy(GroupCommit::default()),
    )
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let (wal, stop) = (wal.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let rec = [1u8; 100];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                wal.append(&rec).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let elapsed = t0.elapsed();
    let per_sync = wal.stats().records_per_sync();
    wal.close().await.unwrap();
    (rate(total, elapsed), per_sync)
}

fn rand_u64() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some((ep, bucket, _moto)) = endpoint() else {
        println!(
            "bench-object needs a local S3 server: set WAL_TEST_S3_ENDPOINT and \
             WAL_TEST_S3_BUCKET, or run `source .ci/moto.sh` (installs moto into \
             target/moto-venv) first"
        );
        return;
    };
    println!(
        "== wal-object benchmarks against {ep} ({} runs each, at least 11 for uploads; medians)",
        runs()
    );
    let store = s3(&ep, &bucket);
    let local = sealed_segment().await;
    let id = SegmentId(1);
    let bytes = local.read_all(id).await.unwrap();
    let mb = bytes.len() as f64 / 1e6;
    println!("sealed segment: {} bytes", bytes.len());
    let (mut arch, mut raw, mut cond) = (Vec::new(), Vec::new(), Vec::new());
    let (mut md5s, mut crcs) = (Vec::new(), Vec::new());
    // Single uploads to moto land in a fast (~230 MB/s) or a slow (~155 MB/s) mode from one
    // request to the next, so the upload comparison takes at least 11 runs.
    for run in 0..runs().max(11) {
        let tag = format!("{}-{run}", rand_u64());
        // The parts of an archive that are not the upload, alone on an idle machine.
        let b = bytes.clone();
        let (m, c) = tokio::task::spawn_blocking(move || {
            use md5::Digest;
            let t0 = Instant::now();
            std::hint::black_box(md5::Md5::digest(&b));
            let m = t0.elapsed();
            let t0 = Instant::now();
            let checked = wal_api::segment::check_segment(wal_api::SegmentId(1), &b, false);
            std::hint::black_box(checked.is_ok());
            std::hint::black_box(crc32fast::hash(&b));
            (m, t0.elapsed())
        })
        .await
        .unwrap();
        md5s.push(m.as_secs_f64() * 1e3);
        crcs.push(c.as_secs_f64() * 1e3);
        let key = Path::from(format!("bench/cond-{tag}"));
        let t0 = Instant::now();
        store
            .put_opts(
                &key,
                PutPayload::from(bytes.clone()),
                PutOptions::from(PutMode::Create),
            )
            .await
            .unwrap();
        cond.push(mb / t0.elapsed().as_secs_f64());
        store.delete(&key).await.unwrap();
        let raw_put = async {
            let key = Path::from(format!("bench/raw-{tag}"));
            let t0 = Instant::now();
            store
                .put(&key, PutPayload::from(bytes.clone()))
                .await
                .unwrap();
            let d = t0.elapsed();
            store.delete(&key).await.unwrap();
            mb / d.as_secs_f64()
        };
        let archive = async {
            let a = Archiver::open(store.clone(), &format!("bench/archive-{tag}"))
                .await
                .unwrap();
            let t0 = Instant::now();
            a.archive_segment(&local, id).await.unwrap();
            let d = t0.elapsed();
            mb / d.as_secs_f64()
        };
        // Alternate the order so neither side always runs on a warmer server.
        if run % 2 == 0 {
            raw.push(raw_put.await);
            arch.push(archive.await);
        } else {
            arch.push(archive.await);
            raw.push(raw_put.await);
        }
    }
    let ratio = median(&arch) / median(&raw);
    report("raw object_store put, 64 MiB", &raw, "MB/s", None);
    report(
        "conditional put (PutMode::Create), 64 MiB",
        &cond,
        "MB/s",
        Some((median(&cond) / median(&raw), "raw put")),
    );
    report("MD5 of the segment (ETag check)", &md5s, "ms", None);
    report("frame check + CRC32 of the segment", &crcs, "ms", None);
    report(
        "archive sealed 64 MiB segment (check, upload, verify, manifest)",
        &arch,
        "MB/s",
        Some((ratio, "raw put (>= 0.8)")),
    );
    report(
        "archive / raw put, paired per run",
        &arch
            .iter()
            .zip(&raw)
            .map(|(a, r)| a / r)
            .collect::<Vec<_>>(),
        "x",
        None,
    );
    let (mut rates, mut per) = (Vec::new(), Vec::new());
    for _ in 0..runs() {
        let (r, p) = durable_appends(store.clone(), 64, Duration::from_secs(3)).await;
        rates.push(r);
        per.push(p);
    }
    report(
        "durable appends on S3 backend, 64 appenders, 100 B",
        &rates,
        "records/s",
        None,
    );
    report(
        "durable appends on S3 backend, 64 appenders: records per chunk",
        &per,
        "records",
        None,
    );
}
