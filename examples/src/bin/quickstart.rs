//! Quickstart: a log on the filesystem in a fresh temporary directory. Writes records, closes,
//! reopens (recovery), reads them back, shows the one-writer lock, then what a simulated power
//! loss keeps (in memory). No setup needed.

use futures::StreamExt;
use wal_api::{Lsn, Never, Wal, WalOptions};
use wal_fs::FsStore;
use wal_memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::Builder::new()
        .prefix("wal-quickstart-")
        .tempdir()?;
    let opts = WalOptions::default().segment_size(4096);
    println!("log directory: {} (removed on exit)", dir.path().display());

    let wal = Wal::open(FsStore::open_or_create(dir.path())?, opts.clone()).await?;
    for i in 0..100u32 {
        // Durable (fdatasync, shared by concurrent appenders) when it returns.
        wal.append(format!("put key{i} = {}", i * i).as_bytes())
            .await?;
    }
    let batch = wal
        .append_batch(&[&b"begin"[..], b"debit 10", b"credit 10", b"commit"])
        .await?;
    println!(
        "wrote 104 records (batch got LSNs {}..={}), durable up to {}, {} segments",
        batch.first,
        batch.last,
        wal.durable_lsn(),
        wal.segments().len()
    );
    match FsStore::open_or_create(dir.path()) {
        Err(e) => println!("a second writer is refused: {e}"),
        Ok(_) => println!("unexpected: a second writer opened the log"),
    }
    wal.close().await?;
    drop(wal); // releases the directory lock

    let mut files: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name(), e.metadata().map(|m| m.len()).unwrap_or(0)))
        .collect();
    files.sort();
    for (name, len) in &files {
        println!("  {:<28} {len:>6} bytes", name.to_string_lossy());
    }

    let wal = Wal::open(FsStore::open_or_create(dir.path())?, opts.clone()).await?;
    let records: Vec<_> = wal.read(Lsn(1)..).collect().await;
    let records: Result<Vec<_>, _> = records.into_iter().collect();
    let records = records?;
    println!(
        "reopened: recovered {} records in {} segments (torn bytes cut: {}), last = {:?}",
        records.len(),
        wal.recovery_report().segments,
        wal.recovery_report().torn_bytes,
        records
            .last()
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
    );
    wal.close().await?;

    // Unsynced records do not survive a power loss; synced ones always do (memory backend).
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts.clone()).await?;
    for i in 0..10u32 {
        wal.append(format!("synced {i}").as_bytes()).await?;
    }
    wal.close().await?;
    let wal = Wal::open(store.clone(), opts.clone().sync_policy(Never)).await?;
    for i in 0..10u32 {
        wal.append(format!("unsynced {i}").as_bytes()).await?;
    }
    wal.flush().await?;
    let crashed = store.crash(42);
    let wal = Wal::open(crashed, opts).await?;
    println!(
        "after a simulated power loss (memory backend): log ends at LSN {} (10 durable, up to 10 unsynced may survive), torn bytes cut: {}",
        wal.written_lsn(),
        wal.recovery_report().torn_bytes
    );
    Ok(())
}
