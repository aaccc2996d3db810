//! Frozen format-v2 fixtures: small logs under `tests/fixtures/<name>/`, each opened in every
//! recovery mode and checked against `tests/fixtures/<name>/expected`.
//!
//! The fixtures were generated once with
//! `WAL_WRITE_FIXTURES=1 cargo test -p wal-memory --test fixtures -- --ignored generate`
//! and are never regenerated: every later version of the format must read them as the
//! `expected` files say. `tests/fixtures/README.md` describes each one.
//!
//! `expected` has one line per mode: `<mode> ok <records> <last LSN> <quarantined ids>
//! <removed ids>` or
//! `<mode> corrupt <segment id> <offset>` (open refused) or `<mode> read-corrupt <records read>
//! <segment id> <offset>` (opened, reading stops at corruption); id lists are comma-separated or
//! `-`. Record `n`
//! of every fixture has the payload `record <n>`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use futures::StreamExt;
use wal_api::format::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use wal_api::{
    Error, Lsn, Never, PerWrite, RecoveryMode, SegmentId, SegmentStore, Wal, WalOptions,
};
use wal_memory::MemoryStore;

const MODES: [(&str, RecoveryMode); 4] = [
    ("tolerate", RecoveryMode::TolerateTornTail),
    ("absolute", RecoveryMode::AbsoluteConsistency),
    ("point-in-time", RecoveryMode::PointInTime),
    ("skip", RecoveryMode::SkipCorrupted),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn payload(n: u64) -> Vec<u8> {
    format!("record {n}").into_bytes()
}

fn opts() -> WalOptions {
    WalOptions::default().segment_size(700).write_buffer(0)
}

/// Loads a fixture into a store (every byte counts as on disk).
fn load(name: &str) -> MemoryStore {
    let store = MemoryStore::new();
    let mut files: Vec<_> = std::fs::read_dir(dir().join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{name}: no segment files");
    for f in files {
        let id: u64 = f.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        store.insert_raw(SegmentId(id), std::fs::read(&f).unwrap());
    }
    store
}

fn ids(v: &[SegmentId]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter()
            .map(|i| i.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Opens `store` in `mode` and describes the verdict as an `expected` line (without the
/// mode), after checking every record kept is the one written.
async fn verdict(name: &str, store: MemoryStore, mode: RecoveryMode) -> String {
    match Wal::open(store, opts().recovery_mode(mode)).await {
        Ok(wal) => {
            let (mut n, mut last) = (0u64, 0u64);
            let mut s = wal.read(Lsn(1)..);
            while let Some(r) = s.next().await {
                let r = match r {
                    Ok(r) => r,
                    // The default mode checks sealed segments by trailer at open and their
                    // frames when read.
                    Err(Error::Corrupt {
                        segment, offset, ..
                    }) => return format!("read-corrupt {n} {} {offset}", segment.0),
                    Err(e) => panic!("{name} {mode:?}: read failed: {e}"),
                };
                n += 1;
                // Dense, except where SkipCorrupted stepped over records.
                assert!(r.lsn.0 > last, "{name} {mode:?}");
                assert!(mode == RecoveryMode::SkipCorrupted || r.lsn.0 == n);
                last = r.lsn.0;
                assert_eq!(
                    r.data[..],
                    payload(last)[..],
                    "{name} {mode:?}: record {last}"
                );
            }
            let rep = wal.recovery_report().clone();
            wal.append(b"appended after recovery").await.unwrap();
            format!(
                "ok {n} {last} {} {}",
                ids(&rep.quarantined),
                ids(&rep.removed_incomplete)
            )
        }
        Err(Error::Corrupt {
            segment, offset, ..
        }) => format!("corrupt {} {offset}", segment.0),
        Err(e) => panic!("{name} {mode:?}: unexpected error {e}"),
    }
}

const FIXTURES: [&str; 12] = [
    "clean_multi_segment",
    "clean_closed",
    "torn_at_frame",
    "torn_at_page",
    "torn_at_sector",
    "unsynced_page_hole",
    "synced_damage_proven",
    "corrupt_sealed_segment",
    "stale_frame_after_tail",
    "embedded_frame_torn",
    "torn_header_new_segment",
    "zeroed_header_with_frames",
];

#[tokio::test]
async fn every_fixture_opens_as_expected_in_every_mode() {
    let mut checked = 0;
    for name in FIXTURES {
        let expected = std::fs::read_to_string(dir().join(name).join("expected"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for line in expected.lines() {
            let (mode_name, want) = line.split_once(' ').unwrap();
            let mode = MODES.iter().find(|(m, _)| *m == mode_name).unwrap().1;
            let got = verdict(name, load(name), mode).await;
            assert_eq!(got, want, "fixture {name}, mode {mode_name}");
            println!("fixture {name}, mode {mode_name}: {got}");
            checked += 1;
        }
    }
    assert_eq!(checked, FIXTURES.len() * MODES.len());
    println!(
        "fixtures checked: {} in {} modes",
        FIXTURES.len(),
        MODES.len()
    );
}

// ---- generation (run once; the output is committed and frozen) ---------------------------

/// A version 2 log keeps opening and appending: its newest segment takes more version 2
/// frames (no time, no compression), every segment created after it is version 3 (stamped,
/// compressed when that shrinks), and everything reads back across a reopen.
#[tokio::test]
async fn a_v2_log_keeps_appending_and_its_new_segments_are_v3() {
    let store = load("clean_multi_segment");
    let version = |store: &MemoryStore, id: SegmentId| {
        let b = store.segment_bytes(id).unwrap();
        wal_api::format::SegmentHeader::decode(&b).unwrap().version
    };
    let old: Vec<SegmentId> = store.list().await.unwrap().iter().map(|m| m.id).collect();
    assert!(old.iter().all(|&id| version(&store, id) == 2));
    let o = || {
        opts()
            .compression(wal_api::Compression::Lz4)
            .sync_policy(PerWrite)
    };
    let wal = Wal::open(store.clone(), o()).await.unwrap();
    assert_eq!(wal.written_lsn(), Lsn(40));
    let newest = *old.last().unwrap();
    for n in 41..=80 {
        let rec = if n % 2 == 0 {
            format!("record {n} ").repeat(6).into_bytes()
        } else {
            payload(n)
        };
        wal.append(&rec).await.unwrap();
    }
    let segs = wal.segments();
    assert!(segs.len() > old.len(), "the appends rotated");
    for s in &segs {
        let want = if s.id <= newest { 2 } else { 3 };
        assert_eq!(version(&store, s.id), want, "segment {}", s.id);
    }
    wal.close().await.unwrap();
    drop(wal);
    let wal = Wal::open(store.clone(), o()).await.unwrap();
    let got: Vec<_> = wal.read(..).collect().await;
    assert_eq!(got.len(), 80);
    let v3_from = segs.iter().find(|s| s.id > newest).unwrap().base;
    for r in got {
        let r = r.unwrap();
        let n = r.lsn.0;
        let want = if n > 40 && n % 2 == 0 {
            format!("record {n} ").repeat(6).into_bytes()
        } else {
            payload(n)
        };
        assert_eq!(r.data.to_vec(), want, "LSN {n}");
        assert_eq!(r.time.is_some(), r.lsn >= v3_from, "time of LSN {n}");
    }
}

/// A log of `n` records, each durable before the next is written, left unsealed.
async fn synced_log(n: u64) -> MemoryStore {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts().sync_policy(PerWrite))
        .await
        .unwrap();
    for i in 1..=n {
        wal.append(&payload(i)).await.unwrap();
    }
    drop(wal);
    store
}

/// A log of `synced` durable records followed by `more` records never synced.
async fn unsynced_tail(synced: u64, more: u64) -> MemoryStore {
    let store = MemoryStore::new();
    let wal = Wal::open(
        store.clone(),
        opts().sync_policy(Never).segment_size(1 << 20),
    )
    .await
    .unwrap();
    for i in 1..=synced {
        wal.append(&payload(i)).await.unwrap();
    }
    wal.sync().await.unwrap();
    for i in synced + 1..=synced + more {
        wal.append(&payload(i)).await.unwrap();
    }
    drop(wal);
    store
}

async fn last_id(store: &MemoryStore) -> SegmentId {
    store.list().await.unwrap().last().unwrap().id
}

fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let h = wal_api::format::SegmentHeader::decode(bytes).unwrap();
    let mut out = Vec::new();
    let mut p = SEGMENT_HEADER_LEN;
    while let Ok(f) = wal_api::format::decode_frame(&bytes[p..], h.layout()) {
        if f.kind == wal_api::format::FrameKind::Seal {
            break;
        }
        out.push(p);
        p += f.len();
    }
    out
}

async fn save(name: &str, store: &MemoryStore) {
    let d = dir().join(name);
    std::fs::create_dir_all(&d).unwrap();
    for m in store.list().await.unwrap() {
        let bytes = store.segment_bytes(m.id).unwrap();
        std::fs::write(d.join(format!("{:03}.seg", m.id.0)), bytes).unwrap();
    }
    let mut expected = String::new();
    for (mode_name, mode) in MODES {
        let v = verdict(name, load(name), mode).await;
        expected.push_str(&format!("{mode_name} {v}\n"));
    }
    std::fs::write(d.join("expected"), expected).unwrap();
}

#[tokio::test]
#[ignore = "generates the frozen fixtures; run once with WAL_WRITE_FIXTURES=1"]
async fn generate() {
    assert!(
        std::env::var("WAL_WRITE_FIXTURES").is_ok(),
        "set WAL_WRITE_FIXTURES=1 to overwrite the frozen fixtures"
    );
    // Several segments, the newest unsealed, no damage.
    save("clean_multi_segment", &synced_log(40).await).await;

    // Closed cleanly: every segment sealed.
    let s = synced_log(40).await;
    Wal::open(s.clone(), opts())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    save("clean_closed", &s).await;

    // Torn tails of never-synced bytes: mid-frame, at a 4 KiB page and at a 512-byte sector
    // boundary (with garbage after the sector).
    let s = unsynced_tail(20, 80).await;
    let id = last_id(&s).await;
    let offs = frame_offsets(&s.segment_bytes(id).unwrap());
    s.tamper(id, |b| b.truncate(offs[50] + FRAME_HEADER_LEN + 3));
    save("torn_at_frame", &s).await;

    let s = unsynced_tail(20, 150).await;
    let id = last_id(&s).await;
    s.tamper(id, |b| b.truncate(4096));
    save("torn_at_page", &s).await;

    let s = unsynced_tail(20, 80).await;
    let id = last_id(&s).await;
    s.tamper(id, |b| {
        b.truncate(2048);
        b.extend((0..300u32).map(|i| (i * 151 % 251) as u8));
    });
    save("torn_at_sector", &s).await;

    // A page of the unsynced tail lost while a later page of whole frames reached the disk.
    let s = unsynced_tail(20, 200).await;
    let id = last_id(&s).await;
    s.tamper(id, |b| b[4096..8192].fill(0));
    save("unsynced_page_hole", &s).await;

    // A flipped byte in a synced record, followed by frames whose watermark covers it.
    let s = synced_log(12).await;
    let id = last_id(&s).await;
    let offs = frame_offsets(&s.segment_bytes(id).unwrap());
    let at = offs[offs.len() / 2] + FRAME_HEADER_LEN + 2;
    s.tamper(id, |b| b[at] ^= 0x20);
    save("synced_damage_proven", &s).await;

    // A flipped byte in a sealed segment that is not the newest.
    let s = synced_log(40).await;
    let first = s.list().await.unwrap()[0].id;
    let offs = frame_offsets(&s.segment_bytes(first).unwrap());
    s.tamper(first, |b| b[offs[2] + FRAME_HEADER_LEN + 1] ^= 0x01);
    save("corrupt_sealed_segment", &s).await;

    // A stale copy of an earlier frame of the segment after its end (zeros between).
    let s = synced_log(8).await;
    let id = last_id(&s).await;
    let bytes = s.segment_bytes(id).unwrap();
    let offs = frame_offsets(&bytes);
    let stale = bytes[offs[1]..offs[2]].to_vec();
    s.tamper(id, |b| {
        b.extend_from_slice(&[0u8; 100]);
        b.extend_from_slice(&stale);
    });
    save("stale_frame_after_tail", &s).await;

    // A record whose payload holds a valid frame of another log, torn by the crash.
    let donor = synced_log(3).await;
    let d = donor.segment_bytes(last_id(&donor).await).unwrap();
    let embedded = d[SEGMENT_HEADER_LEN..].to_vec();
    let s = unsynced_tail(5, 0).await;
    let wal = Wal::open(s.clone(), opts().sync_policy(Never).segment_size(1 << 20))
        .await
        .unwrap();
    wal.append(&embedded).await.unwrap();
    wal.flush().await.unwrap();
    drop(wal);
    let id = last_id(&s).await;
    s.tamper(id, |b| {
        let len = b.len();
        b.truncate(len - 10);
    });
    save("embedded_frame_torn", &s).await;

    // The newest segment's header was torn by the crash that created it; nothing behind it.
    let s = synced_log(10).await;
    let wal = Wal::open(s.clone(), opts()).await.unwrap();
    wal.rotate().await.unwrap();
    drop(wal);
    let id = last_id(&s).await;
    s.tamper(id, |b| b[30..SEGMENT_HEADER_LEN].fill(0xa5));
    save("torn_header_new_segment", &s).await;

    // The newest segment's header zeroed although frames and a trailer follow it.
    let s = synced_log(10).await;
    Wal::open(s.clone(), opts())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let id = last_id(&s).await;
    s.tamper(id, |b| b[..SEGMENT_HEADER_LEN].fill(0));
    save("zeroed_header_with_frames", &s).await;
}
