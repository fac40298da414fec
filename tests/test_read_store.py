"""Read path in process (real DuckDB file, real MiniLM, Litestar test client): summaries and the
context budget, the prose profile, time travel (`as_of`), hybrid search with and without message
embeddings, the lexical index rebuilt from the log, and a clear 503 when no chat model is available."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest

from honcho_local.ids import new_id
from honcho_local.services.search import rrf
from honcho_local.store.db import utcnow
from tests.conftest import post_messages

pytestmark = pytest.mark.model
W = "/v3/workspaces/ws"


def _messages(client, session: str, items: list[tuple[str, str]]) -> list[dict]:
    return post_messages(client, W, session, items)


def _pk(services, message_id: str) -> int:
    return services.store.read(lambda cur: cur.execute("SELECT pk FROM events WHERE id = ?", [message_id]).fetchone()[0])


def _summary(services, session: str, kind: str, content: str, last: dict, tokens: int) -> None:
    services.store.write(lambda ctx: ctx.conn.execute(
        "INSERT INTO summaries VALUES (?, 'ws', ?, ?, ?, ?, ?, ?, 'v1', ?)",
        [new_id(), session, kind, content, _pk(services, last["id"]), last["id"], tokens, utcnow()]))


def test_context_budget_summary_then_recent_messages(read_app) -> None:
    services, client = read_app
    msgs = _messages(client, "s", [("alice", f"message number {i} " + "word " * 8) for i in range(10)])
    _summary(services, "s", "short", "Alice counted to five.", msgs[5], 10)
    _summary(services, "s", "long", "Alice counted to five, slowly. " * 10, msgs[5], 80)
    ctx = client.get(f"{W}/sessions/s/context", params={"tokens": 300}).json()
    assert ctx["summary"]["summary_type"] == "long"  # 80 <= 40% of 300, and longer than the short one
    assert ctx["summary"]["message_id"] == msgs[5]["id"]
    assert [m["id"] for m in ctx["messages"]] == [m["id"] for m in msgs[6:]]  # only what the summary lacks
    ctx = client.get(f"{W}/sessions/s/context", params={"tokens": 100}).json()
    assert ctx["summary"]["summary_type"] == "short"  # the long one does not fit in 40
    used = ctx["summary"]["token_count"] + sum(m["token_count"] for m in ctx["messages"])
    assert used <= 100 and ctx["messages"][-1]["id"] == msgs[-1]["id"]
    assert client.get(f"{W}/sessions/s/context", params={"tokens": 100, "summary": False}).json()["summary"] is None
    summaries = client.get(f"{W}/sessions/s/summaries").json()
    assert summaries["id"] == "s" and summaries["short_summary"]["content"] == "Alice counted to five."
    assert summaries["long_summary"]["token_count"] == 80


def _moment_between() -> str:
    """A moment after every write so far and before every later one: the clock has moved past the
    writes already made (their stamps were taken before now) and moves past the moment before returning."""
    def tick(after: datetime) -> datetime:
        while (now := datetime.now(timezone.utc)) <= after:
            pass
        return now

    moment = tick(datetime.now(timezone.utc))
    tick(moment)
    return moment.isoformat()


def test_profile_and_time_travel(read_app) -> None:
    services, client = read_app
    _messages(client, "s", [("alice", "hi")])
    put = lambda card: client.put(f"{W}/peers/alice/card", json={"peer_card": card})  # noqa: E731
    assert put(["IDENTITY: Alice"]).status_code == 200
    first = client.post(f"{W}/conclusions", json={"conclusions": [
        {"observer_id": "alice", "observed_id": "alice", "content": "Alice uses Python"}]}).json()[0]
    moment = _moment_between()
    put(["IDENTITY: Alice", "ATTRIBUTE: moved to Porto"])
    services.store.write(lambda ctx: ctx.conn.execute(
        "INSERT INTO peer_profiles VALUES (?, 'ws', 'alice', 'alice', ?, 'v1', ?)",
        [new_id(), "Alice is focused on invoice automation. Prefers Python.", utcnow()]))
    client.post(f"{W}/conclusions", json={"conclusions": [
        {"observer_id": "alice", "observed_id": "alice", "content": "Alice moved to Porto"}]})

    now = client.post(f"{W}/peers/alice/representation", json={}).json()["representation"]
    assert now.startswith("## Profile\nAlice is focused on invoice automation.")
    assert "Alice moved to Porto" in now and "Alice uses Python" in now
    then = client.post(f"{W}/peers/alice/representation", json={"as_of": moment}).json()["representation"]
    assert then == f"## Explicit Observations\n[{first['created_at'][:19].replace('T', ' ')}] Alice uses Python"
    assert client.get(f"{W}/peers/alice/card", params={"as_of": moment}).json() == {"peer_card": ["IDENTITY: Alice"]}
    assert client.get(f"{W}/peers/alice/card").json()["peer_card"][-1] == "ATTRIBUTE: moved to Porto"
    ctx = client.get(f"{W}/sessions/s/context", params={"peer_target": "alice", "as_of": moment}).json()
    assert ctx["peer_card"] == ["IDENTITY: Alice"] and "Porto" not in ctx["peer_representation"]
    listed = client.post(f"{W}/conclusions/list", params={"as_of": moment}).json()["items"]
    assert [c["content"] for c in listed] == ["Alice uses Python"]
    peer_ctx = client.get(f"{W}/peers/alice/context").json()
    assert "Prefers Python" in peer_ctx["representation"]
    # a delete is forgetting, not history: time travel no longer sees the conclusion (tests/test_forgetting.py)
    assert client.delete(f"{W}/conclusions/{first['id']}").status_code == 204
    assert client.post(f"{W}/conclusions/list", params={"as_of": moment}).json()["items"] == []
    then = client.post(f"{W}/peers/alice/representation", json={"as_of": moment}).json()["representation"]
    assert "Alice uses Python" not in then


def test_hybrid_search_semantic_and_lexical(read_app) -> None:
    services, client = read_app
    msgs = _messages(client, "s", [("alice", "My feline companion sleeps all day"),
                                   ("bob", "The quarterly invoice totals are ready"),
                                   ("alice", "Lisbon has great pastries")])
    embedder = services.search.queries.embedder()
    vectors = embedder.embed([m["content"] for m in msgs[:2]]).vectors  # the third is not embedded yet
    from honcho_local.store import embeddings as embeddings_db

    services.store.write(lambda ctx: embeddings_db.insert_message_embeddings(
        ctx, "ws", "s", embedder.model, [(_pk(services, m["id"]), list(v)) for m, v in zip(msgs[:2], vectors)]))
    services.search.vectors.refresh_seconds = 0
    hits = client.post(f"{W}/search", json={"query": "cat", "limit": 1}).json()
    assert [h["content"] for h in hits] == ["My feline companion sleeps all day"]  # no word in common
    assert client.post(f"{W}/search", json={"query": "pastries"}).json()[0]["content"] == "Lisbon has great pastries"
    billing = client.post(f"{W}/peers/bob/search", json={"query": "billing money"}).json()
    assert [h["peer_id"] for h in billing] == ["bob"]
    filtered = client.post(f"{W}/search", json={"query": "cat", "filters": {"peer_id": "bob"}}).json()
    assert all(h["peer_id"] == "bob" for h in filtered)


def test_rrf_fuses_rankings() -> None:
    assert rrf([[1, 2, 3], [3, 1]]) == [1, 3, 2]
    assert rrf([[], [7]]) == [7]


def test_lexical_index_rebuilds_from_the_log(tmp_home, real_models) -> None:
    from honcho_local import schemas
    from honcho_local.config import load_settings
    from honcho_local.wiring import build_services

    settings = load_settings(home=tmp_home, env={})
    services = build_services(settings, models=real_models)
    services.ingest.add_messages("ws", "s", schemas.MessageBatch(messages=[
        schemas.MessageCreate(peer_id="alice", content="The zeppelin lands at noon")]))
    assert [m["content"] for m in services.search.search("ws", "zeppelin")] == ["The zeppelin lands at noon"]
    services.models = None
    services.close()
    shutil.rmtree(tmp_home / "lexical-index")
    services = build_services(settings, models=real_models)
    services.resources.clone_session("ws", "s", None)  # bypasses the ingest listeners
    assert len(services.search.search("ws", "zeppelin")) == 2
    services.models = None
    services.close()


def test_chat_without_a_model_is_a_clear_503(tmp_home) -> None:
    from litestar.testing import TestClient

    from honcho_local.api import create_app
    from honcho_local.config import load_settings
    from honcho_local.wiring import build_services

    settings = load_settings(home=tmp_home, env={}, reasoning_model=str(tmp_home / "missing.gguf"),
                             embedding_model=str(tmp_home / "missing-embedder.gguf"))
    services = build_services(settings)
    with TestClient(create_app(services)) as client:
        _messages(client, "s", [("alice", "hello there")])
        for body in ({"query": "hi"}, {"query": "hi", "stream": True}):
            r = client.post(f"{W}/peers/alice/chat", json=body)
            assert r.status_code == 503, r.text
            assert "reasoning_model" in r.json()["detail"] and "models pull" in r.json()["detail"]
        assert [m["content"] for m in client.post(f"{W}/search", json={"query": "hello"}).json()] == ["hello there"]
        r = client.post(f"{W}/conclusions/query", json={"query": "x", "filters": {"observer_id": "a", "observed_id": "a"}})
        assert r.status_code == 503 and "embedding_model" in r.json()["detail"]
    services.close()


def test_services_run_numpy_on_one_blas_thread(tmp_home) -> None:
    """Vector searches are matrix-vector products from concurrent request threads: a server must not
    let OpenBLAS split one over every core (it stalled a 1,600-row search for ~8 ms under load)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from honcho_local.config import load_settings
    from honcho_local.wiring import build_services

    with threadpool_limits(2, user_api="blas"):  # as a fresh process on a 2+ core machine starts
        services = build_services(load_settings(home=tmp_home, env={}))
        try:
            assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {1}
        finally:
            services.close()


