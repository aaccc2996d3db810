//! With feature `metrics`, appends, syncs, rotations, seals, recovery cuts and poisoning move
//! the counters named in `wal_api::metrics`, as a recorder installed for the test sees them.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use wal_api::metrics as names;
use wal_api::{PerWrite, SegmentStore, Wal, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

/// Samples of one histogram.
#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// A recorder that keeps every counter and histogram by name.
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

impl TestRecorder {
    fn counter(&self, name: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        self.histograms
            .lock()
            .unwrap()
            .get(name)
            .map(|h| h.0.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut m = self.counters.lock().unwrap();
        Counter::from_arc(m.entry(key.name().to_string()).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut m = self.histograms.lock().unwrap();
        Histogram::from_arc(m.entry(key.name().to_string()).or_default().clone())
    }
}

/// Runs `f` on a current-thread runtime with `recorder` installed for this thread (every task
/// of the log runs on it).
fn with_recorder<F: std::future::Future<Output = ()>>(recorder: &TestRecorder, f: F) {
    metrics::with_local_recorder(recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    });
}

#[test]
fn appends_and_syncs_move_the_counters() {
    let rec = TestRecorder::default();
    with_recorder(&rec, async {
        let wal = Wal::open(
            MemoryStore::new(),
            WalOptions::default().sync_policy(PerWrite),
        )
        .await
        .unwrap();
        wal.append(&[1; 10]).await.unwrap();
        wal.append(&[2; 20]).await.unwrap();
        wal.append_batch(&[&[3u8; 5][..], &[4; 7]]).await.unwrap();

        assert_eq!(rec.counter(names::APPEND_RECORDS), 4);
        assert_eq!(rec.counter(names::APPEND_BYTES), 10 + 20 + 5 + 7);
        // Per-write: each of the three appends was synced before it returned.
        let stats = wal.stats();
        assert_eq!(stats.syncs, 3);
        assert_eq!(rec.counter(names::SYNCS), stats.syncs);
        let latencies = rec.samples(names::SYNC_SECONDS);
        assert_eq!(latencies.len() as u64, stats.syncs);
        assert!(
            latencies.iter().all(|s| *s >= 0.0 && *s < 60.0),
            "{latencies:?}"
        );
        // Group sizes: one record, one record, then the batch of two.
        assert_eq!(rec.samples(names::GROUP_RECORDS), vec![1.0, 1.0, 2.0]);
        wal.close().await.unwrap();
    });
}

#[test]
fn rotation_seal_recovery_cut_and_poison_are_counted() {
    let rec = TestRecorder::default();
    with_recorder(&rec, async {
        let store = MemoryStore::new();
        let wal = Wal::open(store.clone(), WalOptions::default().segment_size(300))
            .await
            .unwrap();
        for i in 0..8u8 {
            wal.append(&[i; 60]).await.unwrap();
        }
        let rotations = wal.stats().rotations;
        assert!(rotations >= 1, "segments of 300 bytes must rotate");
        assert_eq!(rec.counter(names::ROTATIONS), rotations);
        // Every rotation sealed the segment it left.
        assert_eq!(rec.counter(names::SEALS), rotations);
        assert_eq!(rec.counter(names::RECOVERY_CUTS), 0);
        drop(wal);

        // A torn tail: recovery cuts 7 bytes.
        let last = store.list().await.unwrap().last().unwrap().id;
        store.tamper(last, |b| {
            let n = b.len();
            b.truncate(n - 7);
        });
        let wal = Wal::open(store, WalOptions::default().segment_size(300))
            .await
            .unwrap();
        let torn = wal.recovery_report().torn_bytes;
        assert!(torn > 0);
        assert_eq!(rec.counter(names::RECOVERY_CUTS), 1);
        assert_eq!(rec.counter(names::RECOVERY_CUT_BYTES), torn);
        drop(wal);

        // A failed sync poisons the log, once however many calls fail afterwards.
        let store = MemoryStore::with_faults(FaultPlan {
            fail_sync_at: Some(1),
            ..FaultPlan::default()
        });
        let wal = Wal::open(store, WalOptions::default().sync_policy(PerWrite))
            .await
            .unwrap();
        assert!(wal.append(b"x").await.is_err());
        assert!(wal.append(b"y").await.is_err());
        assert_eq!(rec.counter(names::POISONED), 1);
    });
}
