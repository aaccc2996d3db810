//! How walctl shows things: human-readable sizes, records, progress bars.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// `bytes` as a human-readable size with binary units: `512 B`, `1.5 KiB`, `64.0 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A record's payload as text: escaped UTF-8, or hex.
pub(crate) fn payload(data: &[u8], hex: bool) -> String {
    if hex {
        data.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        String::from_utf8_lossy(data).escape_debug().to_string()
    }
}

/// Prints one record as `LSN<TAB>payload`.
pub(crate) fn print_record(
    out: &mut dyn Write,
    lsn: u64,
    data: &[u8],
    hex: bool,
) -> std::io::Result<()> {
    writeln!(out, "{lsn}\t{}", payload(data, hex))
}

/// A progress bar over `total` bytes on stderr, drawn only when stderr is a terminal.
pub(crate) fn bytes_bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// A spinner on stderr for a step of unknown length, drawn only when stderr is a terminal.
pub(crate) fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn payloads_print_as_text_or_hex() {
        assert_eq!(payload(b"a\tb", false), "a\\tb");
        assert_eq!(payload(&[0, 0xab], true), "00ab");
    }
}
