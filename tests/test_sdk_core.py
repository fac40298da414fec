"""The official honcho-ai 2.7.0 SDK against a live `honcho-local serve`: the core write/read flows."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from honcho import Honcho
from honcho.api_types import SessionPeerConfig


def test_peers_with_metadata_round_trip(honcho: Honcho) -> None:
    alice = honcho.peer("alice", metadata={"role": "user", "tier": 2})
    assert alice.metadata == {"role": "user", "tier": 2}
    assert honcho.peer("alice").get_metadata() == {"role": "user", "tier": 2}
    alice.set_metadata({"role": "admin"})
    assert alice.get_metadata() == {"role": "admin"}
    honcho.peer("bob")
    assert sorted(p.id for p in honcho.peers()) == ["alice", "bob"]
    assert [p.id for p in honcho.peers(filters={"metadata": {"role": "admin"}})] == ["alice"]


def test_workspace_metadata_and_listing(honcho: Honcho, workspace_id: str) -> None:
    honcho.set_metadata({"project": "invoices"})
    assert honcho.get_metadata() == {"project": "invoices"}
    assert workspace_id in list(honcho.workspaces())


def test_session_with_peer_configs(honcho: Honcho) -> None:
    alice = honcho.peer("alice")
    session = honcho.session("s1", peers=[alice, ("bot", SessionPeerConfig(observe_others=True))],
                             metadata={"topic": "billing"})
    assert session.get_metadata() == {"topic": "billing"}
    assert sorted(p.id for p in session.peers()) == ["alice", "bot"]
    bot_config = session.get_peer_configuration("bot")
    assert bot_config.observe_others is True
    session.set_peer_configuration("alice", SessionPeerConfig(observe_me=False))
    assert session.get_peer_configuration("alice").observe_me is False
    assert [s.id for s in alice.sessions()] == ["s1"]


def test_add_messages_batches_and_walk_every_page(honcho: Honcho) -> None:
    alice, bot = honcho.peer("alice"), honcho.peer("bot")
    session = honcho.session("chat")
    first = session.add_messages([alice.message(f"batch message {i}") for i in range(100)])
    assert len(first) == 100 and all(len(m.id) == 21 for m in first)
    for round_ in range(5):
        session.add_messages([alice.message(f"hello {round_}"), bot.message(f"reply {round_}")])
    session.add_messages(alice.message("single", metadata={"k": "v"}))
    contents = [m.content for m in session.messages(size=7)]
    expected = [f"batch message {i}" for i in range(100)]
    for round_ in range(5):
        expected += [f"hello {round_}", f"reply {round_}"]
    expected.append("single")
    assert contents == expected
    newest_first = session.messages(size=3, reverse=True)
    assert [m.content for m in newest_first.items] == ["single", "reply 4", "hello 4"]
    assert [m.content for m in session.messages(filters={"peer_id": "bot"})] == [f"reply {i}" for i in range(5)]
    assert sorted(p.id for p in session.peers()) == ["alice", "bot"]


def test_created_at_is_kept(honcho: Honcho) -> None:
    alice = honcho.peer("alice")
    session = honcho.session("history")
    when = datetime(2023, 5, 4, 3, 2, 1, tzinfo=timezone.utc)
    [msg] = session.add_messages(alice.message("long ago", created_at=when))
    assert msg.created_at == when
    assert session.get_message(msg.id).created_at == when


def test_get_and_update_message(honcho: Honcho) -> None:
    alice = honcho.peer("alice")
    session = honcho.session("s-msg")
    [msg] = session.add_messages(alice.message("remember me", metadata={"a": 1}))
    fetched = session.get_message(msg.id)
    assert (fetched.content, fetched.metadata, fetched.peer_id) == ("remember me", {"a": 1}, "alice")
    updated = session.update_message(msg.id, {"b": [1, 2]})
    assert updated.metadata == {"b": [1, 2]} and updated.content == "remember me"
    assert session.get_message(msg.id).metadata == {"b": [1, 2]}


def test_session_membership_add_set_remove(honcho: Honcho) -> None:
    session = honcho.session("members")
    session.add_peers(["a", "b"])
    assert sorted(p.id for p in session.peers()) == ["a", "b"]
    session.set_peers(["b", "c"])
    assert sorted(p.id for p in session.peers()) == ["b", "c"]
    session.remove_peers(["b"])
    assert [p.id for p in session.peers()] == ["c"]
    session.add_peers("b")
    assert sorted(p.id for p in session.peers()) == ["b", "c"]


def test_session_metadata_configuration_and_listing(honcho: Honcho) -> None:
    session = honcho.session("conf", metadata={"x": 1})
    session.set_metadata({"x": 2})
    assert session.get_metadata() == {"x": 2}
    honcho.session("other", metadata={"x": 3})
    assert [s.id for s in honcho.sessions(filters={"metadata": {"x": 3}})] == ["other"]
    assert sorted(s.id for s in honcho.sessions()) == ["conf", "other"]


def test_session_delete_and_clone(honcho: Honcho) -> None:
    alice = honcho.peer("alice")
    session = honcho.session("orig", peers=[alice])
    msgs = session.add_messages([alice.message(f"m{i}") for i in range(5)])
    full = session.clone()
    assert full.id != "orig" and len(full.id) == 21
    assert [m.content for m in full.messages()] == [f"m{i}" for i in range(5)]
    partial = session.clone(message_id=msgs[2].id)
    assert [m.content for m in partial.messages()] == ["m0", "m1", "m2"]
    assert {m.id for m in partial.messages()}.isdisjoint({m.id for m in msgs})
    assert [p.id for p in partial.peers()] == ["alice"]
    session.delete()
    assert "orig" not in [s.id for s in honcho.sessions()]
    with pytest.raises(Exception) as info:
        session.get_message(msgs[0].id)
    assert "not found" in str(info.value).lower()
    assert [m.content for m in full.messages()] == [f"m{i}" for i in range(5)]
