"""Calibrate the gold-fact match rule (honcho_local/bench/goldfacts.py) against hand judgments.

`pairs` reads the conclusions of a finished LoCoMo run's checkpoint (no server; it embeds the sampled
facts and the conclusions of their conversations) and writes a sample of (gold fact, conclusion about the
same speaker) pairs to judge: half the nearest conclusion by embedding cosine, half the nearest of those
citing one of the fact's evidence turns, for facts drawn at random (seeded), with
each pair's cosine and whether it cites. A person then sets each pair's `match` to true or false: does
the conclusion state the fact's core claim (same person, same event or attribute; a paraphrase or missing
detail is fine, a generic trait or a different event is not)? `agree` scores each candidate rule
(cosine only, cited only, both, either; thresholds 0.40-0.95) against those judgments.

    python scripts/goldfacts_calibrate.py pairs docs/benchmarks/checkpoints/locomo-full docs/benchmarks/goldfacts-calibration.json
    python scripts/goldfacts_calibrate.py agree docs/benchmarks/goldfacts-calibration.json

`score` applies the calibrated rule to a checkpoint's conclusions (the record of a finished run):

    python scripts/goldfacts_calibrate.py score docs/benchmarks/checkpoints/locomo-full --conversations 2
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np

from honcho_local.bench import goldfacts
from honcho_local.bench.data import datasets_dir
from honcho_local.bench.answering import embedder_for
from honcho_local.bench.config import BenchConfig


def checkpoint_conclusions(checkpoint: Path, scratch: Path) -> list[goldfacts.Derived]:
    """Every conclusion of a bench checkpoint (scripts/bench_checkpoint.py), with the turns it cites, read
    from a copy of its store loaded without embedding anything."""
    from honcho_local.store import Store
    from honcho_local.store import backup as files

    path = scratch / "calibration.duckdb"
    path.unlink(missing_ok=True)
    files.load_file(path, checkpoint / "store", files.read_manifest(checkpoint / "store"))
    store = Store.open(path)
    try:
        turn_of = dict(store.read(lambda cur: cur.execute(
            "SELECT id, json_extract_string(metadata, '$.turn_id') FROM events WHERE kind = 'message'").fetchall()))
        rows = store.read(lambda cur: cur.execute(
            "SELECT workspace_id, observed_id, content, source_ids FROM conclusions WHERE deleted_at IS NULL "
            "ORDER BY workspace_id, created_at").fetchall())
    finally:
        store.close()
    return [goldfacts.Derived(ws.removeprefix("bench-"), observed, content,
                              tuple(turn_of[i] for i in json.loads(sources or "[]") if i in turn_of))
            for ws, observed, content, sources in rows]


def pairs(checkpoint: Path, out: Path, count: int, seed: int, conversations: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="goldfacts-"))
    derived = checkpoint_conclusions(checkpoint, scratch)
    embed = embedder_for(BenchConfig(home=scratch), scratch)
    facts = goldfacts.load_gold_facts(datasets_dir(None), conversations)
    rnd = random.Random(seed)
    picked = rnd.sample(range(len(facts)), min(len(facts), 2 * count))
    rows: list[dict] = []
    for conv_id in dict.fromkeys(f.conv_id for f in facts):
        mine = [i for i in picked if facts[i].conv_id == conv_id]
        convs = [d for d in derived if d.conv_id == conv_id]
        cosine, cites, same = goldfacts.pair_matrices([facts[i] for i in mine], convs, embed)
        rows += [_pair(facts[i], convs, cosine[row], cites[row], same[row], cited=picked.index(i) % 2 == 1)
                 for row, i in enumerate(mine)]
    rows = sorted((r for r in rows if r is not None), key=lambda r: r.pop("order"))[:count]
    out.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs -> {out}; set each 'match' to true or false, then run `agree`")


def score(checkpoint: Path, conversations: int | None, scratch: Path | None) -> None:
    """Gold-fact recall of a finished run's conclusions (its checkpoint) with the calibrated rule."""
    scratch = scratch or Path(tempfile.mkdtemp(prefix="goldfacts-"))
    scratch.mkdir(parents=True, exist_ok=True)
    derived = checkpoint_conclusions(checkpoint, scratch)
    facts = goldfacts.load_gold_facts(datasets_dir(None), conversations)
    result = goldfacts.score(facts, derived, embedder_for(BenchConfig(home=scratch), scratch))
    print(json.dumps({k: v for k, v in result.items()}, indent=1))


