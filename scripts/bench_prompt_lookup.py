"""Deriver calls with and without prompt-lookup decoding (llama-cpp-python's `LlamaPromptLookupDecoding`),
on LoCoMo windows (issue 34's model-time levers; the result is in docs/decisions/004-model-time-levers.md).

Builds the deriver's windows from the first sessions of a LoCoMo conversation (each speaker's turns with
the other's as context, as the worker reads them), runs each window through the local chat model once
per setting, alternating, and prints model-seconds per call (median), completion tokens per second and
whether the two settings wrote the same output (at temperature 0 they should):

    python scripts/bench_prompt_lookup.py --model qwen2.5-coder-1.5b --windows 6 --lookup 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from honcho_local.bench import data
from honcho_local.config import load_settings
from honcho_local.llm import build_local_chat
from honcho_local.llm.llamacpp import default_threads, load_llama
from honcho_local.services import deriver


def windows(conv: data.Conversation, count: int, lines_per: int) -> list[tuple[str, list[deriver.Line]]]:
    out = []
    turns = conv.turns
    pk = 0
    for start in range(0, len(turns), lines_per):
        chunk = turns[start:start + lines_per]
        for peer in conv.peers:
            lines = []
            for i, t in enumerate(chunk, start=1):
                pk += 1
                lines.append(deriver.Line(i, t.turn_id, pk, t.speaker, t.text, t.created_at, t.speaker == peer))
            if any(ln.target for ln in lines):
                out.append((peer, lines))
        if len(out) >= count:
            break
    return out[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--windows", type=int, default=6)
    ap.add_argument("--lines", type=int, default=14, help="turns per window")
    ap.add_argument("--lookup", type=int, default=10, help="num_pred_tokens of the lookup arm")
    ap.add_argument("--conversation", default="conv-26")
    args = ap.parse_args()
    conv = next(c for c in data.load_locomo(data.datasets_dir()) if c.conv_id == args.conversation)
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    base = load_settings(Path("/tmp/plookup-home"), env={})
    lookup = build_local_chat(base, args.model)
    # the same model loaded again with a prompt-lookup draft; a draft is checked against the logits of
    # every position, so llama-cpp-python needs them all kept (`logits_all`)
    lookup.llama = load_llama(lookup.path, n_ctx=lookup.llama.n_ctx(), n_threads=default_threads(0),
                              chat_format=lookup.llama.chat_format, logits_all=True,
                              draft_model=LlamaPromptLookupDecoding(num_pred_tokens=args.lookup))
    arms = {"off": build_local_chat(base, args.model), f"lookup {args.lookup}": lookup}
    seconds: dict[str, list[float]] = {name: [] for name in arms}
    tokens: dict[str, int] = {name: 0 for name in arms}
    same = 0
    work = windows(conv, args.windows, args.lines)
    for n, (peer, lines) in enumerate(work):
        texts = {}
        order = list(arms) if n % 2 == 0 else list(reversed(arms))
        for name in order:
            started = time.perf_counter()
            result = deriver.derive(arms[name], peer, lines, base.reasoning_max_facts, base.reasoning_deductions)
            seconds[name].append(time.perf_counter() - started)
            tokens[name] += result.completion.completion_tokens
            texts[name] = result.completion.text
        same += len(set(texts.values())) == 1
        print(f"window {n + 1}: " + ", ".join(f"{k} {seconds[k][-1]:.1f} s" for k in arms), flush=True)
    for name in arms:
        total = sum(seconds[name])
        print(f"{name}: median {statistics.median(seconds[name]):.1f} s per call, {tokens[name] / total:.1f} "
              f"completion tokens/s over {len(work)} calls")
    print(f"identical output in {same} of {len(work)} windows")


if __name__ == "__main__":
    main()
