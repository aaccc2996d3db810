//! The sync leader's gathering: `Gather::WaitFor` thresholds wake it, and the pending byte
//! count a policy sees is real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wal_api::{Ack, Gather, PendingBatch, SyncPolicy, Wal, WalOptions};
use wal_memory::MemoryStore;

/// Syncs only once a threshold is reached, otherwise waits far longer than the test runs.
#[derive(Debug, Default)]
struct Threshold {
    records: u64,
    bytes: u64,
    max_pending_bytes: AtomicU64,
    syncs: AtomicU64,
}

impl SyncPolicy for Threshold {
    fn ack(&self) -> Ack {
        Ack::Durable
    }

    fn gather(&self, b: &PendingBatch) -> Gather {
        self.max_pending_bytes.fetch_max(b.bytes, Ordering::SeqCst);
        if b.records >= self.records || b.bytes >= self.bytes {
            Gather::SyncNow
        } else {
            Gather::WaitFor {
                records: self.records,
                bytes: self.bytes,
                at_most: Duration::from_secs(60),
            }
        }
    }

    fn observe(&self, _records: u64, _latency: Duration) {
        self.syncs.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `appenders` concurrent appends and returns the syncs the policy saw (before close,
/// which syncs again).
async fn run_group(policy: Arc<Threshold>, appenders: usize, size: usize) -> u64 {
    let wal = Wal::open(
        MemoryStore::new(),
        WalOptions::default().sync_policy(policy.clone()),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..appenders {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move {
            wal.append(&vec![i as u8; size]).await.unwrap()
        }));
    }
    // The leader waits up to 60 s unless the arrival that reaches the threshold wakes it.
    tokio::time::timeout(Duration::from_secs(10), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("the appender reaching the threshold did not wake the sync leader");
    assert_eq!(wal.durable_lsn().0, appenders as u64);
    let syncs = policy.syncs.load(Ordering::SeqCst);
    wal.close().await.unwrap();
    syncs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_threshold_wakes_the_leader() {
    let p = Arc::new(Threshold {
        records: 8,
        bytes: u64::MAX,
        ..Threshold::default()
    });
    assert_eq!(
        run_group(p.clone(), 8, 10).await,
        1,
        "one sync for the group"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_threshold_wakes_the_leader() {
    // 5 frames of 32 + 8 (timestamp) + 1000 bytes pass 5000 bytes; the record threshold is
    // never reached.
    let p = Arc::new(Threshold {
        records: u64::MAX,
        bytes: 5000,
        ..Threshold::default()
    });
    assert_eq!(
        run_group(p.clone(), 5, 1000).await,
        1,
        "one sync for the group"
    );
    let seen = p.max_pending_bytes.load(Ordering::SeqCst);
    let frame = wal_api::format::FRAME_HEADER_LEN + wal_api::format::TIMESTAMP_LEN + 1000;
    assert_eq!(seen, 5 * frame as u64, "pending bytes count whole frames");
}
