//! walctl follows the conventions of a command-line tool, and reports damage instead of
//! hiding it: one test per defect it once had.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wal_api::{Lsn, SegmentId, SegmentStore, Wal, WalOptions};
use wal_fs::FsStore;
use wal_memory::MemoryStore;

/// Writes `n` records (`record 0001` ...) over segments of `segment_size` bytes and copies the
/// segments into `dir` as files. Returns the segment ids.
async fn write_log(dir: &Path, n: u32, segment_size: u64) -> Vec<SegmentId> {
    let store = MemoryStore::new();
    let wal = Wal::open(
        store.clone(),
        WalOptions::default().segment_size(segment_size),
    )
    .await
    .unwrap();
    for i in 1..=n {
        wal.append(format!("record {i:04}").as_bytes())
            .await
            .unwrap();
    }
    wal.close().await.unwrap();
    let mut ids = Vec::new();
    for m in store.list().await.unwrap() {
        let bytes = store.segment_bytes(m.id).unwrap();
        std::fs::write(dir.join(segment_name(m.id)), bytes).unwrap();
        ids.push(m.id);
    }
    ids
}

fn segment_name(id: SegmentId) -> String {
    format!("{}.wal", id.padded())
}

/// Flips one bit inside the payload `needle` of segment file `path`.
fn damage(path: &Path, needle: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at + 2] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Runs walctl: (exit code, stdout, stderr).
fn walctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The records `from..=to` as `dump` prints them.
fn lines(from: u32, to: u32) -> String {
    (from..=to)
        .map(|i| format!("{i}\trecord {i:04}\n"))
        .collect()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    out
}

#[test]
fn help_and_version_print_to_stdout_and_exit_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["stat", "--help"],
        &["help", "dump"],
        &["repair", "-h"],
    ] {
        let (code, out, err) = walctl(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage: walctl"), "{args:?}: {out}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let (code, out, _) = walctl(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes"), "{out}");
    let (code, out, _) = walctl(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("walctl {}\n", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn options_accept_the_equals_form() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 20, 1 << 20).await;
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = walctl(&["dump", d, "--from=10", "--to=12"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, lines(10, 12));
}

#[test]
fn a_directory_without_segments_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let d = dir.path().to_str().unwrap();
    for cmd in ["stat", "verify", "dump"] {
        let (code, out, err) = walctl(&[cmd, d]);
        assert_eq!(code, 2, "{cmd}: {out}");
        assert!(err.contains("holds no log"), "{cmd}: {err}");
    }
    let (code, out, _) = walctl(&["verify", "/etc"]);
    assert_eq!(code, 2, "{out}");
    assert!(!out.contains("ok"), "{out}");
}

#[tokio::test]
async fn stat_and_verify_exit_1_on_a_corrupt_log() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50, 1 << 20).await;
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = walctl(&["stat", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("KiB") || out.contains(" B"), "{out}");
    damage(&dir.path().join(segment_name(SegmentId(1))), b"record 0030");
    let (code, out, _) = walctl(&["stat", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("problem: corrupt: segment 1, offset"), "{out}");
    let (code, out, _) = walctl(&["verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CORRUPT"), "{out}");
}

#[tokio::test]
async fn dump_of_a_damaged_log_prints_the_good_prefix_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50, 1 << 20).await;
    damage(&dir.path().join(segment_name(SegmentId(1))), b"record 0030");
    let (code, out, err) = walctl(&["dump", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, lines(1, 29));
    assert!(err.contains("corrupt: segment 1, offset"), "{err}");
}

#[tokio::test]
async fn dump_across_a_missing_segment_reports_the_gap_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_log(dir.path(), 120, 1024).await;
    assert!(ids.len() >= 3, "{ids:?}");
    let d = dir.path().to_str().unwrap();
    let (_, all, _) = walctl(&["dump", d]);
    assert_eq!(all, lines(1, 120));
    std::fs::remove_file(dir.path().join(segment_name(ids[1]))).unwrap();
    let (code, out, err) = walctl(&["dump", d]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("gap: segment {}", ids[2].0)), "{err}");
    // Every record before and after the hole is printed; none of the missing ones.
    let printed: Vec<&str> = out.lines().collect();
    assert!(printed.len() < 120 && !printed.is_empty(), "{out}");
    assert!(all.starts_with(printed[0]) && out.ends_with(&lines(120, 120)));
    let (code, out, _) = walctl(&["verify", d]);
    assert_eq!(code, 1);
    assert!(out.contains("LSNs"), "{out}");
}

