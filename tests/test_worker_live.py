"""The worker inside a live `honcho-local serve`: kill -9 in the middle of reasoning loses and
duplicates nothing, the API keeps answering while the worker is busy, SIGTERM stops everything fast."""

from __future__ import annotations

import json
import signal
import threading
import time
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


def reasoning_env(model: FakeModel) -> dict[str, str]:
    return {**model.env(),
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


def wait_for(condition, timeout: float = 120) -> None:
    """Poll `condition` until true (a hang guard, not a speed bound)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


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
    while model.calls.count("deriver") < 3 and time.monotonic() < deadline:  # some batches done, one in flight
        time.sleep(0.05)
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
    model.hold()  # the worker's model call stays in flight until released
    server = start_server(tmp_path / "home", env=reasoning_env(model))
    try:
        post(server, "s", [("alice", "slow to reason")])
        wait_for(lambda: model.received >= 1)
        for i in range(20):
            post(server, "other", [("bob", f"quick {i}")])
            assert httpx.post(f"{server.url}/v3/workspaces/w/sessions/other/messages/list", headers=JSON).status_code == 200
        assert model.answered == 0  # 40 requests answered while the model call was still in flight
        status = httpx.get(f"{server.url}/v3/workspaces/w/queue/status", headers=JSON).json()
        assert status["in_progress_work_units"] >= 1
    finally:
        model.release()
        stop_server(server)


def test_sigterm_stops_during_a_model_call(tmp_path: Path, model: FakeModel) -> None:
    model.hold()
    server = start_server(tmp_path / "home", env=reasoning_env(model))
    post(server, "s", [("alice", "this takes forever to reason about")])
    wait_for(lambda: model.received >= 1)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=120)  # a hang guard only: the model call is never answered
    assert model.answered == 0  # the server exited without waiting for the model


def test_reads_are_not_queued_behind_chats_waiting_for_the_model(tmp_path: Path, model: FakeModel) -> None:
    """More chats in flight than the server has request threads, all held by the model: a read sent
    meanwhile is still answered (model calls wait on threads of their own, not the request threads)."""
    model.hold()
    env = model.env()
    server = start_server(tmp_path / "home", env=env)
    try:
        assert httpx.post(f"{server.url}/v3/workspaces", json={"id": "w"}).status_code in (200, 201)
        assert httpx.post(f"{server.url}/v3/workspaces/w/peers", json={"id": "alice"}).status_code in (200, 201)
        results: list[httpx.Response] = []

        def chat(i: int) -> None:
            results.append(httpx.post(f"{server.url}/v3/workspaces/w/peers/alice/chat",
                                      json={"query": f"what does alice like? ({i})"}, timeout=600))

        threads = [threading.Thread(target=chat, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        wait_for(lambda: model.received >= 8)  # the chats are waiting on the model
        assert not results
        r = httpx.get(f"{server.url}/v3/workspaces/w/peers/alice/card", headers=JSON)
        assert r.status_code == 200
        assert not results  # the chats were still waiting while the read was answered
        model.release()
        for t in threads:
            t.join(timeout=600)
        assert len(results) == 12 and all(r.status_code == 200 and r.json()["content"] for r in results)
    finally:
        model.release()
        stop_server(server)
