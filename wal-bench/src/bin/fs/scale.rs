//! Scale: a log of 10,000 sealed segments (plus its open tail).
//!
//! - Open, in a fresh process, against the raw cost of listing the directory and reading each
//!   segment's 64 B header and last 56 B (its trailer), checking both CRCs, also in a fresh
//!   process (target: open <= 2x that).
//! - `truncate_prefix` dropping the 10,000 sealed segments, against unlink(2) of as many
//!   files + one directory fsync.
//!
//! The log is written directly with the `wal_api::format` encoders (segments of four 100 B
//! records, 4 KiB target size in their headers), then every file and the directory are
//! fsynced; the open check asserts that the log sees every segment and record.

use std::path::Path;

use wal_api::format::{encode_record, new_salt, SegmentHeader, Trailer};
use wal_api::{Lsn, SegmentId};
use wal_bench::{report, runs};

use crate::child::{self, record};
use crate::dirs::{discard, fresh, sync_tree};
use crate::knobs::scale_segments;
use crate::summary::{thousands, Better, Row, Tables};
use crate::threads::blocking;
use crate::{ours, raw};

const PER_SEGMENT: u64 = 4;

fn segment(dir: &Path, id: u64, base: u64, records: u64, sealed: bool) {
    let salt = new_salt();
    let mut h = SegmentHeader::new(SegmentId(id), Lsn(base), salt);
    h.segment_size = 4096;
    let mut buf = h.encode().to_vec();
    for k in 0..records {
        let lsn = Lsn(base + k);
        encode_record(&mut buf, salt, lsn, lsn.prev(), &record(base + k - 1));
    }
    if sealed {
        let last = Lsn(base + records - 1);
        let t = Trailer {
            last_lsn: last,
            records,
            body_len: buf.len() as u64,
            body_crc: crc32fast::hash(&buf),
        };
        buf.extend_from_slice(&t.encode(salt, last));
    }
    std::fs::write(dir.join(format!("{}.wal", SegmentId(id).padded())), &buf).unwrap();
}

/// Writes `n` sealed segments and an unsealed tail of one record into `dir`, fsynced.
/// Returns the tail's base LSN.
fn build(dir: &Path, n: u64) -> Lsn {
    for i in 0..n {
        segment(dir, i + 1, 1 + i * PER_SEGMENT, PER_SEGMENT, true);
    }
    let tail = 1 + n * PER_SEGMENT;
    segment(dir, n + 1, tail, 1, false);
    sync_tree(dir);
    Lsn(tail)
}

pub(crate) async fn run(t: &mut Tables) {
    let n = scale_segments();
    let d = fresh("scale-open");
    let dir = d.clone();
    let t0 = std::time::Instant::now();
    let tail = blocking(move || build(&dir, n)).await;
    println!(
        "scale log: {n} sealed segments of {PER_SEGMENT} x 100 B + a tail, written and fsynced in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let (mut open, mut listing, mut trunc, mut unlink) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs() {
        let dir = d.clone();
        let r = blocking(move || child::replay("scale-raw", &dir)).await;
        assert_eq!(r.records, n + 1, "raw listing missed segments");
        listing.push(r.secs);
        let dir = d.clone();
        let o = blocking(move || child::replay("scale-open", &dir)).await;
        assert_eq!(o.records, n + 1, "open did not see every segment");
        assert_eq!(o.bytes, tail.0, "open did not see every record");
        open.push(o.secs);
        let dt = fresh("scale-truncate");
        let dir = dt.clone();
        let upto = blocking(move || build(&dir, n)).await;
        trunc.push(ours::truncate_prefix(&dt, upto).await);
        discard(&dt);
        let du = fresh("scale-unlink");
        let dir = du.clone();
        unlink.push(
            blocking(move || {
                build(&dir, n);
                raw::unlink_segments(&dir, n as usize)
            })
            .await,
        );
        discard(&du);
    }
    discard(&d);
    let segs = thousands(n);
    report(
        &format!("raw list + read {segs} headers and trailers"),
        &listing,
        "s",
        None,
    );
    report(
        &format!("scale wal-fs open, {segs} sealed segments"),
        &open,
        "s",
        Some((
            wal_bench::median(&open) / wal_bench::median(&listing),
            "raw headers+trailers (<= 2)",
        )),
    );
    report(
        &format!("raw unlink {segs} segment files + dir fsync"),
        &unlink,
        "s",
        None,
    );
    report(
        &format!("scale wal-fs truncate_prefix dropping {segs} segments"),
        &trunc,
        "s",
        Some((
            wal_bench::median(&trunc) / wal_bench::median(&unlink),
            "raw unlink + dir fsync",
        )),
    );
    t.rows.push(
        Row::new(
            format!("Scale: open a log of {segs} sealed segments"),
            "s",
            Better::Lower,
            &open,
        )
        .baseline(
            "list + headers/trailers",
            &listing,
            |o, b| o / b,
            "(time ratio, target <= 2)",
        ),
    );
    t.rows.push(
        Row::new(
            format!("Scale: truncate_prefix dropping {segs} segments"),
            "s",
            Better::Lower,
            &trunc,
        )
        .baseline("unlink + dir fsync", &unlink, |o, b| o / b, "(time ratio)"),
    );
}
