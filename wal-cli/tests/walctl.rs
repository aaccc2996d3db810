//! `walctl` against a directory of segment files written by the engine.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use wal_api::{SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

/// Writes 50 records over small segments and copies the segments into `dir` as files.
async fn write_log(dir: &Path) {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), WalOptions::default().segment_size(1024))
        .await
        .unwrap();
    for i in 0..50 {
        wal.append(format!("record {i}").as_bytes()).await.unwrap();
    }
    wal.close().await.unwrap();
    for m in store.list().await.unwrap() {
        let bytes = store.segment_bytes(m.id).unwrap();
        std::fs::write(dir.join(format!("{}.wal", m.id.padded())), bytes).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), b"not a segment").unwrap();
}

/// Runs walctl: (exit code, stdout, stderr).
fn walctl_full(args: &[&str]) -> (i32, String, String) {
    walctl_env(args, &[])
}

/// Runs walctl with extra environment variables: (exit code, stdout, stderr).
fn walctl_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs walctl: (exit code, stdout).
fn walctl(args: &[&str]) -> (i32, String) {
    let (code, out, _) = walctl_full(args);
    (code, out)
}

#[tokio::test]
async fn walctl_stat_verify_dump_and_detect_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path()).await;
    let d = dir.path().to_str().unwrap();

    let (code, out) = walctl(&["stat", d]);
    assert_eq!(code, 0);
    assert!(out.contains("sealed"), "{out}");
    assert!(out.contains("ignored: notes.txt"), "{out}");

    let (code, out) = walctl(&["verify", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("50 records, last LSN 50"), "{out}");

    let (code, out) = walctl(&["dump", d, "--from", "10", "--to", "12"]);
    assert_eq!(code, 0);
    assert_eq!(out, "10\trecord 9\n11\trecord 10\n12\trecord 11\n");

    let first = dir
        .path()
        .join(format!("{}.wal", wal_api::SegmentId(1).padded()));
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[70] ^= 0x10;
    std::fs::write(&first, bytes).unwrap();
    let (code, out) = walctl(&["verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CORRUPT"), "{out}");
}

#[test]
fn walctl_bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Runs walctl: (exit code, stderr).
fn walctl_err(args: &[&str]) -> (i32, String) {
    let (code, _, err) = walctl_full(args);
    (code, err)
}

