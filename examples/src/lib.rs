//! Code shared by the example programs. [`custom_store`] shows how a third-party backend
//! implements [`wal_api::SegmentStore`] and proves itself with `wal-testkit`
//! (see `examples/tests/custom_store_conformance.rs`).

pub mod custom_store;
