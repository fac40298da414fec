"""A long backlog in one session is reasoned (issue 31): every prompt the worker builds fits the model's
window, counted with the model's tokenizer, so a backlog is split into windows that fit instead of one
prompt the model refuses on every retry (240 short messages made a 6,168-token deriver prompt for a
4,096-token context, and the unit ended `failed` with its messages never reasoned)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest

from honcho_local import schemas
from honcho_local.llm.base import ChatRequest
from honcho_local.services import deriver, summarizer
from honcho_local.services.tokens import request_tokens
from honcho_local.store.events import Message
from tests.fake_model import FakeModel
from tests.fake_model import count_tokens as server_tokens
from tests.test_worker import make_services, rows

CONTEXT = 2048
BACKLOG = 1000
# 16 facts of up to 4 lines each: the model can cite every line of a window that fits 2,048 tokens
MAX_FACTS = 16


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel().start()
    fake.context = CONTEXT
    yield fake
    fake.stop()


def _message(i: int, peers: tuple[str, ...]) -> schemas.MessageCreate:
    long = " " + "long words here " * 400 if len(peers) > 1 and i == 500 else ""  # 6,400 characters
    return schemas.MessageCreate(peer_id=peers[i % len(peers)], content=f"msg {i}: I like item {i}{long}")


@pytest.mark.parametrize("peers", [("alice",), ("alice", "bob")], ids=["one peer", "two peers, a long message"])
def test_a_backlog_of_1000_short_messages_is_reasoned_in_windows_that_fit(tmp_home, model: FakeModel,
                                                                          peers: tuple[str, ...]) -> None:
    svc = make_services(tmp_home, model, model_context=CONTEXT, reasoning_max_facts=MAX_FACTS)
    try:
        batch = [_message(i, peers) for i in range(BACKLOG)]
        sent = []
        for start in range(0, BACKLOG, 100):  # queued before the worker runs: one backlog
            sent += svc.ingest.add_messages("w", "s", schemas.MessageBatch(messages=batch[start:start + 100]))
        assert svc.worker.drain(600)
        status = svc.queue_status("w")
        failed = rows(svc, "SELECT task, error FROM reasoning_runs WHERE status = 'failed'")
    finally:
        svc.close()
    assert model.refused == 0 and failed == [], failed
    assert 0 < model.largest <= CONTEXT
    assert (status["pending_work_units"], status["in_progress_work_units"], status["failed_work_units"]) == (0, 0, 0)
    sources = {s for (ids,) in rows_after(tmp_home, "SELECT source_ids FROM conclusions") for s in json.loads(ids)}
    assert {m["id"] for m in sent} <= sources  # every message reasoned
    assert model.calls.count("deriver") > len(peers)  # in several windows


def rows_after(home, sql: str) -> list[tuple]:
    import duckdb

    db = duckdb.connect(str(home / "honcho.duckdb"), read_only=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _lines(contents: list[str]) -> list[deriver.Line]:
    when = datetime(2026, 12, 7, tzinfo=UTC)
    return [deriver.Line(i, f"m{i}", i, "alice", c, when, True) for i, c in enumerate(contents, start=1)]


def test_a_message_longer_than_the_window_is_cut_to_fit() -> None:
    text = " ".join(f"word{i}" for i in range(5000))
    build = partial(deriver.build_request, "alice", max_facts=8, deductions=False)
    [line] = deriver.fit(server_tokens, 1024, 1024, _lines([text, "next one"]), build)
    assert line.content.startswith("word0 word1 ") and line.content.endswith(" …")
    assert request_tokens(server_tokens, build([line])) <= 1024 < request_tokens(server_tokens, build(_lines([text])))


def test_summary_prompts_fit_the_window() -> None:
    when = datetime(2026, 12, 7, tzinfo=UTC)
    messages = [Message(i, f"m{i}", "w", "s", "alice", "message", i, f"msg {i}: I like item {i}", {}, None, 9, when, when)
                for i in range(1000)]
    previous = " ".join(["Alice likes many numbered items."] * 60)
    for kind in ("short", "long"):
        request: ChatRequest = summarizer.build_request(kind, previous, messages, server_tokens, 1024)
        assert request_tokens(server_tokens, request) <= 1024
        assert "msg 999: I like item 999" in request.messages[-1]["content"]  # the newest kept


def test_profile_prompt_fits_the_window() -> None:
    from honcho_local.services import peer_card

    card = [f"ATTRIBUTE: alice likes numbered item {i} " + "x" * 150 for i in range(40)]
    recent = [f"alice said: msg {i}: I like item {i} " + "y" * 200 for i in range(8)]
    request = peer_card.fit_profile(server_tokens, 600, "alice", card, recent)
    ask = request.messages[-1]["content"]
    assert request_tokens(server_tokens, request) <= 600
    assert "numbered item 0 " in ask and "msg 0:" in ask  # the first of each kept
    whole = peer_card.fit_profile(server_tokens, 100_000, "alice", card, recent)
    assert whole.messages == peer_card.profile_request("alice", card, recent).messages


def test_a_repair_turn_quotes_a_bounded_part_of_the_validation_error() -> None:
    """jsonschema's error quotes the offending value whole: the repair turn keeps only its head."""
    from honcho_local.llm.router import MAX_PROBLEM_CHARS, _repair_messages

    request = deriver.build_request("alice", _lines(["I like tea."]), 8, False)
    problem = "does not match the schema: '" + "long words here " * 300 + "' is too long"
    turn = _repair_messages(request, '{"facts": []}', problem)[-1]["content"]
    assert len(turn) < MAX_PROBLEM_CHARS + 100 and turn.startswith("That output is does not match the schema: 'long")
