"""Peer cards built from conclusions: labels, what is left off, near-duplicates, caps, pinned entries;
the profile request and its failure."""

from __future__ import annotations

import pytest

from honcho_local.errors import ModelError
from honcho_local.llm.base import ChatRequest, Completion
from honcho_local.services import peer_card


@pytest.mark.parametrize(("fact", "label"), [
    ("Caroline is a transgender woman who loves art", "IDENTITY"),
    ("Melanie is 34 years old", "IDENTITY"),
    ("John works as a mechanical engineer", "IDENTITY"),
    ("Caroline moved from Sweden four years ago", "IDENTITY"),
    ("Caroline has a guinea pig named Oscar", "RELATIONSHIP"),
    ("Melanie is married to her husband and has been married for 5 years", "RELATIONSHIP"),
    ("Caroline likes to paint", "ATTRIBUTE"),
    ("Jon is passionate about dancing", "ATTRIBUTE"),
    ("Joanna prefers to be called Jo", "INSTRUCTION"),
    ("John loves watching movies with friends", "ATTRIBUTE"),  # friends in passing: not a relationship
    ("Joanna encourages writing and sharing, even if it's just with friends", None),
    # left off: not about the peer, a one-off event, who said what, nothing stable
    ("Melanie and her partner are getting married", None),
    ("Caroline shared a photo of a drawing of a woman in a dress", None),
    ("Caroline joined a new LGBTQ activist group on 18 July 2023 and loves it", None),
    ("Caroline thanked Melanie for the sweet moments", None),
    ("Caroline went hiking and got into a bad spot", None),
])
def test_label_of(fact: str, label: str | None) -> None:
    peer = "Caroline" if fact.startswith("Melanie and") else fact.split()[0]
    assert peer_card.label_of(fact, peer) == label


def test_build_card_groups_caps_and_skips_near_duplicates() -> None:
    facts = (["Sam likes watching classics", "Sam likes to watch classics.", "Sam has a cat named Tom"]
             + [f"Sam enjoys hobby{i} a lot" for i in range(20)] + ["Sam is 30 years old"])
    card = peer_card.build_card("Sam", facts, pinned=["INSTRUCTION: keep answers short"])
    assert card[0] == "INSTRUCTION: keep answers short"  # pinned first
    assert card[1:3] == ["IDENTITY: Sam is 30 years old", "RELATIONSHIP: Sam has a cat named Tom"]
    attributes = [e for e in card if e.startswith("ATTRIBUTE:")]
    assert attributes[0] == "ATTRIBUTE: Sam likes watching classics"  # the second wording is a near-duplicate
    assert not any("watch classics" in e for e in card)
    assert len(attributes) == peer_card.CAPS["ATTRIBUTE"]  # in the order given: most reinforced first
    assert attributes[1:] == [f"ATTRIBUTE: Sam enjoys hobby{i} a lot" for i in range(peer_card.CAPS["ATTRIBUTE"] - 1)]


def test_build_card_holds_at_most_40_entries() -> None:
    pinned = [f"ATTRIBUTE: pinned {i}" for i in range(39)]
    card = peer_card.build_card("Sam", ["Sam is 30 years old", "Sam has a dog"], pinned)
    assert len(card) == peer_card.MAX_ENTRIES and card[-1] == "IDENTITY: Sam is 30 years old"


class Scripted:
    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[ChatRequest] = []

    def complete(self, req: ChatRequest) -> Completion:
        self.requests.append(req)
        return Completion(text=self.text, prompt_tokens=1, completion_tokens=1, finish_reason="stop",
                          provider="scripted", model="scripted", seconds=0.1)


def test_profile_is_plain_text_from_card_and_latest_facts() -> None:
    llm = Scripted("  Mel is a painter\n with two kids.  ")
    text, done = peer_card.write_profile(llm, "Mel", ["IDENTITY: Mel is a painter"], ["Mel has two kids"])
    assert text == "Mel is a painter with two kids." and done.seconds == 0.1
    [req] = llm.requests
    assert req.schema is None and req.max_tokens == peer_card.PROFILE_MAX_TOKENS
    assert "- Mel is a painter" in req.messages[-1]["content"] and "- Mel has two kids" in req.messages[-1]["content"]
    with pytest.raises(ModelError):
        peer_card.write_profile(Scripted(" ok "), "Mel", [], [])
    long = " ".join(["Mel paints every day."] * 40)
    text, _ = peer_card.write_profile(Scripted(long), "Mel", [], ["Mel paints every day"])
    assert len(text) <= peer_card.PROFILE_MAX_CHARS and text.endswith(".")


def test_a_profile_keeps_only_the_sentences_its_facts_support() -> None:
    llm = Scripted("Alice lives in Lisbon. She cares about the city and its culture. She is a kind person.")
    text, _ = peer_card.write_profile(llm, "Alice", ["IDENTITY: Alice lives in Lisbon"],
                                      ["Alice moved to Lisbon last month."])
    assert text == "Alice lives in Lisbon."  # no fact says cares, city, culture or kind
    kept, dropped = peer_card.grounded_profile("Alice is currently painting. Alice paints with Bob.", "Alice",
                                               ["Alice paints landscapes"])
    assert (kept, dropped) == ("Alice is currently painting.", ["Alice paints with Bob."])
    assert peer_card.grounded_profile("Alice paints. Alice", "Alice", ["Alice paints"]) == ("Alice paints.", ["Alice"])
    with pytest.raises(ModelError, match="facts support"):
        peer_card.write_profile(Scripted("She loves jazz and the sea."), "Alice", [], ["Alice lives in Lisbon"])
