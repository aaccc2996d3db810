//! A model-based property test: random sequences of operations run against the log and a
//! reference model; after every step the log must match the model.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use wal_api::{Error, Lsn, Never, SegmentStore, Wal, WalOptions};

use futures::StreamExt;
use wal_api::Visibility;

use crate::support::payload;
use crate::{Outcome, StoreFactory};

/// One step of the state machine.
#[derive(Clone, Debug)]
pub enum Step {
    /// Append one record of this length.
    Append(u8),
    /// Append an atomic batch of this many records.
    Batch(u8),
    /// Sync.
    Sync,
    /// Seal the active segment.
    Rotate,
    /// Truncate the prefix at this fraction (of 256) of the log.
    TruncatePrefix(u8),
    /// Truncate the suffix back by this many frames.
    TruncateSuffix(u8),
    /// Close and reopen.
    Reopen,
    /// Power loss (where the backend models it; otherwise a reopen without close).
    Crash(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => any::<u8>().prop_map(Step::Append),
        3 => (1u8..6).prop_map(Step::Batch),
        2 => Just(Step::Sync),
        1 => Just(Step::Rotate),
        1 => any::<u8>().prop_map(Step::TruncatePrefix),
        1 => (0u8..4).prop_map(Step::TruncateSuffix),
        1 => Just(Step::Reopen),
        1 => any::<u64>().prop_map(Step::Crash),
    ]
}

/// The reference: records by LSN, frame boundaries, what is durable, where the log starts.
#[derive(Debug, Default)]
struct Model {
    records: Vec<Vec<u8>>,
    frame_ends: Vec<u64>,
    durable: u64,
    first: u64,
    counter: u64,
}

impl Model {
    fn len(&self) -> u64 {
        self.records.len() as u64
    }

    fn cut(&mut self, n: u64) {
        self.records.truncate(n as usize);
        self.frame_ends.retain(|&e| e <= n);
        self.durable = self.durable.min(n);
    }
}

fn opts() -> WalOptions {
    WalOptions::default()
        .segment_size(600)
        .sync_policy(Never)
        .write_buffer(64)
}

async fn check<S: SegmentStore>(wal: &Wal<S>, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(wal.written_lsn(), Lsn(m.len()));
    prop_assert!(wal.durable_lsn().0 >= m.durable.min(m.len()));
    let first = wal.first_lsn().0.max(1);
    prop_assert!(
        first <= m.first.max(1),
        "log starts at {} but only LSNs below {} were released",
        first,
        m.first
    );
    let items: Vec<_> = wal
        .read_with(Lsn(first).., Visibility::Written)
        .collect()
        .await;
    let mut next = first;
    for r in items {
        let r = r.map_err(|e| TestCaseError::fail(format!("read: {e}")))?;
        prop_assert_eq!(r.lsn.0, next);
        prop_assert_eq!(&r.data[..], &m.records[r.lsn.0 as usize - 1][..]);
        next += 1;
    }
    prop_assert_eq!(
        next,
        m.len().max(first - 1) + 1,
        "records missing at the end"
    );
    Ok(())
}

async fn run_steps<F: StoreFactory>(f: &F, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (g, s) = f.build().await;
    let mut wal = Wal::open(s, opts())
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut m = Model {
        first: 1,
        ..Model::default()
    };
    let fail = |e: Error| TestCaseError::fail(e.to_string());
    for st in steps {
        match st {
            Step::Append(len) => {
                m.counter += 1;
                let p = payload(m.counter, len as usize);
                let lsn = wal.append(&p).await.map_err(fail)?;
                m.records.push(p);
                prop_assert_eq!(lsn.0, m.len());
                m.frame_ends.push(m.len());
            }
            Step::Batch(k) => {
                let batch: Vec<Vec<u8>> = (0..k)
                    .map(|i| payload(m.counter * 8 + u64::from(i) + 1_000_000, 9))
                    .collect();
                m.counter += 1;
                let r = wal.append_batch(&batch).await.map_err(fail)?;
                prop_assert_eq!(r.first.0, m.len() + 1);
                m.records.extend(batch);
                prop_assert_eq!(r.last.0, m.len());
                m.frame_ends.push(m.len());
            }
            Step::Sync => {
                wal.sync().await.map_err(fail)?;
                m.durable = m.len();
            }
            Step::Rotate => {
                wal.rotate().await.map_err(fail)?;
                m.durable = m.len();
            }
            Step::TruncatePrefix(frac) => {
                let lsn = m.len() * u64::from(frac) / 256;
                wal.truncate_prefix(Lsn(lsn)).await.map_err(fail)?;
                m.first = m.first.max(lsn);
            }
            Step::TruncateSuffix(back) => {
                let ends: Vec<u64> = std::iter::once(0)
                    .chain(m.frame_ends.iter().copied())
                    .collect();
                let idx = ends.len().saturating_sub(1 + back as usize);
                let target = ends[idx];
                let physical_first = wal.first_lsn().0;
                let r = wal.truncate_suffix(Lsn(target)).await;
                if target + 1 < physical_first {
                    prop_assert!(matches!(r, Err(Error::Trimmed { .. })), "got {:?}", r);
                } else {
                    r.map_err(fail)?;
                    m.cut(target);
                }
            }
            Step::Reopen => {
                wal.close().await.map_err(fail)?;
                drop(wal);
                m.durable = m.len();
                wal = Wal::open(f.reopen(&g).await, opts()).await.map_err(fail)?;
            }
            Step::Crash(seed) => {
                drop(wal);
                let s = match f.crash(&g, seed).await {
                    Some(s) => s,
                    None => f.reopen(&g).await,
                };
                wal = Wal::open(s, opts()).await.map_err(fail)?;
                let n = wal.written_lsn().0;
                prop_assert!(
                    n >= m.durable && n <= m.len(),
                    "recovered {} records, durable {}, issued {}",
                    n,
                    m.durable,
                    m.len()
                );
                prop_assert!(n == 0 || m.frame_ends.contains(&n), "batch split at {}", n);
                m.cut(n);
                m.durable = n;
            }
        }
        check(&wal, &m).await?;
    }
    Ok(())
}

/// Runs the state machine for the factory's number of cases; any divergence fails with the
/// shrunk sequence of steps.
pub async fn model_state_machine<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let cases = f.model_cases();
    let result = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let strategy = proptest::collection::vec(step(), 1..40);
        let r = runner.run(&strategy, |steps| rt.block_on(run_steps(&*f, steps)));
        (r, cases)
    })
    .await
    .expect("model task");
    match result {
        (Ok(()), cases) => {
            println!("model state machine: {cases} cases, 0 divergences");
            Outcome::Passed
        }
        (Err(e), _) => panic!("model divergence: {e}"),
    }
}
