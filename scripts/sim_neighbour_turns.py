"""Would adding the turns next to the best hits raise LoCoMo evidence recall? (issue 34, lever "neighbour turns")

Reads a finished LoCoMo bench report's JSON (its `rows` keep each arm's top 20 turn ids per question) and
scores, without a server or a model, lists where each of the first N hits is followed by its neighbour
turn(s) in the same session (D3:7 -> D3:8 and/or D3:6) before the next hit, cut to k. Also counts the
evidence turns missing from the top 10 that sit next to one of its hits (the most any neighbour rule
could add). Measured in docs/decisions/010-retrieval-levers.md.

    python scripts/sim_neighbour_turns.py docs/benchmarks/locomo-all-fair-reasoned-retrieval.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

RULES = {"next turn": [1], "previous turn": [-1], "both": [-1, 1]}


def neighbour(turn: str, delta: int) -> str:
    session, index = turn.split(":")
    return f"{session}:{int(index) + delta}"


def expanded(hits: list[str], k: int, deltas: list[int], first: int) -> list[str]:
    """The hits in order, each of the first `first` followed by its neighbours, without repeats, cut to k."""
    out: list[str] = []
    for n, hit in enumerate(hits):
        extra = [neighbour(hit, d) for d in deltas] if n < first else []
        out += [t for t in [hit, *extra] if t not in out]
        if len(out) >= k:
            break
    return out[:k]


def recall(ranked: list[str], evidence: list[str], k: int) -> float:
    return len(set(evidence) & set(ranked[:k])) / len(set(evidence))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="a bench report's .json (LoCoMo, with per-question rows)")
    parser.add_argument("--arms", default="honcho,honcho-search")
    args = parser.parse_args()
    rows = [r for r in json.loads(args.report.read_text())["rows"] if r["code"] in (1, 2, 3, 4) and r["evidence"]]
    print(f"{len(rows)} questions with evidence (categories 1-4)")
    for arm in args.arms.split(","):
        for k in (10, 20):
            base = statistics.mean(recall(r["retrieved"][arm], r["evidence"], k) for r in rows)
            cells = [f"{arm} @{k}: as served {base:.3f}"]
            for name, deltas in RULES.items():
                for first in (1, 2, 3, 5):
                    score = statistics.mean(recall(expanded(r["retrieved"][arm], k, deltas, first), r["evidence"], k)
                                            for r in rows)
                    cells.append(f"{name} of top {first} {score:.3f}")
            print(" | ".join(cells))
        missed = adjacent = 0
        for r in rows:
            top = r["retrieved"][arm][:10]
            for turn in r["evidence"]:
                if turn not in top:
                    missed += 1
                    adjacent += any(turn in (neighbour(h, 1), neighbour(h, -1)) for h in top)
        print(f"{arm}: {missed} evidence turns missing from the top 10, {adjacent} of them next to a top-10 hit")


if __name__ == "__main__":
    main()
