//! Self-describing payloads shared by the crash writer and `tests/sigkill.rs`.

/// Record `seq` of `task` in run `run`: 16 bytes of identity (`run` u32, `task` u32, `seq` u64,
/// little-endian), then 8..=207 filler bytes derived from them.
pub(crate) fn payload(run: u32, task: u32, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(224);
    out.extend_from_slice(&run.to_le_bytes());
    out.extend_from_slice(&task.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let mut x = ((u64::from(run) << 40) ^ (u64::from(task) << 32) ^ seq)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        | 1;
    let len = 8 + (x % 200) as usize;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out
}

/// Whether `data` is exactly the payload its first 16 bytes name.
#[allow(dead_code)]
pub(crate) fn is_well_formed(data: &[u8]) -> bool {
    if data.len() < 16 {
        return false;
    }
    let mut a = [0u8; 4];
    let mut b = [0u8; 8];
    a.copy_from_slice(&data[0..4]);
    let run = u32::from_le_bytes(a);
    a.copy_from_slice(&data[4..8]);
    let task = u32::from_le_bytes(a);
    b.copy_from_slice(&data[8..16]);
    let seq = u64::from_le_bytes(b);
    payload(run, task, seq) == data
}
