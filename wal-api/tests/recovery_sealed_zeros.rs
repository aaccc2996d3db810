//! Recovery of a sealed last segment followed by zeros (a writer killed inside `seal`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use wal_api::{Lsn, SegmentId, SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

/// A writer killed between appending the seal trailer and trimming its preallocated zeros
/// leaves a last segment that is sealed and followed by zeros. Recovery cuts the zeros and
/// goes on; later opens see a clean log.
#[tokio::test]
async fn sealed_last_segment_with_zeros_after_trailer_recovers() {
    let store = MemoryStore::new();
    let opts = WalOptions::default().segment_size(1024);
    let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
    for i in 0..20u32 {
        wal.append(&i.to_le_bytes()).await.unwrap();
    }
    wal.rotate().await.unwrap();
    wal.close().await.unwrap();
    drop(wal);
    // Remove the fresh segment the rotation made and pad the sealed one with zeros, as a
    // crash inside seal leaves it.
    let ids: Vec<SegmentId> = store.list().await.unwrap().iter().map(|m| m.id).collect();
    let last = *ids.last().unwrap();
    let sealed = SegmentId(last.0 - 1);
    let sealed_len = store.segment_bytes(sealed).unwrap().len();
    store.delete(last).await.unwrap();
    assert!(store.tamper(sealed, |b| b.extend_from_slice(&[0u8; 4096])));
    for round in 0..2 {
        let wal = Wal::open(store.clone(), opts.clone()).await.unwrap();
        let expect_cut = if round == 0 { 4096 } else { 0 };
        assert_eq!(wal.recovery_report().torn_bytes, expect_cut);
        let got: Vec<_> = wal.read(Lsn(1)..).collect().await;
        assert_eq!(got.len(), 20);
        assert_eq!(wal.append(b"next").await.unwrap(), Lsn(21));
        wal.truncate_suffix(Lsn(20)).await.unwrap();
        wal.close().await.unwrap();
        assert_eq!(store.segment_bytes(sealed).unwrap().len(), sealed_len);
    }
}
