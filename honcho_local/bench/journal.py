"""What lets a long benchmark run resume: the phase log (start and stop times of each invocation) and the
journal of answered questions (a question answered once is replayed, not asked again)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from honcho_local.bench.baselines import BASELINE_DOCUMENTS
from honcho_local.bench.config import ANSWER_SYSTEM, RETRIEVERS, BenchConfig, RunState
from honcho_local.bench.data import Question

log = logging.getLogger(__name__)


# where an invocation that recorded nothing was rebuilt from, when its entry does not say (the LoCoMo run's)
CONSOLE_LOG = "the run's console log (start/stop times)"


class PhaseLog:
    """Wall time of each invocation on a bench home (ingest, drain, answers), so a run carried over
    several invocations reports how long it took in all."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, state: RunState, answer_seconds: float, completed: bool = True) -> None:
        """One invocation's wall times (a stopped one's too: `completed` false; the drain time of a
        drain that was cut short is the time it ran)."""
        drain = state.drain_seconds
        if not drain and state.drain_started:
            drain = time.perf_counter() - state.drain_started
        with self.path.open("a") as f:
            f.write(json.dumps({"started": datetime.fromtimestamp(state.started, timezone.utc).isoformat(
                timespec="seconds"), "ingest_seconds": state.ingest_seconds, "drain_seconds": drain,
                "answer_seconds": answer_seconds, "drained": state.drained, "completed": completed,
                "wall_seconds": time.time() - state.started}) + "\n")

    def totals(self) -> dict[str, Any]:
        runs = []
        for line in self.path.read_text().splitlines() if self.path.exists() else []:
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue
        keys = ("ingest_seconds", "drain_seconds", "answer_seconds", "wall_seconds")
        return {"invocations": len(runs), "first_started": runs[0]["started"] if runs else None,
                "reconstructed": sum(1 for r in runs if r.get("reconstructed")),
                "reconstructed_from": sorted({r.get("source") or CONSOLE_LOG for r in runs if r.get("reconstructed")}),
                **{k: sum(r.get(k, 0.0) for r in runs) for k in keys}}


def reasoning_totals(home: Path, workspaces: list[str]) -> dict[str, Any] | None:
    """Reasoning cost from the stopped server's store: every model call the worker made for these
    workspaces in any invocation (the /metrics counters only cover the current process)."""
    from honcho_local.store.units import reasoning_cost

    cost = reasoning_cost(home / "honcho.duckdb", workspaces)
    if cost is None:
        log.warning("reasoning totals unavailable: %s cannot be opened", home / "honcho.duckdb")
        return None
    tasks, messages = cost["by_task"], cost["messages"]
    tokens = sum(t["prompt_tokens"] + t["completion_tokens"] for t in tasks.values())
    seconds = sum(t["seconds"] for t in tasks.values())
    return {"tokens": float(tokens), "model_seconds": float(seconds), "messages": messages,
            "tokens_per_message": tokens / messages if messages else None,
            "model_seconds_per_message": seconds / messages if messages else None,
            "conclusions": float(cost["conclusions"]), "note": None, "by_task": tasks}


class Journal:
    """Answered questions, one JSON line each, in the bench home: a long run (the full LoCoMo with the
    default model answers for hours) resumes where it stopped. A row is reused only for the same
    question under the same answering settings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replayed = 0
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:  # a line cut by a kill: that question is answered again
                    continue
                self.entries[entry["key"]] = entry

    @staticmethod
    def key(config: BenchConfig, q: Question, answered: bool) -> str:
        from honcho_local.services import chat_prompt

        # what chat does at this level (retrieval depth, answer instructions) is part of the settings
        level = chat_prompt.LEVELS.get(config.reasoning_level)
        chat = [asdict(level) if level else None, hashlib.sha1(chat_prompt.SYSTEM.encode()).hexdigest()[:12]]
        return json.dumps([config.dataset, q.qid, config.model, config.embedding_model, config.reasoning_level,
                           sorted(config.baselines), config.judge, config.top_k, config.context_tokens,
                           answered, chat, hashlib.sha1(ANSWER_SYSTEM.encode()).hexdigest()[:12],
                           # the retrieval arms and what the baselines index (rows of an older set are redone)
                           list(RETRIEVERS), BASELINE_DOCUMENTS])

    @staticmethod
    def full_key(config: BenchConfig, q: Question) -> str:
        return json.dumps([config.dataset, q.qid, config.model, "full-context", config.full_context_tokens])

    def record_full(self, key: str, full: dict[str, Any]) -> None:
        self.entries[key] = {"key": key, "full": full}
        with self.path.open("a") as f:
            f.write(json.dumps(self.entries[key]) + "\n")

    def replay(self, key: str, state: RunState) -> bool:
        entry = self.entries.get(key)
        if entry is None:
            return False
        state.rows.append(entry["row"])
        for name, values in entry["latencies"].items():
            state.latencies.setdefault(name, []).extend(values)
        self.replayed += 1
        return True

    def record(self, key: str, state: RunState, before: dict[str, int]) -> None:
        latencies = {k: v[before.get(k, 0):] for k, v in state.latencies.items() if len(v) > before.get(k, 0)}
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "row": state.rows[-1], "latencies": latencies}, default=str) + "\n")
