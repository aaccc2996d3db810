//! Crash sequences as real machines produce them, run by every backend's kit.
//!
//! One [`Sequence`] is: a workload (appends, atomic batches, syncs, durable waits, rotations,
//! both truncations) whose store halts after operation `k` (a process crash: SIGKILL, the
//! machine stays up); a new process reopens the log, so recovery runs and writes, and appends
//! one more record, with its store halting after operation `j`; then the power fails (in
//! order, or with unsynced pages persisted out of order and sectors torn); then the log is
//! opened once more in the default recovery mode and checked. Other sequences cut the power
//! straight after the halt, or make one sync fail the fsyncgate way (its bytes never reach the
//! disk, later syncs succeed) and let the workload go on, then either cut the power or chain
//! a process crash, a reopen with an append and a power loss.
//!
//! Every store operation is a halt point, `create`, `open_tail`, `seal`, `delete` and
//! `quarantine` included. Each recovered log must open (an open failure is a failure), hold
//! every acknowledged record (an `append`, `append_batch`, `sync` or `wait_durable` that
//! returned `Ok`, or a `durable_lsn` the log reported; after a process crash also every record
//! whose append returned, on backends where unsynced bytes outlive the process:
//! [`StoreFactory::unsynced_survive_process_crash`]), hold no
//! record that was never issued or that a truncation discarded (phantom), never split an
//! atomic batch, and accept a new append.
//!
//! States are counted once per distinct final image and expectation. A failure prints the
//! [`Sequence`] that produced it; [`run_one`] replays it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use wal_api::{
    Compression, Error, Lsn, Never, PerWrite, RecoveryMode, SegmentStore, SegmentStoreExt,
    Visibility, Wal, WalOptions,
};

use crate::faults::FaultyStore;
use crate::support::payload;
use crate::{Outcome, StoreFactory};

mod race;

use race::race;

/// The workload a sequence runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Small records, 900-byte segments, `Never` policy: syncs only when asked.
    Small,
    /// Small records, 900-byte segments, `PerWrite`: every append is acknowledged durable.
    /// The log is encrypted, so encrypted frames meet every crash point.
    Durable,
    /// Records of 200 to 1,600 bytes, 24 KB segments, `Never`: unsynced stretches span
    /// several 4 KiB pages, so out-of-order page persistence matters. Every other record
    /// and batch is compressible and the log compresses with lz4, so compressed frames
    /// meet every crash point too.
    Pages,
    /// Four tasks append concurrently under group commit (two wait for durability, two only
    /// enqueue) while 900-byte segments rotate, so group-commit syncs race seals; every sync
    /// answers 2 ms late. Used with
    /// `fsyncgate_at` only, and not deterministic: a replay may need several runs.
    Race,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::Small, Shape::Durable, Shape::Pages];

    fn segment_size(self) -> u64 {
        match self {
            Shape::Pages => 24_000,
            _ => 900,
        }
    }

    fn opts(self) -> WalOptions {
        let o = WalOptions::default()
            .segment_size(self.segment_size())
            .write_buffer(0);
        match self {
            Shape::Durable => o.sync_policy(PerWrite).encryption(keys()),
            Shape::Pages => o.sync_policy(Never).compression(Compression::Lz4),
            _ => o.sync_policy(Never),
        }
    }

    /// Record `n`'s bytes: random, or (every other record of [`Shape::Pages`]) text that
    /// compresses.
    fn record(self, n: u64, len: usize) -> Vec<u8> {
        if self == Shape::Pages && n % 2 == 1 {
            let text = format!("record {n} of a compressible kind; ");
            return text.bytes().cycle().take(len).collect();
        }
        payload(n, len)
    }

    /// Options of the processes after a crash: default recovery mode, durable appends.
    pub(super) fn reopen_opts(self) -> WalOptions {
        let o = WalOptions::default()
            .segment_size(self.segment_size())
            .sync_policy(PerWrite);
        match self {
            Shape::Pages => o.compression(Compression::Lz4),
            Shape::Durable => o.encryption(keys()),
            _ => o,
        }
    }

    fn record_len(self, n: u64, variant: u64) -> usize {
        let n = (n + variant * 5) as usize;
        match self {
            Shape::Pages => 200 + (n * 397) % 1400,
            _ => 1 + (n * 13) % 90,
        }
    }
}

