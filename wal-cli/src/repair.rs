//! `walctl repair`: what recovery in a chosen mode would cut, remove or quarantine, found by
//! running the engine's own recovery on a copy of the segments in memory; with `--apply`,
//! the same recovery on the directory itself.

use std::collections::BTreeMap;
use std::path::Path;

use wal_api::{RecoveryMode, SegmentId, SegmentStore, Wal, WalOptions};
use wal_fs::FsStore;
use wal_memory::MemoryStore;

use crate::output::human_bytes;
use crate::source::{list_dir, open_regular};
use crate::Outcome;

/// Options recovery runs with: the chosen mode, and limits wide enough for any log.
fn options(mode: RecoveryMode) -> WalOptions {
    WalOptions::default()
        .recovery_mode(mode)
        .max_record_size(1 << 30)
}

/// What recovery changes, segment by segment: before and after lengths.
fn changes(
    before: &BTreeMap<SegmentId, u64>,
    after: &BTreeMap<SegmentId, u64>,
    quarantined: &[(SegmentId, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (id, len) in before {
        if let Some((_, why)) = quarantined.iter().find(|q| q.0 == *id) {
            out.push(format!(
                "quarantine segment {id} ({}): {why}",
                human_bytes(*len)
            ));
            continue;
        }
        match after.get(id) {
            None => out.push(format!("remove segment {id} ({})", human_bytes(*len))),
            Some(a) if a < len => out.push(format!(
                "cut segment {id} from {len} to {a} bytes ({} removed)",
                human_bytes(len - a)
            )),
            Some(a) if a > len => out.push(format!(
                "write {} to the end of segment {id} ({len} -> {a} bytes)",
                human_bytes(a - len)
            )),
            Some(_) => {}
        }
    }
    for (id, len) in after {
        if !before.contains_key(id) {
            out.push(format!("create segment {id} ({len} bytes)"));
        }
    }
    out
}

/// `walctl repair DIR --mode M [--apply]`. Without `--apply` nothing on disk changes; exit 1
/// when recovery would change something or refuses the log, 0 when there is nothing to do.
/// With `--apply`, recovery runs on the directory (taking its lock); exit 0 once it opened.
pub(crate) async fn repair(dir: &str, mode: RecoveryMode, apply: bool) -> Result<Outcome, String> {
    let listing = list_dir(Path::new(dir)).map_err(|e| format!("{dir}: {e}"))?;
    if listing.segments.is_empty() {
        return Err(format!("{dir} holds no log: no segment files"));
    }
    let copy = MemoryStore::new();
    let mut before = BTreeMap::new();
    for (id, path) in &listing.segments {
        let mut bytes = Vec::new();
        open_regular(path)
            .and_then(|f| std::io::Read::read_to_end(&mut &f, &mut bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        before.insert(*id, bytes.len() as u64);
        copy.insert_raw(*id, bytes);
    }
    println!("recovery mode: {mode:?}");
    let wal = match Wal::open(copy.clone(), options(mode)).await {
        Ok(wal) => wal,
        Err(e) => {
            println!("recovery in this mode refuses the log: {e}");
            println!("nothing changed; try another --mode");
            return Ok(Outcome::Problem);
        }
    };
    println!("recovery report: {:?}", wal.recovery_report());
    // Frames recovery steps over are lost to readers although no byte changes.
    let skipped: Vec<String> = wal
        .recovery_report()
        .skipped
        .iter()
        .map(|(id, at, to)| {
            format!(
                "skip the damaged bytes {at}..{to} of segment {} (their records are lost)",
                id.0
            )
        })
        .collect();
    drop(wal);
    let after: BTreeMap<SegmentId, u64> = copy
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|m| (m.id, m.len))
        .collect();
    let quarantined: Vec<(SegmentId, String)> = copy
        .quarantined()
        .into_iter()
        .map(|(id, why, _)| (id, why))
        .collect();
    let mut plan = changes(&before, &after, &quarantined);
    plan.extend(skipped);
    if plan.is_empty() {
        println!("nothing to repair: recovery keeps every byte");
        return Ok(Outcome::Clean);
    }
    let verb = if apply { "applying" } else { "would" };
    for step in &plan {
        println!("{verb}: {step}");
    }
    if !apply {
        println!("dry run: nothing changed (pass --apply to repair)");
        return Ok(Outcome::Problem);
    }
    let store = FsStore::open(dir).map_err(|e| format!("{dir}: {e}"))?;
    let wal = Wal::open(store, options(mode))
        .await
        .map_err(|e| format!("{dir}: recovery failed: {e}"))?;
    println!("repaired: {:?}", wal.recovery_report());
    Ok(Outcome::Clean)
}
