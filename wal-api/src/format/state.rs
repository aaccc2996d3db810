//! State slots: the log's durable metadata map and checkpoint, kept beside the segments.
//!
//! Two store entries with the reserved ids [`STATE_SLOTS`] hold the log's *state*: a version
//! number, the last checkpoint and the metadata map. Each is written whole (a segment header,
//! then one meta frame holding the state, nothing after it) and never appended to. A change
//! writes the new state into both slots, one after the other (slot `u64::MAX - 2` first), and
//! is acknowledged only once both are sealed: at most one slot is ever being written, so a
//! crash leaves the other whole, and an acknowledged state lives in two copies, so damage to
//! one slot never rolls it back. Which state a log opens with is decided by [`decide_state`]
//! alone, for the engine and the tools (see `docs/FORMAT.md`, "State slots").
//!
//! Slots are not part of the record sequence: recovery, readers, the archiver and `walctl`
//! skip them, and no truncation touches them.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::meta::META_MAP;
use super::{
    decode_frame, encode_marker, FrameKind, SegmentHeader, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::lsn::{Lsn, SegmentId};

/// The ids of the two state slots (`u64::MAX - 2` and `u64::MAX - 1`). No segment of
/// records ever takes them.
pub const STATE_SLOTS: [SegmentId; 2] = [SegmentId(u64::MAX - 2), SegmentId(u64::MAX - 1)];

/// Bytes a state payload takes before its entries: kind byte, version, checkpoint, count.
const STATE_FIXED_LEN: usize = 1 + 8 + 8 + 4;

/// Longest metadata key, in bytes.
pub const MAX_META_KEY: usize = 1024;

/// The highest id a segment of records may take: ids above it are reserved (the state slots,
/// and `u64::MAX`, which no id may reach so that `id + 1` never overflows).
pub const MAX_SEGMENT_ID: SegmentId = SegmentId(u64::MAX - 3);

/// Whether `id` is one of the [`STATE_SLOTS`].
pub fn is_state_slot(id: SegmentId) -> bool {
    STATE_SLOTS.contains(&id)
}

/// What one state slot holds, as read at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotRead {
    /// No entry with the slot's id.
    Absent,
    /// An entry that is not a valid slot ([`LogState::decode_slot`] refuses it): a write a
    /// crash interrupted, or damage.
    Invalid,
    /// A valid slot and the state it holds.
    Valid(LogState),
}

/// The state a log opens with, as [`decide_state`] finds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDecision {
    /// The state: the newest one a slot holds (empty when no slot was ever written).
    pub state: LogState,
    /// Slots present but invalid: a write a crash interrupted, or damage (reported).
    pub damaged: Vec<SegmentId>,
    /// Slots that do not hold [`state`](Self::state) (absent, invalid or older): recovery
    /// rewrites them so that the state has two copies again.
    pub stale: Vec<SegmentId>,
}

/// Decides the log's state from its two slots (`slots[i]` is what [`STATE_SLOTS`]`[i]`
/// holds). The one rule, applied by the engine and by `walctl`:
///
/// - neither slot valid: when both are present (both damaged: an acknowledged state had
///   two copies, and a crash only ever interrupts the write of one), the state is lost and
///   this is an error naming why; otherwise no state was ever acknowledged, and the state is
///   empty;
/// - two valid slots of one version must hold the same state (an error otherwise);
/// - else the valid slot with the higher version wins.
///
/// An acknowledged state is in both slots, so no single damaged slot rolls it back.
pub fn decide_state(slots: [SlotRead; 2]) -> Result<StateDecision, String> {
    let mut best: Option<&LogState> = None;
    for s in &slots {
        if let SlotRead::Valid(s) = s {
            match best {
                Some(b) if b.version == s.version && b != s => {
                    return Err(format!(
                        "the two state slots hold different states under version {}",
                        s.version
                    ));
                }
                Some(b) if b.version >= s.version => {}
                _ => best = Some(s),
            }
        }
    }
    let damaged: Vec<SegmentId> = STATE_SLOTS
        .iter()
        .zip(&slots)
        .filter(|(_, s)| **s == SlotRead::Invalid)
        .map(|(id, _)| *id)
        .collect();
    let state = match best {
        Some(b) => b.clone(),
        None if damaged.len() == 2 => {
            return Err(
                "both state slots are damaged: the log's metadata and checkpoint are lost".into(),
            );
        }
        None => LogState::default(),
    };
    let stale = STATE_SLOTS
        .iter()
        .zip(&slots)
        .filter(|(_, s)| match s {
            SlotRead::Valid(s) => *s != state,
            // No state was ever written and no slot holds anything: nothing to rewrite.
            SlotRead::Absent => state.version != 0,
            SlotRead::Invalid => true,
        })
        .map(|(id, _)| *id)
        .collect();
    Ok(StateDecision {
        state,
        damaged,
        stale,
    })
}

