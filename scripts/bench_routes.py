"""Every v3 route an agent calls per turn, at load (issue 36): five scenarios, 16 clients each.

A fresh server (reasoning, summaries and message embedding off) is seeded through the API with one
workspace of 10,000 messages over 20 sessions (500 each) and 10 peers; then, each for --duration
seconds with 16 closed-loop keep-alive clients (wrk, `benchlib.wrk`):

    list     POST …/sessions/{s}/messages/list?page=1&size=50   (random seeded session)
    context  GET  …/sessions/{s}/context?tokens=2000&summary=true
    card     GET  …/peers/{p}/card
    single   POST …/sessions/{s}/messages, 1 message            (16 sessions of their own)
    batch    the same with 100-message batches                  (figure: messages/s)

Per scenario: requests/s (messages/s for batches), client p50/p99 (wrk), server p50/p99 (the route's
`honcho_http_request_seconds` histogram, interpolated inside its buckets), and the CPU of the server
and of wrk (the load generator must not be the limit: its cores are printed beside the server's).
Then one client alone lists a 500-message session 200 times with size=50 and with size=1: server time
from each response's `Server-Timing` header.

`--compare REF` runs a second server from a git worktree of REF (e.g. `HEAD~3`), seeded the same way,
and alternates the two on every scenario (A, B, A, B with --repeat): before/after in one run, on the
same machine state. `--ref REF` measures a worktree of REF in place of the working tree.

    python scripts/bench_routes.py [--duration 10] [--repeat 1] [--compare REF] [--report]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (REPO, cpu_split, hist_quantile, histogram, loop_and_gc, pauses_between, settle,  # noqa: E402
                      start_server, thread_cpu, write_run_report, wrk)

WS, SESSIONS, PEERS, PER_SESSION = "bench", 20, 10, 500
ENV = {"HONCHO_LOCAL_REASONING_ENABLED": "false", "HONCHO_LOCAL_SUMMARY_ENABLED": "false",
       "HONCHO_LOCAL_EMBEDDING_MODEL": "none"}
TEXT = "message {i} of session {s}: the user mentioned their invoice automation project in Python again"
ROUTES = {"list": "list_messages", "context": "get_session_context", "card": "get_peer_card",
          "single": "create_messages", "batch": "create_messages"}
SCENARIOS = tuple(ROUTES)


def seed(url: str) -> None:
    """10,000 messages: 20 sessions of 500, two peers each (alternating), 10 peers in all."""
    with httpx.Client(base_url=f"{url}/v3/workspaces/{WS}", timeout=120) as c:
        for s in range(SESSIONS):
            peers = (f"peer{s % PEERS}", f"peer{(s + 1) % PEERS}")
            for start in range(0, PER_SESSION, 100):
                batch = [{"peer_id": peers[i % 2], "content": TEXT.format(i=i, s=s)} for i in range(start, start + 100)]
                r = c.post(f"/sessions/s{s}/messages", json={"messages": batch})
                assert r.status_code == 201, r.text[:300]


def requests_for(scenario: str) -> list[tuple[str, str, str | None]]:
    w = f"/v3/workspaces/{WS}"
    if scenario == "list":
        return [("POST", f"{w}/sessions/s{s}/messages/list?page=1&size=50", "{}") for s in range(SESSIONS)]
    if scenario == "context":
        return [("GET", f"{w}/sessions/s{s}/context?tokens=2000&summary=true", None) for s in range(SESSIONS)]
    if scenario == "card":
        return [("GET", f"{w}/peers/peer{p}/card", None) for p in range(PEERS)]
    n = 1 if scenario == "single" else 100
    out = []
    for s in range(16):
        items = ",".join('{"peer_id":"peer%d","content":"%s"}' % (s % PEERS, TEXT.format(i=i, s=s)) for i in range(n))
        out.append(("POST", f"{w}/sessions/w{s}/messages", '{"messages":[%s]}' % items))
    return out


def run_scenario(server, scenario: str, clients: int, seconds: float) -> dict:
    """One scenario against one server: wrk's figures, the server's histogram and CPU."""
    pid, route = server.process.pid, ROUTES[scenario]
    pauses = loop_and_gc(server.url)
    before, cpu_before, started = histogram(server.url, route), thread_cpu(pid), time.perf_counter()
    r = wrk(server.url, requests_for(scenario), clients, seconds)
    wall = time.perf_counter() - started
    after = histogram(server.url, route)
    r["cpu"] = cpu_split(pid, cpu_before, thread_cpu(pid), wall) + f"; wrk {r['wrk_cores']:.2f} cores; " + \
        pauses_between(pauses, loop_and_gc(server.url))
    r["server_cores"] = sum(thread_cpu(pid).values()) - sum(cpu_before.values())
    r["server_cores"] /= wall
    r["server_p50"], r["server_p99"] = (hist_quantile(before, after, q) for q in (0.5, 0.99))
    r["per_s"] = r["rps"] * (100 if scenario == "batch" else 1)
    r["per_cpu_s"] = r["rps"] / max(r["server_cores"], 1e-9)  # steadier than req/s on a shared machine
    if scenario in ("single", "batch"):
        r["settle"] = settle(pid)  # the lexical index catching up: not folded into the next scenario
    return r


def one_client(url: str, size: int, runs: int = 200) -> tuple[float, float, float]:
    """One client listing the first 500-message session: server p50 / p99 (`Server-Timing`) and client p50, ms."""
    server, client = [], []
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(runs + 20):
            started = time.perf_counter()
            r = c.post(f"/v3/workspaces/{WS}/sessions/s0/messages/list", params={"page": 1, "size": size}, json={})
            took = (time.perf_counter() - started) * 1000
            assert r.status_code == 200 and r.json()["total"] >= PER_SESSION, r.text[:300]
            if i >= 20:  # the first ones warm up
                server.append(float(r.headers["server-timing"].split("dur=")[1]))
                client.append(took)
    q = statistics.quantiles(server, n=100)
    return statistics.median(server), q[98], statistics.median(client)


def rss_mib(pid: int) -> float:
    """The server's resident memory now (Linux /proc), MiB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def commit(ref: str) -> str:
    """The ref as the report names it: its short commit hash (HEAD moves; a hash does not)."""
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], check=True, capture_output=True,
                          text=True).stdout.strip()


