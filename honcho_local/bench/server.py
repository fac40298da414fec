"""A live `honcho-local serve` subprocess on a free 127.0.0.1 port: the one way benchmarks and the test
suite start a real server (the tests add their defaults in tests/conftest.py)."""

from __future__ import annotations

import os
import signal
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
    home: Path
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Send `sig` and wait for the process to end; its exit status."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it has not ended within `timeout`."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(home: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60,
                 cwd: Path | None = None, port: int | None = None, log_path: Path | None = None) -> Server:
    """Start the server with `env` on top of this process's environment (log level warning unless `env`
    says otherwise) and wait for /health. `cwd`: the folder it starts in (another checkout's root, with
    PYTHONPATH set to it, runs that checkout's code). `log_path`: its stdout and stderr (default
    `<home>/server.log`, appended to)."""
    home = home or Path(tempfile.mkdtemp(prefix="honcho-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = log_path or home / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, "HONCHO_LOCAL_LOG_LEVEL": "warning", **(env or {})})
    server = Server(home, port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server did not answer /health within {timeout:g} s:\n{server.log()[-4000:]}")
