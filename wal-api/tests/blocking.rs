//! The blocking handle: many OS threads append through it and share group commits; calls from
//! inside a runtime are refused instead of panicking; errors are the async ones.
#![cfg(feature = "blocking")]
#![allow(clippy::unwrap_used)]

use wal_api::blocking::BlockingWal;
use wal_api::{Error, Lsn, WalOptions};
use wal_memory::{FaultPlan, MemoryStore};

#[test]
fn threads_share_group_commits_and_every_record_is_durable() {
    let store = MemoryStore::with_faults(FaultPlan {
        sync_latency: Some(std::time::Duration::from_millis(2)),
        ..FaultPlan::default()
    });
    let wal = BlockingWal::open(store.clone(), WalOptions::default()).unwrap();
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..20u64)
                    .map(|i| wal.append(&(t * 1000 + i).to_le_bytes()).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lsns: Vec<Lsn> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    lsns.sort();
    assert_eq!(lsns, (1..=320).map(Lsn).collect::<Vec<_>>());
    let stats = wal.wal().stats();
    assert!(
        stats.syncs < 320 / 2,
        "16 threads share syncs: {} syncs for 320 records",
        stats.syncs
    );
    drop(wal);
    // Every acknowledged record survives a power loss.
    let wal = BlockingWal::open(store.crash(1), WalOptions::default()).unwrap();
    assert_eq!(wal.read(Lsn(1)..).unwrap().len(), 320);
    let mut n = 0;
    wal.replay(Lsn(1).., |_, _| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 320);
    wal.close().unwrap();
    assert!(matches!(wal.append(b"late"), Err(Error::Closed)));
}

#[test]
fn every_operation_works_through_the_handle() {
    let wal = BlockingWal::open(MemoryStore::new(), WalOptions::default()).unwrap();
    let r = wal.append_batch(&[&b"a"[..], b"b", b"c"]).unwrap();
    assert_eq!((r.first, r.last), (Lsn(1), Lsn(3)));
    assert_eq!(&wal.get(Lsn(2)).unwrap().unwrap().data[..], b"b");
    wal.put_meta("vote", b"3").unwrap();
    assert_eq!(wal.meta("vote").as_deref(), Some(&b"3"[..]));
    wal.truncate_suffix(Lsn(3)).unwrap();
    wal.append(b"d").unwrap();
    wal.rotate().unwrap();
    wal.checkpoint(Lsn(2)).unwrap();
    assert_eq!(wal.wal().first_lsn(), Lsn(3));
    assert_eq!(&wal.last().unwrap().unwrap().data[..], b"d");
    wal.sync().unwrap();
    wal.truncate_prefix(Lsn(4)).unwrap();
    wal.reset(Lsn(100)).unwrap();
    assert_eq!(wal.append(b"e").unwrap(), Lsn(100));
}

#[tokio::test]
async fn calls_from_inside_a_runtime_are_refused() {
    let r = BlockingWal::open(MemoryStore::new(), WalOptions::default());
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
}
