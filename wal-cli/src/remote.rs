//! `walctl archive` and `walctl restore`: sealed segments to and from object storage.

use std::process::ExitCode;

use wal_api::Lsn;
use wal_fs::FsStore;
use wal_object::{open_url, Archiver};

/// Archives every sealed segment of the log in `dir` but the newest (see
/// [`Archiver::archive_sealed`]) under `url`.
pub(crate) async fn archive(dir: &str, url: &str) -> Result<ExitCode, String> {
    let local = FsStore::open(dir).map_err(|e| format!("{dir}: {e}"))?;
    let (store, prefix) = open_url(url).map_err(|e| e.to_string())?;
    let archiver = Archiver::open(store, &prefix)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let done = archiver
        .archive_sealed(&local)
        .await
        .map_err(|e| e.to_string())?;
    for a in &done {
        println!(
            "archived segment {} (LSN {}..={}, {} records, {} bytes)",
            a.id, a.base_lsn, a.last_lsn, a.records, a.len
        );
    }
    let total = archiver.archived().len();
    println!(
        "{} segments archived now, {total} in the archive",
        done.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Rebuilds a log in the empty directory `dir` from the archive at `url`, up to `to`.
pub(crate) async fn restore(url: &str, dir: &str, to: Lsn) -> Result<ExitCode, String> {
    let (store, prefix) = open_url(url).map_err(|e| e.to_string())?;
    let archiver = Archiver::open(store, &prefix)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let local = FsStore::open(dir).map_err(|e| format!("{dir}: {e}"))?;
    let report = archiver
        .restore(&local, to)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "restored {} segments into {dir}, last LSN {}",
        report.segments.len(),
        report.last_lsn
    );
    Ok(ExitCode::SUCCESS)
}
