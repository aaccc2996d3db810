//! Errors the engine returns keep their cause: a poisoned log names the first failure and
//! hands it out as its source, down to the backend's `io::Error`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error as _;

use wal_api::{Error, PerWrite, Wal, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

#[tokio::test]
async fn poisoned_log_reports_the_first_failure_as_its_source() {
    let store = MemoryStore::with_faults(FaultPlan {
        fail_sync_at: Some(1),
        ..FaultPlan::default()
    });
    let wal = Wal::open(store, WalOptions::default().sync_policy(PerWrite))
        .await
        .unwrap();
    let first = wal.append(b"x").await.unwrap_err();
    assert!(
        matches!(first, Error::Io { op: "syncing", .. }),
        "{first:?}"
    );
    assert!(
        first
            .to_string()
            .starts_with("I/O error when syncing segment "),
        "{first}"
    );
    assert!(first.to_string().ends_with(": injected fault"), "{first}");

    let later = wal.append(b"y").await.unwrap_err();
    let Error::Poisoned { during, cause } = &later else {
        panic!("expected Poisoned, got {later:?}");
    };
    assert_eq!(during, "syncing");
    assert_eq!(cause.to_string(), first.to_string());
    assert_eq!(
        later.to_string(),
        format!(
            "log is poisoned: syncing failed earlier ({first}); close it and reopen to recover"
        )
    );
    // The chain: Poisoned -> the first Error -> the backend's io::Error.
    let source = later.source().expect("Poisoned has a source");
    let source = source.downcast_ref::<Error>().expect("the first failure");
    assert!(matches!(source, Error::Io { op: "syncing", .. }));
    let io = source
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error underneath");
    assert_eq!(io.to_string(), "injected fault");
    // Every later call hands out the same cause.
    let again = wal.sync().await.unwrap_err();
    assert_eq!(again.to_string(), later.to_string());
}
