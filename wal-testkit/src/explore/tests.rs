use std::sync::atomic::{AtomicU64, Ordering};

use wal_api::{Never, Wal, WalOptions};

use super::*;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

type Res = Result<(), String>;

/// `n` appends; with `honest` each is acknowledged once durable (the default policy), else
/// as soon as it returns under `Never` (the bug the exploration must find).
async fn appends(store: LogStore, ledger: &Ledger<u64>, n: u64, honest: bool) -> Res {
    let opts = if honest {
        WalOptions::default()
    } else {
        WalOptions::default().sync_policy(Never).write_buffer(0)
    };
    let wal = Wal::open(store, opts).await.map_err(|e| e.to_string())?;
    for i in 1..=n {
        ledger.issue(i);
        wal.append(&i.to_le_bytes())
            .await
            .map_err(|e| e.to_string())?;
        ledger.ack(i);
    }
    Ok(())
}

async fn log_workload(env: Env<u64>, n: u64, honest: bool) -> Res {
    appends(env.store, &env.ledger, n, honest).await
}

/// The log holds a prefix of what was issued that covers everything acknowledged (the
/// snapshot's mark, [`SNAPSHOT`], aside).
async fn log_check(after: Recovered, h: History<u64>) -> Res {
    check_log(after.store, &h).await
}

async fn check_log(store: LogStore, h: &History<u64>) -> Res {
    let wal = Wal::open(store, WalOptions::default())
        .await
        .map_err(|e| format!("open failed: {e}"))?;
    let n = wal.written_lsn().0;
    let count = |v: &[u64]| v.iter().filter(|&&a| a != SNAPSHOT).count() as u64;
    if n < count(&h.acked) {
        return Err(format!(
            "lost: {n} records recovered, {} acknowledged",
            count(&h.acked)
        ));
    }
    if n > count(&h.issued) {
        return Err(format!(
            "phantom: {n} records recovered, {} issued",
            count(&h.issued)
        ));
    }
    Ok(())
}

#[test]
fn honest_log_workload_has_no_violation_at_any_point() {
    let report = block_on(Explorer::new().seed(3).run(
        async |env: Env<u64>| log_workload(env, 12, true).await,
        log_check,
    ));
    assert!(report.violations.is_empty(), "{report}");
    // Open creates a segment; each durable append is an append and a sync.
    assert!(report.operations >= 24, "{report}");
    assert_eq!(report.points_explored, report.operations + 1);
}

#[test]
fn acknowledging_before_durability_is_caught_and_replays_alone() {
    let ex = Explorer::new().seed(11);
    let report = block_on(ex.run(
        async |env: Env<u64>| log_workload(env, 12, false).await,
        log_check,
    ));
    assert!(!report.violations.is_empty(), "{report}");
    assert!(report
        .violations
        .iter()
        .all(|v| v.message.starts_with("lost:")));
    let first = &report.violations[0];
    assert!(first.replay.contains(&format!(".replay({}, ", first.point)));
    let again = block_on(ex.replay(
        first.point,
        async |env: Env<u64>| log_workload(env, 12, false).await,
        log_check,
    ));
    assert_eq!(again.points_explored, 1);
    assert_eq!(again.violations, vec![first.clone()]);
    // The same seed explores the same way.
    let twice = block_on(ex.run(
        async |env: Env<u64>| log_workload(env, 12, false).await,
        log_check,
    ));
    assert_eq!(twice, report);
}

/// What the ledger records for the snapshot.
const SNAPSHOT: u64 = 1000;

/// A snapshot file written with (`fsync`) or without its fsync before the rename.
async fn snapshot(dir: &SimDir, ledger: &Ledger<u64>, fsync: bool) -> Res {
    let e = |e: std::io::Error| e.to_string();
    ledger.issue(SNAPSHOT);
    dir.write("snap.tmp", &[9u8; 300]).await.map_err(e)?;
    if fsync {
        dir.sync("snap.tmp").await.map_err(e)?;
    }
    dir.rename("snap.tmp", "snap").await.map_err(e)?;
    dir.sync_dir().await.map_err(e)?;
    ledger.ack(SNAPSHOT);
    Ok(())
}

async fn snapshot_check(after: Recovered, h: History<u64>) -> Res {
    check_snapshot(&after.dir, &h).await
}

