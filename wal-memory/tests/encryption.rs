//! Encryption at rest against an adversary and against crashes: nonces never repeat (over
//! suffix truncation, reset, process restarts and power loss), an altered frame is an
//! error and never garbage, and recovery judges torn tails of encrypted segments without
//! the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use wal_api::crypto::StaticKeys;
use wal_api::format::{decode_frame, SegmentHeader, NONCE_LEN, SEGMENT_HEADER_LEN};
use wal_api::{Compression, Error, Lsn, Never, PerWrite, SegmentId, SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

fn keys() -> Arc<StaticKeys> {
    Arc::new(StaticKeys::new(3, [0x5a; 32]))
}

/// Every encrypted frame in `store`: (segment, offset, nonce, the frame's bytes).
async fn encrypted_frames(
    store: &MemoryStore,
) -> Vec<(SegmentId, usize, [u8; NONCE_LEN], Vec<u8>)> {
    let mut out = Vec::new();
    for m in store.list().await.unwrap() {
        let Some(bytes) = store.segment_bytes(m.id) else {
            continue;
        };
        let Ok(h) = SegmentHeader::decode(&bytes) else {
            continue;
        };
        let mut pos = SEGMENT_HEADER_LEN;
        while let Ok(f) = decode_frame(&bytes[pos..], h.layout()) {
            if f.is_encrypted() {
                let mut n = [0u8; NONCE_LEN];
                n.copy_from_slice(&f.stored_body()[..NONCE_LEN]);
                out.push((m.id, pos, n, bytes[pos..pos + f.len()].to_vec()));
            }
            pos += f.len();
        }
    }
    out
}

/// Records each nonce with the frame that used it; a nonce seen again with other bytes is
/// a reuse.
#[derive(Default)]
struct Nonces(HashMap<[u8; NONCE_LEN], Vec<u8>>);

impl Nonces {
    async fn harvest(&mut self, store: &MemoryStore, when: &str) {
        for (id, at, nonce, frame) in encrypted_frames(store).await {
            if let Some(prev) = self.0.insert(nonce, frame.clone()) {
                assert_eq!(
                    prev, frame,
                    "{when}: nonce reused by another frame (segment {id}, offset {at})"
                );
            }
        }
    }
}

/// Nonces never repeat: frames rewritten at the same offsets after `truncate_suffix`, a
/// `reset`, a restart without close, and a power loss that drops unsynced frames all get
/// fresh ones.
#[tokio::test]
async fn nonces_never_repeat_over_truncation_reset_restart_and_power_loss() {
    let store = MemoryStore::new();
    let opts = |p: bool| {
        let o = WalOptions::default()
            .segment_size(1500)
            .write_buffer(0)
            .encryption(keys());
        if p {
            o.sync_policy(PerWrite)
        } else {
            o.sync_policy(Never)
        }
    };
    let mut seen = Nonces::default();
    let wal = Wal::open(store.clone(), opts(true)).await.unwrap();
    for i in 0..40u32 {
        wal.append(format!("first {i}").as_bytes()).await.unwrap();
    }
    seen.harvest(&store, "appends").await;
    // Same offsets again after a suffix truncation.
    wal.truncate_suffix(Lsn(25)).await.unwrap();
    for i in 0..15u32 {
        wal.append(format!("again {i}").as_bytes()).await.unwrap();
    }
    seen.harvest(&store, "after truncate_suffix").await;
    wal.reset(Lsn(1)).await.unwrap();
    for i in 0..20u32 {
        wal.append(format!("after reset {i}").as_bytes())
            .await
            .unwrap();
    }
    seen.harvest(&store, "after reset").await;
    // A restart without close (a new process, the same offsets after a cut).
    drop(wal);
    let wal = Wal::open(store.clone(), opts(true)).await.unwrap();
    wal.truncate_suffix(Lsn(10)).await.unwrap();
    for i in 0..10u32 {
        wal.append(format!("restarted {i}").as_bytes())
            .await
            .unwrap();
    }
    seen.harvest(&store, "after restart").await;
    // Unsynced frames, a power loss that drops them, then new frames where they were.
    drop(wal);
    let wal = Wal::open(store.clone(), opts(false)).await.unwrap();
    for i in 0..10u32 {
        wal.append(format!("unsynced {i}").as_bytes())
            .await
            .unwrap();
    }
    seen.harvest(&store, "unsynced").await;
    drop(wal);
    let crashed = store.crash(7);
    let wal = Wal::open(crashed.clone(), opts(true)).await.unwrap();
    for i in 0..10u32 {
        wal.append(format!("after power loss {i}").as_bytes())
            .await
            .unwrap();
    }
    seen.harvest(&crashed, "after power loss").await;
    assert!(seen.0.len() >= 100, "{} frames checked", seen.0.len());
}

/// A frame whose ciphertext was altered, or that was relabelled (a record frame turned
/// into a one-record batch: the associated data binds the kind), with its checksum
/// recomputed (an adversary, not a disk), fails authentication: reading reports corruption
/// at that frame, never bytes that were not written.
#[tokio::test]
async fn an_altered_encrypted_frame_is_an_error_never_garbage() {
    for field in ["ciphertext", "kind"] {
        let store = MemoryStore::new();
        let opts = || {
            WalOptions::default()
                .encryption(keys())
                .compression(Compression::Lz4)
        };
        let wal = Wal::open(store.clone(), opts()).await.unwrap();
        for i in 0..5u32 {
            wal.append(format!("record {i} ").repeat(10).as_bytes())
                .await
                .unwrap();
        }
        wal.close().await.unwrap();
        drop(wal);
        let frames = encrypted_frames(&store).await;
        let (id, at, _, frame) = frames[2].clone();
        store.tamper(id, |b| {
            let salt = u64::from_le_bytes(b[32..40].try_into().unwrap());
            match field {
                "ciphertext" => b[at + frame.len() - 20] ^= 0x01,
                _ => b[at + 28] = 2,
            }
            let mut h = crc32fast::Hasher::new();
            h.update(&salt.to_le_bytes());
            h.update(&b[at + 4..at + frame.len()]);
            let crc = h.finalize().to_le_bytes();
            b[at..at + 4].copy_from_slice(&crc);
        });
        let wal = Wal::open(store, opts()).await;
        let err = match wal {
            Err(e) => e,
            Ok(wal) => {
                let got: Vec<_> = wal.read(..).collect().await;
                let (ok, errs): (Vec<_>, Vec<_>) = got.into_iter().partition(|r| r.is_ok());
                assert!(
                    ok.len() <= 2,
                    "{field}: only the records before the altered one"
                );
                errs.into_iter().next().expect("an error").unwrap_err()
            }
        };
        match &err {
            Error::Corrupt { offset, .. } => assert_eq!(*offset, at as u64, "{field}: {err}"),
            other => panic!("{field}: expected corruption at offset {at}, got {other}"),
        }
    }
}

/// Recovery needs no key to judge an encrypted segment: a torn tail is cut (and a log whose
/// newest segment is encrypted opens once the key is given), while the keyless segment
/// check reports the same verdict the engine reaches.
#[tokio::test]
async fn torn_tails_of_encrypted_segments_are_judged_without_the_key() {
    let store = MemoryStore::new();
    let opts = || WalOptions::default().encryption(keys()).write_buffer(0);
    let wal = Wal::open(store.clone(), opts().sync_policy(PerWrite))
        .await
        .unwrap();
    for i in 0..8u32 {
        wal.append(format!("durable {i}").as_bytes()).await.unwrap();
    }
    drop(wal);
    let wal = Wal::open(store.clone(), opts().sync_policy(Never))
        .await
        .unwrap();
    for i in 0..8u32 {
        wal.append(format!("unsynced {i}").as_bytes())
            .await
            .unwrap();
    }
    drop(wal);
    // Tear the last frame in half.
    let id = store
        .list()
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .max()
        .unwrap();
    let (_, at, _, frame) = encrypted_frames(&store).await.into_iter().last().unwrap();
    store.tamper(id, |b| b.truncate(at + frame.len() / 2));
    let bytes = bytes::Bytes::from(store.segment_bytes(id).unwrap());
    let keyless = wal_api::segment::check_segment(id, &bytes, true).unwrap();
    assert_eq!(
        keyless.records, 15,
        "the keyless check keeps the whole frames"
    );
    let wal = Wal::open(store.clone(), opts()).await.unwrap();
    assert_eq!(wal.written_lsn(), Lsn(15));
    assert_eq!(wal.recovery_report().torn_bytes, (frame.len() / 2) as u64);
    let got: Vec<_> = wal.read(..).collect().await;
    assert_eq!(got.len(), 15);
    assert!(got.iter().all(|r| r.is_ok()));
    // Without a key provider the log does not open (its newest segment is encrypted).
    drop(wal);
    match Wal::open(store, WalOptions::default()).await {
        Err(Error::Unreadable { reason, .. }) => assert!(reason.contains("key id 3"), "{reason}"),
        other => panic!("expected Unreadable, got {:?}", other.err()),
    }
}
