"""Representation versions: which version the worker writes and which one a read uses.

Every derived row carries a version name. This module answers "which version?" for writes (the
active version of the current settings) and reads (explicit request > workspace configuration >
A/B split > the default active version).
"""

from __future__ import annotations

from typing import Any

DEFAULT_VERSION = "v1"


def read_version(cur: Any, workspace_id: str, peer_id: str | None = None, requested: str | None = None) -> str:
    """The representation version a read should use. (Extended by the versioning work of issue 4.)"""
    if requested:
        return requested
    return DEFAULT_VERSION
