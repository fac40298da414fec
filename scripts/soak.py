"""Soak: a live `honcho-local serve` with reasoning on takes a steady mix of message writes, context
reads and searches for a fixed time; per window it prints errors, the server's RSS, the worker's backlog
and each operation's latency, and at the end the drift between the first and the last third.

    python scripts/soak.py [--minutes 30] [--rate 20] [--clients 4] [--model smollm2-135m] [--report]

The load is paced (`--rate` operations per second in all), not closed-loop: a soak looks for errors,
leaks and slow drift under ordinary use, not for the peak. The worker reasons with `--model` (the tiny
model by default, so that reasoning runs all along on 2 cores; the 1.5B default would fall hours
behind). Exit status 1 when any request failed (a 5xx, a transport error, or an unexpected 4xx).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import start_server, write_run_report  # noqa: E402

OPS = (("write", 0.5), ("context", 0.3), ("search", 0.2))
WORDS = ("tea", "bikes", "Lisbon", "chess", "jazz", "sourdough", "hiking", "Python", "cats", "opera")


class Recorder:
    """Latencies and errors per (window, operation), from every client thread."""

    def __init__(self, window: float) -> None:
        self.window, self.started = window, time.monotonic()
        self.lock = threading.Lock()
        self.latency: dict[tuple[int, str], list[float]] = defaultdict(list)
        self.errors: dict[int, list[str]] = defaultdict(list)

    def index(self) -> int:
        return int((time.monotonic() - self.started) // self.window)

    def record(self, op: str, seconds: float, error: str | None) -> None:
        with self.lock:
            slot = self.index()
            self.latency[(slot, op)].append(seconds)
            if error:
                self.errors[slot].append(f"{op}: {error}")


def one_request(client: httpx.Client, op: str, rng: random.Random) -> httpx.Response:
    session, peer = f"s{rng.randrange(20)}", f"p{rng.randrange(10)}"
    base = "/v3/workspaces/soak"
    if op == "write":
        text = f"{peer} says: I like {rng.choice(WORDS)} and {rng.choice(WORDS)} ({rng.randrange(10**6)})."
        return client.post(f"{base}/sessions/{session}/messages",
                           json={"messages": [{"peer_id": peer, "content": text}]})
    if op == "context":
        return client.get(f"{base}/sessions/{session}/context", params={"tokens": 2000, "summary": "true"})
    return client.post(f"{base}/search", json={"query": f"who likes {rng.choice(WORDS)}?", "limit": 10})


def client_loop(url: str, stop: threading.Event, recorder: Recorder, interval: float, seed: int) -> None:
    rng = random.Random(seed)
    names, weights = zip(*OPS)
    with httpx.Client(base_url=url, timeout=120) as client:
        next_at = time.monotonic()
        while not stop.is_set():
            op = rng.choices(names, weights)[0]
            started = time.monotonic()
            try:
                r = one_request(client, op, rng)
                error = None if r.status_code < 400 else f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            recorder.record(op, time.monotonic() - started, error)
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))


def seed(url: str) -> None:
    """Every session the clients touch exists before the clock starts (a read of a session no write has
    made yet would be a 404 of the load, not of the server)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for s in range(20):
            r = client.post(f"/v3/workspaces/soak/sessions/s{s}/messages",
                            json={"messages": [{"peer_id": f"p{s % 10}", "content": "Hello, I am new here."}]})
            r.raise_for_status()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def backlog(client: httpx.Client) -> str:
    try:
        q = client.get("/v3/workspaces/soak/queue/status").json()
        return f"{q['pending_work_units']}+{q['in_progress_work_units']} (failed {q['failed_work_units']})"
    except (httpx.HTTPError, KeyError, ValueError):
        return "?"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


