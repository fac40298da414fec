"""The official honcho-ai 2.7.0 SDK's read and chat flows against a live `honcho-local serve`
(real DuckDB file, real MiniLM embeddings, real SmolLM2 chat model)."""

from __future__ import annotations

import httpx
import pytest
from honcho import Honcho
from pydantic import BaseModel

pytestmark = pytest.mark.model


def _seed(honcho: Honcho):
    alice, bot = honcho.peer("alice"), honcho.peer("bot")
    session = honcho.session("s1", peers=[alice, bot])
    session.add_messages([
        alice.message("I automate invoices with Python scripts every Monday."),
        bot.message("Nice. Which payment provider do you use?"),
        alice.message("Stripe. My cat Miso sits on the keyboard while I code."),
        bot.message("Ha, cats love warm laptops."),
    ])
    return alice, bot, session


def test_session_context_and_to_openai(read_honcho: Honcho) -> None:
    alice, bot, session = _seed(read_honcho)
    ctx = session.context(tokens=2000)
    assert [m.content for m in ctx.messages][0].startswith("I automate invoices")
    assert len(ctx.messages) == 4 and ctx.summary is None and ctx.peer_representation is None
    small = session.context(tokens=25)
    assert 0 < len(small.messages) < 4
    assert small.messages[-1].content == "Ha, cats love warm laptops."  # the newest ones are kept
    openai = ctx.to_openai(assistant=bot)
    assert [m["role"] for m in openai] == ["user", "assistant", "user", "assistant"]
    assert openai[2]["content"].startswith("Stripe.")

    alice.conclusions.create([{"content": "Alice automates invoices with Python", "session_id": "s1"}])
    alice.set_card(["IDENTITY: Alice", "ATTRIBUTE: uses Stripe"])
    targeted = session.context(tokens=2000, peer_target="alice")
    assert "## Explicit Observations" in targeted.peer_representation
    assert "Alice automates invoices with Python" in targeted.peer_representation
    assert targeted.peer_card == ["IDENTITY: Alice", "ATTRIBUTE: uses Stripe"]
    system = ctx.__class__.to_openai(targeted, assistant=bot)[0]
    assert system["role"] == "system" and "<peer_representation>" in system["content"]


def test_representation_card_and_peer_context(read_honcho: Honcho) -> None:
    alice, bot, _ = _seed(read_honcho)
    assert alice.representation() == ""
    assert alice.get_card() is None
    alice.conclusions.create([{"content": "Alice prefers Python"}, {"content": "Alice has a cat named Miso"}])
    bot.conclusions_of(alice).create([{"content": "Alice asked about Stripe fees"}])
    rep = alice.representation()
    assert rep.startswith("## Explicit Observations")
    assert "Alice prefers Python" in rep and "Alice asked about Stripe fees" not in rep
    assert "Alice asked about Stripe fees" in bot.representation(target=alice)
    focused = alice.representation(search_query="pets", search_top_k=1, max_conclusions=1)
    assert "Miso" in focused and "Python" not in focused
    assert alice.set_card(["IDENTITY: Alice", "identity: alice", "ATTRIBUTE: lives in Lisbon"]) == [
        "IDENTITY: Alice", "ATTRIBUTE: lives in Lisbon"]
    assert alice.get_card() == ["IDENTITY: Alice", "ATTRIBUTE: lives in Lisbon"]
    assert bot.get_card(target=alice) is None
    bot.set_card(["RELATIONSHIP: helps bot with billing"], target=alice)
    assert bot.get_card(target="alice") == ["RELATIONSHIP: helps bot with billing"]
    ctx = alice.context()
    assert (ctx.peer_id, ctx.target_id) == ("alice", "alice")
    assert "Alice prefers Python" in ctx.representation and ctx.peer_card[0] == "IDENTITY: Alice"
    assert bot.context(target=alice).peer_card == ["RELATIONSHIP: helps bot with billing"]


def test_conclusions_create_list_query_get_delete(read_honcho: Honcho) -> None:
    alice, bot, _ = _seed(read_honcho)
    made = alice.conclusions.create([
        {"content": "Alice lives in Lisbon", "session_id": "s1"},
        {"content": "Alice drinks espresso every morning"},
        {"content": "Alice's cat is called Miso"},
    ])
    assert [c.content for c in made] == ["Alice lives in Lisbon", "Alice drinks espresso every morning",
                                          "Alice's cat is called Miso"]
    listed = list(alice.conclusions.list())
    assert [c.id for c in listed] == [c.id for c in made] or {c.id for c in listed} == {c.id for c in made}
    assert [c.content for c in alice.conclusions.list(session="s1")] == ["Alice lives in Lisbon"]
    assert list(bot.conclusions.list()) == []
    hits = alice.conclusions.query("coffee", top_k=1)
    assert [c.content for c in hits] == ["Alice drinks espresso every morning"]
    assert alice.conclusions.query("pet animal", top_k=3)[0].content == "Alice's cat is called Miso"
    assert alice.conclusions.query("pet animal", top_k=3, distance=0.0001) == []
    got = alice.conclusions.get(made[0].id)
    assert (got.content, got.session_id, got.times_derived, got.source_ids) == ("Alice lives in Lisbon", "s1", 1, None)
    assert read_honcho.conclusions.get(made[1].id).content == "Alice drinks espresso every morning"
    alice.conclusions.delete(made[0].id)
    assert made[0].id not in {c.id for c in alice.conclusions.list()}
    with pytest.raises(Exception, match="(?i)not found"):
        alice.conclusions.get(made[0].id)


