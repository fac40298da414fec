"""The reasoning side of a work unit: read past the cursor, call the model with no transaction
open, then write the output and advance the cursor in one transaction (so re-running a unit never
duplicates, and a crash before the commit only means the batch runs again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from honcho_local import metrics
from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError
from honcho_local.ids import new_id
from honcho_local.llm.base import LLM, Completion, Embedder
from honcho_local.services import activity as steps
from honcho_local.services import configuration, deriver, peer_card, summarizer
from honcho_local.services.activity import Activity
from honcho_local.services.readcache import ReadCache
from honcho_local.services.versions import VersionSpec
from honcho_local.store import Store, WriteContext, utcnow, ws_tag
from honcho_local.store import derived, reads, units
from honcho_local.store import resources as repo
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from honcho_local.store.units import UnitKey

log = logging.getLogger(__name__)
SKIP_CANDIDATES = 100  # messages with their own configuration one skip step looks at
# How long a unit's skip advance waits in memory for others to share its write (`_advance_only`)
ADVANCE_FLUSH_SECONDS = 1.0


def message_embedding_text(peer_id: str, content: str) -> str:
    """The text a message is embedded as: the speaker's id, then the content (see `_embed_messages`)."""
    return f"{peer_id}: {content}"


class UnitFailed(Exception):
    """A unit gave up after its retries; the failure is recorded and a later sweep retries it."""


@dataclass
class Step:
    """What one batch did: whether the unit may have more to do."""

    more: bool
    model_seconds: float = 0.0
    cards: Callable[[], float] | None = None  # the peer-card refresh this batch calls for (not yet run)


