//! `walctl archive` and `walctl restore`: sealed segments to and from object storage.

use std::path::Path;

use wal_api::segment::check_segment;
use wal_api::{Lsn, SegmentStoreExt};
use wal_fs::FsStore;
use wal_object::{open_url, Archiver};

use crate::output::{bytes_bar, human_bytes, spinner};
use crate::Outcome;

/// Archives every sealed segment of the log in `dir` but the newest (as
/// [`Archiver::archive_sealed`] does, one segment at a time so progress shows) under `url`.
/// `dir` must exist and hold a log: it is never created.
pub(crate) async fn archive(dir: &str, url: &str) -> Result<Outcome, String> {
    if !Path::new(dir).is_dir() {
        return Err(format!("{dir}: no such directory"));
    }
    let (store, prefix) = open_url(url).map_err(|e| e.to_string())?;
    let local = FsStore::open(dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut listed = local
        .list_segments()
        .await
        .map_err(|e| format!("{dir}: {e}"))?;
    if listed.is_empty() {
        return Err(format!("{dir} holds no log: no segment files"));
    }
    let archiver = Archiver::open(store, &prefix)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    listed.sort_by_key(|m| m.id);
    listed.pop();
    listed.retain(|m| archiver.get(m.id).is_none());
    let bar = bytes_bar(listed.iter().map(|m| m.len).sum(), "archiving");
    let mut done = Vec::new();
    for meta in listed {
        let bytes = local.read_all(meta.id).await.map_err(|e| e.to_string())?;
        let sealed = check_segment(meta.id, &bytes, true).is_ok_and(|s| s.trailer.is_some());
        if sealed {
            let a = archiver
                .archive_segment(&local, meta.id)
                .await
                .map_err(|e| e.to_string())?;
            bar.suspend(|| {
                println!(
                    "archived segment {} (LSN {}..={}, {} records, {})",
                    a.id,
                    a.base_lsn,
                    a.last_lsn,
                    a.records,
                    human_bytes(a.len)
                )
            });
            done.push(a);
        }
        bar.inc(meta.len);
    }
    bar.finish_and_clear();
    match archiver
        .archive_state(&local)
        .await
        .map_err(|e| format!("{dir}: archiving the log's state: {e}"))?
    {
        Some(s) => println!(
            "archived the log's state (version {}: checkpoint {}, {} metadata keys)",
            s.version,
            s.checkpoint
                .map_or_else(|| "none".to_string(), |c| format!("LSN {c}")),
            s.meta.len()
        ),
        None => println!("the log has no state (metadata, checkpoint) to archive"),
    }
    let total = archiver.archived().len();
    println!(
        "{} segments archived now, {total} in the archive",
        done.len()
    );
    Ok(Outcome::Clean)
}

/// Rebuilds a log in the empty directory `dir` from the archive at `url`, up to `to`.
pub(crate) async fn restore(url: &str, dir: &str, to: Lsn) -> Result<Outcome, String> {
    let (store, prefix) = open_url(url).map_err(|e| e.to_string())?;
    let archiver = Archiver::open(store, &prefix)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if archiver.archived().is_empty() {
        return Err(format!("{url} holds no archived segment"));
    }
    let local = FsStore::open_or_create(dir).map_err(|e| format!("{dir}: {e}"))?;
    let bar = spinner(&format!(
        "restoring up to {} archived segments",
        archiver.archived().len()
    ));
    let report = archiver.restore(&local, to).await;
    bar.finish_and_clear();
    let report = report.map_err(|e| e.to_string())?;
    println!(
        "restored {} segments into {dir}, last LSN {}",
        report.segments.len(),
        report.last_lsn
    );
    match &report.state {
        Some(s) => println!(
            "restored the log's state: checkpoint {}, {} metadata keys",
            s.checkpoint
                .map_or_else(|| "none".to_string(), |c| format!("LSN {c}")),
            s.meta.len()
        ),
        None => println!(
            "warning: the archive holds no log state: the restored log has no metadata and no checkpoint"
        ),
    }
    if let Some(c) = report.checkpoint_dropped {
        println!(
            "warning: the archived checkpoint (LSN {c}) lies past the restored records; the restored log has no checkpoint"
        );
    }
    Ok(Outcome::Clean)
}