/// The key of the encrypted shape ([`Shape::Durable`]).
fn keys() -> Arc<wal_api::crypto::StaticKeys> {
    Arc::new(wal_api::crypto::StaticKeys::new(1, [0x42; 32]))
}

/// How the power fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowerLoss {
    /// [`StoreFactory::crash`]: unsynced bytes persist in order.
    InOrder,
    /// [`StoreFactory::crash_reordered`] (falls back to `crash`): pages out of order, torn
    /// sectors.
    Reordered,
}

/// One crash sequence; printed with every failure so it can be replayed with [`run_one`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sequence {
    /// The workload.
    pub shape: Shape,
    /// Which record lengths the workload uses (0, 1, 2, ...: each its own set of images).
    pub variant: u64,
    /// The workload's store lets operations 1..=k through and fails every later one.
    pub halt_after: Option<u64>,
    /// The nth sync or seal of the workload fails the fsyncgate way
    /// ([`StoreFactory::fsyncgate`]); the workload then goes on as far as the log lets it.
    pub fsyncgate_at: Option<u64>,
    /// After the workload, the process dies and a new one reopens the log (recovery runs)
    /// and appends one record.
    pub process_crash: bool,
    /// In that new process, the store lets operations 1..=j through and fails every later one.
    pub recovery_halt_after: Option<u64>,
    /// With `process_crash`: the first crash is a power loss instead (of the kind
    /// `power_loss` names, another seed), and the new process opens in
    /// [`RecoveryMode::PointInTime`], so recovery repairs (quarantines, recreates) with its
    /// halt at every step; the final open uses `PointInTime` too.
    pub repair: bool,
    /// How the power then fails.
    pub power_loss: PowerLoss,
    /// Seed of the power-loss image.
    pub seed: u64,
}

/// What one sequence ended with.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Fingerprint of the final image and what it had to hold (equal fingerprints are one
    /// crash state).
    pub fingerprint: u64,
    /// Acknowledged records missing.
    pub lost: u64,
    /// Records that were never issued, were discarded, changed, or split a batch.
    pub phantom: u64,
    /// The log did not open (or could not be read, or refused the append after recovery).
    pub open_failed: bool,
    /// What went wrong, if anything.
    pub problem: Option<String>,
    /// Whether the recovery halt (`recovery_halt_after`) refused an operation.
    pub recovery_halted: bool,
}

impl Verdict {
    fn failed(&self) -> bool {
        self.lost > 0 || self.phantom > 0 || self.open_failed
    }
}

/// What the workload issued and what was acknowledged.
#[derive(Clone, Debug, Default)]
struct Expect {
    /// Records by LSN, including the one whose append failed at the crash.
    records: Vec<Vec<u8>>,
    /// LSNs that end a frame.
    frame_ends: Vec<u64>,
    /// Records 1..=acked are acknowledged durable.
    acked: u64,
    /// Highest LSN whose append returned (still in the log).
    written: u64,
    /// Highest LSN handed to `truncate_prefix`: records below it may be gone.
    released: u64,
}

const STEPS: u64 = 56;

