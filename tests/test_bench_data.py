"""`honcho-local bench data pull|list`: pinned dataset files fetched over HTTP (a local server here, serving
hand-made files), resumed with Range, sha256-verified, imported from a folder; a missing dataset is one line."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from honcho_local.bench.data import INCOMPLETE, load_locomo
from honcho_local.bench.manifest import DATASETS, Dataset, PinnedFile
from honcho_local.bench.pull import is_complete, pull, status
from honcho_local.cli import main
from honcho_local.errors import DatasetUnavailable
from tests.bench_samples import locomo_sample

# Hand-made files served under the datasets layout (the LoCoMo one is a sample the loader can read).
FILES = {
    "locomo/locomo10.json": json.dumps(locomo_sample()).encode(),
    "locomo/notes.txt": b"invented notes for the fetch tests\n" * 3000,
}


class Files(BaseHTTPRequestHandler):
    """Serves FILES at /<path>, honouring `Range: bytes=N-`; records each request's path and Range."""

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        self.server.seen.append((path, self.headers.get("Range")))
        if path not in FILES:
            self.send_response(404)
            self.end_headers()
            return
        data, start = FILES[path], 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def manifest(base: str, sha: dict[str, str] | None = None) -> Dataset:
    """A pinned dataset of FILES as served from `base` (`sha` overrides a file's pinned sha256)."""
    files = tuple(PinnedFile(path, f"{base}/{path}", (sha or {}).get(path, hashlib.sha256(data).hexdigest()),
                             len(data)) for path, data in FILES.items())
    return Dataset("locomo", "hand-made sample", "invented for the tests", ("nobody/nothing@0",), files)


def test_fresh_download_lands_verified_with_progress(tmp_path: Path, server) -> None:
    httpd, base = server
    seen: list[tuple[str, int, int]] = []
    result = pull(manifest(base), tmp_path, progress=lambda what, done, total: seen.append((what, done, total)))
    assert [f.path for f in result.fetched] == list(FILES) and not result.already
    for path, data in FILES.items():
        assert (tmp_path / path).read_bytes() == data
    assert not list(tmp_path.rglob("*.partial")) and not (tmp_path / "locomo" / INCOMPLETE).exists()
    assert [r.state for r in status(manifest(base), tmp_path)] == ["ok", "ok"]
    assert is_complete(manifest(base), tmp_path)
    total = sum(len(d) for d in FILES.values())
    assert seen[-1][1:] == (total, total) and all(t == total for _, _, t in seen)  # bytes over the whole dataset
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    assert len(load_locomo(tmp_path)) == 2  # what `bench locomo` reads
    # a second pull finds everything in place and fetches nothing
    httpd.seen.clear()
    again = pull(manifest(base), tmp_path)
    assert not again.fetched and len(again.already) == 2 and httpd.seen == []


def test_partial_file_is_resumed_with_a_range_request(tmp_path: Path, server) -> None:
    httpd, base = server
    data = FILES["locomo/notes.txt"]
    (tmp_path / "locomo").mkdir()
    (tmp_path / "locomo" / "notes.txt.partial").write_bytes(data[:40_000])
    pull(manifest(base), tmp_path)
    assert (tmp_path / "locomo" / "notes.txt").read_bytes() == data
    assert ("locomo/notes.txt", "bytes=40000-") in httpd.seen and ("locomo/locomo10.json", None) in httpd.seen


def test_wrong_sha256_is_refused_and_nothing_is_left_in_place(tmp_path: Path, server) -> None:
    _, base = server
    (tmp_path / "locomo").mkdir()
    (tmp_path / "locomo" / "locomo10.json").write_text("[]")  # a wrong copy from before is not kept either
    bad = manifest(base, sha={"locomo/locomo10.json": "0" * 64})
    with pytest.raises(DatasetUnavailable) as info:
        pull(bad, tmp_path)
    assert "sha256" in info.value.detail and "0" * 64 in info.value.detail and "nothing was installed" in info.value.detail
    assert "\n" not in info.value.detail
    assert not (tmp_path / "locomo" / "locomo10.json").exists()
    assert not list(tmp_path.rglob("*.partial"))
    # the unfinished pull is marked, and `bench` refuses the folder, saying how to finish it
    with pytest.raises(DatasetUnavailable, match="did not finish; run `honcho-local bench data pull locomo"):
        load_locomo(tmp_path)


