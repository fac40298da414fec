"""Store rows shaped as Honcho v3 response objects (plain dicts the transport serialises)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from honcho_local.store.events import Message
from honcho_local.store.peers import Peer
from honcho_local.store.sessions import Session
from honcho_local.store.workspaces import Workspace

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


def workspace(w: Workspace) -> dict[str, Any]:
    return {"id": w.id, "metadata": w.metadata, "configuration": w.configuration, "created_at": iso(w.created_at)}


def peer(p: Peer) -> dict[str, Any]:
    config = {k: v for k, v in p.configuration.items() if k == "observe_me"}
    return {"id": p.id, "workspace_id": p.workspace_id, "created_at": iso(p.created_at), "metadata": p.metadata,
            "configuration": config}


def session(s: Session) -> dict[str, Any]:
    return {"id": s.id, "is_active": s.is_active, "workspace_id": s.workspace_id, "metadata": s.metadata,
            "configuration": s.configuration, "created_at": iso(s.created_at)}


def message(m: Message) -> dict[str, Any]:
    """A message read from the store; `created_iso`, when the read has it (the in-memory message rows), is
    `created_at` as text. The same object as `appended_message` (same keys, same order)."""
    return {"id": m.id, "content": m.content, "peer_id": m.peer_id, "session_id": m.session_id,
            "metadata": m.metadata, "created_at": m.created_iso or iso(m.created_at),
            "workspace_id": m.workspace_id, "token_count": m.token_count}


def event(m: Message) -> dict[str, Any]:
    return {**message(m), "kind": m.kind, "seq": m.seq}


def appended_message(row: dict[str, Any]) -> dict[str, Any]:
    """A message as the write path holds it (`events.append`'s rows, in the writer before the commit):
    the object `message` gives for it once read back."""
    return {"id": row["id"], "content": row["content"], "peer_id": row["peer_id"],
            "session_id": row["session_id"], "metadata": row["metadata"], "created_at": iso(row["created_at"]),
            "workspace_id": row["workspace_id"], "token_count": row["token_count"]}


def appended_event(row: dict[str, Any]) -> dict[str, Any]:
    return {**appended_message(row), "kind": row["kind"], "seq": row["seq"]}


def page(items: list[dict[str, Any]], total: int, page_no: int, size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page_no, "size": size,
            "pages": math.ceil(total / size) if size else 0}
