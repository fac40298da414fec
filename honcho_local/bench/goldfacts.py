"""Gold-fact recall: the worker's conclusions scored against LoCoMo's annotated facts, no answer model.

LoCoMo ships, per session and per speaker, the facts its annotators drew from the conversation
(`observation` → `session_N_observation` → speaker → [fact, evidence turn ids]). This module scores the
conclusions a run derived against them:

- **gold-fact recall**: share of gold facts matched by some conclusion about that speaker;
- **cites evidence**: share of gold facts with a conclusion about that speaker citing one of their
  evidence turns (the match rule's second half alone; the issue's "0.49");
- **attribution precision**: of the conclusions that match a gold fact of either speaker, the share
  filed under the right speaker (observed peer = the fact's speaker);
- **date accuracy**: of the recalled facts whose words name a checkable time ("last year", "yesterday",
  see `factdates`), the share with a matching conclusion naming a date inside that time;
- **first person**: share of conclusions written in the first person (a copied line, not a fact).

A fact and a conclusion match by `Rule`: cosine similarity of their embeddings at or above a threshold,
and/or the conclusion citing one of the fact's evidence turns. The default was calibrated on a
hand-judged sample (docs/benchmarks/goldfacts-calibration.json, `scripts/goldfacts_calibrate.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from honcho_local.bench import factdates
from honcho_local.bench.data import _evidence_ids, _when, peer_id, require

_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|I'll|me|my|mine|myself)\b")
_SESSION = re.compile(r"session_(\d+)_observation")
_ORDER = ("correct", "coarse", "wrong", "relative", "undated")


@dataclass(frozen=True)
class GoldFact:
    conv_id: str
    session: str              # session_N
    speaker: str              # peer id
    text: str
    evidence: tuple[str, ...]  # turn ids
    said_on: date             # the session's date


@dataclass(frozen=True)
class Derived:
    """A conclusion as scored: its conversation, the peer it is about, its text, the turns it cites."""

    conv_id: str
    observed: str
    text: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """`mode`: cosine (similarity only), cite (cited evidence only), and (both), or (either)."""

    threshold: float = 0.70
    mode: str = "and"

    def matches(self, cosine: np.ndarray, cites: np.ndarray) -> np.ndarray:
        close = cosine >= self.threshold
        return {"cosine": close, "cite": cites, "and": close & cites, "or": close | cites}[self.mode]

    def describe(self) -> str:
        near = f"cosine ≥ {self.threshold:.2f}"
        return {"cosine": near, "cite": "cites an evidence turn", "and": f"{near} and cites an evidence turn",
                "or": f"{near} or cites an evidence turn"}[self.mode]


# Calibrated on 48 hand-judged pairs (docs/benchmarks/goldfacts-calibration.json): agreement 0.79 with the
# judgments (precision 0.88, recall 0.65: a conservative count); cosine >= 0.80 or cited 0.71, cited alone
# 0.71, cosine alone at best 0.69. MiniLM puts unrelated facts about the same person at 0.7-0.8.
RULE = Rule(0.70, "and")


def load_gold_facts(root: Path, conversations: int | None = None, sessions: int | None = None) -> list[GoldFact]:
    """LoCoMo's gold facts of the first `conversations` conversations, their first `sessions` sessions."""
    path = root / "locomo" / "locomo10.json"
    require(root, "locomo", [path])
    out: list[GoldFact] = []
    for sample in json.loads(path.read_text())[:conversations]:
        conv = sample["conversation"]
        known = {t["dia_id"] for k, v in conv.items() if re.fullmatch(r"session_\d+", k) for t in v}
        for key, by_speaker in sample.get("observation", {}).items():
            number = int(_SESSION.fullmatch(key).group(1))  # type: ignore[union-attr]
            if sessions is not None and number > sessions:
                continue
            said_on = _when(conv[f"session_{number}_date_time"]).date()
            for speaker, facts in by_speaker.items():
                for text, evidence in facts:
                    raw = evidence if isinstance(evidence, list) else [evidence]
                    out.append(GoldFact(sample["sample_id"], f"session_{number}", peer_id(speaker), text,
                                        tuple(_evidence_ids(raw, known)), said_on))
    return out


