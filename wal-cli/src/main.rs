//! `walctl`: inspect, follow, archive, restore and benchmark write-ahead logs on the
//! filesystem backend.
//!
//! ```text
//! walctl stat    DIR                      segments, LSN ranges, sealed/torn state
//! walctl verify  DIR                      check every frame and seal; exit 1 on corruption
//! walctl dump    DIR [--from N] [--to N] [--hex]   print records
//! walctl tail    DIR [--from N] [--hex] [--poll-ms N] [--exit-idle-ms N]   follow new records
//! walctl archive DIR URL                  archive sealed segments (s3://, file://)
//! walctl restore URL DIR [--to N]         rebuild a log in an empty DIR from an archive
//! walctl bench   DIR [--appenders N] [--seconds S] [--size B]   durable appends vs fdatasync
//! ```
//!
//! `stat`, `verify`, `dump` and `tail` only read: they take no lock and are safe next to a
//! running writer (`tail` shows records once the writer has handed them to the file system,
//! which can be before they are durable). `archive`, `restore` and `bench` take the log
//! directory's lock, so they refuse a directory a writer holds.

mod bench;
mod dir;
mod remote;
mod tail;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use wal_api::Lsn;

const USAGE: &str = "usage:
  walctl stat    DIR
  walctl verify  DIR
  walctl dump    DIR [--from LSN] [--to LSN] [--hex]
  walctl tail    DIR [--from LSN] [--hex] [--poll-ms N] [--exit-idle-ms N]
  walctl archive DIR URL
  walctl restore URL DIR [--to LSN]
  walctl bench   DIR [--appenders N] [--seconds S] [--size BYTES]
URL: s3://BUCKET/PREFIX (AWS_* variables; AWS_ENDPOINT for MinIO or moto), file:///DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("walctl: {e}");
            ExitCode::from(2)
        }
    }
}

/// Parsed `--name value` options and flags after the positional arguments.
struct Opts<'a> {
    rest: &'a [String],
}

impl Opts<'_> {
    /// The value of `--name`, parsed as a number.
    fn num(&self, name: &str) -> Result<Option<u64>, String> {
        match self.rest.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => {
                let v = self
                    .rest
                    .get(i + 1)
                    .ok_or(format!("{name} needs a number"))?;
                v.parse().map(Some).map_err(|e| format!("{name} {v}: {e}"))
            }
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.rest.iter().any(|a| a == name)
    }

    /// Fails on any option not in `known` (flags in `flags`).
    fn check(&self, known: &[&str], flags: &[&str]) -> Result<(), String> {
        let mut it = self.rest.iter();
        while let Some(a) = it.next() {
            if flags.contains(&a.as_str()) {
                continue;
            }
            if !known.contains(&a.as_str()) {
                return Err(format!("unknown option {a}\n{USAGE}"));
            }
            it.next();
        }
        Ok(())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let (cmd, rest) = args.split_first().ok_or(USAGE)?;
    let (first, rest) = rest.split_first().ok_or(USAGE)?;
    match cmd.as_str() {
        "stat" | "verify" | "dump" | "tail" => inspect(cmd, first, Opts { rest }),
        "archive" | "restore" => {
            let (second, rest) = rest.split_first().ok_or(USAGE)?;
            let opts = Opts { rest };
            if cmd == "archive" {
                opts.check(&[], &[])?;
                runtime()?.block_on(remote::archive(first, second))
            } else {
                opts.check(&["--to"], &[])?;
                let to = opts.num("--to")?.map_or(Lsn(u64::MAX), Lsn);
                runtime()?.block_on(remote::restore(first, second, to))
            }
        }
        "bench" => {
            let opts = Opts { rest };
            opts.check(&["--appenders", "--seconds", "--size"], &[])?;
            let cfg = bench::Config {
                appenders: opts.num("--appenders")?.unwrap_or(16),
                seconds: opts.num("--seconds")?.unwrap_or(3),
                size: opts.num("--size")?.unwrap_or(100),
            };
            runtime()?.block_on(bench::run(first, cfg))
        }
        _ => Err(USAGE.to_string()),
    }
}

fn inspect(cmd: &str, dir: &str, opts: Opts<'_>) -> Result<ExitCode, String> {
    let open = || dir::DirLog::open(dir).map_err(|e| format!("{dir}: {e}"));
    match cmd {
        "stat" => {
            opts.check(&[], &[])?;
            print!("{}", open()?.stat().map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        "verify" => {
            opts.check(&[], &[])?;
            match open()?.verify() {
                Ok(summary) => {
                    println!("{summary}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("CORRUPT: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        "dump" => {
            opts.check(&["--from", "--to"], &["--hex"])?;
            let from = Lsn(opts.num("--from")?.unwrap_or(1));
            let to = Lsn(opts.num("--to")?.unwrap_or(u64::MAX));
            let mut out = std::io::stdout().lock();
            open()?
                .dump(from, to, opts.flag("--hex"), &mut out)
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            opts.check(&["--from", "--poll-ms", "--exit-idle-ms"], &["--hex"])?;
            let from = Lsn(opts.num("--from")?.unwrap_or(1));
            let poll = Duration::from_millis(opts.num("--poll-ms")?.unwrap_or(200).max(1));
            let idle_exit = opts.num("--exit-idle-ms")?.map(Duration::from_millis);
            let mut follower = tail::Follower::new(dir, from, opts.flag("--hex"));
            let mut last_new = Instant::now();
            loop {
                let mut out = std::io::stdout().lock();
                if follower.poll(&mut out).map_err(|e| e.to_string())? > 0 {
                    last_new = Instant::now();
                }
                let _ = out.flush();
                drop(out);
                if idle_exit.is_some_and(|d| last_new.elapsed() >= d) {
                    return Ok(ExitCode::SUCCESS);
                }
                std::thread::sleep(poll);
            }
        }
    }
}
