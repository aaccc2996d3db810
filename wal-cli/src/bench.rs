//! `walctl bench`: durable appends on the filesystem backend against the disk's own
//! `pwrite` + `fdatasync` latency, in a scratch directory that is removed afterwards. The
//! directory's lock is held for the whole run, so a directory a writer holds is refused.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_api::{GroupCommit, Wal, WalOptions};
use wal_fs::FsStore;

use crate::Outcome;

/// What to run.
pub(crate) struct Config {
    /// Concurrent appending tasks, each with one record in flight.
    pub(crate) appenders: u64,
    /// Length of the run.
    pub(crate) seconds: u64,
    /// Record size in bytes.
    pub(crate) size: u64,
}

/// Removes the scratch directory however the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Median latency (µs) of `n` 128-byte `pwrite` + `fdatasync` into a preallocated file.
fn raw_fdatasync(dir: &Path, n: usize) -> std::io::Result<f64> {
    let f = std::fs::File::create(dir.join("raw"))?;
    f.write_all_at(&vec![0u8; n * 128 + 4096], 0)?;
    f.sync_all()?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f.write_all_at(&[7u8; 128], (i * 128) as u64)?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat[n / 2].as_secs_f64() * 1e6)
}

/// Holds the lock of the benchmarked directory; removes the lock file if the run created it.
struct DirLock {
    _store: Option<FsStore>,
    created: Option<PathBuf>,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        self._store = None;
        if let Some(p) = &self.created {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs the benchmark in a scratch directory under `dir`, holding `dir`'s lock.
pub(crate) async fn run(dir: &str, cfg: Config) -> Result<Outcome, String> {
    if cfg.appenders == 0 || cfg.seconds == 0 || cfg.size == 0 {
        return Err("--appenders, --seconds and --size must be at least 1".into());
    }
    if !Path::new(dir).is_dir() {
        return Err(format!("{dir}: no such directory"));
    }
    let lock_path = Path::new(dir).join(wal_fs::LOCK_FILE);
    let existed = lock_path.exists();
    let _lock = DirLock {
        _store: Some(FsStore::open_or_create(dir).map_err(|e| format!("{dir}: {e}"))?),
        created: (!existed).then_some(lock_path),
    };
    let scratch = Scratch(Path::new(dir).join(format!("walctl-bench-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).map_err(|e| format!("{}: {e}", scratch.0.display()))?;
    let raw_dir = scratch.0.join("raw");
    std::fs::create_dir_all(&raw_dir).map_err(|e| e.to_string())?;
    let raw = raw_fdatasync(&raw_dir, 200).map_err(|e| format!("raw fdatasync: {e}"))?;
    println!("raw pwrite + fdatasync: median {raw:.1} µs");

    let store = FsStore::open_or_create(scratch.0.join("log")).map_err(|e| e.to_string())?;
    let wal = Wal::open(
        store,
        WalOptions::default().sync_policy(GroupCommit::default()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cfg.appenders {
        let (wal, stop) = (wal.clone(), stop.clone());
        let rec = vec![0x5Au8; cfg.size as usize];
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                wal.append(&rec).await?;
                n += 1;
            }
            Ok::<u64, wal_api::Error>(n)
        }));
    }
    tokio::time::sleep(Duration::from_secs(cfg.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let per_sync = wal.stats().records_per_sync();
    wal.close().await.map_err(|e| e.to_string())?;
    let rate = total as f64 / secs;
    let ideal = cfg.appenders as f64 / (raw / 1e6);
    println!(
        "durable appends, {} appenders, {} B: {rate:.0} records/s, {per_sync:.1} records per \
         sync, {:.3} of {} appenders / fdatasync ({ideal:.0}/s)",
        cfg.appenders,
        cfg.size,
        rate / ideal,
        cfg.appenders
    );
    Ok(Outcome::Clean)
}
