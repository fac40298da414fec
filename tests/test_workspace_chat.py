"""Workspace chat (`POST /v3/workspaces/{w}/chat`, Honcho 3.2; issue 35) against a live server with the
fake model, driven by the official honcho-ai SDK (`honcho.chat`, `honcho.chat_stream`): the answer is built
from every peer's conclusions, cards and messages in the workspace, `session` confines the messages, the
evidence object names what was read, and bad requests are 4xx before any model call. Also peer chat's
session allowlist (`filters: {"session_id": [...]}`, the SDK's `sessions=`), which confines recall the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from honcho import Honcho

from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_worker_live import wait_idle


class Numbered(FakeModel):
    """Answers each chat with its own number: an answer is traceable to the prompt that produced it."""

    def answer(self, payload: dict) -> str:
        return f"answer number {len(self.prompts)}"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModel]:
    model = Numbered().start()
    yield model
    model.stop()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory, fake: FakeModel) -> Iterator[LiveServer]:
    # reasoning off: the worker derives nothing, so the conclusions are exactly the ones the test writes
    srv = start_server(tmp_path_factory.mktemp("wchat"), env=fake.env())
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def world(chat_server: LiveServer) -> dict:
    """alice (bees in session s1, a cat in s2) and bob (cello, s2), each fact a conclusion; both with a card."""
    honcho = Honcho(base_url=chat_server.url, workspace_id="w")
    alice, bob = honcho.peer("alice"), honcho.peer("bob")
    honcho.session("s1").add_messages([alice.message("I keep bees on my roof in Lisbon")])
    honcho.session("s2").add_messages([bob.message("I practise the cello every evening"),
                                       alice.message("My cat Miso sleeps on the piano")])
    made = httpx.post(f"{chat_server.url}/v3/workspaces/w/conclusions", json={"conclusions": [
        {"content": "alice keeps bees in Lisbon", "observer_id": "alice", "observed_id": "alice", "session_id": "s1"},
        {"content": "alice has a cat named Miso", "observer_id": "alice", "observed_id": "alice", "session_id": "s2"},
        {"content": "bob plays the cello", "observer_id": "bob", "observed_id": "bob", "session_id": "s2"}]})
    assert made.status_code == 201, made.text
    bob.set_card(["Cellist"])
    alice.set_card(["Beekeeper"])
    wait_idle(chat_server, "w")  # messages embedded: vector search sees them all
    return {"honcho": honcho, "conclusions": {c["content"]: c["id"] for c in made.json()}}


def _last_prompt(fake: FakeModel, before: int) -> str:
    assert len(fake.prompts) == before + 1, "one model call per chat"
    return fake.prompts[-1]


def test_answer_reads_every_peer(world: dict, fake: FakeModel) -> None:
    honcho: Honcho = world["honcho"]
    before = len(fake.prompts)
    answer = honcho.chat("Who keeps bees and who plays music?", include_evidence=True)
    prompt = _last_prompt(fake, before)
    for expected in ("(about alice) alice keeps bees in Lisbon", "(about bob) bob plays the cello", "bob: Cellist",
                     "alice: I keep bees on my roof in Lisbon", "bob: I practise the cello every evening"):
        assert expected in prompt
    assert answer.content == f"answer number {before + 1}"
    evidence = answer.evidence
    assert {c.id for c in evidence.conclusions} == set(world["conclusions"].values())
    assert {(c.observer_id, c.observed_id, c.level) for c in evidence.conclusions} == {
        ("alice", "alice", "explicit"), ("bob", "bob", "explicit")}
    assert {m.session_id for m in evidence.messages} == {"s1", "s2"}
    assert evidence.tool_calls == []
    plain = honcho.chat("Who keeps bees?")
    assert isinstance(plain, str) and plain


def test_session_confines_messages(world: dict, fake: FakeModel) -> None:
    before = len(fake.prompts)
    answer = world["honcho"].chat("What does bob play?", session="s1", include_evidence=True)
    prompt = _last_prompt(fake, before)
    assert "I practise the cello" not in prompt and "I keep bees on my roof" in prompt
    assert {m.session_id for m in answer.evidence.messages} == {"s1"}
    assert "(about bob) bob plays the cello" in prompt  # conclusions stay workspace-wide, as in Honcho


def test_stream(world: dict, fake: FakeModel) -> None:
    before = len(fake.prompts)
    stream = world["honcho"].chat_stream("Who keeps bees?", include_evidence=True)
    text = "".join(stream)
    prompt = _last_prompt(fake, before)
    assert text == f"answer number {before + 1}" and "bees" in prompt
    assert stream.evidence is not None and {c.id for c in stream.evidence.conclusions} == set(
        world["conclusions"].values())


def test_refusals_before_any_model_call(chat_server: LiveServer, world: dict, fake: FakeModel) -> None:
    before = len(fake.prompts)
    bad = [("/v3/workspaces/nowhere/chat", {"query": "hi"}, 404, "workspace"),
           ("/v3/workspaces/w/chat", {"query": "hi", "session_id": "nope"}, 404, "session"),
           ("/v3/workspaces/w/chat", {"query": "hi", "reasoning_level": "extreme"}, 422, "reasoning_level"),
           ("/v3/workspaces/w/chat", {"query": ""}, 422, "query"),
           ("/v3/workspaces/w/chat", {"query": "hi", "stream": "yes"}, 422, "stream"),
           ("/v3/workspaces/w/chat", {"query": "hi", "response_format": {"type": "array"}}, 422, "response_format"),
           ("/v3/workspaces/w/chat", {"query": "hi", "scope": "nowhere"}, 404, "scope"),
           ("/v3/workspaces/w/chat", {"query": "hi", "scope": []}, 422, "scope"),
           ("/v3/workspaces/w/chat", {"query": "hi", "scope": "roof", "session_id": "s1"}, 422, "mutually exclusive"),
           ("/v3/workspaces/w/peers/alice/chat", {"query": "hi", "scope": "roof", "filters": {"session_id": "s1"}},
            422, "mutually exclusive")]
    httpx.post(chat_server.url + "/v3/workspaces/w/scopes", json={"id": "roof"})
    for path, body, status, words in bad:
        r = httpx.post(chat_server.url + path, json=body)
        assert r.status_code == status and words in json.loads(r.text)["detail"], (body, r.status_code, r.text)
    assert len(fake.prompts) == before


def test_peer_chat_session_allowlist(chat_server: LiveServer, world: dict, fake: FakeModel) -> None:
    alice = world["honcho"].peer("alice")
    before = len(fake.prompts)
    alice.chat("What pets and hobbies does alice have?")
    everything = _last_prompt(fake, before)
    assert "Miso" in everything and "keeps bees" in everything and "Beekeeper" in everything
    before = len(fake.prompts)
    answer = alice.chat("What pets and hobbies does alice have?", sessions=["s1"], include_evidence=True)
    confined = _last_prompt(fake, before)
    assert "keeps bees" in confined and "Miso" not in confined and "piano" not in confined
    assert "Beekeeper" not in confined  # a card carries no per-session provenance: left out, as in Honcho
    assert {c.session_id for c in answer.evidence.conclusions} == {"s1"}
    assert {m.session_id for m in answer.evidence.messages} <= {"s1"}
    before = len(fake.prompts)
    r = httpx.post(f"{chat_server.url}/v3/workspaces/w/peers/alice/chat",
                   json={"query": "What does alice do?", "filters": {"session_id": {"in": []}}})
    assert r.status_code == 200  # an empty allowlist fails closed: nothing recalled
    nothing = _last_prompt(fake, before)
    assert "bees" not in nothing and "Miso" not in nothing
    before = len(fake.prompts)
    bad = [({"filters": {"peer_id": "alice"}}, "only 'session_id'"),
           ({"filters": {"session_id": ["s1"]}, "session_id": "s2"}, "must be one of"),
           ({"filters": {"session_id": {"nin": ["s1"]}}}, "session_id"),
           ({"filters": {"session_id": [f"s{i}" for i in range(1001)]}}, "at most 1,000")]
    for extra, words in bad:
        r = httpx.post(f"{chat_server.url}/v3/workspaces/w/peers/alice/chat", json={"query": "hi", **extra})
        assert r.status_code == 422 and words in r.json()["detail"], (extra, r.text)
    assert len(fake.prompts) == before


def test_scope_confines_workspace_and_peer_chat(chat_server: LiveServer, world: dict, fake: FakeModel) -> None:
    """`scope` (Honcho 3.1): recall confined to the scope's member sessions, in workspace chat and peer chat; a
    list of scopes is the union of their members; an empty scope recalls nothing."""
    honcho: Honcho = world["honcho"]
    roof = honcho.scope("roof")
    roof.add_sessions(["s1"])
    honcho.scope("empty")
    before = len(fake.prompts)
    answer = honcho.chat("Who keeps bees and who plays music?", scope="roof", include_evidence=True)
    prompt = _last_prompt(fake, before)
    assert "alice keeps bees in Lisbon" in prompt and "I keep bees on my roof" in prompt
    assert "cello" not in prompt and "Miso" not in prompt and "Cellist" not in prompt  # no card: drawn from every session
    assert {c.session_id for c in answer.evidence.conclusions} == {"s1"}
    assert {m.session_id for m in answer.evidence.messages} == {"s1"}
    before = len(fake.prompts)
    answer = world["honcho"].peer("alice").chat("What pets and hobbies does alice have?", scope="roof",
                                                include_evidence=True)
    confined = _last_prompt(fake, before)
    assert "keeps bees" in confined and "Miso" not in confined and "Beekeeper" not in confined
    assert {c.session_id for c in answer.evidence.conclusions} == {"s1"}
    before = len(fake.prompts)
    world["honcho"].peer("alice").chat("What pets does alice have?", scope=["roof", "empty"])
    assert "Miso" not in _last_prompt(fake, before)
    before = len(fake.prompts)
    honcho.chat("Who keeps bees?", scope="empty")
    nothing = _last_prompt(fake, before)
    assert "bees" not in nothing.replace("Who keeps bees?", "") and "cello" not in nothing
