//! Driving a workload from OS threads: N threads call an operation in a loop for a fixed
//! time; the result is operations per second over all of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use wal_bench::rate;

/// Runs `threads` OS threads for `dur`, each calling the operation `make(i)` returns in a
/// loop (all start together): operations per second.
pub(crate) fn run_threads<M, Op>(threads: usize, dur: Duration, make: M) -> f64
where
    M: Fn(usize) -> Op,
    Op: FnMut() + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|i| {
            let mut op = make(i);
            let (stop, go) = (stop.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    op();
                    n += 1;
                }
                n
            })
        })
        .collect();
    go.wait();
    let t0 = Instant::now();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    rate(total, t0.elapsed())
}

/// Runs `f` on a plain OS thread, outside any tokio runtime (a blocking API that refuses to
/// run inside one needs this), and awaits its result without blocking the runtime.
pub(crate) async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(move || std::thread::spawn(f).join().unwrap())
        .await
        .unwrap()
}

/// Runs blocking work on tokio's blocking pool and awaits it.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}
