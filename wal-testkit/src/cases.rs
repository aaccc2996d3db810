//! The conformance cases. Each is a plain async function over a [`StoreFactory`]; the
//! [`conformance_tests!`](crate::conformance_tests) macro makes each one its own test.
//!
//! They are written by topic: the store contract, appending and reading, recovery,
//! truncation, visibility, syncing, positioning (first LSN, `get`/`last`, reset, the typed
//! view), durable metadata and checkpoints (state), power loss of each store operation, and
//! the explorations (crash states, crash sequences, the model-based test). This module holds
//! the helpers they share.

use wal_api::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use wal_api::{Lsn, SegmentId, SegmentStore, Wal, WalOptions};

use crate::support::payload;
use crate::StoreFactory;

// Every case, wherever it is written, is reachable as `cases::<name>`: the list that makes
// tests of them is `__with_cases!` in lib.rs, the one list of cases. To add a case, write it
// as a `pub async fn` in the topic file it belongs to (or a new one, declared and
// glob-re-exported below) and add its name to that list.
mod format3;
mod positioning;
mod records;
mod recovery;
mod state;
mod store;
mod sync;
mod truncation;
mod visibility;

pub use format3::*;
pub use positioning::*;
pub use records::*;
pub use recovery::*;
pub use state::*;
pub use store::*;
pub use sync::*;
pub use truncation::*;
pub use visibility::*;

pub use crate::crash::crash_exploration;
pub use crate::durability::*;
pub use crate::model::model_state_machine;
pub use crate::sequence::crash_sequence_exploration;

const NO_TAMPER: &str = "backend cannot rewrite raw segment bytes (StoreFactory::tamper)";
const NO_CRASH: &str = "backend cannot model power loss (StoreFactory::crash)";

fn small() -> WalOptions {
    WalOptions::default().segment_size(1024)
}

fn header(id: u64, base: u64) -> Vec<u8> {
    SegmentHeader {
        id: SegmentId(id),
        base: Lsn(base),
        salt: 0x7e57_0000 + id,
        segment_size: 1024,
        max_record_size: 1 << 20,
        max_batch_size: 1 << 20,
        version: wal_api::format::FORMAT_VERSION,
        key_id: 0,
        key_check: 0,
    }
    .encode()
    .to_vec()
}

async fn open<S: SegmentStore>(store: S, opts: WalOptions) -> Wal<S> {
    Wal::open(store, opts)
        .await
        .unwrap_or_else(|e| panic!("open failed: {e}"))
}

/// Appends `n` records numbered from `from` with lengths cycling 1..=`max_len`.
async fn fill<S: SegmentStore>(wal: &Wal<S>, from: u64, n: u64, max_len: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in from..from + n {
        let p = payload(i, 1 + (i as usize * 7) % max_len);
        wal.append(&p).await.expect("append");
        out.push(p);
    }
    out
}

fn assert_records(got: &[wal_api::Record], first: u64, want: &[Vec<u8>]) {
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (r, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(r.lsn, Lsn(first + i as u64), "LSN of record {i}");
        assert_eq!(&r.data[..], &w[..], "payload of LSN {}", r.lsn);
    }
}

async fn close_and_reopen<F: StoreFactory>(
    f: &F,
    g: &F::Guard,
    wal: Wal<F::Store>,
    opts: WalOptions,
) -> Wal<F::Store> {
    wal.close().await.expect("close");
    drop(wal);
    open(f.reopen(g).await, opts).await
}

/// Stops a log without closing it: everything is synced, the tail stays unsealed (as after a
/// crash once the last sync landed). Cases that tear or corrupt the active segment start here.
async fn stop_unsealed<S: SegmentStore>(wal: Wal<S>) {
    wal.sync().await.expect("sync");
    drop(wal);
}

/// Raw bytes of a segment through `tamper` (None when unsupported).
async fn raw<F: StoreFactory>(f: &F, g: &F::Guard, id: SegmentId) -> Option<Vec<u8>> {
    let mut copy = Vec::new();
    let ok = f
        .tamper(g, id, &mut |b: &mut Vec<u8>| copy = b.clone())
        .await;
    ok.then_some(copy)
}

/// Offsets of the frames of a segment's bytes.
fn frame_offsets(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Ok(h) = SegmentHeader::decode(bytes) else {
        return out;
    };
    let mut pos = SEGMENT_HEADER_LEN;
    while let Ok(fr) = wal_api::format::decode_frame(&bytes[pos.min(bytes.len())..], h.layout()) {
        if fr.kind == wal_api::format::FrameKind::Seal {
            break;
        }
        out.push((pos, fr.len()));
        pos += fr.len();
    }
    out
}
