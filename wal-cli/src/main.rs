//! `walctl`: inspect, verify, repair, follow, archive, restore, probe and benchmark
//! write-ahead logs.
//!
//! `walctl --help` lists the subcommands and `walctl help <subcommand>` (or
//! `walctl <subcommand> --help`) explains one. Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; the log (or storage) checked out |
//! | 1 | a problem was found in the log or the storage: corruption, an LSN gap, a repair that is needed, a failed probe |
//! | 2 | usage error, or the target could not be used at all: a missing directory, a directory or URL that holds no log, an I/O error, a lock held by a writer |
//!
//! `stat`, `verify`, `dump` and `tail` only read: they take no lock and are safe next to a
//! running writer (`tail` shows records once the writer has handed them to the file system,
//! which can be before they are durable). `archive`, `restore`, `repair --apply` and `bench`
//! take the log directory's lock, so they refuse a directory a writer holds.

mod bench;
mod dryrun;
mod inspect;
mod output;
mod probe;
mod remote;
mod repair;
mod source;
mod tail;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use wal_api::{Lsn, RecoveryMode};

/// How a subcommand ended, when it could run at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing wrong: exit 0.
    Clean,
    /// A problem found in the log or the storage: exit 1.
    Problem,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  done; the log (or storage) checked out
  1  a problem was found in the log or the storage (corruption, an LSN gap, a repair that is
     needed, a failed probe)
  2  usage error, or the target could not be used at all (missing directory, a directory or
     URL that holds no log, an I/O error, a lock held by a writer)

URL: s3://BUCKET/PREFIX (AWS_* variables; AWS_ENDPOINT for MinIO or moto), gs://BUCKET/PREFIX
(feature gcp), az://CONTAINER/PREFIX (feature azure), file:///DIR";

/// Inspect, verify, repair, follow, archive, restore, probe and benchmark write-ahead logs.
#[derive(Debug, Parser)]
#[command(name = "walctl", version, after_help = EXIT_CODES, arg_required_else_help = true)]
struct Cli {
    /// Keys of an encrypted log: a file of lines `ID HEX` (a key id, then its 32-byte key
    /// as 64 hex digits; `#` starts a comment). Also `WALCTL_KEYS`. Without it, records of
    /// encrypted segments are reported unreadable (verdicts on damage need no key).
    #[arg(long, global = true, value_name = "FILE")]
    keys: Option<std::path::PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The recovery modes `repair` can run.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Cut a torn tail of the last segment; any other damage is refused.
    TolerateTornTail,
    /// Every byte must check out; nothing is cut but a clean zero fill.
    Absolute,
    /// Keep everything before the first bad byte; quarantine what follows.
    PointInTime,
    /// Skip frames that fail their checks and keep everything else.
    SkipCorrupted,
}