class Reasoner:
    def __init__(self, settings: Settings, store: Store, llm: LLM, version: str | VersionSpec,
                 embedder_factory: Callable[[], Embedder | None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, activity: Activity | None = None) -> None:
        self.settings = settings
        self.activity = activity or Activity()  # where this unit's steps and counts are reported
        self.store = store
        self.llm = llm
        self.spec = version if isinstance(version, VersionSpec) else VersionSpec(version)
        self.version = self.spec.name
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._embedder_failed = False
        self._sleep = sleep
        # unit key -> cursor of an advance submitted but not yet committed (`_advance_only`)
        self._pending_cursors: dict[str, int] = {}
        self._pending_advances: set[Future[None]] = set()
        self._unflushed: dict[str, UnitKey] = {}  # pending advances not yet sent to the store
        self._flush_timer: threading.Timer | None = None
        self._pending_lock = threading.Lock()
        # the workspace, session, peer and member rows a unit reads each run, kept until a commit touches
        # the workspace's resources (`ws_tag`): under a stream of writes a unit runs every coalescing
        # window, and these four queries were most of a run that ends in a skip
        self._resources = ReadCache(store, size=4096)

    # ---- shared plumbing ------------------------------------------------------------------------
    def embedder(self) -> Embedder | None:
        if self._embedder is None and not self._embedder_failed and self._embedder_factory is not None:
            try:
                self._embedder = self._embedder_factory()
            except HonchoLocalError as exc:
                self._embedder_failed = True
                log.warning("embeddings disabled: %s", exc.detail)
        return self._embedder

    def _call(self, key: UnitKey, task: str, fn: Callable[[], Any], fatal: bool = True) -> Any:
        """Run one model call with retries and backoff. When all fail: record the failure (with the
        model time it used) and raise `UnitFailed`; a non-`fatal` call records it and returns None."""
        last: HonchoLocalError | None = None
        spent = 0.0
        self.activity.step(key, steps.model_step(task))
        for attempt in range(self.settings.reasoning_retries):
            started = time.perf_counter()
            try:
                result = fn()
            except HonchoLocalError as exc:
                self.activity.add(key, model_seconds=time.perf_counter() - started)
                spent += time.perf_counter() - started
                last = exc
                metrics.MODEL_ERRORS.labels(task).inc()
                log.warning("%s for %s failed (attempt %d): %s", task, key, attempt + 1, exc.detail)
                if attempt + 1 < self.settings.reasoning_retries:
                    self._sleep(min(30.0, 0.5 * 2 ** attempt))
                continue
            metrics.REASONING_SECONDS.labels(task).observe(time.perf_counter() - started)
            self.activity.add(key, model_seconds=time.perf_counter() - started)
            return result
        assert last is not None
        if not fatal:
            self.store.write(lambda ctx: units.record_run(ctx, self._run_row(
                key, task, "failed", error=last.detail, seconds=spent, raw_output=getattr(last, "raw_output", None))),
                scoped=True)
            return None
        self._fail(key, task, last, spent)
        self.activity.fail(key, f"{task}: {last.detail}")
        raise UnitFailed(f"{task} for {key}: {last.detail}")

    def _fail(self, key: UnitKey, task: str, exc: HonchoLocalError, spent: float = 0.0) -> None:
        def op(ctx: WriteContext) -> None:
            backoff = self.settings.reasoning_retry_backoff
            attempts = units.mark_failed(ctx, key, f"{task}: {exc.detail}", timedelta(seconds=backoff))
            units.record_run(ctx, self._run_row(key, task, "failed", error=exc.detail, seconds=spent,
                                                raw_output=getattr(exc, "raw_output", None)))
            if attempts > 1:  # back off harder on a unit that keeps failing
                delay = min(3600.0, backoff * 2 ** (attempts - 1))
                ctx.conn.execute("UPDATE work_units SET next_attempt_at = ? WHERE key = ?",
                                 [utcnow() + timedelta(seconds=delay), str(key)])

        self.store.write(op, scoped=True)

    def _run_row(self, key: UnitKey, task: str, status: str, completion: Completion | None = None,
                 **extra: Any) -> dict[str, Any]:
        if completion is not None:
            metrics.TOKENS.labels(task, "prompt").inc(completion.prompt_tokens)
            metrics.TOKENS.labels(task, "completion").inc(completion.completion_tokens)
            if completion.fallback_used:
                metrics.FALLBACK_USES.labels(task).inc()
        row = {"id": new_id(), "unit_key": str(key), "version": self.version, "task": task, "status": status,
               "events": 0, "prompt_tokens": completion.prompt_tokens if completion else 0,
               "completion_tokens": completion.completion_tokens if completion else 0,
               "seconds": completion.seconds if completion else 0.0, "outputs": 0,
               "provider": completion.provider if completion else None,
               "model": completion.model if completion else None,
               "fallback_used": bool(completion and completion.fallback_used), "created_at": utcnow()}
        row.update(extra)
        return row

    def _advance_only(self, key: UnitKey, cursor: int) -> None:
        """Move a unit past messages that need no model, without a write of its own: the advance waits
        in memory up to ADVANCE_FLUSH_SECONDS, then every advance made meanwhile (by any unit) goes to
        the store as one operation and one upsert. Until it has landed the unit reads its cursor as the
        larger of the stored one and the pending one. Under a stream of writes these were one blocking
        upsert per unit run, each turning its commit group into a transaction: 12-19% of the writer
        thread's time (py-spy, bench_write.py). An advance lost to a crash is found again by the
        sweep: skipping is idempotent."""
        text = str(key)
        with self._pending_lock:
            self._pending_cursors[text] = max(cursor, self._pending_cursors.get(text, 0))
            self._unflushed[text] = key
            if self._flush_timer is None:
                self._flush_timer = threading.Timer(ADVANCE_FLUSH_SECONDS, self.flush_advances)
                self._flush_timer.daemon = True
                self._flush_timer.start()

    def flush_advances(self) -> None:
        """Send the advances waiting in memory to the store (one operation; returns without waiting)."""
        with self._pending_lock:
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            items = [(key, self._pending_cursors[text]) for text, key in self._unflushed.items()]
            self._unflushed.clear()
        if not items:
            return

        def op(ctx: WriteContext) -> None:
            for key, cursor in items:
                units.advance_later(ctx, key, cursor)

        try:
            future = self.store.submit(op, scoped=True)
        except RuntimeError:  # the store closed first: the sweep finds these units again
            log.debug("store closed before %d cursor advances were written", len(items))
            with self._pending_lock:
                for key, cursor in items:
                    if self._pending_cursors.get(str(key)) == cursor:
                        del self._pending_cursors[str(key)]
            return
        with self._pending_lock:
            self._pending_advances.add(future)
        future.add_done_callback(lambda f: self._advances_landed(f, items))

    def _advances_landed(self, future: Future[None], items: list[tuple[UnitKey, int]]) -> None:
        """The advances committed (or failed: then the stored cursors are the truth again)."""
        with self._pending_lock:
            self._pending_advances.discard(future)
            for key, cursor in items:
                text = str(key)
                if self._pending_cursors.get(text) == cursor and text not in self._unflushed:
                    del self._pending_cursors[text]

    def settle(self) -> None:
        """Write the advances waiting in memory and wait until they have landed, so the stored cursors
        tell all (before the sweep reads which units lag, and at shutdown)."""
        self.flush_advances()
        with self._pending_lock:
            pending = list(self._pending_advances)
        for future in pending:
            try:
                future.result()
            except Exception:  # noqa: BLE001 - a failed advance leaves the stored cursor, the truth
                pass

    # ---- entry points ---------------------------------------------------------------------------
    def lagging(self, waiting: bool = False) -> list[str]:
        """Units behind the log that may run now (`waiting`: also failed ones in their backoff)."""
        self.settle()  # a unit whose advance is on its way to the store is not lagging
        keys = self.store.read(lambda cur: units.lagging_units(cur, self.version, waiting=waiting))
        if self.spec.workspace is not None:
            keys = [k for k in keys if UnitKey.parse(k).workspace_id == self.spec.workspace]
        return keys

    def _start_cursor(self, cur: Any, key: UnitKey, unit: dict[str, Any] | None) -> int:
        """A unit's cursor (or the advance on its way to the store, `_advance_only`); a new unit of a
        version with a `since` cut-off starts at that moment."""
        pending = self._pending_cursors.get(str(key), 0)
        if unit is not None:
            return max(unit["cursor_pk"], pending)
        if self.spec.since is None:
            return pending
        since = cur.execute("SELECT coalesce(max(pk), 0) FROM events WHERE workspace_id = ? AND session_id = ? "
                            "AND created_at < ?", [key.workspace_id, key.session_id, self.spec.since]).fetchone()[0]
        return max(pending, since)

    def process(self, key_text: str) -> float:
        """Work a unit until it has caught up with the log. Returns the model seconds spent."""
        key = UnitKey.parse(key_text)
        total = 0.0
        step_fn = self._representation_step if key.kind == "representation" else self._summary_step
        while True:
            step = step_fn(key)
            total += step.model_seconds + (step.cards() if step.cards else 0.0)
            if not step.more:
                return total

    def process_together(self, key_texts: list[str]) -> float:
        """Work the representation units of one session's peers in lockstep, one batch each in turn,
        until all have caught up. Their windows start at the same message, so each prompt after the
        first repeats the one before up to the question, and llama.cpp re-reads only the rest
        (measured on the full LoCoMo run: a deriver call right after its sibling's took 14.7 s median,
        28.5 s otherwise; before this, only 42 of 210 calls came right after their sibling's). Peer-card
        refreshes wait until each unit of the round has derived, so they do not break that prefix. A
        unit that fails leaves the round; the others go on, and the first failure is raised at the end."""
        active = [UnitKey.parse(k) for k in key_texts]
        total = 0.0
        failure: UnitFailed | None = None
        while active:
            cards = []
            for key in list(active):
                try:
                    step = self._representation_step(key)
                except UnitFailed as exc:
                    failure = failure or exc
                    active.remove(key)
                    continue
                total += step.model_seconds
                if step.cards:
                    cards.append(step.cards)
                if not step.more:
                    active.remove(key)
            for refresh in cards:
                total += refresh()
        if failure is not None:
            raise failure
        return total

    # ---- representation units ---------------------------------------------------------------------
    def _unit_state(self, cur: Any, key: UnitKey) -> dict[str, Any]:
        unit = units.get_unit(cur, str(key))
        return {"cursor": self._start_cursor(cur, key, unit), **self._unit_resources(cur, key)}

    def _unit_resources(self, cur: Any, key: UnitKey) -> dict[str, Any]:
        """The unit's workspace, session, observed peer and active members (read-only: shared by runs)."""
        def read() -> dict[str, Any]:
            return {
                "workspace": repo.get_workspace(cur, key.workspace_id),
                "session": repo.get_session(cur, key.workspace_id, key.session_id),
                "peer": repo.get_peer(cur, key.workspace_id, key.observed_id) if key.observed_id else None,
                "members": repo.get_members(cur, key.workspace_id, key.session_id, active_only=True),
            }
        return self._resources.get((key.workspace_id, key.session_id, key.observed_id), read,
                                   [ws_tag(key.workspace_id)])

    def _window(self, cur: Any, key: UnitKey, cursor: int) -> tuple[list[dict[str, Any]], int]:
        """Messages to reason over: from the first unprocessed message of the observed peer (with the
        message before it as context) while the token budget lasts. Returns (messages, new cursor)."""
        rows = derived.messages_after(cur, key.workspace_id, key.session_id, cursor)
        first = next((i for i, r in enumerate(rows) if r["peer_id"] == key.observed_id), None)
        if first is None:
            return [], rows[-1]["pk"] if rows else cursor
        window: list[dict[str, Any]] = []
        before = derived.message_before(cur, key.workspace_id, key.session_id, rows[first]["pk"])
        if before is not None and before["peer_id"] != key.observed_id:
            window.append(before)
        budget = self.settings.reasoning_batch_size
        used = sum(self._line_tokens(key, r) for r in window)
        for r in rows[first:]:
            cost = self._line_tokens(key, r)
            if window and used + cost > budget and any(w["peer_id"] == key.observed_id for w in window):
                break
            window.append(r)
            used += cost
        return window, window[-1]["pk"]

    def _skip(self, key: UnitKey, cursor: int, observed: bool, ws_cfg: Any, s_cfg: Any) -> tuple[int, bool]:
        """Where a unit with nothing to reason at `cursor` can go on from: past every following message
        that would not be reasoned either (all of them when nobody observes the peer); and whether any
        may be left. Only the peer's messages that carry their own configuration can differ from the
        session's setting, so the database finds the candidates and no other row reaches Python.
        One window at a time, a stream of writes kept the worker stepping through windows that end in a
        cursor write (a fifth of the server's CPU at 1,400 single-message writes/s, py-spy)."""
        base = observed and configuration.resolve(self.settings, ws_cfg, s_cfg).reasoning_enabled

        def read(cur: Any) -> tuple[int, list[dict[str, Any]]]:
            # the head first: a message that arrives after it is left for the next run, never skipped
            head = self.store.message_head(cur, key.workspace_id, key.session_id)
            return head, [] if not observed else derived.reasoning_candidates(
                cur, key.workspace_id, key.session_id, key.observed_id or "", cursor, head, base, SKIP_CANDIDATES)

        head, candidates = self.store.read(read)
        for r in candidates:
            if configuration.resolve(self.settings, ws_cfg, s_cfg, r["configuration"]).reasoning_enabled:
                # the next window starts at this message (with the one before it as context)
                before = self.store.read(lambda cur: derived.pk_before(cur, key.workspace_id, key.session_id,
                                                                      r["pk"]))
                return max(cursor, before or cursor), True
        if len(candidates) == SKIP_CANDIDATES:  # none of them is reasoned: go on after the last
            return candidates[-1]["pk"], True
        return max(cursor, head), False

    def _line_limit(self, key: UnitKey, peer_id: str) -> int:
        return deriver.MAX_TARGET_CHARS if peer_id == key.observed_id else self.settings.reasoning_context_chars

    def _line_tokens(self, key: UnitKey, row: dict[str, Any]) -> int:
        """A message's share of the window budget: what the deriver reads of it (context lines are cut)."""
        limit = self._line_limit(key, row["peer_id"])
        return row["token_count"] if len(row["content"]) <= limit else min(row["token_count"], limit // 3)

    def _representation_step(self, key: UnitKey) -> Step:
        self.activity.step(key, steps.READING)
        state = self.store.read(lambda cur: self._unit_state(cur, key))
        cursor = state["cursor"]
        if state["session"] is None:
            return Step(False)
        member = next((m for m in state["members"] if m["peer_id"] == key.observed_id), None)
        observe_me = configuration.effective_observe_me((state["peer"] or {}).get("configuration"), member)
        observers = configuration.observers_for(key.observed_id or "", observe_me, state["members"])
        ws_cfg, s_cfg = (state["workspace"] or {}).get("configuration"), state["session"].get("configuration")
        if not observers:  # nothing of this peer is reasoned: no window to read
            skipped_to, more = self._skip(key, cursor, False, ws_cfg, s_cfg)
            if skipped_to > cursor:
                self._advance_only(key, skipped_to)
            return Step(more)
        if not configuration.resolve(self.settings, ws_cfg, s_cfg).reasoning_enabled:
            # Only a message's own configuration can turn reasoning on: look for one before reading a
            # window (up to 200 rows and the message before them, every run of the unit under a stream
            # of writes, where nothing comes of it).
            skipped_to, more = self._skip(key, cursor, True, ws_cfg, s_cfg)
            if skipped_to > cursor or not more:
                if skipped_to > cursor:
                    self._advance_only(key, skipped_to)
                return Step(more)
        window, new_cursor = self.store.read(lambda cur: self._window(cur, key, cursor))
        if new_cursor <= cursor:
            return Step(False)
        lines, custom = self._lines(key, window, ws_cfg, s_cfg)
        if not any(ln.target for ln in lines):
            skipped_to, more = self._skip(key, new_cursor, True, ws_cfg, s_cfg)
            self._advance_only(key, skipped_to)
            return Step(more)
        result = self._call(key, "deriver", lambda: deriver.derive(
            self.llm, key.observed_id or "", lines, self.settings.reasoning_max_facts,
            self.settings.reasoning_deductions, custom))
        self._store_derived(key, observers, lines, result, new_cursor)
        cards = (lambda: self._maybe_refresh_cards(key, observers, ws_cfg, s_cfg)) if result.facts else None
        return Step(True, result.completion.seconds, cards)

    def _lines(self, key: UnitKey, window: list[dict[str, Any]], ws_cfg: Any,
               s_cfg: Any) -> tuple[list[deriver.Line], str | None]:
        lines, custom = [], None
        for i, r in enumerate(window, start=1):
            resolved = configuration.resolve(self.settings, ws_cfg, s_cfg, r.get("configuration"))
            target = r["peer_id"] == key.observed_id and resolved.reasoning_enabled
            if target:
                custom = resolved.custom_instructions or custom
            text = deriver.clip(r["content"], self._line_limit(key, r["peer_id"]))
            lines.append(deriver.Line(i, r["id"], r["pk"], r["peer_id"], text, r["created_at"], target))
        extra = self.spec.custom_instructions
        return lines, (f"{custom}\n{extra}" if custom and extra else custom or extra)

    def _embed(self, texts: list[str]) -> tuple[list[list[float]] | None, str | None]:
        embedder = self.embedder()
        if embedder is None or not texts:
            return None, None
        try:
            return embedder.embed(texts, kind="document").vectors, embedder.model
        except HonchoLocalError as exc:
            log.warning("embedding failed: %s", exc.detail)
            return None, None

    def _store_derived(self, key: UnitKey, observers: list[str], lines: list[deriver.Line],
                       result: deriver.Derived, new_cursor: int) -> None:
        self.activity.step(key, steps.WRITING)
        vectors, model = self._embed([f.content for f in result.facts])
        targets = [ln for ln in lines if ln.target]
        status = "ok" if result.facts else "empty"
        run = self._run_row(key, "deriver", status, result.completion, first_event_pk=targets[0].pk,
                            last_event_pk=new_cursor, events=len(targets), outputs=len(result.facts),
                            raw_output=None if result.facts else result.completion.text[:4000])

        def op(ctx: WriteContext) -> None:
            for observer in observers:
                explicit_ids: list[str] = []
                for i, fact in enumerate(result.facts):
                    premise_ids = [explicit_ids[p] for p in fact.premises if p < len(explicit_ids)]
                    [stored] = insert_conclusions(ctx, [NewConclusion(
                        key.workspace_id, observer, key.observed_id or "", fact.content, fact.level,
                        key.session_id, vectors[i] if vectors else None, model, fact.source_ids, premise_ids,
                        {}, fact.observed_at)], self.version)
                    if fact.level == "explicit":
                        explicit_ids.append(stored.id)
            units.advance(ctx, key, new_cursor)
            units.record_run(ctx, run)

        self.store.write(op, scoped=True)
        metrics.CONCLUSIONS.inc(len(result.facts) * len(observers))
        self.activity.add(key, messages=len(targets), conclusions=len(result.facts))

    def _maybe_refresh_cards(self, key: UnitKey, observers: list[str], ws_cfg: Any, s_cfg: Any) -> float:
        if not configuration.resolve(self.settings, ws_cfg, s_cfg).card_create:
            return 0.0
        seconds = 0.0
        observed = key.observed_id or ""
        for observer in observers:
            card = self.store.read(lambda cur: derived.latest_card(cur, key.workspace_id, observer, observed,
                                                                   self.version))
            since = card["created_at"] if card and card["source"] == "worker" else None
            fresh = self.store.read(lambda cur: derived.conclusions_since(
                cur, key.workspace_id, observer, observed, self.version, since))
            if fresh < self.settings.peer_card_every and card is not None:
                continue
            profile = self._refresh_card(key, observer, observed)
            seconds += profile.seconds if profile else 0.0
        return seconds

    def _refresh_card(self, key: UnitKey, observer: str, observed: str) -> Completion | None:
        """Rebuild the card from the live explicit conclusions (no model), then write the profile
        (one short model call, best effort: a failure is recorded and the card is saved anyway).
        Returns the profile call's completion (None when it failed)."""
        self.activity.step(key, steps.PEER_CARD)

        def read(cur: Any) -> tuple[list[str], list[str], list[str]]:
            args = (cur, key.workspace_id, observer, observed, self.version)
            return (derived.recent_conclusions(*args, limit=400, level="explicit"), derived.pinned_card(*args),
                    derived.recent_conclusions(*args, limit=8, newest_first=True))

        facts, pinned, recent = self.store.read(read)
        entries = peer_card.build_card(observed, facts, pinned)
        done = self._call(key, "peer_profile", lambda: peer_card.write_profile(self.llm, observed, entries, recent),
                          fatal=False)
        profile, completion = done if done else ("", None)

        def op(ctx: WriteContext) -> None:
            reads.append_card(ctx, key.workspace_id, observer, observed, entries, self.version, source="worker")
            if profile:
                derived.insert_profile(ctx, key.workspace_id, observer, observed, profile, self.version)
                units.record_run(ctx, self._run_row(key, "peer_profile", "ok", completion, outputs=1))
            units.record_run(ctx, self._run_row(key, "peer_card", "ok" if entries else "empty", None,
                                                outputs=len(entries)))

        self.store.write(op, scoped=True)
        self.activity.add(key, cards=1)
        return completion

    # ---- summary units ----------------------------------------------------------------------------
    def _summary_step(self, key: UnitKey) -> Step:
        self.activity.step(key, steps.READING)

        def read(cur: Any) -> tuple[Any, int, int, Any, Any]:
            unit = units.get_unit(cur, str(key))
            rows = self._unit_resources(cur, key)
            head = self.store.message_head(cur, key.workspace_id, key.session_id)
            return rows["session"], self._start_cursor(cur, key, unit), head, rows["workspace"], unit

        session, cursor, head, workspace, _ = self.store.read(read)
        if session is None or head <= cursor:
            return Step(False)
        resolved = configuration.resolve(self.settings, (workspace or {}).get("configuration"),
                                         session.get("configuration"))
        self._embed_messages(key, cursor, head)
        seconds = 0.0
        if resolved.summary_enabled:
            for kind, every in (("short", resolved.short_every), ("long", resolved.long_every)):
                seconds += self._summarise_if_due(key, kind, every, head)
        self._advance_only(key, head)
        return Step(False, seconds)

    def _embed_messages(self, key: UnitKey, cursor: int, head: int) -> None:
        """Embed the session's new messages for semantic search, whether or not reasoning is on (an
        embedding costs milliseconds, no chat model). Messages already embedded are skipped. The text
        embedded names the speaker ("alice: I moved to Lisbon."): questions name people (measured on
        LoCoMo: evidence recall@10 of dense search 0.31 without the name, 0.45 with it)."""
        embedder = self.embedder()
        if embedder is None:
            return
        pending = self.store.read(lambda cur: derived.missing_message_embeddings(
            cur, key.workspace_id, key.session_id, embedder.model, head, after_pk=cursor))
        for start in range(0, len(pending), 64):
            self.activity.step(key, steps.EMBEDDING)
            chunk = pending[start:start + 64]
            vectors, model = self._embed([message_embedding_text(peer, content) for _, peer, content in chunk])
            if not vectors:
                return
            self.store.write(lambda ctx: derived.insert_message_embeddings(
                ctx, key.workspace_id, key.session_id, model or "", [(r[0], v) for r, v in zip(chunk, vectors)]),
                scoped=True)
            self.activity.add(key, embedded=len(chunk))

    def _summarise_if_due(self, key: UnitKey, kind: str, every: int, head: int) -> float:
        count, _ = self.store.read(lambda cur: derived.session_message_stats(cur, key.workspace_id,
                                                                             key.session_id, head))
        due = (count // every) * every
        previous = self.store.read(lambda cur: derived.latest_summary(cur, key.workspace_id, key.session_id,
                                                                      kind, self.version))
        covered_pk = previous["last_event_pk"] if previous else 0
        covered, _ = self.store.read(lambda cur: derived.session_message_stats(
            cur, key.workspace_id, key.session_id, covered_pk)) if previous else (0, 0)
        if due == 0 or due <= covered:
            return 0.0
        self.activity.step(key, steps.SUMMARY)
        last = self.store.read(lambda cur: derived.nth_message(cur, key.workspace_id, key.session_id, due))
        messages = self.store.read(lambda cur: derived.messages_after(
            cur, key.workspace_id, key.session_id, covered_pk, limit=max(every, due - covered), up_to_pk=last["pk"]))
        summary = self._call(key, f"summary_{kind}", lambda: summarizer.summarise(
            self.llm, kind, previous["content"] if previous else None, messages))
        task = f"summary_{kind}"

        def op(ctx: WriteContext) -> None:
            if summary.content:
                derived.insert_summary(ctx, key.workspace_id, key.session_id, kind, summary.content, last["pk"],
                                       last["id"], summary.completion.completion_tokens, self.version)
            units.record_run(ctx, self._run_row(key, task, "ok" if summary.content else "empty", summary.completion,
                                                first_event_pk=messages[0]["pk"] if messages else None,
                                                last_event_pk=last["pk"], events=len(messages),
                                                outputs=1 if summary.content else 0))

        self.store.write(op, scoped=True)
        self.activity.add(key, messages=len(messages), summaries=1 if summary.content else 0)
        return summary.completion.seconds
