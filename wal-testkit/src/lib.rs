//! The conformance kit every [`SegmentStore`] backend must pass, ours and third parties'.
//!
//! A backend implements [`StoreFactory`] and invokes [`conformance_tests!`] once in a test
//! file; every case of [`cases`] becomes its own `#[test]` there, so a case added to the kit
//! reaches every backend at once. A case the backend cannot run (no crash images, no way to
//! tamper with bytes) prints `skipped: <reason>` and passes without checking anything else.
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate
//! struct Factory;
//!
//! #[async_trait::async_trait]
//! impl wal_testkit::StoreFactory for Factory {
//!     type Store = MyStore;
//!     type Guard = tempfile::TempDir;
//!     async fn build(&self) -> (Self::Guard, Self::Store) { /* fresh, empty store */ }
//!     async fn reopen(&self, guard: &Self::Guard) -> Self::Store { /* same data */ }
//! }
//!
//! wal_testkit::conformance_tests!(Factory);
//! ```
#![forbid(unsafe_code)]
// The kit reports failures by panicking, as tests do.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod cases;
pub mod crash;
pub mod faults;
pub mod model;
mod support;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use wal_api::{SegmentId, SegmentStore};

pub use support::{collect, payload};

/// How a case ended (failures panic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check ran and held.
    Passed,
    /// The backend cannot run this case; the reason is printed.
    Skipped(String),
}

/// Builds stores for the conformance cases.
///
/// # Contract
/// - `build` returns a fresh, empty store; the guard keeps its storage alive (a `TempDir`, a
///   bucket prefix) and cleans up on drop.
/// - `reopen` returns a store over the same data, as after a clean process restart. The kit
///   drops every log and store from the same guard before calling it.
/// - `crash` returns a store over the image a power loss would leave now (`seed` picks what
///   happens to unsynced bytes), or `None` if the backend cannot model one; later `reopen`
///   calls see that image.
/// - `tamper` rewrites the raw bytes of a segment in place (to corrupt or tear it), or returns
///   `false` if the backend cannot.
#[async_trait]
pub trait StoreFactory: Send + Sync + 'static {
    /// The store under test.
    type Store: SegmentStore + Clone;
    /// Keeps one store's storage alive.
    type Guard: Send + Sync;

    /// A fresh, empty store.
    async fn build(&self) -> (Self::Guard, Self::Store);

    /// The same data, reopened.
    async fn reopen(&self, guard: &Self::Guard) -> Self::Store;

    /// The image a power loss would leave, if the backend can model one.
    async fn crash(&self, guard: &Self::Guard, seed: u64) -> Option<Self::Store> {
        let _ = (guard, seed);
        None
    }

    /// Rewrites segment `id`'s raw bytes with `f`; `false` if unsupported.
    async fn tamper(
        &self,
        guard: &Self::Guard,
        id: SegmentId,
        f: &mut (dyn for<'b> FnMut(&'b mut Vec<u8>) + Send),
    ) -> bool {
        let _ = (guard, id, f);
        false
    }

    /// Crash states the exploration case may visit (keep slow backends' CI time bounded).
    fn crash_budget(&self) -> usize {
        1200
    }

    /// Cases the model-based test runs (proptest cases).
    fn model_cases(&self) -> u32 {
        256
    }
}

/// Runs one case on a fresh multi-threaded runtime; prints the reason when it is skipped.
/// Used by [`conformance_tests!`].
pub fn run_case<F, Fut>(name: &str, factory: F, case: fn(Arc<F>) -> Fut)
where
    F: StoreFactory,
    Fut: Future<Output = Outcome> + Send,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(case(Arc::new(factory))) {
        Outcome::Passed => {}
        Outcome::Skipped(why) => println!("{name}: skipped: {why}"),
    }
}

/// Emits one `#[test]` per conformance case for a factory expression.
///
/// The one list of cases lives here, so every backend runs every case.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__conformance_cases!(
            $factory;
            store_create_then_list,
            store_create_existing_fails,
            store_append_is_readable,
            store_read_clips_to_length,
            store_open_tail_cuts,
            store_delete_is_gone,
            store_quarantine_leaves_list,
            store_sync_after_seal_is_ok,
            store_read_missing_is_not_found,
            wal_lsns_are_dense_from_one,
            wal_append_then_read,
            wal_batch_gets_consecutive_lsns,
            wal_empty_batch_is_rejected,
            wal_record_too_large_is_rejected,
            wal_rotation_seals_segments,
            wal_reopen_recovers_everything,
            wal_clean_close_seals_the_tail,
            wal_read_range_bounds,
            wal_read_below_first_is_trimmed,
            wal_replay_matches_read,
            wal_torn_tail_every_byte_recovers,
            wal_zero_filled_tail_is_clean,
            wal_corrupt_tail_frame_before_good_is_corruption,
            wal_corrupt_sealed_frame_tolerate_reports_on_read,
            wal_corrupt_sealed_frame_absolute_fails_open,
            wal_corrupt_sealed_frame_point_in_time_keeps_prefix,
            wal_corrupt_sealed_frame_skip_skips_exactly_it,
            wal_segment_gap_is_corruption_naming_both,
            wal_truncate_prefix_drops_whole_segments,
            wal_truncate_prefix_never_drops_active,
            wal_truncate_suffix_discards_and_continues,
            wal_truncate_suffix_is_durable_across_reopen,
            wal_truncate_suffix_inside_batch_is_refused,
            wal_tail_follows_appends,
            wal_tail_ends_on_close,
            wal_concurrent_appends_share_syncs,
            wal_every_policy_acknowledges_as_documented,
            wal_durable_watch_advances,
            wal_closed_log_rejects_calls,
            wal_sync_failure_poisons,
            wal_full_storage_is_reported,
            wal_written_visibility_sees_unsynced,
            wal_crash_keeps_acknowledged,
            wal_crash_batch_is_atomic,
            wal_recovery_is_idempotent,
            wal_incomplete_segment_creation_is_removed,
            wal_typed_records_round_trip,
            wal_typed_view_round_trips,
            wal_first_lsn_starts_an_empty_log,
            wal_get_and_last_follow_the_log,
            wal_reset_restarts_at_the_chosen_lsn,
            wal_reset_crash_at_every_op_is_old_or_new,
            crash_exploration,
            model_state_machine,
        );
    };
}

/// Implementation detail of [`conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run_case(stringify!($name), $factory, $crate::cases::$name);
            }
        )*
    };
}
