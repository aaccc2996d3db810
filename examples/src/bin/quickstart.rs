//! Quickstart: write records, close, reopen (recovery), read them back, then show what a
//! simulated power loss keeps. Runs on the in-memory backend; no setup needed.

use futures::StreamExt;
use wal_api::{Lsn, Never, Wal, WalOptions};
use wal_memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), wal_api::Error> {
    let store = MemoryStore::new();
    let opts = WalOptions::default().segment_size(4096);

    let wal = Wal::open(store.clone(), opts.clone()).await?;
    for i in 0..100u32 {
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
    wal.close().await?;

    let wal = Wal::open(store.clone(), opts.clone()).await?;
    let records: Vec<_> = wal.read(Lsn(1)..).collect().await;
    let records: Result<Vec<_>, _> = records.into_iter().collect();
    let records = records?;
    println!(
        "reopened: recovered {} records, last = {:?}",
        records.len(),
        records
            .last()
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
    );
    wal.close().await?;

    // Unsynced records do not survive a power loss; synced ones always do.
    let wal = Wal::open(store.clone(), opts.clone().sync_policy(Never)).await?;
    for i in 0..10u32 {
        wal.append(format!("unsynced {i}").as_bytes()).await?;
    }
    wal.flush().await?;
    let crashed = store.crash(42);
    let wal = Wal::open(crashed, opts).await?;
    println!(
        "after simulated power loss: log ends at LSN {} (104 durable, up to 10 unsynced may survive), torn bytes cut: {}",
        wal.written_lsn(),
        wal.recovery_report().torn_bytes
    );
    Ok(())
}
