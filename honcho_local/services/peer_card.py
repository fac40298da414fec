"""Peer cards and profiles, maintained by the worker as conclusions accumulate.

The card is a list of stable facts (`IDENTITY:` / `ATTRIBUTE:` / `RELATIONSHIP:` / `INSTRUCTION:`
entries, at most 40, each at most 200 characters); the profile is a short prose statement of who
the peer is and what they care about now.

The worker builds the card from the peer's live explicit conclusions, in code: a conclusion that
says who the peer is (age, job, home, identity), who they are close to (family, partner, friends,
pets), what they like, value or plan, or how they want to be addressed becomes an entry with that
label, most reinforced first, near-duplicates skipped; entries a user `PUT` stay on it. Then one
short free-text model call writes the profile from the card and the newest conclusions.

Why not the model for the card too: with the default 1.5B model, rewriting the whole card was
26-29% of all model time on the full LoCoMo run (612 completion tokens a call), and what it wrote
was often not in the conclusions (an age nobody said, events filed as INSTRUCTION:); asked for
incremental edits instead, it copied the label legend into the card and dropped entries 1-8 (on 4
of 6 cards tried). An entry built here is a conclusion the deriver drew from cited messages, word for
word, so the card can be traced back to the log; it follows deletions (`recheck`, `DELETE`) at
its next refresh.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import zip_longest

from honcho_local.errors import ModelError
from honcho_local.llm.base import LLM, ChatRequest, Completion
from honcho_local.services.deriver import content_words
from honcho_local.services.tokens import TokenCounter, largest_fit, request_tokens

PREFIXES = ("IDENTITY", "ATTRIBUTE", "RELATIONSHIP", "INSTRUCTION")
MAX_ENTRIES = 40
MAX_ENTRY_CHARS = 200
_PREFIX_RE = re.compile(r"^\s*(IDENTITY|ATTRIBUTE|RELATIONSHIP|INSTRUCTION)\s*:\s*(.+)$", re.IGNORECASE)


def clean_entries(raw: list[str], strict: bool = False) -> list[str]:
    """Validate entries: known prefix (an unprefixed entry becomes an ATTRIBUTE unless `strict`),
    at most 200 characters, duplicates dropped case-insensitively, at most 40."""
    out: list[str] = []
    seen: set[str] = set()
    for entry in raw:
        if not isinstance(entry, str) or not entry.strip():
            continue
        match = _PREFIX_RE.match(entry)
        if match:
            entry = f"{match.group(1).upper()}: {match.group(2).strip()}"
        elif strict:
            raise ValueError(f"peer card entry must start with one of {', '.join(p + ':' for p in PREFIXES)}: "
                             f"{entry[:60]!r}")
        else:
            entry = f"ATTRIBUTE: {entry.strip()}"
        if len(entry) > MAX_ENTRY_CHARS:
            if strict:
                raise ValueError(f"peer card entries may be at most {MAX_ENTRY_CHARS} characters")
            entry = entry[:MAX_ENTRY_CHARS]
        if entry.lower() not in seen:
            seen.add(entry.lower())
            out.append(entry)
    if strict and len(out) > MAX_ENTRIES:
        raise ValueError(f"a peer card holds at most {MAX_ENTRIES} entries")
    return out[:MAX_ENTRIES]


# ---- which conclusions belong on the card, and under which label ----------------------------------
def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


_RELATIONS = (r"(?:wife|husband|spouse|partner|boyfriend|girlfriend|fianc\w*|sons?|daughters?|kids?|children|"
              r"child|bab(?:y|ies)|mother|mom|mum|father|dad|parents?|sisters?|brothers?|siblings?|"
              r"grand\w+|aunt|uncle|cousins?|nieces?|nephews?|family|(?:best |close |old )?friends?|"
              r"roommates?|colleagues?|co-?workers?|boss|mentor|dogs?|cats?|pupp(?:y|ies)|kittens?|pets?|"
              r"guinea pigs?|hamsters?|rabbits?|parrots?|horses?|turtles?|snakes?)\b(?!-)")
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("INSTRUCTION", _words(r"(?:prefers?|wants?|likes?|asks?|asked) to be (?:called|addressed|referred to)",
                           r"(?:call|address) (?:him|her|them) (?:as|by)", r"goes by", r"pronouns? (?:is|are)")),
    ("IDENTITY", _words(r"\d+[- ]years?[- ]old", r"years old", r"aged? \d+", r"born", r"birthday", r"(?:first |last )?name is",
                        r"works? (?:as|at|for|in)", r"worked (?:as|at|for)", r"job", r"career", r"profession", r"employed",
                        r"retired", r"student", r"graduated?", r"degree", r"studies", r"studying", r"majors?",
                        r"lives? (?:in|at|near|by|with)", r"living in", r"moved (?:to|from)", r"is from", r"comes? from",
                        r"grew up", r"hometown", r"home country", r"citizen", r"nationality", r"native",
                        r"identif\w* as", r"trans(?:gender)?(?: woman| man| person)?", r"non-?binary", r"gay", r"lesbian",
                        r"bisexual", r"queer", r"religio\w*", r"christian", r"muslim", r"jewish", r"buddhist",
                        r"(?:is|was) (?:a|an) (?:\w+ )?(?:teacher|nurse|doctor|engineer|developer|programmer|artist|"
                        r"writer|author|musician|singer|dancer|painter|photographer|chef|lawyer|designer|manager|"
                        r"counsel+or|therapist|politician|entrepreneur|athlete|player|coach|owner|founder|veteran|"
                        r"parent|mother|father|mom|dad)")),
    ("ATTRIBUTE", _words(r"likes?", r"loves?", r"enjoys?", r"adores?", r"favou?rites?", r"hobby", r"hobbies",
                         r"passionate", r"passion", r"interested in", r"fan of", r"plays?", r"playing", r"paints?",
                         r"painting", r"draws?", r"drawing", r"collects?", r"prefers?", r"values?", r"believes?",
                         r"dreams? (?:of|to|about)", r"goals?", r"hopes? to", r"plans? to", r"wants? to", r"aspires?",
                         r"allergic", r"vegetarian", r"vegan", r"afraid of", r"fears?", r"dislikes?", r"hates?",
                         r"skilled", r"good at", r"speaks", r"practi[cs]es?", r"trains?", r"volunteers?",
                         r"member of", r"supporter of", r"advocate", r"cares? about", r"is (?:a|an) \w+ person")),
    # a relation the peer has (possessed or had), not a word in passing ("watches movies with friends");
    # checked after ATTRIBUTE, so "enjoys talking with his family" is about what they enjoy
    ("RELATIONSHIP", re.compile(
        r"(?:(?<!with )(?<!and )(?<!to )(?<!of )\b(?:his|her|their|my)|'s)\s+(?:(?!with\b|and\b|to\b)[\w-]+\s+){0,2}?"
        + _RELATIONS
        + r"|\b(?:has|have|had|adopted|got|owns?|raising)\s+(?:a|an|one|two|three|four|five|\d+|some|new|little)?"
          r"\s*(?:[\w-]+\s+){0,2}?" + _RELATIONS
        + r"|\b(?:married|divorced|engaged|dating|widowed)\b", re.IGNORECASE)),
)
# Not card material however they are worded: what happened once, or who said what.
NOT_STABLE = _words(r"(?:shared|showed|sent|posted|took) (?:a|an|the|some|this|that|his|her|their) "
                    r"(?:photos?|pictures?|pics?|images?|videos?|screenshots?)", r"photo of", r"picture of",
                    r"participant", r"thanked", r"asked", r"told", r"replied", r"yesterday",
                    r"today", r"tonight", r"tomorrow",
                    r"\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|November|"
                    r"December) \d{4}")
# per label, so one busy topic cannot fill the card; ~20 entries keep it cheap to put in a chat prompt
ORDER = ("IDENTITY", "INSTRUCTION", "RELATIONSHIP", "ATTRIBUTE")  # on the card, by label
CAPS = {"IDENTITY": 5, "RELATIONSHIP": 6, "INSTRUCTION": 3, "ATTRIBUTE": 8}


def label_of(fact: str, peer: str) -> str | None:
    """The card label for a conclusion about `peer`, or None when it is not card material: it must
    be about the peer (start with their name), not a one-off event, and say something stable."""
    text = fact.strip()
    if not text.lower().startswith(peer.lower()) or NOT_STABLE.search(text):
        return None
    rest = text[len(peer):]
    for label, pattern in RULES:
        if pattern.search(rest):
            return label
    return None


def near_duplicate(entry: str, card: list[str], peer: str) -> bool:
    """True when `entry` says nothing the card does not: its content words are (almost) all in one
    entry already there."""
    name = frozenset(content_words(peer))
    words = content_words(_PREFIX_RE.sub(r"\2", entry), name)
    if not words:
        return True
    for other in card:
        have = content_words(_PREFIX_RE.sub(r"\2", other), name)
        if have and len(words & have) >= 0.8 * len(words):
            return True
    return False


def build_card(peer: str, conclusions: list[str], pinned: Sequence[str] = ()) -> list[str]:
    """The card: `pinned` entries (a user's `PUT`) first, then card-worthy `conclusions` in the order
    given (most reinforced first), near-duplicates skipped, each label capped, grouped by label."""
    picked: dict[str, list[str]] = {label: [] for label in PREFIXES}
    chosen = list(pinned)
    room = MAX_ENTRIES - len(chosen)
    for fact in conclusions:
        if room <= 0:
            break
        label = label_of(fact, peer)
        if label is None or len(picked[label]) >= CAPS[label]:
            continue
        entry = f"{label}: {fact.strip().rstrip('.')}"[:MAX_ENTRY_CHARS]
        if near_duplicate(entry, chosen, peer):
            continue
        picked[label].append(entry)
        chosen.append(entry)
        room -= 1
    return clean_entries(list(pinned) + [e for label in ORDER for e in picked[label]])


def fingerprint() -> list:
    """What shapes a card and a profile (for the representation version's fingerprint)."""
    return [[(label, p.pattern) for label, p in RULES], NOT_STABLE.pattern, CAPS, PROFILE_SYSTEM,
            profile_request("P", ["IDENTITY: x"], ["y"]).messages[-1]["content"], PROFILE_MAX_TOKENS,
            sorted(PROFILE_FRAME)]


# ---- the profile: one short free-text call ---------------------------------------------------------
PROFILE_SYSTEM = "You describe a person in a few plain sentences, using only the facts given."
PROFILE_MAX_TOKENS = 120
PROFILE_MAX_CHARS = 400
# Words a profile sentence may use without a fact saying them (how a description is worded, not a claim).
PROFILE_FRAME = frozenset("person people individual currently always often others someone including include".split())
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def profile_request(peer: str, card: list[str], recent: list[str]) -> ChatRequest:
    known = "\n".join("- " + _PREFIX_RE.sub(r"\2", e) for e in card) or "(none)"
    latest = "\n".join(f"- {c}" for c in recent) or "(none)"
    ask = (f"What is known about {peer}:\n{known}\n\nLatest facts about {peer}:\n{latest}\n\n"
           f"In 1-3 sentences, say who {peer} is and what {peer} cares about now. Plain text only.")
    return ChatRequest(messages=[{"role": "system", "content": PROFILE_SYSTEM}, {"role": "user", "content": ask}],
                       max_tokens=PROFILE_MAX_TOKENS, temperature=0.0)


def fit_profile(count: TokenCounter, context: int, peer: str, card: list[str], recent: list[str]) -> ChatRequest:
    """The profile request with as many card entries and latest facts (taken in turn, first ones first)
    as fit the model's window of `context` tokens, answer included, counted with `count`."""
    pairs = zip_longest([(0, e) for e in card], [(1, c) for c in recent])  # card[0], recent[0], card[1], ...
    turns = [t for pair in pairs for t in pair if t is not None]

    def request(n: int) -> ChatRequest:
        return profile_request(peer, [e for k, e in turns[:n] if k == 0], [c for k, c in turns[:n] if k == 1])

    return request(largest_fit(lambda n: request_tokens(count, request(n)) <= context, 0, len(turns)))


def grounded_profile(text: str, peer: str, facts: Sequence[str]) -> tuple[str, list[str]]:
    """The sentences of a model-written profile that have content words (`deriver.content_words`, the peer's
    name and `PROFILE_FRAME` aside) and whose every one occurs in `facts`, the facts its prompt gave; and the
    sentences dropped. "She cares about the city and its culture." from "Alice moved to Lisbon last month." is
    dropped: no fact says cares, city or culture (decisions/009)."""
    drop = frozenset(content_words(peer)) | PROFILE_FRAME
    seen = set().union(*(content_words(f, drop) for f in facts))
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in _SENTENCE.split(text.strip()):
        words = content_words(sentence, drop)
        (kept if words and words <= seen else dropped).append(sentence)  # no content word: a fragment ("Jon")
    return " ".join(kept), dropped


def prompt_facts(request: ChatRequest) -> list[str]:
    """The facts a profile request gave the model (its "- " lines)."""
    return [line[2:] for line in str(request.messages[-1]["content"]).splitlines() if line.startswith("- ")]


def write_profile(llm: LLM, peer: str, card: list[str], recent: list[str],
                  context: int | None = None) -> tuple[str, Completion]:
    """The profile text (its grounded sentences, `grounded_profile`) and the completion; ModelError when
    the model gave nothing usable or no sentence the facts support. With `context`, the prompt holds what
    fits that window (`fit_profile`)."""
    request = (profile_request(peer, card, recent) if context is None
               else fit_profile(llm.count_tokens, context, peer, card, recent))
    completion = llm.complete(request)
    text = " ".join(completion.text.split())
    if len(text) > PROFILE_MAX_CHARS:  # cut at the last full sentence that fits
        cut = text[:PROFILE_MAX_CHARS]
        text = cut[: cut.rfind(". ") + 1] if ". " in cut else cut
    text, _ = grounded_profile(text, peer, prompt_facts(request))
    if len(text) < 10:
        raise ModelError(f"the model returned no profile for {peer} that the facts support",
                         raw_output=completion.text)
    return text, completion
