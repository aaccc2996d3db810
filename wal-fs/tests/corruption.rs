//! On-disk damage to real segment files: every byte of a sealed frame flipped under every
//! recovery mode, the active segment cut at every byte of its last frame, a zero-filled
//! preallocated tail left by a crash, and garbage and oddly named files in the directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use wal_api::format::{decode_frame, FrameKind, SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::{Error, Lsn, Record, RecoveryMode, SegmentId, Wal, WalOptions};
use wal_fs::{segment_file_name, FsStore, QUARANTINE_DIR};

fn payload(i: u64) -> Vec<u8> {
    let len = 20 + (i as usize * 7) % 40;
    (0..len)
        .map(|k| (i as u8).wrapping_mul(31) ^ k as u8)
        .collect()
}

/// Copies the segment files of `from` into a fresh directory (a crash image).
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
        }
    }
    to
}

async fn open(dir: &Path, opts: WalOptions) -> wal_api::Result<Wal<FsStore>> {
    Wal::open(FsStore::open_or_create(dir)?, opts).await
}

async fn read_all(wal: &Wal<FsStore>) -> (Vec<Record>, Option<Error>) {
    let mut out = Vec::new();
    let mut s = wal.read(Lsn(1)..);
    while let Some(r) = s.next().await {
        match r {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Frames (offset, length) of a segment's bytes, trailer excluded.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let layout = SegmentHeader::decode(bytes).unwrap().layout();
    let mut pos = SEGMENT_HEADER_LEN;
    while let Ok(f) = decode_frame(&bytes[pos.min(bytes.len())..], layout) {
        if f.kind == FrameKind::Seal {
            break;
        }
        out.push((pos, f.len()));
        pos += f.len();
    }
    out
}

fn small() -> WalOptions {
    WalOptions::default().segment_size(1024)
}

/// Writes `n` records over 1 KiB segments and closes the log.
async fn pristine(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), small()).await.unwrap();
    for i in 1..=n {
        wal.append(&payload(i)).await.unwrap();
    }
    assert!(wal.segments()[0].sealed);
    wal.close().await.unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flipped_byte_of_a_sealed_frame_is_detected_in_every_mode() {
    let base = pristine(60).await;
    let seg1 = base.path().join(segment_file_name(SegmentId(1)));
    let orig = std::fs::read(&seg1).unwrap();
    let fr = frames(&orig);
    // The second frame of segment 1 (LSN 2), header and payload.
    let (start, len) = fr[1];
    let victim = Lsn(2);
    let (mut variants, mut detected, mut undetected) = (0u64, 0u64, 0u64);
    for i in start..start + len {
        for mask in [0xFFu8, 1u8 << (i % 8)] {
            let mut bad = orig.clone();
            bad[i] ^= mask;
            variants += 1;
            let mut ok_everywhere = true;
            for mode in [
                RecoveryMode::TolerateTornTail,
                RecoveryMode::AbsoluteConsistency,
                RecoveryMode::PointInTime,
                RecoveryMode::SkipCorrupted,
            ] {
                let img = copy_dir(base.path());
                std::fs::write(img.path().join(segment_file_name(SegmentId(1))), &bad).unwrap();
                let opts = small().recovery_mode(mode);
                let ok = match mode {
                    RecoveryMode::TolerateTornTail => {
                        // Sealed segments are checked lazily: on read and by verify.
                        let wal = open(img.path(), opts).await.unwrap();
                        let (got, err) = read_all(&wal).await;
                        let v = wal.verify().await;
                        got.len() == 1
                            && matches!(
                                err,
                                Some(Error::Corrupt {
                                    segment: SegmentId(1),
                                    ..
                                })
                            )
                            && matches!(
                                v,
                                Err(Error::Corrupt {
                                    segment: SegmentId(1),
                                    ..
                                })
                            )
                    }
                    RecoveryMode::AbsoluteConsistency => matches!(
                        open(img.path(), opts).await,
                        Err(Error::Corrupt {
                            segment: SegmentId(1),
                            ..
                        })
                    ),
                    RecoveryMode::PointInTime => {
                        let wal = open(img.path(), opts).await.unwrap();
                        let (got, err) = read_all(&wal).await;
                        let q = img.path().join(QUARANTINE_DIR);
                        err.is_none()
                            && wal.written_lsn() == Lsn(1)
                            && got.len() == 1
                            && wal.recovery_report().quarantined.contains(&SegmentId(1))
                            && q.join(segment_file_name(SegmentId(1))).is_file()
                    }
                    RecoveryMode::SkipCorrupted => {
                        let wal = open(img.path(), opts).await.unwrap();
                        let (got, err) = read_all(&wal).await;
                        let lsns: Vec<u64> = got.iter().map(|r| r.lsn.0).collect();
                        let want: Vec<u64> = (1..=60).filter(|&l| l != victim.0).collect();
                        err.is_none()
                            && lsns == want
                            && got.iter().all(|r| r.data[..] == payload(r.lsn.0)[..])
                    }
                };
                if !ok {
                    eprintln!(
                        "byte {i} (frame offset {}) mask {mask:#x}: {mode:?} did not detect",
                        i - start
                    );
                    ok_everywhere = false;
                }
            }
            if ok_everywhere {
                detected += 1;
            } else {
                undetected += 1;
            }
        }
    }
    println!(
        "sealed frame of {len} bytes: {variants} flips x 4 modes, detected in every mode: {detected}, undetected: {undetected}"
    );
    assert_eq!(variants, 2 * len as u64);
    assert_eq!(undetected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_segment_cut_at_every_byte_of_last_frame_recovers_and_appends() {
    let base = tempfile::tempdir().unwrap();
    let wal = open(base.path(), WalOptions::default()).await.unwrap();
    for i in 1..=5 {
        wal.append(&payload(i)).await.unwrap();
    }
    // Synced but not closed: a clean close would seal the segment.
    wal.sync().await.unwrap();
    drop(wal);
    let name = segment_file_name(SegmentId(1));
    let orig = std::fs::read(base.path().join(&name)).unwrap();
    let (start, len) = *frames(&orig).last().unwrap();
    assert_eq!(start + len, orig.len());
    let mut cuts = 0;
    for cut in start..start + len {
        for zero_tail in [0usize, 64 << 10] {
            let img = copy_dir(base.path());
            let mut bytes = orig[..cut].to_vec();
            bytes.resize(cut + zero_tail, 0);
            std::fs::write(img.path().join(&name), &bytes).unwrap();
            let wal = open(img.path(), WalOptions::default()).await.unwrap();
            assert_eq!(wal.written_lsn(), Lsn(4), "cut {cut}");
            assert_eq!(
                wal.recovery_report().torn_bytes,
                (cut - start + zero_tail) as u64
            );
            let (got, err) = read_all(&wal).await;
            assert!(err.is_none());
            assert_eq!(got.len(), 4);
            assert_eq!(wal.append(b"again").await.unwrap(), Lsn(5));
            wal.close().await.unwrap();
            drop(wal);
            let wal = open(img.path(), WalOptions::default()).await.unwrap();
            assert_eq!(
                wal.recovery_report().torn_bytes,
                0,
                "cut {cut}: clean second open"
            );
            let (got, _) = read_all(&wal).await;
            assert_eq!(got.len(), 5);
            assert_eq!(&got[4].data[..], b"again");
            for r in &got[..4] {
                assert_eq!(r.data[..], payload(r.lsn.0)[..]);
            }
            cuts += 1;
        }
    }
    println!("active segment cut at {cuts} points of a {len}-byte last frame: all recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preallocated_zero_tail_left_by_a_crash_is_a_clean_end() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), WalOptions::default()).await.unwrap();
    for i in 1..=100 {
        wal.append(&payload(i)).await.unwrap();
    }
    let logical = wal.segments()[0].len;
    // The process dies now: the file holds the records and the zero fill ahead of them.
    let image = copy_dir(dir.path());
    let seg = image.path().join(segment_file_name(SegmentId(1)));
    let physical = std::fs::metadata(&seg).unwrap().len();
    assert!(
        physical > logical,
        "no preallocation: {physical} <= {logical}"
    );
    let bytes = std::fs::read(&seg).unwrap();
    assert!(bytes[logical as usize..].iter().all(|&b| b == 0));
    drop(wal);
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let img = copy_dir(image.path());
        let wal = open(img.path(), WalOptions::default().recovery_mode(mode))
            .await
            .unwrap();
        assert_eq!(wal.recovery_report().torn_bytes, physical - logical);
        assert_eq!(wal.written_lsn(), Lsn(100));
        let (got, err) = read_all(&wal).await;
        assert!(err.is_none());
        assert!(got.iter().all(|r| r.data[..] == payload(r.lsn.0)[..]));
        assert_eq!(wal.append(b"next").await.unwrap(), Lsn(101));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oddly_named_files_are_ignored_reported_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A valid segment outside the log, reachable only through a symlink with a segment name.
    let decoy = pristine(30).await;
    let decoy_seg = decoy.path().join(segment_file_name(SegmentId(1)));
    let linked = outside.path().join("target.wal");
    std::fs::copy(&decoy_seg, &linked).unwrap();
    let before_link = std::fs::read(&linked).unwrap();
    let odd: Vec<(&str, &[u8])> = vec![
        ("garbage.wal", b"\x00\x01garbage"),
        ("1.wal", b"RSWALSEG not really"),
        ("0000000000000000000a.wal", b"x"),
        ("000000000000000000001.wal", b"21 digits"),
        ("00000000000000000001.wal.bak", b"backup"),
        ("00000000000000000001.WAL", b"upper case"),
        ("README", b"notes"),
        (".hidden", b""),
    ];
    for (name, bytes) in &odd {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    // Entries with a segment's name that are not regular files are refused at open, named,
    // never followed; once moved away the log opens.
    for (name, make) in [
        ("00000000000000000099.wal", 0),
        ("00000000000000000050.wal", 1),
    ] {
        let path = d.join(name);
        if make == 0 {
            std::fs::create_dir(&path).unwrap();
        } else {
            std::os::unix::fs::symlink(&linked, &path).unwrap();
        }
        let err = match FsStore::open_or_create(d) {
            Ok(store) => Wal::open(store, small()).await.map(|_| ()),
            Err(e) => Err(e),
        }
        .unwrap_err();
        assert!(err.to_string().contains(name), "{name}: {err}");
        if make == 0 {
            std::fs::remove_dir(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }

    let wal = open(d, small()).await.unwrap();
    for i in 1..=40 {
        wal.append(&payload(i)).await.unwrap();
    }
    let ids: Vec<u64> = wal.segments().iter().map(|s| s.id.0).collect();
    assert!(
        !ids.contains(&50) && !ids.contains(&99),
        "followed a foreign entry: {ids:?}"
    );
    let foreign: Vec<PathBuf> = wal.store().foreign_files().unwrap();
    let mut names: Vec<String> = foreign
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = odd.iter().map(|(n, _)| n.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    wal.close().await.unwrap();
    drop(wal);
    let wal = open(d, small()).await.unwrap();
    let (got, err) = read_all(&wal).await;
    assert!(err.is_none());
    assert_eq!(got.len(), 40);
    assert!(got.iter().all(|r| r.data[..] == payload(r.lsn.0)[..]));
    for (name, bytes) in &odd {
        assert_eq!(
            &std::fs::read(d.join(name)).unwrap()[..],
            *bytes,
            "{name} changed"
        );
    }
    assert_eq!(
        std::fs::read(&linked).unwrap(),
        before_link,
        "symlink target changed"
    );
    println!("foreign entries ignored and reported: {}", names.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_0600_directories_0700_and_quarantine_keeps_bytes() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("log");
    let wal = open(&d, small()).await.unwrap();
    for i in 1..=60 {
        wal.append(&payload(i)).await.unwrap();
    }
    wal.close().await.unwrap();
    drop(wal);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d), 0o700);
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    // Damage segment 1 and recover point-in-time: segments move to quarantine, none deleted.
    let seg1 = d.join(segment_file_name(SegmentId(1)));
    let mut bytes = std::fs::read(&seg1).unwrap();
    let (start, _) = frames(&bytes)[1];
    bytes[start + 30] ^= 0x10;
    std::fs::write(&seg1, &bytes).unwrap();
    let before: usize = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".wal")
        })
        .count();
    let wal = open(&d, small().recovery_mode(RecoveryMode::PointInTime))
        .await
        .unwrap();
    let quarantined = wal.recovery_report().quarantined.clone();
    assert_eq!(quarantined.len(), before);
    drop(wal);
    let q = d.join(QUARANTINE_DIR);
    assert_eq!(mode(&q), 0o700);
    for id in quarantined {
        let p = q.join(segment_file_name(id));
        assert!(p.is_file(), "{} missing", p.display());
        assert_eq!(mode(&p), 0o600);
        let mut note = p.clone().into_os_string();
        note.push(".reason");
        assert!(!std::fs::read(PathBuf::from(note)).unwrap().is_empty());
    }
    assert_eq!(
        std::fs::read(q.join(segment_file_name(SegmentId(1)))).unwrap(),
        bytes,
        "quarantined bytes changed"
    );
}

#[tokio::test]
async fn a_huge_sparse_state_slot_is_not_read_and_the_state_survives() {
    use wal_api::format::state::STATE_SLOTS;
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), WalOptions::default()).await.unwrap();
    wal.append(b"one").await.unwrap();
    wal.put_meta("vote", b"term 3").await.unwrap();
    wal.close().await.unwrap();
    drop(wal);
    // 1 TiB, sparse: reading it whole would need 1 TiB of memory.
    let slot = dir.path().join(segment_file_name(STATE_SLOTS[1]));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&slot)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let wal = open(dir.path(), WalOptions::default()).await.unwrap();
    assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 3"[..]));
    assert_eq!(
        wal.recovery_report().damaged_state_slots,
        vec![STATE_SLOTS[1]]
    );
    // Rewritten from the other copy.
    assert!(std::fs::metadata(&slot).unwrap().len() < 4096);
}
