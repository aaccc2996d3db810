//! raft-engine 0.4.2 (`default-features = false`), driven as its README and docs show:
//! `Engine::open(Config)`, entries added to a `LogBatch` with `add_entries::<M>` for a
//! [`MessageExt`] type, `engine.write(&mut batch, sync)`, read back with
//! `fetch_entries_to`.
//!
//! Configuration: its defaults, except `batch_compression_threshold = 0` (no lz4): every
//! benchmark payload is a constant byte pattern, which lz4 would shrink to nothing, so
//! raft-engine would write a fraction of the bytes the others write.
//!
//! Its entries are protobuf 2 messages; [`BenchEntry`] is the smallest such message (an
//! index and the record's bytes), encoded with protobuf's own runtime as generated code would.

use std::any::Any;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use protobuf::rt;
use protobuf::{CachedSize, CodedInputStream, CodedOutputStream, ProtobufResult, UnknownFields};
use raft_engine::{Config, Engine, LogBatch, MessageExt, ReadableSize};
use wal_bench::rate;

use crate::child::{ready, record, Check, End};
use crate::dirs::{discard, fresh};
use crate::knobs::REC;
use crate::threads::run_threads;

/// A raft-engine entry: protobuf fields 1 (`uint64 index`) and 2 (`bytes data`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct BenchEntry {
    index: u64,
    data: Vec<u8>,
    unknown: UnknownFields,
    cached: CachedSize,
}

impl protobuf::Clear for BenchEntry {
    fn clear(&mut self) {
        self.index = 0;
        self.data.clear();
        self.unknown.clear();
    }
}

impl protobuf::Message for BenchEntry {
    fn descriptor(&self) -> &'static protobuf::reflect::MessageDescriptor {
        Self::descriptor_static()
    }

    fn is_initialized(&self) -> bool {
        true
    }

    fn merge_from(&mut self, is: &mut CodedInputStream<'_>) -> ProtobufResult<()> {
        while !is.eof()? {
            let (field, wire) = is.read_tag_unpack()?;
            match field {
                1 => {
                    if wire != protobuf::wire_format::WireTypeVarint {
                        return Err(rt::unexpected_wire_type(wire));
                    }
                    self.index = is.read_uint64()?;
                }
                2 => rt::read_singular_proto3_bytes_into(wire, is, &mut self.data)?,
                _ => rt::read_unknown_or_skip_group(field, wire, is, &mut self.unknown)?,
            }
        }
        Ok(())
    }

    fn write_to_with_cached_sizes(&self, os: &mut CodedOutputStream<'_>) -> ProtobufResult<()> {
        if self.index != 0 {
            os.write_uint64(1, self.index)?;
        }
        if !self.data.is_empty() {
            os.write_bytes(2, &self.data)?;
        }
        os.write_unknown_fields(&self.unknown)
    }

    fn compute_size(&self) -> u32 {
        let mut n = 0;
        if self.index != 0 {
            n += rt::value_size(1, self.index, protobuf::wire_format::WireTypeVarint);
        }
        if !self.data.is_empty() {
            n += rt::bytes_size(2, &self.data);
        }
        n += rt::unknown_fields_size(&self.unknown);
        self.cached.set(n);
        n
    }

    fn get_cached_size(&self) -> u32 {
        self.cached.get()
    }

    fn get_unknown_fields(&self) -> &UnknownFields {
        &self.unknown
    }

    fn mut_unknown_fields(&mut self) -> &mut UnknownFields {
        &mut self.unknown
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn new() -> Self {
        BenchEntry::default()
    }

    fn default_instance() -> &'static Self {
        static DEFAULT: OnceLock<BenchEntry> = OnceLock::new();
        DEFAULT.get_or_init(BenchEntry::default)
    }
}

/// The [`MessageExt`] raft-engine's typed entry API needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BenchMessages;

impl MessageExt for BenchMessages {
    type Entry = BenchEntry;

    fn index(e: &BenchEntry) -> u64 {
        e.index
    }
}

fn entry(index: u64, data: &[u8]) -> BenchEntry {
    BenchEntry {
        index,
        data: data.to_vec(),
        ..BenchEntry::default()
    }
}

