//! What a power loss leaves of one file: the synced bytes, and a seeded part of the rest.
//!
//! Two disk models. [`power_loss_image`] persists unsynced bytes in order (a prefix survives,
//! maybe followed by a torn stretch). [`reordered_power_loss_image`] persists them the way a
//! page cache writes back: whole 4 KiB pages in any order, each page whole, lost or torn at
//! 512-byte sectors, so a later page can reach the disk while an earlier one does not.

use std::ops::Range;

use crate::rng::SplitMix;

/// The page size of [`reordered_power_loss_image`]: the unit a page cache writes back.
pub const PAGE_SIZE: usize = 4096;

/// The sector size of [`reordered_power_loss_image`]: the unit a disk writes atomically.
pub const SECTOR_SIZE: usize = 512;

/// The bytes a power loss leaves of a file of which the first `durable` bytes were synced:
/// those survive, and the rest, chosen by `seed`, is lost (40%), survives up to a random point
/// (30%), or survives up to a random point followed by a torn stretch of garbage or zeros
/// (30%). The same bytes and seed always give the same image.
///
/// [`MemoryStore::crash`](crate::MemoryStore::crash) applies it to every segment; a backend's
/// `StoreFactory::crash` can apply it to its own files, with a different seed per file (the
/// crash seed mixed with the segment id, say) so that files do not all fail alike.
pub fn power_loss_image(bytes: &[u8], durable: usize, seed: u64) -> Vec<u8> {
    power_loss_image_with(bytes, durable, &mut SplitMix::new(seed))
}

/// [`power_loss_image`] drawing from `rng` (one generator across the segments of a store).
pub(crate) fn power_loss_image_with(bytes: &[u8], durable: usize, rng: &mut SplitMix) -> Vec<u8> {
    let durable = durable.min(bytes.len());
    let mut image = bytes[..durable].to_vec();
    let unsynced = &bytes[durable..];
    if unsynced.is_empty() {
        return image;
    }
    let roll = rng.below(10);
    if roll >= 4 {
        let keep = rng.below(unsynced.len() as u64 + 1) as usize;
        image.extend_from_slice(&unsynced[..keep]);
        if roll >= 7 && keep < unsynced.len() {
            let torn = 1 + rng.below((unsynced.len() - keep) as u64) as usize;
            let zeros = rng.below(2) == 0;
            for _ in 0..torn {
                image.push(if zeros { 0 } else { rng.next_u64() as u8 });
            }
        }
    }
    image
}

/// The bytes a power loss leaves of a file whose first `durable` bytes were synced, on a disk
/// that writes unsynced pages back out of order.
///
/// Synced bytes survive. Every [`PAGE_SIZE`] page holding unsynced bytes, chosen by `seed`
/// independently of the others, reached the disk whole, not at all (its unsynced bytes read as
/// zeros), or torn: each of its [`SECTOR_SIZE`] sectors reached the disk or not. Then the
/// file's length either reached the disk too (lost pages at the end read as zeros) or stops
/// after the last unsynced byte that did.
///
/// The same bytes and seed always give the same image.
///
/// [`MemoryStore::crash_reordered`](crate::MemoryStore::crash_reordered) applies it to every
/// segment; a backend's `StoreFactory::crash_reordered` can apply it to its own files, with a
/// different seed per file.
pub fn reordered_power_loss_image(bytes: &[u8], durable: usize, seed: u64) -> Vec<u8> {
    reordered_power_loss_image_with(bytes, durable, &mut SplitMix::new(seed))
}

/// [`reordered_power_loss_image`] drawing from `rng`.
pub(crate) fn reordered_power_loss_image_with(
    bytes: &[u8],
    durable: usize,
    rng: &mut SplitMix,
) -> Vec<u8> {
    let len = bytes.len();
    let durable = durable.min(len);
    let mut image = bytes.to_vec();
    if durable == len {
        return image;
    }
    let mut persisted_end = durable;
    let lose = |image: &mut Vec<u8>, r: Range<usize>| image[r].fill(0);
    for page in durable / PAGE_SIZE..len.div_ceil(PAGE_SIZE) {
        let start = (page * PAGE_SIZE).max(durable);
        let end = ((page + 1) * PAGE_SIZE).min(len);
        match rng.below(3) {
            0 => persisted_end = end,
            1 => lose(&mut image, start..end),
            _ => {
                for sector in start / SECTOR_SIZE..end.div_ceil(SECTOR_SIZE) {
                    let s = (sector * SECTOR_SIZE).max(start);
                    let e = ((sector + 1) * SECTOR_SIZE).min(end);
                    if rng.below(2) == 0 {
                        lose(&mut image, s..e);
                    } else {
                        persisted_end = e;
                    }
                }
            }
        }
    }
    if rng.below(2) == 0 {
        image.truncate(persisted_end);
    }
    image
}

/// Zeroes the parts of `ranges` that lie inside `image` (bytes that never reached the disk).
pub(crate) fn zero_ranges(image: &mut [u8], ranges: &[Range<usize>]) {
    for r in ranges {
        let end = r.end.min(image.len());
        if r.start < end {
            image[r.start..end].fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 + 1).collect()
    }

    #[test]
    fn reordered_image_keeps_synced_bytes_and_only_drops_whole_sectors() {
        let data = bytes(5 * PAGE_SIZE + 300);
        let durable = PAGE_SIZE + 100;
        let mut later_page_without_earlier = false;
        for seed in 0..200 {
            let img = reordered_power_loss_image(&data, durable, seed);
            assert!(
                img.len() >= durable && img.len() <= data.len(),
                "seed {seed}"
            );
            assert_eq!(&img[..durable], &data[..durable], "seed {seed}");
            // Every sector-sized stretch of unsynced bytes is either all there or all zeros.
            let mut s = durable;
            while s < img.len() {
                let e = ((s / SECTOR_SIZE + 1) * SECTOR_SIZE).min(img.len());
                let kept = img[s..e] == data[s..e];
                let zero = img[s..e].iter().all(|&b| b == 0);
                assert!(kept || zero, "seed {seed}: sector at {s} is mixed");
                s = e;
            }
            let page_kept = |p: usize| {
                let (a, b) = (p * PAGE_SIZE, ((p + 1) * PAGE_SIZE).min(img.len()));
                a < b && img[a..b] == data[a..b]
            };
            let page_zero = |p: usize| {
                let (a, b) = (p * PAGE_SIZE, ((p + 1) * PAGE_SIZE).min(img.len()));
                a < b && img[a..b].iter().all(|&x| x == 0)
            };
            if (2..5).any(|p| page_zero(p) && (p + 1..6).any(page_kept)) {
                later_page_without_earlier = true;
            }
        }
        assert!(
            later_page_without_earlier,
            "no seed persisted a later page while losing an earlier one"
        );
    }

    #[test]
    fn fully_synced_file_is_unchanged_by_either_model() {
        let data = bytes(3000);
        assert_eq!(power_loss_image(&data, 3000, 3), data);
        assert_eq!(reordered_power_loss_image(&data, 3000, 3), data);
    }
}