def test_conclusions_list_is_newest_first(read_honcho: Honcho) -> None:
    alice = read_honcho.peer("alice")
    for i in range(3):
        alice.conclusions.create([{"content": f"fact number {i}"}])
    assert [c.content for c in alice.conclusions.list()] == ["fact number 2", "fact number 1", "fact number 0"]
    assert [c.content for c in alice.conclusions.list(reverse=True)][0] == "fact number 0"
    assert [c.content for c in alice.conclusions.list(filters={"level": "explicit"}, size=2)][:2] == [
        "fact number 2", "fact number 1"]


def test_search_at_three_levels(read_honcho: Honcho) -> None:
    alice, bot, session = _seed(read_honcho)
    other = read_honcho.session("s2")
    other.add_messages([bot.message("Invoices for the other client are overdue.")])
    found = read_honcho.search("invoices")
    # Messages holding the word rank first; the reply right after one is found too, lower, by the
    # previous-message context the lexical index keeps (an answer is found by its question's words).
    assert {m.content for m in found[:2]} == {"I automate invoices with Python scripts every Monday.",
                                              "Invoices for the other client are overdue."}
    assert [m.content for m in found[2:]] == ["Nice. Which payment provider do you use?"]
    assert [m.content for m in session.search("invoices")] == [
        "I automate invoices with Python scripts every Monday.", "Nice. Which payment provider do you use?"]
    assert [m.session_id for m in bot.search("invoices")] == ["s2", "s1"]
    assert [m.content for m in read_honcho.search("invoice", filters={"session_id": "s2"})] == [
        "Invoices for the other client are overdue."]
    assert read_honcho.search("cats keyboard", limit=1)[0].content.startswith("Stripe.")
    assert session.search("zebra") == []


class City(BaseModel):
    city: str


def test_chat_and_chat_stream(read_honcho: Honcho) -> None:
    alice, bot, session = _seed(read_honcho)
    alice.conclusions.create([{"content": "Alice has a cat named Miso"}, {"content": "Alice lives in Lisbon"}])
    answer = read_honcho._http.post(f"/v3/workspaces/{read_honcho.workspace_id}/peers/alice/chat",
                                    body={"query": "What is the name of Alice's cat?", "reasoning_level": "minimal"})
    assert set(answer) == {"content"} and answer["content"].strip()
    with_evidence = alice.chat("Where does Alice live?", include_evidence=True, reasoning_level="minimal")
    assert with_evidence.content and with_evidence.evidence is not None
    assert "Alice lives in Lisbon" in [c.content for c in with_evidence.evidence.conclusions]
    structured = alice.chat("Which city does Alice live in?", response_format=City, session=session)
    assert isinstance(structured, City) and isinstance(structured.city, str)  # parsed by the SDK from our JSON
    stream = alice.chat_stream("What does Alice use to automate invoices?", include_evidence=True)
    chunks = list(stream)
    assert len(chunks) > 1 and "".join(chunks).strip()
    assert stream.evidence is not None and stream.evidence.conclusions


def test_chat_sse_wire_format(read_http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    read_http.post(f"{w}/sessions/s/messages", json={"messages": [{"peer_id": "alice", "content": "I like tea"}]})
    body = {"query": "What does alice like?", "stream": True, "reasoning_level": "minimal"}
    with read_http.stream("POST", f"{w}/peers/alice/chat", json=body,
                          headers={"Accept": "text/event-stream"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    events = [e for e in body.split("\n\n") if e]
    assert events[-1] == 'data: {"done": true}'
    assert len(events) > 1
    assert all(e.startswith('data: {"delta": {"content": ') and e.endswith('}, "done": false}') for e in events[:-1])


def test_client_hanging_up_mid_stream_frees_the_model(read_http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    read_http.post(f"{w}/sessions/s/messages", json={"messages": [{"peer_id": "alice", "content": "I like tea"}]})
    body = {"query": "Write a long story about alice and tea.", "stream": True, "reasoning_level": "max"}
    with read_http.stream("POST", f"{w}/peers/alice/chat", json=body) as r:
        first = next(r.iter_lines())
        assert first.startswith("data: ")
    # The abandoned generation must release the model: a leaked lock would make the next answer wait
    # for the server's model deadline (an hour in tests), far past this test's pytest timeout.
    again = read_http.post(f"{w}/peers/alice/chat", json={"query": "What does alice like?",
                                                         "reasoning_level": "minimal"})
    assert again.status_code == 200, again.text
