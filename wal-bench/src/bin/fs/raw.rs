//! Raw syscall baselines: the least a log could do for each workload, written as plainly as
//! possible (no engine, no abstraction), and measured in the same run as the log.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::child::peak_rss_kib;
use crate::dirs::{fresh, sync_dir};
use crate::knobs::FRAME;

pub(crate) fn median_us(mut lat: Vec<Duration>) -> f64 {
    lat.sort();
    lat[lat.len() / 2].as_secs_f64() * 1e6
}

/// write(2) at the end of a growing file + fdatasync: median latency (µs).
pub(crate) fn append_fdatasync(n: usize) -> f64 {
    let d = fresh("raw-append");
    let mut f = File::create(d.join("log")).unwrap();
    f.sync_all().unwrap();
    sync_dir(&d);
    let buf = [7u8; FRAME];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    median_us(lat)
}

/// A zero-filled, synced file of `bytes` in `dir`: pwrite + fdatasync into it changes no
/// metadata.
pub(crate) fn preallocated(dir: &Path, bytes: usize) -> File {
    let f = File::create(dir.join("log")).unwrap();
    f.write_all_at(&vec![0u8; bytes], 0).unwrap();
    f.sync_all().unwrap();
    sync_dir(dir);
    f
}

/// pwrite(2) into a zero-filled, synced file + fdatasync: median latency (µs).
pub(crate) fn prealloc_pwrite(n: usize) -> f64 {
    median_us(prealloc_pwrite_lat(n))
}

/// pwrite(2) into a zero-filled, synced file + fdatasync: every latency.
pub(crate) fn prealloc_pwrite_lat(n: usize) -> Vec<Duration> {
    let f = preallocated(&fresh("raw-prealloc"), 4 << 20);
    pwrite_block(&f, 0, n)
}

/// `per_block` pwrite + fdatasync of one frame each at `start` onwards: their latencies.
pub(crate) fn pwrite_block(f: &File, start: u64, per_block: usize) -> Vec<Duration> {
    let buf = [7u8; FRAME];
    (0..per_block)
        .map(|i| {
            let t = Instant::now();
            f.write_all_at(&buf, start + (i * FRAME) as u64).unwrap();
            f.sync_data().unwrap();
            t.elapsed()
        })
        .collect()
}

/// Sequential writes of `chunk` bytes up to `total`: (MB/s into the page cache, MB/s including
/// the final fdatasync).
pub(crate) fn bandwidth(total: u64, chunk: usize) -> (f64, f64) {
    let d = fresh("raw-bw");
    let mut f = File::create(d.join("log")).unwrap();
    let buf = vec![7u8; chunk];
    let t = Instant::now();
    let mut done = 0u64;
    while done < total {
        f.write_all(&buf).unwrap();
        done += chunk as u64;
    }
    let cached = t.elapsed();
    f.sync_data().unwrap();
    let synced = t.elapsed();
    drop(f);
    let _ = std::fs::remove_dir_all(&d);
    (
        total as f64 / cached.as_secs_f64() / 1e6,
        total as f64 / synced.as_secs_f64() / 1e6,
    )
}

/// The segment files of a wal-fs log directory, in name (= id) order.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// CRC32 of a frame as the format defines it: salt, then the frame from header byte 4 to the
/// end of its payload (one update over contiguous bytes, as the fastest reader does it).
fn frame_crc(salt: &[u8], frame: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(salt);
    c.update(&frame[4..]);
    c.finalize()
}

/// Reads every segment file of `dir` and checks every frame's CRC: returns (records, bytes).
pub(crate) fn crc_scan(dir: &Path) -> (u64, u64) {
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut frame = vec![0u8; 32];
    for p in segment_files(dir) {
        let mut r = BufReader::with_capacity(1 << 20, File::open(&p).unwrap());
        let mut head = [0u8; 64];
        r.read_exact(&mut head).unwrap();
        let salt = head[32..40].to_vec();
        bytes += 64;
        loop {
            // One buffer for header and payload, so the CRC is one update.
            if r.read_exact(&mut frame[..32]).is_err() || frame[..32] == [0u8; 32] {
                break;
            }
            let h: [u8; 32] = frame[..32].try_into().unwrap();
            let crc = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let len = u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize;
            if frame.len() < 32 + len {
                frame.resize(32 + len, 0);
            }
            if r.read_exact(&mut frame[32..32 + len]).is_err() {
                break;
            }
            assert_eq!(
                frame_crc(&salt, &frame[..32 + len]),
                crc,
                "bad frame in {}",
                p.display()
            );
            bytes += (32 + len) as u64;
            if h[28] == 3 {
                break; // seal trailer
            }
            records += u64::from(u32::from_le_bytes(h[24..28].try_into().unwrap()));
        }
    }
    (records, bytes)
}

pub(crate) fn child_crc_scan(dir: &Path) {
    let t0 = Instant::now();
    let (n, bytes) = crc_scan(dir);
    let secs = t0.elapsed().as_secs_f64();
    println!("{secs} {n} {bytes} {}", peak_rss_kib());
}

/// What opening a log of many sealed segments cannot avoid: list the directory, and per
/// segment read its 64 B header and its last 56 B (the trailer of a sealed segment) and check
/// both CRCs. Returns (segments, trailers that checked).
pub(crate) fn headers_trailers(dir: &Path) -> (u64, u64) {
    let (mut segments, mut sealed) = (0u64, 0u64);
    for p in segment_files(dir) {
        let f = File::open(&p).unwrap();
        let mut head = [0u8; 64];
        f.read_exact_at(&mut head, 0).unwrap();
        assert_eq!(
            crc32fast::hash(&head[..60]).to_le_bytes(),
            head[60..64],
            "bad header in {}",
            p.display()
        );
        segments += 1;
        let len = f.metadata().unwrap().len();
        if len >= 64 + 56 {
            let mut t = [0u8; 56];
            f.read_exact_at(&mut t, len - 56).unwrap();
            if t[28] == 3 && frame_crc(&head[32..40], &t).to_le_bytes() == t[0..4] {
                sealed += 1;
            }
        }
    }
    (segments, sealed)
}

pub(crate) fn child_headers_trailers(dir: &Path) {
    let t0 = Instant::now();
    let (n, sealed) = headers_trailers(dir);
    let secs = t0.elapsed().as_secs_f64();
    println!("{secs} {n} {sealed} {}", peak_rss_kib());
}

/// unlink(2) of the first `n` segment files of `dir`, then one directory fsync: seconds.
pub(crate) fn unlink_segments(dir: &Path, n: usize) -> f64 {
    let files = segment_files(dir);
    let t0 = Instant::now();
    for p in files.iter().take(n) {
        std::fs::remove_file(p).unwrap();
    }
    sync_dir(dir);
    t0.elapsed().as_secs_f64()
}