def _unit(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def pair_matrices(facts: list[GoldFact], derived: list[Derived],
                  embed: Callable[..., list[list[float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosine, cites, same speaker), each facts × conclusions, for one conversation."""
    if not facts or not derived:
        shape = (len(facts), len(derived))
        return np.zeros(shape, np.float32), np.zeros(shape, bool), np.zeros(shape, bool)
    cosine = _unit(embed([f.text for f in facts])) @ _unit(embed([d.text for d in derived])).T
    cites = np.array([[bool(set(f.evidence) & set(d.sources)) for d in derived] for f in facts])
    same = np.array([[f.speaker == d.observed for d in derived] for f in facts])
    return cosine, cites, same


def _date_verdict(fact: GoldFact, matched: list[Derived]) -> str | None:
    span = factdates.expected_span(fact.text, fact.said_on)
    if span is None:
        return None
    verdicts = [factdates.judge(d.text, span) for d in matched]
    return min(verdicts, key=_ORDER.index) if verdicts else None


def _score_conversation(facts: list[GoldFact], derived: list[Derived], embed: Callable[..., list[list[float]]],
                        rule: Rule) -> dict[str, Any]:
    cosine, cites, same = pair_matrices(facts, derived, embed)
    match = rule.matches(cosine, cites)
    recalled = (match & same).any(axis=1)
    matched_any = match.any(axis=0)
    dates = [_date_verdict(f, [d for j, d in enumerate(derived) if match[i, j] and same[i, j]])
             for i, f in enumerate(facts) if recalled[i]]
    return {"facts": len(facts), "conclusions": len(derived), "recalled": int(recalled.sum()),
            "cites_evidence": int((cites & same).any(axis=1).sum()),
            "attributed": int(matched_any.sum()), "attributed_right": int((match & same).any(axis=0).sum()),
            "dated": sum(1 for f in facts if factdates.expected_span(f.text, f.said_on) is not None),
            "date_verdicts": {v: dates.count(v) for v in _ORDER},
            "first_person": sum(1 for d in derived if _FIRST_PERSON.search(d.text))}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def score(facts: list[GoldFact], derived: list[Derived], embed: Callable[..., list[list[float]]],
          rule: Rule = RULE) -> dict[str, Any]:
    """Gold-fact recall, cited evidence, attribution precision, date accuracy and first-person share
    over every conversation present in `facts` (see the module docstring)."""
    by_conv: dict[str, dict[str, Any]] = {}
    for conv_id in dict.fromkeys(f.conv_id for f in facts):
        by_conv[conv_id] = _score_conversation([f for f in facts if f.conv_id == conv_id],
                                               [d for d in derived if d.conv_id == conv_id], embed, rule)
    total: dict[str, Any] = {k: sum(c[k] for c in by_conv.values()) for k in
                             ("facts", "conclusions", "recalled", "cites_evidence", "attributed", "attributed_right",
                              "dated", "first_person")}
    verdicts = {v: sum(c["date_verdicts"][v] for c in by_conv.values()) for v in _ORDER}
    dated_recalled = sum(verdicts.values())
    return {"rule": rule.describe(), **total,
            "recall": _share(total["recalled"], total["facts"]),
            "cites_evidence_share": _share(total["cites_evidence"], total["facts"]),
            "attribution_precision": _share(total["attributed_right"], total["attributed"]),
            "date_accuracy": _share(verdicts["correct"], dated_recalled), "dated_recalled": dated_recalled,
            "date_verdicts": verdicts, "first_person_share": _share(total["first_person"], total["conclusions"]),
            "by_conversation": {k: {"facts": c["facts"], "conclusions": c["conclusions"],
                                    "recall": _share(c["recalled"], c["facts"])} for k, c in by_conv.items()}}
