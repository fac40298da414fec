"""Named slots of a fact about one person, read by rule: where they live, who they work for and as what,
their relationship status, what they own (and sold), their favourite of a kind, and a counted quantity
(hours a week, words a week, remote days). A dream asks the model about a pair of facts only when both fill
the same slot of the same person with different values (decisions/008): two values of one slot cannot both
be current, which is what makes retiring the older one safe enough for a 1.5B model to confirm.

Pure text rules, no model: `slots(text, peer)` lists the slots a sentence fills, `clash(older, newer)` the
slot two sentences fill differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"(?:the\s+)?[A-Z][\w'&.-]*(?:(?:\s+|,\s*|\s+(?:of|de|upon)\s+)[A-Z][\w'&.-]*)*"
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBER = r"\d[\d,]*(?:\.\d+)?|" + "|".join(_NUMBER_WORDS)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?"
                   rf"(?:,?\s+\d{{4}})?|{_MONTH},?\s+\d{{4}}|(?:19|20)\d\d(?:-\d\d-\d\d)?|\d{{1,2}}:\d\d(?:\s?[ap]m)?|"
                   r"\d+\s*/\s*\d+|\d+(?:st|nd|rd|th))\b", re.IGNORECASE)

RESIDENCE = re.compile(r"\b(?:lives?|living|resides?|settled|moved|moving|relocated|relocating)\s+(?:back\s+)?"
                       rf"(?:from\s+{_NAME}\s+)?(?:in|to)\s+(?P<v>{_NAME})")
EMPLOYER = re.compile(r"\b(?:works?|working|job|employed|hired|joined|started)\s+(?:\w+\s+){0,2}?(?:at|for|by)\s+"
                      rf"(?P<v>{_NAME})")
ROLE = re.compile(r"\b(?:works?|working|job|employed|hired|promoted)\s+(?:\w+\s+){0,2}?as\s+(?:an?\s+|the\s+)?"
                  r"(?P<v>[a-z][a-z -]{2,40}?)(?=[.,;]|\s+(?:at|for|in|and|since|with)\b|$)")
RELATIONSHIP = re.compile(r"\b(?P<v>single|dating|in a relationship|engaged|married|divorced|separated|broke up|"
                          r"widowed)\b")
_STATUS = {"broke up": "single", "in a relationship": "dating", "separated": "divorced"}
_THING = r"(?:(?:a|an|her|his|their|my|the)\s+)?(?:(?P<a>[a-z]+)\s+)?(?P<v>[A-Za-z][\w-]+)"
OWNS = re.compile(r"\b(?:has|have|owns?|owned|drives?|rides?)\s+" + _THING)
SOLD = re.compile(r"\b(?:sold|gave away|got rid of)\s+" + _THING)
FAVOURITE = re.compile(r"\bfavou?rite\s+(?P<k>[a-z]+)\s+(?:is|are|was|has become|became)\s+(?P<v>[^.,;]+)")
PREFERS = re.compile(r"\b(?:now\s+)?prefers\s+(?P<v>(?:[A-Za-z]+\s+){0,2}?(?P<k>[a-z]+))"
                     r"(?=\s+(?:over|to|than|instead)\b|[.,;]|$)")
QUANTITY = re.compile(rf"(?:\bfrom\s+(?:{_NUMBER})\s+to\s+)?\b(?P<n>{_NUMBER})\s+(?:(?P<a>[a-z]+)\s+)?(?P<u>[a-z]+)",
                      re.IGNORECASE)
QUANTITY_AFTER = re.compile(rf"\b(?P<u>[a-z]+)\s+(?:from\s+(?:{_NUMBER})\s+)?to\s+(?P<n>{_NUMBER})\b", re.IGNORECASE)
_PERIOD = re.compile(r"\b(?:per|a|each|every)\s+(?P<p>day|week|month|year)\b|\b(?P<q>daily|weekly|monthly|yearly)\b")
_NOT_UNITS = frozenset("""and or to of in on at by for from the a an with per out times time percent than more less
about over under left after before ago until daily weekly monthly yearly""".split())
_SUBJECT = 8  # words between the sentence's start and the slot's verb: longer, and someone else is the subject


@dataclass(frozen=True)
class Slot:
    key: str  # "residence", "employer", "role", "relationship", "owns:<thing>", "favourite:<kind>", "count:<unit>"
    value: str


def _norm(value: str) -> str:
    return " ".join(re.sub(r"^the\s+", "", value.strip(" .,'"), flags=re.IGNORECASE).lower().split())


def _about(text: str, start: int, peer: str) -> bool:
    """Whether the words before `start` name `peer` (or "I") as the subject, within `_SUBJECT` words, and
    no one else's ("Alice's sister", "my brother", "Alice and her partner")."""
    before = text[:start]
    return (len(before.split()) <= _SUBJECT
            and bool(re.search(rf"\b(?:{re.escape(peer)}|I|I've|I'm)\b", before, re.IGNORECASE))
            and not re.search(r"'s\s|\b(?:my|her|his|their|our|and)\s", before, re.IGNORECASE))


