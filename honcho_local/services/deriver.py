"""The deriver: one constrained-JSON model call turns a window of messages into atomic conclusions
about one observed peer, each with the ids of the messages it came from.

Small-model discipline: a short prompt, numbered lines, capped arrays, and an attribution guard:
a fact is kept only if it cites (or, citing nothing, names the peer and the window has) a line the
observed peer wrote, so other speakers' sentences are never credited to the peer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from honcho_local.errors import ModelError
from honcho_local.llm.base import LLM, ChatRequest, Completion
from honcho_local.services.dates import absolute_dates
from honcho_local.services.tokens import (
    TokenCounter,
    cut_to_tokens,
    largest_fit,
    request_tokens,
)

SYSTEM = ("You read a chat and write down facts about one person. Facts are short, self-contained "
          "sentences that name the person, with absolute dates instead of words like 'yesterday'. "
          "Use only what the person said. Reply with JSON only.")
# The answer's shape, shown in the prompt: the provider may generate without a grammar (faster), so the
# model must know the keys; compact on one line, as the model tends to copy the layout it is shown.
FORMAT = '{"facts":[{"fact":"...","lines":[3]}]}'
FORMAT_DEDUCTIONS = '{"facts":[{"fact":"...","lines":[3]}],"inferences":[{"conclusion":"...","from_facts":[1,2]}]}'


@dataclass
class Line:
    number: int
    event_id: str
    pk: int
    peer_id: str
    content: str
    created_at: datetime
    target: bool


@dataclass
class Fact:
    content: str
    level: str
    source_ids: list[str]
    observed_at: datetime | None
    premises: list[int] = field(default_factory=list)  # indices into the explicit facts of this result


@dataclass
class Derived:
    facts: list[Fact]
    completion: Completion
    dropped: int
    lines: list[Line] = field(default_factory=list)  # the lines the model read (`fit`)


def schema(max_facts: int, deductions: bool) -> dict[str, Any]:
    fact = {"type": "object", "properties": {
        "fact": {"type": "string", "maxLength": 240},
        "lines": {"type": "array", "items": {"type": "integer"}, "maxItems": 4}},
        "required": ["fact", "lines"]}
    props: dict[str, Any] = {"facts": {"type": "array", "items": fact, "maxItems": max_facts}}
    if deductions:
        props["inferences"] = {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
            "conclusion": {"type": "string", "maxLength": 240},
            "from_facts": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
            "required": ["conclusion", "from_facts"]}}
    return {"type": "object", "properties": props, "required": list(props)}


# A line of the observed peer longer than this is cut too: one message must leave room in the model's
# window for the instructions and the answer (a BEAM user pasted 14,181 characters).
MAX_TARGET_CHARS = 4000


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + " …"


def render_lines(lines: list[Line]) -> str:
    return "\n".join(f"[{ln.number}] {ln.created_at:%Y-%m-%d %H:%M} {ln.peer_id}: {ln.content}" for ln in lines)


def build_request(peer: str, lines: list[Line], max_facts: int, deductions: bool,
                  custom_instructions: str | None = None) -> ChatRequest:
    """Fixed instructions first, then the chat, then what is asked about `peer`: llama.cpp reuses the
    longest token prefix of the previous call, and the two speakers' units of a session read mostly
    the same lines, so the second call re-reads little of its prompt."""
    ask = (f"Chat:\n{render_lines(lines)}\n\nLines by {peer} are the ones to use; other lines are context. "
           f"List up to {max_facts} facts about {peer}. For each fact give the numbers of the lines it comes from.")
    if deductions:
        ask += (f" Then add at most 2 inferences: conclusions about {peer} that follow from several facts, "
                "with the fact numbers (1 = first fact) they follow from.")
    if custom_instructions:
        ask += f"\nInstructions: {custom_instructions}"
    ask += f"\nWrite each fact in your own words, in the third person, naming {peer}; never copy a line."
    system = f"{SYSTEM} Compact JSON, one line: {FORMAT_DEDUCTIONS if deductions else FORMAT}"
    return ChatRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": ask}],
                       max_tokens=96 + 64 * max_facts, schema=schema(max_facts, deductions), temperature=0.0)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _attribute(text: str, cited: list[int], lines: list[Line], peer: str) -> list[Line] | None:
    by_number = {ln.number: ln for ln in lines}
    sources = [by_number[n] for n in cited if n in by_number and by_number[n].target]
    if sources:
        return sources
    if cited:  # cites only other speakers' lines: not about this peer's own words
        return None
    targets = [ln for ln in lines if ln.target]
    if peer.lower() in text.lower() and len(targets) <= 2:
        return targets
    return None


# Words that carry no content for the attribution check (function words and chat filler).
_FILLER = frozenset("""a an the and or but of to in on at for with from by as about into after before over is am are was
were be been being do does did doing what when where who whom whose which why how that this these those it its i me my
mine you your yours he him his she her hers they them their theirs we us our ours has have had having will would can
could should shall may might must not no so than then there here if any some just really very too also all more most
much many get got go going went like love lot one thing things now today yesterday yeah wow thanks hey great cool
sure""".split())
_WORD = re.compile(r"[a-z0-9']+")
NEIGHBOURHOOD = 3     # other speakers' lines this close to a cited line are checked
MISATTRIBUTION_GAP = 0.25
MISATTRIBUTION_COVER = 0.25


def content_words(text: str, drop: frozenset[str] = frozenset()) -> set[str]:
    """Lower-cased content words with a light suffix strip ("dancing" and "dances" both "danc")."""
    out = set()
    for word in _WORD.findall(text.lower()):
        word = word.strip("'")
        if len(word) < 3 or word in _FILLER or word in drop:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        out.add(word)
    return out


def misattributed(text: str, sources: list[Line], lines: list[Line], peer: str) -> bool:
    """Whether a fact about `peer` restates another speaker's line rather than the peer's own: its
    content words are mostly absent from the lines it cites and mostly present in a nearby line of
    someone else ("Gina is planning to start a dance studio" citing Gina's "What got you into this
    biz?" next to Jon's "I'm starting a dance studio"). A small model does this often: on the first four
    conversations of the full LoCoMo run (Qwen2.5-Coder-1.5B) 219 of 886 explicit facts matched, most of
    them plain mix-ups; facts with no nearby line of someone else to have come from are kept."""
    drop = frozenset(w.lower() for w in re.findall(r"[A-Za-z0-9]+", peer))
    fact = content_words(text, drop)
    if len(fact) < 2:
        return False
    cited = set().union(*(content_words(s.content, drop) for s in sources))
    cover = len(fact & cited) / len(fact)
    if cover >= MISATTRIBUTION_COVER:
        return False
    numbers = {s.number for s in sources}
    others = [ln for ln in lines if not ln.target and ln.peer_id != peer
              and any(abs(ln.number - n) <= NEIGHBOURHOOD for n in numbers)]
    best = max((len(fact & content_words(ln.content, drop)) / len(fact) for ln in others), default=0.0)
    return best >= cover + MISATTRIBUTION_GAP


def interpret(parsed: Any, lines: list[Line], peer: str) -> tuple[list[Fact], int]:
    """Turn the model's JSON into facts, applying the attribution guard and in-batch de-duplication."""
    facts: list[Fact] = []
    seen: set[str] = set()
    dropped = 0
    index_map: dict[int, int] = {}
    for i, item in enumerate((parsed or {}).get("facts") or [], start=1):
        text = _norm(str(item.get("fact", "")))
        sources = _attribute(text, [n for n in item.get("lines") or [] if isinstance(n, int)], lines, peer)
        if not text or sources is None or misattributed(text, sources, lines, peer):
            dropped += 1
            continue
        said_at = max(s.created_at for s in sources)
        text = absolute_dates(text, said_at)
        if text.lower() in seen:
            dropped += 1
            continue
        seen.add(text.lower())
        index_map[i] = len(facts)
        facts.append(Fact(text, "explicit", [s.event_id for s in sources], said_at))
    explicit = list(facts)
    for item in (parsed or {}).get("inferences") or []:
        text = _norm(str(item.get("conclusion", "")))
        premises = sorted({index_map[n] for n in item.get("from_facts") or [] if n in index_map})
        dates = [explicit[p].observed_at for p in premises]
        observed = max((d for d in dates if d is not None), default=None)
        text = absolute_dates(text, observed)
        if not text or not premises or text.lower() in seen:
            dropped += 1
            continue
        seen.add(text.lower())
        source_ids = list(dict.fromkeys(s for p in premises for s in explicit[p].source_ids))
        facts.append(Fact(text, "deductive", source_ids, observed, premises))
    return facts, dropped


# Tokens a cut message leaves free in the window: its tokens counted alone and inside its line may differ.
CUT_SLACK = 8
MIN_LINE_TOKENS = 16  # a window with less room than this for one message is a configuration error


def fit(count: TokenCounter, context: int, budget: int, lines: list[Line],
        build: Callable[[list[Line]], ChatRequest]) -> list[Line]:
    """The longest head of `lines` whose request (`build`) fits the model's window of `context` tokens,
    answer included, and whose messages take at most `budget` tokens, all counted with `count` (the
    model's tokenizer). It always reaches the first line of the observed peer; when that line alone
    (with the one before it) does not fit, the line before is left out and the message cut to what does."""
    need = next(i for i, ln in enumerate(lines) if ln.target) + 1
    used, within = 0, need
    for i, ln in enumerate(lines):
        used += count(ln.content)
        if i >= need and used > budget:
            break
        within = max(within, i + 1)

    def fits(n: int) -> bool:
        return request_tokens(count, build(lines[:n])) <= context

    n = largest_fit(fits, need, within)
    return lines[:n] if fits(n) else _cut_alone(count, context, lines[need - 1], build)


def _cut_alone(count: TokenCounter, context: int, line: Line,
               build: Callable[[list[Line]], ChatRequest]) -> list[Line]:
    """`line` alone, its message cut at the end to what the window holds (`cut_to_tokens`)."""
    spare = context - request_tokens(count, build([replace(line, content="")])) - CUT_SLACK
    if spare < MIN_LINE_TOKENS:
        raise ModelError(f"model_context {context} leaves no room for a message after the deriver's "
                         f"instructions and answer ({context - spare} tokens): raise model_context")
    while True:  # a message's tokens alone and inside its line may differ by a few
        cut = [replace(line, content=cut_to_tokens(count, line.content, spare))]
        if spare <= 0 or request_tokens(count, build(cut)) <= context:
            return cut
        spare -= CUT_SLACK


def derive(llm: LLM, peer: str, lines: list[Line], max_facts: int, deductions: bool,
           custom_instructions: str | None = None, context: int | None = None, budget: int | None = None) -> Derived:
    """One deriver call over `lines`, or over the head of them that fits `context` (`fit`)."""
    build = partial(build_request, peer, max_facts=max_facts, deductions=deductions,
                    custom_instructions=custom_instructions)
    if context is not None:
        lines = fit(llm.count_tokens, context, budget or context, lines, build)
    completion = llm.complete(build(lines))
    facts, dropped = interpret(completion.parsed, lines, peer)
    return Derived(facts, completion, dropped, lines)
