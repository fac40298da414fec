"""Reranking the message search's top candidates on LoCoMo (issue 34, the "reranking" retrieval lever).

For every scored LoCoMo question with evidence (categories 1-4, the bench's own set), this script takes the
top `--depth` (50) messages of a retriever served by a honcho-local server on a bench home (`search`: the
workspace message search, the bench's `honcho-search` arm; `recall`: the peer recall route, the `honcho`
arm), reranks them with a reranker scoring (question, document) pairs, and prints evidence recall@5/10/20
before and after, overall and per LoCoMo category, plus each reranker's time per query (median, p90) for
its `--depth` pairs. Fusions of the original rank and the reranker's rank (reciprocal rank fusion) are
scored too: a reranker that loses on some categories may still add something as a vote.

The document a reranker sees is the product's lexical document shape, "date speaker: content"
(`store.lexical_tail.document_text`, with the speaker's display name).

Rerankers (`--rerankers`, comma-separated):
  llm:MODEL    a chat model of the catalog (e.g. qwen2.5-coder-0.5b) used as a pointwise judge: the
               question and one document in a fixed prompt, the score is logit("yes") - logit("no") of
               the first answer token. The prompt's prefix (instructions + question) is evaluated once
               per question and reused for each document (llama.cpp's KV cache), so each pair costs
               only its document's tokens.
  llmb:MODEL   the same judge with all documents of a query in one batched decode (the question prefix
               copied across sequences in the KV cache): same scores, faster on CPU.
  nanoranker   the `nanoranker` wheel from PyPI (MIT): a small ONNX MLP over Universal Sentence Encoder
               (multilingual) embeddings of the query and the document plus char n-gram hashes. Needs
               onnxruntime, onnxruntime-extensions and nanoranker importable (e.g. `pip install --target
               DIR ...` and `--site DIR`); no cross-encoder.

Candidates are fetched once and kept in `--cache` (JSON, default /tmp/rerank-SOURCE-DEPTH.json); reranker
scores are kept per reranker in the same folder, so a second run only scores what is missing and a long run
can be resumed (a cache is tied to the home it was fetched from: delete it for another home).

    pip install --target /tmp/rr-site --no-deps onnxruntime onnxruntime-extensions nanoranker==1.2
    python scripts/bench_rerank.py --home /work/bench-home/rerank-home --rerankers nanoranker --site /tmp/rr-site
    python scripts/bench_rerank.py --home HOME --rerankers llmb:qwen2.5-coder-1.5b --sample 100
    python scripts/bench_rerank.py --home HOME --depth 100 --rerankers ''   # the pool's ceiling only

Findings and figures: docs/decisions/006-reranker.md.

`--sample N` scores only N questions drawn per category in proportion (the bench's
`proportional_sample`, deterministic for `--seed`); the "before" figures are printed on the same sample.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from honcho_local.bench import scoring
from honcho_local.bench.api import subject_of, turn_ids, workspace_of
from honcho_local.bench.data import Conversation, Question, datasets_dir, load_locomo
from honcho_local.bench.runner import proportional_sample, scored_questions
from honcho_local.bench.server import start_server
from honcho_local.store.lexical_tail import document_text

KS = (5, 10, 20)


# ---------------------------------------------------------------------------------------------------------
# candidates


def questions_of(convs: list[Conversation]) -> list[tuple[Conversation, Question]]:
    return [(c, q) for c in convs for q in scored_questions(c, None, 7) if q.evidence]


def fetch_candidates(home: Path, convs: list[Conversation], source: str, depth: int,
                     env: dict[str, str]) -> dict[str, list[str]]:
    """qid -> the retriever's top `depth` turn ids, from a server started on `home`."""
    server = start_server(home, env, timeout=180)
    out: dict[str, list[str]] = {}
    try:
        client = httpx.Client(base_url=server.url, timeout=600)
        for conv, q in questions_of(convs):
            ws = workspace_of(conv)
            if source == "search":
                r = client.post(f"/v3/workspaces/{ws}/search", json={"query": q.text, "limit": depth})
                r.raise_for_status()
                out[q.qid] = turn_ids(r.json())
            else:
                subject = subject_of(conv, q.text)
                r = client.post(f"/v3/workspaces/{ws}/peers/{subject}/recall",
                                json={"query": q.text, "reasoning_level": "low", "limit": depth})
                r.raise_for_status()
                out[q.qid] = turn_ids(r.json()["messages"])
    finally:
        server.stop()
    return out


