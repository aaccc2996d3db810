//! The log reports what recovery cut, poisoning and rotation through `tracing`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use wal_api::format::SEGMENT_HEADER_LEN;
use wal_api::{Never, PerWrite, SegmentStore, Wal, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

/// Collects formatted events.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> (Sink, tracing::subscriber::DefaultGuard) {
    let sink = Sink::default();
    let s2 = sink.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || s2.clone())
        .finish();
    (sink, tracing::subscriber::set_default(sub))
}

fn text(s: &Sink) -> String {
    String::from_utf8(s.0.lock().unwrap().clone()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn recovery_cut_poison_and_rotation_are_traced() {
    let (sink, _guard) = capture();
    // A torn tail: recovery cuts it and says so.
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default().sync_policy(Never))
        .await
        .unwrap();
    for i in 0..5u8 {
        wal.append(&[i; 40]).await.unwrap();
    }
    wal.flush().await.unwrap();
    drop(wal);
    let id = store.list().await.unwrap()[0].id;
    store.tamper(id, |b| {
        let n = b.len();
        b.truncate(n - 7);
    });
    let wal = Wal::open(store.clone(), WalOptions::default().segment_size(200))
        .await
        .unwrap();
    let t = text(&sink);
    assert!(t.contains("cutting a torn tail"), "{t}");
    assert!(t.contains("log opened") && t.contains("torn_bytes="), "{t}");
    // Rotation.
    for i in 0..4u8 {
        wal.append(&[i; 60]).await.unwrap();
    }
    assert!(text(&sink).contains("rotated to a new segment"));
    assert!(text(&sink).contains("sealed segment"));
    drop(wal);
    // Poison, with its cause, at error level.
    let store = MemoryStore::with_faults(FaultPlan {
        fail_sync_at: Some(1),
        ..FaultPlan::default()
    });
    let wal = Wal::open(store, WalOptions::default().sync_policy(PerWrite))
        .await
        .unwrap();
    assert!(wal.append(b"x").await.is_err());
    let t = text(&sink);
    let line = t
        .lines()
        .find(|l| l.contains("log poisoned"))
        .unwrap_or_else(|| panic!("no poison event: {t}"));
    assert!(
        line.contains("ERROR") && line.contains("injected fault"),
        "{line}"
    );
    // A damaged header with data behind it refuses the open, at error level.
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    wal.append(b"y").await.unwrap();
    drop(wal);
    store.tamper(id, |b| b[..SEGMENT_HEADER_LEN].fill(0));
    assert!(Wal::open(store, WalOptions::default()).await.is_err());
    assert!(text(&sink).contains("log refused to open"));
}
