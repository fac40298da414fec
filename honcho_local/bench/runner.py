"""One benchmark run: ingest through the HTTP API, let the worker drain, answer, score, report.

Ingestion is resumable: with `--home` pointing at an earlier run's data home, sessions already
holding their turns are skipped and a partly written session gets only its missing turns, so a long
reasoning run (the whole of LoCoMo with the default model takes hours on 2 cores) can be carried over
several invocations: each one lets the worker drain for up to `--drain-timeout` and only answers the
questions once nothing is left to reason.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from honcho_local.bench import scoring
from honcho_local.bench.answering import (
    Answerer,
    FullContext,
    answer_question,
    embedder_for,
    lexical_weight_for,
)
from honcho_local.bench.api import (
    Api,
    gold_fact_scores,
    ingest,
    turn_ids_of,
    wait_drained,
    workspace_of,
)
from honcho_local.bench.baselines import TurnIndex
from honcho_local.bench.config import (
    RETRIEVERS,
    BenchConfig,
    RunState,
    config_dict,
    progress,
)
from honcho_local.bench.data import (
    Conversation,
    Question,
    datasets_dir,
    load_beam,
    load_locomo,
)
from honcho_local.bench.journal import Journal, PhaseLog, reasoning_totals
from honcho_local.bench.server import Server, start_server

log = logging.getLogger(__name__)


def load(config: BenchConfig) -> list[Conversation]:
    root = datasets_dir(config.data)
    convs = load_locomo(root) if config.dataset == "locomo" else load_beam(root)
    convs = convs[:config.conversations] if config.conversations else convs
    return [truncate(c, config.sessions) for c in convs] if config.sessions else convs


def truncate(conv: Conversation, sessions: int) -> Conversation:
    """The first `sessions` sessions, with the questions whose evidence lies entirely inside them."""
    kept = conv.sessions[:sessions]
    turn_ids = {t.turn_id for _, turns in kept for t in turns}
    questions = [q for q in conv.questions if q.evidence and set(q.evidence) <= turn_ids]
    return Conversation(conv.conv_id, conv.peers, conv.names, kept, questions, conv.observed)


def scored_questions(conv: Conversation, limit: int | None, seed: int) -> list[Question]:
    """LoCoMo categories 1-4 (adversarial has no gold answer to score); BEAM all. A `limit` takes a
    sample stratified by category (deterministic for a seed)."""
    pool = [q for q in conv.questions if q.code is None or q.code in (1, 2, 3, 4)]
    if limit is None or len(pool) <= limit:
        return pool
    rnd = random.Random(seed)
    by_cat: dict[str, list[Question]] = {}
    for q in pool:
        by_cat.setdefault(q.category, []).append(q)
    picked: list[Question] = []
    cats = sorted(by_cat)
    while len(picked) < limit:
        for cat in cats:
            if by_cat[cat] and len(picked) < limit:
                picked.append(by_cat[cat].pop(rnd.randrange(len(by_cat[cat]))))
    order = {q.qid: i for i, q in enumerate(pool)}
    return sorted(picked, key=lambda q: order[q.qid])


def proportional_sample(pool: list[Question], limit: int | None, seed: int) -> list[Question]:
    """`limit` questions drawn per category in proportion to the category's share of `pool` (largest
    remainders; deterministic for a seed), so a sample's mean F1 estimates the whole pool's."""
    if limit is None or len(pool) <= limit:
        return pool
    by_cat: dict[str, list[Question]] = {}
    for q in pool:
        by_cat.setdefault(q.category, []).append(q)
    quotas = {c: limit * len(qs) / len(pool) for c, qs in by_cat.items()}
    counts = {c: int(v) for c, v in quotas.items()}
    for c in sorted(quotas, key=lambda c: (counts[c] - quotas[c], c))[:limit - sum(counts.values())]:
        counts[c] += 1
    rnd = random.Random(seed)
    picked = {q.qid for c in sorted(by_cat) for q in rnd.sample(by_cat[c], counts[c])}
    return [q for q in pool if q.qid in picked]


def run(config: BenchConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    convs = load(config)
    state = RunState()
    env = {"HONCHO_LOCAL_REASONING_MODEL": config.model, "HONCHO_LOCAL_MODEL_CONTEXT": str(config.context_tokens),
           "HONCHO_LOCAL_REASONING_ENABLED": "true" if config.reasoning else "false",
           "HONCHO_LOCAL_SUMMARY_ENABLED": "true" if config.reasoning else "false", **config.server_env}
    if config.embedding_model:
        env["HONCHO_LOCAL_EMBEDDING_MODEL"] = config.embedding_model
    server = serve(config, env)
    echo(f"server {server.url} (home {server.home})")
    results: dict[str, Any] | None = None
    answering_since: float | None = None
    try:
        api = Api(server.url, config.api_key)
        state.metrics_before = api.metrics()
        started = time.perf_counter()
        with progress() as bar:
            task = bar.add_task("ingest: conversations", total=len(convs))
            for conv in convs:
                state.messages += ingest(api, conv, 25_000, state)
                bar.advance(task)
        state.ingest_seconds = time.perf_counter() - started
        echo(f"ingested {state.messages} new messages in {state.ingest_seconds:.1f} s")
        started = state.drain_started = time.perf_counter()
        state.drained = wait_drained(api, [workspace_of(c) for c in convs], config.drain_timeout)
        state.drain_seconds = time.perf_counter() - started
        state.metrics_after = api.metrics()
        if not state.drained:
            echo(f"the worker has not drained within {config.drain_timeout:.0f} s; run again with the same "
                 f"--home to continue (questions are answered once nothing is left to reason)")
            return {"config": config_dict(config), "drained": False, "drain_seconds": state.drain_seconds}
        started = answering_since = time.perf_counter()
        embed = embedder_for(config, server.home)
        lexical_weight = lexical_weight_for(config)
        answerer = Answerer(config) if config.answers else None
        full_answerer = FullContext(config) if config.answers and "full-context" in config.baselines else None
        total = sum(len(scored_questions(c, config.questions, config.seed)) for c in convs)
        if config.dataset == "locomo" and config.reasoning:
            state.gold_facts = gold_fact_scores(api, convs, config, embed)
        journal = Journal(server.home / "bench-answers.jsonl")
        with progress() as bar:
            task = bar.add_task("questions", total=total)
            for conv in convs:
                questions = scored_questions(conv, config.questions, config.seed)
                answered = {q.qid for q in proportional_sample(questions, config.answer_questions, config.seed)
                            } if answerer else set()
                index = TurnIndex(conv.turns, embed, lexical_weight)
                turn_of = turn_ids_of(api, conv) if config.reasoning else None
                full = full_answerer.answer_all(conv, [q for q in questions if q.qid in answered], journal, state,
                                                bar) if full_answerer else {}
                for q in questions:
                    key = journal.key(config, q, q.qid in answered)
                    if not journal.replay(key, state):
                        before = {k: len(v) for k, v in state.latencies.items()}
                        state.rows.append(answer_question(api, conv, q, index,
                                                          answerer if q.qid in answered else None,
                                                          full.get(q.qid), config, state, turn_of))
                        journal.record(key, state, before)
                    bar.advance(task)
        if journal.replayed:
            echo(f"{journal.replayed} questions answered by an earlier run on this home were reused "
                 f"({journal.path.name}); their latencies are in the figures, their model costs in the rows")
        results = summarise(config, state, convs)
        results["gold_facts"] = state.gold_facts
        results["rows"] = state.rows
    finally:  # also when stopped (SIGTERM is turned into SystemExit by the CLI) or interrupted
        server.stop()
        phases = PhaseLog(server.home / "bench-runs.jsonl")
        phases.record(state, 0.0 if answering_since is None else time.perf_counter() - answering_since,
                      completed=results is not None)
    if results is not None:
        stored = None if isinstance(server, External) else reasoning_totals(server.home,
                                                                            [workspace_of(c) for c in convs])
        if stored is not None:
            results["reasoning"] = stored
        results["phases"] = phases.totals()
    return results


@dataclass
class External:
    """A server this run did not start (`--server-url`: honcho-local elsewhere, or Honcho): never stopped, its
    store never read (the reasoning cost is then what its /metrics says, if it serves them). `home` keeps
    this run's journal and times."""

    url: str
    home: Path

    def stop(self) -> None:
        return None


