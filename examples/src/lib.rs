//! Code shared by the example programs. [`custom_store`] shows how a third-party backend
//! implements [`wal_api::SegmentStore`] and proves itself with `wal-testkit`
//! (see `examples/tests/custom_store_conformance.rs`). [`kv`] is a small key-value store on
//! the typed log with snapshots and compaction, whose every crash point is explored by
//! `examples/tests/kv_crash.rs` through `wal_testkit::explore`.

pub mod custom_store;
pub mod kv;
