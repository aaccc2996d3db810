#!/usr/bin/env python3
"""Fails when a workspace crate or any package of the locked dependency graph declares a
rust-version newer than the workspace's, or when a crate overrides the workspace's MSRV.

Run from the repository root: python3 .ci/msrv.py
"""
import json
import re
import subprocess
import sys


def parse(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])


def main():
    with open("Cargo.toml", encoding="utf-8") as f:
        m = re.search(r'^\[workspace\.package\][^\[]*?^rust-version\s*=\s*"([^"]+)"', f.read(), re.M | re.S)
    if not m:
        print("msrv: no rust-version in [workspace.package]")
        return 1
    msrv = m.group(1)
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    used = {n["id"] for n in meta["resolve"]["nodes"]}
    bad = []
    for p in meta["packages"]:
        if p["id"] not in used:
            continue
        rv = p.get("rust_version")
        if p["id"] in members and rv != msrv and parse(rv or "0") != parse(msrv):
            bad.append(f"workspace crate {p['name']} says rust-version {rv}, the workspace {msrv}")
        elif rv and parse(rv) > parse(msrv):
            bad.append(f"{p['name']} {p['version']} needs Rust {rv}")
    need = max((parse(p["rust_version"]) for p in meta["packages"]
                if p["id"] in used and p.get("rust_version")), default=(0, 0, 0))
    for line in bad:
        print("msrv: " + line)
    if bad:
        print(f"msrv: FAIL: the workspace says {msrv}; the locked graph needs {'.'.join(map(str, need))}")
        return 1
    print(f"msrv: ok: {len(used)} locked packages fit rust-version {msrv} "
          f"(highest declared: {'.'.join(map(str, need))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
