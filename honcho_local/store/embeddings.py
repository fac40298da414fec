"""Message embeddings: which messages of a session lack a vector of a model, and storing them."""

from __future__ import annotations

from honcho_local.store.db import WriteContext
from honcho_local.store.sql import Cursor


def missing_message_embeddings(cur: Cursor, workspace_id: str, session_id: str, model: str,
                               up_to_pk: int, after_pk: int = 0) -> list[tuple[int, str, str]]:
    """(pk, peer_id, content) of the session's messages in (after_pk, up_to_pk] with no embedding by `model`."""
    return cur.execute(
        "SELECT e.pk, e.peer_id, e.content FROM events e WHERE e.workspace_id = ? AND e.session_id = ? AND e.kind = 'message' "
        "AND e.pk > ? AND e.pk <= ? AND NOT EXISTS (SELECT 1 FROM message_embeddings m WHERE m.event_pk = e.pk "
        "AND m.model = ?) ORDER BY e.pk", [workspace_id, session_id, after_pk, up_to_pk, model]).fetchall()


def insert_message_embeddings(ctx: WriteContext, workspace_id: str, session_id: str, model: str,
                              rows: list[tuple[int, list[float]]]) -> None:
    """Store embeddings of messages still in the log (a session deleted while its messages were
    being embedded leaves nothing behind)."""
    if rows:
        ctx.conn.execute(
            "INSERT INTO message_embeddings (event_pk, workspace_id, session_id, model, embedding) "
            "SELECT v.pk, ?, ?, ?, v.embedding FROM (SELECT unnest(?::BIGINT[]) AS pk, unnest(?::FLOAT[][]) AS embedding) v "
            "WHERE v.pk IN (SELECT pk FROM events WHERE workspace_id = ? AND session_id = ?) ON CONFLICT DO NOTHING",
            [workspace_id, session_id, model, [pk for pk, _ in rows], [v for _, v in rows], workspace_id, session_id])
