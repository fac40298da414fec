"""Poison input cannot stall the worker (issue 31): messages dated at the calendar's edges are reasoned,
and a failure of any type inside a work unit is recorded once (metrics, run record, queue status with
its error and attempts) and waits out its backoff instead of re-running in a loop of model calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path


from honcho_local import metrics, schemas
from honcho_local.config import load_settings
from honcho_local.llm.fake import FakeEmbedder, FakeLLM
from honcho_local.store import Store, units
from honcho_local.wiring import Services, build_services
from tests.fake_model import FakeModel
from tests.test_worker import make_services, rows

WAIT_S = 300  # a deadline no busy machine misses; the tests wait on counters, never on time


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "condition never reached"
        time.sleep(0.01)


def post_at(svc: Services, session: str, peer: str, content: str, when: datetime) -> str:
    batch = schemas.MessageBatch(messages=[schemas.MessageCreate(peer_id=peer, content=content, created_at=when)])
    return svc.ingest.add_messages("w", session, batch)[0]["id"]


def failing_services(home: Path, llm: FakeLLM) -> Services:
    """Services with a running worker that sweeps every few milliseconds and a one-hour retry backoff."""
    settings = load_settings(home, env={}, reasoning_retry_backoff=3600, worker_poll_interval=0.01,
                             summary_enabled=False)
    svc = build_services(settings, with_worker=True, llm=llm, embedder_factory=FakeEmbedder)
    svc.worker.start()
    return svc


def test_messages_dated_at_the_calendars_edges_are_reasoned(tmp_home: Path, model: FakeModel) -> None:
    """The poison messages of issue 31: "yesterday" said on 0001-01-01 and "tomorrow" on 9999-12-31
    raised OverflowError in the date rewriting on every run of their unit."""
    svc = make_services(tmp_home, model)
    try:
        first = post_at(svc, "old", "alice", "I lost my job yesterday.", datetime(1, 1, 1, tzinfo=UTC))
        last = post_at(svc, "late", "alice", "I start a new job tomorrow.", datetime(9999, 12, 31, 23, tzinfo=UTC))
        assert svc.worker.drain(60)
        assert sorted(rows(svc, "SELECT content, source_ids FROM conclusions")) == [
            ("alice said: I lost my job on 1 January 1.", f'["{first}"]'),
            ("alice said: I start a new job on 31 December 9999.", f'["{last}"]')]
        status = svc.queue_status("w")
        assert (status["failed_work_units"], status["pending_work_units"], status["errors"]) == (0, 0, [])
    finally:
        svc.close()


def test_a_failure_of_any_type_is_recorded_once_and_the_unit_waits_its_backoff(tmp_home: Path) -> None:
    llm = FakeLLM([OverflowError("date value out of range")] * 2)  # not one of the project's errors
    model_errors, units_failed = metrics.MODEL_ERRORS.labels("deriver"), metrics.UNITS_FAILED
    errors_before, failed_before = model_errors._value.get(), units_failed._value.get()
    svc = failing_services(tmp_home, llm)
    try:
        post_at(svc, "s", "alice", "I lost my job yesterday.", datetime(1, 1, 1, tzinfo=UTC))
        wait_for(lambda: svc.queue_status("w")["failed_work_units"] == 1)
        swept = svc.worker.sweeps
        post_at(svc, "s", "alice", "And my keys.", datetime(1, 1, 1, tzinfo=UTC))  # wakes the unit again
        wait_for(lambda: svc.worker.sweeps >= swept + 20 and not svc.worker.running())
        assert len(llm.requests) == 1  # neither the sweeps nor the new message re-ran it
        status = svc.queue_status("w")
        assert (status["failed_work_units"], status["in_progress_work_units"], status["pending_work_units"]) == (1, 0, 0)
        [error] = status["errors"]
        assert error["work_unit"] == "representation:v1:w:s:alice" and error["attempts"] == 1
        assert error["error"] == "deriver: OverflowError: date value out of range"
        assert rows(svc, "SELECT task, status, error FROM reasoning_runs") == [
            ("deriver", "failed", "OverflowError: date value out of range")]
        assert model_errors._value.get() - errors_before == 1 and units_failed._value.get() - failed_before == 1
        # past its backoff it runs once more, fails again and waits twice as long
        backoff_over(svc)
        wait_for(lambda: rows(svc, "SELECT attempts FROM work_units WHERE status = 'failed'") == [(2,)])
        [(waits,)] = rows(svc, "SELECT next_attempt_at - updated_at FROM work_units WHERE status = 'failed'")
        assert waits == timedelta(hours=1) and len(llm.requests) == 2
        backoff_over(svc)  # the model answers now: the unit catches up and its failure is cleared
        wait_for(lambda: svc.queue_status("w")["completed_work_units"] == 2)
        assert svc.queue_status("w")["errors"] == [] and len(llm.requests) == 3
    finally:
        svc.close()


def backoff_over(svc: Services) -> None:
    """Move the failed units' next attempt into the past (what an hour of waiting would do)."""
    svc.store.write(lambda ctx: ctx.conn.execute(
        "UPDATE work_units SET next_attempt_at = next_attempt_at - INTERVAL 10 HOUR WHERE status = 'failed'"))


