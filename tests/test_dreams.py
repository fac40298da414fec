"""Dreams on request (`POST /v3/workspaces/{w}/schedule_dream`, issue 35) against a live server whose worker
reasons with the fake model, called with the official SDK (`honcho.schedule_dream`) and raw HTTP. A dream
does real work on the named pair only: a conclusion that restates another speaker's line is retired, a
relative date is rewritten, the card is rebuilt and the profile rewritten; `card_refresh` with `rebuild`
leaves out the entries a user wrote; bad requests change nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from honcho import Honcho

from honcho_local.services.versions import read_version
from honcho_local.store import Store
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_worker_live import reasoning_env, wait_idle

W = "/v3/workspaces/w"


def dream_env(fake: FakeModel) -> dict[str, str]:
    """The worker reasons with `fake`, and dreams decide knowledge updates (off by default: decisions/008)."""
    return {**reasoning_env(fake), "HONCHO_LOCAL_DREAM_MAX_DECISIONS": "40"}
MISATTRIBUTED = "alice is starting a dance studio downtown"
RELATIVE = "alice went hiking yesterday"


def _plant(home: Path, messages: list[dict]) -> None:
    """Two explicit conclusions the deriver's checks would not have let through, written while the server is
    stopped: one citing alice's question but saying what bob said, one with a relative date."""
    store = Store.open(home / "honcho.duckdb")
    try:
        version = store.read(lambda cur: read_version(cur, "w", "alice"))
        said = datetime.fromisoformat(messages[2]["created_at"].replace("Z", "+00:00")).replace(tzinfo=None)
        store.write(lambda ctx: insert_conclusions(ctx, [
            NewConclusion("w", "alice", "alice", MISATTRIBUTED, session_id="s1", source_ids=[messages[0]["id"]]),
            NewConclusion("w", "alice", "alice", RELATIVE, session_id="s1", source_ids=[messages[2]["id"]],
                          observed_at=said)],
            version), scoped=True)
    finally:
        store.close()


@pytest.fixture(scope="module")
def dreamer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, FakeModel]]:
    fake = FakeModel().start()
    home = tmp_path_factory.mktemp("dreams")
    srv = start_server(home, env=dream_env(fake))
    sent = httpx.post(f"{srv.url}{W}/sessions/s1/messages", json={"messages": [
        {"peer_id": "alice", "content": "What got you into this?"},
        {"peer_id": "bob", "content": "I am starting a dance studio downtown"},
        {"peer_id": "alice", "content": "I went hiking yesterday"},
        {"peer_id": "alice", "content": "I adopted a cat named Miso"}]})
    assert sent.status_code == 201, sent.text
    wait_idle(srv, "w")
    stop_server(srv)
    _plant(home, sent.json())
    srv = start_server(home, env=dream_env(fake))
    yield srv, fake
    stop_server(srv)
    fake.stop()


def _conclusions(srv: LiveServer, observed: str) -> dict[str, dict]:
    body = {"filters": {"observer_id": observed, "observed_id": observed}}
    return {c["id"]: c for c in httpx.post(f"{srv.url}{W}/conclusions/list", json=body).json()["items"]}


def _card(srv: LiveServer, peer: str) -> list[str] | None:
    return httpx.get(f"{srv.url}{W}/peers/{peer}/card").json()["peer_card"]