def _append_rows(m, data, rows: range, session=lambda i: "s", peer=lambda i: "p") -> None:
    """Rows `rows` of `data` into matrix `m` (pk = row number), with the session and peer of each."""
    from honcho_local.store.vectors import _unit

    pks = list(rows)
    m.append(pks, [session(i) for i in pks], [peer(i) for i in pks], _unit(data[pks]))


def test_ivf_matches_exact_search_and_sees_appended_rows() -> None:
    import numpy as np

    from honcho_local.store.vectors import _empty, _Ivf

    rng = np.random.default_rng(1)
    centers = rng.standard_normal((40, 64))
    data = (centers[rng.integers(0, 40, 4000)] + 0.3 * rng.standard_normal((4000, 64))).astype(np.float32)
    m = _empty()
    _append_rows(m, data, range(3000), lambda i: f"s{i % 7}", lambda i: f"p{i % 3}")
    m.ivf = _Ivf.build(m)
    _append_rows(m, data, range(3000, 4000), lambda i: "late", lambda i: "p0")
    hits = 0
    for i in rng.integers(0, 4000, 30):
        q = data[i] / np.linalg.norm(data[i])
        exact = set(np.argsort(-(m.vectors @ q))[:10].tolist())
        found = m.ivf.search(m, q, 10)
        hits += len(exact & set(found))
        scores = m.vectors[found] @ q
        # best first, up to the fp16 codes' rounding (near-ties may swap)
        assert len(found) == 10 and np.all(scores[:-1] >= scores[1:] - 1e-3)
        assert int(m.pks[m.ivf.search(m, q, 1)[0]]) == int(i)  # the row itself is its own nearest
    assert hits / 300 > 0.9


