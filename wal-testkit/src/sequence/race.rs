//! [`Shape::Race`]: an fsyncgate failure while group-commit syncs race seals.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use wal_api::{Lsn, Visibility, Wal, WalOptions};

use super::{image_fingerprint, power_loss, Sequence, Shape, Verdict};
use crate::faults::FaultyStore;
use crate::support::payload;
use crate::StoreFactory;

/// An acknowledged record: its LSN and payload.
type Acked = (u64, Vec<u8>);

/// [`Shape::Race`]: concurrent appenders, rotations and an fsyncgate failure, then a power
/// loss. Every append that returned `Ok` must survive with its payload; every record in the
/// log must be one that was appended.
pub(super) async fn race<F: StoreFactory>(f: &F, seq: &Sequence) -> Option<Verdict> {
    let mut v = Verdict::default();
    let (g, s) = f.build().await;
    if !f.fsyncgate(&g, seq.fsyncgate_at.unwrap_or(1)).await {
        return None;
    }
    let (s, faults) = FaultyStore::new(s);
    faults.sync_delay_after(Duration::from_millis(2));
    let wal = Wal::open(s, WalOptions::default().segment_size(900))
        .await
        .ok()?;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut issued = HashSet::new();
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let (wal, acked) = (wal.clone(), acked.clone());
        let records: Vec<Vec<u8>> = (0..40u64)
            .map(|i| payload(seq.seed * 1000 + t * 100 + i, 20 + (i as usize * 7) % 60))
            .collect();
        issued.extend(records.iter().cloned());
        // Two tasks wait for each record to be durable; two only enqueue, so appends (and
        // rotations) go on while a group-commit sync is in flight.
        let durable = t < 2;
        tasks.push(tokio::spawn(async move {
            for p in records {
                if durable {
                    match wal.append(&p).await {
                        Ok(l) => acked.lock().map(|mut a| a.push((l.0, p))).unwrap_or(()),
                        Err(_) => break,
                    }
                } else {
                    if wal.enqueue(&p).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let durable = wal.durable_lsn().0;
    drop(wal);
    let mut acked = std::mem::take(&mut *acked.lock().ok()?);
    acked.sort();
    let image = power_loss(f, &g, seq).await?;
    let mut h = DefaultHasher::new();
    image_fingerprint(&image, &mut h).await;
    (&acked, durable).hash(&mut h);
    v.fingerprint = h.finish();
    let wal = match Wal::open(image, Shape::Small.reopen_opts()).await {
        Ok(w) => w,
        Err(e) => {
            v.open_failed = true;
            v.problem = Some(format!("open after the power loss failed: {e}"));
            return Some(v);
        }
    };
    let mut got = BTreeMap::new();
    let mut unreadable = None;
    let first = wal.first_lsn().0.max(1);
    let mut items = wal.read_with(Lsn(first).., Visibility::Written);
    while let Some(item) = items.next().await {
        match item {
            Ok(r) => {
                got.insert(r.lsn.0, r.data);
            }
            Err(e) => {
                unreadable = Some(e);
                break;
            }
        }
    }
    let mut problems = Vec::new();
    if let Some(e) = &unreadable {
        problems.push(format!("reading failed: {e}"));
    }
    let missing: Vec<u64> = acked
        .iter()
        .filter(|(l, p)| got.get(l).is_none_or(|d| d[..] != p[..]))
        .map(|(l, _)| *l)
        .collect();
    if let Some(l) = missing.first() {
        v.lost += missing.len() as u64;
        problems.push(format!(
            "{} acknowledged records lost or changed (first: LSN {l})",
            missing.len()
        ));
    }
    if unreadable.is_some() && missing.is_empty() {
        v.open_failed = true;
    }
    let n = wal.written_lsn().0;
    if n < durable {
        v.lost += durable - n;
        problems.push(format!(
            "recovered up to LSN {n}, durable_lsn was {durable}"
        ));
    }
    let strangers = got.values().filter(|d| !issued.contains(&d[..])).count();
    if strangers > 0 {
        v.phantom += strangers as u64;
        problems.push(format!("{strangers} records that were never appended"));
    }
    if !problems.is_empty() {
        v.problem = Some(format!("after the power loss: {}", problems.join("; ")));
    }
    if unreadable.is_some() {
        return Some(v);
    }
    if let Err(e) = wal.append(b"after crash").await {
        v.open_failed = true;
        v.problem
            .get_or_insert(format!("the append after recovery failed: {e}"));
    }
    Some(v)
}
