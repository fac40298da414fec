"""Reasoning benchmark: ingest a LoCoMo conversation through the HTTP API into a live server, let the
embedded worker reason over it, and report time to drain, messages reasoned per minute, the model's
busy fraction, tokens and model-seconds per message, conclusions per message, and the write-path
p99 with the worker busy versus idle. With --report, writes the figures and this command to a file under docs/benchmarks/runs/.

    python scripts/bench_reasoning.py [--conversation 0] [--sessions N] [--model qwen2.5-coder-1.5b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import write_run_report, start_server  # noqa: E402
from honcho_local.bench.data import Conversation, datasets_dir, load_locomo  # noqa: E402

JSON = {"Content-Type": "application/json"}


def probe_writes(url: str, n: int = 300, clients: int = 4) -> list[float]:
    """Single-message writes to a session with reasoning off; returns latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            started = time.perf_counter()
            r = c.post(f"/v3/workspaces/probe/sessions/p{i % clients}/messages",
                       json={"messages": [{"peer_id": "probe", "content": f"probe message {i}"}]})
            elapsed = (time.perf_counter() - started) * 1000
            assert r.status_code == 201, r.text
            with lock:
                latencies.append(elapsed)

    with httpx.Client(base_url=url, timeout=30) as c:
        for s in range(clients):
            c.post("/v3/workspaces/probe/sessions", json={"id": f"p{s}", "configuration": {
                "reasoning": {"enabled": False}, "summary": {"enabled": False}}})
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(n)))
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def ingest(url: str, conv: Conversation, sessions: int | None) -> int:
    count = 0
    with httpx.Client(base_url=url, timeout=60) as c:
        for name, turns in conv.sessions[:sessions]:
            c.post("/v3/workspaces/bench/sessions", json={"id": name, "peers": {p: {} for p in conv.peers}})
            for start in range(0, len(turns), 100):
                batch = [{"peer_id": t.speaker, "content": t.text,
                          "created_at": t.created_at.isoformat(), "metadata": {"dia_id": t.turn_id}}
                         for t in turns[start:start + 100]]
                r = c.post(f"/v3/workspaces/bench/sessions/{name}/messages", json={"messages": batch})
                assert r.status_code == 201, r.text
                count += len(batch)
    return count


def wait_drained(url: str, timeout: float) -> dict:
    from rich.progress import Progress

    with Progress() as progress, httpx.Client(base_url=url, timeout=30) as c:
        task = progress.add_task("reasoning", total=None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = c.get("/v3/workspaces/bench/queue/status", headers=JSON).json()
            progress.update(task, total=s["total_work_units"], completed=s["completed_work_units"] + s["failed_work_units"])
            if s["pending_work_units"] == 0 and s["in_progress_work_units"] == 0:
                return s
            time.sleep(1)
    raise TimeoutError("the worker did not drain in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversation", type=int, default=0, help="LoCoMo sample index (0 = conv-26)")
    parser.add_argument("--sessions", type=int, default=None, help="only the first N sessions")
    parser.add_argument("--model", default=None, help="chat model (default: the configured default)")
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    parser.add_argument("--report", action="store_true", help="also write the figures to docs/benchmarks/runs/")
    args = parser.parse_args()
    conv = load_locomo(datasets_dir())[args.conversation]
    env = {"HONCHO_LOCAL_REASONING_MODEL": args.model} if args.model else {}
    server = start_server(env=env)
    try:
        idle = probe_writes(server.url)
        t0 = time.perf_counter()
        messages = ingest(server.url, conv, args.sessions)
        time.sleep(1.0)
        busy = probe_writes(server.url)
        status = wait_drained(server.url, args.timeout)
        drain = time.perf_counter() - t0
    finally:
        server.stop()
    db = duckdb.connect(str(server.home / "honcho.duckdb"), read_only=True)
    model_s, prompt_t, gen_t, calls, model_name = db.execute(
        "SELECT sum(seconds), sum(prompt_tokens), sum(completion_tokens), count(model), any_value(model) "
        "FROM reasoning_runs WHERE unit_key LIKE '%:bench:%'").fetchone()
    conclusions = db.execute("SELECT count(*) FROM conclusions WHERE workspace_id = 'bench'").fetchone()[0]
    empty = db.execute("SELECT count(*) FROM reasoning_runs WHERE status = 'empty' AND unit_key LIKE '%:bench:%'").fetchone()[0]
    failed = db.execute("SELECT count(*) FROM reasoning_runs WHERE status = 'failed' AND unit_key LIKE '%:bench:%'").fetchone()[0]
    schema_calls = db.execute("SELECT count(*) FROM reasoning_runs WHERE task = 'deriver' "
                              "AND status != 'failed' AND unit_key LIKE '%:bench:%'").fetchone()[0]
    by_task = db.execute("SELECT task, count(*), sum(seconds) FROM reasoning_runs WHERE unit_key LIKE '%:bench:%' "
                         "GROUP BY task ORDER BY task").fetchall()
    grammar_retries = (server.home / "server.log").read_text(errors="replace").count("free JSON unusable")
    rows = [
        ("conversation", f"{conv.conv_id}, {len(conv.sessions[:args.sessions])} sessions, {messages} messages"),
        ("model", str(model_name)),
        ("time to drain", f"{drain:,.0f} s"),
        ("messages reasoned per minute", f"{messages / drain * 60:,.1f}"),
        ("model busy fraction (model-seconds / drain time)", f"{model_s / drain:.1%}"),
        ("model calls (ok / empty / failed)", f"{calls - empty - failed} / {empty} / {failed}"),
        ("tokens per message (prompt + generated)", f"{(prompt_t + gen_t) / messages:,.0f} ({prompt_t / messages:,.0f} + {gen_t / messages:,.0f})"),
        ("model-seconds per message", f"{model_s / messages:.2f}"),
        ("conclusions per message (all observers)", f"{conclusions / messages:.2f}"),
        ("model calls / seconds by task", ", ".join(f"{t} {n} / {sec:,.0f} s" for t, n, sec in by_task)),
        ("JSON calls answered under the grammar after unusable free output", f"{grammar_retries} / {schema_calls}"),
        ("write p50 / p99 idle (ms)", f"{statistics.median(idle):.1f} / {p99(idle):.1f}"),
        ("write p50 / p99 with the worker busy (ms)", f"{statistics.median(busy):.1f} / {p99(busy):.1f}"),
        ("busy p99 / idle p99", f"{p99(busy) / p99(idle):.2f}"),
        ("failed work units at the end", str(status["failed_work_units"])),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print(table)
    print(f"data home: {server.home}")
    if args.report:
        write_run_report("reasoning", "Reasoning (scripts/bench_reasoning.py)", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
