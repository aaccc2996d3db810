//! Shared harness for the benchmark binaries: repeated runs, medians, ratios.
//!
//! Every workload runs several times in one process, and ratios are taken against baselines
//! measured in the same run, so a noisy machine moves both sides together.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

/// Number of runs per workload (`WAL_BENCH_RUNS` overrides).
pub fn runs() -> usize {
    std::env::var("WAL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// Median of samples (0 for none).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Records per second of `n` operations taking `d`.
pub fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-12)
}

/// Runs `f` `runs()` times; each run returns a value (rate, latency...). Returns the samples.
pub async fn sample<F, Fut>(mut f: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut out = Vec::new();
    for _ in 0..runs() {
        out.push(f().await);
    }
    out
}

/// Times a future.
pub async fn time<F: std::future::Future<Output = T>, T>(f: F) -> (T, Duration) {
    let t0 = Instant::now();
    let v = f.await;
    (v, t0.elapsed())
}

/// One result line: name, median, unit, optional ratio to a baseline and what it is against.
pub fn report(name: &str, samples: &[f64], unit: &str, ratio: Option<(f64, &str)>) {
    let m = median(samples);
    let spread = if samples.len() > 1 {
        let lo = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = samples.iter().copied().fold(0.0, f64::max);
        format!("  [min {} max {}]", human(lo), human(hi))
    } else {
        String::new()
    };
    match ratio {
        Some((r, against)) => println!(
            "{name:<58} median {:>12} {unit:<10} ratio {r:>6.3} vs {against}{spread}",
            human(m)
        ),
        None => println!("{name:<58} median {:>12} {unit:<10}{spread}", human(m)),
    }
    if std::env::var("WAL_BENCH_VERBOSE").is_ok() {
        let all: Vec<String> = samples.iter().map(|v| human(*v)).collect();
        println!("    samples in run order: {}", all.join(" "));
    }
}

/// Formats a number with a metric suffix.
pub fn human(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.3}")
    }
}

/// Whether the workload group `name` runs: all do unless `WAL_BENCH_ONLY` lists names
/// (comma-separated), e.g. `WAL_BENCH_ONLY=w2,w4`.
pub fn selected(name: &str) -> bool {
    match std::env::var("WAL_BENCH_ONLY") {
        Ok(list) => list.split(',').any(|n| n.trim().eq_ignore_ascii_case(name)),
        Err(_) => true,
    }
}
