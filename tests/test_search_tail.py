"""Lexical search sees messages its tantivy index has not caught up with: the tail past the searcher
comes from the in-memory message rows and is scored with tantivy's BM25 in Python. The scores must be
the ones tantivy gives the same messages once indexed, and a search must not wait for the indexer."""

from __future__ import annotations

import random
import sys
import time

import msgspec
import pytest

from honcho_local.store import Store, WriteContext
from honcho_local.store import embeddings as embeddings_db
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.message_rows import MessageRows
from honcho_local.store.search import LexicalIndex

WORDS = ("garden dog lisbon coffee running invoice stripe painting sunset camping pottery violin support group "
         "adoption museum hiking beach birthday concert").split()


def _append(store: Store, session: str, items: list[tuple[str, str]]) -> None:
    def op(ctx: WriteContext) -> None:
        workspaces_db.ensure_workspace(ctx, "w")
        sessions_db.ensure_session(ctx, "w", session)
        for peer, _ in items:
            peers_db.ensure_peer(ctx, "w", peer)
        event_log.append(ctx, "w", session, [
            event_log.NewEvent(peer, text, "message", {}, None, 5, None) for peer, text in items])

    store.write(op, scoped=True)


def _stop_indexer(index: LexicalIndex) -> None:
    index._stop = True
    index._wake.set()
    index._urgent.set()
    index._thread.join(timeout=10)
    assert not index._thread.is_alive()


def _scored(index: LexicalIndex, query: str, **scope) -> dict[int, float]:
    """pk -> score, through the same paths `search` takes (tantivy hits, or the scored tail)."""
    from honcho_local.store.search import query_words

    searcher, upto = index._state
    words = query_words(query)
    terms = [(f, v) for f, v in (("workspace_id", "w"), ("session_id", scope.get("session_id")),
                                 ("peer_id", scope.get("peer_id"))) if v]
    tail = index.rows.tail(upto, 10_000) if index.store.log_end > upto else []
    out = {pk: score for score, pk in index.scorer.score_tail(searcher, words, tail, terms, "w", scope.get("session_id"),
                                                        scope.get("peer_id"))} if tail else {}
    import tantivy

    clauses = [(tantivy.Occur.Must, index._parsed(" ".join(words)))]
    clauses += [(tantivy.Occur.Must, tantivy.Query.term_query(index.schema, f, v)) for f, v in terms]
    hits = searcher.search(tantivy.Query.boolean_query(clauses), 1000).hits
    for (score, _), pk in zip(hits, searcher.fast_field_values("pk", [a for _, a in hits])):
        out.setdefault(pk, score)
    return out


@pytest.fixture
def lexical(store: Store, tmp_home):
    rnd = random.Random(3)
    for s in range(4):
        _append(store, f"s{s}", [(rnd.choice(["alice", "bob"]), " ".join(rnd.sample(WORDS, rnd.randrange(3, 12))))
                                 for _ in range(250)])
    index = LexicalIndex(store, tmp_home / "lexical-index", MessageRows(store))
    assert index.wait_fresh(timeout=30)
    _stop_indexer(index)  # from here on, nothing reaches the index unless the test says so
    yield index
    index._writer.commit()


def test_tail_scores_are_the_scores_tantivy_gives_once_indexed(store: Store, lexical: LexicalIndex) -> None:
    rnd = random.Random(9)
    base = lexical.upto
    for s in range(4):
        _append(store, f"s{s}", [(rnd.choice(["alice", "bob"]), " ".join(rnd.sample(WORDS, rnd.randrange(3, 12))))
                                 for _ in range(3)])
    assert store.log_end == base + 12 and lexical.upto == base
    queries = [("lisbon coffee", {}), ("support group adoption", {}), ("violin", {"session_id": "s1"}),
               ("running beach hiking", {"peer_id": "bob"})]
    before = {q: _scored(lexical, q, **scope) for q, scope in queries}
    assert any(pk > base for scores in before.values() for pk in scores), "no tail message matched a query"
    while lexical._catch_up():
        pass
    assert lexical.upto == store.log_end
    for q, scope in queries:
        after = _scored(lexical, q, **scope)
        assert set(after) == set(before[q]), q  # the same messages match, in the same scope
        for pk, score in before[q].items():
            # a tail message was scored with the statistics the index has once it holds the tail: the
            # same score; an indexed one now also counts the 12 new documents: its idf moves a little
            assert score == pytest.approx(after[pk], rel=1e-4 if pk > base else 0.03), (q, pk)
        top = lambda scores: sorted(scores, key=lambda pk: -scores[pk])[:5]
        assert top(before[q])[0] == top(after)[0], q


