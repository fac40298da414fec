"""One socket write per response (honcho_local/http_writes.py): what a loop turn writes leaves as one write,
in order; later turns (a streamed response) leave separately; closing sends what was pending first. And a
live server answers plain and streamed requests through it."""

from __future__ import annotations

import asyncio
import socket

import httpx

from honcho_local.http_writes import CoalescingTransport


class Recorder(asyncio.Transport):
    """A transport that records the writes it receives (the socket side)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return f"extra:{name}"


def test_a_turns_writes_leave_together_and_turns_stay_apart() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes], bool, object]:
        recorder = Recorder()
        transport = CoalescingTransport(recorder, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        held = list(recorder.writes)  # nothing reaches the socket during the turn
        await asyncio.sleep(0)
        first = list(recorder.writes)
        transport.write(b"data: 1\n\n")  # a streamed response: one chunk per turn
        await asyncio.sleep(0)
        transport.write(b"data: 2\n\n")
        transport.write(b"data: 3\n\n")
        transport.close()  # what is pending goes out before the close
        return held, first, recorder.writes, recorder.closed, transport.get_extra_info("peername")

    held, first, writes, closed, extra = asyncio.run(scenario())
    assert held == []
    assert first == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert writes == [first[0], b"data: 1\n\n", b"data: 2\n\ndata: 3\n\n"] and closed
    assert extra == "extra:peername"  # everything else is the real transport's


def test_live_server_answers_whole_responses_over_keep_alive(server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for _ in range(3):  # the same connection, request after request
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b'"ok"}'):
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 200") and b"content-length: 15" in data.lower()
    base = f"{server.url}/v3/workspaces/w-http-writes/sessions/s/messages"
    sent = [f"{i:03d}" + "x" * 19_997 for i in range(100)]
    r = httpx.post(base, json={"messages": [{"peer_id": "p", "content": c} for c in sent]}, timeout=60)
    assert r.status_code == 201, r.text[:300]
    page = httpx.post(f"{base}/list", params={"size": 100}, json={}, timeout=60)  # a 2 MB answer, whole
    assert page.status_code == 200 and [m["content"] for m in page.json()["items"]] == sent
