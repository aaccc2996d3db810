//! Store-contract cases about what a power loss may take back: nothing a call promised durable.
//!
//! Each runs a few store calls, cuts the power ([`StoreFactory::crash`], and
//! [`StoreFactory::crash_reordered`] where the backend models it) under several seeds, and
//! checks the promise. They skip on backends that cannot model a power loss.

use std::sync::Arc;

use wal_api::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::{Lsn, SegmentId, SegmentStore, SegmentStoreExt};

use crate::{Outcome, StoreFactory};

const NO_CRASH: &str = "backend cannot model power loss (StoreFactory::crash)";
const SEEDS: u64 = 6;

fn header(id: u64) -> Vec<u8> {
    SegmentHeader::new(SegmentId(id), Lsn(1), 0x5eed + id)
        .encode()
        .to_vec()
}

/// A power loss under `seed`: in order on even seeds, out of order on odd ones when the
/// backend models it. `None` when the backend cannot model a power loss at all.
async fn power_loss<F: StoreFactory>(f: &F, g: &F::Guard, seed: u64) -> Option<F::Store> {
    if seed % 2 == 1 {
        if let Some(s) = f.crash_reordered(g, seed).await {
            return Some(s);
        }
    }
    f.crash(g, seed).await
}

async fn ids<S: SegmentStore>(s: &S) -> Vec<SegmentId> {
    s.list().await.expect("list").iter().map(|m| m.id).collect()
}

/// Runs `setup` on a fresh store, cuts the power under several seeds, and hands the image
/// to `check` with the seed.
async fn after_power_loss<F, Setup, Check>(f: &F, setup: Setup, check: Check) -> Outcome
where
    F: StoreFactory,
    Setup: for<'a> Fn(&'a F::Store) -> futures::future::BoxFuture<'a, ()>,
    Check: for<'a> Fn(&'a F::Store, u64) -> futures::future::BoxFuture<'a, ()>,
{
    for seed in 0..SEEDS {
        let (g, s) = f.build().await;
        setup(&s).await;
        drop(s);
        let Some(image) = power_loss(f, &g, seed).await else {
            return Outcome::Skipped(NO_CRASH.into());
        };
        check(&image, seed).await;
    }
    Outcome::Passed
}

/// A created segment, and the header it was created with, survive a power loss.
pub async fn store_create_survives_power_loss<F: StoreFactory>(f: Arc<F>) -> Outcome {
    after_power_loss(
        &*f,
        |s| {
            Box::pin(async move {
                let w = s.create(SegmentId(1), &header(1)).await.expect("create");
                w.append(&[1u8; 300]).await.expect("append");
                w.seal().await.expect("seal");
                drop(s.create(SegmentId(2), &header(2)).await.expect("create"));
            })
        },
        |s, seed| {
            Box::pin(async move {
                assert_eq!(
                    ids(s).await,
                    vec![SegmentId(1), SegmentId(2)],
                    "seed {seed}: a created segment vanished"
                );
                let h = s.read_all(SegmentId(2)).await.expect("read");
                assert_holds(&h, &header(2), seed, "segment 2 created with its header");
            })
        },
    )
    .await
}

/// A deleted segment stays deleted after a power loss.
pub async fn store_delete_survives_power_loss<F: StoreFactory>(f: Arc<F>) -> Outcome {
    after_power_loss(
        &*f,
        |s| {
            Box::pin(async move {
                for id in 1..=3 {
                    let w = s.create(SegmentId(id), &header(id)).await.expect("create");
                    w.append(&[id as u8; 100]).await.expect("append");
                    w.seal().await.expect("seal");
                }
                s.delete(SegmentId(1)).await.expect("delete");
                s.delete(SegmentId(2)).await.expect("delete");
            })
        },
        |s, seed| {
            Box::pin(async move {
                assert_eq!(
                    ids(s).await,
                    vec![SegmentId(3)],
                    "seed {seed}: a deleted segment came back"
                );
            })
        },
    )
    .await
}

/// A quarantined segment stays out of the log after a power loss.
pub async fn store_quarantine_survives_power_loss<F: StoreFactory>(f: Arc<F>) -> Outcome {
    {
        let (_g, s) = f.build().await;
        if !s.capabilities().quarantine {
            return Outcome::Skipped("backend has no quarantine".into());
        }
    }
    after_power_loss(
        &*f,
        |s| {
            Box::pin(async move {
                for id in 1..=2 {
                    let w = s.create(SegmentId(id), &header(id)).await.expect("create");
                    w.append(&[7u8; 50]).await.expect("append");
                    w.seal().await.expect("seal");
                }
                s.quarantine(SegmentId(2), "test")
                    .await
                    .expect("quarantine");
            })
        },
        |s, seed| {
            Box::pin(async move {
                assert_eq!(
                    ids(s).await,
                    vec![SegmentId(1)],
                    "seed {seed}: a quarantined segment came back"
                );
            })
        },
    )
    .await
}

