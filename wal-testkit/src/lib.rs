//! The conformance kit every [`SegmentStore`] backend must pass, ours and third parties'.
//!
//! A backend implements [`StoreFactory`] and invokes [`conformance_tests!`] once in a test
//! file; every case of [`cases`] becomes its own `#[test]` there, so a case added to the kit
//! reaches every backend at once. A case the backend cannot run (no crash images, no way to
//! tamper with bytes) prints `skipped: <reason>` and passes without checking anything else.
//!
//! The crash cases are as wide as the backend's [`StoreFactory`] lets them be: power loss
//! ([`StoreFactory::crash`]), out-of-order page write-back ([`StoreFactory::crash_reordered`]),
//! process crash ([`StoreFactory::process_crash`]) and fsyncgate failures
//! ([`StoreFactory::fsyncgate`]) combine into the sequences of [`sequence`]. The kit is itself
//! tested: [`broken`] wraps any backend in stores that each break one promise of the contract,
//! and every one of them must fail at least one case.
//!
//! For engine authors, [`explore`] runs *your* workload and *your* invariants at every crash
//! point: the log on a `wal_memory::MemoryStore`, the engine's own files (snapshots) in a
//! simulated directory ([`explore::SimDir`]) with the same power-loss semantics, one operation
//! counter over both, seeded power loss, and a replay of any failing point by seed and crash
//! point (see the example there).
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

pub mod broken;
pub mod cases;
pub mod crash;
mod durability;
pub mod explore;
pub mod faults;
pub mod model;
pub mod sequence;
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
/// - `process_crash` returns a store over what a new process finds after the old one was
///   killed (SIGKILL) while the machine stayed up: every byte whose append returned is
///   readable, unsynced bytes are still unsynced (a later `crash` may lose them).
/// - `crash_reordered` is `crash` on a disk that writes unsynced pages back out of order and
///   tears sectors, or `None`.
/// - `fsyncgate` and `fail_next_sync` arm a failure of a future sync inside the backend;
///   they return `false` when the backend cannot inject one (the cases that need it skip).
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

    /// The store a new process finds after a process crash (SIGKILL, the machine stays up).
    ///
    /// The kit has dropped every log on the old store, but the old writers may not have run
    /// any clean-up. Unsynced bytes stay readable and unsynced: a later [`crash`](Self::crash)
    /// may still lose them. The default is [`reopen`](Self::reopen), right for backends whose
    /// appended bytes outlive the process (a file system's page cache) and for those whose
    /// unsynced bytes live only in the writer's memory (they die with the process either way).
    async fn process_crash(&self, guard: &Self::Guard) -> Option<Self::Store> {
        Some(self.reopen(guard).await)
    }

    /// Whether appended but unsynced bytes outlive a process crash on this backend (a file
    /// system's page cache keeps them; an object store's writer buffers them in memory). When
    /// `true`, the crash sequences also demand that every record whose append returned
    /// survives a [`process_crash`](Self::process_crash). Defaults to `false`.
    fn unsynced_survive_process_crash(&self) -> bool {
        false
    }

    /// Like [`crash`](Self::crash), on a disk that persists unsynced bytes out of order: whole
    /// 4 KiB pages in any order, torn at 512-byte sectors (see
    /// `wal_memory::reordered_power_loss_image`). `None` (the default) when the backend cannot
    /// model it; the exploration then uses `crash`.
    async fn crash_reordered(&self, guard: &Self::Guard, seed: u64) -> Option<Self::Store> {
        let _ = (guard, seed);
        None
    }

    /// Arms an fsyncgate failure: the `nth` sync or seal from now (1-based) fails, and the
    /// unsynced bytes it covered never reach the disk (they stay readable; a power loss image
    /// has zeros in their place), while later syncs succeed, as Linux reports a write-back
    /// error once. Models the raw disk under a backend, so the engine, not the store, must
    /// keep from acknowledging those bytes. `false` (the default) when the backend cannot.
    async fn fsyncgate(&self, guard: &Self::Guard, nth: u64) -> bool {
        let _ = (guard, nth);
        false
    }

    /// Makes the next sync or seal of the store fail the way the backend's own I/O failures
    /// do. The store contract then applies: a later sync that returns `Ok` covers every byte
    /// the failed one did. `false` (the default) when the backend cannot inject a failure.
    async fn fail_next_sync(&self, guard: &Self::Guard) -> bool {
        let _ = guard;
        false
    }

    /// Crash states the exploration case may visit (keep slow backends' CI time bounded).
    fn crash_budget(&self) -> usize {
        1200
    }

    /// Distinct crash states [`cases::crash_sequence_exploration`] aims for (it stops earlier
    /// when the workload has no more). Defaults to [`crash_budget`](Self::crash_budget).
    fn sequence_budget(&self) -> usize {
        self.crash_budget()
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
/// The one list of cases lives in this crate (see [`all_cases`]), so every backend runs every
/// case.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__with_cases!(__conformance_cases!($factory));
    };
}

/// Implementation detail: the one list of cases, handed to another macro of this crate.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_cases {
    ($m:ident!($($pre:tt)*)) => {
        $crate::$m! {
            $($pre)*;
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
            wal_cancelled_calls_leave_a_sound_log,
            wal_full_storage_is_reported,
            wal_written_visibility_sees_unsynced,
            wal_crash_keeps_acknowledged,
            wal_crash_batch_is_atomic,
            wal_recovery_is_idempotent,
            wal_incomplete_segment_creation_is_removed,
            wal_typed_records_round_trip,
            wal_compressed_and_stamped_records_round_trip,
            wal_timestamps_off_and_missing_codecs_are_explicit,
            wal_encrypted_records_round_trip_and_keys_rotate,
            store_create_survives_power_loss,
            store_delete_survives_power_loss,
            store_quarantine_survives_power_loss,
            store_sync_survives_power_loss,
            store_seal_survives_power_loss,
            store_open_tail_cut_survives_power_loss,
            store_failed_sync_is_covered_or_sticky,
            wal_typed_view_round_trips,
            wal_first_lsn_starts_an_empty_log,
            wal_get_and_last_follow_the_log,
            wal_reset_restarts_at_the_chosen_lsn,
            wal_reset_crash_at_every_op_is_old_or_new,
            wal_meta_survives_truncations_reset_and_reopen,
            wal_checkpoint_hides_drops_and_persists,
            wal_state_crash_at_every_op_keeps_acknowledged,
            crash_exploration,
            crash_sequence_exploration,
            model_state_machine,
        }
    };
}

/// Implementation detail of [`all_cases`].
#[doc(hidden)]
#[macro_export]
macro_rules! __case_table {
    ($f:ident; $($name:ident),* $(,)?) => {
        vec![$(
            $crate::Case::<$f> {
                name: stringify!($name),
                run: |f| Box::pin($crate::cases::$name(f)),
            },
        )*]
    };
}

/// One conformance case as a value: its name and how to run it.
pub struct Case<F> {
    /// The case's name (its test name in [`conformance_tests!`]).
    pub name: &'static str,
    /// Runs the case.
    pub run: fn(Arc<F>) -> futures::future::BoxFuture<'static, Outcome>,
}

/// Every case [`conformance_tests!`] makes a test of, in the same order, for running them by
/// hand (as the broken-backend check does with [`broken::check_case`]).
pub fn all_cases<F: StoreFactory>() -> Vec<Case<F>> {
    __with_cases!(__case_table!(F))
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
