//! W3: non-durable appends (`Never` policy): 100 B single awaited appends and batches of
//! 1000, 4 KiB appends, against the in-process buffer of the same frames (`inproc`), raw
//! sequential write bandwidth, okaywal and raft-engine.

use wal_bench::{median, report, runs};

use crate::knobs::{w3_batches, w3_big, w3_singles, REC, SEG_DEFAULT, SEG_HUGE};
use crate::summary::{Better, Row, Tables};
use crate::threads::blocking;
use crate::{inproc, ours, peer_okaywal, peer_raft_engine, raw};

const KIB4: usize = 4096;

fn mb(records_per_s: f64, size: usize) -> f64 {
    records_per_s * size as f64 / 1e6
}

#[derive(Default)]
struct Samples {
    bat: Vec<f64>,
    hbat: Vec<f64>,
    sng: Vec<f64>,
    hsng: Vec<f64>,
    raw_c: Vec<f64>,
    raw_s: Vec<f64>,
    big_c: Vec<f64>,
    big_s: Vec<f64>,
    hbig_c: Vec<f64>,
    okb: Vec<f64>,
    okbig: Vec<f64>,
    oksng: Vec<f64>,
    base_sng: Vec<f64>,
    base_bat: Vec<f64>,
    base_big: Vec<f64>,
    raft_sng: Vec<f64>,
    raft_bat: Vec<f64>,
    raft_big_c: Vec<f64>,
    raft_big_s: Vec<f64>,
}

async fn measure() -> Samples {
    let (batches, singles, big) = (w3_batches(), w3_singles(), w3_big());
    let total = big * KIB4 as u64;
    let mut s = Samples::default();
    for _ in 0..runs() {
        s.bat.push(ours::w3_batches(batches, SEG_DEFAULT).await);
        s.hbat.push(ours::w3_batches(batches, SEG_HUGE).await);
        s.sng
            .push(ours::w3_singles(REC, singles, SEG_DEFAULT).await.0);
        s.hsng
            .push(ours::w3_singles(REC, singles, SEG_HUGE).await.0);
        let (rc, rs) = blocking(move || raw::bandwidth(total, 256 << 10)).await;
        s.raw_c.push(rc);
        s.raw_s.push(rs);
        let (c, sy) = ours::w3_singles(KIB4, big, SEG_DEFAULT).await;
        s.big_c.push(mb(c, KIB4));
        s.big_s.push(mb(sy, KIB4));
        let (c, _) = ours::w3_singles(KIB4, big, SEG_HUGE).await;
        s.hbig_c.push(mb(c, KIB4));
        s.base_sng
            .push(blocking(move || inproc::w3_singles(REC, singles)).await);
        s.base_bat
            .push(blocking(move || inproc::w3_batches(batches, REC)).await);
        s.base_big.push(mb(
            blocking(move || inproc::w3_singles(KIB4, big)).await,
            KIB4,
        ));
        s.okb
            .push(blocking(move || peer_okaywal::w3(batches, 1000, REC)).await);
        s.okbig.push(mb(
            blocking(move || peer_okaywal::w3(1, big, KIB4)).await,
            KIB4,
        ));
        s.oksng
            .push(blocking(move || peer_okaywal::w3(1, singles, REC)).await);
        s.raft_sng.push(
            blocking(move || peer_raft_engine::w3(singles, 1, REC))
                .await
                .0,
        );
        s.raft_bat.push(
            blocking(move || peer_raft_engine::w3(batches, 1000, REC))
                .await
                .0,
        );
        let (c, sy) = blocking(move || peer_raft_engine::w3(big, 1, KIB4)).await;
        s.raft_big_c.push(mb(c, KIB4));
        s.raft_big_s.push(mb(sy, KIB4));
    }
    s
}

pub(crate) async fn run(t: &mut Tables) {
    let s = measure().await;
    let ratio = |a: &[f64], b: &[f64]| median(a) / median(b);
    report(
        "W3 wal-fs non-durable 100 B, batches of 1000",
        &s.bat,
        "records/s",
        Some((median(&s.bat) / 10e6, "target 10M/s")),
    );
    report(
        "W3 ... same, one segment (no rotation fsync)",
        &s.hbat,
        "records/s",
        Some((median(&s.hbat) / 10e6, "target 10M/s")),
    );
    report(
        "W3 wal-fs non-durable 100 B, single awaited appends",
        &s.sng,
        "records/s",
        Some((median(&s.sng) / 2e6, "target 2M/s")),
    );
    report(
        "W3 ... same, one segment (no rotation fsync)",
        &s.hsng,
        "records/s",
        Some((median(&s.hsng) / 2e6, "target 2M/s")),
    );
    report(
        "raw sequential write 256 KiB chunks, page cache",
        &s.raw_c,
        "MB/s",
        None,
    );
    report(
        "raw sequential write 256 KiB chunks + fdatasync",
        &s.raw_s,
        "MB/s",
        None,
    );
    report(
        "W3 wal-fs non-durable 4 KiB appends, page cache",
        &s.big_c,
        "MB/s",
        Some((ratio(&s.big_c, &s.raw_c), "raw page-cache bandwidth")),
    );
    report(
        "W3 ... same, one segment (no rotation fsync)",
        &s.hbig_c,
        "MB/s",
        Some((ratio(&s.hbig_c, &s.raw_c), "raw page-cache bandwidth")),
    );
    report(
        "W3 wal-fs non-durable 4 KiB appends + final sync",
        &s.big_s,
        "MB/s",
        Some((
            ratio(&s.big_s, &s.raw_s),
            "raw bandwidth incl. fdatasync (>= 0.7)",
        )),
    );
    report(
        "W3 okaywal 100 B, entries of 1000 chunks (1 commit each)",
        &s.okb,
        "records/s",
        None,
    );
    report(
        &format!(
            "W3 okaywal 4 KiB, one entry of {} chunks + commit",
            w3_big()
        ),
        &s.okbig,
        "MB/s",
        Some((ratio(&s.okbig, &s.raw_s), "raw bandwidth incl. fdatasync")),
    );
    new_lines(&s);
    rows(t, &s);
}

