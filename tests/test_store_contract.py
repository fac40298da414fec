"""The store's interface, entity by entity, on a real DuckDB file: what each module promises its callers
(the services), checked through that module alone. One test per entity module: workspaces, peers,
sessions (with membership), events, conclusions, summaries, cards and profiles, message embeddings.
Writes go through `Store.write` (the writer thread, one transaction each), reads through `Store.read`."""

from __future__ import annotations

from datetime import datetime

import pytest

from honcho_local.errors import InvalidInput
from honcho_local.store import Store, cards, embeddings, events, peers, sessions, summaries, utcnow, workspaces
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store.conclusions import Conclusion, NewConclusion, insert_conclusions
from honcho_local.store.events import NewEvent


def _message(peer: str, content: str, metadata: dict | None = None, at: datetime | None = None) -> NewEvent:
    return NewEvent(peer, content, "message", metadata or {}, None, max(1, len(content) // 4), at)


def _append(store: Store, ws: str, session: str, *messages: NewEvent) -> list[dict]:
    def op(ctx):
        sessions.ensure_for_append(ctx, ws, session, sorted({m.peer_id for m in messages}))
        return events.append(ctx, ws, session, list(messages))

    return store.write(op)


def test_workspaces_are_created_once_updated_and_listed(store: Store) -> None:
    assert store.write(lambda ctx: workspaces.ensure_workspace(ctx, "w1", {"team": "a"})) is True
    assert store.write(lambda ctx: workspaces.ensure_workspace(ctx, "w1", {"team": "ignored"})) is False
    assert store.read(lambda cur: workspaces.get_workspace(cur, "w1")).metadata == {"team": "a"}
    store.write(lambda ctx: workspaces.update_workspace(ctx, "w1", {"team": "b"}, {"reasoning": {"enabled": False}}))
    row = store.read(lambda cur: workspaces.get_workspace(cur, "w1"))
    assert row.metadata == {"team": "b"} and row.configuration == {"reasoning": {"enabled": False}}
    assert store.read(lambda cur: workspaces.workspace_configuration(cur, "w1")) == {"reasoning": {"enabled": False}}
    store.write(lambda ctx: workspaces.ensure_workspace(ctx, "w2", {"team": "c"}))
    rows, total = store.read(lambda cur: workspaces.list_workspaces(cur, None, 1, 10, False))
    assert total == 2 and sorted(r.id for r in rows) == ["w1", "w2"]
    rows, total = store.read(lambda cur: workspaces.list_workspaces(cur, {"metadata": {"team": "c"}}, 1, 10, False))
    assert (total, [r.id for r in rows]) == (1, ["w2"])
    assert store.read(lambda cur: workspaces.get_workspace(cur, "nope")) is None


def test_peers_belong_to_their_workspace_and_page_by_filter(store: Store) -> None:
    def setup(ctx):
        workspaces.ensure_workspace(ctx, "w")
        for i in range(5):
            peers.ensure_peer(ctx, "w", f"p{i}", {"n": i})

    store.write(setup)
    assert store.write(lambda ctx: peers.ensure_peer(ctx, "w", "p0")) is False
    store.write(lambda ctx: peers.update_peer(ctx, "w", "p0", {"n": 10}, {"observe_me": False}))
    p0 = store.read(lambda cur: peers.get_peer(cur, "w", "p0"))
    assert p0.metadata == {"n": 10} and p0.configuration == {"observe_me": False}
    assert store.read(lambda cur: peers.get_peer(cur, "other", "p0")) is None
    first, total = store.read(lambda cur: peers.list_peers(cur, "w", None, 1, 2, False))
    second, _ = store.read(lambda cur: peers.list_peers(cur, "w", None, 2, 2, False))
    assert total == 5 and len(first) == len(second) == 2 and not {r.id for r in first} & {r.id for r in second}
    rows, total = store.read(lambda cur: peers.list_peers(cur, "w", {"metadata": {"n": 3}}, 1, 10, False))
    assert (total, [r.id for r in rows]) == (1, ["p3"])
    with pytest.raises(InvalidInput):
        store.read(lambda cur: peers.list_peers(cur, "w", {"no_such_field": 1}, 1, 10, False))


def test_sessions_members_and_soft_deletes(store: Store) -> None:
    _append(store, "w", "s", _message("alice", "hi"), _message("bob", "hello"))
    assert store.read(lambda cur: sessions.get_session(cur, "w", "s")).is_active is True
    members = store.read(lambda cur: sessions.get_members(cur, "w", "s"))
    assert sorted(m["peer_id"] for m in members) == ["alice", "bob"]
    store.write(lambda ctx: sessions.set_member_config(ctx, "w", "s", "bob", None, True, {"observe_others"}))
    bob = next(m for m in store.read(lambda cur: sessions.get_members(cur, "w", "s")) if m["peer_id"] == "bob")
    assert bob["observe_others"] is True
    assert store.read(lambda cur: sessions.count_observers(cur, "w", "s")) >= 1
    store.write(lambda ctx: sessions.remove_members(ctx, "w", "s", ["alice"]))
    assert [m["peer_id"] for m in store.read(lambda cur: sessions.get_members(cur, "w", "s"))] == ["bob"]
    assert len(store.read(lambda cur: sessions.get_members(cur, "w", "s", active_only=False))) == 2
    assert store.read(lambda cur: sessions.count_sessions(cur, "w")) == 1
    store.write(lambda ctx: sessions.delete_session(ctx, "w", "s"))
    assert store.read(lambda cur: sessions.count_sessions(cur, "w")) == 0
    row = store.read(lambda cur: sessions.get_session(cur, "w", "s"))
    assert row is None or row.is_active is False


def test_events_keep_log_and_session_order_and_only_metadata_changes(store: Store) -> None:
    said = datetime(2024, 5, 1, 12, 0)
    first = _append(store, "w", "s", _message("alice", "one", {"k": 1}, said), _message("bob", "two"))
    _append(store, "w", "other", _message("carol", "elsewhere"))
    last = _append(store, "w", "s", _message("alice", "three"))
    rows = [*first, *last]
    assert [r["seq"] for r in rows] == [1, 2, 3] and rows[0]["pk"] < rows[1]["pk"] < rows[2]["pk"]
    assert rows[0]["created_at"] == said
    got = store.read(lambda cur: events.get_event(cur, "w", "s", rows[0]["id"]))
    assert got is not None and (got.content, got.metadata, got.seq) == ("one", {"k": 1}, 1)
    page, total = store.read(lambda cur: events.list_events(cur, "w", "s", None, 1, 2, False, ["message"]))
    assert total == 3 and [r.content for r in page] == ["one", "two"]
    newest, _ = store.read(lambda cur: events.list_events(cur, "w", "s", None, 1, 1, True, ["message"]))
    assert [r.content for r in newest] == ["three"]
    assert store.write(lambda ctx: events.update_metadata(ctx, "w", "s", rows[1]["id"], {"edited": True})) is True
    edited = store.read(lambda cur: events.get_event(cur, "w", "s", rows[1]["id"]))
    assert edited is not None and edited.metadata == {"edited": True}
    by_id = store.read(lambda cur: events.messages_by_id(cur, "w", [rows[0]["id"], "missing"]))
    assert list(by_id) == [rows[0]["id"]]
    by_pk = store.read(lambda cur: events.messages_by_pk(cur, [r["pk"] for r in rows]))
    assert sorted(by_pk) == sorted(r["pk"] for r in rows)
    budget = rows[1]["token_count"] + rows[2]["token_count"]
    recent = store.read(lambda cur: events.recent_messages(cur, "w", "s", 0, budget))
    assert [m.content for m in recent] == ["two", "three"]  # the newest that fit, oldest first
    assert store.read(lambda cur: events.session_message_stats(cur, "w", "s", rows[2]["pk"]))[0] == 3


def test_a_message_reads_back_as_the_write_path_answered_it(store: Store) -> None:
    """The write path shapes its rows before they are stored (`views.appended_message`), the reads shape
    `Message`s (`views.message`): the API's objects must be the same, keys in the same order."""
    from honcho_local.services import views

    written = _append(store, "w", "s", _message("alice", "hello", {"k": [1, "two"]}, datetime(2024, 5, 1, 12, 0)),
                      NewEvent("alice", "ran a tool", "tool_call", {}, {"x": 1}, 3, None))
    for row in written:
        got = store.read(lambda cur, row=row: events.get_event(cur, "w", "s", row["id"], kind=None))
        assert got is not None and (got.pk, got.kind, got.configuration) == (row["pk"], row["kind"], row["configuration"])
        assert list(views.message(got).items()) == list(views.appended_message(row).items())
        assert list(views.event(got).items()) == list(views.appended_event(row).items())


def test_conclusions_dedupe_read_back_typed_and_stay_visible_before_a_soft_delete(store: Store) -> None:
    def add(*items: NewConclusion):
        return store.write(lambda ctx: insert_conclusions(ctx, list(items), "v1"), scoped=True)

    made = add(NewConclusion("w", "a", "b", "Bob lives in Lisbon", embedding=[1.0, 0.0], embedding_model="m"),
               NewConclusion("w", "a", "b", "Bob plays the cello", embedding=[0.0, 1.0], embedding_model="m"))
    again = add(NewConclusion("w", "a", "b", "  bob lives in lisbon ", embedding=[1.0, 0.0], embedding_model="m"))
    assert again[0].id == made[0].id  # an exact duplicate (case, spaces) counts up the stored one
    row = store.read(lambda cur: conclusions_db.get_conclusion(cur, "w", made[0].id))
    assert isinstance(row, Conclusion) and row.times_derived == 2 and row.content == "Bob lives in Lisbon"
    near = store.read(lambda cur: conclusions_db.query_conclusions(cur, "w", "v1", [0.9, 0.1], "m", 1, None))
    assert [c.id for c in near] == [made[0].id] and near[0].distance is not None and near[0].distance < 0.05
    rows, total = store.read(lambda cur: conclusions_db.list_conclusions(cur, "w", "v1", None, 1, 10, False))
    assert total == 2 and {c.id for c in rows} == {m.id for m in made}
    pool = store.read(lambda cur: conclusions_db.representation_pool(cur, "w", "v1", "a", "b", 10, 0))
    assert {c.content for c in pool} == {"Bob lives in Lisbon", "Bob plays the cello"}
    texts = store.read(lambda cur: conclusions_db.recent_conclusions(cur, "w", "a", "b", "v1"))
    assert texts[0] == "Bob lives in Lisbon"  # the most reinforced first
    before = utcnow()
    assert store.write(lambda ctx: conclusions_db.delete_conclusion(ctx, "w", made[1].id)) is True
    assert store.read(lambda cur: conclusions_db.get_conclusion(cur, "w", made[1].id)) is None
    then, total_then = store.read(lambda cur: conclusions_db.list_conclusions(cur, "w", "v1", None, 1, 10, False,
                                                                              before))
    assert total_then == 2 and made[1].id in {c.id for c in then}  # time travel still sees it
    assert store.read(lambda cur: conclusions_db.conclusions_since(cur, "w", "a", "b", "v1", None)) == 1


def test_summaries_and_cards_keep_their_history(store: Store) -> None:
    [m] = _append(store, "w", "s", _message("alice", "one"))
    # a summary whose last message is gone (deleted while it was written) is not stored
    store.write(lambda ctx: summaries.insert_summary(ctx, "w", "s", "short", "orphan", m["pk"], "gone", 3, "v1"))
    assert store.read(lambda cur: summaries.latest_summary(cur, "w", "s", "short", "v1")) is None
    store.write(lambda ctx: summaries.insert_summary(ctx, "w", "s", "short", "first", m["pk"], m["id"], 3, "v1"))
    between = store.read(lambda cur: summaries.latest_summary(cur, "w", "s", "short", "v1"))["created_at"]
    store.write(lambda ctx: summaries.insert_summary(ctx, "w", "s", "short", "second", m["pk"], m["id"], 3, "v1"))
    assert store.read(lambda cur: summaries.latest_summary(cur, "w", "s", "short", "v1"))["content"] == "second"
    assert store.read(lambda cur: summaries.current_summaries(cur, "w", "s", "v1"))["short"]["content"] == "second"
    assert store.read(lambda cur: summaries.current_summaries(cur, "w", "s", "v1", between))["short"]["content"] == "first"
    assert store.read(lambda cur: summaries.current_summaries(cur, "w", "s", "v2")) == {}
    store.write(lambda ctx: cards.append_card(ctx, "w", "a", "a", ["likes tea"], "v1"))
    middle = store.read(lambda cur: cards.latest_card(cur, "w", "a", "a", "v1"))["created_at"]
    store.write(lambda ctx: cards.append_card(ctx, "w", "a", "a", ["likes coffee"], "v1"))
    assert store.read(lambda cur: cards.current_card(cur, "w", "a", "a", "v1")) == ["likes coffee"]
    assert store.read(lambda cur: cards.current_card(cur, "w", "a", "a", "v1", middle)) == ["likes tea"]
    store.write(lambda ctx: cards.insert_profile(ctx, "w", "a", "a", "A tea drinker.", "v1"))
    assert store.read(lambda cur: cards.current_profile(cur, "w", "a", "a", "v1")) == "A tea drinker."
    assert store.read(lambda cur: cards.current_card(cur, "w", "a", "b", "v1")) is None


def test_message_embeddings_fill_what_is_missing_once(store: Store) -> None:
    rows = _append(store, "w", "s", _message("alice", "one"), _message("bob", "two"))
    end = rows[-1]["pk"]
    missing = store.read(lambda cur: embeddings.missing_message_embeddings(cur, "w", "s", "m", end))
    assert [(pk, peer) for pk, peer, _ in missing] == [(r["pk"], r["peer_id"]) for r in rows]
    store.write(lambda ctx: embeddings.insert_message_embeddings(ctx, "w", "s", "m", [(rows[0]["pk"], [1.0, 0.0])]))
    left = store.read(lambda cur: embeddings.missing_message_embeddings(cur, "w", "s", "m", end))
    assert [pk for pk, _, _ in left] == [rows[1]["pk"]]
    assert len(store.read(lambda cur: embeddings.missing_message_embeddings(cur, "w", "s", "other", end))) == 2
