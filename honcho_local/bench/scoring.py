"""Scores: LoCoMo token-F1 and exact match, evidence recall@k, percentiles.

Answer scoring follows LoCoMo's own evaluation: answers are lower-cased, punctuation and articles
removed (SQuAD normalisation); multi-hop (category 1) gold answers listing several items separated
by commas are scored as the mean over items of the best F1 against the prediction's comma-separated
parts; open-domain (category 3) uses the part of the gold answer before any ";". LoCoMo also
stems words (Porter); this implementation does not, which scores slightly lower, and the same rule
applies to every system in a run.
"""

from __future__ import annotations

import re
import statistics
import string
from collections import Counter
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    text = str(text).lower().replace(",", " ")
    text = text.translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


def locomo_f1(prediction: str, gold: str, code: int | None) -> float:
    if code == 3:
        gold = gold.split(";")[0]
    if code == 1 and "," in gold:
        parts = [p for p in prediction.split(",") if p.strip()] or [prediction]
        items = [g for g in gold.split(",") if g.strip()]
        return statistics.mean(max(token_f1(p, g) for p in parts) for g in items)
    return token_f1(prediction, gold)


def recall_at_k(ranked: Sequence[str], evidence: Iterable[str], k: int) -> tuple[float, float]:
    """(share of the evidence turns among the top k, 1.0 if all of them are) for one question."""
    wanted = set(evidence)
    if not wanted:
        raise ValueError("a question without evidence has no recall")
    found = wanted & set(ranked[:k])
    return len(found) / len(wanted), float(found == wanted)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")
