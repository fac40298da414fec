"""A benchmark run's settings (`BenchConfig`), what it gathers as it goes (`RunState`), and where its results go."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# `honcho`: recall as served (search + conclusion sources); `honcho-search`: message search alone;
# `conclusions`: the source turns of the subject's nearest conclusions alone; then the baselines over the
# same document text as the product's indexes (see baselines.py)
RETRIEVERS = ("honcho", "honcho-search", "conclusions", "bm25+dense-w", "bm25+dense", "bm25", "dense")

ANSWER_SYSTEM = ("You answer questions about a conversation using only the excerpts given. Answer with a short "
                 "phrase (a few words, a name, a date) using the exact words of the excerpts where possible; "
                 "give dates as absolute dates. If the excerpts do not contain the answer, say you do not know.")


JUDGE_SYSTEM = ("You grade an answer against rubric items. For each item decide whether the answer satisfies it. "
                "Reply with JSON {\"scores\": [0 or 1 per item, in order]}.")


@dataclass
class BenchConfig:
    dataset: str = "locomo"                 # locomo | beam
    conversations: int | None = None        # the first N (None: all)
    sessions: int | None = None             # only the first N sessions of each (questions about them only)
    questions: int | None = None            # at most N scored questions per conversation (stratified sample)
    model: str = "qwen2.5-coder-1.5b"       # reasoning and answering model
    embedding_model: str | None = None
    baselines: tuple[str, ...] = ("naive-rag", "full-context")
    answers: bool = True                    # answer questions with models (False: retrieval only)
    answer_questions: int | None = None     # answer only a stratified sample of N per conversation (retrieval
                                            # is scored on every question either way)
    reasoning: bool = True                  # let the worker derive conclusions
    reasoning_level: str = "low"
    judge: str | None = None                # BEAM rubric judge model
    out: Path = Path("docs/benchmarks")
    name: str | None = None                 # report name (default: dataset + date)
    home: Path | None = None                # data home (reused across runs: resumable)
    data: Path | None = None
    drain_timeout: float = 6 * 3600.0
    context_tokens: int = 4096
    full_context_tokens: int = 32768        # window of the full-context baseline (capped by the model's)
    top_k: int = 10                         # messages given to the answer model
    seed: int = 7
    server_env: dict[str, str] = field(default_factory=dict)
    server_url: str | None = None           # any Honcho v3 server instead of one this run starts
    api_key: str | None = None              # its API key (never written to the results)


@dataclass
class RunState:
    started: float = field(default_factory=time.time)
    ingest_seconds: float = 0.0
    drain_seconds: float = 0.0
    drain_started: float = 0.0
    messages: int = 0
    truncated: int = 0
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    drained: bool = False  # until the worker is seen drained: a run stopped before then records it undrained
    gold_facts: dict[str, Any] | None = None  # LoCoMo: conclusions scored against the gold facts (goldfacts.py)


def progress() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def config_dict(config: BenchConfig) -> dict[str, Any]:
    out = asdict(config)
    out["out"] = str(config.out)
    out["home"] = str(config.home) if config.home else None
    out["data"] = str(config.data) if config.data else None
    out["api_key"] = "(given)" if config.api_key else None
    return out


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower()


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
