"""Read-path benchmark: p50/p99 server-side latency of context, representation, card, conclusion
query and message search on a store of 100,000 messages and 20,000 conclusions over 100 peers, with
8 concurrent clients; plus chat time-to-first-token with the configured (default) chat model.

The store is generated through the store layer (Ingest for messages, `insert_conclusions` for
conclusions) before the server starts. Message and conclusion embeddings are random unit vectors
tagged with the embedder's model name (latency does not depend on their values; embedding 120k
texts with MiniLM would take ~7 minutes on 2 cores); query texts are embedded by the real MiniLM in
the server (a pool of distinct queries, cached after first use — the cache is part of the design).
Server-side latency is read from the `Server-Timing` header every response carries.

    python scripts/bench_read.py [--messages 100000] [--conclusions 20000] [--requests 400] [--report]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import append_report, start_server  # noqa: E402

from honcho_local import schemas  # noqa: E402
from honcho_local.config import load_settings  # noqa: E402
from honcho_local.ids import new_id  # noqa: E402
from honcho_local.services.ingest import Ingest  # noqa: E402
from honcho_local.services.resources import Resources  # noqa: E402
from honcho_local.store import Store  # noqa: E402
from honcho_local.store.conclusions import NewConclusion, insert_conclusions  # noqa: E402
from honcho_local.store.db import utcnow  # noqa: E402

WS, PEERS, DIMS, MODEL = "bench", 100, 384, "all-minilm-l6-v2"
WORDS = ("invoice stripe python billing refund customer report deploy cat coffee lisbon travel budget meeting "
         "deadline garden music running book movie recipe tax payroll server bug feature release").split()
QUERIES = [f"{a} {b}" for a, b in zip(WORDS, WORDS[3:] + WORDS[:3])]


def _vectors(rng: np.random.Generator, n: int) -> list[list[float]]:
    v = rng.standard_normal((n, DIMS)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).tolist()


def build(home: Path, messages: int, conclusions: int) -> None:
    """Generate the store through the store layer (the server must not hold the file yet)."""
    rnd, rng = random.Random(7), np.random.default_rng(7)
    store = Store.open(home / "honcho.duckdb", fsync=False)
    ingest = Ingest(store, Resources(store))
    per_session, sessions = 100, messages // 100
    for s in range(sessions):
        a, b = f"peer{s % PEERS}", f"peer{(s + 1) % PEERS}"
        batch = [schemas.MessageCreate(peer_id=a if i % 2 == 0 else b,
                                       content=" ".join(rnd.choices(WORDS, k=12)) + f" note {s}-{i}")
                 for i in range(per_session)]
        rows = ingest.add_messages(WS, f"s{s}", schemas.MessageBatch(messages=batch))
        pks = store.read(lambda cur: [r[0] for r in cur.execute(
            "SELECT pk FROM events WHERE id IN (SELECT unnest(?::VARCHAR[])) ORDER BY pk", [[r["id"] for r in rows]]
        ).fetchall()])
        store.write(lambda ctx: ctx.conn.execute(
            "INSERT INTO message_embeddings SELECT unnest(?::BIGINT[]), ?, ?, ?, unnest(?::FLOAT[][])",
            [pks, WS, f"s{s}", MODEL, _vectors(rng, len(pks))]))
        _summaries(store, f"s{s}", rows[-1]["id"], max(pks))
    for start in range(0, conclusions, 1000):
        n = min(1000, conclusions - start)
        vectors = _vectors(rng, n)
        items = [NewConclusion(WS, f"peer{(start + i) % PEERS}", f"peer{(start + i) % PEERS}",
                               " ".join(rnd.choices(WORDS, k=8)) + f" fact {start + i}", "explicit", None,
                               vectors[i], MODEL) for i in range(n)]
        store.write(lambda ctx: insert_conclusions(ctx, items, "v1", dedupe=False))
    store.write(lambda ctx: [_card_and_profile(ctx, f"peer{p}") for p in range(PEERS)])
    store.close()


def _summaries(store: Store, session: str, last_id: str, last_pk: int) -> None:
    store.write(lambda ctx: ctx.conn.execute(
        "INSERT INTO summaries VALUES (?, ?, ?, 'short', ?, ?, ?, 60, 'v1', ?), (?, ?, ?, 'long', ?, ?, ?, 240, 'v1', ?)",
        [new_id(), WS, session, "A short summary. " * 15, last_pk, last_id, utcnow(),
         new_id(), WS, session, "A longer summary of the conversation. " * 40, last_pk, last_id, utcnow()]))


def _card_and_profile(ctx, peer: str) -> None:
    ctx.conn.execute("INSERT INTO peer_cards VALUES (?, ?, ?, ?, ?, 'worker', 'v1', ?)",
                     [new_id(), WS, peer, peer, json.dumps([f"IDENTITY: {peer}", "ATTRIBUTE: likes python"]), utcnow()])
    ctx.conn.execute("INSERT INTO peer_profiles VALUES (?, ?, ?, ?, ?, 'v1', ?)",
                     [new_id(), WS, peer, peer, f"{peer} is focused on invoice automation. Prefers Python.", utcnow()])


def requests_for(kind: str, rnd: random.Random, sessions: int) -> tuple[str, str, dict | None, dict | None]:
    p, s, q = f"peer{rnd.randrange(PEERS)}", f"s{rnd.randrange(sessions)}", rnd.choice(QUERIES)
    w = f"/v3/workspaces/{WS}"
    return {
        "context": ("GET", f"{w}/sessions/{s}/context", {"tokens": 2000, "peer_target": f"peer{int(s[1:]) % PEERS}"},
                    None),
        "representation": ("POST", f"{w}/peers/{p}/representation", None, {}),
        "card": ("GET", f"{w}/peers/{p}/card", None, None),
        "conclusions query": ("POST", f"{w}/conclusions/query", None,
                              {"query": q, "top_k": 10, "filters": {"observer_id": p, "observed_id": p}}),
        "search (workspace)": ("POST", f"{w}/search", None, {"query": q, "limit": 10}),
        "search (session)": ("POST", f"{w}/sessions/{s}/search", None, {"query": q, "limit": 10}),
        "search (peer)": ("POST", f"{w}/peers/{p}/search", None, {"query": q, "limit": 10}),
    }[kind]


def measure(url: str, kind: str, total: int, clients: int, sessions: int) -> list[float]:
    """Server-side milliseconds of `total` requests spread over `clients` threads."""
    out: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        with httpx.Client(base_url=url, timeout=60) as c:
            for _ in range(total // clients):
                method, path, params, body = requests_for(kind, rnd, sessions)
                r = c.request(method, path, params=params, json=body)
                assert r.status_code == 200, (kind, r.status_code, r.text[:300])
                ms = float(r.headers["server-timing"].split("dur=")[1])
                with lock:
                    out.append(ms)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def ttft(url: str, runs: int) -> list[float]:
    """Client-side seconds from sending a streamed chat to its first content event."""
    out = []
    with httpx.Client(base_url=url, timeout=600) as c:
        for i in range(runs):
            body = {"query": f"What does peer{i} care about?", "stream": True}
            started = time.perf_counter()
            with c.stream("POST", f"/v3/workspaces/{WS}/peers/peer{i}/chat", json=body) as r:
                assert r.status_code == 200, r.read()
                for line in r.iter_lines():
                    if line.startswith("data: ") and '"delta"' in line:
                        out.append(time.perf_counter() - started)
                        break
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--conclusions", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=400, help="requests per endpoint (after warm-up)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--chat-runs", type=int, default=3)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--report", action="store_true", help="append the table to docs/benchmarks.md")
    args = ap.parse_args()
    home = args.home or Path(load_settings(env={}).home).parent / f"bench-read-{int(time.time())}"
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not (home / "honcho.duckdb").exists():
        build(home, args.messages, args.conclusions)
    print(f"store ready in {time.perf_counter() - started:.0f}s at {home}", flush=True)
    server = start_server(home, env={"HONCHO_LOCAL_DURABILITY": "process"})
    try:
        sessions = args.messages // 100
        t0 = time.perf_counter()
        httpx.post(f"{server.url}/v3/workspaces/{WS}/search", json={"query": "warm"}, timeout=600)
        print(f"lexical index ready after {time.perf_counter() - t0:.1f}s", flush=True)
        rows = []
        for kind in ("context", "representation", "card", "conclusions query", "search (workspace)",
                     "search (session)", "search (peer)"):
            measure(server.url, kind, 2 * args.clients * 8, args.clients, sessions)  # warm-up
            ms = measure(server.url, kind, args.requests, args.clients, sessions)
            rows.append((kind, len(ms), pct(ms, 50), pct(ms, 99), statistics.fmean(ms)))
            print(f"{kind:20s} n={len(ms)} p50={rows[-1][2]:.2f}ms p99={rows[-1][3]:.2f}ms", flush=True)
        firsts = ttft(server.url, args.chat_runs)
        print("chat TTFT (s):", [round(x, 2) for x in firsts], flush=True)
    finally:
        server.stop()
    table = ["| read | requests | p50 (ms) | p99 (ms) | mean (ms) | floor p50 ≤ 5 / p99 ≤ 25 |", "|---|---|---|---|---|---|"]
    table += [f"| {k} | {n} | {p50:.2f} | {p99:.2f} | {mean:.2f} | {'ok' if p50 <= 5 and p99 <= 25 else 'MISSED'} |"
              for k, n, p50, p99, mean in rows]
    body = ("\n".join(table) + f"\n\nChat time to first token (default model, streamed, {len(firsts)} runs, "
            f"client-side): median {statistics.median(firsts):.2f} s, max {max(firsts):.2f} s.\n\n"
            f"Store: {args.messages} messages in {args.messages // 100} sessions, {args.conclusions} conclusions, "
            f"{PEERS} peers; {args.clients} concurrent clients; server-side latency from `Server-Timing`.")
    print(body)
    if args.report:
        append_report("Read path (bench_read.py)", body)


if __name__ == "__main__":
    main()