def test_search_finds_new_messages_without_waiting_for_the_indexer(store: Store, lexical: LexicalIndex) -> None:
    _append(store, "s2", [("alice", "We finally booked the xylophone workshop in Porto")])
    pk = store.log_end
    started = time.perf_counter()
    hits = lexical.search("xylophone workshop", 10, "w")
    assert hits[0] == pk
    assert lexical.search("xylophone", 10, "w", session_id="s2") == [pk]
    assert lexical.search("xylophone", 10, "w", session_id="s1") == []
    assert lexical.search("xylophone", 10, "w", peer_id="bob") == []
    assert time.perf_counter() - started < 1.0  # the indexer is stopped: waiting would take 5 s per search
    assert lexical.upto < pk
    # the reply is found through the question it answers (the previous message, `context` field)
    _append(store, "s2", [("bob", "Oh nice, when is it?")])
    assert store.log_end in lexical.search("xylophone", 10, "w")


def test_a_tail_past_the_limit_waits_for_the_indexer(store: Store, tmp_home, monkeypatch) -> None:
    import honcho_local.store.search as search_module

    _append(store, "s", [("alice", "first words")])
    index = LexicalIndex(store, tmp_home / "lexical-index", MessageRows(store))
    try:
        assert index.wait_fresh(timeout=30)
        monkeypatch.setattr(search_module, "TAIL_MAX", 2)
        _append(store, "s", [("alice", f"zeppelin number {i}") for i in range(5)])
        assert index.rows.tail(index.upto, 2) is None
        assert len(index.search("zeppelin", 10, "w")) == 5  # the indexer was woken and waited for
        assert index.upto == store.log_end
    finally:
        index.close()


def test_a_reply_indexed_after_a_restart_is_found_by_the_question_before_it(store: Store, tmp_home) -> None:
    """The indexer reads the last indexed message of each session it has not seen since it started (one
    grouped query) and indexes a reply with it as context; other sessions and workspaces do not leak in."""
    _append(store, "q", [("alice", "Where did you adopt the greyhound?")])
    _append(store, "other", [("carol", "The greyhound race was loud.")])
    index = LexicalIndex(store, tmp_home / "lexical-index", None)
    try:
        assert index.wait_fresh(timeout=30)
    finally:
        index.close()
    _append(store, "q", [("bob", "At the shelter downtown.")])
    _append(store, "other", [("dave", "Nothing to add.")])
    reply, unrelated = store.log_end - 1, store.log_end
    index = LexicalIndex(store, tmp_home / "lexical-index", None)  # a new indexer: nothing cached
    try:
        assert index.wait_fresh(timeout=30)
        hits = index.search("adopt greyhound", 10, "w", session_id="q")
        assert reply in hits and unrelated not in index.search("adopt", 10, "w")
    finally:
        index.close()