impl From<Mode> for RecoveryMode {
    fn from(m: Mode) -> RecoveryMode {
        match m {
            Mode::TolerateTornTail => RecoveryMode::TolerateTornTail,
            Mode::Absolute => RecoveryMode::AbsoluteConsistency,
            Mode::PointInTime => RecoveryMode::PointInTime,
            Mode::SkipCorrupted => RecoveryMode::SkipCorrupted,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Segments, LSN ranges, sizes and sealed/torn state; exit 1 if anything is wrong.
    #[command(after_help = EXIT_CODES)]
    Stat {
        /// Log directory, or URL of an archive or of a log on object storage.
        target: String,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check every frame, every seal and the LSN chain; exit 1 on any problem.
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// Log directory, or URL of an archive or of a log on object storage.
        target: String,
        /// One JSON object with the verdict and the problems.
        #[arg(long)]
        json: bool,
    },
    /// Print records as `LSN<TAB>payload`; exit 1 at damage or an LSN gap.
    ///
    /// At damage: prints the good records before it, reports the damage (segment, offset, reason) on stderr and stops; an LSN gap between
    /// segments is reported and dumping goes on. Exit 1 when anything was reported.
    #[command(after_help = EXIT_CODES)]
    Dump {
        /// Log directory, or URL of an archive or of a log on object storage.
        target: String,
        /// First LSN to print.
        #[arg(long, value_name = "LSN", default_value_t = 1)]
        from: u64,
        /// Last LSN to print.
        #[arg(long, value_name = "LSN")]
        to: Option<u64>,
        /// Only records appended at or after this time: RFC 3339 in UTC
        /// (`2026-12-07T12:00:00Z`, fractions allowed) or microseconds since the Unix epoch.
        /// Needs a log the engine opens whole and frames with times (format version 3).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<u64>,
        /// Only records appended at or before this time (as `--since`).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<u64>,
        /// Payloads in hex instead of escaped text.
        #[arg(long)]
        hex: bool,
        /// JSON lines, lossless: `{"lsn":N,"data":"<text>"}` per record whose payload is
        /// UTF-8 (`{"lsn":N,"hex":"<hex>"}` otherwise, or with `--hex`), with `"time"` (µs
        /// since the epoch) when the frame records one, `{"problem":{...}}` per problem. A range holding none of the log's records is an error (exit 2).
        #[arg(long)]
        json: bool,
    },
    /// Follow a log directory while a writer appends; exit 1 at a corrupt frame.
    #[command(after_help = EXIT_CODES)]
    Tail {
        /// Log directory.
        dir: String,
        /// First LSN to print.
        #[arg(long, value_name = "LSN", default_value_t = 1)]
        from: u64,
        /// Payloads in hex instead of escaped text.
        #[arg(long)]
        hex: bool,
        /// Milliseconds between polls.
        #[arg(long, value_name = "MS", default_value_t = 200)]
        poll_ms: u64,
        /// Exit (0) after this many milliseconds without a new record.
        #[arg(long, value_name = "MS")]
        exit_idle_ms: Option<u64>,
    },
    /// Archive every sealed segment but the newest to object storage.
    #[command(after_help = EXIT_CODES)]
    Archive {
        /// Log directory (must exist; it is never created).
        dir: String,
        /// Where the archive lives.
        url: String,
    },
    /// Rebuild a log in an empty directory from an archive.
    #[command(after_help = EXIT_CODES)]
    Restore {
        /// Where the archive lives.
        url: String,
        /// Empty (or missing) directory to restore into.
        dir: String,
        /// Last LSN to restore (cut at the last whole frame at or before it).
        #[arg(long, value_name = "LSN")]
        to: Option<u64>,
    },
    /// Show what recovery in a mode would cut, remove or quarantine; change it with --apply.
    ///
    /// Without --apply the segments are copied into memory and recovered there: not a byte
    /// of the directory changes. Exit 1 when recovery would change something or refuses the
    /// log, 0 when there is nothing to repair or --apply repaired it.
    #[command(after_help = EXIT_CODES)]
    Repair {
        /// Log directory.
        dir: String,
        /// Recovery mode to run.
        #[arg(long, value_enum)]
        mode: Mode,
        /// Run the recovery on the directory itself (takes its lock).
        #[arg(long)]
        apply: bool,
    },
    /// Check what the log relies on from a directory's file system or an object store.
    ///
    /// Directory: that fdatasync is not so fast it must be a volatile cache, exclusive
    /// create, listing after a write. URL: that a conditional create of an existing object is
    /// refused, copy-if-not-exists, listing after a write. Exit 1 when a check fails.
    #[command(after_help = EXIT_CODES)]
    Probe {
        /// Directory or object-store URL.
        target: String,
    },
    /// Durable appends on the file system backend against the disk's own fdatasync.
    #[command(after_help = EXIT_CODES)]
    Bench {
        /// Directory to benchmark in (a scratch log is made under it and removed).
        dir: String,
        /// Concurrent appending tasks.
        #[arg(long, default_value_t = 16)]
        appenders: u64,
        /// Seconds to run.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Record size in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 100)]
        size: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let keys = cli
        .keys
        .clone()
        .or_else(|| std::env::var_os("WALCTL_KEYS").map(std::path::PathBuf::from));
    if let Some(path) = &keys {
        match dryrun::load_keys(path) {
            Ok(keys) => dryrun::set_keys(keys),
            Err(e) => {
                eprintln!("walctl: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match run(cli.cmd) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(1),
        Err(Failure::Log(e)) => {
            eprintln!("walctl: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("walctl: {e}");
            ExitCode::from(2)
        }
    }
}

/// Why a subcommand could not finish.
enum Failure {
    /// A problem in the log itself (exit 1).
    Log(String),
    /// Anything else: usage, I/O, a target that is not a log (exit 2).
    Usage(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Usage(e)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

fn run(cmd: Cmd) -> Result<Outcome, Failure> {
    let rt = runtime()?;
    let out = match cmd {
        Cmd::Stat { target, json } => rt.block_on(async {
            let src = source::Source::open(&target).await?;
            inspect::stat(&src, json).await
        })?,
        Cmd::Verify { target, json } => rt.block_on(async {
            let src = source::Source::open(&target).await?;
            inspect::verify(&src, json).await
        })?,
        Cmd::Dump {
            target,
            from,
            to,
            since,
            until,
            hex,
            json,
        } => rt.block_on(async {
            let src = source::Source::open(&target).await?;
            let range = inspect::DumpRange {
                from: Lsn(from),
                to: Lsn(to.unwrap_or(u64::MAX)),
                since,
                until,
            };
            inspect::dump(&src, range, hex, json).await
        })?,
        Cmd::Tail {
            dir,
            from,
            hex,
            poll_ms,
            exit_idle_ms,
        } => tail(&dir, Lsn(from), hex, poll_ms, exit_idle_ms)?,
        Cmd::Archive { dir, url } => rt.block_on(remote::archive(&dir, &url))?,
        Cmd::Restore { url, dir, to } => {
            rt.block_on(remote::restore(&url, &dir, Lsn(to.unwrap_or(u64::MAX))))?
        }
        Cmd::Repair { dir, mode, apply } => {
            rt.block_on(repair::repair(&dir, mode.into(), apply))?
        }
        Cmd::Probe { target } if target.contains("://") => {
            rt.block_on(probe::probe_url(&target))?
        }
        Cmd::Probe { target } => probe::probe_dir(&target)?,
        Cmd::Bench {
            dir,
            appenders,
            seconds,
            size,
        } => rt.block_on(bench::run(
            &dir,
            bench::Config {
                appenders,
                seconds,
                size,
            },
        ))?,
    };
    Ok(out)
}

/// `walctl tail`: polls until idle for `exit_idle_ms` (or forever).
fn tail(
    dir: &str,
    from: Lsn,
    hex: bool,
    poll_ms: u64,
    exit_idle_ms: Option<u64>,
) -> Result<Outcome, Failure> {
    if !std::path::Path::new(dir).is_dir() {
        return Err(Failure::Usage(format!("{dir}: no such directory")));
    }
    let poll = Duration::from_millis(poll_ms.max(1));
    let idle_exit = exit_idle_ms.map(Duration::from_millis);
    let mut follower = tail::Follower::new(dir, from, hex);
    let mut last_new = Instant::now();
    loop {
        let mut out = std::io::stdout().lock();
        let polled = follower.poll(&mut out);
        let _ = out.flush();
        drop(out);
        match polled {
            Ok(n) if n > 0 => last_new = Instant::now(),
            Ok(_) => {}
            Err(e) => return Err(tail_failure(e)),
        }
        let idle = idle_exit.is_some_and(|d| last_new.elapsed() >= d);
        if let Some(e) = follower.damage(idle) {
            return Err(tail_failure(e));
        }
        if idle {
            return Ok(Outcome::Clean);
        }
        std::thread::sleep(poll);
    }
}

/// Corruption, or a segment that is not a regular file, is a problem in the log (exit 1);
/// other errors are I/O errors (exit 2).
fn tail_failure(e: wal_api::Error) -> Failure {
    if inspect::is_log_problem(&e) {
        Failure::Log(e.to_string())
    } else {
        Failure::Usage(e.to_string())
    }
}

/// A time argument: microseconds since the Unix epoch, or RFC 3339 in UTC
/// (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`).
fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(us) = s.parse::<u64>() {
        return Ok(us);
    }
    let bad = || {
        format!(
            "{s:?} is neither microseconds since the epoch nor RFC 3339 UTC (2026-12-07T12:00:00Z)"
        )
    };
    let rest = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix('z'))
        .ok_or_else(bad)?;
    let (date, time) = rest.split_once(['T', 't', ' ']).ok_or_else(bad)?;
    let num = |v: &str| v.parse::<i64>().map_err(|_| bad());
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (
        num(d.next().ok_or_else(bad)?)?,
        num(d.next().ok_or_else(bad)?)?,
        num(d.next().ok_or_else(bad)?)?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, min, sec) = (
        num(t.next().ok_or_else(bad)?)?,
        num(t.next().ok_or_else(bad)?)?,
        num(t.next().ok_or_else(bad)?)?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return Err(bad());
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return Err(bad());
    }
    let micros: i64 = format!("{frac:0<6}")[..6].parse().map_err(|_| bad())?;
    // Days since the epoch of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3_600 + min * 60 + sec;
    u64::try_from(secs * 1_000_000 + micros).map_err(|_| format!("{s:?} is before 1970"))
}

#[cfg(test)]
mod time_tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_time;

    #[test]
    fn rfc3339_and_micros_parse_to_the_same_instant() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_time("2000-03-01T00:00:01.5Z").unwrap(),
            951_868_801_500_000
        );
        assert_eq!(
            parse_time("2026-12-07T12:00:00Z").unwrap(),
            1_796_644_800_000_000
        );
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-12-07T12:00:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
