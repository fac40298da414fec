"""Shared fixtures: a tmp data home, a migrated store, a live `honcho-local serve` on a free
loopback port, raw HTTP and the official honcho-ai SDK pointed at it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from honcho_local.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
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
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def start_server(home: Path, port: int | None = None, env: dict[str, str] | None = None,
                 timeout: float = 30.0) -> LiveServer:
    """Start `honcho-local serve` as a subprocess and wait until /health answers."""
    port = port or free_port()
    log_path = home / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    home.mkdir(parents=True, exist_ok=True)
    # Tests never pull the 1.5B default: the tiny model, and no reasoning unless a test asks for it.
    full_env = {**os.environ, "HONCHO_LOCAL_LOG_LEVEL": "warning", "HONCHO_LOCAL_REASONING_MODEL": "smollm2-135m",
                "HONCHO_LOCAL_REASONING_ENABLED": "false", "HONCHO_LOCAL_SUMMARY_ENABLED": "false",
                "HONCHO_LOCAL_MODEL_CONTEXT": "2048", **(env or {})}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home), "--port", str(port)],
            stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=str(REPO_ROOT))
    server = LiveServer(home, port, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start within {timeout}s:\n{server.log()}")


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def store(tmp_home: Path) -> Iterator[Store]:
    s = Store.open(tmp_home / "honcho.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("server-home"))
    yield srv
    stop_server(srv)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def workspace_id() -> str:
    return f"ws-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def honcho(server: LiveServer, workspace_id: str):
    from honcho import Honcho

    return Honcho(base_url=server.url, workspace_id=workspace_id)