async fn check_snapshot(dir: &SimDir, h: &History<u64>) -> Res {
    match dir.read("snap").await {
        Ok(b) if b == [9u8; 300] => Ok(()),
        Ok(b) => Err(format!("snapshot holds {} wrong bytes", b.len())),
        Err(_) if !h.acked.contains(&SNAPSHOT) => Ok(()),
        Err(e) => Err(format!("acknowledged snapshot missing: {e}")),
    }
}

#[test]
fn directory_operations_are_crash_points_with_power_loss_semantics() {
    let honest = block_on(Explorer::new().run(
        async |env: Env<u64>| snapshot(&env.dir, &env.ledger, true).await,
        snapshot_check,
    ));
    assert!(honest.violations.is_empty(), "{honest}");
    assert_eq!(honest.operations, 4);
    assert_eq!(honest.points_explored, 5);

    let broken = block_on(Explorer::new().power_loss(PowerLoss::InOrder).run(
        async |env: Env<u64>| snapshot(&env.dir, &env.ledger, false).await,
        snapshot_check,
    ));
    assert!(!broken.violations.is_empty(), "{broken}");
    for v in &broken.violations {
        // Only once the rename happened can the unsynced bytes show under the final name.
        assert!(v.point >= 2, "{v}");
        assert!(v.message.contains("wrong bytes"), "{v}");
        assert!(v.replay.contains("PowerLoss::InOrder"), "{v}");
    }
    assert!(broken.violations.iter().all(|v| {
        v.operation.contains("dir: rename snap.tmp -> snap")
            || v.operation.contains("dir: sync directory")
    }));
}

#[test]
fn log_and_directory_share_one_counter() {
    let report = block_on(Explorer::new().run(
        async |env: Env<u64>| {
            appends(env.store, &env.ledger, 3, true).await?;
            snapshot(&env.dir, &env.ledger, true).await
        },
        async |after: Recovered, h: History<u64>| {
            check_log(after.store, &h).await?;
            check_snapshot(&after.dir, &h).await
        },
    ));
    assert!(report.violations.is_empty(), "{report}");
    let alone = block_on(Explorer::new().run(
        async |env: Env<u64>| log_workload(env, 3, true).await,
        log_check,
    ));
    assert_eq!(report.operations, alone.operations + 4);
}

#[test]
fn sampled_points_are_distinct_sorted_and_chosen_by_the_seed() {
    let pick = |seed: u64| Explorer::new().seed(seed).max_points(7).points(100);
    let a = pick(1);
    assert_eq!(a.len(), 7);
    assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&p| p <= 100));
    assert_eq!(a, pick(1));
    assert_ne!(a, pick(2));
    assert_eq!(
        Explorer::new().max_points(7).points(5),
        vec![0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn sampled_exploration_is_bounded_and_deterministic() {
    let run = |seed: u64| {
        block_on(Explorer::new().seed(seed).max_points(7).run(
            async |env: Env<u64>| log_workload(env, 12, false).await,
            log_check,
        ))
    };
    let a = run(1);
    assert_eq!(a.points_explored, 7);
    assert!(a.operations + 1 > 7);
    assert_eq!(a, run(1));
}

#[test]
fn nondeterministic_workload_is_reported() {
    let runs = AtomicU64::new(0);
    let report = block_on(Explorer::new().run(
        async |env: Env<u64>| {
            // The dry run appends 6 records, later runs 2.
            let n = if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                6
            } else {
                2
            };
            log_workload(env, n, true).await
        },
        log_check,
    ));
    assert!(report
        .violations
        .iter()
        .any(|v| v.message.contains("not deterministic")));
}

#[test]
fn panicking_check_is_a_violation_not_an_abort() {
    let report = block_on(Explorer::new().max_points(3).run(
        async |env: Env<u64>| log_workload(env, 2, true).await,
        async |_after: Recovered, _h: History<u64>| -> Res { panic!("invariant broken") },
    ));
    assert_eq!(report.violations.len(), 3);
    assert!(report.violations[0].message.contains("invariant broken"));
}

#[test]
#[should_panic(expected = "without any crash")]
fn failing_dry_run_panics() {
    block_on(Explorer::new().run(
        async |_env: Env<u64>| -> Res { Err("boom".into()) },
        log_check,
    ));
}
