"""Helpers shared by the benchmark scripts: a live server, machine facts, the report file."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from honcho_local.bench.report import machine  # noqa: E402,F401 - re-exported
from honcho_local.bench.server import Server, free_port, start_server  # noqa: E402,F401 - re-exported

RUNS = REPO / "docs" / "benchmarks" / "runs"


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def write_run_report(slug: str, title: str, body: str, runs: Path = RUNS) -> Path:
    """Write one run's figures to their own file, `docs/benchmarks/runs/<slug>-<UTC time>.md`, with the
    command and the machine; returns its path. Current figures are curated by hand in docs/performance.md."""
    runs.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    path = runs / f"{slug}-{now:%Y-%m-%d-%H%M}.md"
    path.write_text(f"# {title} — {now:%Y-%m-%d %H:%M UTC}\n\nCommand: `{command_line()}`  \nMachine: {machine()}; "
                    f"{calibration()}\n\n{body}\n", encoding="utf-8")
    print(f"report: {path.relative_to(REPO)}")
    return path


def calibration() -> str:
    """How fast this machine is right now, in two figures that any later report can be compared on:
    a pure-Python loop and a one-row DuckDB autocommit INSERT into a file (the write path's unit of
    work). The same code measured 1,800-2,200 single-message writes/s on one 2-core machine and
    ~1,100 on another; without these the two reports read as a regression."""
    import statistics
    import tempfile
    import time

    import duckdb

    loops = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        loops.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as folder:
        conn = duckdb.connect(str(Path(folder) / "calibration.duckdb"))
        conn.execute("CREATE TABLE t (a BIGINT PRIMARY KEY, b VARCHAR, c TIMESTAMP)")
        inserts = []
        for i in range(300):
            started = time.perf_counter()
            conn.execute("INSERT INTO t VALUES (?, ?, now())", [i, "calibration row"])
            inserts.append(time.perf_counter() - started)
        conn.close()
    return (f"calibration: Python loop {1 / statistics.median(loops):.1f} M iterations/s, "
            f"DuckDB one-row INSERT {statistics.median(inserts[50:]) * 1000:.2f} ms median")


def profile(pid: int, seconds: float, out: Path | None, gil: bool = False, idle: bool = False) -> subprocess.Popen | None:
    """py-spy samples process `pid` for `seconds` into `out` (collapsed stacks, one line per stack);
    `--nonblocking` never pauses the server; `gil` keeps only the thread holding the GIL (what limits a
    Python server's throughput); `idle` keeps samples of threads off the CPU too (where a thread
    waits: a lock, the GIL, an fsync). None when `out` is None."""
    if out is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["py-spy", "record", "--nonblocking", "-r", "250", "-f", "raw", "-d", str(int(seconds)), "-o", str(out),
           "--pid", str(pid)] + (["--gil"] if gil else []) + (["--idle"] if idle else [])
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def histogram(url: str, route: str | None, metric: str = "honcho_http_request_seconds",
              text: str | None = None) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) buckets of a histogram (by default `honcho_http_request_seconds`
    for a route; `route=None` for a histogram without labels, such as `honcho_event_loop_lag_seconds`)."""
    text = text if text is not None else httpx.get(f"{url}/metrics", timeout=30).text
    out = []
    for line in text.splitlines():
        if line.startswith(f"{metric}_bucket{{") and (route is None or f'route="{route}"' in line):
            le = line.split('le="')[1].split('"')[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    return sorted(out)


def gc_pauses(url: str, text: str | None = None) -> dict[str, tuple[float, float]]:
    """Per collector generation: (collections, seconds paused in all), from /metrics."""
    out: dict[str, list[float]] = {}
    text = text if text is not None else httpx.get(f"{url}/metrics", timeout=30).text
    for line in text.splitlines():
        for suffix, slot in (("_count", 0), ("_sum", 1)):
            if line.startswith(f"honcho_gc_pause_seconds{suffix}"):
                gen = line.split('generation="')[1].split('"')[0]
                out.setdefault(gen, [0.0, 0.0])[slot] = float(line.split()[-1])
    return {g: (v[0], v[1]) for g, v in sorted(out.items())}


def loop_and_gc(url: str) -> tuple[list[tuple[float, float]], dict[str, tuple[float, float]]]:
    """A snapshot of the event loop's lag histogram and the collector's pauses (see `pauses_between`)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return histogram(url, None, "honcho_event_loop_lag_seconds", text), gc_pauses(url, text)


def pauses_between(before: tuple, after: tuple) -> str:
    """Between two `loop_and_gc` snapshots: how late the event loop ran its 50 ms timer (p99, and the
    bucket of the latest) and the full collections (count, seconds paused)."""
    (lag0, gc0), (lag1, gc1) = before, after
    prev = dict(lag0)
    deltas = [(le, count - prev.get(le, 0.0)) for le, count in lag1]
    total = deltas[-1][1] if deltas else 0.0
    worst = min((le for le, count in deltas if count >= total), default=0.0)  # every lag was at most this
    full = [gc1.get("2", (0.0, 0.0))[i] - gc0.get("2", (0.0, 0.0))[i] for i in (0, 1)]
    return (f"loop lag p99 {hist_quantile(lag0, lag1, 0.99):.1f} ms, all ≤ {worst * 1000:.0f} ms; "
            f"full collections {full[0]:.0f}, {full[1] * 1000:.0f} ms")


def hist_quantile(before: list, after: list, q: float) -> float:
    """Quantile (ms) of the requests between two snapshots, interpolated linearly inside a bucket."""
    prev = dict(before)
    buckets = [(le, count - prev.get(le, 0.0)) for le, count in after]
    total = buckets[-1][1]
    target, lower, below = q * total, 0.0, 0.0
    for le, cum in buckets:
        if cum >= target:
            if le == float("inf"):
                return lower * 1000
            return (lower + (le - lower) * ((target - below) / max(cum - below, 1e-9))) * 1000
        lower, below = le, cum
    return lower * 1000


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of a process, from /proc (Linux)."""
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def settle(pid: int, idle_cores: float = 0.05, window: float = 0.5, timeout: float = 120.0) -> float:
    """Wait until a process uses under `idle_cores` over `window` seconds (its background work after a
    scenario: index catch-up, checkpoints); return the seconds waited (`timeout` if it never settles)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = sum(thread_cpu(pid).values())
        time.sleep(window)
        if sum(thread_cpu(pid).values()) - before < idle_cores * window:
            return time.perf_counter() - started - window
    return timeout


def cpu_split(pid: int, before: dict[int, float], after: dict[int, float], wall: float) -> str:
    """Cores used during a run: the event loop (main) thread, the busiest other threads, the load generator."""
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    main_thread = used.pop(pid, 0.0)
    top = sorted(used.values(), reverse=True)
    return (f"server {(main_thread + sum(top)) / wall:.2f} cores (event loop {main_thread / wall:.2f}, other threads "
            + " / ".join(f"{v / wall:.2f}" for v in top[:4]) + ")")


_WRK_LUA = r"""
local reqs = {%s}
local counter = 0
request = function()
  counter = counter + 1
  local r = reqs[(counter %% #reqs) + 1]
  return wrk.format(r[1], r[2], {["Content-Type"] = "application/json"}, r[3])
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"status_errors":%%d,"socket_errors":%%d,' ..
    '"p50":%%d,"p95":%%d,"p99":%%d,"max":%%d}\n', summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _lua_str(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def wrk(url: str, requests: list[tuple[str, str, str | None]], clients: int, seconds: float,
        threads: int = 1) -> dict:
    """The shared load generator: wrk (C, keep-alive, closed loop) over `clients` connections for
    `seconds`, cycling through `requests` ((method, path with query, JSON body or None)). Returns
    requests, rps, status/socket errors, client latency quantiles (µs, as wrk gives them) and
    `wrk_cores`: the CPU wrk itself used (cores), so a run shows whether the generator was the limit."""
    items = ",".join("{%s,%s,%s}" % (_lua_str(m), _lua_str(p), _lua_str(b) if b is not None else "nil")
                     for m, p, b in requests)
    fd, name = tempfile.mkstemp(suffix=".lua")
    os.close(fd)
    script = Path(name)
    script.write_text(_WRK_LUA % items)
    try:
        before, started = os.times(), time.perf_counter()
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                              "-s", str(script), url], capture_output=True, text=True, check=True).stdout
        wall, after = time.perf_counter() - started, os.times()
    finally:
        script.unlink()
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["wrk_cores"] = (after.children_user + after.children_system
                           - before.children_user - before.children_system) / wall
    return result
