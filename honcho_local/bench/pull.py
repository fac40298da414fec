"""`honcho-local bench data pull|list`: put the pinned benchmark files in the datasets folder, verified.

`pull` fetches each file of a `manifest.Dataset` over HTTPS from its pinned URL with the model fetcher's
downloader (resume of a `.partial` by HTTP Range, sha256 check, atomic rename), or takes it from
`source`: a folder in the datasets layout (`locomo/…`, `beam/100K/<n>/…`, e.g. a copy made on another
machine) or a base URL serving that layout. A file that does not match its pinned sha256 is refused
and nothing is left in its place. While a pull runs, `<folder>/<dataset>/.pull-incomplete` exists;
`bench` refuses a dataset carrying it, so an interrupted pull is never benchmarked as a complete one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from honcho_local.bench.data import INCOMPLETE, pull_command
from honcho_local.bench.manifest import Dataset, PinnedFile
from honcho_local.errors import DatasetUnavailable, ModelUnavailable

Progress = Callable[[str, int, int], None]  # (file being fetched, bytes done, bytes in all) over the whole dataset
CHUNK = 1 << 20


def _noop(what: str, done: int, total: int) -> None:
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileStatus:
    file: PinnedFile
    path: Path
    state: str  # "ok" | "missing" | "bad sha256"


def status(dataset: Dataset, root: Path) -> list[FileStatus]:
    """Each pinned file of `dataset` under `root`: present and verified, missing, or with the wrong sha256."""
    out = []
    for f in dataset.files:
        path = root / f.path
        state = "missing" if not path.is_file() else "ok" if sha256_of(path) == f.sha256 else "bad sha256"
        out.append(FileStatus(f, path, state))
    return out


def is_complete(dataset: Dataset, root: Path) -> bool:
    """Every file present and verified, and no unfinished pull."""
    return not (root / dataset.name / INCOMPLETE).exists() and all(s.state == "ok" for s in status(dataset, root))


@dataclass
class PullResult:
    fetched: list[PinnedFile]
    already: list[PinnedFile]

    @property
    def bytes_fetched(self) -> int:
        return sum(f.size for f in self.fetched)


def pull(dataset: Dataset, root: Path, source: str | Path | None = None, progress: Progress = _noop,
         timeout: float = 60.0) -> PullResult:
    """Make `root` hold every file of `dataset`, verified: files already there and matching are kept, the rest
    fetched from their pinned URLs (or from `source`, a folder or base URL in the datasets layout).

    Raises `DatasetUnavailable` (one line, naming the command that resumes) at the first file that cannot be
    fetched or does not match; what was downloaded of it stays as `<file>.partial` for a resume, unless its
    sha256 was wrong (then nothing of it is kept).
    """
    root = Path(root)
    (root / dataset.name).mkdir(parents=True, exist_ok=True)
    marker = root / dataset.name / INCOMPLETE
    marker.write_text("a `honcho-local bench data pull` into this folder has not finished\n")
    result = PullResult([], [])
    todo = []
    for f in dataset.files:
        target = root / f.path
        if target.is_file() and sha256_of(target) == f.sha256:
            result.already.append(f)
            continue
        target.unlink(missing_ok=True)  # a wrong copy never stays in place
        todo.append(f)
    total = sum(f.size for f in todo)
    done = 0
    for f in todo:
        target = root / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        report = (lambda what, got, _all, base=done, name=f.path: progress(name, base + got, total))
        try:
            _fetch_one(f, target, source, report, timeout, pull_command(dataset.name, root))
        except ModelUnavailable as exc:  # the downloader's errors (HTTP, network, checksum)
            raise DatasetUnavailable(_failure(dataset, root, exc.detail)) from exc
        done += f.size
        progress(f.path, done, total)
        result.fetched.append(f)
    marker.unlink()
    return result


def _failure(dataset: Dataset, root: Path, detail: str) -> str:
    if "nothing was installed" in detail:  # a checksum mismatch already says what to rerun
        return f"{dataset.name}: {detail}"
    return (f"{dataset.name}: {detail}; rerun `{pull_command(dataset.name, root)}` to resume, "
            f"or add `--from DIR` to import a copy")


def _is_url(source: str | Path) -> bool:
    return str(source).startswith(("http://", "https://"))


def _fetch_one(f: PinnedFile, target: Path, source: str | Path | None, progress: Progress, timeout: float,
               retry: str) -> None:
    from honcho_local.llm.fetch import http_download

    if source is None or _is_url(source):
        url = f.url if source is None else f"{str(source).rstrip('/')}/{f.path}"
        http_download(url, target, f.sha256, None, progress, timeout=timeout, retry=retry)
    else:
        _copy_verified(Path(source).expanduser() / f.path, target, f.sha256, progress, retry)


def _copy_verified(src: Path, target: Path, sha256: str, progress: Progress, retry: str) -> None:
    """Copy `src` to `target` through `<target>.partial`, renamed into place only if its sha256 matches."""
    if not src.is_file():
        raise DatasetUnavailable(f"{src} does not exist (the folder given to --from must hold the datasets layout, "
                                 f"e.g. locomo/locomo10.json)")
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with src.open("rb") as fin, partial.open("wb") as out:
            while block := fin.read(CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                progress(f"copying {src.name}", done, 0)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise DatasetUnavailable(f"{src}: sha256 {digest.hexdigest()} does not match the pinned {sha256}; "
                                 f"nothing was installed (retry `{retry}` without --from, or with a good copy)")
    os.replace(partial, target)