def _thing(m: re.Match[str]) -> str:
    """The object of "has a cat named Miso" (cat), "sold her old Honda" (Honda)."""
    thing = m.group("v")
    return m.group("a") if thing.lower() in ("named", "called") and m.group("a") else thing


def _number(text: str) -> float | None:
    word = text.lower()
    if word in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[word])
    try:
        return float(word.replace(",", ""))
    except ValueError:
        return None


def _unit(word: str) -> str:
    lemma = word.lower()
    lemma = lemma[:-3] + "y" if lemma.endswith("ies") else lemma.rstrip("s")
    return "day" if lemma.endswith("day") else lemma


def _counts(text: str) -> list[Slot]:
    """`count:<unit>[/<period>]` slots: "2 remote workdays per week", "work hours from 50 to 40" (the last
    number of a "from A to B")."""
    plain = _DATE.sub(" ", text)
    period = _PERIOD.search(plain)
    per = "/" + (period.group("p") or {"daily": "day", "weekly": "week", "monthly": "month",
                                       "yearly": "year"}[period.group("q").lower()]) if period else ""
    found: dict[str, str] = {}
    for m in QUANTITY.finditer(plain):
        adjective, unit = m.group("a"), m.group("u")
        if adjective and not (unit.lower().endswith("s") and not adjective.lower().endswith("s")):
            unit = adjective  # "3 hours on": the word after the number is the unit
        number = _number(m.group("n"))
        if number is not None and unit.lower() not in _NOT_UNITS:
            found.setdefault(f"count:{_unit(unit)}{per}", f"{number:g}")
    for m in QUANTITY_AFTER.finditer(plain):
        number = _number(m.group("n"))
        if number is not None and m.group("u").lower() not in _NOT_UNITS:
            found[f"count:{_unit(m.group('u'))}{per}"] = f"{number:g}"
    return [Slot(k, v) for k, v in found.items()]


def slots(text: str, peer: str) -> list[Slot]:
    """The slots `text` (a fact about `peer`) fills, each once (its first mention)."""
    out: dict[str, str] = {}

    def put(key: str, value: str) -> None:
        if value:
            out.setdefault(key, value)

    for key, pattern in (("residence", RESIDENCE), ("employer", EMPLOYER), ("role", ROLE)):
        for m in pattern.finditer(text):
            if _about(text, m.start(), peer):
                put(key, _norm(m.group("v")))
                break
    for m in RELATIONSHIP.finditer(text):
        if _about(text, m.start(), peer):
            status = m.group("v").lower()
            put("relationship", _STATUS.get(status, status))
            break
    for m in SOLD.finditer(text):
        if _about(text, m.start(), peer):
            put(f"owns:{_unit(_thing(m))}", "no")
    for m in OWNS.finditer(text):
        if _about(text, m.start(), peer):
            put(f"owns:{_unit(_thing(m))}", "yes")
    for m in FAVOURITE.finditer(text):
        put(f"favourite:{_unit(m.group('k'))}", _norm(m.group("v")))
    for m in PREFERS.finditer(text):
        if _about(text, m.start(), peer):
            put(f"favourite:{_unit(m.group('k'))}", _norm(m.group("v")))
    if re.search(rf"\b(?:{re.escape(peer)}|I|my|you|your)\b", text, re.IGNORECASE):
        for s in _counts(text):
            put(s.key, s.value)
    return [Slot(k, v) for k, v in out.items()]


def _same(a: str, b: str) -> bool:
    """Two values of a slot name the same thing: equal, or the longer one the shorter one qualified
    ("lisbon" and "lisbon, portugal"; "acme" and "acme corp")."""
    short, long = sorted((a, b), key=len)
    return short == long or long.startswith((short + ",", short + " "))


def clash(older: list[Slot], newer: list[Slot]) -> Slot | None:
    """The first slot that `newer` fills with another value than `older` does (`newer`'s), or None."""
    before = {s.key: s.value for s in older}
    for s in newer:
        if s.key in before and not _same(before[s.key], s.value):
            return s
    return None
