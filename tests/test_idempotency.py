"""Idempotent writes (issue 31 item 5): the `Idempotency-Key` header on message and event posts.

Against a live server: a stream of keyed batch posts is cut by kill -9 after some were acknowledged;
after a restart every batch (acknowledged, in flight or never sent) is sent again with its key and
each message is stored exactly once, an acknowledged batch's replay answering with the same ids.
A key reused for another body is refused (422) on both ways in (`/messages` takes the fast path,
`/messages/` Litestar's route), and a replay answers alike whichever way it comes.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from conftest import start_server, stop_server

pytestmark = pytest.mark.timeout(900)
JSON = {"content-type": "application/json"}
BATCHES, PER_BATCH = 40, 25


def _batch(i: int) -> dict:
    return {"messages": [{"peer_id": "user" if j % 2 else "bot", "content": f"batch {i} message {j}"}
                         for j in range(PER_BATCH)]}


def _post(client: httpx.Client, i: int) -> httpx.Response:
    return client.post("/v3/workspaces/w/sessions/s/messages", json=_batch(i),
                       headers={**JSON, "Idempotency-Key": f"key-{i}"})


def _all_contents(client: httpx.Client) -> list[str]:
    contents, page = [], 1
    while True:
        body = client.post(f"/v3/workspaces/w/sessions/s/messages/list?size=100&page={page}",
                           json={}, headers=JSON).json()
        contents += [m["content"] for m in body["items"]]
        if page >= body["pages"]:
            return contents
        page += 1


def test_kill_then_retry_stores_each_message_once(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home")
    acked: dict[int, list] = {}
    enough = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for i in range(BATCHES):
                try:
                    response = _post(client, i)
                except httpx.HTTPError:
                    return  # the server was killed: this batch and the rest are unacknowledged
                assert response.status_code == 201, response.text
                acked[i] = response.json()
                if len(acked) == 5:
                    enough.set()

    writer = threading.Thread(target=stream)
    writer.start()
    assert enough.wait(300)
    server.kill()
    writer.join(120)
    assert 5 <= len(acked) < BATCHES
    server = start_server(tmp_path / "home")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for i in range(BATCHES):  # the client retries everything it sent, acknowledged or not
                response = _post(client, i)
                assert response.status_code == 201, response.text
                if i in acked:
                    assert response.json() == acked[i]
            contents = _all_contents(client)
        expected = [m["content"] for i in range(BATCHES) for m in _batch(i)["messages"]]
        assert sorted(contents) == sorted(expected)  # every message present, none twice
    finally:
        stop_server(server)


def test_replay_across_restart_and_both_paths(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            base = "/v3/workspaces/w/sessions/s"
            body = {"messages": [{"peer_id": "u", "content": "only once"}]}
            first = client.post(f"{base}/messages", json=body, headers={**JSON, "Idempotency-Key": "a"})
            assert first.status_code == 201
            for path in ("/messages", "/messages/"):  # fast path, Litestar's route
                again = client.post(base + path, json=body, headers={**JSON, "Idempotency-Key": "a"})
                assert (again.status_code, again.json()) == (201, first.json())
                other = client.post(base + path, json={"messages": [{"peer_id": "u", "content": "changed"}]},
                                    headers={**JSON, "Idempotency-Key": "a"})
                assert other.status_code == 422
                assert "Idempotency-Key 'a' was already used" in other.json()["detail"]
            # Litestar first, then the fast path
            second = client.post(f"{base}/messages/", json=body, headers={**JSON, "Idempotency-Key": "b"})
            assert second.status_code == 201 and second.json() != first.json()
            again = client.post(f"{base}/messages", json=body, headers={**JSON, "Idempotency-Key": "b"})
            assert again.json() == second.json()
            # the same key in another session is another request; in another workspace another key
            moved = client.post("/v3/workspaces/w/sessions/s2/messages", json=body,
                                headers={**JSON, "Idempotency-Key": "a"})
            assert moved.status_code == 422
            elsewhere = client.post("/v3/workspaces/w2/sessions/s/messages", json=body,
                                    headers={**JSON, "Idempotency-Key": "a"})
            assert elsewhere.status_code == 201 and elsewhere.json()[0]["id"] != first.json()[0]["id"]
            bad = client.post(f"{base}/messages", json=body, headers={**JSON, "Idempotency-Key": "x" * 256})
            assert bad.status_code == 422
        server.kill()
        server = start_server(tmp_path / "home")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            again = client.post(f"{base}/messages", json=body, headers={**JSON, "Idempotency-Key": "a"})
            assert (again.status_code, again.json()) == (201, first.json())
            assert _all_contents(client) == ["only once", "only once"]  # keys a and b
    finally:
        stop_server(server)


def test_events_honour_the_key(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            url = "/v3/workspaces/w/sessions/s/events"
            body = {"events": [{"peer_id": "tool", "kind": "tool_call", "content": "ls -l"}]}
            first = client.post(url, json=body, headers={**JSON, "Idempotency-Key": "e1"})
            assert first.status_code == 201, first.text
            again = client.post(url, json=body, headers={**JSON, "Idempotency-Key": "e1"})
            assert (again.status_code, again.json()) == (201, first.json())
            # a key names one request: the messages route with it is another request
            other = client.post("/v3/workspaces/w/sessions/s/messages",
                                json={"messages": [{"peer_id": "u", "content": "ls -l"}]},
                                headers={**JSON, "Idempotency-Key": "e1"})
            assert other.status_code == 422
            listed = client.post("/v3/workspaces/w/sessions/s/events/list", json={}, headers=JSON).json()
            assert [e["content"] for e in listed["items"]] == ["ls -l"]
    finally:
        stop_server(server)
