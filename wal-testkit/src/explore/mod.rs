//! Crash exploration of your own engine: run your workload over the log and a simulated
//! directory, cut the power after every operation, and check what your engine recovers.
//!
//! The workload gets an [`Env`]: a [`LogStore`] for the log (a
//! [`MemoryStore`] inside a [`FaultyStore`]), a [`SimDir`] for the
//! engine's own files (snapshots, manifests) and a [`Ledger`] on which it writes down what it
//! issued and what was acknowledged. The log's store and the directory count their operations
//! on one counter. An [`Explorer`] then:
//!
//! 1. runs the workload once to count its operations `N` (the dry run);
//! 2. for every crash point `k` in `0..=N` (or a seeded sample of [`Explorer::max_points`]
//!    of them), runs the workload again on fresh state, where every operation after the
//!    `k`-th fails with an I/O error (the process died: it never sees that operation
//!    succeed), and waits for it to stop;
//! 3. cuts the power on both, seeded ([`PowerLoss`]): unsynced log bytes and file bytes are
//!    lost or torn, directory operations not followed by a directory sync may be undone (see
//!    [`SimDir`]);
//! 4. hands your check the images ([`Recovered`]) and the [`History`] of the ledger: the
//!    check reopens the engine there and says whether what it finds is allowed.
//!
//! Everything is deterministic for a seed: a violation names the seed and crash point, and
//! [`Explorer::replay`] reruns that one point alone. The workload must be deterministic too
//! (the same operations in the same order on every run): a run that ends before its crash
//! point without an error is reported as a violation.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use wal_api::{Wal, WalOptions};
//! use wal_testkit::explore::{Env, Explorer, History, Recovered};
//!
//! let report = Explorer::new().seed(7).run(
//!     async |env: Env<u64>| -> Result<(), Box<dyn std::error::Error>> {
//!         let wal = Wal::open(env.store, WalOptions::default()).await?; // your engine here
//!         for i in 1..=20u64 {
//!             env.ledger.issue(i);
//!             wal.append(&i.to_le_bytes()).await?; // durable when it returns
//!             env.ledger.ack(i);
//!         }
//!         env.dir.write("done.tmp", b"20").await?; // the engine's own files: write,
//!         env.dir.sync("done.tmp").await?; // fsync,
//!         env.dir.rename("done.tmp", "done").await?; // rename,
//!         env.dir.sync_dir().await?; // fsync the directory
//!         Ok(())
//!     },
//!     async |after: Recovered, h: History<u64>| -> Result<(), Box<dyn std::error::Error>> {
//!         let n = Wal::open(after.store, WalOptions::default()).await?.written_lsn().0;
//!         assert!(n >= h.acked.len() as u64 && n <= h.issued.len() as u64, "{n} records");
//!         if let Ok(done) = after.dir.read("done").await {
//!             assert_eq!(done, b"20"); // a failed assertion is a violation too
//!         }
//!         Ok(())
//!     },
//! ).await;
//! assert!(report.violations.is_empty(), "{report}");
//! assert_eq!(report.points_explored, report.operations + 1); // every one of them
//! # });
//! ```

mod dir;

use std::fmt::{self, Display};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt;
use wal_memory::MemoryStore;

use crate::faults::FaultyStore;

pub use dir::SimDir;

/// Seeded draws for the exploration's choices (which points, which name operations survive,
/// the seed of each file's power-loss image): a counter through a 64-bit finalizer, so a
/// seed replays the same choices.
pub(crate) struct Draws {
    seed: u64,
    n: u64,
}

