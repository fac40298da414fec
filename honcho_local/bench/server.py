"""A live `honcho-local serve` subprocess on a free 127.0.0.1 port (benchmarks and their tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


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
            self.process.wait()


def start_server(home: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60,
                 cwd: Path | None = None) -> Server:
    """Start the server with `env` on top of this process's environment; wait for /health. `cwd`: the
    folder it starts in (another checkout's root, with PYTHONPATH set to it, runs that checkout's code)."""
    home = home or Path(tempfile.mkdtemp(prefix="honcho-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, "HONCHO_LOCAL_LOG_LEVEL": "warning", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Server(url, proc, home)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server did not start; see {home / 'server.log'}")
