//! `walctl repair`: what recovery in a chosen mode would cut, remove or quarantine, found by
//! running the engine's own recovery on a dry run over the files (nothing written; memory
//! bounded by what recovery would write); with `--apply`, the same recovery on the directory
//! itself.

use std::collections::BTreeMap;
use std::path::Path;

use wal_api::format::state::is_state_slot;
use wal_api::{RecoveryMode, RecoveryReport, SegmentId, Wal};
use wal_fs::FsStore;

use crate::dryrun::{engine_verdict, tool_options, DirReader, Plan};
use crate::output::human_bytes;
use crate::source::list_dir;
use crate::Outcome;

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

/// The steps recovery would take, in words, from a dry run's plan and report.
pub(crate) fn steps(plan: &Plan, report: &RecoveryReport) -> Vec<String> {
    let mut out = changes(&plan.before, &plan.after, &plan.quarantined);
    for id in &plan.changed {
        let (b, a) = (plan.before.get(id), plan.after.get(id));
        if b.is_some() && b == a {
            let what = if is_state_slot(*id) {
                "rewrite a state slot (it did not hold the log's state)".to_string()
            } else {
                format!("rewrite the end of segment {id} in place")
            };
            out.push(what);
        }
    }
    for (id, at, to) in &report.skipped {
        out.push(format!(
            "skip the damaged bytes {at}..{to} of segment {} (their records are lost)",
            id.0
        ));
    }
    for (from, to) in &report.missing {
        out.push(format!(
            "step over LSNs {from}..={to}, missing between segments (those records are lost)"
        ));
    }
    if report.state_lost {
        out.push(
            "both state slots are damaged: open with an empty state (metadata and checkpoint lost)"
                .to_string(),
        );
    }
    out
}

/// `walctl repair DIR --mode M [--apply]`. Without `--apply` nothing on disk changes: the
/// engine's recovery runs on a [`DryRun`](crate::dryrun::DryRun) over the files. Exit 1 when
/// recovery would change something or refuses the log, 0 when there is nothing to do. With
/// `--apply`, the directory's lock is taken first, then recovery runs on the directory;
/// exit 0 once it opened.
pub(crate) async fn repair(dir: &str, mode: RecoveryMode, apply: bool) -> Result<Outcome, String> {
    let listing = list_dir(Path::new(dir)).map_err(|e| format!("{dir}: {e}"))?;
    if listing.segments.is_empty() {
        return Err(format!("{dir} holds no log: no segment files"));
    }
    // Taken before anything is printed as applied: a writer holding it ends the run here.
    let store = if apply {
        Some(FsStore::open(dir).map_err(|e| format!("{dir}: {e}"))?)
    } else {
        None
    };
    println!("recovery mode: {mode:?}");
    if let Some(bad) = listing.refused.first() {
        println!("recovery in this mode refuses the log: {bad}");
        println!("nothing changed");
        return Ok(Outcome::Problem);
    }
    let base = DirReader::new(listing.segments.iter().chain(&listing.slots).cloned());
    let (report, plan) = match engine_verdict(std::sync::Arc::new(base), mode).await {
        Ok(v) => v,
        Err(e) => {
            println!("recovery in this mode refuses the log: {e}");
            println!("nothing changed; try another --mode");
            return Ok(Outcome::Problem);
        }
    };
    println!("recovery report: {report:?}");
    let plan = steps(&plan, &report);
    if plan.is_empty() {
        println!("nothing to repair: recovery keeps every byte");
        return Ok(Outcome::Clean);
    }
    let verb = if apply { "applying" } else { "would" };
    for step in &plan {
        println!("{verb}: {step}");
    }
    let Some(store) = store else {
        println!("dry run: nothing changed (pass --apply to repair)");
        return Ok(Outcome::Problem);
    };
    let wal = Wal::open(store, tool_options(mode))
        .await
        .map_err(|e| format!("{dir}: recovery failed: {e}"))?;
    println!("repaired: {:?}", wal.recovery_report());
    Ok(Outcome::Clean)
}