/// Runs the workload; stops at the first error, or with `keep_going` tries a sync, a
/// rotation and a close after it (a log that acknowledges anything then is wrong).
async fn workload<S: SegmentStore>(
    store: S,
    shape: Shape,
    variant: u64,
    keep_going: bool,
) -> Expect {
    let mut out = Expect::default();
    let Ok(wal) = Wal::open(store, shape.opts()).await else {
        return out;
    };
    let mut n = 0u64;
    for step in 0..STEPS {
        let r: Result<(), Error> = match step % 8 {
            0 | 2 | 5 => {
                let p = shape.record(n, shape.record_len(n, variant));
                n += 1;
                out.records.push(p.clone());
                wal.append(&p).await.map(|l| {
                    out.frame_ends.push(l.0);
                    out.written = l.0;
                })
            }
            1 | 6 => {
                let k = 2 + step % 4;
                let batch: Vec<Vec<u8>> = (0..k)
                    .map(|i| shape.record(n + i, shape.record_len(n + i, variant) / 2 + 1))
                    .collect();
                n += k;
                out.records.extend(batch.iter().cloned());
                wal.append_batch(&batch).await.map(|r| {
                    out.frame_ends.push(r.last.0);
                    out.written = r.last.0;
                })
            }
            3 if step == 27 => {
                // Roll back the last frame (Raft-style).
                let target = out.frame_ends.iter().rev().nth(1).copied().unwrap_or(0);
                out.acked = out.acked.min(target);
                out.written = out.written.min(target);
                let r = wal.truncate_suffix(Lsn(target)).await;
                if r.is_ok() {
                    out.records.truncate(target as usize);
                    out.frame_ends.retain(|&e| e <= target);
                }
                r
            }
            3 => wal.sync().await,
            4 if step == 44 => {
                let lsn = out.records.len() as u64 / 2;
                out.released = out.released.max(lsn);
                wal.truncate_prefix(Lsn(lsn)).await.map(|_| ())
            }
            4 => wal.wait_durable(wal.written_lsn()).await,
            _ => wal.rotate().await,
        };
        out.acked = out.acked.max(wal.durable_lsn().0);
        if r.is_err() {
            if keep_going {
                let _ = wal.sync().await;
                out.acked = out.acked.max(wal.durable_lsn().0);
                let _ = wal.rotate().await;
                out.acked = out.acked.max(wal.durable_lsn().0);
                if wal.close().await.is_ok() {
                    out.acked = out.acked.max(wal.durable_lsn().0);
                }
            }
            break;
        }
    }
    out.frame_ends.push(out.records.len() as u64);
    out.acked = out.acked.max(wal.durable_lsn().0);
    out
}

/// Checks a recovered log against `e`: lost and phantom counts and what went wrong.
async fn check_log<S: SegmentStore>(wal: &Wal<S>, e: &Expect, v: &mut Verdict, when: &str) {
    let n = wal.written_lsn().0;
    let first = wal.first_lsn().0.max(1);
    let mut problems = Vec::new();
    let mut next = first;
    let mut bad = 0u64;
    let mut unreadable = false;
    let mut items = wal.read_with(Lsn(first).., Visibility::Written);
    while let Some(item) = items.next().await {
        match item {
            Ok(r) => {
                let want = usize::try_from(r.lsn.0)
                    .ok()
                    .and_then(|l| l.checked_sub(1))
                    .and_then(|i| e.records.get(i));
                if r.lsn.0 != next || want.is_none_or(|w| w[..] != r.data[..]) {
                    bad += 1;
                    if bad == 1 {
                        problems.push(format!(
                            "LSN {} (expected LSN {next}) holds {} bytes that were never \
                             issued there",
                            r.lsn,
                            r.data.len()
                        ));
                    }
                }
                next = r.lsn.0 + 1;
            }
            Err(err) => {
                unreadable = true;
                problems.push(format!("reading LSN {next} failed: {err}"));
                break;
            }
        }
    }
    let last = next - 1;
    if unreadable {
        // Acknowledged records past the damage are lost; damage that holds none still
        // leaves a log that cannot be read back, counted with the open failures.
        let lost = e.acked.saturating_sub(last);
        v.lost += lost;
        v.open_failed |= lost == 0;
    } else if last != n {
        problems.push(format!("written_lsn is {n} but the records end at {last}"));
        v.lost += n.saturating_sub(last);
    }
    if n < e.acked {
        v.lost += e.acked - n;
        problems.push(format!(
            "{} acknowledged records lost: recovered up to LSN {n}, acknowledged {}",
            e.acked - n,
            e.acked
        ));
    }
    let gone_below = (first - 1).min(e.acked);
    if gone_below > e.released.max(1) - 1 {
        v.lost += gone_below - (e.released.max(1) - 1);
        problems.push(format!(
            "the log starts at LSN {first}, but only LSNs below {} were released",
            e.released
        ));
    }
    if n > e.records.len() as u64 {
        v.phantom += n - e.records.len() as u64;
        problems.push(format!(
            "recovered up to LSN {n}, only {} were issued",
            e.records.len()
        ));
    }
    if n >= first && !e.frame_ends.contains(&n) {
        v.phantom += 1;
        problems.push(format!("an atomic batch was split at LSN {n}"));
    }
    v.phantom += bad;
    if !problems.is_empty() {
        let msg = format!("{when}: {}", problems.join("; "));
        v.problem.get_or_insert(msg);
    }
}