#[tokio::test]
async fn json_output_parses() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 30, 1024).await;
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = walctl(&["stat", d, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["records"], 30);
    assert!(v["segments"].as_array().unwrap().len() > 1);
    let (code, out, _) = walctl(&["verify", d, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["last_lsn"], 30);
    let (code, out, _) = walctl(&["dump", d, "--json", "--from", "29"]);
    assert_eq!(code, 0);
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1]["lsn"], 30);
    assert_eq!(recs[1]["data"], "record 0030");
}

/// Regression: `dump --json` wrote payloads as escaped text that could not be turned back
/// into bytes, and a range outside the log printed nothing and exited 0.
#[tokio::test]
async fn dump_json_gives_back_every_byte_and_a_range_outside_the_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<Vec<u8>> = vec![
        b"plain text".to_vec(),
        "tab\t, quote \", backslash \\, \u{0} and \u{1F600}"
            .as_bytes()
            .to_vec(),
        vec![0xff, 0x00, 0xfe, b'\\', b'x'],
        Vec::new(),
    ];
    {
        let store = FsStore::open_or_create(dir.path()).unwrap();
        let wal = Wal::open(store, WalOptions::default()).await.unwrap();
        for p in &payloads {
            wal.append(p).await.unwrap();
        }
        wal.checkpoint(Lsn(1)).await.unwrap();
        wal.close().await.unwrap();
    }
    let d = dir.path().to_str().unwrap();
    for hex in [false, true] {
        let mut args = vec!["dump", d, "--json"];
        if hex {
            args.push("--hex");
        }
        let (code, out, err) = walctl(&args);
        assert_eq!(code, 0, "{err}");
        let back: Vec<(u64, Vec<u8>)> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let bytes = match (v["data"].as_str(), v["hex"].as_str()) {
                    (Some(t), None) => t.as_bytes().to_vec(),
                    (None, Some(h)) => (0..h.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                        .collect(),
                    _ => panic!("one of data and hex: {l}"),
                };
                (v["lsn"].as_u64().unwrap(), bytes)
            })
            .collect();
        // The checkpoint at 1 leaves 2..=4, byte for byte.
        let want: Vec<(u64, Vec<u8>)> = (2..=4)
            .map(|l| (l, payloads[l as usize - 1].clone()))
            .collect();
        assert_eq!(back, want, "hex {hex}");
    }
    for range in [&["--from", "5"][..], &["--from", "1", "--to", "1"][..]] {
        let mut args = vec!["dump", d];
        args.extend_from_slice(range);
        let (code, out, err) = walctl(&args);
        assert_eq!(code, 2, "{range:?}: {out}");
        assert!(err.contains("the log holds LSN 2..=4"), "{err}");
    }
}

