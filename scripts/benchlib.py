"""Helpers shared by the benchmark scripts: a live server, machine facts, the report file."""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "docs" / "benchmarks.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    home: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(home: Path | None = None, env: dict[str, str] | None = None) -> Server:
    home = home or Path(tempfile.mkdtemp(prefix="honcho-bench-"))
    port = free_port()
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HONCHO_LOCAL_LOG_LEVEL": "warning", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Server(url, proc, home)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start; see {home / 'server.log'}")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


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