def test_ivf_searches_while_rows_are_added() -> None:
    """faiss must not search a list while it grows: searches from two threads run on while rows are
    appended (the read/write lock), and every appended row is found."""
    import threading

    import numpy as np

    from honcho_local.store.vectors import _empty, _Ivf

    rng = np.random.default_rng(2)
    data = rng.standard_normal((6000, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    m = _empty()
    _append_rows(m, data, range(2000))
    m.ivf = _Ivf.build(m)
    errors: list[BaseException] = []
    done = threading.Event()

    def search() -> None:
        try:
            while not done.is_set():
                assert len(m.ivf.search(m, data[int(rng.integers(0, 2000))], 5)) == 5
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    for start in range(2000, 6000, 500):
        _append_rows(m, data, range(start, start + 500))
    done.set()
    for t in threads:
        t.join()
    assert not errors and m.ivf.index.ntotal == 6000
    assert m.ivf.search(m, data[5999], 1, nprobe=len(m.vectors)) == [5999]


def test_faiss_runs_one_openmp_thread_in_every_request_thread() -> None:
    """OpenMP's thread count is per thread: a search from a thread that did not import faiss must
    still run on one thread (it ran a team of one thread per core, 7% fewer workspace searches/s)."""
    import threading

    import faiss
    import numpy as np

    from honcho_local.store.vectors import _empty, _Ivf

    rng = np.random.default_rng(3)
    data = rng.standard_normal((600, 16)).astype(np.float32)
    m = _empty()
    _append_rows(m, data, range(600))
    m.ivf = _Ivf.build(m)
    seen: list[int] = []

    def request_thread() -> None:
        faiss.omp_set_num_threads(4)  # what a fresh thread inherits on a 4-core machine
        m.ivf.search(m, data[0] / np.linalg.norm(data[0]), 5)
        seen.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=request_thread)
    thread.start()
    thread.join()
    assert seen == [1]


def test_conclusions_are_dated_when_their_messages_were_said() -> None:
    """An imported history (messages with their original `created_at`) is reasoned over today: the
    representation and chat's prompt date each conclusion by its source messages, not by the day the
    worker stored it (a conclusion without sources, e.g. one created through the API, keeps its own)."""
    from datetime import datetime

    from honcho_local.services.chat_prompt import fact_line
    from honcho_local.services.representation import render
    from honcho_local.store.conclusions import Conclusion

    stored = datetime(2026, 11, 24, 10, 3, 38)

    def conclusion(id_: str, content: str, observed_at: datetime | None) -> Conclusion:
        return Conclusion(id_, "w", "caroline", "caroline", None, "explicit", content, 1, ["m1"], None, {}, "v1",
                          observed_at, stored, None)

    derived = conclusion("c1", "Caroline went to the support group yesterday", datetime(2023, 5, 8, 13, 56))
    manual = conclusion("c2", "Caroline paints", None)
    assert render([manual, derived]) == ("## Explicit Observations\n[2023-05-08 13:56:00] Caroline went to the support "
                                         "group yesterday\n[2026-11-24 10:03:38] Caroline paints")
    assert fact_line(derived) == "- (8 May 2023) [explicit] Caroline went to the support group yesterday"
    assert fact_line(manual) == "- (24 November 2026) [explicit] Caroline paints"
