"""Conclusion attribution as Honcho names it (issue 35 item 2), against a live server whose worker reasons
with the fake model, read through the official honcho-ai SDK and raw HTTP: `source_ids` are the conclusions
a conclusion was derived from (null for explicit ones), `times_derived` counts repeats, `level` says which
kind; `GET …/conclusions/{id}`; `{"source_ids": {"contains": id}}` on list and query (the SDK's `derived`),
`{"id": {"in": [...]}}` (the SDK's `get_many`); `message_ids` (extension) the messages it was drawn from."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from honcho import Honcho
from honcho.http.exceptions import NotFoundError

from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import ABOUT, FakeModel
from tests.test_worker_live import reasoning_env, wait_idle

W = "/v3/workspaces/w"
KEYS = {"id", "content", "observer_id", "observed_id", "session_id", "level", "source_ids", "times_derived",
        "created_at", "message_ids"}


class Deducing(FakeModel):
    """The fake deriver, plus one inference resting on the first two facts."""

    def answer(self, payload: dict) -> str:
        text = super().answer(payload)
        if self.calls[-1] != "deriver":
            return text
        out = json.loads(text)
        peer = ABOUT.search("\n".join(m["content"] for m in payload["messages"])).group(1)
        if len(out["facts"]) >= 2:
            out["inferences"] = [{"conclusion": f"{peer} leads an outdoor life", "from_facts": [1, 2]}]
        return json.dumps(out)


@pytest.fixture(scope="module")
def reasoned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    fake = Deducing().start()
    srv = start_server(tmp_path_factory.mktemp("attribution"), env=reasoning_env(fake))
    try:
        sent = httpx.post(f"{srv.url}{W}/sessions/s1/messages", json={"messages": [
            {"peer_id": "alice", "content": "I keep bees on my roof"},
            {"peer_id": "alice", "content": "I hike every weekend"}]})
        assert sent.status_code == 201, sent.text
        wait_idle(srv, "w")
        yield srv, {"messages": [m["id"] for m in sent.json()]}
    finally:
        stop_server(srv)
        fake.stop()


def _conclusions(srv: LiveServer, filters: dict | None = None) -> list[dict]:
    r = httpx.post(f"{srv.url}{W}/conclusions/list", json={"filters": filters} if filters else {})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_fields_as_honcho_names_them(reasoned) -> None:
    srv, sent = reasoned
    rows = _conclusions(srv)
    explicit = [c for c in rows if c["level"] == "explicit"]
    [deduced] = [c for c in rows if c["level"] == "deductive"]
    assert len(explicit) == 2 and all(set(c) == KEYS for c in rows)
    assert all(c["source_ids"] is None and c["times_derived"] == 1 for c in explicit)
    assert sorted(m for c in explicit for m in c["message_ids"]) == sorted(sent["messages"])
    assert sorted(deduced["source_ids"]) == sorted(c["id"] for c in explicit)
    assert sorted(deduced["message_ids"]) == sorted(sent["messages"])
    got = httpx.get(f"{srv.url}{W}/conclusions/{deduced['id']}")
    assert got.status_code == 200 and got.json() == deduced
    missing = httpx.get(f"{srv.url}{W}/conclusions/nosuchconclusion")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]


def test_sdk_get_get_many_and_derived(reasoned) -> None:
    srv, _ = reasoned
    honcho = Honcho(base_url=srv.url, workspace_id="w")
    view = honcho.peer("alice").conclusions
    [deduced] = [c for c in view.list() if c.level == "deductive"]
    got = view.get(deduced.id)
    assert (got.level, got.times_derived, sorted(got.source_ids)) == ("deductive", 1, sorted(deduced.source_ids))
    premises = view.get_many(deduced.source_ids)
    assert sorted(p.id for p in premises) == sorted(deduced.source_ids)
    assert all(p.level == "explicit" and p.source_ids is None for p in premises)
    for premise in deduced.source_ids:
        assert [c.id for c in view.derived(premise)] == [deduced.id]
    assert list(view.derived(deduced.id)) == []  # nothing rests on the deduction
    assert list(view.derived("nosuchconclusion")) == []
    with pytest.raises(NotFoundError):
        view.get("nosuchconclusion")


def test_source_filters_on_list_and_query(reasoned) -> None:
    srv, sent = reasoned
    rows = _conclusions(srv)
    [deduced] = [c for c in rows if c["level"] == "deductive"]
    premise = deduced["source_ids"][0]
    assert [c["id"] for c in _conclusions(srv, {"source_ids": {"contains": premise}})] == [deduced["id"]]
    assert _conclusions(srv, {"source_ids": {"contains": premise[:6]}}) == []  # a whole id, not a substring
    by_message = _conclusions(srv, {"message_ids": {"contains": sent["messages"][0]}})
    assert {c["level"] for c in by_message} == {"explicit", "deductive"} and len(by_message) == 2
    pair = {"observer_id": "alice", "observed_id": "alice"}
    found = httpx.post(f"{srv.url}{W}/conclusions/query", json={
        "query": "outdoor life", "top_k": 10, "filters": {**pair, "source_ids": {"contains": premise}}})
    assert found.status_code == 200 and [c["id"] for c in found.json()] == [deduced["id"]]
    for bad in ({"source_ids": premise}, {"source_ids": {"in": [premise]}}, {"source_ids": {"contains": 3}}):
        r = httpx.post(f"{srv.url}{W}/conclusions/list", json={"filters": bad})
        assert r.status_code == 422 and "source_ids" in r.json()["detail"], (bad, r.text)


def test_times_derived_counts_repeats(reasoned) -> None:
    srv, _ = reasoned
    body = {"conclusions": [{"content": "alice is allergic to wasps", "observer_id": "alice", "observed_id": "alice"}]}
    first = httpx.post(f"{srv.url}{W}/conclusions", json=body).json()[0]
    again = httpx.post(f"{srv.url}{W}/conclusions", json=body).json()[0]
    assert again["id"] == first["id"] and (first["times_derived"], again["times_derived"]) == (1, 2)
    assert httpx.get(f"{srv.url}{W}/conclusions/{first['id']}").json()["times_derived"] == 2
