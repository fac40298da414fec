"""The step of a summary unit: embed the session's new messages for semantic search (whether or not
reasoning is on), then write the short and long summaries that have come due, and move the cursor to
the head."""

from __future__ import annotations

from typing import Any

from honcho_local.services import activity as steps
from honcho_local.services import configuration, summarizer
from honcho_local.services.unit_deps import UnitDeps
from honcho_local.services.unit_step import Step
from honcho_local.store import WriteContext, units
from honcho_local.store import embeddings as embeddings_db
from honcho_local.store import events as event_log
from honcho_local.store import summaries as summaries_db
from honcho_local.store.sql import Cursor
from honcho_local.store.units import UnitKey

EMBED_CHUNK = 64  # messages embedded per call and written per transaction


def message_embedding_text(peer_id: str, content: str) -> str:
    """The text a message is embedded as: the speaker's id, then the content (see `embed_messages`)."""
    return f"{peer_id}: {content}"


class SummaryStep:
    def __init__(self, deps: UnitDeps) -> None:
        self.deps = deps

    def run(self, key: UnitKey, retry_failed: bool = False) -> Step:
        d = self.deps
        d.activity.step(key, steps.READING)

        def read(cur: Cursor) -> tuple[Any, int, int, Any, Any]:
            unit = units.get_unit(cur, str(key))
            rows = d.unit_resources(cur, key)
            head = d.store.message_head(cur, key.workspace_id, key.session_id)
            return rows["session"], d.start_cursor(cur, key, unit), head, rows["workspace"], unit

        session, cursor, head, workspace, unit = d.store.read(read)
        if session is None or head <= cursor or (units.in_backoff(unit) and not retry_failed):
            return Step(False)
        resolved = configuration.resolve(d.settings, workspace.configuration if workspace else None,
                                         session.configuration)
        self.embed_messages(key, cursor, head)
        seconds = 0.0
        if resolved.summary_enabled:
            for kind, every in (("short", resolved.short_every), ("long", resolved.long_every)):
                seconds += self._summarise_if_due(key, kind, every, head)
        d.advances.add(key, head)
        return Step(False, seconds)

    def embed_messages(self, key: UnitKey, cursor: int, head: int) -> None:
        """Embed the session's new messages for semantic search, whether or not reasoning is on (an
        embedding costs milliseconds, no chat model). Messages already embedded are skipped. The text
        embedded names the speaker ("alice: I moved to Lisbon."): questions name people
        (docs/decisions/007-tuned-constants.md)."""
        d = self.deps
        embedder = d.embeddings.embedder()
        if embedder is None:
            return
        pending = d.store.read(lambda cur: embeddings_db.missing_message_embeddings(
            cur, key.workspace_id, key.session_id, embedder.model, head, after_pk=cursor))
        for start in range(0, len(pending), EMBED_CHUNK):
            d.activity.step(key, steps.EMBEDDING)
            chunk = pending[start:start + EMBED_CHUNK]
            vectors, model = d.embeddings.embed([message_embedding_text(peer, content) for _, peer, content in chunk])
            if not vectors:
                return
            d.store.write(lambda ctx: embeddings_db.insert_message_embeddings(
                ctx, key.workspace_id, key.session_id, model or "", [(r[0], v) for r, v in zip(chunk, vectors)]),
                scoped=True)
            d.activity.add(key, embedded=len(chunk))

    def _due(self, cur: Cursor, key: UnitKey, kind: str, every: int, head: int) -> tuple[Any, int, int]:
        """(the previous summary, the messages it covers, the count the next one must cover)."""
        count, _ = event_log.session_message_stats(cur, key.workspace_id, key.session_id, head)
        previous = summaries_db.latest_summary(cur, key.workspace_id, key.session_id, kind, self.deps.version)
        covered = event_log.session_message_stats(cur, key.workspace_id, key.session_id,
                                                previous["last_event_pk"])[0] if previous else 0
        return previous, covered, (count // every) * every

    def _summarise_if_due(self, key: UnitKey, kind: str, every: int, head: int) -> float:
        d = self.deps
        previous, covered, due = d.store.read(lambda cur: self._due(cur, key, kind, every, head))
        if due == 0 or due <= covered:
            return 0.0
        d.activity.step(key, steps.SUMMARY)
        covered_pk = previous["last_event_pk"] if previous else 0

        def read(cur: Cursor) -> tuple[event_log.Message, list[event_log.Message]]:
            last = event_log.nth_message(cur, key.workspace_id, key.session_id, due)
            return last, event_log.messages_after(cur, key.workspace_id, key.session_id, covered_pk,
                                                limit=max(every, due - covered), up_to_pk=last.pk)

        last, messages = d.store.read(read)
        task = f"summary_{kind}"
        summary = d.call(key, task, lambda: summarizer.summarise(
            d.llm, kind, previous["content"] if previous else None, messages, d.settings.model_context))

        def op(ctx: WriteContext) -> None:
            if summary.content:
                summaries_db.insert_summary(ctx, key.workspace_id, key.session_id, kind, summary.content, last.pk,
                                       last.id, summary.completion.completion_tokens, d.version)
            units.record_run(ctx, d.run_row(key, task, "ok" if summary.content else "empty", summary.completion,
                                            first_event_pk=messages[0].pk if messages else None,
                                            last_event_pk=last.pk, events=len(messages),
                                            outputs=1 if summary.content else 0))

        d.store.write(op, scoped=True)
        d.activity.add(key, messages=len(messages), summaries=1 if summary.content else 0)
        return summary.completion.seconds
