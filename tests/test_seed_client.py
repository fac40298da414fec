"""The seed's client (`honcho_local.client`, issue 32 item 3) against a live server: writes land in order
with the user's and the assistant's peers, batching flushes by size, by time, on exit and from several
threads, a batch retried after an injected 503 or a dropped connection is stored once (idempotency keys),
429's Retry-After is honoured, refusals surface, and `get_context` answers the server's memory as text.

Faults are injected by an httpx transport placed in front of the real one (the client's `transport` seam):
it can pass a write to the server and then lose the answer, as a dropped connection would."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from honcho_local import apikeys
from honcho_local.client import Backoff, Honcho, HonchoClientError, summary_text
from honcho_local.client.http import Api
from tests.conftest import MODEL_DEADLINE_S, REPO_ROOT, LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_auth_matrix import AUTH_ENV, SECRET
from tests.test_worker_live import reasoning_env, wait_idle

QUICK = Backoff(retries=3, base=0.01, cap=0.05)


class Faults(httpx.BaseTransport):
    """The real transport to the server, with a script for the message writes: each write takes the next
    step ("ok", "503" or "drop": passed to the server, then the answer replaced by a 503 or lost; "429":
    answered 429 without reaching the server). Records every write it saw."""

    def __init__(self, *steps: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.steps = list(steps)
        self.writes: list[httpx.Request] = []
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            write = request.method == "POST" and request.url.path.endswith("/messages")
            step = (self.steps.pop(0) if self.steps else "ok") if write else "ok"
            if write:
                self.writes.append(request)
        if step == "429":
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "injected: slow down"})
        response = self.inner.handle_request(request)
        if step == "ok":
            return response
        response.read()
        response.close()
        if step == "503":
            return httpx.Response(503, json={"detail": "injected after the write was stored"})
        raise httpx.RemoteProtocolError("injected: server disconnected without sending a response", request=request)

    def close(self) -> None:
        self.inner.close()


def stored(http: httpx.Client, workspace: str, session: str) -> list[dict]:
    r = http.post(f"/v3/workspaces/{workspace}/sessions/{session}/messages/list", params={"size": 100}, json={})
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return r.json()["items"]


def contents(http: httpx.Client, workspace: str, session: str) -> list[tuple[str, str]]:
    return [(m["peer_id"], m["content"]) for m in stored(http, workspace, session)]


def test_writes_land_in_order_with_the_user_and_assistant_peers_in_batches(server: LiveServer, http: httpx.Client,
                                                                          workspace_id: str) -> None:
    faults = Faults()
    with Honcho(server.url, batch_size=7, flush_interval=None, transport=faults) as honcho:
        create = honcho.apps.users.sessions.messages.create
        futures = [create(app_id=workspace_id, user_id="alice", session_id=s, content=f"{s} turn {i}",
                          is_user=i % 2 == 0) for i in range(10) for s in ("s1", "s2")]
    for session in ("s1", "s2"):
        assert contents(http, workspace_id, session) == [
            ("alice" if i % 2 == 0 else "assistant", f"{session} turn {i}") for i in range(10)]
    # 10 messages a session in batches of at most 7: one batch when 7 wait, the other 3 at close
    assert [(w.url.path.split("/")[-2], len(json.loads(w.content)["messages"])) for w in faults.writes] == [
        ("s1", 7), ("s2", 7), ("s1", 3), ("s2", 3)]
    assert [m["id"] for m in stored(http, workspace_id, "s1")] == [f.result()["id"] for f in futures[0::2]]


def test_buffered_writes_are_flushed_on_context_exit(server: LiveServer, http: httpx.Client, workspace_id: str) -> None:
    with Honcho(server.url, flush_interval=None) as honcho:
        for i in range(3):
            honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="bob", session_id="s",
                                                       content=f"m{i}")
        assert honcho.pending() == 3
        assert stored(http, workspace_id, "s") == []
    assert contents(http, workspace_id, "s") == [("bob", "m0"), ("bob", "m1"), ("bob", "m2")]


def test_the_background_flush_sends_a_waiting_message_after_the_interval(server: LiveServer, http: httpx.Client,
                                                                          workspace_id: str) -> None:
    honcho = Honcho(server.url, batch_size=50, flush_interval=0.2)
    try:
        future = honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="carol", session_id="s",
                                                            content="only one, far below the batch size")
        message = future.result(timeout=120)  # resolved by the background flusher, not by close()
        assert contents(http, workspace_id, "s") == [("carol", "only one, far below the batch size")]
        assert message["id"] == stored(http, workspace_id, "s")[0]["id"] and honcho.pending() == 0
    finally:
        honcho.close()


def test_writes_from_several_threads_keep_each_threads_order(server: LiveServer, http: httpx.Client,
                                                              workspace_id: str) -> None:
    with Honcho(server.url, batch_size=6, flush_interval=0.05) as honcho:
        def writer(n: int) -> None:
            for i in range(20):
                honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id=f"u{n}", session_id="s",
                                                           content=f"{n}:{i}")
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    got = contents(http, workspace_id, "s")
    assert len(got) == 80 and len(set(got)) == 80
    for n in range(4):
        assert [c for p, c in got if p == f"u{n}"] == [f"{n}:{i}" for i in range(20)]


@pytest.mark.parametrize("fault", ["503", "drop"])
def test_a_batch_retried_after_a_lost_answer_is_stored_once(server: LiveServer, http: httpx.Client, workspace_id: str,
                                                            fault: str) -> None:
    faults = Faults(fault)
    with Honcho(server.url, flush_interval=None, backoff=QUICK, transport=faults) as honcho:
        futures = [honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="dana", session_id="s",
                                                              content=f"m{i}") for i in range(5)]
    assert len(faults.writes) == 2  # the server stored the first try; its answer was lost, so the client resent
    keys = {w.headers["idempotency-key"] for w in faults.writes}
    assert len(keys) == 1 and faults.writes[0].content == faults.writes[1].content
    items = stored(http, workspace_id, "s")
    assert [m["content"] for m in items] == [f"m{i}" for i in range(5)]
    assert [f.result()["id"] for f in futures] == [m["id"] for m in items]


def test_a_batch_unanswered_after_every_retry_stays_queued_and_its_resend_is_not_a_copy(
        server: LiveServer, http: httpx.Client, workspace_id: str) -> None:
    faults = Faults(*["drop"] * (QUICK.retries + 1))
    honcho = Honcho(server.url, flush_interval=None, backoff=QUICK, transport=faults)
    for i in range(3):
        honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="erin", session_id="s", content=f"m{i}")
    with pytest.raises(HonchoClientError) as failed:
        honcho.flush()
    assert failed.value.retryable and honcho.pending() == 3
    assert [c for _, c in contents(http, workspace_id, "s")] == ["m0", "m1", "m2"]  # stored by the first try
    honcho.close()  # the network is back: the same batch, same key, answered from the server's record
    assert honcho.pending() == 0 and len({w.headers["idempotency-key"] for w in faults.writes}) == 1
    assert [c for _, c in contents(http, workspace_id, "s")] == ["m0", "m1", "m2"]


def test_429_is_retried_after_its_retry_after(server: LiveServer, http: httpx.Client, workspace_id: str) -> None:
    slept: list[float] = []

    class Throttled(httpx.HTTPTransport):
        answered = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.answered += 1
            if self.answered == 1:
                return httpx.Response(429, headers={"Retry-After": "2.5"}, json={"detail": "injected"})
            return super().handle_request(request)

    api = Api(server.url, backoff=Backoff(retries=2, cap=30), transport=Throttled(), sleep=slept.append)
    assert api.request("GET", "/health") == {"status": "ok"}
    assert slept == [2.5]
    api.close()
    with Honcho(server.url, flush_interval=None, backoff=QUICK, transport=Faults("429", "429")) as honcho:
        honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="finn", session_id="s", content="hi")
    assert contents(http, workspace_id, "s") == [("finn", "hi")]


def test_backoff_is_jittered_below_its_cap_and_gives_way_to_retry_after() -> None:
    import random

    backoff = Backoff(base=1.0, cap=5.0, rng=random.Random(7))
    draws = [backoff.delay(attempt, None) for attempt in range(8) for _ in range(20)]
    assert all(0 <= d <= 5.0 for d in draws) and len(set(draws)) == len(draws)
    assert max(backoff.delay(0, None) for _ in range(50)) <= 1.0
    assert backoff.delay(3, 2.0) == 2.0 and backoff.delay(3, 99.0) == 5.0


def test_a_refused_batch_fails_its_messages_and_stores_nothing(server: LiveServer, http: httpx.Client,
                                                               workspace_id: str) -> None:
    honcho = Honcho(server.url, flush_interval=None, backoff=QUICK)
    future = honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="not a valid id!",
                                                        session_id="s", content="x")
    with pytest.raises(HonchoClientError) as refused:
        honcho.close()
    assert refused.value.status == 422 and not refused.value.retryable and "peer_id" in str(refused.value)
    assert isinstance(future.exception(), HonchoClientError) and stored(http, workspace_id, "s") == []


def test_a_client_left_open_is_flushed_at_interpreter_exit(server: LiveServer, http: httpx.Client,
                                                           workspace_id: str) -> None:
    code = ("import sys; from honcho_local.client import Honcho; "
            "honcho = Honcho(sys.argv[1], flush_interval=None); "
            "honcho.apps.users.sessions.messages.create(app_id=sys.argv[2], user_id='hana', session_id='s', "
            "content='written, never flushed, never closed'); print(honcho.pending())")
    done = subprocess.run([sys.executable, "-c", code, server.url, workspace_id], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=True, timeout=120)
    assert done.stdout.strip() == "1", done.stderr  # still buffered when the script's last line ran
    assert contents(http, workspace_id, "s") == [("hana", "written, never flushed, never closed")]


def test_the_api_key_is_sent_as_a_bearer_token(server: LiveServer, workspace_id: str) -> None:
    faults = Faults()
    with Honcho(server.url, api_key="sk-test", flush_interval=None, transport=faults) as honcho:
        honcho.apps.users.sessions.messages.create(app_id=workspace_id, user_id="gus", session_id="s", content="hi")
    assert faults.requests and all(r.headers["authorization"] == "Bearer sk-test" for r in faults.requests)


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("keyed-home"), env=AUTH_ENV)
    yield server
    stop_server(server)


def test_with_auth_on_a_scoped_key_writes_and_reads_and_a_refusal_is_not_retried(keyed_server: LiveServer,
                                                                                  workspace_id: str) -> None:
    key = apikeys.mint(SECRET, workspace=workspace_id)
    with Honcho(keyed_server.url, api_key=key, flush_interval=None) as honcho:
        sessions = honcho.apps.users.sessions
        sessions.messages.create(app_id=workspace_id, user_id="ivy", session_id="s", content="hello")
        assert sessions.get_context(app_id=workspace_id, user_id="ivy", session_id="s") == ""  # reasoning is off
    faults = Faults()
    other = Honcho(keyed_server.url, api_key=apikeys.mint(SECRET, workspace="elsewhere"), flush_interval=None,
                   backoff=QUICK, transport=faults)
    future = other.apps.users.sessions.messages.create(app_id=workspace_id, user_id="ivy", session_id="s",
                                                       content="not with that key")
    with pytest.raises(HonchoClientError) as refused:
        other.close()
    assert refused.value.status == 401 and len(faults.writes) == 1 and future.exception() is refused.value
    admin = {"Authorization": f"Bearer {apikeys.mint(SECRET, admin=True)}"}
    with httpx.Client(base_url=keyed_server.url, headers=admin, timeout=60) as http:
        assert contents(http, workspace_id, "s") == [("ivy", "hello")]


def test_the_client_imports_none_of_the_servers_packages() -> None:
    # (not click: httpx imports it for its own command line when it is installed)
    code = ("import sys; from honcho_local.client import Honcho; "
            "print(sorted(m for m in ('litestar', 'duckdb', 'llama_cpp', 'huey', 'mcp', 'numpy', 'tantivy') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.fixture
def fake_server(tmp_path: Path, model: FakeModel) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "home", env=reasoning_env(model), timeout=120)
    yield server
    stop_server(server)


def test_get_context_answers_the_servers_memory_of_the_user(fake_server: LiveServer, workspace_id: str) -> None:
    with Honcho(fake_server.url, flush_interval=None) as honcho:
        sessions = honcho.apps.users.sessions
        for content, is_user in [("I am automating our invoices.", True), ("Which language?", False),
                                 ("Python, and we take payments through Stripe.", True)]:
            sessions.messages.create(app_id=workspace_id, user_id="alice", session_id="s1", content=content,
                                     is_user=is_user)
        honcho.flush()
        wait_idle(fake_server, workspace_id, timeout=MODEL_DEADLINE_S)
        with httpx.Client(base_url=fake_server.url, timeout=60) as http:
            r = http.put(f"/v3/workspaces/{workspace_id}/peers/alice/card",
                         json={"peer_card": ["INTEREST: Alice is focused on invoice automation"]})
            assert r.status_code == 200, r.text
            raw = http.get(f"/v3/workspaces/{workspace_id}/sessions/s1/context",
                           params={"peer_target": "alice", "summary": "true"}).json()
        text = sessions.get_context(app_id=workspace_id, user_id="alice", session_id="s1")
    # the worker's conclusions (the fake model states what alice said) and the card set above, as prose
    assert text.startswith("Alice is focused on invoice automation. ")
    assert "alice said: I am automating our invoices." in text
    assert "alice said: Python, and we take payments through Stripe." in text
    assert "Which language" not in text  # the assistant's words are not the user's memory
    assert "##" not in text and "[20" not in text
    assert text == summary_text(raw)