def worktree(ref: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="honcho-compare-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), ref], check=True,
                   capture_output=True)
    return folder


def start(label: str, tree: Path | None):
    env = dict(ENV)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    server = start_server(env=env, cwd=tree)
    try:
        prepare(server)
    except BaseException:
        server.stop()
        raise
    server.rss_seeded = rss_mib(server.process.pid)
    print(f"{label}: seeded {SESSIONS * PER_SESSION:,} messages at {server.url} (home {server.home}); "
          f"RSS {server.rss_seeded:.0f} MiB", flush=True)
    return server


def prepare(server) -> None:
    """Seed, let the server settle, check every request shape, warm the read routes."""
    seed(server.url)
    settle(server.process.pid)
    for scenario in SCENARIOS:  # every request shape answers 2xx before it is measured
        method, path, body = requests_for(scenario)[0]
        r = httpx.request(method, server.url + path, content=body, headers={"Content-Type": "application/json"})
        assert r.is_success, (scenario, r.status_code, r.text[:300])
    for scenario in ("list", "context", "card"):  # warm: first loads, route caches
        wrk(server.url, requests_for(scenario), 4, 1)


def table(rows: list[tuple[str, str, dict]], clients: int, repeat: int) -> list[str]:
    """One line per scenario and server: the median of its runs (each run's figures below it if several)."""
    out = [f"| scenario ({clients} clients) | server | req/s | msg/s | client p50 / p99 ms | server p50 / p99 ms | "
           "errors | server cores | wrk cores | req per server CPU-s |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    labels = list(dict.fromkeys(label for label, _, _ in rows))
    for scenario in dict.fromkeys(s for _, s, _ in rows):
        for label in labels:
            same = [r for lb, s, r in rows if lb == label and s == scenario]
            med = {k: statistics.median(r[k] for r in same)
                   for k in ("rps", "per_s", "p50", "p99", "server_p50", "server_p99", "server_cores", "wrk_cores",
                             "per_cpu_s")}
            errors = sum(r["status_errors"] + r["socket_errors"] for r in same)
            runs = f" (median of {len(same)})" if repeat > 1 else ""
            out.append(f"| {scenario}{runs} | {label} | {med['rps']:,.0f} | "
                       f"{med['per_s']:,.0f} | {med['p50'] / 1000:.1f} / {med['p99'] / 1000:.1f} | "
                       f"{med['server_p50']:.2f} / {med['server_p99']:.2f} | {errors} | {med['server_cores']:.2f} | "
                       f"{med['wrk_cores']:.2f} | {med['per_cpu_s']:,.0f} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10, help="seconds per scenario")
    ap.add_argument("--repeat", type=int, default=1, help="run every scenario this many times, alternating")
    ap.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    ap.add_argument("--ref", help="measure a git worktree of this ref instead of the working tree (which may "
                    "hold uncommitted edits)")
    ap.add_argument("--compare", metavar="REF", help="also run a server from this git ref, alternating with it")
    ap.add_argument("--report", action="store_true", help="also write the figures to docs/benchmarks/runs/")
    args = ap.parse_args()
    trees: dict[str, Path | None] = {commit(args.ref): worktree(args.ref)} if args.ref else {"this tree": None}
    if args.compare:
        trees[commit(args.compare)] = worktree(args.compare)
    servers, rows, single, memory = {}, [], {}, {}
    try:
        for label, tree in trees.items():
            servers[label] = start(label, tree)
        for k in range(args.repeat):
            for scenario in args.scenarios:
                order = list(servers.items()) if k % 2 == 0 else list(reversed(servers.items()))
                for label, server in order:
                    r = run_scenario(server, scenario, args.clients, args.duration)
                    rows.append((label, scenario, r))
                    print(f"{scenario:8s} {label:12s} {r['per_s']:9,.0f}/s client p50 {r['p50'] / 1000:.1f} p99 "
                          f"{r['p99'] / 1000:.1f} ms, server p50 {r['server_p50']:.2f} p99 {r['server_p99']:.2f} ms, "
                          f"errors {r['status_errors'] + r['socket_errors']}; {r['cpu']}", flush=True)
        for label, server in servers.items():
            single[label] = {size: one_client(server.url, size) for size in (50, 1)}
            memory[label] = (server.rss_seeded, rss_mib(server.process.pid))
    finally:
        for server in servers.values():
            server.stop()
        for tree in trees.values():
            if tree is not None:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    lines = table(rows, args.clients, args.repeat)
    lines.append("")
    for label, sizes in single.items():
        lines.append(f"One client, message list of a 500-message session ({label}): " + "; ".join(
            f"size={size}: server p50 {p50:.2f} ms, p99 {p99:.2f} ms (`Server-Timing`), client p50 {c50:.2f} ms"
            for size, (p50, p99, c50) in sizes.items()))
    lines.append("Server memory (RSS) after seeding and warming the read routes / at the end: " + "; ".join(
        f"{label} {a:.0f} / {b:.0f} MiB" for label, (a, b) in memory.items()))
    lines.append(
        f"\n{args.clients} closed-loop keep-alive clients (wrk, one thread), {args.duration:g} s per scenario"
        f"{f', {args.repeat} runs each, alternating' if args.repeat > 1 else ''}; one workspace of "
        f"{SESSIONS * PER_SESSION:,} messages over {SESSIONS} sessions and {PEERS} peers, seeded through the API; "
        "reasoning, summaries and message embedding off. Writes go to 16 sessions of their own in that workspace. "
        "Server p50 / p99: the route's `honcho_http_request_seconds` histogram, interpolated inside its buckets "
        "(0.5, 1, 2, 5, 10, 15, 20, 25, 50 ms). Cores: CPU time / wall time of the server process and of wrk; req per server CPU-s: requests "
        "per second of the server's CPU time (what a request costs; steadier than req/s while other processes "
        "take the cores).")
    lines.append("CPU per run: " + "; ".join(f"{s} ({label}): {r['cpu']}" for label, s, r in rows))
    body = "\n".join(lines)
    print(body)
    if args.report:
        write_run_report("routes", "Every v3 route at load (scripts/bench_routes.py)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
