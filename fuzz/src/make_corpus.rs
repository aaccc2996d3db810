//! Writes seed inputs for the fuzz targets into `seeds/`.
//!
//! - `segment_decode`: real segments written by the engine (records, an atomic batch, a
//!   sealed segment and an unsealed tail).
//! - `recovery`: the body (everything after the header) of the first segment of several engine
//!   workloads, re-encoded frame by frame for the header the target puts in front of it
//!   (segment 1, base LSN 1, salt 7): without that, no frame of a seed passes its checksum
//!   and the fuzzer never reaches what recovery does after good frames. Each body is written
//!   as is, with preallocated zeros after it, with its last frame torn, and with one byte of
//!   a middle frame flipped, under every recovery mode and two replay starts.

use std::path::Path;

use wal_api::format::meta::encode_reset;
use wal_api::format::{
    decode_frame, encode_data, encode_marker, FrameKind, SegmentHeader, Stored, Trailer,
    SEGMENT_HEADER_LEN,
};
use wal_api::{Compression, Lsn, SegmentId, SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The salt of the header the `recovery` target writes.
const FUZZ_SALT: u64 = 7;

/// `segment` (re-salted, unsealed) sealed behind a reset intent to LSN `to`, as a reset
/// leaves the active segment before it deletes the old ones (and as a crash can leave it).
fn with_reset_intent(segment: &[u8], to: Lsn) -> Res<Vec<u8>> {
    let header = SegmentHeader::decode(segment)?;
    let (mut pos, mut last, mut records) = (SEGMENT_HEADER_LEN, header.base.prev(), 0u64);
    while let Ok(f) = decode_frame(&segment[pos..], header.layout()) {
        if f.kind == FrameKind::Seal {
            break;
        }
        if f.kind.holds_records() {
            last = f.last_lsn();
            records += u64::from(f.count);
        }
        pos += f.len();
    }
    let mut out = segment[..pos].to_vec();
    let payload = encode_reset(to);
    encode_marker(
        &mut out,
        FUZZ_SALT,
        FrameKind::Meta,
        last.next(),
        last,
        &payload,
    );
    let trailer = Trailer {
        last_lsn: last,
        records,
        body_len: out.len() as u64,
        body_crc: crc32fast::hash(&out),
    };
    out.extend_from_slice(&trailer.encode(FUZZ_SALT, last));
    Ok(out)
}

/// One engine workload; returns the store it left (no close: the newest segment is
/// unsealed, unless `close`). Kind 2 compresses (zstd and lz4 frames in one segment).
async fn workload(kind: u8, close: bool) -> Res<MemoryStore> {
    let store = MemoryStore::new();
    let mut opts = WalOptions::default().segment_size(1200);
    if kind == 2 {
        opts = opts.compression(Compression::Zstd(1));
    }
    let wal = Wal::open(store.clone(), opts).await?;
    for i in 0..12u32 {
        if kind == 2 {
            wal.append(format!("record {i} ").repeat(8).as_bytes())
                .await?;
        } else {
            wal.append(format!("record {i}").as_bytes()).await?;
        }
    }
    wal.append_batch(&[&b"batch a"[..], b"batch b", b""])
        .await?;
    if kind == 1 {
        wal.put_meta("vote", b"term 4").await?;
        wal.append(b"after meta").await?;
    }
    wal.append(b"tail").await?;
    if close {
        wal.close().await?;
    }
    Ok(store)
}

/// Segment 1's frames re-encoded for the fuzz target's header (salt 7, base 1), a trailer
/// recomputed over that header.
fn resalt(bytes: &[u8]) -> Res<Vec<u8>> {
    let header = SegmentHeader::decode(bytes)?;
    let layout = header.layout();
    let target = SegmentHeader::new(SegmentId(1), Lsn(1), FUZZ_SALT);
    let mut out = target.encode().to_vec();
    let mut pos = SEGMENT_HEADER_LEN;
    while let Ok(f) = decode_frame(&bytes[pos..], layout) {
        pos += f.len();
        match f.kind {
            FrameKind::Record | FrameKind::Batch => {
                // The stored body as it is (compressed or not), with its time.
                let stored = Stored {
                    time: f.time(),
                    compression: f.compression().unwrap_or_default(),
                    encrypted: false,
                };
                let body = f.stored_body();
                encode_data(
                    &mut out, FUZZ_SALT, f.kind, f.lsn, f.durable, f.count, stored, body,
                );
            }
            FrameKind::Seal => {
                let Some(t) = Trailer::from_frame(&f) else {
                    break;
                };
                let sealed = Trailer {
                    body_len: out.len() as u64,
                    body_crc: crc32fast::hash(&out),
                    ..t
                };
                out.extend_from_slice(&sealed.encode(FUZZ_SALT, f.durable));
                break;
            }
            kind => {
                encode_marker(&mut out, FUZZ_SALT, kind, f.lsn, f.durable, f.payload);
            }
        }
    }
    Ok(out)
}

fn write_recovery_seeds(dir: &Path, name: &str, segment: &[u8]) -> Res<()> {
    let body = &segment[SEGMENT_HEADER_LEN..];
    let mut zeros = body.to_vec();
    zeros.resize(body.len() + 300, 0);
    let torn = &body[..body.len().saturating_sub(9)];
    let mut flipped = body.to_vec();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for (variant, bytes) in [
        ("whole", body),
        ("zeros", &zeros[..]),
        ("torn", torn),
        ("flipped", &flipped[..]),
    ] {
        // Bits 0-1 pick the recovery mode, the rest the replay start (see the target).
        for mode in [0u8, 1, 2, 3, 4, 8] {
            let mut input = vec![mode];
            input.extend_from_slice(bytes);
            std::fs::write(dir.join(format!("{name}-{variant}-mode-{mode}")), input)?;
        }
    }
    Ok(())
}

fn main() -> Res<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let decode = Path::new("seeds/segment_decode");
    let recovery = Path::new("seeds/recovery");
    std::fs::create_dir_all(decode)?;
    std::fs::create_dir_all(recovery)?;
    for (kind, close, name) in [
        (0, false, "records"),
        (0, true, "sealed"),
        (1, false, "meta"),
        (2, false, "compressed"),
    ] {
        let store = rt.block_on(workload(kind, close))?;
        for m in rt.block_on(store.list())? {
            let Some(bytes) = store.segment_bytes(m.id) else {
                continue;
            };
            if m.id.0 >= u64::MAX - 2 {
                continue; // a state slot, not a segment of frames
            }
            std::fs::write(decode.join(format!("{name}-segment-{}", m.id.0)), &bytes)?;
            if m.id == SegmentId(1) {
                let segment = resalt(&bytes)?;
                write_recovery_seeds(recovery, name, &segment)?;
                if !close && kind == 0 {
                    // Past every replay start, and below some of them.
                    for (to, name) in [(Lsn(40), "reset-far"), (Lsn(3), "reset-near")] {
                        let reset = with_reset_intent(&segment, to)?;
                        write_recovery_seeds(recovery, name, &reset)?;
                    }
                }
            }
        }
    }
    Ok(())
}
