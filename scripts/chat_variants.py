"""Compare chat retrieval depths and answer instructions on LoCoMo questions, paired, on a reasoned store.

Runs the dialectic in this process (no HTTP) on a *copy* of a bench home whose conversations the worker
has fully reasoned (e.g. the full run's `~/.cache/honcho-bench/locomo-full`), with the configured chat
model, and prints each answer and the mean token F1 and median seconds per variant. Stop any server on
the home first, or copy it:

    cp -r ~/.cache/honcho-bench/locomo-full/{honcho.duckdb,lexical-index} /tmp/chatexp-home/
    python scripts/chat_variants.py --home /tmp/chatexp-home --conversations conv-26,conv-30 --per-conversation 15

Variants run one after the other for each question, so a later one may reuse the earlier one's prompt
prefix in llama.cpp (its seconds are then low); compare seconds across separate runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from honcho_local.bench import data, scoring
from honcho_local.bench.api import subject_of, workspace_of
from honcho_local.config import load_settings
from honcho_local.schemas_read import ChatBody
from honcho_local.services import chat_prompt
from honcho_local.wiring import build_services

OLD_SYSTEM = ("You answer questions about {who} using only the memory below: facts (conclusions) extracted "
              "from conversations, a peer card and relevant messages, each fact and message with the date it was "
              "said. Answer in one short sentence or phrase, using the memory's own words; turn relative times "
              "('yesterday', 'last week') into dates from the message date. If the memory does not contain the "
              "answer, say that you do not know.")
VARIANTS = {  # name: (level used as "low", system prompt)
    "A-25+25c-5m-sentence": (chat_prompt.Level(25, 5, 512, 256), OLD_SYSTEM),
    "B-12+12c-10m-sentence": (chat_prompt.Level(12, 10, 512, 256), OLD_SYSTEM),
    "C-current": (chat_prompt.LEVELS["low"], chat_prompt.SYSTEM),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", required=True)
    ap.add_argument("--conversations", default="conv-26,conv-30")
    ap.add_argument("--per-conversation", type=int, default=15)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    svc = build_services(load_settings(args.home, env={}))
    convs = {c.conv_id: c for c in data.load_locomo(data.datasets_dir())}
    questions = []
    for cid in args.conversations.split(","):
        pool = [q for q in convs[cid].questions if q.code != 5 and q.answer]
        step = max(1, len(pool) // args.per_conversation)
        questions += [(convs[cid], q) for q in pool[::step][:args.per_conversation]]
    names = args.variants.split(",")
    results: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    saved = chat_prompt.LEVELS["low"], chat_prompt.SYSTEM
    try:
        for conv, q in questions:
            for name in names:
                chat_prompt.LEVELS["low"], chat_prompt.SYSTEM = VARIANTS[name]
                started = time.perf_counter()
                prepared = svc.dialectic.prepare(workspace_of(conv), subject_of(conv, q.text),
                                                 ChatBody(query=q.text, reasoning_level="low"))
                answer = svc.dialectic.answer(prepared, False)["content"]
                seconds = time.perf_counter() - started
                f1 = scoring.token_f1(answer, str(q.answer))
                results[name].append((f1, seconds))
                print(json.dumps({"variant": name, "question": q.text, "gold": str(q.answer), "answer": answer,
                                  "f1": round(f1, 3), "seconds": round(seconds, 1)}), flush=True)
    finally:
        chat_prompt.LEVELS["low"], chat_prompt.SYSTEM = saved
        svc.close()
    for name, rows in results.items():
        print(f"{name}: token F1 {statistics.mean(r[0] for r in rows):.3f}, median "
              f"{statistics.median(r[1] for r in rows):.1f} s, {len(rows)} questions")


if __name__ == "__main__":
    main()