def conclusion_arm(checkpoint: Path, conversations: int | None, scratch: Path | None) -> None:
    """Evidence recall of the `conclusions` arm computed from a checkpoint without a server: per question,
    the source turns of the subject's 30 nearest conclusions by embedding cosine (what the bench asks
    `POST …/conclusions/query` for), in rank order."""
    from honcho_local.bench import scoring
    from honcho_local.bench.data import load_locomo
    from honcho_local.bench.api import subject_of
    from honcho_local.bench.runner import scored_questions

    scratch = scratch or Path(tempfile.mkdtemp(prefix="goldfacts-"))
    scratch.mkdir(parents=True, exist_ok=True)
    derived = checkpoint_conclusions(checkpoint, scratch)
    embed = embedder_for(BenchConfig(home=scratch), scratch)
    found: dict[str, list[float]] = {"5": [], "10": [], "20": []}
    for conv in load_locomo(datasets_dir(None))[:conversations]:
        questions = [q for q in scored_questions(conv, None, 7) if q.evidence]
        queries = goldfacts._unit(embed([q.text for q in questions], kind="query"))
        for q, vector in zip(questions, queries):
            mine = [d for d in derived if d.conv_id == conv.conv_id and d.observed == subject_of(conv, q.text)]
            if not mine:
                ranked: list[str] = []
            else:
                order = np.argsort(-(goldfacts._unit(embed([d.text for d in mine])) @ vector))[:30]
                ranked = list(dict.fromkeys(t for j in order for t in mine[j].sources))[:20]
            for k in found:
                found[k].append(scoring.recall_at_k(ranked, q.evidence, int(k))[0])
    print({f"@{k}": round(scoring.mean(v), 3) for k, v in found.items()}, f"n={len(found['10'])}")


def _pair(fact: goldfacts.GoldFact, derived: list[goldfacts.Derived], cosine: np.ndarray, cites: np.ndarray,
          same: np.ndarray, cited: bool) -> dict | None:
    pool = same & cites if cited else same
    if not pool.any():
        return None
    j = int(np.argmax(np.where(pool, cosine, -2.0)))
    return {"order": random.Random(fact.text).random(), "conversation": fact.conv_id, "session": fact.session,
            "speaker": fact.speaker, "fact": fact.text, "evidence": list(fact.evidence),
            "conclusion": derived[j].text, "cited": list(derived[j].sources), "cosine": round(float(cosine[j]), 3),
            "cites": bool(cites[j]), "drawn_as": "nearest citing" if cited else "nearest", "match": None}


def agree(path: Path) -> None:
    rows = [r for r in json.loads(path.read_text()) if r.get("match") is not None]
    truth = np.array([bool(r["match"]) for r in rows])
    cosine, cites = np.array([r["cosine"] for r in rows]), np.array([r["cites"] for r in rows])
    print(f"{len(rows)} judged pairs, {int(truth.sum())} matches")
    print("| rule | agreement | precision | recall |\n|---|---|---|---|")
    for mode in ("cosine", "cite", "and", "or"):
        for threshold in ([0.0] if mode == "cite" else [x / 100 for x in range(40, 96, 5)]):
            rule = goldfacts.Rule(threshold, mode)
            said = rule.matches(cosine, cites)
            hits = int((said & truth).sum())
            print(f"| {rule.describe()} | {float((said == truth).mean()):.3f} | "
                  f"{hits / max(int(said.sum()), 1):.3f} | {hits / max(int(truth.sum()), 1):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("checkpoint", type=Path, help="a bench checkpoint folder (scripts/bench_checkpoint.py save)")
    p.add_argument("out", type=Path)
    p.add_argument("--count", type=int, default=48)
    p.add_argument("--seed", type=int, default=34)
    p.add_argument("--conversations", type=int, default=2, help="facts of the first N conversations")
    c = sub.add_parser("score", help="gold-fact recall of a checkpoint's conclusions (calibrated rule)")
    c.add_argument("checkpoint", type=Path)
    c.add_argument("--conversations", type=int, default=None, help="the first N conversations (default: all)")
    c.add_argument("--scratch", type=Path, default=None, help="folder for the store copy and embedding cache")
    r = sub.add_parser("conclusion-arm", help="evidence recall of the conclusions-only arm from a checkpoint")
    r.add_argument("checkpoint", type=Path)
    r.add_argument("--conversations", type=int, default=None)
    r.add_argument("--scratch", type=Path, default=None)
    a = sub.add_parser("agree")
    a.add_argument("labels", type=Path)
    args = parser.parse_args()
    if args.command == "pairs":
        pairs(args.checkpoint, args.out, args.count, args.seed, args.conversations)
    elif args.command == "score":
        score(args.checkpoint, args.conversations, args.scratch)
    elif args.command == "conclusion-arm":
        conclusion_arm(args.checkpoint, args.conversations, args.scratch)
    else:
        agree(args.labels)


if __name__ == "__main__":
    main()
