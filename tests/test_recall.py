"""What chat retrieves (`Dialectic.gather`, served as `POST …/peers/{p}/recall`): message search with
one slot in five given to the source messages of the retrieved conclusions, the same mix at every size."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from honcho_local.schemas_read import RecallBody
from honcho_local.services.dialectic import mix_sources
from honcho_local.wiring import Services
from tests.fake_model import FakeModel
from tests.test_worker import make_services, post


def test_every_fifth_slot_is_a_source_not_already_found() -> None:
    hits = [f"h{i}" for i in range(12)]
    assert mix_sources(hits, ["s1", "s2", "s3"], 10) == ["h0", "h1", "h2", "h3", "s1", "h4", "h5", "h6", "h7", "s2"]
    # a source that search ranks in the top 8 counts as a hit, and the next source gets a slot: the top
    # 5 is hits 1-4 + h6, the top 8 hits 1-7 + s1, the top 10 hits 1-8 + s1, s2
    assert mix_sources(hits, ["h6", "s1", "s2"], 10) == ["h0", "h1", "h2", "h3", "h6", "h4", "h5", "s1", "h7", "s2"]
    assert mix_sources(hits, ["h1", "s1"], 5) == ["h0", "h1", "h2", "h3", "s1"]
    assert mix_sources(hits, [], 4) == hits[:4]
    assert mix_sources(hits, ["s1"], 4) == hits[:4]  # fewer than 5 slots: search alone


def test_one_list_running_out_is_filled_from_the_other() -> None:
    assert mix_sources(["h0", "h1"], ["s1", "s2", "s3"], 10) == ["h0", "h1", "s1", "s2", "s3"]
    assert mix_sources([f"h{i}" for i in range(12)], ["s1"], 10) == ["h0", "h1", "h2", "h3", "s1", *(f"h{i}" for i in range(4, 9))]
    assert mix_sources(["h0"], ["h0"], 10) == ["h0"]


def test_any_prefix_is_the_mix_of_that_size() -> None:
    """The bench scores recall@5/10/20 on one list of 20: each prefix must be what a smaller limit returns."""
    rng = random.Random(7)
    for _ in range(500):
        pool = [f"m{i}" for i in range(40)]
        hits = rng.sample(pool, rng.randint(0, 30))
        sources = rng.sample(pool, rng.randint(0, 30))
        full = mix_sources(hits, sources, 20)
        assert len(full) == len(set(full)) == min(20, len(set(hits) | set(sources)))
        for k in range(1, 21):
            assert mix_sources(hits, sources, k) == full[:k]
        head = hits[:8]
        extra = [s for s in sources if s not in head][:2]
        if len(hits) >= 10 and len(extra) == 2:
            assert set(full[:10]) == set(head) | set(extra)


@pytest.fixture
def svc(tmp_home: Path, model: FakeModel) -> Iterator[Services]:  # noqa: F811
    services = make_services(tmp_home, model)
    yield services
    services.close()


def test_recall_gives_conclusion_sources_slots_search_would_fill(svc: Services) -> None:
    """Twelve bot messages (in two sessions: a deriver call returns at most 8 facts) match the query word for word; alice's own messages do not, but they are the
    sources of alice's conclusions, so they take slots 5 and 10 of alice's recall."""
    weather = [m for s in ("s1", "s2") for m in post(svc, s, *[("bot", f"The weather in Lisbon is sunny, report {i}.")
                                                               for i in range(6)])]
    mine = post(svc, "s3", ("alice", "I adopted a cat named Miso."), ("alice", "My sister lives in Porto."))
    assert svc.worker.drain(30)
    body = RecallBody(query="weather in Lisbon report", limit=10)
    got = svc.dialectic.recall("w", "alice", body)
    ids = [m["id"] for m in got["messages"]]
    sources = {s for c in got["conclusions"] for s in c["message_ids"] or []}
    assert {m["id"] for m in mine} <= sources
    assert len(ids) == 10 and set(ids[:4]) | set(ids[5:9]) <= {m["id"] for m in weather}
    assert {ids[4], ids[9]} == {m["id"] for m in mine}
    assert [m["id"] for m in svc.dialectic.recall("w", "alice", RecallBody(query=body.query, limit=5))["messages"]] \
        == ids[:5]
    # the bot's own sources are the weather reports themselves: its top 10 is all reports
    assert {m["id"] for m in svc.dialectic.recall("w", "bot", body)["messages"]} <= {m["id"] for m in weather}