def test_omni_dream_consolidates_the_named_pair_only(dreamer) -> None:
    srv, fake = dreamer
    before = _conclusions(srv, "alice")
    bob_before, bob_card = _conclusions(srv, "bob"), _card(srv, "bob")
    [wrong] = [i for i, c in before.items() if c["content"] == MISATTRIBUTED]
    [relative] = [i for i, c in before.items() if c["content"] == RELATIVE]
    profiles = fake.calls.count("peer_profile")
    fake.hold()  # the dream's model calls wait: the request is answered before the dream has run
    assert Honcho(base_url=srv.url, workspace_id="w").schedule_dream("alice") is None
    status = httpx.get(f"{srv.url}{W}/queue/status", params={"observer_id": "alice"}).json()
    assert status["pending_work_units"] == 1, status
    fake.release()
    wait_idle(srv, "w")
    after = _conclusions(srv, "alice")
    assert wrong not in after and set(after) == set(before) - {wrong}
    assert httpx.get(f"{srv.url}{W}/conclusions/{wrong}").status_code == 404
    assert "yesterday" not in after[relative]["content"] and after[relative]["content"].startswith("alice went hiking")
    card = _card(srv, "alice")
    assert card and not any("dance studio" in entry for entry in card)
    assert fake.calls.count("peer_profile") == profiles + 1
    profile_prompt = [p for p in fake.prompts if "What is known about alice:" in p][-1]
    first_fact = next(line[2:] for line in profile_prompt.splitlines() if line.startswith("- "))
    representation = httpx.get(f"{srv.url}{W}/peers/alice/context").json()["representation"]
    assert f"{first_fact}." in representation and "talks a lot" not in representation
    assert _conclusions(srv, "bob") == bob_before and _card(srv, "bob") == bob_card  # another pair: untouched


def test_card_refresh_and_rebuild(dreamer) -> None:
    srv, _ = dreamer
    pinned = "INSTRUCTION: call her Al"
    assert httpx.put(f"{srv.url}{W}/peers/alice/card", json={"peer_card": [pinned]}).status_code == 200
    conclusions = _conclusions(srv, "alice")
    r = httpx.post(f"{srv.url}{W}/schedule_dream", json={"observer": "alice", "dream_type": "card_refresh"})
    assert r.status_code == 204 and r.content == b""
    wait_idle(srv, "w")
    kept = _card(srv, "alice")
    assert kept[0] == pinned and len(kept) > 1  # the user's entry, then entries built from the conclusions
    r = httpx.post(f"{srv.url}{W}/schedule_dream",
                   json={"observer": "alice", "observed": "alice", "dream_type": "card_refresh", "rebuild": True})
    assert r.status_code == 204
    wait_idle(srv, "w")
    assert _card(srv, "alice") == kept[1:]  # rebuilt from the conclusions alone
    assert _conclusions(srv, "alice") == conclusions  # a card refresh retires nothing


def test_refusals_change_nothing(dreamer) -> None:
    srv, _ = dreamer
    state = (_conclusions(srv, "alice"), _card(srv, "alice"))
    bad = [({"observer": "carol", "dream_type": "omni"}, 404, "carol"),
           ({"observer": "alice", "observed": "carol", "dream_type": "omni"}, 404, "carol"),
           ({"observer": "alice", "dream_type": "omni", "session_id": "nope"}, 404, "nope"),
           ({"observer": "alice", "dream_type": "nap"}, 422, "dream_type"),
           ({"observer": "alice"}, 422, "dream_type"),
           ({"observer": "alice", "dream_type": "omni", "rebuild": "yes"}, 422, "rebuild")]
    for body, status, words in bad:
        r = httpx.post(f"{srv.url}{W}/schedule_dream", json=body)
        assert r.status_code == status and words in r.json()["detail"], (body, r.text)
    r = httpx.post(f"{srv.url}/v3/workspaces/nowhere/schedule_dream", json={"observer": "a", "dream_type": "omni"})
    assert r.status_code == 404
    # a pair nothing is known about gets no card (Honcho's case observation_3peer_multiple_observers_one_observed)
    r = httpx.post(f"{srv.url}{W}/schedule_dream", json={"observer": "alice", "observed": "bob", "dream_type": "omni"})
    assert r.status_code == 204
    wait_idle(srv, "w")
    assert httpx.get(f"{srv.url}{W}/peers/alice/card", params={"target": "bob"}).json()["peer_card"] is None
    off = httpx.put(f"{srv.url}{W}", json={"configuration": {"dream": {"enabled": False}}})
    assert off.status_code == 200, off.text
    r = httpx.post(f"{srv.url}{W}/schedule_dream", json={"observer": "alice", "dream_type": "omni"})
    assert r.status_code == 400 and "dream.enabled" in r.json()["detail"]
    assert httpx.put(f"{srv.url}{W}", json={"configuration": {"dream": {"enabled": True}}}).status_code == 200
    assert (_conclusions(srv, "alice"), _card(srv, "alice")) == state


