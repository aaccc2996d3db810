//! Writing a segment's bytes again so that the next `fsync` writes them, whatever a failed
//! write-back of an earlier process did to their pages ([`SegmentStore::rewrite`] of
//! `FsStore`): Linux marks the pages of a failed write-back clean, so they read back but a
//! later `fsync` alone never writes them.
//!
//! [`SegmentStore::rewrite`]: wal_api::SegmentStore::rewrite

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Makes the bytes of `range` reach the disk with the next `fsync`, whatever a failed
/// write-back of an earlier process did to their pages: when the device already holds them
/// (read past the page cache with `O_DIRECT`, where the platform and file system offer it),
/// nothing is written; otherwise the same bytes are written back at the same offsets, a
/// window at a time (bounded memory), so the page cache holds them dirty.
pub(crate) fn rewrite_in_place(path: &Path, file: &File, range: Range<u64>) -> std::io::Result<()> {
    if range.is_empty() || on_disk_as_cached(path, file, range.clone()).unwrap_or(false) {
        return Ok(());
    }
    const WINDOW: u64 = 1 << 20;
    let mut buf = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(WINDOW) as usize;
        buf.resize(n, 0);
        file.read_exact_at(&mut buf, at)?;
        file.write_all_at(&buf, at)?;
        at += n as u64;
    }
    Ok(())
}

/// `O_DIRECT` for `OpenOptionsExt::custom_flags` where its value is known (it differs
/// between architectures); elsewhere `None`, and bytes are always written again.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
const O_DIRECT: Option<i32> = Some(0o40000);
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: Option<i32> = Some(0o200000);
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm"
    )
)))]
const O_DIRECT: Option<i32> = None;

/// Whether the device holds exactly what the page cache returns for `range` of `file`: read
/// once through an `O_DIRECT` descriptor (which first writes back pages still dirty, and never
/// serves from the cache) and once through the cache. `Ok(false)` at the first difference;
/// an error when direct I/O is not available (the caller then writes the bytes again).
fn on_disk_as_cached(path: &Path, file: &File, range: Range<u64>) -> std::io::Result<bool> {
    const ALIGN: u64 = 4096;
    const WINDOW: u64 = 1 << 20;
    let Some(flag) = O_DIRECT else {
        return Ok(false);
    };
    let direct = OpenOptions::new()
        .read(true)
        .custom_flags(flag)
        .open(path)?;
    // An aligned window inside a plain buffer (direct I/O needs aligned memory).
    let mut raw = vec![0u8; (WINDOW + ALIGN) as usize];
    let skew = (ALIGN as usize - raw.as_ptr() as usize % ALIGN as usize) % ALIGN as usize;
    let mut cached = Vec::new();
    let mut at = range.start / ALIGN * ALIGN;
    while at < range.end {
        let want = (range.end - at).min(WINDOW).div_ceil(ALIGN) * ALIGN;
        let window = &mut raw[skew..skew + want as usize];
        let mut got = 0usize;
        while got < window.len() {
            let n = direct.read_at(&mut window[got..], at + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let (lo, hi) = (range.start.max(at), range.end.min(at + want));
        if at + (got as u64) < hi {
            return Ok(false);
        }
        cached.resize((hi - lo) as usize, 0);
        file.read_exact_at(&mut cached, lo)?;
        if window[(lo - at) as usize..(hi - at) as usize] != cached[..] {
            return Ok(false);
        }
        at += want;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rewriting_keeps_the_bytes_and_sees_a_synced_file_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        file.sync_all().unwrap();
        // Synced: the device holds what the cache does (when the file system offers direct
        // I/O at all; tmpfs does not, and then the bytes are written again).
        match on_disk_as_cached(&path, &file, 100..19_000) {
            Ok(same) => assert!(same),
            Err(e) => eprintln!("no direct I/O here ({e}): the bytes are written again"),
        }
        rewrite_in_place(&path, &file, 5..19_999).unwrap();
        file.sync_all().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
