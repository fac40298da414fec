"""Write each pair's profile on a store as the worker would, and show which sentences the grounding
check keeps and drops (`peer_card.grounded_profile`), for hand-checking (docs/decisions/009-grounded-profiles.md).

    python scripts/bench_profiles.py HOME --out profiles.json [--pairs N] [--facts K]

`--facts K` gives the call only the first K card entries and K newest facts, as a profile written early in
a conversation has (a model with little to say is where a profile invents).

Reads the store (no server may hold it; nothing is written): per observer/peer pair, the card and the
newest facts as `services/card_step.py` gives them to the profile call, the model's raw profile, and each
sentence with its verdict. Prints the sentences and the share dropped; the JSON holds the facts too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from honcho_local.config import load_settings
from honcho_local.llm import build_llm
from honcho_local.services import peer_card
from honcho_local.services.card_step import profile_facts, rebuilt_card
from honcho_local.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=None)
    parser.add_argument("--facts", type=int, default=None)
    args = parser.parse_args()
    settings = load_settings(home=args.home)
    llm = build_llm(settings)
    store = Store.open(settings.db_path)
    try:
        pairs = store.read(lambda cur: cur.execute(
            "SELECT DISTINCT workspace_id, observer_id, observed_id, version FROM peer_cards ORDER BY 1, 2, 3"
        ).fetchall())[:args.pairs]
        records = []
        for ws, observer, observed, version in pairs:
            card, recent = store.read(lambda cur: (rebuilt_card(cur, ws, observer, observed, version),
                                                   profile_facts(cur, ws, observer, observed, version)))
            card, recent = card[:args.facts], recent[:args.facts]
            request = peer_card.fit_profile(llm.count_tokens, settings.model_context, observed, card, recent)
            started = time.monotonic()
            raw = " ".join(llm.complete(request).text.split())
            kept, dropped = peer_card.grounded_profile(raw, observed, peer_card.prompt_facts(request))
            records.append({"workspace": ws, "observer": observer, "observed": observed,
                            "facts": peer_card.prompt_facts(request), "raw": raw, "kept": kept, "dropped": dropped,
                            "seconds": round(time.monotonic() - started, 1)})
            print(f"\n## {ws}/{observer}/{observed}\nKEPT: {kept}\n" + "".join(f"DROPPED: {d}\n" for d in dropped),
                  flush=True)
            args.out.write_text(json.dumps(records, indent=1))
    finally:
        store.close()
    total = sum(len(peer_card._SENTENCE.split(r["raw"].strip())) for r in records)
    dropped_n = sum(len(r["dropped"]) for r in records)
    print(f"\n{len(records)} profiles, {total} sentences, {dropped_n} dropped ({dropped_n / max(total, 1):.0%})")


if __name__ == "__main__":
    main()
