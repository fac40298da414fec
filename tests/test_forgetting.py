"""Forgetting (issue 30, item 3), against a live server with the fake model: a unique token planted in a
message is reasoned into a conclusion, a summary, a peer card and a profile; then a delete at each level
(message, session, peer, workspace, conclusion) and the token is looked for through every read surface,
in the DuckDB file after a clean stop, and in a new backup. Zero hits everywhere."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from honcho_local.store import Store, WriteContext, forget
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from honcho_local.store.lexical_tail import index_terms_of
from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_worker_live import reasoning_env, wait_for, wait_idle

pytestmark = pytest.mark.slow
W = "/v3/workspaces/w"
LEVELS = ["message", "session", "peer", "workspace", "conclusion"]
# the surfaces that show the planted token before the delete: derived ones, and those that show messages
DERIVED = {"conclusions list", "conclusions list as_of", "conclusions query", "representation", "representation as_of",
           "peer card", "peer card as_of", "peer context (profile)"}
RAW = {"search workspace (lexical + vector)", "search workspace (vector)", "search session", "search peer",
       "messages list", "summaries", "summaries as_of", "session context (summary)", "session context as_of",
       "recall (chat evidence)", "chat with evidence"}


class EchoModel(FakeModel):
    """The fake model whose profiles, summaries and chat answers repeat their prompt: whatever reached
    the model comes back in what it wrote."""

    def answer(self, payload: dict[str, Any]) -> str:
        text = super().answer(payload)
        if self.calls[-1] in ("peer_profile", "summary"):
            text += " " + "\n".join(m["content"] for m in payload["messages"])
        return text


@pytest.fixture
def model() -> Iterator[EchoModel]:
    fake = EchoModel().start()
    yield fake
    fake.stop()


def env(model: FakeModel) -> dict[str, str]:
    return {**reasoning_env(model), "HONCHO_LOCAL_SUMMARY_ENABLED": "true", "HONCHO_LOCAL_SUMMARY_SHORT_EVERY": "2",
            "HONCHO_LOCAL_PEER_CARD_EVERY": "1"}


def post(client: httpx.Client, session: str, messages: list[tuple[str, str]]) -> list[dict]:
    r = client.post(f"{W}/sessions/{session}/messages",
                    json={"messages": [{"peer_id": p, "content": c} for p, c in messages]})
    assert r.status_code == 201, r.text
    return r.json()


def plant(client: httpx.Client, server: LiveServer, token: str) -> list[dict]:
    """The token in one of alice's messages, with enough around it for a summary and a card; waits until
    the worker has reasoned it everywhere."""
    sent = post(client, "s", [("alice", f"I work as a {token} engineer."), ("bob", "Nice, tell me more."),
                              ("alice", "I live in Porto."), ("bob", "Porto is lovely.")])
    post(client, "other", [("alice", "I have a dog named Rex."), ("bob", "Good dog.")])
    wait_for(lambda: _reasoned(client, token))
    wait_idle(server, "w")
    return sent


def _reasoned(client: httpx.Client, token: str) -> bool:
    card = client.get(f"{W}/peers/alice/card").text
    summaries = client.get(f"{W}/sessions/s/summaries").text
    listed = client.post(f"{W}/conclusions/list", json={}).text
    profile = client.get(f"{W}/peers/alice/context").text
    return all(token in text for text in (card, summaries, listed, profile))


def surfaces(client: httpx.Client, moment: str) -> dict[str, httpx.Response]:
    """Every read surface that could show the token (each answer whole, whatever its status)."""
    pair = {"observer_id": "alice", "observed_id": "alice"}
    calls = {
        "search workspace (lexical + vector)": ("POST", f"{W}/search", {"query": "engineer work job"}),
        # no word in common with the planted message: only the vector side can find it
        "search workspace (vector)": ("POST", f"{W}/search", {"query": "what is her occupation or profession"}),
        "search session": ("POST", f"{W}/sessions/s/search", {"query": "engineer work"}),
        "search peer": ("POST", f"{W}/peers/alice/search", {"query": "engineer work"}),
        "messages list": ("POST", f"{W}/sessions/s/messages/list", {}),
        "conclusions list": ("POST", f"{W}/conclusions/list", {}),
        "conclusions query": ("POST", f"{W}/conclusions/query", {"query": "alice works as an engineer",
                                                                   "filters": pair}),
        "representation": ("POST", f"{W}/peers/alice/representation", {}),
        "representation as_of": ("POST", f"{W}/peers/alice/representation", {"as_of": moment}),
        "peer card": ("GET", f"{W}/peers/alice/card", None),
        "peer card as_of": ("GET", f"{W}/peers/alice/card?as_of={moment}", None),
        "peer context (profile)": ("GET", f"{W}/peers/alice/context", None),
        "session context (summary)": ("GET", f"{W}/sessions/s/context?peer_target=alice&summary=true", None),
        "session context as_of": ("GET", f"{W}/sessions/s/context?peer_target=alice&as_of={moment}", None),
        "summaries": ("GET", f"{W}/sessions/s/summaries", None),
        "summaries as_of": ("GET", f"{W}/sessions/s/summaries?as_of={moment}", None),
        "recall (chat evidence)": ("POST", f"{W}/peers/alice/recall", {"query": "What does alice work as?"}),
        "chat with evidence": ("POST", f"{W}/peers/alice/chat", {"query": "What does alice work as?",
                                                                  "include_evidence": True}),
    }
    calls["conclusions list as_of"] = ("POST", f"{W}/conclusions/list?as_of={moment}", {})
    return {name: client.request(method, url, json=body) for name, (method, url, body) in calls.items()}


def delete(client: httpx.Client, level: str, sent: list[dict], marker: str) -> None:
    message = sent[0]
    if level == "message":
        r = client.delete(f"{W}/sessions/s/messages/{message['id']}")
        assert r.status_code == 204, r.text
    elif level == "session":
        assert client.delete(f"{W}/sessions/s").status_code == 202
    elif level == "peer":
        assert client.delete(f"{W}/peers/alice").status_code == 204
    elif level == "workspace":
        for session in ("s", "other"):
            assert client.delete(f"{W}/sessions/{session}").status_code == 202
        assert client.delete(W).status_code == 202
        assert client.post("/v3/workspaces", json={"id": "w"}).status_code == 201  # the same id again
    else:
        listed = client.post(f"{W}/conclusions/list", json={}).json()["items"]
        [target] = [c for c in listed if marker in c["content"]]
        assert target["message_ids"] == [message["id"]]
        assert client.delete(f"{W}/conclusions/{target['id']}").status_code == 204


_TERMS = """
import sys, tantivy
searcher = tantivy.Index.open(sys.argv[1]).searcher()
print("\\n".join(t for field in ("content", "context") for t, _ in searcher.terms_with_prefix(field, sys.argv[2], limit=10)))
"""


def index_terms(home: Path, token: str) -> list[str]:
    """Terms of the lexical index's dictionary that start with the token, in either text field (a deleted
    document's terms stay there until its segment is merged or dropped). Read by a fresh process each
    time: an index opened again in this process could keep showing the commit it first saw (the wait
    for the token once timed out while another process read it there). The prefix is the token as the
    index's analyzer stores it: the English stemmer shortens about 1 token in 20 ("zq66d4709de7ed" is
    stored as "zq66d4709de7e"), and the unstemmed prefix then never matched, a CI flake."""
    [term] = index_terms_of(token)
    done = subprocess.run([sys.executable, "-c", _TERMS, str(home / "lexical-index"), term],
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.split()


def grep_files(root: Path, needle: bytes, pattern: str = "*") -> list[str]:
    return [str(p) for p in root.rglob(pattern) if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("level", LEVELS)
def test_delete_forgets_everywhere(tmp_path: Path, model: EchoModel, level: str) -> None:
    token = f"zq{uuid.uuid4().hex[:12]}"
    # what only derived data holds: a conclusion deleted alone leaves its message (and the token) in the log
    marker = f"said: I work as a {token}" if level == "conclusion" else token
    home = tmp_path / "home"
    server = start_server(home, env=env(model))
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            sent = plant(client, server, token)
            moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            seen = {name for name, r in surfaces(client, moment).items() if marker in r.text}
            if level != "conclusion":
                wait_for(lambda: index_terms(home, token))  # indexed (the indexer commits every 2 s)
            assert seen >= (DERIVED if level == "conclusion" else DERIVED | RAW), seen
            delete(client, level, sent, marker)
            prompts_before = len(model.prompts)
            post(client, "more", [("alice", "Something new to reason about."), ("bob", "Ok.")])
            wait_idle(server, "w")
            found = {name: r.status_code for name, r in surfaces(client, moment).items() if marker in r.text}
            assert found == {}, f"{level}: the token is still served by {found}"
            errors = {name: r.status_code for name, r in surfaces(client, moment).items() if r.status_code >= 500}
            assert errors == {}
            assert not [p for p in model.prompts[prompts_before:] if marker in p], "the token reached the model"
            listed = client.post(f"{W}/conclusions/list", json={}).json()["items"]
            assert not [c for c in listed if marker in c["content"]], "derived again"
    finally:
        stop_server(server)
    assert server.process.returncode == 0, server.log()
    needle = marker.encode()
    # every file of the home: the DuckDB file (and a WAL), the queue, the server log. (The lexical index
    # passes too, but only because tantivy stores terms compressed: it still holds them, docs/api.md.)
    assert grep_files(home, needle) == []
    if level != "conclusion":
        assert index_terms(home, token) == []
    backup = tmp_path / "backup"
    done = subprocess.run([sys.executable, "-m", "honcho_local.cli", "backup", str(backup), "--home", str(home)],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert list(backup.rglob("*.parquet")), "the backup wrote no Parquet"
    assert grep_files(backup, needle) == []


def test_message_and_peer_delete_answer_404_when_missing(tmp_path: Path, model: EchoModel) -> None:
    server = start_server(tmp_path / "home", env=env(model))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            post(client, "s", [("alice", "hello")])
            assert client.delete(f"{W}/sessions/s/messages/nope").status_code == 404
            assert client.delete(f"{W}/peers/nobody").status_code == 404
            assert client.delete("/v3/workspaces/none/peers/alice").status_code == 404
            spec = client.get("/openapi.json").json()["paths"]
            assert "delete" in spec["/v3/workspaces/{workspace_id}/peers/{peer_id}"]
            assert "delete" in spec["/v3/workspaces/{workspace_id}/sessions/{session_id}/messages/{message_id}"]
    finally:
        stop_server(server)


# ---- the rules, on a store without a server -----------------------------------------------------------
def _seed(store: Store) -> tuple[str, str]:
    def op(ctx: WriteContext) -> tuple[str, str]:
        for pk, mid in ((1, "m1"), (2, "m2")):
            ctx.conn.execute("INSERT INTO events VALUES (?, ?, 'w', 's', 'alice', 'message', ?, 'x', '{}', NULL, 1, "
                             "now()::TIMESTAMP, now()::TIMESTAMP)", [pk, mid, pk])
        [fact] = insert_conclusions(ctx, [NewConclusion("w", "alice", "alice", "alice likes tea",
                                                        source_ids=["m1", "m2"])], "v1")
        [deduction] = insert_conclusions(ctx, [NewConclusion("w", "alice", "alice", "alice is british", "deductive",
                                                             source_ids=["m1", "m2"], premise_ids=[fact.id])], "v1")
        return fact.id, deduction.id

    return store.write(op)


def test_an_explicit_conclusion_keeps_its_other_sources_and_a_deduction_goes(store: Store) -> None:
    fact, _ = _seed(store)
    store.write(lambda ctx: forget.delete_events(ctx, [1]))
    store.write(lambda ctx: forget.forget_sources(ctx, "w", ["m1"]))
    rows = store.read(lambda cur: cur.execute("SELECT id, source_ids FROM conclusions").fetchall())
    assert rows == [(fact, '["m2"]')]


def test_a_conclusion_resting_only_on_deleted_messages_is_not_stored(store: Store) -> None:
    _seed(store)
    store.write(lambda ctx: forget.delete_events(ctx, [1, 2]))
    [stored] = store.write(lambda ctx: insert_conclusions(
        ctx, [NewConclusion("w", "alice", "alice", "alice said: hi", source_ids=["m1"])], "v1"))
    assert not stored.new
    assert store.read(lambda cur: cur.execute("SELECT count(*) FROM conclusions WHERE content = 'alice said: hi'")
                      .fetchone()) == (0,)


def test_deleting_a_conclusion_takes_the_deductions_resting_on_it(store: Store) -> None:
    fact, deduction = _seed(store)
    pairs = store.write(lambda ctx: forget.delete_conclusions(ctx, "w", [fact]))
    assert pairs == {("alice", "alice", "v1")}
    assert store.read(lambda cur: cur.execute("SELECT count(*) FROM conclusions").fetchone()) == (0,)
    assert deduction != fact


def test_a_summary_in_flight_when_its_message_is_deleted_is_not_kept(tmp_path: Path, model: EchoModel) -> None:
    """The worker holds no transaction across a model call: a summary of the deleted message written after
    the delete is taken away again once the run ends (the delete waits for it)."""
    token = f"zq{uuid.uuid4().hex[:12]}"
    home = tmp_path / "home"
    server = start_server(home, env={**env(model), "HONCHO_LOCAL_REASONING_ENABLED": "false"})  # summaries only
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client, \
                httpx.Client(base_url=server.url, timeout=120) as other:
            model.hold()
            sent = post(client, "s", [("alice", f"I work as a {token} engineer."), ("bob", "Nice.")])
            wait_for(lambda: model.received >= 1)  # the summary of both messages is with the model
            answers: list[httpx.Response] = []
            deleting = threading.Thread(target=lambda: answers.append(
                other.delete(f"{W}/sessions/s/messages/{sent[0]['id']}")))
            deleting.start()
            wait_for(lambda: client.get(f"{W}/sessions/s/messages/{sent[0]['id']}").status_code == 404)
            model.release()
            deleting.join()
            assert answers[0].status_code == 204
            assert any(token in p for p in model.prompts), "the summary call did not see the message"
            wait_idle(server, "w")
            for url in (f"{W}/sessions/s/summaries", f"{W}/sessions/s/context?summary=true"):
                assert token not in client.get(url).text, url
    finally:
        model.release()
        stop_server(server)
    assert grep_files(home, token.encode(), "*.duckdb*") == []


def test_a_scrub_left_pending_by_a_stop_is_finished_at_the_next_start(tmp_path: Path) -> None:
    from honcho_local.services.forgetting import Forgetting

    path = tmp_path / "honcho.duckdb"
    store = Store.open(path)
    token = f"zq{uuid.uuid4().hex[:12]}"
    store.write(lambda ctx: ctx.conn.execute(
        "INSERT INTO events SELECT i, 'm' || i, 'w', 's', 'alice', 'message', i, CASE WHEN i = 1 THEN ? ELSE "
        "'filler ' || i END, '{}', NULL, 1, now()::TIMESTAMP, now()::TIMESTAMP FROM range(1, 300) t(i)",
        [f"I work as a {token} engineer"]))
    forget._checkpoint(store)
    Forgetting(store, scrub_file=False).delete_message("w", "s", "m1")  # as if stopped before its scrub
    store.close()
    assert token.encode() in path.read_bytes()  # DuckDB keeps the deleted row's bytes
    store = Store.open(path)
    assert store.read(forget.scrub_pending)
    Forgetting.of(store).resume()
    assert not store.read(forget.scrub_pending)
    store.close()
    assert token.encode() not in path.read_bytes()