impl Draws {
    pub(crate) fn new(seed: u64) -> Draws {
        Draws { seed, n: 0 }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.n += 1;
        let mut z = self.seed ^ self.n.wrapping_mul(0xd6e8_feb8_6659_fd93);
        z = (z ^ (z >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        z = (z ^ (z >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        z ^ (z >> 32)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// The log store an explored workload and its check get: a
/// [`MemoryStore`] inside a [`FaultyStore`] whose halt is the crash
/// point (in the check, a store over the power-loss image that never halts).
pub type LogStore = FaultyStore<MemoryStore>;

/// What the workload issued and what was acknowledged, as written on its [`Ledger`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<A> {
    /// Everything the workload issued, in order (including what the crash interrupted).
    pub issued: Vec<A>,
    /// Everything acknowledged to the workload, in order.
    pub acked: Vec<A>,
}

impl<A> Default for History<A> {
    fn default() -> Self {
        History {
            issued: Vec::new(),
            acked: Vec::new(),
        }
    }
}

/// Where a workload writes down what it issued and what the engine acknowledged, of any type
/// `A` (an operation, its index, a key). Clones share one ledger, so it can be handed to
/// tasks; what is written survives the crash and reaches the check as a [`History`].
#[derive(Debug)]
pub struct Ledger<A> {
    history: Arc<Mutex<History<A>>>,
}

impl<A> Clone for Ledger<A> {
    fn clone(&self) -> Self {
        Ledger {
            history: self.history.clone(),
        }
    }
}

impl<A> Default for Ledger<A> {
    fn default() -> Self {
        Ledger {
            history: Arc::default(),
        }
    }
}

impl<A> Ledger<A> {
    fn lock(&self) -> MutexGuard<'_, History<A>> {
        match self.history.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Records that `a` is about to be handed to the engine (call it before the operation,
    /// so an operation the crash interrupts counts as issued).
    pub fn issue(&self, a: A) {
        self.lock().issued.push(a);
    }

    /// Records that the engine acknowledged `a` (call it once the operation returned `Ok`).
    pub fn ack(&self, a: A) {
        self.lock().acked.push(a);
    }

    /// What has been written so far, taken out of the ledger.
    fn take(&self) -> History<A> {
        std::mem::take(&mut *self.lock())
    }
}

/// What one run of the workload works on.
#[derive(Debug)]
pub struct Env<A> {
    /// The store to open the log on.
    pub store: LogStore,
    /// The directory for the engine's own files; it shares the crash point with `store`.
    pub dir: SimDir,
    /// Where to write down what was issued and acknowledged.
    pub ledger: Ledger<A>,
    /// The crash point of this run (`None` in the dry run, which counts the operations).
    pub point: Option<u64>,
}

/// What the power loss left, handed to the check.
#[derive(Debug)]
pub struct Recovered {
    /// A store over the image of the log (it never halts).
    pub store: LogStore,
    /// The image of the directory (it never halts).
    pub dir: SimDir,
    /// The crash point: operations `1..=point` succeeded, every later one failed.
    pub point: u64,
    /// The exploration's seed (with `point`, what [`Explorer::replay`] needs).
    pub seed: u64,
}

/// How the power fails at each crash point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PowerLoss {
    /// [`MemoryStore::crash`] and [`SimDir::crash`]: unsynced bytes persist in order (a
    /// prefix, maybe torn), name operations in order (a prefix).
    InOrder,
    /// [`MemoryStore::crash_reordered`] and [`SimDir::crash_reordered`]: unsynced pages
    /// persist out of order with torn sectors, name operations in any subset.
    Reordered,
    /// One of the two at each crash point, chosen by the seed.
    #[default]
    Mixed,
}

/// A crash point whose check failed (or whose workload misbehaved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The crash point.
    pub point: u64,
    /// The exploration's seed.
    pub seed: u64,
    /// The last operation that succeeded, as the dry run traced it (`"1: creating segment
    /// 1"`, `"7: dir: rename snapshot.tmp -> snapshot"`).
    pub operation: String,
    /// What the check (or the explorer) found.
    pub message: String,
    /// The call that reruns just this point.
    pub replay: String,
}

impl Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "crash point {} (after {}), seed {}: {}\n  replay: {}",
            self.point, self.operation, self.seed, self.message, self.replay
        )
    }
}

/// What an exploration found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The exploration's seed.
    pub seed: u64,
    /// Operations the workload makes without a crash (crash points are `0..=operations`).
    pub operations: u64,
    /// Crash points explored.
    pub points_explored: u64,
    /// Every crash point that failed, in the order explored.
    pub violations: Vec<Violation>,
    /// The operations of the dry run, numbered: `trace[k - 1]` is operation `k`, the last
    /// one that succeeds at crash point `k`.
    pub trace: Vec<String>,
}