pub(crate) fn open(dir: &Path) -> Engine {
    let cfg = Config {
        dir: dir.to_str().unwrap().to_owned(),
        batch_compression_threshold: ReadableSize(0),
        ..Config::default()
    };
    Engine::open(cfg).unwrap()
}

/// One raft group's appender: the next index, and a batch reused across writes.
pub(crate) struct Appender {
    region: u64,
    next: u64,
    batch: LogBatch,
}

impl Appender {
    pub(crate) fn new(region: u64) -> Appender {
        Appender {
            region,
            next: 1,
            batch: LogBatch::with_capacity(1),
        }
    }

    /// Writes one batch holding one entry per record of `records`.
    pub(crate) fn write(&mut self, engine: &Engine, records: &[&[u8]], sync: bool) {
        let entries: Vec<BenchEntry> = records
            .iter()
            .enumerate()
            .map(|(k, r)| entry(self.next + k as u64, r))
            .collect();
        self.next += records.len() as u64;
        self.batch
            .add_entries::<BenchMessages>(self.region, &entries)
            .unwrap();
        engine.write(&mut self.batch, sync).unwrap();
    }
}

/// W1: `n` durable single-entry writes: their latencies.
pub(crate) fn w1_block(engine: &Engine, a: &mut Appender, n: usize) -> Vec<Duration> {
    let rec = [7u8; REC];
    (0..n)
        .map(|_| {
            let t = Instant::now();
            a.write(engine, &[&rec], true);
            t.elapsed()
        })
        .collect()
}

/// W2: `threads` OS threads, each its own raft group, writing durable single-entry batches
/// (raft-engine groups concurrent writers into one fdatasync): records/s.
pub(crate) fn w2(threads: usize, dur: Duration) -> f64 {
    let d = fresh("w2-raft");
    let engine = std::sync::Arc::new(open(&d));
    let r = run_threads(threads, dur, |i| {
        let engine = engine.clone();
        let mut a = Appender::new(i as u64 + 1);
        move || a.write(&engine, &[&[1u8; REC]], true)
    });
    drop(engine);
    discard(&d);
    r
}

/// W3: `n` non-durable writes of `per` entries of `size` bytes: records/s up to the last
/// write (page cache), and including a final `sync`.
pub(crate) fn w3(n: u64, per: usize, size: usize) -> (f64, f64) {
    let d = fresh("w3-raft");
    let engine = open(&d);
    let mut a = Appender::new(1);
    let rec = vec![7u8; size];
    let batch: Vec<&[u8]> = vec![&rec[..]; per];
    let t0 = Instant::now();
    for _ in 0..n {
        a.write(&engine, &batch, false);
    }
    let cached = t0.elapsed();
    engine.sync().unwrap();
    let synced = t0.elapsed();
    drop(engine);
    discard(&d);
    let records = n * per as u64;
    (rate(records, cached), rate(records, synced))
}

/// Writer child: the W4 log as batches of 1000 entries (non-durable writes, one `sync` at the
/// end), then killed or dropped (raft-engine has no close).
pub(crate) fn child_write(dir: &Path, records: u64, end: End) {
    let engine = open(dir);
    let mut a = Appender::new(1);
    let mut i = 0;
    while i < records {
        let n = 1000.min(records - i);
        let recs: Vec<[u8; REC]> = (i..i + n).map(record).collect();
        let refs: Vec<&[u8]> = recs.iter().map(|r| &r[..]).collect();
        a.write(&engine, &refs, false);
        i += n;
    }
    engine.sync().unwrap();
    if end == End::Clean {
        drop(engine);
    }
    ready(end);
}

/// Replay child: open (its recovery reads every log file) + every entry fetched, 1024 at a
/// time, through [`Check`].
pub(crate) fn child_replay(dir: &Path) {
    let t0 = Instant::now();
    let engine = open(dir);
    let mut check = Check::default();
    if let (Some(first), Some(last)) = (engine.first_index(1), engine.last_index(1)) {
        let mut ents = Vec::with_capacity(1024);
        let mut at = first;
        while at <= last {
            let end = (at + 1024).min(last + 1);
            engine
                .fetch_entries_to::<BenchMessages>(1, at, end, None, &mut ents)
                .unwrap();
            for e in ents.drain(..) {
                check.record(&e.data);
            }
            at = end;
        }
    }
    check.print(t0);
}
