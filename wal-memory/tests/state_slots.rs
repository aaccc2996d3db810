//! The corruption campaign on the state slots: every bit of each slot flipped, each slot cut
//! at every length, grown far past what a slot can be, and both slots damaged together;
//! each image opened in every recovery mode. An acknowledged state (metadata and checkpoint)
//! must come back whole, or the open must refuse, or (`SkipCorrupted` only) open empty and say
//! so. Anything else is a silent rollback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wal_api::format::state::STATE_SLOTS;
use wal_api::{Lsn, RecoveryMode, Wal, WalOptions};
use wal_memory::MemoryStore;

const MODES: [RecoveryMode; 4] = [
    RecoveryMode::TolerateTornTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
    RecoveryMode::SkipCorrupted,
];

fn opts(mode: RecoveryMode) -> WalOptions {
    WalOptions::default().segment_size(600).recovery_mode(mode)
}

/// What an image must open with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    /// The acknowledged state, whole (one slot damaged at most).
    State,
    /// Refused, or in `SkipCorrupted` an empty state flagged `state_lost`.
    LostLoudly,
}

#[derive(Default)]
struct Tally {
    images: u64,
    opens: u64,
    silent_rollbacks: Vec<String>,
}

async fn check(image: MemoryStore, want: Want, what: &str, t: &mut Tally) {
    t.images += 1;
    for mode in MODES {
        t.opens += 1;
        let r = Wal::open(image.process_crash(), opts(mode)).await;
        let ok = match (&r, want) {
            (Ok(wal), Want::State) => {
                wal.meta("vote").as_deref() == Some(&b"term 3"[..])
                    && wal.meta("applied").as_deref() == Some(&b"41"[..])
                    && wal.last_checkpoint() == Some(Lsn(30))
                    && wal.first_lsn() == Lsn(31)
            }
            (Err(_), Want::State) => false,
            (Ok(wal), Want::LostLoudly) => {
                mode == RecoveryMode::SkipCorrupted
                    && wal.recovery_report().state_lost
                    && wal.metadata().is_empty()
            }
            (Err(_), Want::LostLoudly) => mode != RecoveryMode::SkipCorrupted,
        };
        if !ok {
            let got = r.map(|w| {
                (
                    w.metadata(),
                    w.last_checkpoint(),
                    w.recovery_report().clone(),
                )
            });
            t.silent_rollbacks
                .push(format!("{what}, {mode:?}: wanted {want:?}, got {got:?}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_slot_damage_never_rolls_back_silently() {
    let store = MemoryStore::new();
    let wal = Wal::open(store.clone(), opts(RecoveryMode::TolerateTornTail))
        .await
        .unwrap();
    for i in 0..45u8 {
        wal.append(&[i; 30]).await.unwrap();
    }
    wal.put_meta("vote", b"term 2").await.unwrap();
    wal.checkpoint(Lsn(30)).await.unwrap();
    wal.put_meta("applied", b"41").await.unwrap();
    wal.put_meta("vote", b"term 3").await.unwrap();
    drop(wal);
    let slot = |i: usize| store.segment_bytes(STATE_SLOTS[i]).unwrap();
    let mut t = Tally::default();

    for (i, id) in STATE_SLOTS.iter().enumerate() {
        let len = slot(i).len();
        // Every bit.
        for at in 0..len {
            for bit in 0..8 {
                let image = store.process_crash();
                image.tamper(*id, |b| b[at] ^= 1 << bit);
                check(
                    image,
                    Want::State,
                    &format!("slot {i}, byte {at} bit {bit}"),
                    &mut t,
                )
                .await;
            }
        }
        // Every cut, zeros after it, and a length no slot can have.
        for cut in 0..len {
            let image = store.process_crash();
            image.tamper(*id, |b| b.truncate(cut));
            check(
                image,
                Want::State,
                &format!("slot {i} cut at {cut}"),
                &mut t,
            )
            .await;
        }
        for extra in [1usize, 4096, (64 << 20) + 1] {
            let image = store.process_crash();
            image.tamper(*id, |b| b.resize(b.len() + extra, 0));
            check(
                image,
                Want::State,
                &format!("slot {i} + {extra} zeros"),
                &mut t,
            )
            .await;
        }
        // The other slot's bytes under this slot's name.
        let image = store.process_crash();
        let other = slot(1 - i);
        image.tamper(*id, |b| *b = other);
        check(
            image,
            Want::State,
            &format!("slot {i} holds slot {}'s bytes", 1 - i),
            &mut t,
        )
        .await;
    }
    // Both slots damaged: lost, never silently.
    let (a, b) = (slot(0).len(), slot(1).len());
    for k in 0..40usize {
        let image = store.process_crash();
        let (x, y) = ((k * 37) % a, (k * 53 + 11) % b);
        image.tamper(STATE_SLOTS[0], |s| s[x] ^= 0x20);
        if k % 3 == 0 {
            image.tamper(STATE_SLOTS[1], |s| s.truncate(y));
        } else {
            image.tamper(STATE_SLOTS[1], |s| s[y] ^= 0x02);
        }
        check(
            image,
            Want::LostLoudly,
            &format!("both slots, {x} and {y}"),
            &mut t,
        )
        .await;
    }

    for s in t.silent_rollbacks.iter().take(10) {
        println!("{s}");
    }
    println!(
        "state slot images: {}, silent rollbacks: {} ({} opens over {} modes)",
        t.images,
        t.silent_rollbacks.len(),
        t.opens,
        MODES.len()
    );
    assert!(t.silent_rollbacks.is_empty());
    assert!(t.images >= 1000, "{} images", t.images);
}
