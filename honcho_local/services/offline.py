"""The store file opened by the CLI while no server holds it, and the admin actions the CLI runs on it
(`honcho-local versions`, `recheck`). Opening it raises `StoreLocked` while a server holds it; the CLI
then asks that server's admin routes instead (`cli/remote.py`)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from honcho_local.services import versions
from honcho_local.services.recheck import RecheckResult, recheck_attribution
from honcho_local.store import Store


class OfflineStore:
    def __init__(self, db_path: Path) -> None:
        self._store = Store.open(db_path)

    def __enter__(self) -> OfflineStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    def list_versions(self) -> list[dict[str, Any]]:
        return self._store.read(versions.list_versions)

    def default_version(self) -> str:
        return self._store.read(versions.default_version)

    def activate(self, name: str) -> None:
        versions.activate(self._store, name)

    def rollback(self) -> str:
        return versions.rollback(self._store)

    def recheck(self, version: str, workspace_id: str | None, dry_run: bool) -> RecheckResult:
        return recheck_attribution(self._store, version, workspace_id, dry_run=dry_run)