/// A fingerprint of every segment's bytes.
pub(super) async fn image_fingerprint<S: SegmentStore>(s: &S, h: &mut DefaultHasher) {
    match s.list().await {
        Ok(metas) => {
            for m in metas {
                m.id.0.hash(h);
                match s.read_all(m.id).await {
                    Ok(b) => b[..].hash(h),
                    Err(e) => e.to_string().hash(h),
                }
            }
        }
        Err(e) => e.to_string().hash(h),
    }
}

/// Runs one sequence. `None` when the backend cannot run it (no power-loss model, no
/// fsyncgate injection).
pub async fn run_one<F: StoreFactory>(f: &F, seq: &Sequence) -> Option<Verdict> {
    if seq.shape == Shape::Race {
        return race(f, seq).await;
    }
    run(f, seq, &mut None).await
}

/// A power-loss image of `seq`'s kind.
pub(super) async fn power_loss<F: StoreFactory>(
    f: &F,
    g: &F::Guard,
    seq: &Sequence,
) -> Option<F::Store> {
    match seq.power_loss {
        PowerLoss::Reordered => match f.crash_reordered(g, seq.seed).await {
            Some(i) => Some(i),
            None => f.crash(g, seq.seed).await,
        },
        PowerLoss::InOrder => f.crash(g, seq.seed).await,
    }
}

/// Replays one sequence and describes it: every store operation of the workload and of the
/// process after the crash (numbered as the halts count them), then the verdict.
pub async fn explain<F: StoreFactory>(f: &F, seq: &Sequence) -> String {
    if seq.shape == Shape::Race {
        return format!("{seq:?}\nverdict: {:?}\n", race(f, seq).await);
    }
    let mut traces = Some(Vec::new());
    let v = run(f, seq, &mut traces).await;
    let mut out = format!("{seq:?}\n");
    for (phase, ops) in traces.unwrap_or_default() {
        out.push_str(&format!("{phase}:\n"));
        for op in ops {
            out.push_str(&format!("  {op}\n"));
        }
    }
    out.push_str(&format!("verdict: {v:?}\n"));
    out
}

