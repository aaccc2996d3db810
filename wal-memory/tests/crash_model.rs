//! The crash model of `MemoryStore`: process crash, power loss in and out of order, fsyncgate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wal_api::{SegmentId, SegmentStore, SegmentStoreExt};
use wal_memory::{MemoryStore, PAGE_SIZE};

const ID: SegmentId = SegmentId(1);

#[tokio::test]
async fn process_crash_keeps_unsynced_bytes_readable_and_unsynced() {
    let store = MemoryStore::new();
    let w = store.create(ID, b"header").await.unwrap();
    w.append(b"synced").await.unwrap();
    w.sync().await.unwrap();
    w.append(b"not synced").await.unwrap();
    let after = store.process_crash();
    let all = after.read_all(ID).await.unwrap();
    assert_eq!(&all[..], b"headersyncednot synced");
    assert_eq!(after.unsynced_bytes(), 10);
    // The dead process's writer and store can do nothing any more.
    assert!(w.append(b"late").await.is_err());
    assert!(w.sync().await.is_err());
    assert!(store.list().await.is_err());
    assert_eq!(after.read_all(ID).await.unwrap().len(), all.len());
    // A power loss after the process crash may drop what was never synced, never the rest.
    for seed in 0..50 {
        let img = after.crash(seed).read_all(ID).await.unwrap();
        assert!(img.len() >= 12, "seed {seed}");
        assert_eq!(&img[..12], b"headersynced");
    }
}

#[tokio::test]
async fn fsyncgate_failure_loses_bytes_and_later_sync_succeeds() {
    let store = MemoryStore::new();
    let w = store.create(ID, b"h").await.unwrap();
    w.append(b"kept").await.unwrap();
    w.sync().await.unwrap();
    w.append(b"doomed").await.unwrap();
    store.fail_next_sync(true);
    assert!(w.sync().await.is_err());
    assert_eq!(store.lost_bytes(), 6);
    // Still readable in the page cache.
    assert_eq!(&store.read_all(ID).await.unwrap()[..], b"hkeptdoomed");
    w.append(b"later").await.unwrap();
    w.sync()
        .await
        .expect("Linux reports success for the next fsync");
    assert_eq!(store.unsynced_bytes(), 0);
    for seed in 0..20 {
        let img = store.crash(seed).read_all(ID).await.unwrap();
        assert_eq!(&img[..], b"hkept\0\0\0\0\0\0later", "seed {seed}");
    }
}

#[tokio::test]
async fn plain_sync_failure_is_covered_by_the_next_sync() {
    let store = MemoryStore::new();
    let w = store.create(ID, b"h").await.unwrap();
    w.append(b"data").await.unwrap();
    store.fail_next_sync(false);
    assert!(w.sync().await.is_err());
    assert_eq!(store.lost_bytes(), 0);
    w.sync().await.unwrap();
    assert_eq!(&store.crash(1).read_all(ID).await.unwrap()[..], b"hdata");
}

#[tokio::test]
async fn reordered_power_loss_can_keep_a_later_page_and_lose_an_earlier_one() {
    let store = MemoryStore::new();
    let w = store.create(ID, b"h").await.unwrap();
    let body: Vec<u8> = (0..4 * PAGE_SIZE).map(|i| (i % 200) as u8 + 1).collect();
    w.append(&body).await.unwrap();
    let mut seen = false;
    for seed in 0..64 {
        let img = store.crash_reordered(seed).read_all(ID).await.unwrap();
        assert_eq!(img[0], b'h', "seed {seed}: the synced header survives");
        let zero_page = |p: usize| {
            img.get(p * PAGE_SIZE..(p + 1) * PAGE_SIZE)
                .is_some_and(|s| s.iter().all(|&b| b == 0))
        };
        let kept_page = |p: usize| {
            let r = p * PAGE_SIZE..((p + 1) * PAGE_SIZE).min(img.len());
            r.start < r.end && img[r.clone()] == [&b"h"[..], &body[..]].concat()[r]
        };
        if zero_page(1) && (kept_page(2) || kept_page(3)) {
            seen = true;
        }
    }
    assert!(seen, "no seed reordered the pages");
}
