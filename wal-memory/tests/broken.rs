//! The kit catches broken backends: every deliberately broken store of
//! `wal_testkit::broken` over `MemoryStore` must fail at least one conformance case, and the
//! same wrapper breaking nothing must pass every case used to catch them.
//!
//! Prints, per breakage, the cases that caught it, then `broken backends caught: N of N`.

mod support;

use std::time::Duration;

use support::Memory;
use wal_testkit::broken::{check_case, Breakage, BrokenFactory, CaseResult};
use wal_testkit::{all_cases, Case};

/// A memory factory with small exploration budgets: the point is to notice, not to search.
fn memory() -> Memory {
    Memory {
        sequence_budget: 200,
        crash_budget: 200,
        model_cases: 16,
    }
}

const TIMEOUT: Duration = Duration::from_secs(120);

fn first_line(s: &str) -> &str {
    let l = s.lines().next().unwrap_or("");
    l.get(..160).unwrap_or(l)
}

#[test]
fn kit_catches_every_broken_backend() {
    // Caught cases panic by design; keep their messages out of the output (they are printed
    // below, one line each).
    std::panic::set_hook(Box::new(|_| {}));
    let cases: Vec<Case<BrokenFactory<Memory>>> = all_cases();

    // The control group: the same wrapper, breaking nothing. A case that fails here fails
    // because of the engine (or the kit), so it cannot tell a broken backend apart.
    let mut usable = Vec::new();
    for case in &cases {
        match check_case(case, BrokenFactory::honest(memory()), TIMEOUT) {
            CaseResult::Passed => usable.push(case),
            CaseResult::Skipped(why) => {
                println!("{}: skipped on the correct store: {why}", case.name)
            }
            CaseResult::Failed(why) => println!(
                "{}: fails on the correct store, not used for catching: {}",
                case.name,
                first_line(&why)
            ),
        }
    }
    assert!(
        usable.len() * 2 > cases.len(),
        "most cases fail on the correct store"
    );

    let mut caught = 0;
    let mut missed = Vec::new();
    for kind in Breakage::ALL {
        let mut by = Vec::new();
        for case in &usable {
            if let CaseResult::Failed(why) =
                check_case(case, BrokenFactory::new(memory(), kind), TIMEOUT)
            {
                by.push((case.name, why));
            }
        }
        println!("{kind:?}: caught by {} of {} cases", by.len(), usable.len());
        for (name, why) in &by {
            println!("    {name}: {}", first_line(why));
        }
        if by.is_empty() {
            missed.push(kind);
        } else {
            caught += 1;
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "broken backends caught: {caught} of {}",
        Breakage::ALL.len()
    );
    assert!(missed.is_empty(), "the kit did not catch: {missed:?}");
}