/// A FIFO in place of the segment `tail` follows makes it stop with an error; it never
/// blocks in `open` waiting for a FIFO writer.
#[tokio::test]
async fn tail_on_a_fifo_ends() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_log(dir.path(), 40, 1024).await;
    let d = dir.path().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(["tail", d, "--poll-ms", "20", "--exit-idle-ms", "1500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Renamed over the segment, so the segment name never goes missing.
    let last = dir.path().join(segment_name(*ids.last().unwrap()));
    let fifo = dir.path().join("fifo");
    let ok = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(ok.success());
    std::fs::rename(&fifo, &last).unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("tail hangs on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), lines(1, 40));

    // A FIFO named like a segment from the start is not a segment: tail ends when idle.
    let (code, out, err) = walctl(&["tail", d, "--exit-idle-ms", "300"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&lines(1, 1)), "{out}");
}

#[tokio::test]
async fn tail_reports_a_corrupt_frame_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50, 1 << 20).await;
    damage(&dir.path().join(segment_name(SegmentId(1))), b"record 0030");
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = walctl(&["tail", d, "--poll-ms", "20", "--exit-idle-ms", "5000"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, lines(1, 29));
    assert!(err.contains("corrupt log: segment 1"), "{err}");
}

#[test]
fn archive_of_a_missing_directory_fails_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-log");
    let url = format!("file://{}/archive", dir.path().display());
    let (code, _, err) = walctl(&["archive", missing.to_str().unwrap(), &url]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such directory"), "{err}");
    assert!(!missing.exists());
}

#[tokio::test]
async fn repair_without_apply_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 120, 1024).await;
    damage(&dir.path().join(segment_name(SegmentId(2))), b"record 0");
    let d = dir.path().to_str().unwrap();
    let before = snapshot(dir.path());
    for mode in [
        "tolerate-torn-tail",
        "absolute",
        "point-in-time",
        "skip-corrupted",
    ] {
        let (code, out, err) = walctl(&["repair", d, "--mode", mode]);
        // Every frame is checked (a reader would find the damage): the default and strict
        // modes refuse the log, the repairing modes would change it.
        assert_eq!(code, 1, "{mode}: {out}{err}");
        if matches!(mode, "tolerate-torn-tail" | "absolute") {
            assert!(out.contains("refuses the log"), "{mode}: {out}");
        }
        assert_eq!(snapshot(dir.path()), before, "{mode} changed the log");
    }
    let (_, out, _) = walctl(&["repair", d, "--mode", "point-in-time"]);
    assert!(out.contains("would: quarantine segment 3"), "{out}");
    assert!(out.contains("dry run: nothing changed"), "{out}");
    let (code, out, err) = walctl(&["repair", d, "--mode=point-in-time", "--apply"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(snapshot(dir.path()), before);
    let (code, out, _) = walctl(&["verify", d]);
    assert_eq!(code, 0, "after the repair: {out}");
    let (code, out, _) = walctl(&["repair", d, "--mode", "tolerate-torn-tail"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to repair"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_verify_and_dump_read_an_archive_url() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    std::fs::create_dir(&log).unwrap();
    write_log(&log, 120, 1024).await;
    let url = format!("file://{}/archive", dir.path().display());
    let (code, out, err) = walctl(&["archive", log.to_str().unwrap(), &url]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = walctl(&["verify", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = walctl(&["stat", &url, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["records"].as_u64().unwrap() > 0);
    let (code, out, _) = walctl(&["dump", &url]);
    assert_eq!(code, 0);
    assert!(lines(1, 120).starts_with(&out) && !out.is_empty(), "{out}");
    let (code, _, err) = walctl(&[
        "verify",
        &format!("file://{}/nothing", dir.path().display()),
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn probe_checks_an_object_store_and_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let (code, out, err) = walctl(&["probe", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("ok:").count(), 3, "{out}");
    let (code, out, err) = walctl(&["probe", dir.path().to_str().unwrap()]);
    assert!(
        out.contains("fdatasync of a 4 KiB write: median"),
        "{out}{err}"
    );
    // The verdict and the exit code agree (a tmpfs or a volatile cache fails the fsync check).
    assert_eq!(code, if out.contains("FAIL") { 1 } else { 0 }, "{out}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "probe cleans up"
    );
}

/// `dump` of a version 3 log: compressed frames come back as the original bytes, each
/// record carries its append time in `--json`, and `--since`/`--until` select by time
/// through the engine's `lsn_at`.
#[tokio::test]
async fn dump_reads_compressed_frames_and_selects_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(wal_api::clock::ManualClock::new(0));
    let text = |i: u64| format!("record {i} ").repeat(40);
    {
        let store = FsStore::open_or_create(dir.path()).unwrap();
        let opts = WalOptions::default()
            .compression(wal_api::Compression::Zstd(3))
            .clock(clock.clone());
        let wal = Wal::open(store, opts).await.unwrap();
        for i in 1..=10u64 {
            // Record i is appended at 2026-12-07T12:00:0i Z.
            clock.set(1_796_644_800_000_000 + i * 1_000_000);
            wal.append(text(i).as_bytes()).await.unwrap();
        }
        wal.close().await.unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let dump = |extra: &[&str]| {
        let mut args = vec!["dump", d, "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = walctl(&args);
        let recs: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (code, recs, err)
    };
    let (code, all, err) = dump(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(all.len(), 10);
    for (i, r) in all.iter().enumerate() {
        let i = i as u64 + 1;
        assert_eq!(r["data"], text(i), "LSN {i}");
        assert_eq!(r["time"], 1_796_644_800_000_000 + i * 1_000_000);
    }
    let (code, some, err) = dump(&[
        "--since",
        "2026-12-07T12:00:03Z",
        "--until",
        "1796644805000000",
    ]);
    assert_eq!(code, 0, "{err}");
    let lsns: Vec<u64> = some.iter().map(|r| r["lsn"].as_u64().unwrap()).collect();
    assert_eq!(lsns, vec![3, 4, 5]);
    let (code, _, err) = dump(&["--since", "2026-12-07T13:00:00Z"]);
    assert_eq!(code, 2, "a time after the last record is an error");
    assert!(err.contains("no record appended at or after"), "{err}");
    let (code, _, err) = dump(&["--since", "noon"]);
    assert_eq!(code, 2, "{err}");
}

/// An encrypted log: without `--keys` walctl cannot read it and says which key it needs
/// (exit 2, never garbage and never "corrupt"); with a key file it verifies and dumps it.
#[tokio::test]
async fn encrypted_logs_need_a_key_file_and_read_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = [0xab_u8; 32];
    {
        let store = FsStore::open_or_create(dir.path()).unwrap();
        let keys = std::sync::Arc::new(wal_api::crypto::StaticKeys::new(7, key));
        let opts = WalOptions::default().encryption(keys);
        let wal = Wal::open(store, opts).await.unwrap();
        for i in 1..=5u32 {
            wal.append(format!("secret {i}").as_bytes()).await.unwrap();
        }
        wal.close().await.unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let key_file = tempfile::NamedTempFile::new().unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(key_file.path(), format!("# the log's key\n7 {hex}\n")).unwrap();
    let kf = key_file.path().to_str().unwrap();
    for cmd in ["dump", "verify"] {
        let (code, out, err) = walctl(&[cmd, d]);
        assert_eq!(code, 2, "{cmd} without keys: {out} {err}");
        assert!(err.contains("key id 7"), "{cmd}: {err}");
    }
    let (code, out, err) = walctl(&["--keys", kf, "verify", d]);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, err) = walctl(&["dump", d, "--keys", kf]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 5);
    assert!(out.contains("secret 5"), "{out}");
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "7 not-hex\n").unwrap();
    let (code, _, err) = walctl(&["--keys", bad.path().to_str().unwrap(), "dump", d]);
    assert_eq!(code, 2);
    assert!(err.contains("expected `ID HEX`"), "{err}");
}

/// Regression: `walctl tail` of an encrypted log without `--keys` reported the healthy log
/// as corrupt (exit 1); it cannot read it (exit 2, naming the key id), and with the key
/// file it prints the records.
#[tokio::test]
async fn tail_of_an_encrypted_log_needs_the_key_and_is_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let key = [0x5c_u8; 32];
    {
        let store = FsStore::open_or_create(dir.path()).unwrap();
        let keys = std::sync::Arc::new(wal_api::crypto::StaticKeys::new(9, key));
        let wal = Wal::open(store, WalOptions::default().encryption(keys))
            .await
            .unwrap();
        for i in 1..=3u32 {
            wal.append(format!("tailed {i}").as_bytes()).await.unwrap();
        }
        wal.close().await.unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = walctl(&["tail", d, "--exit-idle-ms", "300"]);
    assert_eq!(code, 2, "without keys: {out} {err}");
    assert!(err.contains("key id 9"), "{err}");
    let key_file = tempfile::NamedTempFile::new().unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(key_file.path(), format!("9 {hex}\n")).unwrap();
    let kf = key_file.path().to_str().unwrap();
    let (code, out, err) = walctl(&["--keys", kf, "tail", d, "--exit-idle-ms", "300"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("tailed 3"), "{out}");
}