def serve(config: BenchConfig, env: dict[str, str]) -> Server | External:
    """The server the run talks to: `config.server_url`, else a honcho-local started on `config.home`."""
    if config.server_url is None:
        return start_server(config.home, env, timeout=120)
    home = config.home or Path(tempfile.mkdtemp(prefix="honcho-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    return External(config.server_url.rstrip("/"), home)




def _metric_delta(state: RunState, prefix: str) -> float:
    return sum(v - state.metrics_before.get(k, 0.0) for k, v in state.metrics_after.items() if k.startswith(prefix))


def summarise(config: BenchConfig, state: RunState, convs: list[Conversation]) -> dict[str, Any]:
    rows = state.rows
    cats = sorted({r["category"] for r in rows}, key=lambda c: (min((r["code"] or 0) for r in rows
                                                                    if r["category"] == c), c))
    recall: dict[str, dict[str, Any]] = {}
    for name in RETRIEVERS:
        with_ev = [r for r in rows if name in r["recall"]]
        if not with_ev:
            continue
        recall[name] = {"questions": len(with_ev)}
        for k in ("5", "10", "20"):
            recall[name][f"share@{k}"] = scoring.mean(r["recall"][name][k][0] for r in with_ev)
            recall[name][f"all@{k}"] = scoring.mean(r["recall"][name][k][1] for r in with_ev)
        recall[name]["by_category"] = {c: scoring.mean(r["recall"][name]["10"][0] for r in with_ev
                                                       if r["category"] == c) for c in cats}
    systems = sorted({s for r in rows for s in r["f1"]})
    answers = {s: {"questions": sum(1 for r in rows if s in r["f1"]),
                   "f1": scoring.mean(r["f1"][s] for r in rows if s in r["f1"]),
                   "em": scoring.mean(r["em"][s] for r in rows if s in r["em"]),
                   "by_category": {c: scoring.mean(r["f1"][s] for r in rows if s in r["f1"] and r["category"] == c)
                                   for c in cats},
                   "seconds_per_question": scoring.mean(r["seconds"][s] for r in rows if s in r["seconds"]),
                   "tokens_per_question": scoring.mean(r["tokens"][s] for r in rows if s in r["tokens"])}
               for s in systems}
    judged = {}
    if any("judged" in r for r in rows):
        for s in systems or sorted({s for r in rows for s in r.get("judged", {})}):
            vals = [r["judged"][s] for r in rows if r.get("judged", {}).get(s) is not None]
            judged[s] = {"questions": len(vals), "score": scoring.mean(vals)}
    messages = sum(len(c.turns) for c in convs)
    tokens = _metric_delta(state, "honcho_reasoning_tokens_total")
    model_seconds = _metric_delta(state, "honcho_reasoning_duration_seconds_sum")
    return {
        "config": config_dict(config), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "conversations": [c.conv_id for c in convs], "messages": messages, "messages_posted": state.messages,
        "truncated": state.truncated, "questions": len(rows),
        "counts": {c: sum(1 for r in rows if r["category"] == c) for c in cats},
        "ingest_seconds": state.ingest_seconds, "drain_seconds": state.drain_seconds,
        "wall_seconds": time.time() - state.started,
        "reasoning": {"tokens": tokens, "model_seconds": model_seconds,
                      "tokens_per_message": tokens / state.messages if state.messages else None,
                      "model_seconds_per_message": model_seconds / state.messages if state.messages else None,
                      "conclusions": _metric_delta(state, "honcho_conclusions_derived_total"),
                      "note": None if state.messages else "ingested in an earlier run: reasoning cost not measured"},
        "recall": recall, "answers": answers, "judged": judged,
        "latency_ms": {k: {"p50": scoring.percentile(v, 50), "p95": scoring.percentile(v, 95), "n": len(v)}
                       for k, v in state.latencies.items()},
        "skipped": state.skipped,
    }
