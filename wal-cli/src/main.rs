//! `walctl`: inspect a log directory without opening it for writing (no lock is taken, so it
//! is safe next to a running writer).
//!
//! ```text
//! walctl stat   DIR                      segments, LSN ranges, sealed/torn state
//! walctl verify DIR                      check every frame and seal; exit 1 on corruption
//! walctl dump   DIR [--from N] [--to N] [--hex]   print records
//! ```

mod dir;

use std::process::ExitCode;

use wal_api::Lsn;

const USAGE: &str = "usage:
  walctl stat   DIR
  walctl verify DIR
  walctl dump   DIR [--from LSN] [--to LSN] [--hex]";

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

fn run(args: &[String]) -> Result<ExitCode, String> {
    let (cmd, rest) = args.split_first().ok_or(USAGE)?;
    let (dir, opts) = rest.split_first().ok_or(USAGE)?;
    let log = dir::DirLog::open(dir).map_err(|e| format!("{dir}: {e}"))?;
    match cmd.as_str() {
        "stat" => {
            print!("{}", log.stat().map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        "verify" => match log.verify() {
            Ok(summary) => {
                println!("{summary}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("CORRUPT: {e}");
                Ok(ExitCode::from(1))
            }
        },
        "dump" => {
            let mut from = Lsn::FIRST;
            let mut to = Lsn(u64::MAX);
            let mut hex = false;
            let mut it = opts.iter();
            while let Some(o) = it.next() {
                match o.as_str() {
                    "--from" => from = Lsn(parse_num(it.next())?),
                    "--to" => to = Lsn(parse_num(it.next())?),
                    "--hex" => hex = true,
                    other => return Err(format!("unknown option {other}\n{USAGE}")),
                }
            }
            let mut out = std::io::stdout().lock();
            log.dump(from, to, hex, &mut out)
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(USAGE.to_string()),
    }
}

fn parse_num(v: Option<&String>) -> Result<u64, String> {
    v.ok_or("missing number")?
        .parse()
        .map_err(|e| format!("bad number: {e}"))
}
