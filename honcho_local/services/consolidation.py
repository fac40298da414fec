"""A dream's model work over one observer's view of one peer, each step one closed question that a 1.5B
model can answer (Honcho's dream drives a tool loop instead; DESIGN.md):

* **Knowledge updates.** Each live explicit conclusion is paired with the most similar explicit
  conclusion said later from other messages that fills one of the same named slots with another value
  (`slots.clash`: where the person lives, who they work for and as what, their relationship status, what
  they own, a favourite, a counted quantity) and is at least `UPDATE_SIMILARITY` alike. The model then
  picks one of `same`, `updated`, `both` (`UPDATE_SCHEMA`). On `updated` the older conclusion is retired as
  superseded (soft delete, `superseded_by` in its metadata: `as_of` reads before the dream still see it)
  and a deductive conclusion "As of DATE, NEWER (earlier, DATE: OLDER)" is stored with both as premises, so
  the history stays searchable. `same` and `both` change nothing.
* **Inductions.** Groups of `INDUCTION_MIN`–`INDUCTION_MAX` mutually similar explicit conclusions not yet
  premises of an induction (the `INDUCTIONS_PER_DREAM` largest); the model is asked for one sentence on the
  lasting preference, habit or trait they show, or "none". A sentence whose content words are not in its
  premises (`grounded`) is dropped, and so is one that restates a premise or lists them (`restates`); a
  kept one is stored as an inductive conclusion with the group as premises and their messages as sources.

Planning is pure (`update_pairs`, `induction_groups`); the model calls run outside any transaction and
the writes check that every premise is still live. A model that fails a decision (after the router's
retries) leaves that pair or group as it was; the failure is counted and its error kept in the dream's
record. At most `Settings.dream_max_decisions` model calls a dream, the most similar pairs first. Why slots
and not any similar pair with a change word: docs/decisions/008-dream-consolidation.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from honcho_local.errors import HonchoLocalError
from honcho_local.llm.base import LLM, ChatRequest
from honcho_local.services.slots import clash, slots
from honcho_local.store.conclusions import Conclusion, NewConclusion

UPDATE_SIMILARITY = 0.5  # the two facts are about one thing, not two things that share a slot word
INDUCTION_SIMILARITY = 0.6
INDUCTION_MIN = 3
INDUCTION_MAX = 5
INDUCTIONS_PER_DREAM = 5  # the largest groups only: the 1.5B model names few patterns (decisions/008)
INDUCTION_WORDS = 16  # a pattern is one short sentence; a longer answer lists the premises back
COPY_OVERLAP = 0.6  # a sentence this similar to one premise (Jaccard of content words) restates it
UPDATE_SYSTEM = "You compare two facts about one person. Answer with one word."
UPDATE_SCHEMA: dict[str, Any] = {"type": "object", "required": ["answer"],
                                 "properties": {"answer": {"type": "string", "enum": ["same", "updated", "both"]}}}
INDUCTION_SYSTEM = "You find lasting patterns in facts about one person. Use only what the facts say."
INDUCTION_SCHEMA: dict[str, Any] = {"type": "object", "required": ["pattern"],
                                    "properties": {"pattern": {"type": "string", "maxLength": 120}}}
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_STOP = frozenset("""that this with they them their there these those what when where which while have has
had been being from into about also very much more most some such than then just like likes enjoy enjoys
often usually always tends tend seems shows show values value cares care person people really quite love loves
prefers prefer regularly frequently interested interest passionate fond habit habits keen appreciates""".split())


@dataclass(frozen=True)
class UpdatePair:
    older: Conclusion
    newer: Conclusion
    similarity: float
    slot: str = ""


@dataclass
class Outcome:
    """What the model work decided, each decision as the dream's record keeps it (`updates`: [older id, newer
    id, answer, slot]; `patterns`: [premise ids, sentence, verdict]), and what to write (`new`: deductions and
    inductions; `superseded`: (older id, newer id))."""
    decisions: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    superseded: list[tuple[str, str]] = field(default_factory=list)
    new: list[NewConclusion] = field(default_factory=list)
    updates: list[list[Any]] = field(default_factory=list)
    patterns: list[list[Any]] = field(default_factory=list)

    def _answers(self, answer: str) -> int:
        return sum(u[2] == answer for u in self.updates)

    def _verdicts(self, verdict: str) -> int:
        return sum(p[2] == verdict for p in self.patterns)

    updated = property(lambda self: self._answers("updated"))
    same = property(lambda self: self._answers("same"))
    kept = property(lambda self: self._answers("both"))
    inductions = property(lambda self: self._verdicts("kept"))
    ungrounded = property(lambda self: self._verdicts("ungrounded"))

    def summary(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "superseded": self.updated, "same": self.same, "kept": self.kept,
                "inductions": self.inductions, "ungrounded": self.ungrounded, "failed": self.failed,
                "errors": self.errors[:5], "updates": self.updates, "patterns": self.patterns}


def said_at(c: Conclusion) -> datetime:
    return c.observed_at or c.created_at


def _unit(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def update_pairs(items: Sequence[Conclusion], vectors: Sequence[Sequence[float]], peer: str) -> list[UpdatePair]:
    """Candidate knowledge updates, most similar first: for each explicit conclusion about `peer`, the most
    similar explicit one said earlier from other messages that fills a slot of the same kind with another
    value. Each conclusion is the older side of at most one pair and the newer side of at most one."""
    keep = [i for i, c in enumerate(items) if c.level == "explicit"]
    filled = {i: slots(items[i].content, peer) for i in keep}
    keep = [i for i in keep if filled[i]]
    if len(keep) < 2:
        return []
    sims = _unit([vectors[i] for i in keep])
    sims = sims @ sims.T
    found: list[UpdatePair] = []
    for b, j in enumerate(keep):
        newer, best = items[j], None
        for a, i in enumerate(keep):
            older = items[i]
            if (sims[a, b] < UPDATE_SIMILARITY or said_at(older) >= said_at(newer)
                    or set(older.source_ids or ()) & set(newer.source_ids or ())):
                continue
            slot = clash(filled[i], filled[j])
            if slot is not None and (best is None or sims[a, b] > best.similarity):
                best = UpdatePair(older, newer, float(sims[a, b]), slot.key)
        if best is not None:
            found.append(best)
    found.sort(key=lambda p: -p.similarity)
    olders: set[str] = set()
    newers: set[str] = set()
    out = []
    for p in found:
        if p.older.id in olders | newers or p.newer.id in olders | newers:
            continue  # a chain (A -> B -> C) is settled one link a dream
        olders.add(p.older.id)
        newers.add(p.newer.id)
        out.append(p)
    return out


def induction_groups(items: Sequence[Conclusion], vectors: Sequence[Sequence[float]],
                     exclude: set[str]) -> list[list[Conclusion]]:
    """Groups of mutually similar explicit conclusions (each pair ≥ `INDUCTION_SIMILARITY`), largest first,
    none of them in `exclude` (premises of existing inductions) or in two groups."""
    keep = [i for i, c in enumerate(items) if c.level == "explicit" and c.id not in exclude]
    if len(keep) < INDUCTION_MIN:
        return []
    unit = _unit([vectors[i] for i in keep])
    sims = unit @ unit.T
    used: set[int] = set()
    groups = []
    order = np.argsort(-(sims >= INDUCTION_SIMILARITY).sum(axis=1), kind="stable")
    for seed in order:
        if seed in used:
            continue
        members = [int(seed)]
        for other in np.argsort(-sims[seed], kind="stable"):
            o = int(other)
            if o in used or o in members or sims[seed, o] < INDUCTION_SIMILARITY:
                continue
            if all(sims[o, m] >= INDUCTION_SIMILARITY for m in members):
                members.append(o)
            if len(members) == INDUCTION_MAX:
                break
        if len(members) >= INDUCTION_MIN:
            used.update(members)
            groups.append([items[keep[m]] for m in members])
    return groups


def _day(c: Conclusion) -> str:
    return said_at(c).strftime("%Y-%m-%d")


def update_request(pair: UpdatePair) -> ChatRequest:
    ask = (f"Fact 1 (said {_day(pair.older)}): {pair.older.content}\n"
           f"Fact 2 (said later, {_day(pair.newer)}): {pair.newer.content}\n\n"
           "same: Fact 2 says the same thing as Fact 1.\n"
           "updated: Fact 2 shows that Fact 1 is no longer true.\n"
           "both: Fact 1 can still be true alongside Fact 2.\n"
           "Which one?")
    return ChatRequest(messages=[{"role": "system", "content": UPDATE_SYSTEM}, {"role": "user", "content": ask}],
                       max_tokens=16, temperature=0.0, schema=UPDATE_SCHEMA)


def induction_request(peer: str, group: Sequence[Conclusion]) -> ChatRequest:
    facts = "\n".join(f"- {c.content}" for c in group)
    ask = (f"Facts about {peer}:\n{facts}\n\nWhat lasting preference, habit or trait of {peer} do these facts "
           f"show together? Answer with one short sentence about {peer} (at most 12 words), or \"none\" if they "
           "show none.")
    return ChatRequest(messages=[{"role": "system", "content": INDUCTION_SYSTEM}, {"role": "user", "content": ask}],
                       max_tokens=60, temperature=0.0, schema=INDUCTION_SCHEMA)


def grounded(sentence: str, peer: str, premises: Sequence[Conclusion]) -> bool:
    """Whether every content word of `sentence` (four letters or more, not a common word or the peer's name)
    appears, by its first five letters, in the premises' text: an induction says nothing they do not."""
    seen = {w[:5] for c in premises for w in _WORD.findall(c.content.lower())}
    words = _content_words(sentence, peer)
    return bool(words) and all(w[:5] in seen for w in words)


def _content_words(text: str, peer: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and w != peer.lower()}


def restates(sentence: str, peer: str, premises: Sequence[Conclusion]) -> bool:
    """Whether `sentence` is a premise again (content words' Jaccard similarity with one premise at least
    `COPY_OVERLAP`) or a list of them (over `INDUCTION_WORDS` words, cut off, or three commas and more)
    rather than a pattern."""
    if len(sentence.split()) > INDUCTION_WORDS or not sentence.rstrip().endswith(".") or sentence.count(",") >= 3:
        return True
    words = _content_words(sentence, peer)
    return any(len(words & other) >= COPY_OVERLAP * len(words | other)
               for other in (_content_words(c.content, peer) for c in premises))


def _verdict(sentence: str, peer: str, group: Sequence[Conclusion]) -> str:
    """What becomes of a pattern the model named: "failed" (no answer), "none", "ungrounded", "restated"
    or "kept"."""
    if not sentence:
        return "failed"
    if sentence.lower().strip(".") == "none":
        return "none"
    if not grounded(sentence, peer, group):
        return "ungrounded"
    return "restated" if restates(sentence, peer, group) else "kept"


def _sources(group: Sequence[Conclusion]) -> list[str]:
    return list(dict.fromkeys(s for c in group for s in c.source_ids or ()))


def _new(template: Conclusion, content: str, level: str, premises: Sequence[Conclusion],
         observed_at: datetime) -> NewConclusion:
    return NewConclusion(template.workspace_id, template.observer_id, template.observed_id, content, level=level,
                         source_ids=_sources(premises), premise_ids=[c.id for c in premises],
                         metadata={"dream": True}, observed_at=observed_at)


class Consolidation:
    """The knowledge-update and induction steps of one dream, with `llm` deciding (`complete`)."""

    def __init__(self, llm: LLM, max_decisions: int, inductions: bool = True) -> None:
        self.llm = llm
        self.max_decisions = max_decisions
        self.inductions = inductions

    def run(self, peer: str, items: Sequence[Conclusion], vectors: Sequence[Sequence[float]],
            inducted: set[str]) -> Outcome:
        out = Outcome()
        for pair in update_pairs(items, vectors, peer):
            if out.decisions >= self.max_decisions:
                return out
            answer = self._ask(out, update_request(pair), "answer")
            out.updates.append([pair.older.id, pair.newer.id, answer, pair.slot])
            if answer == "updated":
                out.superseded.append((pair.older.id, pair.newer.id))
                text = (f"As of {_day(pair.newer)}, {pair.newer.content.rstrip('.')} "
                        f"(earlier, {_day(pair.older)}: {pair.older.content.rstrip('.')}).")
                out.new.append(_new(pair.newer, text, "deductive", (pair.older, pair.newer), said_at(pair.newer)))
        if not self.inductions:
            return out
        retired = {older for older, _ in out.superseded}
        live = [c for c in items if c.id not in retired]
        vectors_live = [v for c, v in zip(items, vectors) if c.id not in retired]
        for group in induction_groups(live, vectors_live, inducted)[:INDUCTIONS_PER_DREAM]:
            if out.decisions >= self.max_decisions:
                break
            sentence = " ".join((self._ask(out, induction_request(peer, group), "pattern") or "").split())
            verdict = _verdict(sentence, peer, group)
            out.patterns.append([[c.id for c in group], sentence or None, verdict])
            if verdict == "kept":
                out.new.append(_new(group[0], sentence, "inductive", group, max(said_at(c) for c in group)))
        return out

    def _ask(self, out: Outcome, request: ChatRequest, key: str) -> str | None:
        out.decisions += 1
        try:
            parsed = self.llm.complete(request).parsed
        except HonchoLocalError as exc:
            out.failed += 1
            out.errors.append(exc.detail)
            return None
        value = parsed.get(key) if isinstance(parsed, dict) else None
        if not isinstance(value, str):
            out.failed += 1
            out.errors.append(f"no {key!r} in the model's answer")
            return None
        return value
