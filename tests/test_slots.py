"""The named slots a dream compares (`services/slots.py`): which facts fill which slot, whose slot it is, and
which pairs of facts clash. Pure text rules; the examples are the hand-made update pairs of
`scripts/bench_dream_decisions.py` and sentences as the deriver writes them on LoCoMo and BEAM."""

from __future__ import annotations

import pytest

from honcho_local.services.slots import Slot, clash, slots


def filled(text: str, peer: str = "Alice") -> dict[str, str]:
    return {s.key: s.value for s in slots(text, peer)}


@pytest.mark.parametrize(("older", "newer", "slot"), [
    ("Alice lives in Lisbon.", "Alice moved to Porto.", Slot("residence", "porto")),
    ("alice said: I live in Lisbon, near the river.", "alice said: I moved from Lisbon to Porto in March.",
     Slot("residence", "porto")),
    ("Alice works at Acme as a designer.", "Alice started a new job at Globex.", Slot("employer", "globex")),
    ("Alice is single.", "Alice got engaged to Tom.", Slot("relationship", "engaged")),
    ("Alice's favourite food is sushi.", "Alice now prefers Italian food over sushi.",
     Slot("favourite:food", "italian food")),
    ("Alice drives a Honda.", "Alice sold her Honda and bought a Tesla.", Slot("owns:honda", "no")),
    ("I negotiated 2 remote workdays per week.", "I now work remotely 3 days per week.", Slot("count:day/week", "3")),
    ("I'm cutting my work hours to 45 weekly by April 1.", "I've reduced my work hours from 50 to 42 weekly.",
     Slot("count:hour/week", "42")),
])
def test_a_changed_value_of_one_slot_clashes(older: str, newer: str, slot: Slot) -> None:
    peer = "Alice" if "Alice" in older else "user"
    assert clash(slots(older, peer), slots(newer, peer)) == slot


@pytest.mark.parametrize(("older", "newer"), [
    ("Alice has a cat named Miso.", "Alice adopted a dog named Rex."),  # two pets, both hers
    ("Alice likes hiking.", "Alice went hiking in the Alps last weekend."),  # no slot
    ("Alice lives in Lisbon.", "Alice lives in Lisbon, Portugal."),  # the same place, said more fully
    ("Alice works at Acme.", "Alice works at Acme Corp as a designer."),
    ("Alice visited Paris on 7 May 2023.", "Alice visited Rome on 25 August 2023."),  # dates are not counts
    ("Alice's sister lives in Berlin.", "Alice's brother lives in Madrid."),  # someone else's home
    ("Alice lives in Lisbon.", "Bob moved to Porto."),  # someone else moved
])
def test_facts_that_can_both_hold_do_not_clash(older: str, newer: str) -> None:
    assert clash(slots(older, "Alice"), slots(newer, "Alice")) is None


def test_whose_slot_it_is() -> None:
    assert filled("Alice lives in Lisbon.") == {"residence": "lisbon"}
    assert filled("Alice lives in Lisbon.", peer="Bob") == {}
    assert filled("I moved to New York City last year.", peer="user") == {"residence": "new york city"}
    assert filled("Melanie and her partner are getting married.", peer="Melanie") == {}
    assert "relationship" not in filled("Alice's brother got married in June.")
    assert filled("Alice works as a nurse at the city hospital.") == {"role": "nurse"}
    assert filled("Alice has a cat named Miso.") == {"owns:cat": "yes"}


def test_counts_read_the_last_number_and_the_period_and_skip_dates() -> None:
    assert filled("I reduced my work hours from 50 to 42 weekly by July 1.", "user") == {"count:hour/week": "42"}
    assert filled("I'm targeting 1,200 words per week.", "user") == {"count:word/week": "1200"}
    assert filled("I ran three miles every day.", "user") == {"count:mile/day": "3"}
    assert filled("Alice went to the support group on 7 May 2023 at 10:30.") == {}
    assert filled("The probability of rolling a 2 is 1/6.", "user") == {}  # about no one
