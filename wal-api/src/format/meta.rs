//! Payloads of meta frames ([`FrameKind::Meta`]).
//!
//! A meta payload starts with one byte naming what it holds (see `docs/FORMAT.md`):
//!
//! | first byte | name | rest of the payload |
//! |---|---|---|
//! | 1 | state | the log's state, only in state slots ([`super::state`]) |
//! | 2 | reset | 8 bytes: the LSN the log restarts at (little-endian `u64`, never 0) |

use super::{decode_frame, FrameKind, Layout};
use crate::lsn::Lsn;

/// First payload byte of a meta frame that holds the log's state ([`super::state`]).
pub const META_MAP: u8 = 1;
/// First payload byte of a meta frame that records a reset ([`encode_reset`]).
pub const META_RESET: u8 = 2;
/// Payload length of a reset meta frame.
pub const RESET_PAYLOAD_LEN: usize = 9;
/// Length of a whole reset meta frame (header and payload).
pub const RESET_FRAME_LEN: usize = super::FRAME_HEADER_LEN + RESET_PAYLOAD_LEN;

/// The payload of a reset meta frame: the log restarts at `next`.
pub fn encode_reset(next: Lsn) -> [u8; RESET_PAYLOAD_LEN] {
    let mut p = [0u8; RESET_PAYLOAD_LEN];
    p[0] = META_RESET;
    p[1..].copy_from_slice(&next.0.to_le_bytes());
    p
}

/// The LSN a reset meta payload restarts the log at, or `None` when `payload` is not one.
pub fn decode_reset(payload: &[u8]) -> Option<Lsn> {
    if payload.len() != RESET_PAYLOAD_LEN || payload[0] != META_RESET {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&payload[1..]);
    let next = u64::from_le_bytes(b);
    (next != 0 && next != u64::MAX).then_some(Lsn(next))
}

/// The LSN a reset intent restarts the log at, when `bytes` (the frame right before the
/// trailer of a sealed segment whose last LSN is `last`) is an in-place reset frame.
pub fn reset_intent_frame(bytes: &[u8], layout: Layout, last: Lsn) -> Option<Lsn> {
    match decode_frame(bytes, layout) {
        Ok(fr)
            if fr.kind == FrameKind::Meta
                && fr.len() == RESET_FRAME_LEN
                && fr.lsn == last.next() =>
        {
            decode_reset(fr.payload)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_payload_round_trips_and_rejects_others() {
        let p = encode_reset(Lsn(0x0102_0304));
        assert_eq!(p, [2, 4, 3, 2, 1, 0, 0, 0, 0]);
        assert_eq!(decode_reset(&p), Some(Lsn(0x0102_0304)));
        assert_eq!(decode_reset(&encode_reset(Lsn(0))), None);
        assert_eq!(decode_reset(&p[..8]), None);
        let mut map = p;
        map[0] = META_MAP;
        assert_eq!(decode_reset(&map), None);
    }
}