def test_unreachable_source_is_one_line_and_keeps_nothing_half_done(tmp_path: Path, server) -> None:
    _, base = server
    gone = Dataset("locomo", "x", "x", (), (PinnedFile("locomo/a.json", f"{base}/missing.json", "0" * 64, 1),))
    with pytest.raises(DatasetUnavailable, match=r"HTTP 404.*rerun `honcho-local bench data pull locomo"):
        pull(gone, tmp_path)
    closed = Dataset("locomo", "x", "x", (), (PinnedFile("locomo/a.json", "http://127.0.0.1:9/a.json", "0" * 64, 1),))
    with pytest.raises(DatasetUnavailable, match="download of http://127.0.0.1:9/a.json failed"):
        pull(closed, tmp_path)
    assert not (tmp_path / "locomo" / "a.json").exists()


def test_import_from_a_folder_or_a_base_url(tmp_path: Path, server) -> None:
    """A machine without internet takes the files from a copy (`--from DIR`) or a mirror (`--from URL`)."""
    httpd, base = server
    copy = tmp_path / "copy"
    for path, data in FILES.items():
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes(data)
    nowhere = manifest("http://127.0.0.1:9")  # the pinned URLs are never asked
    result = pull(nowhere, tmp_path / "a", source=copy)
    assert len(result.fetched) == 2 and is_complete(nowhere, tmp_path / "a")
    assert (tmp_path / "a" / "locomo" / "notes.txt").read_bytes() == FILES["locomo/notes.txt"]
    pull(nowhere, tmp_path / "b", source=base + "/")
    assert is_complete(nowhere, tmp_path / "b") and {p for p, _ in httpd.seen} == set(FILES)
    # a copy that is not the pinned file is refused
    (copy / "locomo" / "notes.txt").write_bytes(b"changed")
    with pytest.raises(DatasetUnavailable, match="does not match the pinned"):
        pull(nowhere, tmp_path / "c", source=copy)
    assert not (tmp_path / "c" / "locomo" / "notes.txt").exists() and not list((tmp_path / "c").rglob("*.partial"))
    with pytest.raises(DatasetUnavailable, match="does not exist"):
        pull(nowhere, tmp_path / "d", source=tmp_path / "empty")


# ---- through the command line ----------------------------------------------------------------------

def test_missing_dataset_through_the_cli_is_one_line_with_the_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HONCHO_LOCAL_DATASETS", str(tmp_path / "cache"))
    for dataset in ("locomo", "beam"):
        result = CliRunner().invoke(main, ["bench", dataset, "--quick", "--out", str(tmp_path / "out")])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert f"run `honcho-local bench data pull {dataset}`" in result.stderr  # the default folder: no --data
    result = CliRunner().invoke(main, ["bench", "locomo", "--data", str(tmp_path / "elsewhere")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"honcho-local bench data pull locomo --data {tmp_path / 'elsewhere'}" in result.stderr


def test_cli_pull_from_a_bad_copy_is_refused_and_list_says_what_to_run(tmp_path: Path, monkeypatch) -> None:
    """The real manifest: hand-made files under the right names do not pass its sha256 check."""
    monkeypatch.setenv("HONCHO_LOCAL_DATASETS", str(tmp_path / "cache"))
    copy = tmp_path / "copy" / "locomo"
    copy.mkdir(parents=True)
    for name in ("locomo10.json", "locomo10.dial481-corrected.json", "locomo-audit-errors.json"):
        (copy / name).write_text(json.dumps(locomo_sample()))
    result = CliRunner().invoke(main, ["bench", "data", "pull", "locomo", "--from", str(tmp_path / "copy")])
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and "does not match the pinned" in result.stderr
    assert "locomo: 3 files" in result.stdout and "CC BY-NC 4.0" in result.stdout  # the preamble
    assert not (tmp_path / "cache" / "locomo" / "locomo10.json").exists()
    listed = CliRunner().invoke(main, ["bench", "data", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"datasets folder: {tmp_path / 'cache'}" in listed.stdout
    assert re.search(r"locomo\s+0/3 .*CC BY-NC 4\.0", listed.stdout)
    assert re.search(r"beam\s+0/50 .*not stated", listed.stdout)
    assert "run `honcho-local bench data pull locomo`" in listed.stdout


def test_the_pinned_manifest_matches_what_bench_reads() -> None:
    """Every pinned file comes from raw.githubusercontent.com at a full commit, lands where the loaders look."""
    for name, dataset in DATASETS.items():
        paths = [f.path for f in dataset.files]
        assert len(set(paths)) == len(paths) and all(p.startswith(f"{name}/") for p in paths)
        for f in dataset.files:
            assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", f.url), f.url
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0
    assert "locomo/locomo10.json" in [f.path for f in DATASETS["locomo"].files]
    beam = [f.path for f in DATASETS["beam"].files]
    for n in range(1, 21):
        chat = beam.index(f"beam/100K/{n}/chat.json")
        folder = [i for i, p in enumerate(beam) if p.startswith(f"beam/100K/{n}/")]
        assert f"beam/100K/{n}/probing_questions.json" in beam and chat == max(folder)  # chat.json last
