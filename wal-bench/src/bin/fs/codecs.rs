//! Compression and encryption (format version 3): 4 KiB records, compressible text and
//! random bytes, appended non-durably then synced, with no compression, lz4, zstd level 1
//! and encryption (alone, and after lz4): MB/s of original bytes (ratio to neither, same
//! run) and stored bytes over original bytes.

use std::time::Instant;

use std::sync::Arc;

use wal_api::crypto::StaticKeys;
use wal_api::Compression;
use wal_bench::{median, report, runs};

use crate::dirs::{discard, fresh};
use crate::ours::{non_durable, open_fs};

const SIZE: usize = 4096;
const RECORDS: u64 = 20_000;

/// Record `i`: log-like text that compresses, or random bytes that do not.
fn record(i: u64, text: bool) -> Vec<u8> {
    if text {
        return format!("{i:08} level=info request served path=/api/items status=200; ")
            .bytes()
            .cycle()
            .take(SIZE)
            .collect();
    }
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One run: (MB/s of original bytes, appended and synced; stored bytes / original bytes).
async fn one(c: Compression, encrypt: bool, text: bool) -> (f64, f64) {
    let d = fresh("codec");
    let mut opts = non_durable().compression(c);
    if encrypt {
        opts = opts.encryption(Arc::new(StaticKeys::new(1, [0x3c; 32])));
    }
    let wal = open_fs(&d, opts).await;
    let records: Vec<Vec<u8>> = (0..64).map(|i| record(i, text)).collect();
    let t0 = Instant::now();
    for i in 0..RECORDS {
        wal.append(&records[(i % 64) as usize]).await.unwrap();
    }
    wal.sync().await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let stored: u64 = wal.segments().iter().map(|s| s.len).sum();
    wal.close().await.unwrap();
    drop(wal);
    discard(&d);
    let raw = (RECORDS * SIZE as u64) as f64;
    (raw / secs / 1e6, stored as f64 / raw)
}

pub(crate) async fn run() {
    println!(
        "-- compression and encryption: {RECORDS} x 4 KiB appends (Never, then one sync), MB/s of original bytes"
    );
    let variants = [
        (Compression::None, false),
        (Compression::Lz4, false),
        (Compression::Zstd(1), false),
        (Compression::None, true),
        (Compression::Lz4, true),
    ];
    for text in [true, false] {
        let kind = if text { "compressible" } else { "random" };
        let mut speed = vec![Vec::new(); variants.len()];
        let mut size = vec![Vec::new(); variants.len()];
        for _ in 0..runs() {
            for (k, (c, e)) in variants.iter().enumerate() {
                let (mbs, ratio) = one(*c, *e, text).await;
                speed[k].push(mbs);
                size[k].push(ratio);
            }
        }
        let base = median(&speed[0]);
        for (k, (c, e)) in variants.iter().enumerate() {
            let enc = if *e { " + encryption" } else { "" };
            let name = format!("{kind} 4 KiB, {}{enc}", c.name());
            let ratio = (k > 0).then(|| (median(&speed[k]) / base, "none"));
            report(&name, &speed[k], "MB/s", ratio);
            println!("    stored / original bytes: {:.3}", median(&size[k]));
        }
    }
}
