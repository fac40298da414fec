"""The dream's knowledge-update rule on 20 hand-written pairs (docs/decisions/008-dream-consolidation.md):
which pairs `update_pairs` puts to the model (one named slot filled with two values, `services/slots.py`)
and what the model answers.

    python scripts/bench_dream_decisions.py [--model qwen2.5-coder-1.5b] [--every-pair]

`--every-pair` asks the model about every pair, as without the slot rule. Prints
each pair with the expected and the given answer, then how many facts were retired, how many of them
wrongly, and how many updates were missed. The pairs were written by hand; an upper bound, not a benchmark.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timedelta

from honcho_local.config import load_settings
from honcho_local.llm import build_embedder, build_llm
from honcho_local.services.consolidation import UpdatePair, update_pairs, update_request
from honcho_local.store.conclusions import Conclusion

# (older fact, newer fact said two months later, the right answer)
PAIRS = [
 ("Alice lives in Lisbon.", "Alice moved to Porto.", "updated"),
 ("Alice works at Acme as a designer.", "Alice started a new job at Globex.", "updated"),
 ("Alice has a cat named Miso.", "Alice adopted a dog named Rex.", "both"),
 ("Alice is learning Spanish.", "Alice is learning Spanish with an app.", "same"),
 ("Alice is single.", "Alice got engaged to Tom.", "updated"),
 ("Alice likes hiking.", "Alice went hiking in the Alps last weekend.", "both"),
 ("Alice is training for a marathon.", "Alice finished her first marathon.", "updated"),
 ("Alice plays the guitar.", "Alice plays the guitar in a band.", "same"),
 ("Alice's favourite food is sushi.", "Alice now prefers Italian food over sushi.", "updated"),
 ("Alice has two children.", "Alice's son Leo started school.", "both"),
 ("Alice drives a Honda.", "Alice sold her Honda and bought a Tesla.", "updated"),
 ("Alice is vegetarian.", "Alice enjoys painting landscapes.", "both"),
 ("Alice volunteers at a shelter.", "Alice volunteers at the animal shelter on weekends.", "same"),
 ("Alice is planning a trip to Japan.", "Alice is back from her trip to Japan.", "updated"),
 ("Alice visited Paris in May.", "Alice visited Rome in August.", "both"),
 ("Alice reads fantasy novels.", "Alice is reading a mystery novel.", "both"),
 ("Alice's sister lives in Berlin.", "Alice's brother lives in Madrid.", "both"),
 ("Alice works as a nurse.", "Alice works night shifts at the hospital.", "both"),
 ("Alice has a cat named Miso.", "Alice's cat Miso is sick.", "both"),
 ("Alice is saving money for a house.", "Alice bought a house in the suburbs.", "updated"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--every-pair", action="store_true")
    args = parser.parse_args()
    overrides = {"reasoning_model": args.model} if args.model else {}
    settings = load_settings(home=tempfile.mkdtemp(prefix="dream-decisions-"), **overrides)
    llm, embedder = build_llm(settings), build_embedder(settings)
    t0 = datetime(2023, 5, 8)
    retired = wrong = missed = 0
    for k, (older, newer, truth) in enumerate(PAIRS):
        items = [Conclusion(f"o{k}", "w", "a", "a", None, "explicit", older, 1, ["m1"], [], {}, "v", t0, t0, None),
                 Conclusion(f"n{k}", "w", "a", "a", None, "explicit", newer, 1, ["m2"], [], {}, "v",
                            t0 + timedelta(days=60), t0, None)]
        vectors = embedder.embed([older, newer]).vectors
        asked = update_pairs(items, vectors, "Alice") or ([UpdatePair(items[0], items[1], 0.0)] if args.every_pair else [])
        got = "not asked"
        if asked:
            parsed = llm.complete(update_request(asked[0])).parsed
            got = parsed.get("answer") if isinstance(parsed, dict) else "failed"
        retired += got == "updated"
        wrong += got == "updated" and truth != "updated"
        missed += got != "updated" and truth == "updated"
        print(f"{truth:8s} {got:10s} | {older} -> {newer}", flush=True)
    print(f"retired {retired}, of which wrongly {wrong}; updates missed {missed} (of "
          f"{sum(t == 'updated' for _, _, t in PAIRS)})")


if __name__ == "__main__":
    main()