def window_rows(recorder: Recorder, samples: dict[int, tuple[float, str]], windows: int) -> list[str]:
    rows = ["| window (min) | requests | errors | server RSS (MiB) | worker backlog | "
            + " | ".join(f"{op} p50 / p99 (ms)" for op, _ in OPS) + " |",
            "|---" * (5 + len(OPS)) + "|"]
    for w in range(windows):
        ops = [recorder.latency.get((w, op), []) for op, _ in OPS]
        cells = [f"{percentile(v, 50) * 1000:.1f} / {percentile(v, 99) * 1000:.1f}" for v in ops]
        rss, queue = samples.get(w, (float("nan"), "?"))
        rows.append(f"| {w * recorder.window / 60:.0f}–{(w + 1) * recorder.window / 60:.0f} | {sum(map(len, ops)):,} | "
                    f"{len(recorder.errors.get(w, []))} | {rss:,.0f} | {queue} | " + " | ".join(cells) + " |")
    return rows


def drift(recorder: Recorder, samples: dict[int, tuple[float, str]], windows: int) -> list[str]:
    third = max(1, windows // 3)
    first, last = range(0, third), range(windows - third, windows)
    lines = []
    for op, _ in OPS:
        a = [x for w in first for x in recorder.latency.get((w, op), [])]
        b = [x for w in last for x in recorder.latency.get((w, op), [])]
        lines.append(f"{op}: p50 {percentile(a, 50) * 1000:.1f} -> {percentile(b, 50) * 1000:.1f} ms "
                     f"({percentile(b, 50) / percentile(a, 50):.2f}x), p99 {percentile(a, 99) * 1000:.1f} -> "
                     f"{percentile(b, 99) * 1000:.1f} ms ({percentile(b, 99) / percentile(a, 99):.2f}x)")
    rss_a = statistics.median(samples[w][0] for w in first if w in samples)
    rss_b = statistics.median(samples[w][0] for w in last if w in samples)
    lines.append(f"server RSS (median of the first / last third): {rss_a:,.0f} -> {rss_b:,.0f} MiB "
                 f"({rss_b / rss_a:.2f}x)")
    return lines


def soak(server, args: argparse.Namespace) -> tuple[Recorder, dict[int, tuple[float, str]], int]:
    """Seed, run the paced clients for the whole time, and sample RSS and the backlog once per window."""
    seed(server.url)
    recorder, stop = Recorder(args.window), threading.Event()
    threads = [threading.Thread(target=client_loop, args=(server.url, stop, recorder, args.clients / args.rate, i),
                                daemon=True) for i in range(args.clients)]
    samples: dict[int, tuple[float, str]] = {}
    windows = max(1, int(args.minutes * 60 // args.window))
    try:
        for t in threads:
            t.start()
        with httpx.Client(base_url=server.url, timeout=30) as probe:
            for w in range(windows):
                stop.wait(max(0.0, recorder.started + (w + 1) * args.window - time.monotonic() - 1))
                samples[w] = (rss_mib(server.process.pid), backlog(probe))
                print(f"window {w + 1}/{windows}: RSS {samples[w][0]:,.0f} MiB, backlog {samples[w][1]}, "
                      f"errors {len(recorder.errors.get(w, []))}", flush=True)
            stop.wait(max(0.0, recorder.started + windows * args.window - time.monotonic()))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=150)
    return recorder, samples, windows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=20.0, help="operations per second, all clients together")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per reported window")
    ap.add_argument("--model", default="smollm2-135m", help="chat model the worker reasons with")
    ap.add_argument("--report", action="store_true", help="also write the figures to docs/benchmarks/runs/")
    args = ap.parse_args()
    server = start_server(env={"HONCHO_LOCAL_REASONING_MODEL": args.model, "HONCHO_LOCAL_REASONING_ENABLED": "true",
                               "HONCHO_LOCAL_SUMMARY_ENABLED": "true", "HONCHO_LOCAL_MODEL_CONTEXT": "2048"}, timeout=600)
    print(f"server {server.url} (pid {server.process.pid}, home {server.home}); soaking {args.minutes:g} min", flush=True)
    try:
        recorder, samples, windows = soak(server, args)
    finally:
        server.stop()
    errors = [e for w in range(windows) for e in recorder.errors.get(w, [])]
    body = "\n".join([*window_rows(recorder, samples, windows), "", *drift(recorder, samples, windows),
                      f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else "")])
    print(body)
    if args.report:
        write_run_report("soak", "Soak (scripts/soak.py)", body)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