# ---------------------------------------------------------------------------------------------------------
# rerankers


class LlmJudge:
    """A catalog chat model as a pointwise relevance judge: logit('yes') - logit('no') after a fixed prompt
    (the prompt shape of Qwen3-Reranker, with Qwen2.5's chat template)."""

    SYSTEM = ("Judge whether the Document helps to answer the Query. The Document is one message of a "
              "conversation, with its date and speaker. Answer only \"yes\" or \"no\".")

    def __init__(self, model: str, threads: int) -> None:
        from llama_cpp import Llama

        from honcho_local.config import load_settings
        from honcho_local.llm.catalog import find_spec, models_dir

        settings = load_settings(Path("/tmp/rr-settings-home"))
        spec = find_spec(model, models_dir(settings))
        path = models_dir(settings) / spec.file
        if not path.exists():
            raise SystemExit(f"{path} is missing: honcho-local models pull {model}")
        self.llm = Llama(model_path=str(path), n_ctx=2048, n_batch=512, n_threads=threads,
                         n_threads_batch=threads, logits_all=False, verbose=False)
        self.n_vocab = self.llm.n_vocab()
        self.yes = self._single("yes")
        self.no = self._single("no")

    def _single(self, word: str) -> int:
        toks = self.llm.tokenize(word.encode(), add_bos=False, special=False)
        if len(toks) != 1:
            raise RuntimeError(f"{word!r} is {len(toks)} tokens")
        return toks[0]

    def _tok(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def _last_logits(self) -> np.ndarray:
        return np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.n_vocab,))

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        prefix = (f"<|im_start|>system\n{self.SYSTEM}<|im_end|>\n<|im_start|>user\n"
                  f"<Query>: {query}\n<Document>: ")
        ptoks = self._tok(prefix)
        self.llm.reset()
        self.llm.eval(ptoks)
        base = self.llm.n_tokens
        out = []
        for doc in docs:
            self.llm.n_tokens = base  # eval() drops the KV cache past n_tokens: the prefix is kept
            self.llm.eval(self._tok(f"{doc[:600]}<|im_end|>\n<|im_start|>assistant\n"))
            logits = self._last_logits()
            out.append(float(logits[self.yes] - logits[self.no]))
        return out


