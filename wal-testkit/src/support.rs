//! Small helpers shared by the cases.

use std::ops::RangeBounds;

use futures::StreamExt;
use wal_api::{Lsn, Record, SegmentStore, Wal};

/// Deterministic payload number `i`: `len` bytes that differ between records.
pub fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Reads `range` and panics on any error.
pub async fn collect<S: SegmentStore>(wal: &Wal<S>, range: impl RangeBounds<Lsn>) -> Vec<Record> {
    let items: Vec<_> = wal.read(range).collect().await;
    items
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("read failed: {e}")))
        .collect()
}

/// Reads `range`, returning the records before the first error and the error.
pub(crate) async fn collect_until_error<S: SegmentStore>(
    wal: &Wal<S>,
    range: impl RangeBounds<Lsn>,
) -> (Vec<Record>, Option<wal_api::Error>) {
    let mut out = Vec::new();
    let mut s = wal.read(range);
    while let Some(r) = s.next().await {
        match r {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}