/// `all` must be `want`, optionally followed by zeros (a file system's preallocated space may
/// survive a power loss; the engine reads zeros as a clean end).
fn assert_holds(all: &[u8], want: &[u8], seed: u64, what: &str) {
    assert!(
        all.len() >= want.len() && all[..want.len()] == *want,
        "seed {seed}: {what}: {} bytes survived, expected {}",
        all.len(),
        want.len()
    );
    assert!(
        all[want.len()..].iter().all(|&b| b == 0),
        "seed {seed}: {what}: non-zero bytes after the end"
    );
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 239) as u8 + 1).collect()
}

/// Bytes covered by a successful `sync` survive a power loss, over several pages.
pub async fn store_sync_survives_power_loss<F: StoreFactory>(f: Arc<F>) -> Outcome {
    after_power_loss(
        &*f,
        |s| {
            Box::pin(async move {
                let w = s.create(SegmentId(1), &header(1)).await.expect("create");
                w.append(&body(10_000)).await.expect("append");
                w.sync().await.expect("sync");
                w.append(b"maybe").await.expect("append");
            })
        },
        |s, seed| {
            Box::pin(async move {
                let all = s.read_all(SegmentId(1)).await.expect("read");
                let n = SEGMENT_HEADER_LEN + 10_000;
                assert!(all.len() >= n, "seed {seed}: synced bytes lost");
                assert!(
                    all[SEGMENT_HEADER_LEN..n] == body(10_000)[..],
                    "seed {seed}: synced bytes changed"
                );
            })
        },
    )
    .await
}

/// A sealed segment survives a power loss whole.
pub async fn store_seal_survives_power_loss<F: StoreFactory>(f: Arc<F>) -> Outcome {
    after_power_loss(
        &*f,
        |s| {
            Box::pin(async move {
                let w = s.create(SegmentId(1), &header(1)).await.expect("create");
                w.append(&body(6000)).await.expect("append");
                w.seal().await.expect("seal");
            })
        },
        |s, seed| {
            Box::pin(async move {
                let all = s.read_all(SegmentId(1)).await.expect("read");
                let want = [header(1), body(6000)].concat();
                assert_holds(&all, &want, seed, "sealed segment");
            })
        },
    )
    .await
}

/// The cut `open_tail` makes is durable: a power loss never brings the cut bytes back.
pub async fn store_open_tail_cut_survives_power_loss<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let cut = SEGMENT_HEADER_LEN as u64 + 10;
    after_power_loss(
        &*f,
        |s| {
            Box::pin(async move {
                let w = s.create(SegmentId(1), &header(1)).await.expect("create");
                w.append(&body(200)).await.expect("append");
                w.sync().await.expect("sync");
                drop(w);
                drop(s.open_tail(SegmentId(1), cut).await.expect("open_tail"));
            })
        },
        |s, seed| {
            Box::pin(async move {
                let all = s.read_all(SegmentId(1)).await.expect("read");
                let want = [header(1), body(10)].concat();
                assert_eq!(want.len() as u64, cut);
                assert_holds(&all, &want, seed, "segment cut by open_tail");
            })
        },
    )
    .await
}

/// After a failed sync, a later sync either fails too or covers the failed one's bytes: a
/// power loss then keeps them (the store contract's answer to fsyncgate).
pub async fn store_failed_sync_is_covered_or_sticky<F: StoreFactory>(f: Arc<F>) -> Outcome {
    for seed in 0..SEEDS {
        let (g, s) = f.build().await;
        let w = s.create(SegmentId(1), &header(1)).await.expect("create");
        w.append(&body(5000)).await.expect("append");
        if !f.fail_next_sync(&g).await {
            return Outcome::Skipped(
                "backend cannot inject a sync failure (StoreFactory::fail_next_sync)".into(),
            );
        }
        assert!(
            w.sync().await.is_err(),
            "the injected sync failure was not reported"
        );
        if w.sync().await.is_err() {
            continue;
        }
        drop(w);
        drop(s);
        let Some(image) = power_loss(&*f, &g, seed).await else {
            return Outcome::Skipped(NO_CRASH.into());
        };
        let all = image.read_all(SegmentId(1)).await.expect("read");
        assert!(
            all.len() >= SEGMENT_HEADER_LEN + 5000
                && all[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 5000] == body(5000)[..],
            "seed {seed}: a sync returned Ok after a failed one, but the failed one's bytes \
             did not survive a power loss"
        );
    }
    Outcome::Passed
}
