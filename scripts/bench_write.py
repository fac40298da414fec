"""Write-path benchmark: N concurrent clients post to a live `honcho-local serve` for a fixed time.

Scenarios: single-message posts and 100-message batches. The load generator is wrk (Debian package
`wrk`, C, one thread), so the server, not the client, is measured. Prints requests/s, messages/s and
p50/p95/p99 latency, checks that every acknowledged message is stored, and with --report writes the
figures and this command line to a file of their own under docs/benchmarks/runs/.

    python scripts/bench_write.py [--clients 16] [--duration 15] [--repeat 3]

`--repeat N` runs the two scenarios N times, alternating (single, batch, single, batch, ...), each run
into a new workspace, and adds a median row per scenario: on a shared 2-core machine one 15 s run
drifts by +-30% from the next, and a single run reads as a regression or a gain that is neither.

Each scenario starts once the server is idle again: a 100-message batch run leaves about 90k messages for
the lexical index to catch up on (about 3 s at 1.3 cores), which would otherwise land on the first seconds of
the next single-message run. The report gives that catch-up time per scenario.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    cpu_split,
    gc_pauses,
    hist_quantile,
    histogram,
    profile,
    settle,
    start_server,
    thread_cpu,
    write_run_report,
    wrk,
)


def run_wrk(url: str, workspace: str, batch: int, clients: int, duration: int) -> dict:
    """`clients` connections posting `batch`-message bodies, one session of their own each (benchlib.wrk)."""
    text = "message {i} from the benchmark: the user mentioned their invoice automation project in Python"
    requests = [("POST", f"/v3/workspaces/{workspace}/sessions/s{s}/messages", json.dumps(
        {"messages": [{"content": text.format(i=i), "peer_id": f"user{s}"} for i in range(1, batch + 1)]}))
        for s in range(clients)]
    result = wrk(url, requests, clients, duration)
    result["msgs_per_s"] = result["rps"] * batch
    return result


def stored_messages(url: str, workspace: str, sessions: int) -> int:
    total = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for s in range(sessions):
            r = client.post(f"/v3/workspaces/{workspace}/sessions/s{s}/messages/list?size=1",
                            headers={"Content-Type": "application/json"})
            total += r.json()["total"] if r.status_code == 200 else 0
    return total


def server_share_within(url: str, seconds: str = "0.025") -> float:
    """Share of create_messages requests the server finished within `seconds` (from /metrics)."""
    within = total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("honcho_http_request_seconds_bucket") and 'route="create_messages"' in line:
            if f'le="{seconds}"' in line:
                within = float(line.split()[-1])
            if 'le="+Inf"' in line:
                total = float(line.split()[-1])
    return within / total if total else 0.0


def writer_totals(url: str) -> dict[str, float]:
    """The writer's histograms' _sum and _count (group seconds, operations per group, queue wait)."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        for name in ("honcho_write_group_seconds", "honcho_write_group_operations", "honcho_write_queue_wait_seconds"):
            for suffix in ("_sum", "_count"):
                if line.startswith(name + suffix + " "):
                    out[name + suffix] = float(line.split()[-1])
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def writer_line(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    groups = d.get("honcho_write_group_seconds_count", 0.0)
    ops = d.get("honcho_write_group_operations_sum", 0.0)
    if not groups:
        return "no groups"
    return (f"{groups / wall:,.0f} groups/s, {ops / groups:.1f} requests per group, "
            f"group {d['honcho_write_group_seconds_sum'] / groups * 1000:.2f} ms mean "
            f"(writer busy {d['honcho_write_group_seconds_sum'] / wall:.0%} of the time), "
            f"queue wait {d['honcho_write_queue_wait_seconds_sum'] / max(ops, 1) * 1000:.2f} ms mean")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--embeddings", action="store_true",
                        help="keep the background message embedding on (default: off, the write path alone)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run both scenarios this many times, alternating, and report the median of each figure")
    parser.add_argument("--report", action="store_true", help="also write the figures to docs/benchmarks/runs/")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record a py-spy profile of the server (collapsed stacks) per scenario into this folder")
    parser.add_argument("--profile-gil", action="store_true", help="profile only the thread holding the GIL")
    parser.add_argument("--profile-idle", action="store_true",
                        help="keep samples of waiting threads too (where the writer's wall time goes)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: install it with `apt-get install wrk`", file=sys.stderr)
        return 2
    # The write path alone: the worker runs but reasons over nothing and embeds nothing (the
    # worker-busy case is measured by bench_reasoning.py; `--embeddings` keeps the background message
    # embedding on). The lexical indexer and listeners stay on, as in production.
    env = {"HONCHO_LOCAL_REASONING_ENABLED": "false", "HONCHO_LOCAL_SUMMARY_ENABLED": "false"}
    if not args.embeddings:
        env["HONCHO_LOCAL_EMBEDDING_MODEL"] = "none"
    server = start_server(env=env)
    rows = []
    try:
        run_wrk(server.url, "warmup", 1, args.clients, 3)
        settle(server.process.pid)
        runs = [(f"{name} (run {k + 1})" if args.repeat > 1 else name, batch, k)
                for k in range(args.repeat) for name, batch in (("single message", 1), ("100-message batch", 100))]
        for name, batch, k in runs:
            workspace = f"bench-{batch}" if args.repeat == 1 else f"bench-{batch}-run{k + 1}"
            spy = profile(server.process.pid, args.duration,
                          args.profile / f"write-{batch}.txt" if args.profile and k == 0 else None,
                          args.profile_gil, args.profile_idle)
            writer_before, busy_before = writer_totals(server.url), machine_busy()
            before, cpu_before, started = histogram(server.url, "create_messages"), thread_cpu(server.process.pid), \
                time.perf_counter()
            lag_before = histogram(server.url, None, "honcho_event_loop_lag_seconds")
            result = run_wrk(server.url, workspace, batch, args.clients, args.duration)
            wall = time.perf_counter() - started
            result["cpu"] = cpu_split(server.process.pid, cpu_before, thread_cpu(server.process.pid), wall)
            busy_after = machine_busy()
            result["cpu"] += (f", machine {(busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1]):.0%} busy"
                              " (server, wrk and anything else)")
            result["writer"] = writer_line(writer_before, writer_totals(server.url), wall)
            after = histogram(server.url, "create_messages")
            result["server_p50"], result["server_p99"] = (hist_quantile(before, after, q) for q in (0.5, 0.99))
            lag_after = histogram(server.url, None, "honcho_event_loop_lag_seconds")
            result["loop_lag"] = (hist_quantile(lag_before, lag_after, 0.5), hist_quantile(lag_before, lag_after, 0.99))
            if spy is not None:
                spy.wait(timeout=60)
            ok_requests = result["requests"] - result["status_errors"] - result["socket_errors"]
            stored = stored_messages(server.url, workspace, args.clients)
            result.update(name=name, batch=batch, stored=stored, acknowledged_at_least=ok_requests * batch)
            # The scenario's background work (the lexical index catching up on what it wrote, an idle
            # checkpoint) finishes before the next scenario starts, and is reported, not folded into it.
            result["settle"] = settle(server.process.pid)
            rows.append(result)
        share = server_share_within(server.url)
        pauses = gc_pauses(server.url)
    finally:
        server.stop()
    repeats = f", {args.repeat} runs of each, alternating" if args.repeat > 1 else ""
    header = (f"{args.clients} concurrent clients (wrk, 1 thread, keep-alive), {args.duration} s per scenario{repeats}, "
              "one server process on this machine; reasoning off, background message embedding "
              f"{'ON (all-minilm-l6-v2 on the same 2 cores)' if args.embeddings else 'off (write path alone)'}.\n\n"
              "| scenario | requests/s | messages/s | p50 ms | p95 ms | p99 ms | max ms | server p50 / p99 ms | errors | "
              "stored / sent |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    for r in rows:
        lines.append(f"| {r['name']} | {r['rps']:,.0f} | {r['msgs_per_s']:,.0f} | {r['p50'] / 1000:.2f} | "
                     f"{r['p95'] / 1000:.2f} | {r['p99'] / 1000:.2f} | {r['max'] / 1000:.1f} | "
                     f"{r['server_p50']:.2f} / {r['server_p99']:.2f} | "
                     f"{r['status_errors'] + r['socket_errors']} | {r['stored']:,} / {r['requests'] * r['batch']:,} |")
    if args.repeat > 1:
        for label, batch in (("single message", 1), ("100-message batch", 100)):
            same = [r for r in rows if r["batch"] == batch]
            med = {k: statistics.median(r[k] for r in same)
                   for k in ("rps", "msgs_per_s", "p50", "p95", "p99", "max", "server_p50", "server_p99")}
            lines.append(f"| **{label}, median of {len(same)}** | **{med['rps']:,.0f}** | **{med['msgs_per_s']:,.0f}** | "
                         f"{med['p50'] / 1000:.2f} | {med['p95'] / 1000:.2f} | **{med['p99'] / 1000:.2f}** | "
                         f"{med['max'] / 1000:.1f} | {med['server_p50']:.2f} / {med['server_p99']:.2f} | "
                         f"{sum(r['status_errors'] + r['socket_errors'] for r in same)} | "
                         f"{sum(r['stored'] for r in same):,} / {sum(r['requests'] * r['batch'] for r in same):,} |")
    lines.append(f"\np50 … max: wrk, as the clients saw them. Server p50 / p99: time inside the app per request "
                 f"(`honcho_http_request_seconds` of the scenario, interpolated inside its buckets); {share:.1%} of "
                 "all message posts of both scenarios finished within 25 ms server-side; the rest of a client's "
                 "latency is queueing for the CPU (server and load generator share 2 cores).")
    lines.append("CPU during each scenario: " + "; ".join(f"{r['name']}: {r['cpu']}" for r in rows))
    lines.append("Writer (group commits, from /metrics): " + "; ".join(f"{r['name']}: {r['writer']}" for r in rows))
    lines.append("Background work after each scenario (seconds until the server used under 5% of a core: the "
                 "lexical index catching up, an idle checkpoint; the next scenario starts after it): " + "; ".join(
                     f"{r['name']}: {r['settle']:.1f} s" for r in rows))
    lines.append("Event loop lag (how late a 50 ms timer fires, `honcho_event_loop_lag_seconds`), p50 / p99: " + "; ".join(
        f"{r['name']}: {r['loop_lag'][0]:.1f} / {r['loop_lag'][1]:.1f} ms" for r in rows))
    if pauses:
        lines.append("Garbage-collector pauses over the whole run (warm-up included): " + "; ".join(
            f"generation {g}: {n:,.0f} collections, {total * 1000:,.0f} ms in all" for g, (n, total) in pauses.items()))
    table = "\n".join(lines)
    print(table)
    if args.report:
        write_run_report("write", "Write path (scripts/bench_write.py)", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