class LlmJudgeBatched(LlmJudge):
    """The same judge, every document of a query in one llama_decode: the question prefix is evaluated
    once (sequence 0), copied to sequences 1..N in the KV cache (no recomputation), and each document is
    decoded as its own sequence after it, all in one batch (larger matrix products than one call per
    document). Scores equal `LlmJudge`'s up to float rounding."""

    MAX_SEQ = 64

    def __init__(self, model: str, threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals as internals

        super().__init__(model, threads)
        self.lc = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = 8192
        params.n_batch = 8192
        params.n_ubatch = 512
        params.n_seq_max = self.MAX_SEQ
        params.kv_unified = True
        params.n_threads = threads
        params.n_threads_batch = threads
        self.ctx = internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        self.batch = llama_cpp.llama_batch_init(8192, 0, self.MAX_SEQ)

    def _decode(self, seqs: list[tuple[int, list[int], int]]) -> list[int]:
        """Decode (seq_id, tokens, first position) runs in one batch; the batch index of each run's last token."""
        b = self.batch
        n = 0
        last = []
        for seq, toks, pos0 in seqs:
            for i, tok in enumerate(toks):
                b.token[n] = tok
                b.pos[n] = pos0 + i
                b.n_seq_id[n] = 1
                b.seq_id[n][0] = seq
                b.logits[n] = i == len(toks) - 1
                n += 1
            last.append(n - 1)
        b.n_tokens = n
        rc = self.lc.llama_decode(self.ctx.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        return last

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        out: list[float] = []
        for start in range(0, len(docs), self.MAX_SEQ - 1):
            out += self._score(query, docs[start:start + self.MAX_SEQ - 1])
        return out

    def _score(self, query: str, docs: Sequence[str]) -> list[float]:
        lc = self.lc
        mem = lc.llama_get_memory(self.ctx.ctx)
        lc.llama_memory_clear(mem, True)
        prefix = (f"<|im_start|>system\n{self.SYSTEM}<|im_end|>\n<|im_start|>user\n"
                  f"<Query>: {query}\n<Document>: ")
        ptoks = self._tok(prefix)
        self._decode([(0, ptoks, 0)])
        for i in range(1, len(docs) + 1):
            lc.llama_memory_seq_cp(mem, 0, i, 0, len(ptoks))
        runs = [(i + 1, self._tok(f"{d[:600]}<|im_end|>\n<|im_start|>assistant\n"), len(ptoks))
                for i, d in enumerate(docs)]
        last = self._decode(runs)
        out = []
        for idx in last:
            logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(self.ctx.ctx, idx), shape=(self.n_vocab,))
            out.append(float(logits[self.yes] - logits[self.no]))
        return out


class NanoRanker:
    def __init__(self) -> None:
        import nanoranker  # type: ignore[import-not-found]  # its ONNX sessions load at import

        self.mod = nanoranker

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        m = self.mod
        q = m.embed(query)
        d = np.array([m.embed(t) for t in docs])
        x = np.concatenate([np.tile(q, (len(d), 1)), d], axis=1).astype(np.float32)
        return [float(v) for v in m.reranker_model.run(["output"], {"input": x})[0].reshape(-1)]


def build_reranker(name: str, threads: int) -> Any:
    if name.startswith("llmb:"):
        return LlmJudgeBatched(name[5:], threads)
    if name.startswith("llm:"):
        return LlmJudge(name[4:], threads)
    if name == "nanoranker":
        return NanoRanker()
    raise SystemExit(f"unknown reranker {name!r}")


# ---------------------------------------------------------------------------------------------------------
# scoring


def rrf(rankings: Sequence[Sequence[str]], k: float, weights: Sequence[float]) -> list[str]:
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores, key=lambda i: -scores[i])


def reranked(cands: list[str], scores: list[float]) -> list[str]:
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], i))  # ties keep the original order
    return [cands[i] for i in order]


def fused(cands: dict[str, list[str]], rr: Callable[[str], list[str]], k: float,
          w: float) -> Callable[[str], list[str]]:
    """RRF of the original order (weight 1) and the reranker's (weight `w`)."""
    return lambda qid: rrf([cands[qid], rr(qid)], k, [1.0, w])