/// The lines of the in-process baseline and raft-engine, and okaywal's single chunks.
fn new_lines(s: &Samples) {
    let ratio = |a: &[f64], b: &[f64]| median(a) / median(b);
    // The in-process baseline: the same frames into a mutex-protected buffer, write(2) every
    // 256 KiB.
    let buffer = "mutex buffer, same frames";
    report(
        &format!("W3 {buffer}: 100 B appends"),
        &s.base_sng,
        "records/s",
        None,
    );
    report(
        &format!("W3 {buffer}: 100 B batches of 1000"),
        &s.base_bat,
        "records/s",
        None,
    );
    report(
        &format!("W3 {buffer}: 4 KiB appends"),
        &s.base_big,
        "MB/s",
        None,
    );
    report(
        "W3 wal-fs single awaited appends / mutex buffer (>= 0.8)",
        &[ratio(&s.sng, &s.base_sng)],
        "x",
        None,
    );
    report(
        "W3 wal-fs 4 KiB appends / mutex buffer MB/s (>= 0.8)",
        &[ratio(&s.big_c, &s.base_big)],
        "x",
        None,
    );
    report(
        "W3 okaywal 100 B, one entry of single chunks + 1 commit",
        &s.oksng,
        "records/s",
        Some((ratio(&s.oksng, &s.base_sng), "mutex buffer")),
    );
    report(
        "W3 raft-engine 100 B, one entry per write(no sync)",
        &s.raft_sng,
        "records/s",
        Some((ratio(&s.raft_sng, &s.base_sng), "mutex buffer")),
    );
    report(
        "W3 raft-engine 100 B, 1000 entries per write(no sync)",
        &s.raft_bat,
        "records/s",
        Some((ratio(&s.raft_bat, &s.base_bat), "mutex buffer")),
    );
    report(
        "W3 raft-engine 4 KiB, one entry per write(no sync)",
        &s.raft_big_c,
        "MB/s",
        Some((ratio(&s.raft_big_c, &s.base_big), "mutex buffer")),
    );
    report(
        "W3 raft-engine 4 KiB, same + final sync",
        &s.raft_big_s,
        "MB/s",
        Some((
            ratio(&s.raft_big_s, &s.raw_s),
            "raw bandwidth incl. fdatasync",
        )),
    );
}

fn rows(t: &mut Tables, s: &Samples) {
    let of = |o: f64, b: f64| o / b;
    t.legacy("W3 100 B batches of 1000", &s.bat, &s.okb, "rec/s", true);
    t.legacy(
        "W3 100 B single awaited appends",
        &s.sng,
        &s.oksng,
        "rec/s",
        true,
    );
    t.legacy(
        "W3 4 KiB incl. final sync",
        &s.big_s,
        &s.okbig,
        "MB/s",
        true,
    );
    let buffer = "mutex buffer";
    t.rows.push(
        Row::new(
            "W3 non-durable 100 B, single awaited appends",
            "rec/s",
            Better::Higher,
            &s.sng,
        )
        .baseline(buffer, &s.base_sng, of, "of it (>= 0.8)")
        .peer("okaywal", &s.oksng)
        .peer("raft-engine", &s.raft_sng),
    );
    t.rows.push(
        Row::new(
            "W3 non-durable 4 KiB appends (page cache)",
            "MB/s",
            Better::Higher,
            &s.big_c,
        )
        .baseline(buffer, &s.base_big, of, "of it (>= 0.8)")
        .peer("raft-engine", &s.raft_big_c),
    );
    t.rows.push(
        Row::new(
            "W3 non-durable 100 B, batches of 1000",
            "rec/s",
            Better::Higher,
            &s.bat,
        )
        .baseline(buffer, &s.base_bat, of, "of it")
        .peer("okaywal", &s.okb)
        .peer("raft-engine", &s.raft_bat),
    );
    t.rows.push(
        Row::new(
            "W3 4 KiB appends incl. final sync",
            "MB/s",
            Better::Higher,
            &s.big_s,
        )
        .baseline("raw write+fdatasync", &s.raw_s, of, "of it (>= 0.7)")
        .peer("okaywal", &s.okbig)
        .peer("raft-engine", &s.raft_big_s),
    );
}
