"""The deriver's output checks, without a model: a fact must come from the observed peer's own lines."""

from __future__ import annotations

from datetime import datetime

from honcho_local.services.deriver import Line, interpret, misattributed

AT = datetime(2023, 1, 20, 16, 4)


def _lines(*items: tuple[str, str], peer: str) -> list[Line]:
    return [Line(i, f"m{i}", i, who, text, AT, who == peer) for i, (who, text) in enumerate(items, start=1)]


CHAT = (("Jon", "Lost my job as a banker yesterday, so I'm starting a dance studio 'cause I'm passionate about dancing."),
        ("Gina", "That's cool, Jon! What got you into this biz?"),
        ("Jon", "I've been into dancing since I was a kid."),
        ("Gina", "Same here! I just opened my online clothing store last week, it's been hectic."))


def test_a_fact_restating_another_speakers_line_is_dropped() -> None:
    lines = _lines(*CHAT, peer="Gina")
    parsed = {"facts": [
        {"fact": "Gina is starting a dance studio because she is passionate about dancing.", "lines": [2]},
        {"fact": "Gina opened an online clothing store last week.", "lines": [4]},
        {"fact": "Gina is busy these days.", "lines": [4]}],  # a paraphrase no other line holds: kept
        "inferences": [{"conclusion": "Gina is an entrepreneur.", "from_facts": [1, 2]},
                       {"conclusion": "Gina loves dance.", "from_facts": [1]}]}
    facts, dropped = interpret(parsed, lines, "Gina")
    assert [f.content for f in facts] == ["Gina opened an online clothing store last week.", "Gina is busy these days.",
                                          "Gina is an entrepreneur."]
    assert facts[2].premises == [0]  # the dropped fact is no longer a premise
    assert dropped == 2  # the mix-up, and the inference that rested on it alone


def test_the_check_reads_the_neighbourhood_of_the_cited_lines() -> None:
    lines = _lines(*CHAT, peer="Jon")
    jon = [ln for ln in lines if ln.target]
    assert not misattributed("Jon lost his job as a banker.", jon[:1], lines, "Jon")
    assert misattributed("Jon opened an online clothing store.", jon[1:], lines, "Jon")
    far = _lines(*CHAT, *[("Jon", f"filler line {i}") for i in range(6)], ("Jon", "Business is booming."), peer="Jon")
    near = _lines(*CHAT, ("Jon", "Business is booming."), peer="Jon")
    # the same fact, citing a line that shares none of its words: flagged next to Gina's store line,
    # kept where her line is 7 lines away (no neighbour it could have come from)
    assert misattributed("Jon opened an online clothing store.", near[-1:], near, "Jon")
    assert not misattributed("Jon opened an online clothing store.", far[-1:], far, "Jon")
