//! In-process baselines: the same frames as the log (32-byte header, CRC32 over the salt, the
//! header fields and the payload), kept by the simplest structure that does the job.
//!
//! - [`BufferLog`] (W3): frames appended into a `Mutex<Vec<u8>>`, handed to the kernel with
//!   write(2) every 256 KiB. What a non-durable append costs without an engine around it.
//! - [`GroupLog`] (W2): mutex + condvar group commit. Appenders add their frame under the
//!   mutex; the first one to find no sync in flight takes the buffer, writes it with pwrite(2)
//!   into a preallocated file and fdatasyncs, publishes the durable LSN and wakes everyone; the
//!   others wait on the condvar until their LSN is durable.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::dirs::{discard, fresh, root, sync_dir};
use crate::raw::preallocated;

const SALT: u64 = 0x5eed_5eed_5eed_5eed;
const FLUSH_AT: usize = 256 << 10;

/// Appends a frame whose payload `fill` writes: header fields, then the CRC over the salt, the
/// fields and the payload.
fn frame(out: &mut Vec<u8>, lsn: u64, count: u32, kind: u8, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 32]);
    fill(out);
    let len = (out.len() - start - 32) as u32;
    let h = &mut out[start..start + 32];
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&lsn.to_le_bytes());
    h[24..28].copy_from_slice(&count.to_le_bytes());
    h[28] = kind;
    let mut c = crc32fast::Hasher::new();
    c.update(&SALT.to_le_bytes());
    c.update(&out[start + 4..]);
    let crc = c.finalize();
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a single-record frame (kind 1) for `lsn`.
fn record_frame(out: &mut Vec<u8>, lsn: u64, data: &[u8]) {
    frame(out, lsn, 1, 1, |o| o.extend_from_slice(data));
}

struct Buffered {
    buf: Vec<u8>,
    next: u64,
}

/// W3's baseline: frames into a mutex-protected buffer, write(2) every 256 KiB.
pub(crate) struct BufferLog {
    file: File,
    state: Mutex<Buffered>,
}

impl BufferLog {
    fn create() -> BufferLog {
        let d = fresh("w3-baseline");
        let file = File::create(d.join("log")).unwrap();
        file.sync_all().unwrap();
        sync_dir(&d);
        BufferLog {
            file,
            state: Mutex::new(Buffered {
                buf: Vec::with_capacity(FLUSH_AT + (1 << 20)),
                next: 1,
            }),
        }
    }

    fn spill(&self, s: &mut Buffered) {
        if s.buf.len() >= FLUSH_AT {
            (&self.file).write_all(&s.buf).unwrap();
            s.buf.clear();
        }
    }

    /// One record, one frame.
    pub(crate) fn append(&self, data: &[u8]) -> u64 {
        let mut s = self.state.lock().unwrap();
        let lsn = s.next;
        s.next += 1;
        record_frame(&mut s.buf, lsn, data);
        self.spill(&mut s);
        lsn
    }

    /// An atomic batch: one frame (kind 2) of `u32 len` + bytes per record, as the log writes.
    pub(crate) fn append_batch(&self, records: &[&[u8]]) -> u64 {
        let mut s = self.state.lock().unwrap();
        let lsn = s.next;
        s.next += records.len() as u64;
        frame(&mut s.buf, lsn, records.len() as u32, 2, |o| {
            for r in records {
                o.extend_from_slice(&(r.len() as u32).to_le_bytes());
                o.extend_from_slice(r);
            }
        });
        self.spill(&mut s);
        lsn
    }

    /// Hands what is buffered to the kernel (no fsync).
    pub(crate) fn flush(&self) {
        let mut s = self.state.lock().unwrap();
        (&self.file).write_all(&s.buf).unwrap();
        s.buf.clear();
    }
}

/// `n` single appends of `size` bytes: records/s (up to the final write(2)).
pub(crate) fn w3_singles(size: usize, n: u64) -> f64 {
    let log = BufferLog::create();
    let rec = vec![7u8; size];
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(log.append(&rec));
    }
    log.flush();
    let r = n as f64 / t0.elapsed().as_secs_f64();
    discard(&root().join("w3-baseline"));
    r
}

/// `batches` atomic batches of 1000 x 100 B: records/s.
pub(crate) fn w3_batches(batches: u64, rec: usize) -> f64 {
    let log = BufferLog::create();
    let one = vec![7u8; rec];
    let batch: Vec<&[u8]> = vec![&one[..]; 1000];
    let t0 = Instant::now();
    for _ in 0..batches {
        std::hint::black_box(log.append_batch(&batch));
    }
    log.flush();
    let r = (batches * 1000) as f64 / t0.elapsed().as_secs_f64();
    discard(&root().join("w3-baseline"));
    r
}

struct Group {
    buf: Vec<u8>,
    spare: Vec<u8>,
    /// Last LSN handed out.
    last: u64,
    durable: u64,
    syncing: bool,
    pos: u64,
    syncs: u64,
}

/// W2's baseline: mutex + condvar group commit into a preallocated file (written in a ring, so
/// no fdatasync ever has metadata to write).
pub(crate) struct GroupLog {
    file: File,
    cap: u64,
    state: Mutex<Group>,
    covered: Condvar,
}

impl GroupLog {
    pub(crate) fn create(cap: usize) -> GroupLog {
        GroupLog {
            file: preallocated(&fresh("w2-condvar"), cap),
            cap: cap as u64,
            state: Mutex::new(Group {
                buf: Vec::new(),
                spare: Vec::new(),
                last: 0,
                durable: 0,
                syncing: false,
                pos: 0,
                syncs: 0,
            }),
            covered: Condvar::new(),
        }
    }

    /// Records made durable per fdatasync so far.
    pub(crate) fn records_per_sync(&self) -> f64 {
        let s = self.state.lock().unwrap();
        s.durable as f64 / s.syncs.max(1) as f64
    }

    /// Appends one record; returns once it is durable.
    pub(crate) fn append(&self, data: &[u8]) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.last += 1;
        let lsn = s.last;
        record_frame(&mut s.buf, lsn, data);
        loop {
            if s.durable >= lsn {
                return lsn;
            }
            if s.syncing {
                s = self.covered.wait(s).unwrap();
                continue;
            }
            // Lead one group: everything buffered so far.
            s.syncing = true;
            let upto = s.last;
            let mut buf = std::mem::take(&mut s.spare);
            std::mem::swap(&mut buf, &mut s.buf);
            let mut pos = s.pos;
            if pos + buf.len() as u64 > self.cap {
                pos = 0;
            }
            s.pos = pos + buf.len() as u64;
            drop(s);
            self.file.write_all_at(&buf, pos).unwrap();
            self.file.sync_data().unwrap();
            buf.clear();
            s = self.state.lock().unwrap();
            s.spare = buf;
            s.durable = upto;
            s.syncing = false;
            s.syncs += 1;
            self.covered.notify_all();
        }
    }
}
