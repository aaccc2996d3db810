//! Runs the log on a backend written outside this project (`wal_examples::custom_store`).

use futures::StreamExt;
use wal_api::{Lsn, Wal, WalOptions};
use wal_examples::custom_store::MapStore;

#[tokio::main]
async fn main() -> Result<(), wal_api::Error> {
    let store = MapStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default()).await?;
    for i in 0..3 {
        wal.append(format!("event {i}").as_bytes()).await?;
    }
    wal.close().await?;
    let wal = Wal::open(store, WalOptions::default()).await?;
    let mut records = wal.read(Lsn(1)..);
    while let Some(r) = records.next().await {
        let r = r?;
        println!("{} {}", r.lsn, String::from_utf8_lossy(&r.data));
    }
    Ok(())
}
