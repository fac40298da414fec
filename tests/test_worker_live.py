"""The worker inside a live `honcho-local serve`: kill -9 in the middle of reasoning loses and
duplicates nothing, the API keeps answering while the worker is busy, SIGTERM stops everything fast."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import FakeModel

pytestmark = pytest.mark.slow
FACTS = ["keeps bees on the roof", "plays the cello in an orchestra", "was born in Nairobi",
         "is allergic to penicillin", "drives a red vintage Vespa", "teaches chemistry at a high school",
         "collects first-edition comics", "runs marathons every spring", "speaks fluent Japanese",
         "grows tomatoes on the balcony", "repairs old mechanical watches", "volunteers at an animal shelter"]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel().start()
    yield fake
    fake.stop()


def reasoning_env(model: FakeModel) -> dict[str, str]:
    return {"HONCHO_LOCAL_REASONING_MODEL": "openai:fake", "HONCHO_LOCAL_OPENAI_BASE_URL": model.url,
            "HONCHO_LOCAL_REASONING_ENABLED": "true", "HONCHO_LOCAL_SUMMARY_ENABLED": "false",
            "HONCHO_LOCAL_WORKER_POLL_INTERVAL": "0.5", "HONCHO_LOCAL_REASONING_BATCH_SIZE": "64"}


def wait_idle(server: LiveServer, workspace: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/v3/workspaces/{workspace}/queue/status", headers=JSON).json()
        if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
            return status
        time.sleep(0.2)
    raise AssertionError(f"queue did not drain: {status}")


def post(server: LiveServer, session: str, messages: list[tuple[str, str]]) -> list[dict]:
    r = httpx.post(f"{server.url}/v3/workspaces/w/sessions/{session}/messages",
                   json={"messages": [{"peer_id": p, "content": c} for p, c in messages]})
    assert r.status_code == 201, r.text
    return r.json()


def test_kill_9_mid_reasoning_then_every_message_reasoned_exactly_once(tmp_path: Path, model: FakeModel) -> None:
    home = tmp_path / "home"
    model.delay = 0.3
    server = start_server(home, env=reasoning_env(model))
    sent = []
    for i in range(12):
        sent += post(server, f"s{i % 3}", [("alice", f"I {FACTS[i]}."), ("bob", f"My sister {FACTS[-1 - i]}.")])
    deadline = time.monotonic() + 20
    while "deriver" not in model.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # some batches committed, one in flight
    server.kill(signal.SIGKILL)
    assert model.calls, "the worker never called the model"
    model.delay = 0.0
    restarted = start_server(home, env=reasoning_env(model))
    try:
        status = wait_idle(restarted, "w")
        assert status["failed_work_units"] == 0
    finally:
        stop_server(restarted)
    db = duckdb.connect(str(home / "honcho.duckdb"), read_only=True)
    stored = db.execute("SELECT content, source_ids, times_derived FROM conclusions").fetchall()
    by_content = {c: (json.loads(s), t) for c, s, t in stored}
    assert len(stored) == len(sent)  # none missing, none duplicated
    for message in sent:
        sources, times = by_content[f"{message['peer_id']} said: {message['content']}"]
        assert sources == [message["id"]] and times == 1


def test_api_answers_while_the_worker_is_busy(tmp_path: Path, model: FakeModel) -> None:
    model.delay = 8.0  # far longer than the bound below, so a loaded machine cannot blur the two
    server = start_server(tmp_path / "home", env=reasoning_env(model))
    try:
        post(server, "s", [("alice", "slow to reason")])
        time.sleep(0.5)
        started = time.monotonic()
        for i in range(20):
            post(server, "other", [("bob", f"quick {i}")])
            assert httpx.post(f"{server.url}/v3/workspaces/w/sessions/other/messages/list", headers=JSON).status_code == 200
        assert time.monotonic() - started < 4.0  # 40 requests answered while one model call takes 8 s
        status = httpx.get(f"{server.url}/v3/workspaces/w/queue/status", headers=JSON).json()
        assert status["in_progress_work_units"] >= 1
    finally:
        stop_server(server)


def test_sigterm_stops_within_5_seconds_during_a_model_call(tmp_path: Path, model: FakeModel) -> None:
    model.delay = 30.0
    server = start_server(tmp_path / "home", env=reasoning_env(model))
    post(server, "s", [("alice", "this takes forever to reason about")])
    deadline = time.monotonic() + 10
    while not model.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=10)
    assert time.monotonic() - started < 5.0


def test_reads_are_not_queued_behind_chats_waiting_for_the_model(tmp_path: Path, model: FakeModel) -> None:
    """More chats in flight than the server has request threads: each model call takes 6 s, and a read
    sent meanwhile still answers at once (model calls wait on threads of their own). The bounds leave
    room for a loaded machine: a read queued behind the chats would take the model's 6 s."""
    model.delay = 6.0
    env = {"HONCHO_LOCAL_REASONING_MODEL": "openai:fake", "HONCHO_LOCAL_OPENAI_BASE_URL": model.url}
    server = start_server(tmp_path / "home", env=env)
    try:
        assert httpx.post(f"{server.url}/v3/workspaces", json={"id": "w"}).status_code in (200, 201)
        assert httpx.post(f"{server.url}/v3/workspaces/w/peers", json={"id": "alice"}).status_code in (200, 201)
        results: list[httpx.Response] = []

        def chat(i: int) -> None:
            results.append(httpx.post(f"{server.url}/v3/workspaces/w/peers/alice/chat",
                                      json={"query": f"what does alice like? ({i})"}, timeout=60))

        threads = [threading.Thread(target=chat, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while model.received < 8 and time.monotonic() < deadline:  # the chats are waiting on the model
            time.sleep(0.05)
        assert model.received >= 8 and not results
        started = time.monotonic()
        r = httpx.get(f"{server.url}/v3/workspaces/w/peers/alice/card", headers=JSON)
        assert r.status_code == 200 and time.monotonic() - started < 2.0
        assert not results  # the chats were still waiting while the read was answered
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 12 and all(r.status_code == 200 and r.json()["content"] for r in results)
    finally:
        stop_server(server)
