"""Benchmark the model runtime: per installed model, load time, prompt and generation tokens/s,
constrained-JSON tokens/s, embeddings/s, peak RSS, and the provider's overhead against calling
llama-cpp-python directly in the same run.

    python scripts/bench_model.py [--models smollm2-135m,qwen2.5-coder-0.5b,...] [--runs 3] [--write]

Each model runs in its own subprocess so its peak RSS is its own. `--write` writes the results
to a file of their own under docs/benchmarks/runs/ with the command, date and machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from honcho_local.config import load_settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RUNS, machine  # noqa: E402
from honcho_local.llm.base import ChatRequest  # noqa: E402
from honcho_local.llm.catalog import find_spec, load_catalog, model_status, models_dir  # noqa: E402

DEFAULT_MODELS = ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "all-minilm-l6-v2"]
FACTS = ("The user moved to Lisbon last month. They build invoice automation with Stripe in Python. "
         "They have a cat named Pixel and are vegetarian. Their sister lives in Porto. ")
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["facts"],
          "properties": {"facts": {"type": "array", "maxItems": 8,
                                   "items": {"type": "string", "maxLength": 120}}}}
GEN_TOKENS = 128
THREADS = 0  # set from --threads; 0 = the setting's default, one per core


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _messages(i: int, long: bool = False) -> list[dict[str, str]]:
    body = f"Note {i}. " + FACTS * (12 if long else 1)
    return [{"role": "system", "content": "You extract facts about the user."},
            {"role": "user", "content": body + "\nWrite a detailed paragraph about the user."}]


def _raw_call(llama, messages, max_tokens: int, schema=None) -> tuple[int, int, float]:
    llama.reset()
    fmt = {"type": "json_object", "schema": schema} if schema else None
    start = time.perf_counter()
    out = llama.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0,
                                       response_format=fmt)
    return out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"], time.perf_counter() - start


def _provider_call(chat, messages, max_tokens: int, schema=None) -> tuple[int, int, float]:
    chat.llama.reset()
    start = time.perf_counter()
    done = chat.complete(ChatRequest(messages=messages, max_tokens=max_tokens, schema=schema))
    return done.prompt_tokens, done.completion_tokens, time.perf_counter() - start


def _paired(chat, messages, max_tokens: int, schema, i: int) -> tuple[float, float]:
    """(raw tok/s, provider tok/s) for the same request run back to back, order alternating with `i`."""
    calls = [("raw", lambda: _raw_call(chat.llama, messages, max_tokens, schema)),
             ("provider", lambda: _provider_call(chat, messages, max_tokens, schema))]
    rates = {}
    for label, call in (calls if i % 2 == 0 else calls[::-1]):
        _, completion, seconds = call()
        rates[label] = completion / seconds
    return rates["raw"], rates["provider"]


def _stream_rates(chat, messages) -> tuple[float, float]:
    """Prompt tok/s (time to first chunk) and generation tok/s (after the first chunk), via the provider."""
    chat.llama.reset()
    start = time.perf_counter()
    first = None
    last = None
    for chunk in chat.stream(ChatRequest(messages=messages, max_tokens=GEN_TOKENS)):
        first = first or time.perf_counter()
        last = chunk
    end = time.perf_counter()
    return last.prompt_tokens / (first - start), max(1, last.completion_tokens - 1) / (end - first)


def bench_chat(name: str, runs: int) -> dict:
    from honcho_local.llm import build_local_chat

    settings = load_settings(env={}, model_context=4096, model_threads=THREADS)
    start = time.perf_counter()
    chat = build_local_chat(settings, name)
    load_s = time.perf_counter() - start
    _provider_call(chat, _messages(-1), 8)  # warm-up
    prompt_rates, gen_rates, raw, prov, raw_json, prov_json = [], [], [], [], [], []
    for i in range(runs):
        prompt_rate, gen_rate = _stream_rates(chat, _messages(100 + i, long=True))
        prompt_rates.append(prompt_rate)
        gen_rates.append(gen_rate)
        for sink_raw, sink_prov, schema, tokens in ((raw, prov, None, GEN_TOKENS), (raw_json, prov_json, SCHEMA, 256)):
            r, p = _paired(chat, _messages(300 + i), tokens, schema, i)
            sink_raw.append(r)
            sink_prov.append(p)
    med = statistics.median
    return {"model": name, "load_s": load_s, "prompt_tps": med(prompt_rates), "gen_tps": med(gen_rates),
            "json_tps": med(prov_json), "raw_e2e_tps": med(raw), "provider_e2e_tps": med(prov),
            "raw_json_tps": med(raw_json),
            "provider_vs_raw": med([p / r for r, p in zip(raw, prov)]),
            "json_provider_vs_raw": med([p / r for r, p in zip(raw_json, prov_json)]),
            "peak_rss_mb": _peak_rss_mb()}


def bench_embedding(name: str, runs: int) -> dict:
    from honcho_local.llm import build_embedder

    settings = load_settings(env={}, embedding_model=name, model_threads=THREADS)
    start = time.perf_counter()
    embedder = build_embedder(settings)
    load_s = time.perf_counter() - start
    sentences = [f"{i}: " + s for i in range(50) for s in FACTS.split(". ") if s]
    embedder.embed(sentences[:4])
    ours, raw = [], []

    def provider() -> None:
        ours.append(len(sentences) / embedder.embed(sentences).seconds)

    def direct() -> None:
        start = time.perf_counter()
        for s in sentences:
            embedder.llama.embed(s, normalize=True)
        raw.append(len(sentences) / (time.perf_counter() - start))

    for i in range(runs):
        for fn in ((provider, direct) if i % 2 == 0 else (direct, provider)):
            fn()
    med = statistics.median
    return {"model": name, "load_s": load_s, "embeddings_per_s": med(ours), "raw_embeddings_per_s": med(raw),
            "provider_vs_raw": med([o / r for o, r in zip(ours, raw)]), "peak_rss_mb": _peak_rss_mb()}


def run_one(name: str, runs: int) -> dict:
    spec = find_spec(name)
    return bench_embedding(name, runs) if spec.role == "embedding" else bench_chat(name, runs)


def _machine() -> str:
    import llama_cpp

    return f"{machine()}, llama-cpp-python {llama_cpp.__version__}"


def _table(results: list[dict]) -> str:
    lines = ["| model | load s | prompt tok/s | gen tok/s | JSON tok/s | embeddings/s | peak RSS MB "
             "| provider vs raw (plain) | provider vs raw (JSON) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        def f(key, fmt="{:.1f}"):
            return fmt.format(r[key]) if key in r else "–"
        lines.append(f"| {r['model']} | {f('load_s', '{:.2f}')} | {f('prompt_tps')} | {f('gen_tps')} | "
                     f"{f('json_tps')} | {f('embeddings_per_s')} | {f('peak_rss_mb', '{:.0f}')} | "
                     f"{r['provider_vs_raw']:.1%} | {f('json_provider_vs_raw', '{:.1%}')} |")
    return "\n".join(lines)


def _section(results: list[dict], command: str, load_at_start: float) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""
## Model runtime (scripts/bench_model.py)

Command: `{command}`
Date: {now}
Machine: {_machine()}; llama.cpp threads: {THREADS or os.cpu_count()}

{_table(results)}

- load: constructing the provider (sha256 check via the `.verified` stamp + `llama_cpp.Llama`).
- prompt tok/s: a ~{len(FACTS) * 12}-character (about {len(FACTS) * 12 // 4}-token) prompt, time to first streamed token; gen tok/s: tokens
  after the first one / time after it ({GEN_TOKENS} tokens max, greedy).
- JSON tok/s: completion tokens / wall time of a schema-constrained call (`response_format` json_object + schema).
- provider vs raw: completion tokens/s of `LlamaCppChat.complete` divided by the same of
  `llama.create_chat_completion` called directly on the same `Llama`, for the same request run back to
  back (KV cache reset before each call, order alternated), median of the per-pair ratios; plain and
  schema-constrained. For MiniLM, `LlamaCppEmbedder.embed` vs `llama.embed` per text. Floor: 95%.
- load average when the run started: {load_at_start:.2f} (the machine is shared with other work;
  llama.cpp with one thread per core slows down sharply when another process takes a core).
- peak RSS: `ru_maxrss` of the subprocess that benchmarked only that model.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="also write the results to docs/benchmarks/runs/")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: one per core)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    if args.one:
        print(json.dumps(run_one(args.one, args.runs)))
        return
    load_at_start = os.getloadavg()[0]
    settings = load_settings(env={})
    directory = models_dir(settings)
    catalog = load_catalog(directory)
    results = []
    for name in args.models.split(","):
        if model_status(catalog[name], directory) != "installed":
            print(f"skipping {name}: not installed (run `honcho-local models pull {name}`)", file=sys.stderr)
            continue
        out = subprocess.run([sys.executable, __file__, "--one", name, "--runs", str(args.runs),
                              "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(_table(results))
    if args.write:
        command = "python scripts/bench_model.py " + " ".join(sys.argv[1:])
        RUNS.mkdir(parents=True, exist_ok=True)
        path = RUNS / f"model-{time.strftime('%Y-%m-%d-%H%M', time.gmtime())}.md"
        path.write_text(_section(results, command.strip(), load_at_start).lstrip().replace("## ", "# ", 1),
                        encoding="utf-8")
        print(f"report: {path}")

if __name__ == "__main__":
    main()
