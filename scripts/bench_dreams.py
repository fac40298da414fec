"""Dream every observer/peer pair of a store and say what the dreams decided, for hand-checking.

Run it on a copy of a reasoned bench home (a restored checkpoint: scripts/bench_checkpoint.py), never on a
store you want to keep as it is: dreams retire and add conclusions. No server may hold the store.

    cp -r ~/.cache/honcho-bench/locomo-full /tmp/dreamt
    python scripts/bench_dreams.py /tmp/dreamt --out /tmp/dreamt/dreams.json [--max-decisions 40] [--pairs N] [--inductions]

Prints, per pair and in total: decisions, superseded, same, kept, inductions, ungrounded, failed and the
dreams' seconds; then a sample of the superseded pairs, of the pairs kept ("both"), and of the inductions
with their premises, as text. The JSON holds every decision with its texts. `honcho-local bench locomo
--bench-home HOME --retrieval-only` on the copy before and after measures what the dreams changed in recall.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from honcho_local.config import load_settings
from honcho_local.services.dreams import DreamBody
from honcho_local.store import conclusions as conclusions_db
from honcho_local.wiring import build_services

KEYS = ("decisions", "superseded", "same", "kept", "inductions", "ungrounded", "failed")


def pairs_of(services: Any) -> list[tuple[str, str, str]]:
    return services.store.read(lambda cur: cur.execute(
        "SELECT workspace_id, observer_id, observed_id, count(*) AS n FROM conclusions WHERE deleted_at IS NULL "
        "AND level = 'explicit' GROUP BY ALL ORDER BY 1, 2, 3").fetchall())


def texts(services: Any, workspace_id: str, ids: list[str]) -> dict[str, str]:
    rows = services.store.read(lambda cur: conclusions_db.get_conclusions(cur, workspace_id, ids))
    return {c.id: f"[{(c.observed_at or c.created_at):%Y-%m-%d}] {c.content}" for c in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-decisions", type=int, default=None)
    parser.add_argument("--pairs", type=int, default=None, help="only the first N pairs")
    parser.add_argument("--sample", type=int, default=15)
    parser.add_argument("--inductions", action="store_true", help="ask for patterns too (dream_inductions)")
    args = parser.parse_args()
    overrides: dict[str, Any] = {"dream_inductions": args.inductions}
    if args.max_decisions is not None:
        overrides["dream_max_decisions"] = args.max_decisions
    settings = load_settings(home=args.home, **overrides)
    services = build_services(settings)
    records: list[dict[str, Any]] = []
    try:
        pairs = pairs_of(services)[: args.pairs]
        print(f"{len(pairs)} pairs, {sum(p[3] for p in pairs)} live explicit conclusions", flush=True)
        for workspace_id, observer, observed, count in pairs:
            started = time.monotonic()
            done = services.dreams.dream(workspace_id, DreamBody(observer, observed))
            seconds = time.monotonic() - started
            ids = [i for u in done.get("updates", []) for i in u[:2]] + \
                [i for p in done.get("patterns", []) for i in p[0]]
            said = texts(services, workspace_id, ids)
            record = {"workspace": workspace_id, "observer": observer, "observed": observed, "conclusions": count,
                      "seconds": round(seconds, 1), **{k: done.get(k, 0) for k in KEYS},
                      "errors": done.get("errors", []),
                      "updates": [{"older": said.get(u[0]), "newer": said.get(u[1]), "answer": u[2], "slot": u[3]}
                                  for u in done.get("updates", [])],
                      "patterns": [{"premises": [said.get(i) for i in p], "sentence": s, "verdict": v}
                                   for p, s, v in done.get("patterns", [])]}
            records.append(record)
            print(f"{workspace_id}/{observer}/{observed}: {count} conclusions, "
                  + ", ".join(f"{k} {record[k]}" for k in KEYS) + f", {seconds:.0f} s", flush=True)
            args.out.write_text(json.dumps(records, indent=1))
    finally:
        services.store.close()
    totals = {k: sum(r[k] for r in records) for k in KEYS}
    seconds = [r["seconds"] for r in records]
    print("total: " + ", ".join(f"{k} {v}" for k, v in totals.items())
          + f"; {sum(seconds):.0f} s over {len(records)} dreams (median {statistics.median(seconds or [0]):.0f} s)")
    rng = random.Random(7)
    updates = [u for r in records for u in r["updates"]]
    for answer in ("updated", "both", "same"):
        chosen = [u for u in updates if u["answer"] == answer]
        print(f"\n## {answer}: {len(chosen)} (a sample of {min(args.sample, len(chosen))})")
        for u in rng.sample(chosen, min(args.sample, len(chosen))):
            print(f"- [{u['slot']}] {u['older']}\n  -> {u['newer']}")
    patterns = [p for r in records for p in r["patterns"]]
    for verdict in ("kept", "ungrounded"):
        chosen = [p for p in patterns if p["verdict"] == verdict]
        print(f"\n## inductions {verdict}: {len(chosen)} (a sample of {min(args.sample, len(chosen))})")
        for p in rng.sample(chosen, min(args.sample, len(chosen))):
            print(f"- {p['sentence']}\n" + "".join(f"    * {t}\n" for t in p["premises"]), end="")


if __name__ == "__main__":
    main()
