"""Honcho's automatic dream (issue 35): a pair dreams once it holds enough new explicit conclusions, long enough
after its last dream, in a workspace that has stopped talking, and not in a workspace that turned dreams off.
In process on a real DuckDB file (the trigger takes `now`, so no test waits for hours); then a live server whose
worker reasons with the fake model and dreams by itself."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from honcho_local.config import load_settings
from honcho_local.errors import ModelUnavailable
from honcho_local.services.dream_trigger import DreamTrigger
from honcho_local.services.dreams import Dreams
from honcho_local.services.versions import read_version
from honcho_local.store import Store, cards, events, utcnow
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from tests.conftest import start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_worker_live import reasoning_env, wait_idle


def _no_model() -> None:
    raise ModelUnavailable("no model in this test: the dream keeps the card and skips the profile")


@pytest.fixture
def world(tmp_path: Path):
    store = Store.open(tmp_path / "honcho.duckdb")
    settings = load_settings(tmp_path, env={}, dream_min_conclusions=3, dream_min_hours=1.0, dream_idle_minutes=30.0)
    trigger = DreamTrigger(store, settings, Dreams(store, settings, _no_model))

    def say(workspace: str, text: str) -> str:
        def op(ctx):
            workspaces_db.ensure_workspace(ctx, workspace)
            peers_db.ensure_peer(ctx, workspace, "alice")
            sessions_db.ensure_session(ctx, workspace, "s")
            return events.append(ctx, workspace, "s", [events.NewEvent("alice", text, "message", {}, None, 3, None)])
        return store.write(op)[0]["id"]

    def conclude(workspace: str, *texts: str) -> None:
        version = store.read(lambda cur: read_version(cur, workspace, "alice"))
        source = say(workspace, "a message the conclusions cite")
        store.write(lambda ctx: insert_conclusions(ctx, [NewConclusion(workspace, "alice", "alice", t, session_id="s",
                                                                       source_ids=[source]) for t in texts], version),
                    scoped=True)

    yield store, trigger, conclude, say
    store.close()


def _dreams(store: Store, workspace: str = "w") -> list[dict]:
    """The workspace's dream records, oldest first, read straight from the table."""
    keys = ("observer_id", "observed_id", "dream_type", "trigger")
    rows = store.read(lambda cur: cur.execute(f"SELECT {', '.join(keys)} FROM dreams WHERE workspace_id = ? "
                                              "ORDER BY finished_at", [workspace]).fetchall())
    return [dict(zip(keys, r)) for r in rows]


def test_a_pair_dreams_after_enough_conclusions_and_quiet(world) -> None:
    store, trigger, conclude, say = world
    conclude("w", "alice keeps bees", "alice lives in Lisbon")
    later = utcnow() + timedelta(minutes=31)  # the workspace has been quiet for 31 minutes
    assert trigger.due(later) == []  # two conclusions: not enough
    conclude("w", "alice plays the oboe")
    assert trigger.due(utcnow()) == []  # enough, but the workspace is still talking
    assert [(w, d.observer, d.observed) for w, d in trigger.due(later)] == [("w", "alice", "alice")]
    assert trigger.run_due(later) == 1
    [dream] = _dreams(store)
    assert (dream["observer_id"], dream["observed_id"], dream["dream_type"], dream["trigger"]) == \
        ("alice", "alice", "omni", "auto")
    version = store.read(lambda cur: read_version(cur, "w", "alice"))
    card = store.read(lambda cur: cards.latest_card(cur, "w", "alice", "alice", version))
    assert card is not None and card["entries"]  # the dream rebuilt the card from the conclusions
    # dreamt: due again only after three new conclusions AND an hour after that dream
    assert trigger.due(later) == []
    conclude("w", "alice adopted a cat", "alice works as a nurse", "alice runs marathons")
    assert trigger.due(utcnow() + timedelta(minutes=31)) == []  # the last dream is less than an hour old
    assert len(trigger.due(utcnow() + timedelta(hours=2))) == 1


def test_a_workspace_that_turned_dreams_off_never_dreams_by_itself(world) -> None:
    store, trigger, conclude, _ = world
    conclude("off", "alice keeps bees", "alice lives in Lisbon", "alice plays the oboe")
    store.write(lambda ctx: workspaces_db.update_workspace(ctx, "off", None, {"dream": {"enabled": False}}))
    assert trigger.due(utcnow() + timedelta(hours=2)) == []
    assert trigger.run_due(utcnow() + timedelta(hours=2)) == 0 and _dreams(store, "off") == []


def test_a_requested_dream_counts_as_the_last_one(world) -> None:
    store, trigger, conclude, _ = world
    conclude("w", "alice keeps bees", "alice lives in Lisbon", "alice plays the oboe")
    trigger.dreams.dream("w", type("Body", (), {"observer": "alice", "observed": None, "dream_type": "card_refresh",
                                                "session_id": None, "rebuild": False})())
    assert [d["trigger"] for d in _dreams(store)] == ["request"]
    assert trigger.due(utcnow() + timedelta(minutes=31)) == []  # nothing new since the requested dream


@pytest.mark.slow
def test_the_worker_dreams_by_itself(tmp_path: Path) -> None:
    fake = FakeModel().start()
    home = tmp_path / "home"
    env = {**reasoning_env(fake), "HONCHO_LOCAL_DREAM_MIN_CONCLUSIONS": "2", "HONCHO_LOCAL_DREAM_MIN_HOURS": "0",
           "HONCHO_LOCAL_DREAM_IDLE_MINUTES": "0", "HONCHO_LOCAL_DREAM_CHECK_SECONDS": "0.1",
           "HONCHO_LOCAL_LOG_LEVEL": "info"}  # the dream's log line is what the test waits on
    server = start_server(home, env=env)
    try:
        sent = httpx.post(f"{server.url}/v3/workspaces/w/sessions/s/messages", json={"messages": [
            {"peer_id": "alice", "content": "I keep bees on my roof."},
            {"peer_id": "alice", "content": "I play the oboe in a band."},
            {"peer_id": "alice", "content": "I adopted a cat named Miso."}]})
        assert sent.status_code == 201, sent.text
        wait_idle(server, "w")
        deadline = time.monotonic() + 300  # a hang guard: the sweep looks every 0.5 s
        while "dream omni (auto) for w/alice/alice" not in server.log():
            assert time.monotonic() < deadline, "the worker never dreamt"
            time.sleep(0.1)
    finally:
        stop_server(server)
        fake.stop()
    store = Store.open(home / "honcho.duckdb")
    try:
        dreamt = _dreams(store)
    finally:
        store.close()
    assert dreamt and (dreamt[0]["observer_id"], dreamt[0]["observed_id"], dreamt[0]["trigger"]) == \
        ("alice", "alice", "auto")
