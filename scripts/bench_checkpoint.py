"""Carry a long `honcho-local bench` run from one machine to the next.

The full LoCoMo and BEAM runs take many hours of model time on 2 cores, more than one working
session, and a session may start on a new machine. `save` stops nothing itself: stop the run first
(its server must not hold the store). It writes the bench home's store as a backup without vectors
(`honcho-local backup --no-vectors`: the messages, every conclusion and the reasoning cost records)
plus the bench's own journals (answered questions, invocation times) to DIR, replacing what DIR
held. `restore` rebuilds a bench home from DIR (embedding the texts again) so that
`honcho-local bench ... --bench-home HOME` resumes where the run stopped.

    python scripts/bench_checkpoint.py save ~/.cache/honcho-bench/locomo-full docs/benchmarks/checkpoints/locomo-full
    python scripts/bench_checkpoint.py restore docs/benchmarks/checkpoints/locomo-full ~/.cache/honcho-bench/locomo-full
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

JOURNALS = ("bench-answers.jsonl", "bench-runs.jsonl")


def cli(home: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "honcho_local.cli", "--home", str(home), *args], check=True)


def save(home: Path, directory: Path) -> None:
    if not (home / "honcho.duckdb").is_file():
        sys.exit(f"{home} holds no store")
    staging = directory.with_name(directory.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cli(home, "backup", "--no-vectors", str(staging / "store"))
    for name in JOURNALS:
        if (home / name).is_file():
            shutil.copy2(home / name, staging / name)
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    manifest = json.loads((directory / "store" / "manifest.json").read_text())
    size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    print(f"checkpoint {directory}: {manifest['tables'].get('events', 0)} events, "
          f"{manifest['tables'].get('conclusions', 0)} conclusions, {size / 1e6:.1f} MB")


def restore(directory: Path, home: Path) -> None:
    if (home / "honcho.duckdb").exists():
        sys.exit(f"{home} already holds a store; restore into a new bench home")
    cli(home, "restore", str(directory / "store"))
    for name in JOURNALS:
        if (directory / name).is_file():
            shutil.copy2(directory / name, home / name)
    print(f"restored {directory} into {home}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="bench home -> checkpoint folder")
    s.add_argument("home", type=Path)
    s.add_argument("directory", type=Path)
    r = sub.add_parser("restore", help="checkpoint folder -> new bench home")
    r.add_argument("directory", type=Path)
    r.add_argument("home", type=Path)
    args = parser.parse_args()
    if args.command == "save":
        save(args.home.expanduser(), args.directory)
    else:
        restore(args.directory, args.home.expanduser())


if __name__ == "__main__":
    main()
