//! With feature `metrics`, archiving counts segments, bytes and failures under the names in
//! `wal_api::metrics`.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use object_store::memory::InMemory;
use wal_api::metrics as names;
use wal_api::{SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;
use wal_object::Archiver;

/// Keeps every counter by name; gauges and histograms are dropped.
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counters {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut m = self.0.lock().unwrap();
        Counter::from_arc(m.entry(key.name().to_string()).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn archiving_counts_segments_bytes_and_failures() {
    let rec = Counters::default();
    metrics::with_local_recorder(&rec, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let local = MemoryStore::new();
                let wal = Wal::open(local.clone(), WalOptions::default().segment_size(400))
                    .await
                    .unwrap();
                for i in 0..12u8 {
                    wal.append(&[i; 50]).await.unwrap();
                }
                let segs = local.list().await.unwrap();
                assert!(segs.len() >= 3, "{segs:?}");
                let archiver = Archiver::open(Arc::new(InMemory::new()), "archive")
                    .await
                    .unwrap();
                let done = archiver.archive_sealed(&local).await.unwrap();
                assert!(!done.is_empty());
                let bytes: u64 = done.iter().map(|a| a.len).sum();
                assert_eq!(rec.get(names::ARCHIVE_SEGMENTS), done.len() as u64);
                assert_eq!(rec.get(names::ARCHIVE_BYTES), bytes);
                assert_eq!(rec.get(names::ARCHIVE_FAILURES), 0);

                // Archiving again is a no-op (already in the manifest): nothing more counted.
                archiver.archive_segment(&local, done[0].id).await.unwrap();
                assert_eq!(rec.get(names::ARCHIVE_SEGMENTS), done.len() as u64);

                // The unsealed tail cannot be archived: a failure.
                let tail = segs.last().unwrap().id;
                assert!(archiver.archive_segment(&local, tail).await.is_err());
                assert_eq!(rec.get(names::ARCHIVE_FAILURES), 1);
            });
    });
}
