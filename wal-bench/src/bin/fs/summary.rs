//! The closing tables: one line per workload with this log's median, the baseline measured in
//! the same run and its ratio, and the peers with the best of them.

use wal_bench::{human, median};

/// `n` with thousands separators: `10,000`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Which direction is better for a row's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Better {
    /// Rates (records/s, MB/s).
    Higher,
    /// Latencies and durations.
    Lower,
}

/// A baseline on a row, with the ratio as issue 12 states its target.
#[derive(Clone, Debug)]
pub(crate) struct Baseline {
    pub(crate) what: String,
    pub(crate) median: f64,
    pub(crate) ratio: f64,
    /// How `ratio` is read, e.g. "x of it (>= 0.8)".
    pub(crate) target: String,
}

/// One row of the table.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) better: Better,
    pub(crate) ours: f64,
    pub(crate) baseline: Option<Baseline>,
    /// (peer, median); a peer that did not run is left out.
    pub(crate) peers: Vec<(&'static str, f64)>,
    /// The target against the best peer, if the issue sets one (e.g. ">= 2").
    pub(crate) peer_target: &'static str,
}

impl Row {
    pub(crate) fn new(
        name: impl Into<String>,
        unit: &'static str,
        better: Better,
        ours: &[f64],
    ) -> Row {
        Row {
            name: name.into(),
            unit,
            better,
            ours: median(ours),
            baseline: None,
            peers: Vec::new(),
            peer_target: "",
        }
    }

    /// Sets the baseline; `ratio(ours, baseline)` is the ratio the target is about.
    pub(crate) fn baseline(
        mut self,
        what: impl Into<String>,
        samples: &[f64],
        ratio: impl Fn(f64, f64) -> f64,
        target: impl Into<String>,
    ) -> Row {
        let m = median(samples);
        if m > 0.0 && self.ours > 0.0 {
            self.baseline = Some(Baseline {
                what: what.into(),
                median: m,
                ratio: ratio(self.ours, m),
                target: target.into(),
            });
        }
        self
    }

    /// Adds a peer's samples (ignored when it did not run).
    pub(crate) fn peer(mut self, name: &'static str, samples: &[f64]) -> Row {
        let m = median(samples);
        if m > 0.0 {
            self.peers.push((name, m));
        }
        self
    }

    pub(crate) fn peer_target(mut self, t: &'static str) -> Row {
        self.peer_target = t;
        self
    }

    /// The best peer and how many times better this log is than it (> 1: ahead).
    pub(crate) fn best_peer(&self) -> Option<(&'static str, f64, f64)> {
        let better = |a: f64, b: f64| match self.better {
            Better::Higher => a > b,
            Better::Lower => a < b,
        };
        let (name, m) =
            self.peers
                .iter()
                .copied()
                .reduce(|best, p| if better(p.1, best.1) { p } else { best })?;
        let adv = match self.better {
            Better::Higher => self.ours / m,
            Better::Lower => m / self.ours,
        };
        Some((name, m, adv))
    }

    pub(crate) fn print(&self) {
        if self.ours == 0.0 {
            return; // the workload did not run
        }
        let unit = self.unit;
        let mut s = format!(
            "  {:<50} wal-fs {:>9} {unit:<6}",
            self.name,
            human(self.ours)
        );
        match &self.baseline {
            Some(b) => s.push_str(&format!(
                " | {} {} {unit}: x{:.3} {}",
                b.what,
                human(b.median),
                b.ratio,
                b.target
            )),
            None => s.push_str(" | no baseline"),
        }
        match self.best_peer() {
            Some((best, m, adv)) => {
                let all: Vec<String> = self
                    .peers
                    .iter()
                    .map(|(n, v)| format!("{n} {}", human(*v)))
                    .collect();
                s.push_str(&format!(
                    " | peers {}: best {best} {} {unit}, wal-fs advantage x{adv:.2}",
                    all.join(", "),
                    human(m)
                ));
                if !self.peer_target.is_empty() {
                    s.push_str(&format!(" ({})", self.peer_target));
                }
            }
            None => s.push_str(" | no peer"),
        }
        println!("{s}");
    }
}

/// A line of the okaywal-only comparison of earlier versions of this bench.
#[derive(Clone, Debug)]
struct Legacy {
    name: String,
    ours: f64,
    okay: Option<f64>,
    unit: &'static str,
    higher: bool,
}

/// Both closing tables, filled by the workloads in order.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) rows: Vec<Row>,
    legacy: Vec<Legacy>,
}

impl Tables {
    /// Adds a line to the okaywal-only comparison (`okay` empty: okaywal has no figure).
    pub(crate) fn legacy(
        &mut self,
        name: impl Into<String>,
        ours: &[f64],
        okay: &[f64],
        unit: &'static str,
        higher: bool,
    ) {
        self.legacy.push(Legacy {
            name: name.into(),
            ours: median(ours),
            okay: (!okay.is_empty()).then(|| median(okay)),
            unit,
            higher,
        });
    }

    pub(crate) fn print(&self, runs: usize) {
        println!("== side by side (medians)");
        for l in &self.legacy {
            okaywal_line(&l.name, l.ours, l.okay, l.unit, l.higher);
        }
        println!(
            "== every workload: wal-fs median | baseline of the same run, ratio | peers, best peer (medians of {runs} runs)"
        );
        for r in &self.rows {
            r.print();
        }
    }
}

/// The okaywal-only comparison line of earlier versions of this bench (kept as it was).
fn okaywal_line(name: &str, ours: f64, okay: Option<f64>, unit: &str, higher_is_better: bool) {
    if ours == 0.0 {
        // The workload did not run (`WAL_BENCH_ONLY`).
        return;
    }
    match okay.filter(|o| *o > 0.0) {
        Some(o) => {
            let r = if higher_is_better { ours / o } else { o / ours };
            println!(
                "  {name:<44} wal-fs {:>10} {unit:<10} okaywal {:>10} {unit:<10} wal-fs advantage x{r:.2}",
                human(ours),
                human(o)
            );
        }
        None => println!(
            "  {name:<44} wal-fs {:>10} {unit:<10} okaywal        n/a",
            human(ours)
        ),
    }
}
