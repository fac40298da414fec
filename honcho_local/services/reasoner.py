"""The reasoning side of a work unit: read past the cursor, call the model with no transaction
open, then write the output and advance the cursor in one transaction (so re-running a unit never
duplicates, and a crash before the commit only means the batch runs again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from honcho_local import metrics
from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError
from honcho_local.llm.base import LLM, Completion, Embedder
from honcho_local.services import activity as steps
from honcho_local.services import configuration, deriver, peer_card, summarizer
from honcho_local.services.activity import Activity
from honcho_local.services.advances import PendingAdvances
from honcho_local.services.model_calls import ModelCalls, UnitFailed, run_row
from honcho_local.services.readcache import ReadCache
from honcho_local.services.versions import VersionSpec
from honcho_local.store import Store, WriteContext, derived, reads, units, ws_tag
from honcho_local.store import resources as repo
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from honcho_local.store.events import last_pk_before
from honcho_local.store.units import UnitKey

log = logging.getLogger(__name__)
SKIP_CANDIDATES = 100  # messages with their own configuration one skip step looks at


def message_embedding_text(peer_id: str, content: str) -> str:
    """The text a message is embedded as: the speaker's id, then the content (see `_embed_messages`)."""
    return f"{peer_id}: {content}"


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
        self._sleep = sleep  # between a model call's retries
        self.calls = ModelCalls(settings, store, self.activity, self.version)
        self.advances = PendingAdvances(store)  # skip advances waiting in memory (`_advance_only`)
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
        """One model call with retries; a failure is recorded (`ModelCalls.call`)."""
        return self.calls.call(key, task, fn, fatal, self._sleep)

    def _guard(self, key: UnitKey, fn: Callable[[], Any]) -> Any:
        """Run one step of `key`'s work: an exception of any type becomes the unit's recorded failure."""
        try:
            return fn()
        except UnitFailed:
            raise
        except Exception as exc:  # recorded, then the unit backs off (services/model_calls.py)
            raise self.calls.crashed(key, exc) from exc

    def _run_row(self, key: UnitKey, task: str, status: str, completion: Completion | None = None,
                 **extra: Any) -> dict[str, Any]:
        return run_row(self.version, key, task, status, completion, **extra)

    def _advance_only(self, key: UnitKey, cursor: int) -> None:
        """Move a unit past messages that need no model, without a write of its own (`PendingAdvances`)."""
        self.advances.add(key, cursor)

    def settle(self) -> None:
        """Write the advances waiting in memory and wait until they have landed (`PendingAdvances.settle`)."""
        self.advances.settle()

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
        pending = self.advances.pending(key)
        if unit is not None:
            return max(unit["cursor_pk"], pending)
        if self.spec.since is None:
            return pending
        return max(pending, last_pk_before(cur, key.workspace_id, key.session_id, self.spec.since))

    def process(self, key_text: str, retry_failed: bool = False) -> float:
        """Work a unit until it has caught up with the log. Returns the model seconds spent. A failed unit
        waits out its backoff (whatever woke it) unless `retry_failed` (`honcho-local reprocess`)."""
        key = UnitKey.parse(key_text)
        total = 0.0
        step_fn = self._representation_step if key.kind == "representation" else self._summary_step
        while True:  # a failure of any type is recorded and ends the run (`_guard`)
            step = self._guard(key, partial(step_fn, key, retry_failed))
            total += step.model_seconds + (self._guard(key, step.cards) if step.cards else 0.0)
            if not step.more:
                return total

    def process_together(self, key_texts: list[str], retry_failed: bool = False) -> float:
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
                    step = self._guard(key, partial(self._representation_step, key, retry_failed))
                except UnitFailed as exc:
                    failure = failure or exc
                    active.remove(key)
                    continue
                total += step.model_seconds
                if step.cards:
                    cards.append((key, step.cards))
                if not step.more:
                    active.remove(key)
            for key, refresh in cards:
                try:
                    total += self._guard(key, refresh)
                except UnitFailed as exc:
                    failure = failure or exc
                    if key in active:
                        active.remove(key)
        if failure is not None:
            raise failure
        return total

    # ---- representation units ---------------------------------------------------------------------
    def _unit_state(self, cur: Any, key: UnitKey) -> dict[str, Any]:
        unit = units.get_unit(cur, str(key))
        return {"cursor": self._start_cursor(cur, key, unit), "waiting": units.in_backoff(unit),
                **self._unit_resources(cur, key)}

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
        message before it as context) while the token budget lasts, by the counts stored at write time;
        the deriver then reads the head that fits the model's window (`deriver.fit`, `_derive`).
        Returns (messages, new cursor)."""
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

    def _representation_step(self, key: UnitKey, retry_failed: bool = False) -> Step:
        self.activity.step(key, steps.READING)
        state = self.store.read(lambda cur: self._unit_state(cur, key))
        cursor = state["cursor"]
        if state["session"] is None or (state["waiting"] and not retry_failed):  # a failed unit waits its backoff
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
        result = self._derive(key, lines, custom)
        # the model's window held fewer lines: the rest is the next batch's
        self._store_derived(key, observers, result.lines, result,
                            result.lines[-1].pk if len(result.lines) < len(lines) else new_cursor)
        cards = (lambda: self._maybe_refresh_cards(key, observers, ws_cfg, s_cfg)) if result.facts else None
        return Step(True, result.completion.seconds, cards)

    def _derive(self, key: UnitKey, lines: list[deriver.Line], custom: str | None) -> deriver.Derived:
        """One deriver call over the head of `lines` that fits the model's window, counted with the
        model's tokenizer (`deriver.fit`)."""
        s = self.settings
        return self._call(key, "deriver", lambda: deriver.derive(
            self.llm, key.observed_id or "", lines, s.reasoning_max_facts, s.reasoning_deductions, custom,
            s.model_context, s.reasoning_batch_size))

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
        done = self._call(key, "peer_profile", lambda: peer_card.write_profile(
            self.llm, observed, entries, recent, self.settings.model_context), fatal=False)
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
    def _summary_step(self, key: UnitKey, retry_failed: bool = False) -> Step:
        self.activity.step(key, steps.READING)

        def read(cur: Any) -> tuple[Any, int, int, Any, Any]:
            unit = units.get_unit(cur, str(key))
            rows = self._unit_resources(cur, key)
            head = self.store.message_head(cur, key.workspace_id, key.session_id)
            return rows["session"], self._start_cursor(cur, key, unit), head, rows["workspace"], unit

        session, cursor, head, workspace, unit = self.store.read(read)
        if session is None or head <= cursor or (units.in_backoff(unit) and not retry_failed):
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
            self.llm, kind, previous["content"] if previous else None, messages, self.settings.model_context))
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