def table(name_rankings: dict[str, Callable[[str], list[str]]], items: list[tuple[Conversation, Question]],
          ks: Sequence[int] = KS) -> str:
    cats = sorted({q.category for _, q in items}, key=lambda c: min(q.code or 0 for _, q in items
                                                                   if q.category == c))
    head = ("| ranking | " + " | ".join(f"@{k}" for k in ks) + " | " +
            " | ".join(f"{c} @10 / @20 (n={sum(1 for _, q in items if q.category == c)})" for c in cats) + " |")
    lines = [head, "|" + "---|" * (1 + len(ks) + len(cats))]
    for name, fn in name_rankings.items():
        ranked = {q.qid: fn(q.qid) for _, q in items}
        overall = [scoring.mean(scoring.recall_at_k(ranked[q.qid], q.evidence, k)[0] for _, q in items)
                   for k in ks]
        per = []
        for c in cats:
            sub = [q for _, q in items if q.category == c]
            r10 = scoring.mean(scoring.recall_at_k(ranked[q.qid], q.evidence, 10)[0] for q in sub)
            r20 = scoring.mean(scoring.recall_at_k(ranked[q.qid], q.evidence, 20)[0] for q in sub)
            per.append(f"{r10:.3f} / {r20:.3f}")
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in overall) + " | " + " | ".join(per) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a LoCoMo bench home (all 10 conversations ingested)")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--source", choices=("search", "recall"), default="search")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--rerankers", default="nanoranker")
    ap.add_argument("--sample", type=int, default=None, help="score N questions (proportional by category)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None, help="candidates JSON (default: /tmp/rerank-<source>.json)")
    ap.add_argument("--site", type=Path, default=None, help="a folder put first on sys.path (pip --target)")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", help="the server's reasoning model (as the bench)")
    ap.add_argument("--embedding-model", default="all-minilm-l6-v2")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    if args.site:
        sys.path.insert(0, str(args.site))

    convs = load_locomo(datasets_dir(args.data))
    items = questions_of(convs)
    cache = args.cache or Path(f"/tmp/rerank-{args.source}-{args.depth}.json")
    if cache.exists():
        cands = json.loads(cache.read_text())
    else:
        env = {"HONCHO_LOCAL_REASONING_MODEL": args.model, "HONCHO_LOCAL_EMBEDDING_MODEL": args.embedding_model,
               "HONCHO_LOCAL_REASONING_ENABLED": "true", "HONCHO_LOCAL_SUMMARY_ENABLED": "true",
               "HONCHO_LOCAL_DREAM_AUTO": "false"}
        started = time.perf_counter()
        cands = fetch_candidates(args.home, convs, args.source, args.depth, env)
        print(f"candidates for {len(cands)} questions in {time.perf_counter() - started:.0f} s -> {cache}")
        cache.write_text(json.dumps(cands))
    if args.sample:
        keep = {q.qid for q in proportional_sample([q for _, q in items], args.sample, args.seed)}
        items = [(c, q) for c, q in items if q.qid in keep]
    turn_of = {(c.conv_id, t.turn_id): t for c in convs for t in c.turns}
    conv_of = {q.qid: c for c, q in items}

    def doc(qid: str, tid: str) -> str:
        conv = conv_of[qid]
        t = turn_of[(conv.conv_id, tid)]
        return document_text(conv.names.get(t.speaker, t.speaker), t.text, t.created_at)

    rankings: dict[str, Callable[[str], list[str]]] = {f"{args.source} (before)": lambda qid: cands[qid]}
    ceiling = scoring.mean(scoring.recall_at_k(cands[q.qid], q.evidence, args.depth)[0] for _, q in items)
    figures: dict[str, Any] = {"source": args.source, "depth": args.depth, "questions": len(items),
                               f"recall@{args.depth}": ceiling, "rerankers": {}}
    for name in [n.strip() for n in args.rerankers.split(",") if n.strip()]:
        path = cache.with_name(cache.stem + f"-scores-{name.replace(':', '_')}.json")
        stored: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        todo = [q for _, q in items if q.qid not in stored]
        if todo:
            model = build_reranker(name, args.threads)
            model.score("warm up", ["01 January 2023 Someone: warm up"])
            for i, q in enumerate(todo):
                docs = [doc(q.qid, t) for t in cands[q.qid]]
                started = time.perf_counter()
                scores = model.score(q.text, docs)
                stored[q.qid] = {"scores": scores, "seconds": time.perf_counter() - started, "pairs": len(docs)}
                if (i + 1) % 10 == 0 or i + 1 == len(todo):
                    path.write_text(json.dumps(stored))
                    print(f"{name}: {i + 1}/{len(todo)} questions, last {stored[q.qid]['seconds']:.2f} s",
                          flush=True)
        secs = [stored[q.qid]["seconds"] for _, q in items if stored[q.qid]["pairs"] == args.depth]
        figures["rerankers"][name] = {"seconds_median": statistics.median(secs) if secs else None,
                                      "seconds_p90": scoring.percentile(secs, 90) if secs else None,
                                      "timed_queries": len(secs)}

        def rr(qid: str, s: dict = stored) -> list[str]:
            return reranked(cands[qid], s[qid]["scores"])

        rankings[f"{name}"] = rr
        for k, w in ((60, 1.0), (20, 1.0), (60, 0.5)):
            rankings[f"RRF(before, {name}) k={k} w_rerank={w}"] = fused(cands, rr, k, w)
    text = table(rankings, items)
    print(f"\n{len(items)} questions, {args.source} top {args.depth}; recall@{args.depth} (the ceiling) "
          f"{ceiling:.3f}\n")
    print(text)
    for name, f in figures["rerankers"].items():
        if f["seconds_median"] is not None:
            print(f"\n{name}: {f['seconds_median']:.3f} s median, {f['seconds_p90']:.3f} s p90 per query "
                  f"({args.depth} pairs, {args.threads} threads, n={f['timed_queries']})")
    if args.json:
        figures["table"] = text
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("HONCHO_LOCAL_DREAM_AUTO", "false")
    main()
