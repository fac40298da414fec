"""Would the source messages of retrieved conclusions raise evidence recall@10 if given reserved slots?

Until fbd3667, `recall` (what chat retrieves) put conclusion sources only in the slots message search
left, and on LoCoMo search always fills them; this measurement chose the mix that now ships (every fifth
slot a source, 8 + 2 at 10). It asks a running server on a finished LoCoMo bench home (a copy:
`honcho-local serve --home COPY --port 8611 --offline`) for message search (`POST …/search`, limit 20)
and for `POST …/peers/{p}/recall` (limit 20: its conclusions, and its own top 10 as served) on every
question with evidence, and scores top-10 variants without another request: the first 10-n search
hits, then up to n sources not among them, then the rest of the hits. No model is called.

    python scripts/recall_source_mix.py --url http://127.0.0.1:8611
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

import httpx

from honcho_local.bench.data import datasets_dir, load_locomo
from honcho_local.bench.api import subject_of, turn_ids, workspace_of
from honcho_local.bench.runner import scored_questions

RESERVED = {"search alone": 0, "8 search + 2 sources": 2, "7 search + 3 sources": 3,
            "5 search + 5 sources": 5, "sources first": 10}


def _pages(client: httpx.Client, path: str) -> list[dict]:
    items, page = [], 1
    while True:
        body = client.post(path, params={"page": page, "size": 100}, json={}).raise_for_status().json()
        items += body["items"]
        if page >= body["pages"]:
            return items
        page += 1


def top10(hits: list[str], sources: list[str], n: int) -> list[str]:
    head = hits[:10 - n]
    extra = [s for s in sources if s not in head][:n]
    return list(dict.fromkeys(head + extra + hits[10 - n:]))[:10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8611")
    parser.add_argument("--data", default=None, help="datasets folder (default: $HONCHO_LOCAL_DATASETS, else the "
                        "cache that `honcho-local bench data pull` fills)")
    args = parser.parse_args()
    client = httpx.Client(base_url=args.url, timeout=60)
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    source_counts = []
    for conv in load_locomo(datasets_dir(args.data)):
        ws = workspace_of(conv)
        turn_of = {}
        for session in _pages(client, f"/v3/workspaces/{ws}/sessions/list"):
            messages = _pages(client, f"/v3/workspaces/{ws}/sessions/{session['id']}/messages/list")
            turn_of.update(zip((m["id"] for m in messages), turn_ids(messages)))
        for q in scored_questions(conv, None, 0):
            if not q.evidence:
                continue
            recalled = client.post(f"/v3/workspaces/{ws}/peers/{subject_of(conv, q.text)}/recall",
                                   json={"query": q.text, "reasoning_level": "low", "limit": 20}
                                   ).raise_for_status().json()
            served = turn_ids(recalled["messages"])[:10]
            hits = turn_ids(client.post(f"/v3/workspaces/{ws}/search", json={"query": q.text, "limit": 20}
                                         ).raise_for_status().json())
            sources = list(dict.fromkeys(turn_of[i] for c in recalled["conclusions"]
                                         for i in (c["message_ids"] or []) if i in turn_of))
            source_counts.append(len(sources))
            evidence = set(q.evidence)
            for name, n in RESERVED.items():
                share = len(evidence & set(top10(hits, sources, n))) / len(evidence)
                scores[name]["all"].append(share)
                scores[name][q.category].append(share)
            share = len(evidence & set(served)) / len(evidence)
            scores["recall as served"]["all"].append(share)
            scores["recall as served"][q.category].append(share)
        print(conv.conv_id, "done", flush=True)
    n = len(scores["search alone"]["all"])
    print(f"{n} questions; median conclusion sources per question {statistics.median(source_counts)}")
    cats = sorted(c for c in scores["search alone"] if c != "all")
    print("| top 10 | recall@10 | " + " | ".join(cats) + " |")
    for name, by in scores.items():
        print(f"| {name} | {statistics.mean(by['all']):.3f} | "
              + " | ".join(f"{statistics.mean(by[c]):.3f}" for c in cats) + " |")


if __name__ == "__main__":
    main()