def test_message_rows_take_ingested_rows_without_a_query(store: Store) -> None:
    from honcho_local.schemas import MessageBatch
    from honcho_local.services.ingest import Ingest
    from honcho_local.services.resources import Resources

    ingest = Ingest(store, Resources(store), 25_000)
    rows = MessageRows(store)
    ingest.listeners.append(rows.appended)
    ingest.add_messages("w", "s", MessageBatch.model_validate({"messages": [{"peer_id": "a", "content": "one"}]}))
    assert [m.content for m in rows.recent("w", "s", 0, 1000)] == ["one"]  # first use: loaded from the log
    loads = rows.loads
    for i in range(5):
        ingest.add_messages("w", "s", MessageBatch.model_validate({"messages": [
            {"peer_id": "a", "content": f"m{i}", "metadata": {"i": i}}, {"peer_id": "b", "content": f"r{i}"}]}))
    recent = rows.recent("w", "s", 0, 1000)
    assert rows.loads == loads  # every batch joined the copy through the listener
    assert [m.content for m in recent] == ["one"] + [t for i in range(5) for t in (f"m{i}", f"r{i}")]

    logged = store.read(lambda cur: event_log.recent_messages(cur, "w", "s", 0, 1000))
    # the copy also keeps created_at as the API's text (created_iso); otherwise the rows are the log's
    assert [msgspec.structs.replace(r, created_iso=None) for r in recent] == logged
    assert all(r.created_iso == r.created_at.isoformat() + "Z" for r in recent)
    # an append the listener does not see (not through Ingest) leaves a gap: the next read loads it
    _append(store, "s", [("a", "cloned line")])
    ingest.add_messages("w", "s", MessageBatch.model_validate({"messages": [{"peer_id": "a", "content": "after"}]}))
    assert [m.content for m in rows.recent("w", "s", 0, 1000)][-2:] == ["cloned line", "after"]
    assert rows.loads == loads + 1


def test_vector_search_does_not_queue_behind_a_refresh(store: Store) -> None:
    import threading

    import numpy as np

    from honcho_local.store.vectors import MessageVectors

    _append(store, "s", [("a", "hello there")])
    pk = store.log_end
    vec = np.ones(4, np.float32) / 2
    store.write(lambda ctx: ctx.conn.execute(
        "INSERT INTO message_embeddings (event_pk, workspace_id, session_id, model, embedding) VALUES (?, 'w', 's', 'm', ?)", [pk, vec.tolist()]), scoped=True)
    vectors = MessageVectors(store, refresh_seconds=0.0)
    assert vectors.search(vec, "m", 5, "w") == [pk]
    _append(store, "s", [("a", "a second message")])  # a commit: the next search wants a refresh
    held = threading.Event()
    release = threading.Event()

    def refreshing() -> None:  # another thread in the middle of a refresh
        with vectors._lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=refreshing)
    t.start()
    held.wait(10)
    try:
        started = time.perf_counter()
        assert vectors.search(vec, "m", 5, "w") == [pk]  # answered from the matrix it has, at once
        assert time.perf_counter() - started < 1.0  # (waiting would take until the other thread lets go)
    finally:
        release.set()
        t.join()


def test_vector_matrix_loads_embeddings_committed_out_of_log_order(store: Store) -> None:
    """The worker embeds sessions in any order, so an older message's embedding can be committed after
    a newer one's. The matrix takes it with a delta load (by insertion order), not a full reload, and a
    deleted session's rows leave the matrix."""
    import numpy as np

    from honcho_local.store.vectors import MessageVectors

    _append(store, "a", [("alice", "one"), ("alice", "two")])
    _append(store, "b", [("bob", "three")])
    pks = store.read(lambda cur: [r[0] for r in cur.execute("SELECT pk FROM events ORDER BY pk").fetchall()])
    basis = np.eye(4, dtype=np.float32)

    def embed(session: str, rows: list[tuple[int, int]]) -> None:
        store.write(lambda ctx: embeddings_db.insert_message_embeddings(
            ctx, "w", session, "m", [(pks[i], basis[d].tolist()) for i, d in rows]), scoped=True)

    vectors = MessageVectors(store, refresh_seconds=0.0)
    embed("b", [(2, 2)])  # the newest message first
    assert vectors.search(basis[2], "m", 5, "w") == [pks[2]]
    held = vectors._cache[("w", "m")]
    embed("a", [(0, 0), (1, 1)])  # then the older session's
    assert vectors.search(basis[0], "m", 1, "w") == [pks[0]]
    assert vectors.search(basis[1], "m", 1, "w", peer_id="alice") == [pks[1]]
    assert vectors._cache[("w", "m")] is held and held.count == 3  # appended, not reloaded
    store.write(lambda ctx: sessions_db.delete_session(ctx, "w", "a"))
    assert store.read(lambda cur: cur.execute("SELECT event_pk FROM message_embeddings").fetchall()) == [(pks[2],)]
    assert sorted(vectors.search(basis[0], "m", 5, "w")) == [pks[2]]
    embed("a", [(0, 0)])  # the worker finishing a deleted session's batch stores nothing
    assert store.read(lambda cur: cur.execute("SELECT count(*) FROM message_embeddings").fetchone()) == (1,)