async fn run<F: StoreFactory>(
    f: &F,
    seq: &Sequence,
    traces: &mut Option<Vec<(&'static str, Vec<String>)>>,
) -> Option<Verdict> {
    let mut v = Verdict::default();
    let (g, s) = f.build().await;
    if let Some(nth) = seq.fsyncgate_at {
        if !f.fsyncgate(&g, nth).await {
            return None;
        }
    }
    let (s, faults) = FaultyStore::new(s);
    if let Some(k) = seq.halt_after {
        faults.halt_after(k);
    }
    if traces.is_some() {
        faults.record_trace();
    }
    let mut expect = workload(s, seq.shape, seq.variant, seq.fsyncgate_at.is_some()).await;
    if let Some(t) = traces.as_mut() {
        t.push(("workload", faults.trace()));
    }

    let (opts, when) = if seq.repair {
        let o = seq.shape.reopen_opts();
        (
            o.recovery_mode(RecoveryMode::PointInTime),
            "after the first power loss",
        )
    } else {
        (seq.shape.reopen_opts(), "after the process crash")
    };
    if seq.process_crash {
        let sb = if seq.repair {
            let first = Sequence {
                seed: seq.seed ^ 0x5eed,
                ..seq.clone()
            };
            power_loss(f, &g, &first).await?
        } else {
            f.process_crash(&g).await?
        };
        let mut hb = DefaultHasher::new();
        image_fingerprint(&sb, &mut hb).await;
        (seq.recovery_halt_after, expect.acked, expect.written).hash(&mut hb);
        v.fingerprint = hb.finish();
        let (sb, fb) = FaultyStore::new(sb);
        let j = seq.recovery_halt_after;
        if let Some(j) = j {
            fb.halt_after(j);
        }
        if traces.is_some() {
            fb.record_trace();
        }
        let opened = Wal::open(sb, opts.clone()).await;
        let halted = |fb: &crate::faults::Faults| j.is_some_and(|j| fb.ops() > j);
        match opened {
            Ok(wal) => {
                // Where unsynced bytes outlive the process, nothing appended is lost while
                // the machine stays up.
                let kept = if f.unsynced_survive_process_crash() && !seq.repair {
                    expect.written
                } else {
                    0
                };
                let after_kill = Expect {
                    acked: expect.acked.max(kept),
                    ..expect.clone()
                };
                check_log(&wal, &after_kill, &mut v, when).await;
                if v.failed() {
                    v.recovery_halted = halted(&fb);
                    if let Some(t) = traces.as_mut() {
                        t.push((when, fb.trace()));
                    }
                    return Some(v);
                }
                let nb = wal.written_lsn().0;
                let r = payload(9_000_000 + nb, 33);
                let appended = wal.append(&r).await;
                let mut acked = expect.acked.max(wal.durable_lsn().0);
                if let Ok(l) = appended {
                    acked = acked.max(l.0);
                }
                expect.records.truncate(nb as usize);
                expect.records.push(r);
                expect.frame_ends.retain(|&e| e <= nb);
                expect.frame_ends.push(nb + 1);
                expect.acked = acked;
                drop(wal);
            }
            Err(e) if !halted(&fb) => {
                v.open_failed = true;
                v.problem = Some(format!("reopen {when} failed: {e}"));
                if let Some(t) = traces.as_mut() {
                    t.push((when, fb.trace()));
                }
                return Some(v);
            }
            Err(_) => {}
        }
        v.recovery_halted = halted(&fb);
        if let Some(t) = traces.as_mut() {
            t.push((when, fb.trace()));
        }
    }

    let image = power_loss(f, &g, seq).await?;
    let mut h = DefaultHasher::new();
    image_fingerprint(&image, &mut h).await;
    (
        expect.acked,
        expect.released,
        &expect.records,
        &expect.frame_ends,
    )
        .hash(&mut h);
    v.fingerprint = h.finish();

    let wal = match Wal::open(image, opts).await {
        Ok(w) => w,
        Err(e) => {
            v.open_failed = true;
            v.problem = Some(format!("open after the power loss failed: {e}"));
            return Some(v);
        }
    };
    check_log(&wal, &expect, &mut v, "after the power loss").await;
    if !v.open_failed {
        let n = wal.written_lsn();
        match wal.append(b"after crash").await {
            Ok(l) if l == n.next() => {}
            Ok(l) => {
                v.phantom += 1;
                v.problem.get_or_insert(format!(
                    "the append after recovery got {l}, not {}",
                    n.next()
                ));
            }
            Err(e) => {
                v.open_failed = true;
                v.problem
                    .get_or_insert(format!("the append after recovery failed: {e}"));
            }
        }
    }
    Some(v)
}

/// Counts over the explored states.
#[derive(Default)]
struct Tally {
    seen: HashSet<u64>,
    states: u64,
    lost: u64,
    phantom: u64,
    open_failures: u64,
    by_kind: BTreeMap<&'static str, u64>,
    /// Distinct problems (digits stripped): how often, and the first sequence and message.
    failures: BTreeMap<String, (u64, Sequence, String)>,
}

impl Tally {
    /// Records a verdict; returns false when its state was seen before.
    fn add(&mut self, kind: &'static str, seq: &Sequence, v: &Verdict) -> bool {
        if !self.seen.insert(v.fingerprint) {
            return false;
        }
        self.states += 1;
        *self.by_kind.entry(kind).or_default() += 1;
        self.lost += v.lost;
        self.phantom += v.phantom;
        self.open_failures += u64::from(v.open_failed);
        if v.failed() {
            let msg = v.problem.clone().unwrap_or_default();
            let class: String = msg.chars().filter(|c| !c.is_ascii_digit()).collect();
            let e = self
                .failures
                .entry(class)
                .or_insert_with(|| (0, seq.clone(), msg));
            e.0 += 1;
        }
        true
    }

    fn full(&self, budget: usize) -> bool {
        self.states as usize >= budget
    }
}

/// Store operations (and syncs) the workload of `shape` makes when nothing fails.
async fn dry_run<F: StoreFactory>(f: &F, shape: Shape, variant: u64) -> (u64, u64) {
    let (_g, s) = f.build().await;
    let (s, faults) = FaultyStore::new(s);
    let e = workload(s, shape, variant, false).await;
    assert!(e.records.len() > 40, "workload too small");
    (faults.ops(), faults.syncs())
}

/// Explores crash sequences up to the factory's [`StoreFactory::sequence_budget`] distinct
/// states and prints `crash states explored: N, acknowledged lost: L, phantom: P, open
/// failures: O`, then every distinct failure with the [`Sequence`] that replays it. Fails if
/// any state lost an acknowledged record, held a phantom, or did not open.
pub async fn crash_sequence_exploration<F: StoreFactory>(f: Arc<F>) -> Outcome {
    {
        let (g, s) = f.build().await;
        drop(s);
        if f.crash(&g, 0).await.is_none() {
            return Outcome::Skipped(
                "backend cannot model power loss (StoreFactory::crash)".into(),
            );
        }
    }
    let budget = f.sequence_budget().max(1);
    let mut t = Tally::default();
    let mut fsyncgate_supported = true;
    let mut passes = 0;
    let mut shapes = Vec::new();
    'passes: for pass in 0..64u64 {
        passes += 1;
        // Every eight passes (seeds), the next set of record lengths.
        let variant = pass / 8;
        if pass % 8 == 0 {
            shapes.clear();
            for shape in Shape::ALL {
                shapes.push((shape, dry_run(&*f, shape, variant).await));
            }
        }
        // fsyncgate: each sync of the workload in turn fails and loses its bytes.
        for &(shape, (_, syncs)) in &shapes {
            if !fsyncgate_supported {
                break;
            }
            for nth in 1..=syncs {
                let seq = Sequence {
                    shape,
                    variant,
                    halt_after: None,
                    fsyncgate_at: Some(nth),
                    process_crash: false,
                    recovery_halt_after: None,
                    repair: false,
                    power_loss: if pass % 2 == 0 {
                        PowerLoss::InOrder
                    } else {
                        PowerLoss::Reordered
                    },
                    seed: pass * 7919 + nth,
                };
                let Some(v) = run_one(&*f, &seq).await else {
                    fsyncgate_supported = false;
                    break;
                };
                t.add("fsyncgate", &seq, &v);
                // Chained: the failed sync, then the process dies, a new one reopens the
                // log and appends (durably), then the power fails. The bytes the failed
                // sync dropped are still readable in the new process; recovery must not
                // count them as durable.
                let chained = Sequence {
                    process_crash: true,
                    seed: seq.seed ^ 0xc4a1,
                    ..seq
                };
                if let Some(v) = run_one(&*f, &chained).await {
                    t.add("fsyncgate, process crash, reopen, power loss", &chained, &v);
                }
                if t.full(budget) {
                    break 'passes;
                }
            }
        }
        // fsyncgate while group-commit syncs race seals.
        for nth in 1..=12u64 {
            if !fsyncgate_supported {
                break;
            }
            let seq = Sequence {
                shape: Shape::Race,
                variant: 0,
                halt_after: None,
                fsyncgate_at: Some(nth),
                process_crash: false,
                recovery_halt_after: None,
                repair: false,
                power_loss: PowerLoss::InOrder,
                seed: pass * 131 + nth,
            };
            if let Some(v) = run_one(&*f, &seq).await {
                t.add("fsyncgate race", &seq, &v);
            }
            if t.full(budget) {
                break 'passes;
            }
        }
        // Halt points in turn across the shapes, so a small budget still samples each.
        let max_ops = shapes.iter().map(|&(_, (ops, _))| ops).max().unwrap_or(0);
        for k in 0..=max_ops {
            for &(shape, (ops, _)) in &shapes {
                if k > ops {
                    continue;
                }
                let power_loss = if (pass + k) % 2 == 0 {
                    PowerLoss::InOrder
                } else {
                    PowerLoss::Reordered
                };
                let seed = pass * 1_000_003 + k * 1009;
                // Power loss straight after the halt.
                let seq = Sequence {
                    shape,
                    variant,
                    halt_after: Some(k),
                    fsyncgate_at: None,
                    process_crash: false,
                    recovery_halt_after: None,
                    repair: false,
                    power_loss,
                    seed,
                };
                if let Some(v) = run_one(&*f, &seq).await {
                    t.add("power loss", &seq, &v);
                }
                if t.full(budget) {
                    break 'passes;
                }
                // Process crash, recovery halted at each of its operations in turn, power
                // loss.
                for j in 0..64u64 {
                    let seq = Sequence {
                        process_crash: true,
                        recovery_halt_after: Some(j),
                        seed: seed + j,
                        ..seq.clone()
                    };
                    let Some(v) = run_one(&*f, &seq).await else {
                        break;
                    };
                    t.add("process crash, reopen, power loss", &seq, &v);
                    if t.full(budget) {
                        break 'passes;
                    }
                    if !v.recovery_halted {
                        break;
                    }
                }
                // Power loss, point-in-time repair halted at each of its steps, power loss.
                if shape != Shape::Pages {
                    continue;
                }
                for j in 0..64u64 {
                    let seq = Sequence {
                        process_crash: true,
                        repair: true,
                        recovery_halt_after: Some(j),
                        power_loss: PowerLoss::Reordered,
                        seed: seed + j,
                        ..seq.clone()
                    };
                    let Some(v) = run_one(&*f, &seq).await else {
                        break;
                    };
                    t.add("power loss, repair, power loss", &seq, &v);
                    if t.full(budget) {
                        break 'passes;
                    }
                    if !v.recovery_halted {
                        break;
                    }
                }
            }
        }
    }
    println!(
        "crash states explored: {}, acknowledged lost: {}, phantom: {}, open failures: {}",
        t.states, t.lost, t.phantom, t.open_failures
    );
    let kinds: Vec<String> = t.by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    eprintln!(
        "crash sequences by kind ({passes} passes): {}",
        kinds.join(", ")
    );
    if !fsyncgate_supported {
        eprintln!(
            "fsyncgate sequences skipped: backend cannot inject one (StoreFactory::fsyncgate)"
        );
    }
    let mut report = String::new();
    for (n, seq, msg) in t.failures.values() {
        report.push_str(&format!(
            "\n  {n} state(s) like: {msg}\n    replay: {seq:?}"
        ));
    }
    if !report.is_empty() {
        eprintln!("crash sequence failures (distinct):{report}");
    }
    assert!(
        t.lost == 0 && t.phantom == 0 && t.open_failures == 0,
        "crash sequences failed: {} acknowledged lost, {} phantom, {} open failures:{report}",
        t.lost,
        t.phantom,
        t.open_failures
    );
    assert!(
        t.states as usize >= budget.min(1000),
        "only {} distinct crash states",
        t.states
    );
    Outcome::Passed
}
