"""Store rows shaped as Honcho v3 response objects (plain dicts the transport serialises)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

_last_iso: tuple[datetime | None, str] = (None, "")


def iso(value: datetime | None) -> str | None:
    """Naive-UTC datetime as ISO-8601 with a `Z` suffix. The last answer is kept: the messages of a
    batch share one `created_at` object (formatting it per message was 5% of the writer thread's
    time on 100-message batches, py-spy)."""
    global _last_iso
    if value is None:
        return None
    last = _last_iso
    if last[0] is value:
        return last[1]
    text = value.isoformat() + "Z"
    _last_iso = (value, text)
    return text


def workspace(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "metadata": row["metadata"], "configuration": row["configuration"],
            "created_at": iso(row["created_at"])}


def peer(row: dict[str, Any]) -> dict[str, Any]:
    config = {k: v for k, v in row["configuration"].items() if k == "observe_me"}
    return {"id": row["id"], "workspace_id": row["workspace_id"], "created_at": iso(row["created_at"]),
            "metadata": row["metadata"], "configuration": config}


def session(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "is_active": row["is_active"], "workspace_id": row["workspace_id"],
            "metadata": row["metadata"], "configuration": row["configuration"],
            "created_at": iso(row["created_at"])}


def message(row: dict[str, Any]) -> dict[str, Any]:
    """A message; `created_iso`, when the row has it (the in-memory message rows), is `created_at` as text."""
    created = row.get("created_iso") or iso(row["created_at"])
    return {"id": row["id"], "content": row["content"], "peer_id": row["peer_id"],
            "session_id": row["session_id"], "metadata": row["metadata"], "created_at": created,
            "workspace_id": row["workspace_id"], "token_count": row["token_count"]}


def event(row: dict[str, Any]) -> dict[str, Any]:
    return {**message(row), "kind": row["kind"], "seq": row["seq"]}


def page(items: list[dict[str, Any]], total: int, page_no: int, size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page_no, "size": size,
            "pages": math.ceil(total / size) if size else 0}