impl Report {
    /// Panics with the report unless there were no violations.
    pub fn assert_ok(&self) {
        if !self.violations.is_empty() {
            panic!("{self}");
        }
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "crash points explored: {} of {} (seed {}), violations: {}",
            self.points_explored,
            self.operations + 1,
            self.seed,
            self.violations.len()
        )?;
        const SHOWN: usize = 5;
        for v in self.violations.iter().take(SHOWN) {
            write!(f, "\n{v}")?;
        }
        if self.violations.len() > SHOWN {
            write!(f, "\n... and {} more", self.violations.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// Runs a workload to every crash point, cuts the power, and runs the check (see the
/// [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explorer {
    seed: u64,
    max_points: u64,
    power_loss: PowerLoss,
}

impl Default for Explorer {
    fn default() -> Self {
        Explorer {
            seed: 0,
            max_points: 5000,
            power_loss: PowerLoss::Mixed,
        }
    }
}

/// One workload run that ended in a crash.
struct Crashed<A> {
    history: History<A>,
    store: MemoryStore,
    dir: SimDir,
    /// What is wrong with the run itself, before any check.
    problem: Option<String>,
}

impl Explorer {
    /// Seed 0, at most 5,000 crash points, [`PowerLoss::Mixed`].
    pub fn new() -> Explorer {
        Explorer::default()
    }

    /// The seed: it picks the sampled crash points and every power-loss image.
    pub fn seed(mut self, seed: u64) -> Explorer {
        self.seed = seed;
        self
    }

    /// Explore at most `n` crash points (at least 1): all of them when the workload has no
    /// more, else a sample chosen by the seed.
    pub fn max_points(mut self, n: u64) -> Explorer {
        self.max_points = n.max(1);
        self
    }

    /// How the power fails.
    pub fn power_loss(mut self, p: PowerLoss) -> Explorer {
        self.power_loss = p;
        self
    }

    /// Explores the crash points of `workload` and runs `check` after each.
    ///
    /// `workload` should stop at its first error (the crash) and write on its ledger; `check`
    /// returns `Err` (or panics) when the recovered state is not allowed. The first ten
    /// violations are printed to stderr as found; the report holds them all.
    ///
    /// # Panics
    /// If the workload fails (or panics) in the dry run, where nothing crashes.
    pub async fn run<A, W, C, WE, CE>(&self, workload: W, check: C) -> Report
    where
        W: AsyncFn(Env<A>) -> Result<(), WE>,
        C: AsyncFn(Recovered, History<A>) -> Result<(), CE>,
        WE: Display,
        CE: Display,
    {
        let (operations, trace) = self.dry_run(&workload).await;
        let points = self.points(operations);
        let mut report = Report {
            seed: self.seed,
            operations,
            points_explored: 0,
            violations: Vec::new(),
            trace: Vec::new(),
        };
        for k in points {
            report.points_explored += 1;
            if let Err(v) = self.explore(k, operations, &trace, &workload, &check).await {
                if report.violations.len() < 10 {
                    eprintln!("{v}");
                }
                report.violations.push(v);
            }
        }
        report.trace = trace;
        report
    }

    /// Reruns crash point `point` alone (with this explorer's seed and power-loss model) and
    /// returns its report: one point explored, and its violation if it has one.
    pub async fn replay<A, W, C, WE, CE>(&self, point: u64, workload: W, check: C) -> Report
    where
        W: AsyncFn(Env<A>) -> Result<(), WE>,
        C: AsyncFn(Recovered, History<A>) -> Result<(), CE>,
        WE: Display,
        CE: Display,
    {
        let (operations, trace) = self.dry_run(&workload).await;
        let violations = self
            .explore(point, operations, &trace, &workload, &check)
            .await
            .err()
            .into_iter()
            .collect();
        Report {
            seed: self.seed,
            operations,
            points_explored: 1,
            violations,
            trace,
        }
    }

    /// Counts the operations of the workload, with a trace of them.
    async fn dry_run<A, W, WE>(&self, workload: &W) -> (u64, Vec<String>)
    where
        W: AsyncFn(Env<A>) -> Result<(), WE>,
        WE: Display,
    {
        let (store, faults) = FaultyStore::new(MemoryStore::new());
        faults.record_trace();
        let env = Env {
            store,
            dir: SimDir::with_faults(faults.clone()),
            ledger: Ledger::default(),
            point: None,
        };
        match AssertUnwindSafe(workload(env)).catch_unwind().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the workload failed without any crash: {e}"),
            Err(p) => panic!(
                "the workload panicked without any crash: {}",
                panic_message(&*p)
            ),
        }
        faults.freeze();
        (faults.ops(), faults.trace())
    }

    /// The crash points to explore, ascending.
    fn points(&self, operations: u64) -> Vec<u64> {
        let all = operations.saturating_add(1);
        if all <= self.max_points {
            return (0..all).collect();
        }
        // A partial Fisher-Yates shuffle picks `max_points` distinct points.
        let mut rng = Draws::new(self.seed ^ 0x5a3c_1e0f_9d27_b486);
        let mut pool: Vec<u64> = (0..all).collect();
        let n = self.max_points as usize;
        for i in 0..n {
            let j = i + rng.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(n);
        pool.sort_unstable();
        pool
    }

    /// The seed of the power-loss images at crash point `k`.
    fn point_seed(&self, k: u64) -> u64 {
        Draws::new(self.seed ^ k.wrapping_add(1).wrapping_mul(0x2545_f491_4f6c_dd1d)).next_u64()
    }

    /// Runs the workload to crash point `k` and cuts the power.
    async fn crash_at<A, W, WE>(&self, k: u64, operations: u64, workload: &W) -> Crashed<A>
    where
        W: AsyncFn(Env<A>) -> Result<(), WE>,
        WE: Display,
    {
        let memory = MemoryStore::new();
        let (store, faults) = FaultyStore::new(memory.clone());
        faults.halt_after(k);
        let dir = SimDir::with_faults(faults.clone());
        let ledger = Ledger::default();
        let env = Env {
            store,
            dir: dir.clone(),
            ledger: ledger.clone(),
            point: Some(k),
        };
        let result = AssertUnwindSafe(workload(env)).catch_unwind().await;
        let ops = faults.ops();
        // Whatever the workload left running can change nothing from here on.
        faults.freeze();
        let crashed = ops > k;
        let problem = match result {
            Err(p) => Some(format!("the workload panicked: {}", panic_message(&*p))),
            Ok(Err(e)) if !crashed => Some(format!(
                "the workload failed before its crash point ({ops} operations): {e}"
            )),
            Ok(Ok(())) if !crashed && k < operations => Some(format!(
                "the workload finished after {ops} operations, but the dry run made \
                 {operations}: it is not deterministic"
            )),
            Ok(_) => None,
        };
        Crashed {
            history: ledger.take(),
            store: memory,
            dir,
            problem,
        }
    }

    /// Explores crash point `k`: the violation, if any.
    async fn explore<A, W, C, WE, CE>(
        &self,
        k: u64,
        operations: u64,
        trace: &[String],
        workload: &W,
        check: &C,
    ) -> Result<(), Violation>
    where
        W: AsyncFn(Env<A>) -> Result<(), WE>,
        C: AsyncFn(Recovered, History<A>) -> Result<(), CE>,
        WE: Display,
        CE: Display,
    {
        let violation = |message: String| Violation {
            point: k,
            seed: self.seed,
            operation: match k.checked_sub(1).and_then(|i| trace.get(i as usize)) {
                Some(op) => format!("operation {op}"),
                None if k == 0 => "no operation".to_string(),
                None => format!("operation {k}, past the dry run's {operations}"),
            },
            message,
            replay: self.replay_call(k),
        };
        let crashed = self.crash_at(k, operations, workload).await;
        if let Some(p) = crashed.problem {
            return Err(violation(p));
        }
        let seed = self.point_seed(k);
        let reordered = match self.power_loss {
            PowerLoss::InOrder => false,
            PowerLoss::Reordered => true,
            PowerLoss::Mixed => seed % 2 == 1,
        };
        let (store, dir) = if reordered {
            (
                crashed.store.crash_reordered(seed),
                crashed.dir.crash_reordered(seed.rotate_left(17)),
            )
        } else {
            (
                crashed.store.crash(seed),
                crashed.dir.crash(seed.rotate_left(17)),
            )
        };
        let recovered = Recovered {
            store: FaultyStore::new(store).0,
            dir,
            point: k,
            seed: self.seed,
        };
        let how = if reordered {
            "power loss, reordered"
        } else {
            "power loss, in order"
        };
        match AssertUnwindSafe(check(recovered, crashed.history))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(violation(format!("{e} ({how})"))),
            Err(p) => Err(violation(format!(
                "the check panicked: {} ({how})",
                panic_message(&*p)
            ))),
        }
    }

    /// The call that reruns crash point `k` alone.
    fn replay_call(&self, k: u64) -> String {
        let mut call = format!("Explorer::new().seed({})", self.seed);
        if self.power_loss != PowerLoss::default() {
            call.push_str(&format!(".power_loss(PowerLoss::{:?})", self.power_loss));
        }
        call.push_str(&format!(".replay({k}, workload, check)"));
        call
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

#[cfg(test)]
mod tests;
