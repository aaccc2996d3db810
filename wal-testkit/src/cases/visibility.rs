//! Cases for what readers see and when: tails, the durable watch, read visibility.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use wal_api::{Error, Lsn, Never, Visibility, WalOptions};

use super::{assert_records, fill, open, small};
use crate::support::collect;
use crate::{Outcome, StoreFactory};

/// A tail stream yields records appended after it started, in order.
pub async fn wal_tail_follows_appends<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, small()).await;
    let pre = fill(&wal, 1, 10, 40).await;
    let mut tail = wal.tail(Lsn(5));
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 56 {
            match tail.next().await {
                Some(Ok(r)) => got.push(r),
                other => panic!("tail ended early: {other:?}"),
            }
        }
        got
    });
    let post = fill(&wal, 11, 50, 40).await;
    let got = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("tail timed out")
        .expect("tail task");
    let mut want = pre[4..].to_vec();
    want.extend(post);
    assert_records(&got, 5, &want);
    Outcome::Passed
}

/// A waiting tail ends with an error, not a hang, when the log closes.
pub async fn wal_tail_ends_on_close<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default()).await;
    wal.append(b"one").await.expect("append");
    let mut tail = wal.tail(Lsn(1));
    assert_eq!(
        tail.next().await.expect("item").expect("record").lsn,
        Lsn(1)
    );
    let waiter = tokio::spawn(async move { tail.next().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    wal.close().await.expect("close");
    let r = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("tail hung after close")
        .expect("task");
    assert!(matches!(r, Some(Err(Error::Closed))), "got {r:?}");
    Outcome::Passed
}

/// The durable watch moves when a sync lands.
pub async fn wal_durable_watch_advances<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    let mut rx = wal.durable_watch();
    for _ in 0..3 {
        wal.append(b"x").await.expect("append");
    }
    assert_eq!(rx.borrow_and_update().lsn, Lsn(0));
    assert_eq!(wal.durable_lsn(), Lsn(0));
    wal.sync().await.expect("sync");
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("watch did not move")
        .expect("watch closed");
    assert_eq!(rx.borrow().lsn, Lsn(3));
    wal.wait_durable(Lsn(3)).await.expect("already durable");
    let r = wal.wait_durable(Lsn(9)).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "got {r:?}");
    Outcome::Passed
}

/// Durable visibility hides unsynced records; written visibility shows them.
pub async fn wal_written_visibility_sees_unsynced<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let wal = open(s, WalOptions::default().sync_policy(Never)).await;
    fill(&wal, 1, 5, 30).await;
    assert!(collect(&wal, Lsn(1)..).await.is_empty());
    let seen: Vec<_> = wal.read_with(Lsn(1).., Visibility::Written).collect().await;
    assert_eq!(seen.len(), 5);
    wal.sync().await.expect("sync");
    assert_eq!(collect(&wal, Lsn(1)..).await.len(), 5);
    Outcome::Passed
}