/// The log's durable state: what a state slot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    /// Incremented by every write; 0 means "never written".
    pub version: u64,
    /// The last checkpoint (records at or below it are never returned), if any.
    pub checkpoint: Option<Lsn>,
    /// The metadata map.
    pub meta: BTreeMap<String, Bytes>,
}

impl LogState {
    /// Length of the state payload [`encode_payload`](Self::encode_payload) writes.
    pub fn payload_len(&self) -> usize {
        STATE_FIXED_LEN
            + self
                .meta
                .iter()
                .map(|(k, v)| 2 + k.len() + 4 + v.len())
                .sum::<usize>()
    }

    /// The meta frame payload: `1` (metadata map), version, checkpoint (0: none), entry
    /// count, then per entry `u16` key length, key (UTF-8), `u32` value length, value.
    pub fn encode_payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.payload_len());
        p.push(META_MAP);
        p.extend_from_slice(&self.version.to_le_bytes());
        p.extend_from_slice(&self.checkpoint.map_or(0, |c| c.0).to_le_bytes());
        p.extend_from_slice(&(self.meta.len() as u32).to_le_bytes());
        for (k, v) in &self.meta {
            p.extend_from_slice(&(k.len() as u16).to_le_bytes());
            p.extend_from_slice(k.as_bytes());
            p.extend_from_slice(&(v.len() as u32).to_le_bytes());
            p.extend_from_slice(v);
        }
        p
    }

    /// Decodes a state payload; `None` unless it is one, exactly filled.
    pub fn decode_payload(p: &[u8]) -> Option<LogState> {
        let mut r = Reader(p);
        if r.take(1)? != [META_MAP] {
            return None;
        }
        let version = r.u64()?;
        let checkpoint = Some(Lsn(r.u64()?)).filter(|c| !c.is_none());
        let count = r.u32()?;
        let mut meta = BTreeMap::new();
        for _ in 0..count {
            let klen = usize::from(r.u16()?);
            let key = std::str::from_utf8(r.take(klen)?).ok()?.to_owned();
            let vlen = r.u32()? as usize;
            let value = Bytes::copy_from_slice(r.take(vlen)?);
            // Sorted by key, no key twice.
            if meta.last_key_value().is_some_and(|(last, _)| *last >= key) {
                return None;
            }
            meta.insert(key, value);
        }
        (r.0.is_empty() && version != 0).then_some(LogState {
            version,
            checkpoint,
            meta,
        })
    }

    /// The whole bytes of a slot holding this state, with `header` (its id one of the
    /// [`STATE_SLOTS`]; its base LSN is 1).
    pub fn encode_slot(&self, header: &SegmentHeader) -> Vec<u8> {
        let mut out = header.encode().to_vec();
        encode_marker(
            &mut out,
            header.salt,
            FrameKind::Meta,
            Lsn::FIRST,
            Lsn::NONE,
            &self.encode_payload(),
        );
        out
    }

    /// The longest a valid slot can be, from the first [`SEGMENT_HEADER_LEN`] bytes of an
    /// entry (`None` when they are not a valid header): a slot longer than this is invalid
    /// without reading it, so no file size drives an allocation.
    pub fn max_slot_len(prefix: &[u8]) -> Option<u64> {
        let h = SegmentHeader::decode(prefix).ok()?;
        Some(
            SEGMENT_HEADER_LEN as u64 + FRAME_HEADER_LEN as u64 + u64::from(h.layout().max_payload),
        )
    }

    /// Decodes the bytes of state slot `id`: a valid header naming `id`, then one meta frame
    /// holding a state, then nothing. (A sealed slot ends at its frame; anything else is a
    /// write that did not complete, or damage.)
    pub fn decode_slot(id: SegmentId, bytes: &[u8]) -> Option<LogState> {
        let h = SegmentHeader::decode(bytes).ok()?;
        if h.id != id {
            return None;
        }
        let rest = bytes.get(SEGMENT_HEADER_LEN..)?;
        let f = decode_frame(rest, h.layout()).ok()?;
        if f.kind != FrameKind::Meta || f.lsn != Lsn::FIRST {
            return None;
        }
        if rest.len() != f.len() {
            return None;
        }
        LogState::decode_payload(f.payload)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LogState {
        let mut meta = BTreeMap::new();
        meta.insert("vote".to_owned(), Bytes::from_static(b"term 3 for node 2"));
        meta.insert("".to_owned(), Bytes::new());
        LogState {
            version: 7,
            checkpoint: Some(Lsn(41)),
            meta,
        }
    }

    #[test]
    fn slot_round_trips_and_rejects_damage() {
        let s = state();
        let id = STATE_SLOTS[1];
        let h = SegmentHeader::new(id, Lsn::FIRST, 99);
        let bytes = s.encode_slot(&h);
        assert_eq!(bytes.len(), SEGMENT_HEADER_LEN + 32 + s.payload_len());
        assert_eq!(LogState::decode_slot(id, &bytes), Some(s.clone()));
        assert!(LogState::max_slot_len(&bytes).unwrap() >= bytes.len() as u64);
        // A sealed slot ends at its frame: zeros (an unsealed write) or anything else after
        // it is not a slot.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 100]);
        assert_eq!(LogState::decode_slot(id, &padded), None);
        // The other slot's id, a torn write, a flipped byte: not a slot.
        assert_eq!(LogState::decode_slot(STATE_SLOTS[0], &bytes), None);
        for cut in 0..bytes.len() {
            assert_eq!(
                LogState::decode_slot(id, &bytes[..cut]),
                None,
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x10;
            assert_eq!(LogState::decode_slot(id, &b), None, "flip at {at}");
        }
    }

    #[test]
    fn payload_rejects_duplicates_and_leftovers() {
        let s = state();
        let mut p = s.encode_payload();
        assert_eq!(LogState::decode_payload(&p), Some(s));
        p.push(0);
        assert_eq!(LogState::decode_payload(&p), None);
        // Two entries with the same key.
        let mut dup = LogState {
            version: 1,
            ..LogState::default()
        }
        .encode_payload();
        dup[17..21].copy_from_slice(&2u32.to_le_bytes());
        for _ in 0..2 {
            dup.extend_from_slice(&1u16.to_le_bytes());
            dup.push(b'k');
            dup.extend_from_slice(&0u32.to_le_bytes());
        }
        assert_eq!(LogState::decode_payload(&dup), None);
        assert!(is_state_slot(STATE_SLOTS[0]) && is_state_slot(STATE_SLOTS[1]));
        assert!(!is_state_slot(SegmentId(u64::MAX - 3)));
        assert!(!is_state_slot(SegmentId(u64::MAX)));
    }

    #[test]
    fn decide_state_never_rolls_back_an_acknowledged_state() {
        use SlotRead::{Absent, Invalid, Valid};
        let new = state();
        let old = LogState {
            version: 6,
            ..state()
        };
        let d = |a, b| decide_state([a, b]);
        // Both copies, one damaged or missing: the newest state, the other slot stale.
        for other in [Invalid, Absent, Valid(old.clone())] {
            let got = d(Valid(new.clone()), other.clone()).unwrap();
            assert_eq!((got.state, got.stale), (new.clone(), vec![STATE_SLOTS[1]]));
            let got = d(other.clone(), Valid(new.clone())).unwrap();
            assert_eq!((got.state, got.stale), (new.clone(), vec![STATE_SLOTS[0]]));
        }
        // Both damaged: refused, never an empty state.
        assert!(d(Invalid, Invalid).is_err());
        // One write interrupted before any state was acknowledged: empty.
        let got = d(Invalid, Absent).unwrap();
        assert_eq!(got.state, LogState::default());
        assert_eq!(got.damaged, vec![STATE_SLOTS[0]]);
        assert_eq!(d(Absent, Absent).unwrap(), StateDecision::default());
        // Two copies that disagree under one version.
        let mut other = new.clone();
        other.checkpoint = None;
        assert!(d(Valid(new.clone()), Valid(other)).is_err());
        let both = d(Valid(new.clone()), Valid(new.clone())).unwrap();
        assert!(both.stale.is_empty() && both.damaged.is_empty());
    }
}
