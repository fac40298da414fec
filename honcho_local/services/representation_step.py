"""The step of a representation unit: read the unit's state and the window of messages past its cursor,
plan the deriver's lines, call the model with no transaction open, then write the conclusions and
advance the cursor in one transaction (re-running a unit never duplicates; a crash before the commit
only means the batch runs again). A unit with nothing to reason skips ahead without a model."""

from __future__ import annotations

from typing import Any

from honcho_local import metrics
from honcho_local.services import activity as steps
from honcho_local.services import configuration, deriver
from honcho_local.services.card_step import CardStep
from honcho_local.services.unit_deps import UnitDeps
from honcho_local.services.unit_step import Step
from honcho_local.store import WriteContext, units
from honcho_local.store import events as event_log
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from honcho_local.store.sql import Cursor
from honcho_local.store.units import UnitKey

SKIP_CANDIDATES = 100  # messages with their own configuration one skip step looks at


class RepresentationStep:
    def __init__(self, deps: UnitDeps, cards: CardStep) -> None:
        self.deps = deps
        self.cards = cards

    def run(self, key: UnitKey, retry_failed: bool = False) -> Step:
        d = self.deps
        d.activity.step(key, steps.READING)
        state = d.store.read(lambda cur: self._unit_state(cur, key))
        cursor = state["cursor"]
        if state["session"] is None or (state["waiting"] and not retry_failed):  # a failed unit waits its backoff
            return Step(False)
        member = next((m for m in state["members"] if m["peer_id"] == key.observed_id), None)
        peer, workspace = state["peer"], state["workspace"]
        observe_me = configuration.effective_observe_me(peer.configuration if peer else None, member)
        observers = configuration.observers_for(key.observed_id or "", observe_me, state["members"])
        ws_cfg, s_cfg = workspace.configuration if workspace else None, state["session"].configuration
        if not observers:  # nothing of this peer is reasoned: no window to read
            skipped_to, more = self._skip(key, cursor, False, ws_cfg, s_cfg)
            if skipped_to > cursor:
                d.advances.add(key, skipped_to)
            return Step(more)
        if not configuration.resolve(d.settings, ws_cfg, s_cfg).reasoning_enabled:
            # Only a message's own configuration can turn reasoning on: look for one before reading a
            # window (up to 200 rows and the message before them, every run of the unit under a stream
            # of writes, where nothing comes of it).
            skipped_to, more = self._skip(key, cursor, True, ws_cfg, s_cfg)
            if skipped_to > cursor or not more:
                if skipped_to > cursor:
                    d.advances.add(key, skipped_to)
                return Step(more)
        window, new_cursor = d.store.read(lambda cur: self.window(cur, key, cursor))
        if new_cursor <= cursor:
            return Step(False)
        lines, custom = self._lines(key, window, ws_cfg, s_cfg)
        if not any(ln.target for ln in lines):
            skipped_to, more = self._skip(key, new_cursor, True, ws_cfg, s_cfg)
            d.advances.add(key, skipped_to)
            return Step(more)
        result = self._derive(key, lines, custom)
        # the model's window held fewer lines: the rest is the next batch's
        self._store(key, observers, result.lines, result,
                    result.lines[-1].pk if len(result.lines) < len(lines) else new_cursor)
        cards = (lambda: self.cards.refresh_due(key, observers, ws_cfg, s_cfg)) if result.facts else None
        return Step(True, result.completion.seconds, cards)

    def _unit_state(self, cur: Cursor, key: UnitKey) -> dict[str, Any]:
        unit = units.get_unit(cur, str(key))
        return {"cursor": self.deps.start_cursor(cur, key, unit), "waiting": units.in_backoff(unit),
                **self.deps.unit_resources(cur, key)}

    def window(self, cur: Cursor, key: UnitKey, cursor: int) -> tuple[list[event_log.Message], int]:
        """Messages to reason over: from the first unprocessed message of the observed peer (with the
        message before it as context) while the token budget lasts, by the counts stored at write time;
        the deriver then reads the head that fits the model's window (`deriver.fit`, `_derive`).
        Returns (messages, new cursor)."""
        rows = event_log.messages_after(cur, key.workspace_id, key.session_id, cursor)
        first = next((i for i, r in enumerate(rows) if r.peer_id == key.observed_id), None)
        if first is None:
            return [], rows[-1].pk if rows else cursor
        window: list[event_log.Message] = []
        before = event_log.message_before(cur, key.workspace_id, key.session_id, rows[first].pk)
        if before is not None and before.peer_id != key.observed_id:
            window.append(before)
        budget = self.deps.settings.reasoning_batch_size
        used = sum(self._line_tokens(key, r) for r in window)
        for r in rows[first:]:
            cost = self._line_tokens(key, r)
            if window and used + cost > budget and any(w.peer_id == key.observed_id for w in window):
                break
            window.append(r)
            used += cost
        return window, window[-1].pk

    def _skip(self, key: UnitKey, cursor: int, observed: bool, ws_cfg: Any, s_cfg: Any) -> tuple[int, bool]:
        """Where a unit with nothing to reason at `cursor` can go on from: past every following message
        that would not be reasoned either (all of them when nobody observes the peer); and whether any
        may be left. Only the peer's messages that carry their own configuration can differ from the
        session's setting, so the database finds the candidates and no other row reaches Python.
        One window at a time, a stream of writes kept the worker stepping through windows that end in a
        cursor write (a fifth of the server's CPU at 1,400 single-message writes/s, py-spy)."""
        d = self.deps
        base = observed and configuration.resolve(d.settings, ws_cfg, s_cfg).reasoning_enabled

        def read(cur: Cursor) -> tuple[int, list[tuple[int, dict[str, Any] | None]]]:
            # the head first: a message that arrives after it is left for the next run, never skipped
            head = d.store.message_head(cur, key.workspace_id, key.session_id)
            return head, [] if not observed else event_log.reasoning_candidates(
                cur, key.workspace_id, key.session_id, key.observed_id or "", cursor, head, base, SKIP_CANDIDATES)

        head, candidates = d.store.read(read)
        for pk, own in candidates:
            if configuration.resolve(d.settings, ws_cfg, s_cfg, own).reasoning_enabled:
                # the next window starts at this message (with the one before it as context)
                before = d.store.read(lambda cur: event_log.pk_before(cur, key.workspace_id, key.session_id, pk))
                return max(cursor, before or cursor), True
        if len(candidates) == SKIP_CANDIDATES:  # none of them is reasoned: go on after the last
            return candidates[-1][0], True
        return max(cursor, head), False

    def _line_limit(self, key: UnitKey, peer_id: str) -> int:
        return deriver.MAX_TARGET_CHARS if peer_id == key.observed_id else self.deps.settings.reasoning_context_chars

    def _line_tokens(self, key: UnitKey, row: event_log.Message) -> int:
        """A message's share of the window budget: what the deriver reads of it (context lines are cut)."""
        limit = self._line_limit(key, row.peer_id)
        return row.token_count if len(row.content) <= limit else min(row.token_count, limit // 3)

    def _lines(self, key: UnitKey, window: list[event_log.Message], ws_cfg: Any,
               s_cfg: Any) -> tuple[list[deriver.Line], str | None]:
        """The plan: the deriver's lines (targets are the observed peer's reasoned messages) and the
        custom instructions that apply (the messages', then the version's)."""
        lines, custom = [], None
        for i, r in enumerate(window, start=1):
            resolved = configuration.resolve(self.deps.settings, ws_cfg, s_cfg, r.configuration)
            target = r.peer_id == key.observed_id and resolved.reasoning_enabled
            if target:
                custom = resolved.custom_instructions or custom
            text = deriver.clip(r.content, self._line_limit(key, r.peer_id))
            lines.append(deriver.Line(i, r.id, r.pk, r.peer_id, text, r.created_at, target))
        extra = self.deps.spec.custom_instructions
        return lines, (f"{custom}\n{extra}" if custom and extra else custom or extra)

    def _derive(self, key: UnitKey, lines: list[deriver.Line], custom: str | None) -> deriver.Derived:
        """One deriver call over the head of `lines` that fits the model's window, counted with the
        model's tokenizer (`deriver.fit`)."""
        d, s = self.deps, self.deps.settings
        return d.call(key, "deriver", lambda: deriver.derive(
            d.llm, key.observed_id or "", lines, s.reasoning_max_facts, s.reasoning_deductions, custom,
            s.model_context, s.reasoning_batch_size))

    def _store(self, key: UnitKey, observers: list[str], lines: list[deriver.Line], result: deriver.Derived,
               new_cursor: int) -> None:
        """One transaction: every observer's conclusions (deductions linked to their premises), the
        cursor advance and the run record."""
        d = self.deps
        d.activity.step(key, steps.WRITING)
        vectors, model = d.embeddings.embed([f.content for f in result.facts])
        targets = [ln for ln in lines if ln.target]
        status = "ok" if result.facts else "empty"
        run = d.run_row(key, "deriver", status, result.completion, first_event_pk=targets[0].pk,
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
                        {}, fact.observed_at)], d.version)
                    if fact.level == "explicit":
                        explicit_ids.append(stored.id)
            units.advance(ctx, key, new_cursor)
            units.record_run(ctx, run)

        d.store.write(op, scoped=True)
        metrics.CONCLUSIONS.inc(len(result.facts) * len(observers))
        d.activity.add(key, messages=len(targets), conclusions=len(result.facts))
