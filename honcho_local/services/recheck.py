"""Re-apply the deriver's output checks to conclusions already stored (`honcho-local recheck`).

Conclusions derived before the check existed (or by an older release) may restate another speaker's
line as a fact about the peer. The same `deriver.misattributed` test runs here over each explicit
conclusion with its source lines and their neighbours in the session (the deriver sees the neighbours
inside its window; here the whole session is at hand, so a line at a window's edge may have one more
neighbour). A flagged conclusion is soft-deleted (time travel still sees it before the recheck), and so
is a deduction whose premises were all flagged. Relative time words left in a kept conclusion
("yesterday") are rewritten from when its source was said (`dates.absolute_dates`), in place: the
wording changes, not what it says, so its embedding and times stay. Every existing peer card is then
rebuilt from the conclusions that remain, as the worker builds it (`peer_card.build_card`; a user's
`PUT` entries stay), when that changes it: a new card row, history kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from honcho_local.services.dates import absolute_dates
from honcho_local.services.deriver import Line, misattributed
from honcho_local.services.peer_card import build_card
from honcho_local.store import Store
from honcho_local.store.cards import append_card, card_pairs, latest_card, pinned_card
from honcho_local.store.conclusions import delete_conclusion, live_conclusions, set_conclusion_text
from honcho_local.store.events import Message, session_messages


@dataclass
class RecheckResult:
    checked: int = 0
    flagged: list[dict[str, Any]] = field(default_factory=list)      # explicit conclusions
    deductions: list[dict[str, Any]] = field(default_factory=list)   # resting only on flagged ones
    dated: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (conclusion, new wording)
    cards: list[tuple[tuple[str, str, str], list[str], list[str]]] = field(default_factory=list)  # key, old, new


def recheck_attribution(store: Store, version: str, workspace_id: str | None = None,
                        dry_run: bool = False, pair: tuple[str, str] | None = None,
                        session_id: str | None = None) -> RecheckResult:
    """With `pair` (observer, observed) only that collection and its card; with `session_id` only the
    conclusions stated in that session are checked and re-dated (the card still reads the whole pair)."""
    result = RecheckResult()
    items = store.read(lambda cur: live_conclusions(cur, version, workspace_id))
    if pair is not None:
        items = [c for c in items if (c["observer_id"], c["observed_id"]) == pair]
    sessions: dict[tuple[str, str], list[Message]] = {}
    for c in items:
        if c["level"] != "explicit" or not c["source_ids"] or c["session_id"] is None:
            continue
        if session_id is not None and c["session_id"] != session_id:
            continue
        key = (c["workspace_id"], c["session_id"])
        if key not in sessions:
            sessions[key] = store.read(lambda cur: session_messages(cur, *key))
        messages = sessions[key]
        observed = c["observed_id"]
        lines = [Line(i, m.id, m.pk, m.peer_id, m.content, m.created_at, m.peer_id == observed)
                 for i, m in enumerate(messages, start=1)]
        by_id = {ln.event_id: ln for ln in lines}
        sources = [by_id[s] for s in c["source_ids"] if s in by_id]
        if not sources:
            continue
        result.checked += 1
        if misattributed(c["content"], sources, lines, observed):
            result.flagged.append(c)
    flagged_ids = {c["id"] for c in result.flagged}
    result.deductions = [c for c in items if c["level"] != "explicit" and c["premise_ids"]
                         and all(p in flagged_ids for p in c["premise_ids"])]
    doomed_ids = flagged_ids | {c["id"] for c in result.deductions}
    for c in items:
        if c["id"] not in doomed_ids and (session_id is None or c["session_id"] == session_id):
            text = absolute_dates(c["content"], c["observed_at"])
            if text != c["content"]:
                result.dated.append((c, text))
    new_text = {c["id"]: text for c, text in result.dated}
    result.cards = _rebuilt_cards(store, version, workspace_id, items, doomed_ids, new_text, pair)
    if not dry_run:
        doomed = result.flagged + result.deductions

        def op(ctx: Any) -> None:
            for c in doomed:
                delete_conclusion(ctx, c["workspace_id"], c["id"])
            for c, text in result.dated:
                set_conclusion_text(ctx, c["id"], text)
            for (workspace, observer, observed), _, entries in result.cards:
                append_card(ctx, workspace, observer, observed, entries, version, source="worker")

        store.write(op)
    return result


def _rebuilt_cards(store: Store, version: str, workspace_id: str | None, items: list[dict[str, Any]],
                   doomed: set[str], dated: dict[str, str], pair: tuple[str, str] | None = None,
                   ) -> list[tuple[tuple[str, str, str], list[str], list[str]]]:
    """(key, old entries, new entries) of each existing card that a rebuild from the kept explicit
    conclusions (most reinforced, then newest, first; with their new dates) changes."""
    facts: dict[tuple[str, str, str], list[tuple[int, int, str]]] = {}
    for order, c in enumerate(items):
        if c["level"] == "explicit" and c["id"] not in doomed:
            key = (c["workspace_id"], c["observer_id"], c["observed_id"])
            facts.setdefault(key, []).append((c["times_derived"], order, dated.get(c["id"], c["content"])))
    out = []
    for key in store.read(lambda cur: card_pairs(cur, version, workspace_id)):
        if pair is not None and key[1:] != pair:
            continue
        card = store.read(lambda cur: latest_card(cur, *key, version))
        pinned = store.read(lambda cur: pinned_card(cur, *key, version))
        ranked = [text for _, _, text in sorted(facts.get(key, []), reverse=True)]
        entries = build_card(key[2], ranked, pinned)
        if card is not None and entries != card["entries"]:
            out.append((key, card["entries"], entries))
    return out