def _say_a_move(srv: LiveServer, workspace: str) -> list[dict]:
    """Alice says where she lives, then, two months later, that she moved; the worker reasons over both."""
    sent = httpx.post(f"{srv.url}/v3/workspaces/{workspace}/sessions/s/messages", json={"messages": [
        {"peer_id": "alice", "content": "I live in Lisbon, near the river.", "created_at": "2024-01-10T10:00:00Z"},
        {"peer_id": "alice", "content": "I moved from Lisbon to Porto last week.",
         "created_at": "2024-03-10T10:00:00Z"}]})
    assert sent.status_code == 201, sent.text
    wait_idle(srv, workspace)
    return sent.json()


def test_omni_dream_supersedes_an_outdated_fact_and_keeps_its_history(dreamer) -> None:
    """A move said two months later retires the old address (through the server's real embedder and the
    fake model's decision); the deductive conclusion that records it cites both, and its provenance shows
    the retired one as superseded."""
    srv, fake = dreamer
    M = "/v3/workspaces/moves"
    sent = _say_a_move(srv, "moves")

    def conclusions() -> dict[str, dict]:
        body = {"filters": {"observer_id": "alice", "observed_id": "alice"}}
        return {c["content"]: c for c in httpx.post(f"{srv.url}{M}/conclusions/list", json=body).json()["items"]}

    before = conclusions()
    [old] = [c for text, c in before.items() if "near the river" in text]
    [new] = [c for text, c in before.items() if "moved from Lisbon" in text]
    decisions = fake.calls.count("dream_update")
    assert Honcho(base_url=srv.url, workspace_id="moves").schedule_dream("alice") is None
    wait_idle(srv, "moves")
    assert fake.calls.count("dream_update") == decisions + 1
    after = conclusions()
    assert old["content"] not in after and new["content"] in after
    [deduction] = [c for c in after.values() if c["level"] == "deductive"]
    assert deduction["content"].startswith("As of 2024-03-10,") and deduction["source_ids"] == [old["id"], new["id"]]
    provenance = httpx.get(f"{srv.url}{M}/conclusions/{deduction['id']}/sources").json()
    assert [p.get("superseded_by") for p in provenance["premises"]] == [new["id"], None]
    assert {m["id"] for m in provenance["messages"]} == {m["id"] for m in sent}


def test_a_dream_asked_for_survives_kill_9(tmp_path: Path) -> None:
    """The request is stored before the 204: a server killed while the dream waits on the model runs it
    after the restart."""
    fake = FakeModel().start()
    srv = start_server(tmp_path, env=dream_env(fake))
    try:
        _say_a_move(srv, "k")
        fake.hold()
        r = httpx.post(f"{srv.url}/v3/workspaces/k/schedule_dream", json={"observer": "alice", "dream_type": "omni"})
        assert r.status_code == 204
        assert srv.kill(signal.SIGKILL) == -signal.SIGKILL
        fake.release()
        srv = start_server(tmp_path, env=dream_env(fake))
        wait_idle(srv, "k")
        body = {"filters": {"observer_id": "alice", "observed_id": "alice"}}
        levels = {c["content"]: c["level"] for c in httpx.post(f"{srv.url}/v3/workspaces/k/conclusions/list",
                                                               json=body).json()["items"]}
        assert not any("near the river" in c for c, level in levels.items() if level == "explicit"), levels
        assert any(c.startswith("As of") for c, level in levels.items() if level == "deductive"), levels
    finally:
        stop_server(srv)
        fake.stop()
