"""The message-post fast path (`api/fastpath.py`): it answers the plain case itself, hands everything
else to Litestar with the body intact, and both ways answer alike (a live server: `/messages` takes
the fast path, `/messages/` Litestar's route)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from honcho_local.api.fastpath import MessagesFastPath
from honcho_local.services.ingest import Ingest
from honcho_local.services.resources import Resources
from honcho_local.store import Store

JSON = {"Content-Type": "application/json"}


class Downstream:
    """Stands in for the Litestar app: records what reached it and the body it could read."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _call(app: MessagesFastPath, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None,
          query: bytes = b"") -> tuple[int, bytes]:
    scope = {"type": "http", "method": "POST", "path": path, "query_string": query,
             "headers": headers if headers is not None else [(b"content-type", b"application/json")]}
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_plain_posts_are_answered_without_litestar_and_the_rest_reach_it_intact(store: Store) -> None:
    downstream = Downstream()
    app = MessagesFastPath(downstream, Ingest(store, Resources(store)))
    body = json.dumps({"messages": [{"content": "first half", "peer_id": "u"}, {"content": "second", "peer_id": "v"}]})
    raw = body.encode()
    status, out = _call(app, "/v3/workspaces/w/sessions/s/messages", [raw[:20], raw[20:]])
    assert status == 201 and downstream.bodies == []
    assert [(m["content"], m["peer_id"], m["session_id"]) for m in json.loads(out)] == [
        ("first half", "u", "s"), ("second", "v", "s")]
    handed_over = [
        ("/v3/workspaces/w/sessions/s/messages", [b'{"messages": []}'], None, b""),  # the model rejects it
        ("/v3/workspaces/w/sessions/s/messages", [b'{"messages": [', b"oops"], None, b""),  # not JSON
        ("/v3/workspaces/w/sessions/s/messages", [raw], None, b"x=1"),  # a query string
        ("/v3/workspaces/w/sessions/s/messages", [raw], [(b"content-type", b"text/plain")], None),
        ("/v3/workspaces/w/sessions/s/messages", [raw], [(b"content-type", b"application/json"),
                                                         (b"origin", b"http://localhost")], None),
        ("/v3/workspaces/w/sessions/s d/messages", [raw], None, b""),  # an id Honcho does not allow
        ("/v3/workspaces/w/sessions/s/messages/", [raw], None, b""),  # not this exact path
    ]
    for path, chunks, headers, query in handed_over:
        status, _ = _call(app, path, chunks, headers, query or b"")
        assert status == 299
        assert downstream.bodies[-1] == b"".join(chunks)
    too_long = "x" * 30_000  # the service's content limit: refused before anything is queued
    status, _ = _call(app, "/v3/workspaces/w/sessions/s/messages",
                      [json.dumps({"messages": [{"content": too_long, "peer_id": "u"}]}).encode()])
    assert status == 299 and len(downstream.bodies) == len(handed_over) + 1
    assert store.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0]) == 2


def _same(fast: httpx.Response, slow: httpx.Response) -> None:
    assert fast.status_code == slow.status_code
    assert fast.headers["content-type"] == slow.headers["content-type"]
    assert "server-timing" in fast.headers and "server-timing" in slow.headers


@pytest.mark.parametrize("messages", [
    [{"content": "hello", "peer_id": "alice", "metadata": {"k": [1, {"n": None}], "t": "é"}}],
    [{"content": f"m{i}", "peer_id": f"p{i % 3}", "created_at": "2023-05-08T13:56:00+02:00",
      "configuration": {"reasoning": {"enabled": False}}} for i in range(100)],
])
def test_both_ways_store_and_answer_alike(http: httpx.Client, workspace_id: str, messages: list[dict]) -> None:
    w = f"/v3/workspaces/{workspace_id}/sessions"
    fast = http.post(f"{w}/fast/messages", json={"messages": messages})
    slow = http.post(f"{w}/slow/messages/", json={"messages": messages})
    _same(fast, slow)
    own = {"id", "session_id"} | ({"created_at"} if "created_at" not in messages[0] else set())  # the server's own
    strip = lambda r: [{k: v for k, v in m.items() if k not in own} for m in r.json()]
    assert strip(fast) == strip(slow) and len(fast.json()) == len(messages)
    for session, response in (("fast", fast), ("slow", slow)):
        listed = http.post(f"{w}/{session}/messages/list?size=100", headers=JSON).json()["items"]
        assert [m["id"] for m in listed] == [m["id"] for m in response.json()]


@pytest.mark.parametrize("body", [
    {"messages": []},
    {"messages": [{"content": "x", "peer_id": "bad id"}]},
    {"messages": [{"content": 5, "peer_id": "a"}]},
    {"messages": [{"content": "x" * 25_001, "peer_id": "a"}]},
    {"messages": [{"content": "x", "peer_id": "a"}] * 101},
    {"nothing": 1},
])
def test_both_ways_refuse_alike(http: httpx.Client, workspace_id: str, body: dict) -> None:
    w = f"/v3/workspaces/{workspace_id}/sessions/refused"
    fast, slow = http.post(f"{w}/messages", json=body), http.post(f"{w}/messages/", json=body)
    _same(fast, slow)
    assert 400 <= fast.status_code < 500 and fast.json() == slow.json()
    assert http.post(f"{w}/messages/list", headers=JSON).status_code == 404  # nothing was written
