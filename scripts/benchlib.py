"""Helpers shared by the benchmark scripts: a live server, machine facts, the report file."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from honcho_local.bench.report import machine  # noqa: E402,F401 - re-exported
from honcho_local.bench.server import Server, free_port, start_server  # noqa: E402,F401 - re-exported

REPORT = REPO / "docs" / "benchmarks.md"


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def append_report(title: str, body: str, report: Path = REPORT) -> None:
    report.parent.mkdir(parents=True, exist_ok=True)
    if not report.exists():
        report.write_text("# Benchmarks\n\nFigures measured by the scripts under `scripts/`; each section names the "
                          "command that produced it. Newest sections are appended at the end.\n")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with report.open("a") as f:
        f.write(f"\n## {title} — {stamp}\n\nCommand: `{command_line()}`  \nMachine: {machine()}\n\n{body}\n")


def profile(pid: int, seconds: float, out: Path | None, gil: bool = False) -> subprocess.Popen | None:
    """py-spy samples process `pid` for `seconds` into `out` (collapsed stacks, one line per stack);
    `--nonblocking` never pauses the server; `gil` keeps only the thread holding the GIL (what limits a
    Python server's throughput). None when `out` is None."""
    if out is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["py-spy", "record", "--nonblocking", "-r", "250", "-f", "raw", "-d", str(int(seconds)), "-o", str(out),
           "--pid", str(pid)] + (["--gil"] if gil else [])
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
