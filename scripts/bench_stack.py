"""What part of a request is the HTTP stack and what part is ours (issue 36), without sockets or clients.

Builds the services over a fresh home (reasoning and embedding off, 2 sessions of 500 messages), then calls
the app `serve` runs (the request guard, the message fast path, Litestar with its middleware) directly as
ASGI, in process, for a peer card, a session context and a list of 50 messages; and calls the service
behind each route alone, as the route answers on the event loop (the read cache's `peek`, the message
list's `held_page`). The difference is the framework's
share (routing, parameter parsing, dependency injection, middleware, response objects); uvicorn's parsing
and the socket come on top (compare with scripts/bench_routes.py's requests per server CPU-second).

    python scripts/bench_stack.py [--requests 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from honcho_local import schemas  # noqa: E402
from honcho_local.api import create_app  # noqa: E402
from honcho_local.api.guard import serving_app  # noqa: E402
from honcho_local.config import load_settings  # noqa: E402
from honcho_local.services.context import ContextRequest  # noqa: E402
from honcho_local.services.readcache import MISS  # noqa: E402
from honcho_local.services.resources import Paging  # noqa: E402
from honcho_local.wiring import build_services  # noqa: E402

W = "/v3/workspaces/bench"


def scope(method: str, path: str, query: bytes = b"", body: bool = False) -> dict:
    headers = [(b"host", b"127.0.0.1:8000")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"2")]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


async def call(app, sc: dict, body: bytes) -> int:
    """One request through the ASGI app; its status."""
    sent, status = False, []

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never goes away

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(dict(sc), receive, send)
    return status[0]


def cases(svc) -> dict:
    """name -> (ASGI scope, body, the service call alone)."""
    return {
        "card": (scope("GET", f"{W}/peers/peer0/card"), b"",
                 lambda: svc.read_cache.peek(svc.representations.card_read("bench", "peer0", None).key)),
        "context": (scope("GET", f"{W}/sessions/s0/context", b"tokens=2000&summary=true"), b"",
                    lambda: svc.read_cache.peek(
                        svc.context.context_read("bench", "s0", ContextRequest(2000, True)).key)),
        "list size=50": (scope("POST", f"{W}/sessions/s0/messages/list", b"page=1&size=50", True), b"{}",
                         lambda: svc.message_list.held_page("bench", "s0", None, Paging(1, 50, False))),
    }


async def measure(app, svc, requests: int, runs: int) -> None:
    for name, (sc, body, service) in cases(svc).items():
        for _ in range(200):  # warm: caches, the message rows in memory
            assert await call(app, sc, body) == 200, name
        served = []
        for _ in range(runs):
            started = time.perf_counter()
            for _ in range(requests):
                await call(app, sc, body)
            served.append((time.perf_counter() - started) / requests * 1e6)
        assert service() not in (None, MISS), name  # held: what the route answers on the loop
        started = time.perf_counter()
        for _ in range(requests * 5):
            service()
        own = (time.perf_counter() - started) / (requests * 5) * 1e6
        print(f"{name:14s} served app {statistics.median(served):7.1f} us per request (median of {runs}); "
              f"service alone {own:6.1f} us", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    settings = load_settings(tempfile.mkdtemp(prefix="honcho-stack-"), env={
        "HONCHO_LOCAL_REASONING_ENABLED": "false", "HONCHO_LOCAL_EMBEDDING_MODEL": "none"})
    svc = build_services(settings)
    try:
        for s in range(2):
            for start in range(0, 500, 100):
                svc.ingest.add_messages("bench", f"s{s}", schemas.MessageBatch(messages=[
                    schemas.MessageCreate(peer_id=f"peer{(s + i) % 2}", content=f"message {i} of session {s}")
                    for i in range(start, start + 100)]))
        asyncio.run(measure(serving_app(create_app(svc), svc.ingest, settings), svc, args.requests, args.runs))
    finally:
        svc.close()


if __name__ == "__main__":
    main()