def test_vector_matrix_appends_keep_views_and_scopes_exact() -> None:
    """Rows added to the in-memory matrix land in growing buffers (no copy of what is held) and the
    cached session/peer scopes take their new rows: the same as a matrix built in one go."""
    import numpy as np

    from honcho_local.store.vectors import _empty

    rng = np.random.default_rng(1)
    n = 3000
    pks = np.arange(1, n + 1)
    sessions, peers = [f"s{i % 7}" for i in range(n)], [f"p{i % 3}" for i in range(n)]
    vectors = rng.standard_normal((n, 8)).astype(np.float32)

    def add(m, lo: int, hi: int) -> None:
        m.append(pks[lo:hi], sessions[lo:hi], peers[lo:hi], vectors[lo:hi])

    grown, whole = _empty(), _empty()
    add(whole, 0, n)
    add(grown, 0, 1000)
    scopes = [("s1", None), (None, "p2"), ("s3", "p0"), ("s6", "p1")]
    held = {k: grown.scope(*k) for k in scopes}  # cached before the appends
    old_pks = grown.pks
    for start in range(1000, n, 250):
        add(grown, start, start + 250)
    assert len(old_pks) == 1000  # a view handed out earlier is unchanged
    assert np.array_equal(grown.pks, whole.pks) and np.allclose(grown.vectors, whole.vectors)
    for key in scopes:
        got, want = grown.scope(*key), whole.scope(*key)
        assert np.array_equal(got[0], want[0]) and np.allclose(got[1], want[1]), key
        assert len(got[0]) > len(held[key][0])


def test_vector_matrix_searches_while_rows_are_appended() -> None:
    """Searches from several threads while another appends: every search sees columns of one length
    (reading them one by one raised shape errors under writes), and the cached scopes end exact."""
    import threading

    import numpy as np

    from honcho_local.store.vectors import _empty

    rng = np.random.default_rng(3)
    n = 20_000
    pks = np.arange(1, n + 1)
    sessions, peers = [f"s{i % 11}" for i in range(n)], [f"p{i % 5}" for i in range(n)]
    data = rng.standard_normal((n, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    m = _empty()
    m.append(pks[:500], sessions[:500], peers[:500], data[:500])
    errors: list[BaseException] = []
    done = threading.Event()

    def search(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            while not done.is_set():
                q = data[r.integers(0, n)]
                scope = [(None, None), (f"s{r.integers(11)}", None), (None, f"p{r.integers(5)}"),
                         (f"s{r.integers(11)}", f"p{r.integers(5)}")][r.integers(4)]
                m.search(q, 5, *scope)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=search, args=(i,)) for i in range(3)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible: inside appends too
    for t in threads:
        t.start()
    try:
        for start in range(500, n, 50):
            m.append(pks[start:start + 50], sessions[start:start + 50], peers[start:start + 50], data[start:start + 50])
    finally:
        done.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(switch)
    assert not errors, errors[:3]
    for key in [("s3", None), (None, "p2"), ("s7", "p1")]:
        rows = [i for i in range(n) if (key[0] is None or sessions[i] == key[0]) and (key[1] is None or peers[i] == key[1])]
        got = m.scope(*key)
        assert np.array_equal(got[0], pks[rows]) and np.allclose(got[1], data[rows]), key

