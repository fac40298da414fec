"""Dialectic chat (`POST …/peers/{p}/chat`): retrieve first, then one answer call to the model.

Small local models cannot drive a tool loop reliably (see DESIGN.md), so retrieval is done up front:
conclusions (explicit and derived) nearest to the query, the peer card and profile, messages found
by hybrid search and, with `session_id`, the session's recent messages. `reasoning_level` sets how
much is retrieved. The prompt is trimmed to the model's context window. `response_format` (a JSON
schema with an object root) turns on constrained output. Streaming yields Honcho's SSE lines.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from honcho_local.errors import ModelError, ModelUnavailable, NotFound
from honcho_local.llm.base import ChatRequest
from honcho_local.metrics import CHAT_SECONDS, CHAT_TOKENS
from honcho_local.services import views
from honcho_local.services.allowlist import session_allowlist
from honcho_local.services.chat_prompt import (
    Level,
    Prepared,
    build_evidence,
    build_prompt,
    check_schema,
    evidence_conclusion,
    level_named,
)
from honcho_local.services.representation import Recall, Representations
from honcho_local.services.search import Search
from honcho_local.services.tokens import estimate_tokens
from honcho_local.services.versions import cached_read_version
from honcho_local.store import Store, cards
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store.conclusions import Conclusion

log = logging.getLogger(__name__)


# Every fifth retrieved message is a conclusion's source (docs/decisions/007-tuned-constants.md).
SOURCE_EVERY = 5


def mix_sources(hits: list[str], sources: list[str], limit: int, every: int = SOURCE_EVERY) -> list[str]:
    """Message ids in answer order: for every k <= `limit`, the first k are the first k - k // `every`
    search hits plus the first k // `every` sources not among those hits (a source search ranks
    higher keeps its place), so any prefix is itself the mix for that size; when one list runs out
    the other fills. Ids are unique."""
    out: list[str] = []
    placed: set[str] = set()
    for k in range(1, limit + 1):
        head = hits[:k - k // every]
        taken = set(head)
        extra = [s for s in sources if s not in taken][:k // every]
        for i in itertools.chain(head, extra, hits[len(head):], sources):
            if len(out) == k:
                break
            if i not in placed:
                placed.add(i)
                out.append(i)
        if len(out) < k:
            break
    return out


class Dialectic:
    def __init__(self, store: Store, representations: Representations, search: Search,
                 get_llm: Callable[[], Any], context_tokens: int = 4096) -> None:
        self.store = store
        self.representations = representations
        self.search = search
        self.get_llm = get_llm
        self.context_tokens = context_tokens

    def prepare(self, workspace_id: str, peer_id: str, body: Any) -> Prepared:
        """Validate, retrieve and build the model request (no model call; raises 4xx before any)."""
        level = level_named(body.reasoning_level)
        schema = check_schema(body.response_format)
        observed = body.target or peer_id
        memory, hits = self.gather(workspace_id, peer_id, body, level, level.messages)
        messages = self.prompt(peer_id, observed, body.query, memory, hits, level, schema)
        evidence = build_evidence(memory["conclusions"], hits + memory["history"])
        return Prepared(ChatRequest(messages=messages, max_tokens=level.max_tokens, schema=schema), evidence)

    def gather(self, workspace_id: str, peer_id: str, body: Any, level: Level,
               limit: int) -> tuple[dict[str, Any], list[event_log.Message]]:
        """The memory a chat answer is built from: conclusions, card, profile, recent history, and the
        `limit` most relevant messages: message search, with one slot in every `SOURCE_EVERY` given to
        the source messages of the retrieved conclusions (a fact found by reasoning brings its original
        words and date); see `mix_sources`."""
        observed = body.target or peer_id
        allow = session_allowlist(getattr(body, "filters", None), body.session_id)
        memory = self.store.read(lambda cur: self._retrieve(cur, workspace_id, peer_id, observed, body, level, allow))
        return memory, self.messages_for(workspace_id, body.query, body.session_id, memory["conclusions"],
                                         max(limit, level.messages), limit, allow)

    def messages_for(self, workspace_id: str, query: str, session_id: str | None, conclusions: list[Conclusion],
                     depth: int, limit: int, allow: list[str] | None = None) -> list[event_log.Message]:
        """The `limit` messages for an answer: search hits mixed with the conclusions' sources (`mix_sources`),
        all from `session_id` when given and from the allowed sessions when there is an allowlist."""
        within = None if allow is None else {"session_id": {"in": allow}}
        hits = self.search.ranked(workspace_id, query, depth, within, session_id=session_id)
        source_ids = list(dict.fromkeys(i for c in conclusions for i in (c.source_ids or [])))
        if not source_ids:
            return hits[:limit]
        sources = self.store.read(lambda cur: event_log.messages_by_id(cur, workspace_id, source_ids))
        sources = {k: m for k, m in sources.items() if (session_id is None or m.session_id == session_id)
                   and (allow is None or m.session_id in allow)}
        rows = {m.id: m for m in [*hits, *sources.values()]}
        ordered = mix_sources([m.id for m in hits], [i for i in source_ids if i in sources], limit)
        return [rows[i] for i in ordered]

    def recall(self, workspace_id: str, peer_id: str, body: Any) -> dict[str, Any]:
        """What chat would retrieve for `query`, without the model call (honcho-local extension)."""
        level = level_named(body.reasoning_level)
        limit = body.limit or level.messages
        memory, hits = self.gather(workspace_id, peer_id, body, level, limit)
        return {"conclusions": [evidence_conclusion(c) for c in memory["conclusions"]],
                "messages": [views.message(m) for m in hits],
                "peer_card": memory["card"], "profile": memory["profile"]}

    def _retrieve(self, cur: Any, workspace_id: str, observer: str, observed: str, body: Any,
                  level: Level, allow: list[str] | None = None) -> dict[str, Any]:
        """Conclusions, card, profile and session history; with an allowlist only explicit conclusions stated
        in those sessions, and no card or profile (they carry no per-session provenance), as in Honcho."""
        if observed != observer and peers_db.get_peer(cur, workspace_id, observed) is None:
            raise NotFound(f"target peer {observed!r} not found in workspace {workspace_id!r}")
        history = session_history(cur, workspace_id, body.session_id, level)
        version = cached_read_version(self.representations.cache, cur, workspace_id, observed)
        conclusions = self._conclusions(cur, workspace_id, version, observer, observed, body.query, level, allow)
        if allow is not None:
            return {"conclusions": conclusions, "card": None, "profile": None, "history": history}
        card = self.representations.card_of(cur, workspace_id, observer, observed, None, None)
        profile = cards.current_profile(cur, workspace_id, observer, observed, version)
        return {"conclusions": conclusions, "card": card, "profile": profile, "history": history}

    def _conclusions(self, cur: Any, workspace_id: str, version: str, observer: str, observed: str, query: str,
                     level: Level, allow: list[str] | None = None) -> list[Conclusion]:
        """Nearest explicit and nearest derived conclusions; recent ones when nothing is embedded. With an
        allowlist, explicit conclusions stated in those sessions only."""
        vector = self.representations.queries.embed(query)
        model = self.representations.queries.model
        found: list[Conclusion] = []
        groups = [["explicit"], ["deductive", "inductive", "contradiction"]][:1 if allow is not None else 2]
        if vector is not None and model:
            pair: dict[str, Any] = {"observer_id": observer, "observed_id": observed}
            if allow is not None:
                pair["session_id"] = {"in": allow}
            for levels in groups:
                found += conclusions_db.query_conclusions(cur, workspace_id, version, vector, model, level.conclusions, None,
                                                 {**pair, "level": levels})
        if len(found) < level.conclusions:
            recall = Recall(max_conclusions=min(level.conclusions, 100), include_most_frequent=True, sessions=allow)
            seen = {c.id for c in found}
            found += [c for c in self.representations.conclusions(cur, workspace_id, version, observer, observed,
                                                                  recall, None) if c.id not in seen]
        return found

    def prompt(self, observer: str, observed: str, query: str, memory: dict[str, Any], hits: list[event_log.Message],
               level: Level, schema: dict[str, Any] | None) -> list[dict[str, str]]:
        """The chat messages for this model's window (`chat_prompt.build_prompt`)."""
        return build_prompt(self._counter(), self.context_tokens, observer, observed, query, memory, hits, level,
                            schema)

    def _counter(self) -> Callable[[str], int]:
        """The answer model's own token count (BEAM-style long messages overflow a character estimate);
        the estimate when the model cannot count."""
        counter = getattr(self._llm(), "count_tokens", None)
        if counter is None:
            return estimate_tokens

        def count(text: str) -> int:
            try:
                return int(counter(text)) if text else 0
            except Exception:  # noqa: BLE001 - a model that cannot count: fall back, never fail the chat
                return estimate_tokens(text)

        return count

    def _llm(self) -> Any:
        try:
            return self.get_llm()
        except ModelUnavailable as exc:
            raise ModelUnavailable(_unavailable(exc.detail)) from exc

    def answer(self, prepared: Prepared, include_evidence: bool) -> dict[str, Any]:
        done = self._llm().complete(prepared.request)
        _count(done.prompt_tokens, done.completion_tokens, done.seconds)
        if prepared.request.schema is not None:
            content = json.dumps(done.parsed if done.parsed is not None else json.loads(done.text))
        else:
            content = done.text.strip()
        if not content:
            raise ModelError(f"the model ({done.model}) returned an empty answer")
        out: dict[str, Any] = {"content": content}
        if include_evidence:
            out["evidence"] = prepared.evidence
        return out

    def stream(self, prepared: Prepared, include_evidence: bool) -> Iterator[str]:
        """SSE lines. The first chunk is produced before this returns, so model errors are HTTP errors."""
        chunks = iter(self._llm().stream(prepared.request))
        first = next(chunks, None)
        return self._sse(first, chunks, prepared, include_evidence)

    def _sse(self, first: Any, chunks: Iterator[Any], prepared: Prepared, include_evidence: bool) -> Iterator[str]:
        started = time.monotonic()
        try:
            for chunk in itertools.chain([first] if first is not None else [], chunks):
                if chunk.text:
                    yield f"data: {json.dumps({'delta': {'content': chunk.text}, 'done': False})}\n\n"
                if chunk.prompt_tokens is not None:  # the last chunk carries the call's token counts
                    _count(chunk.prompt_tokens, chunk.completion_tokens or 0, time.monotonic() - started)
        except Exception:  # the status line is gone: log and end the stream cleanly
            log.exception("chat stream failed")
        finally:  # a client that hung up must not leave the model locked mid-generation
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        final: dict[str, Any] = {"done": True}
        if include_evidence:
            final["evidence"] = prepared.evidence
        yield f"data: {json.dumps(final)}\n\n"


def _count(prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
    CHAT_TOKENS.labels("prompt").inc(prompt_tokens)
    CHAT_TOKENS.labels("completion").inc(completion_tokens)
    CHAT_SECONDS.observe(seconds)


def _unavailable(detail: str) -> str:
    return (f"no chat model is available ({detail}). Configure `reasoning_model` (HONCHO_LOCAL_REASONING_MODEL: "
            "a catalog name such as smollm2-135m or qwen2.5-coder-1.5b, or a path to a .gguf file) and fetch it "
            "with `honcho-local models pull NAME`, or point `openai_base_url` / `openai_api_key` / "
            "`fallback_model` at an OpenAI-compatible endpoint.")


def session_history(cur: Any, workspace_id: str, session_id: str | None, level: Level) -> list[event_log.Message]:
    """The named session's recent messages for a chat prompt (none without a session); 404 for a missing one."""
    if session_id is None:
        return []
    row = sessions_db.get_session(cur, workspace_id, session_id)
    if row is None or not row.is_active:
        raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
    return event_log.recent_messages(cur, workspace_id, session_id, 0, level.history)