#[test]
fn walctl_rejects_unknown_options_and_bad_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, err) = walctl_err(&["dump", d, "--frm", "3"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--frm'"), "{err}");
    let (code, err) = walctl_err(&["dump", d, "--from", "x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid value 'x' for '--from <LSN>'"),
        "{err}"
    );
    let (code, err) = walctl_err(&["archive", d, "ftp://nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected s3://"), "{err}");
}

/// `tail` prints what is there, then records appended while it runs, and exits once idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walctl_tail_follows_a_running_writer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let wal = Wal::open(
        wal_fs::FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default().segment_size(2048),
    )
    .await
    .unwrap();
    for i in 1..=10 {
        wal.append(format!("r{i}").as_bytes()).await.unwrap();
    }
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(["tail", &d, "--poll-ms", "20", "--exit-idle-ms", "3000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // More records, across a segment rotation, while tail runs.
    for i in 11..=100 {
        wal.append(format!("r{i}").as_bytes()).await.unwrap();
    }
    assert!(wal.segments().len() > 1);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let want: String = (1..=100).map(|i| format!("{i}\tr{i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    // Starting in the middle of the log, after a clean close sealed the last segment.
    wal.close().await.unwrap();
    let (code, out) = walctl(&["tail", &d, "--from", "57", "--exit-idle-ms", "300"]);
    assert_eq!(code, 0);
    let want: String = (57..=100).map(|i| format!("{i}\tr{i}\n")).collect();
    assert_eq!(out, want);
}

/// `archive` uploads every sealed segment but the newest, refuses a directory a writer
/// holds, and `restore` rebuilds a log that verifies and holds the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walctl_archive_and_restore_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let wal = Wal::open(
        wal_fs::FsStore::open_or_create(&log).unwrap(),
        WalOptions::default().segment_size(1024),
    )
    .await
    .unwrap();
    for i in 1..=200 {
        wal.append(format!("record {i}").as_bytes()).await.unwrap();
    }
    let l = log.to_str().unwrap().to_string();
    let url = format!("file://{}/archive", dir.path().display());
    let (code, err) = walctl_err(&["archive", &l, &url]);
    assert_eq!(code, 2, "a writer holds the directory");
    assert!(err.contains("lock") || err.contains("open"), "{err}");
    let segments = wal.segments().len();
    wal.close().await.unwrap();

    // The directory lock goes with the store, when the last handle on the log is dropped.
    drop(wal);
    let (code, out) = walctl(&["archive", &l, &url]);
    assert_eq!(code, 0, "{out}");
    let archived = out.matches("archived segment").count();
    // A clean close sealed the tail and created its empty successor: every segment the log
    // had is now sealed behind a newer one, so all of them are archived.
    assert_eq!(archived, segments, "{out}");
    let (code, out) = walctl(&["archive", &l, &url]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 segments archived now"), "{out}");

    let restored = dir.path().join("restored");
    let r = restored.to_str().unwrap().to_string();
    let (code, out) = walctl(&["restore", &url, &r]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = walctl(&["verify", &r]);
    assert_eq!(code, 0, "{out}");
    let (_, original) = walctl(&["dump", &l]);
    let (_, copy) = walctl(&["dump", &r]);
    assert!(!copy.is_empty());
    assert!(original.starts_with(&copy), "restored records differ");
    // Restoring into a directory that already holds a log is refused.
    let (code, _) = walctl_err(&["restore", &url, &r]);
    assert_eq!(code, 2);
}

#[test]
fn walctl_bench_runs_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out) = walctl(&["bench", d, "--appenders", "4", "--seconds", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("raw pwrite + fdatasync"), "{out}");
    assert!(out.contains("records per sync"), "{out}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let (code, _) = walctl_err(&["bench", d, "--appenders", "0"]);
    assert_eq!(code, 2);
    // A directory a writer holds is refused.
    let store = wal_fs::FsStore::open_or_create(dir.path()).unwrap();
    let (code, err) = walctl_err(&["bench", d, "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already open"), "{err}");
    drop(store);
}

/// `walctl archive` and `restore` against S3 on a local server (moto in CI), configured the way
/// users do it: an `s3://` URL and `AWS_*` variables.
mod s3 {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn walctl_archive_and_restore_through_s3() {
        let (Ok(ep), Ok(bucket)) = (
            std::env::var("WAL_TEST_S3_ENDPOINT"),
            std::env::var("WAL_TEST_S3_BUCKET"),
        ) else {
            println!("skipped: no S3 endpoint");
            return;
        };
        assert!(
            ep.starts_with("http://127.0.0.1") || ep.starts_with("http://localhost"),
            "S3 tests talk only to a local server, not {ep}"
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let wal = Wal::open(
            wal_fs::FsStore::open_or_create(&log).unwrap(),
            WalOptions::default().segment_size(1024),
        )
        .await
        .unwrap();
        for i in 1..=120 {
            wal.append(format!("record {i}").as_bytes()).await.unwrap();
        }
        let segments = wal.segments().len();
        wal.close().await.unwrap();
        drop(wal);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let url = format!("s3://{bucket}/walctl-{}-{nanos}", std::process::id());
        let env = [
            ("AWS_ENDPOINT", ep.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ];
        let l = log.to_str().unwrap();
        let (code, out, err) = walctl_env(&["archive", l, &url], &env);
        assert_eq!(code, 0, "{out}{err}");
        // Close created the sealed tail's successor: every segment the log had is archived.
        assert_eq!(out.matches("archived segment").count(), segments, "{out}");
        let restored = dir.path().join("restored");
        let r = restored.to_str().unwrap();
        let (code, out, err) = walctl_env(&["restore", &url, r, "--to", "50"], &env);
        assert_eq!(code, 0, "{out}{err}");
        let (code, out) = walctl(&["verify", r]);
        assert_eq!(code, 0, "{out}");
        let (_, copy) = walctl(&["dump", r]);
        let want: String = (1..=50).map(|i| format!("{i}\trecord {i}\n")).collect();
        assert_eq!(copy, want);
    }
}

#[test]
fn probe_writes_and_deletes_only_what_it_created() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    std::fs::create_dir(&dir).unwrap();
    let secret = root.path().join("secret");
    std::fs::write(&secret, b"must stay").unwrap();
    // Symbolic links at every scratch name an earlier probe used (it named its files after
    // its process id), for the process ids the next spawns are likely to get, and at names
    // like the ones it uses now.
    let last: u64 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    for pid in last + 1..last + 300 {
        for name in [
            format!("walctl-probe-{pid}"),
            format!("walctl-probe-{pid}.second"),
            format!("walctl-probe-{pid}-0-0"),
        ] {
            std::os::unix::fs::symlink(&secret, dir.join(name)).unwrap();
        }
    }
    std::fs::write(dir.join("00000000000000000001.wal"), b"someone's data").unwrap();
    let before: std::collections::BTreeSet<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let (code, out, err) = walctl_full(&["probe", dir.to_str().unwrap()]);
    assert!(code == 0 || code == 1, "{code}: {out}{err}");
    assert!(out.contains("exclusive create"), "{out}");
    assert_eq!(std::fs::read(&secret).unwrap(), b"must stay");
    let after: std::collections::BTreeSet<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "the probe left or removed entries");
    assert_eq!(
        std::fs::read(dir.join("00000000000000000001.wal")).unwrap(),
        b"someone's data"
    );
}

/// `archive` then `restore` keeps the log's metadata and checkpoint; a restore to an LSN
/// below the checkpoint keeps the metadata and says the checkpoint was not restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walctl_archive_and_restore_keep_metadata_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let wal = Wal::open(
        wal_fs::FsStore::open_or_create(&log).unwrap(),
        WalOptions::default().segment_size(1024),
    )
    .await
    .unwrap();
    for i in 1..=200 {
        wal.append(format!("record {i}").as_bytes()).await.unwrap();
    }
    wal.put_meta("vote", b"term 9").await.unwrap();
    wal.checkpoint(wal_api::Lsn(20)).await.unwrap();
    wal.close().await.unwrap();
    drop(wal);
    let l = log.to_str().unwrap().to_string();
    let url = format!("file://{}/archive", dir.path().display());
    let (code, out) = walctl(&["archive", &l, &url]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("archived the log's state"), "{out}");

    let restored = dir.path().join("restored");
    let r = restored.to_str().unwrap().to_string();
    let (code, out) = walctl(&["restore", &url, &r]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("restored the log's state: checkpoint LSN 20"),
        "{out}"
    );
    let wal = Wal::open(
        wal_fs::FsStore::open_or_create(&restored).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 9"[..]));
    assert_eq!(wal.last_checkpoint(), Some(wal_api::Lsn(20)));
    assert_eq!(wal.first_lsn(), wal_api::Lsn(21));
    drop(wal);

    let early = dir.path().join("early");
    let e = early.to_str().unwrap().to_string();
    let (code, out) = walctl(&["restore", &url, &e, "--to", "10"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("checkpoint (LSN 20) lies past the restored records"),
        "{out}"
    );
    let wal = Wal::open(
        wal_fs::FsStore::open_or_create(&early).unwrap(),
        WalOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(wal.meta("vote").as_deref(), Some(&b"term 9"[..]));
    assert_eq!(wal.last_checkpoint(), None);
}

/// A 64 GiB sparse newest segment (zeros after a clean end) opens in the engine, which cuts
/// the zeros: `verify` and `stat` judge it in bounded memory, never reading it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_sparse_tail_is_checked_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        wal_fs::FsStore::open_or_create(dir.path()).unwrap(),
        WalOptions::default().segment_size(4096),
    )
    .await
    .unwrap();
    for i in 1..=50 {
        wal.append(format!("record {i}").as_bytes()).await.unwrap();
    }
    wal.sync().await.unwrap();
    let newest = wal.segments().last().unwrap().id;
    drop(wal);
    let path = dir.path().join(wal_fs::segment_file_name(newest));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out) = walctl(&["verify", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("50 records"), "{out}");
    let (code, out) = walctl(&["stat", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not inspected here"), "{out}");
}