def test_a_crash_outside_a_model_call_fails_the_unit_with_its_error(tmp_home: Path, model: FakeModel) -> None:
    """An embedder that raises something other than the project's errors, after the deriver's call
    (representation unit) and while embedding messages (summary unit): each unit fails visibly."""

    class BrokenEmbedder(FakeEmbedder):
        def embed(self, texts, kind="document"):
            raise RuntimeError("embedder bug")

    settings = load_settings(tmp_home, env={}, reasoning_model="openai:fake", openai_base_url=model.url)
    svc = build_services(settings, with_worker=True, embedder_factory=BrokenEmbedder)
    try:
        post_at(svc, "s", "alice", "I moved to Lisbon.", datetime(2024, 5, 1, tzinfo=UTC))
        assert not svc.worker.drain(10)
        assert model.calls.count("deriver") == 1  # a crash is not retried within the run
        status = svc.queue_status("w")
        assert status["failed_work_units"] == 2 and sorted(e["error"] for e in status["errors"]) == [
            "representation: RuntimeError: embedder bug", "summary: RuntimeError: embedder bug"]
        assert sorted(rows(svc, "SELECT task, status, error FROM reasoning_runs WHERE status = 'failed'")) == [
            ("representation", "failed", "RuntimeError: embedder bug"),
            ("summary", "failed", "RuntimeError: embedder bug")]
        assert rows(svc, "SELECT count(*) FROM conclusions") == [(0,)]  # nothing half-written
        # a worker driven directly runs what it is given, in its backoff or not (as `reprocess` does)
        svc.worker.run("representation:v1:w:s:alice")
        attempts = {e["work_unit"]: e["attempts"] for e in svc.queue_status("w")["errors"]}
        assert model.calls.count("deriver") == 2 and attempts == {"representation:v1:w:s:alice": 2, "summary:v1:w:s": 1}
    finally:
        svc.close()


def test_a_unit_whose_failure_cannot_be_recorded_is_held_back(tmp_home: Path, monkeypatch) -> None:
    """When even the failure's record fails (the store refuses the write), the worker holds the unit
    out of its queue for the backoff instead of re-running it on every sweep."""
    llm = FakeLLM([OverflowError("date value out of range")] * 5)
    svc = failing_services(tmp_home, llm)

    def refuse(*args, **kwargs):
        raise RuntimeError("the store refused the write")

    monkeypatch.setattr(svc.reasoner.calls, "fail", refuse)
    try:
        post_at(svc, "s", "alice", "I lost my job yesterday.", datetime(1, 1, 1, tzinfo=UTC))
        wait_for(lambda: len(llm.requests) == 1 and not svc.worker.running())
        swept = svc.worker.sweeps
        wait_for(lambda: svc.worker.sweeps >= swept + 20)
        assert len(llm.requests) == 1
    finally:
        svc.close()


def test_each_further_failure_doubles_the_wait_up_to_an_hour(store: Store) -> None:
    key = units.UnitKey("representation", "v1", "w", "s", "alice")
    waits = []
    for _ in range(4):
        store.write(lambda ctx: units.mark_failed(ctx, key, "boom", timedelta(seconds=1000)))
        waits.append(store.read(lambda cur: cur.execute(
            "SELECT next_attempt_at - updated_at FROM work_units").fetchone()[0]))
    assert waits == [timedelta(seconds=s) for s in (1000, 2000, 3600, 3600)]
    unit = store.read(lambda cur: units.get_unit(cur, str(key)))
    assert unit["attempts"] == 4 and units.in_backoff(unit)
    assert not units.in_backoff(unit, now=unit["next_attempt_at"] + timedelta(seconds=1))
