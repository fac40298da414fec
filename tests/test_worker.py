"""The reasoning pipeline in-process on a real DuckDB file, with a scripted OpenAI-compatible model
server on 127.0.0.1 behind the real provider: derivation, provenance, de-duplication, observation
rules, summaries, peer cards, exactly-once processing, failures and retries."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from honcho_local import schemas
from honcho_local.config import load_settings
from honcho_local.llm.fake import FakeEmbedder
from honcho_local.wiring import Services, build_services
from tests.fake_model import FakeModel
from tests.test_worker_live import wait_for


def make_services(home: Path, model: FakeModel, **overrides) -> Services:
    settings = load_settings(home, env={}, **{
        "reasoning_model": "openai:fake", "openai_base_url": model.url, "reasoning_retry_backoff": 0.05,
        "summary_short_every": 4, "summary_long_every": 8, "peer_card_every": 2, **overrides})
    services = build_services(settings, with_worker=True, embedder_factory=lambda: FakeEmbedder())
    services.reasoner.calls.sleep = lambda s: None  # no real waiting between retries
    return services


@pytest.fixture
def svc(tmp_home: Path, model: FakeModel) -> Iterator[Services]:
    services = make_services(tmp_home, model)
    yield services
    services.close()


def post(svc: Services, session: str, *messages: tuple[str, str], ws: str = "w") -> list[dict]:
    batch = schemas.MessageBatch(messages=[schemas.MessageCreate(peer_id=p, content=c) for p, c in messages])
    return svc.ingest.add_messages(ws, session, batch)


def rows(svc: Services, sql: str, *args) -> list[tuple]:
    return svc.store.read(lambda cur: cur.execute(sql, list(args)).fetchall())


def test_messages_become_conclusions_with_provenance(svc: Services) -> None:
    sent = post(svc, "s1", ("alice", "I moved to Lisbon."), ("bot", "Nice city."), ("alice", "I have a cat."))
    assert svc.worker.drain(30)
    got = rows(svc, "SELECT observer_id, observed_id, content, source_ids, level FROM conclusions ORDER BY content")
    assert [(o, d, c, json.loads(s), lv) for o, d, c, s, lv in got] == [
        ("alice", "alice", "alice said: I have a cat.", [sent[2]["id"]], "explicit"),
        ("alice", "alice", "alice said: I moved to Lisbon.", [sent[0]["id"]], "explicit"),
        ("bot", "bot", "bot said: Nice city.", [sent[1]["id"]], "explicit")]
    status = svc.queue_status("w")
    assert (status["pending_work_units"], status["in_progress_work_units"], status["failed_work_units"]) == (0, 0, 0)
    assert status["sessions"]["s1"]["completed_work_units"] == status["total_work_units"] == 3
    runs = rows(svc, "SELECT task, status, outputs FROM reasoning_runs WHERE task = 'deriver' ORDER BY unit_key")
    assert runs == [("deriver", "ok", 2), ("deriver", "ok", 1)]


def test_repeats_count_up_and_nothing_is_reasoned_twice(svc: Services, model: FakeModel) -> None:
    post(svc, "s1", ("alice", "I love tea."))
    assert svc.worker.drain(30)
    calls = len(model.calls)
    assert svc.worker.drain(30) and len(model.calls) == calls  # caught up: no new model call
    post(svc, "s1", ("alice", "I love tea."))
    assert svc.worker.drain(30)
    assert rows(svc, "SELECT content, times_derived FROM conclusions") == [("alice said: I love tea.", 2)]


def test_observation_rules(svc: Services) -> None:
    svc.resources.get_or_create_session("w", schemas.SessionCreate(id="s", peers={
        "alice": schemas.SessionPeerConfig(), "bot": schemas.SessionPeerConfig(observe_me=False, observe_others=True)}))
    post(svc, "s", ("alice", "I am allergic to nuts."), ("bot", "Noted."))
    assert svc.worker.drain(30)
    assert sorted(rows(svc, "SELECT observer_id, observed_id FROM conclusions")) == [("alice", "alice"), ("bot", "alice")]


def test_reasoning_disabled_by_session_configuration(svc: Services, model: FakeModel) -> None:
    svc.resources.get_or_create_session("w", schemas.SessionCreate(
        id="quiet", configuration=schemas.ResourceConfiguration(reasoning={"enabled": False})))
    post(svc, "quiet", ("alice", "secret plans"))
    windows = []
    read_window = svc.reasoner.representation.window
    svc.reasoner.representation.window = lambda cur, key, cursor: (windows.append(key), read_window(cur, key, cursor))[1]
    assert svc.worker.drain(30)
    assert rows(svc, "SELECT count(*) FROM conclusions") == [(0,)]
    assert "deriver" not in model.calls
    assert svc.queue_status("w")["completed_work_units"] == 2
    assert windows == []  # no message could be reasoned: no window was read to find that out



def test_a_units_resource_rows_are_read_once_and_follow_changes(svc: Services, model: FakeModel,
                                                               monkeypatch) -> None:
    """A unit keeps its workspace, session, peer and member rows between runs (a stream of writes runs it
    every coalescing window); a change to any of them (session configuration, a member's observe_me)
    is what the next run acts on."""
    from honcho_local.store import sessions as sessions_db

    svc.resources.get_or_create_session("w", schemas.SessionCreate(
        id="s", configuration=schemas.ResourceConfiguration(reasoning={"enabled": False})))
    reads = []
    get_session = sessions_db.get_session
    monkeypatch.setattr(sessions_db, "get_session", lambda cur, w, s: (reads.append(s), get_session(cur, w, s))[1])
    post(svc, "s", ("alice", "I moved to Lisbon."))
    assert svc.worker.drain(30)
    first = len(reads)
    assert first >= 1 and "deriver" not in model.calls
    for i in range(3):
        post(svc, "s", ("alice", f"quiet message {i}"))
        assert svc.worker.drain(30)
    assert len(reads) == first  # the session row was read once, then kept
    svc.resources.update_session("w", "s", schemas.ResourceUpdate(
        configuration=schemas.ResourceConfiguration(reasoning={"enabled": True})))
    post(svc, "s", ("alice", "I have a cat."))
    assert svc.worker.drain(30)
    assert len(reads) > first
    assert rows(svc, "SELECT content FROM conclusions") == [("alice said: I have a cat.",)]
    svc.resources.set_member_config("w", "s", "alice", schemas.SessionPeerConfig(observe_me=False))
    post(svc, "s", ("alice", "I play the violin."))
    assert svc.worker.drain(30)
    assert rows(svc, "SELECT content FROM conclusions") == [("alice said: I have a cat.",)]
    assert svc.queue_status("w")["pending_work_units"] == 0


def test_a_unit_with_nothing_to_reason_skips_ahead_to_the_next_message_it_reasons(svc: Services,
                                                                                  model: FakeModel) -> None:
    """Messages nobody reasons about are passed in one step (not one token window at a time, each ending
    in a cursor write), up to the next message that is reasoned about, which is then reasoned as usual."""
    svc.resources.get_or_create_session("w", schemas.SessionCreate(
        id="quiet", configuration=schemas.ResourceConfiguration(reasoning={"enabled": False})))
    filler = " ".join(["the quarterly report numbers look fine"] * 12)  # ~100 tokens: ~10 per window
    for batch in range(3):
        post(svc, "quiet", *[("alice", f"{filler} {batch}-{i}") for i in range(100)])
    wanted = schemas.MessageCreate(peer_id="alice", content="I moved to Lisbon.",
                                   configuration={"reasoning": {"enabled": True}})
    svc.ingest.add_messages("w", "quiet", schemas.MessageBatch(messages=[wanted]))
    post(svc, "quiet", *[("bob", f"{filler} tail-{i}") for i in range(50)])
    advances = []
    advance = svc.reasoner.advances.add
    svc.reasoner.advances.add = lambda key, cursor: (advances.append((key.observed_id, cursor)), advance(key, cursor))[1]
    assert svc.worker.drain(60)
    assert rows(svc, "SELECT content FROM conclusions") == [("alice said: I moved to Lisbon.",)]
    assert model.calls.count("deriver") == 1
    # alice's unit: one step past the 300 fillers to the reasoned message (not one per ~10-message window);
    # bob's: one step past his 50
    assert len([a for a in advances if a[0] == "alice"]) <= 2 and len([a for a in advances if a[0] == "bob"]) == 1, advances


def test_skip_advances_wait_in_memory_then_share_one_write(svc: Services, monkeypatch) -> None:
    """A skip advance (`PendingAdvances.add`) writes nothing at once: the unit reads the pending cursor (a second run does not
    skip the same messages again), the advances of several units go to the store together when the
    flush timer fires, and `settle` (what the sweep and shutdown call) writes them at once."""
    from honcho_local.services import advances as advances_module
    from honcho_local.store import units

    post(svc, "s1", ("alice", "hello"), ("bob", "again"))
    statements = []
    real = units.advance_rows
    monkeypatch.setattr(units, "advance_rows", lambda conn, rows: (statements.append(len(rows)), real(conn, rows)))
    keys = [units.UnitKey("summary", svc.reasoner.version, "w", "s1"),
            units.UnitKey("representation", svc.reasoner.version, "w", "s1", "alice")]
    r = svc.reasoner
    r.advances.add(keys[0], 1)
    r.advances.add(keys[1], 2)
    r.advances.add(keys[0], 2)
    assert [svc.store.read(lambda cur, k=k: r.deps.start_cursor(cur, k, None)) for k in keys] == [2, 2]
    stored = "SELECT key, cursor_pk FROM work_units WHERE key IN (?, ?) ORDER BY key"
    assert rows(svc, stored, *map(str, keys)) == []
    r.settle()
    assert rows(svc, stored, *map(str, keys)) == sorted([(str(keys[0]), 2), (str(keys[1]), 2)])
    assert statements == [2] and r.advances.cursors == {} and r.advances.unflushed == {}
    # without settle: the timer sends them
    monkeypatch.setattr(advances_module, "ADVANCE_FLUSH_SECONDS", 0.05)
    post(svc, "s1", ("alice", "more"))
    r.advances.add(keys[0], 3)
    deadline = time.monotonic() + 5
    while r.advances.cursors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rows(svc, "SELECT cursor_pk FROM work_units WHERE key = ?", str(keys[0])) == [(3,)]
    assert statements == [2, 1]


def test_messages_are_embedded_even_with_reasoning_off(tmp_home: Path, model: FakeModel) -> None:
    svc = make_services(tmp_home, model, reasoning_enabled=False, summary_enabled=False)
    try:
        sent = post(svc, "s", ("alice", "I moved to Lisbon."), ("bot", "Nice city."), ("alice", "I have a cat."))
        assert svc.worker.drain(30)
        embedded = rows(svc, "SELECT event_pk FROM message_embeddings ORDER BY event_pk")
        assert len(embedded) == len(sent) == 3
        assert model.calls == []  # no chat model call at all
        post(svc, "s", ("alice", "Another one."))
        assert svc.worker.drain(30)
        assert rows(svc, "SELECT count(*) FROM message_embeddings") == [(4,)]  # only the new one embedded
    finally:
        svc.close()


def test_summaries_and_peer_card(svc: Services, model: FakeModel) -> None:
    post(svc, "s", *[("alice", f"fact number {i}") for i in range(6)], ("alice", "I live in Porto."),
         ("alice", "I love sailing."))
    assert svc.worker.drain(60)
    summaries = rows(svc, "SELECT summary_type, message_id FROM summaries ORDER BY created_at")
    ids = [m["id"] for m in svc.message_list.list("w", "s", None, svc_paging())["items"]]
    assert ("short", ids[7]) in summaries and ("long", ids[7]) in summaries
    # the card is built from the conclusions that say something stable, with no model call of its own
    [(entries,)] = rows(svc, "SELECT entries FROM peer_cards WHERE observed_id = 'alice'")
    assert json.loads(entries) == ["IDENTITY: alice said: I live in Porto", "ATTRIBUTE: alice said: I love sailing"]
    assert rows(svc, "SELECT content FROM peer_profiles") == [("alice said: I live in Porto.",)]  # grounded only
    [profile_prompt] = [p for p in model.prompts if "What is known about alice:" in p]
    assert "- alice said: I live in Porto" in profile_prompt and "fact number 5" in profile_prompt
    assert sorted(rows(svc, "SELECT task, status, outputs FROM reasoning_runs WHERE task LIKE 'peer_%'")) == [
        ("peer_card", "ok", 2), ("peer_profile", "ok", 1)]


def test_card_follows_conclusions_and_keeps_pinned_entries(svc: Services) -> None:
    """A refresh rebuilds the card from the live conclusions: a deleted one leaves it, entries a
    user PUT stay, and a near-duplicate of an entry is not added twice."""
    post(svc, "s", ("alice", "I have a dog named Rex."), ("alice", "I work as a nurse."))
    assert svc.worker.drain(60)
    assert [json.loads(e) for (e,) in rows(svc, "SELECT entries FROM peer_cards")] == [
        ["IDENTITY: alice said: I work as a nurse", "RELATIONSHIP: alice said: I have a dog named Rex"]]
    svc.representations.set_card("w", "alice", None, ["INSTRUCTION: call her Al"], None)
    [(dog,)] = rows(svc, "SELECT id FROM conclusions WHERE content LIKE '%Rex%'")
    svc.conclusions.delete("w", dog)
    post(svc, "s", ("alice", "I work as a nurse at night."), ("alice", "My sister visits often."))
    assert svc.worker.drain(60)
    latest = rows(svc, "SELECT entries FROM peer_cards WHERE source = 'worker' ORDER BY created_at DESC LIMIT 1")
    assert json.loads(latest[0][0]) == ["INSTRUCTION: call her Al", "IDENTITY: alice said: I work as a nurse at night",
                                        "RELATIONSHIP: alice said: My sister visits often"]


def svc_paging():
    from honcho_local.services.resources import Paging

    return Paging(size=100)


def test_garbage_output_is_retried_then_reported_then_retried_later(svc: Services, model: FakeModel) -> None:
    model.mode = "garbage"
    post(svc, "s", ("alice", "I speak French."))
    assert not svc.worker.drain(5)
    status = svc.queue_status("w")
    assert status["failed_work_units"] == 1 and status["pending_work_units"] == 0
    [error] = status["errors"]
    assert "deriver" in error["error"] and error["work_unit"].startswith("representation:v1:w:s:alice")
    failed_runs = rows(svc, "SELECT raw_output FROM reasoning_runs WHERE status = 'failed'")
    assert failed_runs and all("not json" in raw for (raw,) in failed_runs)
    model.mode = "ok"
    import time

    deadline = time.monotonic() + 30  # the retry comes once the (test-sized) backoff has passed
    while not rows(svc, "SELECT content FROM conclusions") and time.monotonic() < deadline:
        svc.worker.drain(1)  # returns at once while the unit waits out its backoff
        time.sleep(0.02)
    assert svc.worker.drain(30)
    assert rows(svc, "SELECT content FROM conclusions") == [("alice said: I speak French.",)]
    assert svc.queue_status("w")["failed_work_units"] == 0


def test_empty_extraction_is_recorded_not_silent(svc: Services, model: FakeModel) -> None:
    post(svc, "s", ("alice", "hmm"))
    original = model.answer
    model.answer = lambda payload: json.dumps({"facts": [], "inferences": []}) if "facts" in json.dumps(
        payload.get("response_format")) else original(payload)
    assert svc.worker.drain(30)
    assert rows(svc, "SELECT status, events, outputs FROM reasoning_runs WHERE task = 'deriver'") == [("empty", 1, 0)]


def test_failed_profile_is_recorded_and_holds_up_neither_unit_nor_card(svc: Services, model: FakeModel) -> None:
    model.poison = "What is known about"
    post(svc, "s", ("alice", "I build boats."), ("alice", "I live by the sea."))
    assert svc.worker.drain(30)
    status = svc.queue_status("w")
    assert status["failed_work_units"] == 0 and status["pending_work_units"] == 0
    assert len(rows(svc, "SELECT id FROM conclusions")) == 2
    failed = rows(svc, "SELECT task, error FROM reasoning_runs WHERE status = 'failed'")
    assert failed and all(task == "peer_profile" and "profile" in error for task, error in failed)
    assert rows(svc, "SELECT count(*) FROM peer_profiles") == [(0,)]
    assert [json.loads(e) for (e,) in rows(svc, "SELECT entries FROM peer_cards")] == [
        ["IDENTITY: alice said: I live by the sea"]]


def _deriver_peer(prompt: str) -> str | None:
    found = re.search(r"facts about ([A-Za-z0-9_-]+)\.", prompt)
    return found.group(1) if found else None


def test_a_sessions_peers_are_reasoned_in_lockstep(svc: Services, model: FakeModel) -> None:
    """Both peers of a session observed (the default): their units run batch by batch in turn, so the
    second deriver prompt repeats the first up to the question (llama.cpp re-reads only the rest), and
    their peer cards wait until both have derived instead of coming between the two."""
    post(svc, "s", ("alice", "I build boats."), ("bob", "Since when?"), ("alice", "Since 2019."),
         ("bob", "I sail myself."))
    assert svc.worker.drain(30)
    sequence = [_deriver_peer(p) or call for p, call in zip(model.prompts, model.calls) if call != "summary"]
    assert sequence[:2] in (["alice", "bob"], ["bob", "alice"]) and sorted(sequence[2:]) == ["peer_profile", "peer_profile"]
    first, second = (p for p in model.prompts if _deriver_peer(p))
    assert first.split("Lines by")[0] == second.split("Lines by")[0]  # the same system text and chat lines
    assert len(rows(svc, "SELECT id FROM conclusions")) == 4


def test_a_failing_unit_does_not_hold_up_its_sibling(svc: Services, model: FakeModel) -> None:
    model.poison = "facts about alice."
    post(svc, "s", ("alice", "I build boats."), ("bob", "I sail."))
    assert not svc.worker.drain(5)
    status = svc.queue_status("w")
    assert status["failed_work_units"] == 1 and status["errors"][0]["work_unit"].startswith("representation:v1:w:s:alice")
    assert rows(svc, "SELECT observed_id, content FROM conclusions") == [("bob", "bob said: I sail.")]


def test_a_new_worker_queues_each_lagging_unit_once_oldest_first(tmp_home: Path, model: FakeModel,
                                                                  monkeypatch) -> None:
    """The queue is in memory and starts empty (the SQLite queue file of earlier releases is removed):
    the first sweep queues every lagging unit once, the one with the oldest unprocessed message first,
    and the messages' own notifications add nothing to it."""
    from honcho_local import worker as worker_module

    (tmp_home / "queue.sqlite3").write_bytes(b"stale tasks of an earlier release")
    svc = make_services(tmp_home, model)
    try:
        assert not (tmp_home / "queue.sqlite3").exists()
        post(svc, "s1", ("alice", "one"))
        post(svc, "s2", ("alice", "two"))
        post(svc, "s1", ("alice", "three"))
        assert svc.worker.huey.pending_count() == 0
        assert svc.reasoner.lagging() == ["representation:v1:w:s1:alice", "summary:v1:w:s1",
                                          "representation:v1:w:s2:alice", "summary:v1:w:s2"]
        monkeypatch.setattr(worker_module.EmbeddedConsumer, "start", lambda self: None)  # queue, do not run
        svc.worker.start()
        wait_for(lambda: svc.worker.sweeps >= 1 and svc.worker.huey.pending_count() >= 4)
        svc.worker.enqueue(svc.reasoner.lagging())  # what the notifications and later sweeps do: no copies
        assert [t.args[0] for t in svc.worker.huey.pending()] == svc.reasoner.lagging()
    finally:
        svc.worker._consumer = None  # never started: nothing to join at teardown
        svc.close()


def test_long_context_lines_are_cut_so_more_of_the_peer_fits_a_window(svc: Services, model: FakeModel) -> None:
    """An assistant's long answers are read as context only up to `reasoning_context_chars`, and
    counted so in the window budget: the user's two turns go to one deriver call, not two."""
    svc.resources.get_or_create_session("w", schemas.SessionCreate(id="s", peers={  # an assistant, as in BEAM
        "alice": schemas.SessionPeerConfig(), "bot": schemas.SessionPeerConfig(observe_me=False)}))
    answer = " ".join(f"word{i}" for i in range(600))  # ~4,300 characters, ~1,000 tokens
    post(svc, "s", ("bot", answer), ("alice", "I like tea."), ("bot", answer), ("alice", "I have a cat."))
    assert svc.worker.drain(60)
    prompts = [p for p in model.prompts if _deriver_peer(p) == "alice"]
    assert len(prompts) == 1
    assert "I like tea." in prompts[0] and "I have a cat." in prompts[0]
    assert prompts[0].count("word599") == 0 and prompts[0].count(" …") == 2
    assert sorted(c for (c,) in rows(svc, "SELECT content FROM conclusions WHERE observed_id = 'alice'")) == [
        "alice said: I have a cat.", "alice said: I like tea."]


def test_a_stream_of_writes_is_worked_in_coalesced_windows_and_nothing_is_lost(svc: Services, model: FakeModel,
                                                                               monkeypatch) -> None:
    """Under a stream (many notifications per window) units run once per busy window, also when
    notified while running (they go back through the dispatcher instead of running again at once);
    when the stream stops, every message is worked."""
    from honcho_local import metrics
    from honcho_local import worker as worker_module

    monkeypatch.setattr(worker_module, "COALESCE_BUSY_SECONDS", 1.0)
    # busy from 2 notifications per 0.2 s window (one post: two units), so that a slow or busy machine's
    # stream counts as one too (CI posted 128/s: 51 notifications per window, under the default 64)
    monkeypatch.setattr(worker_module, "COALESCE_BUSY_NOTIFICATIONS", 2)
    svc.resources.get_or_create_session("w", schemas.SessionCreate(
        id="s", configuration=schemas.ResourceConfiguration(reasoning={"enabled": False})))
    svc.worker.poll_interval = 3600.0  # no sweep after the first: only notifications can catch the units up
    svc.worker.start()
    before = metrics.UNIT_RUNS._value.get()
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < 3.0 or sent < 600:  # a slow or busy machine streams longer
        post(svc, "s", ("alice", f"note {sent}"))
        sent += 1
    streamed = time.monotonic() - started
    runs = metrics.UNIT_RUNS._value.get() - before
    assert sent / streamed > 10  # a stream: 4+ notifications per 0.2 s window, busy ones
    # two units (alice's representation, the session summary), each about once per 1 s window (0.2 s
    # windows, or a re-run at once after each run, would be several times as many)
    assert runs <= 2 * (streamed / 1.0 + 2), (runs, sent)
    # caught up through notifications alone (the sweep is an hour away; the deadline only bounds a hang)
    deadline = time.monotonic() + 300
    while svc.reasoner.lagging() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not svc.reasoner.lagging() and svc.queue_status("w")["pending_work_units"] == 0
