"""What a chat answer is built from, as text: how much is retrieved at each `reasoning_level`, the
system instructions, the prompt trimmed to the model's window, and Honcho's evidence object. Peer chat
(`services/dialectic.py`) and workspace chat (`services/workspace_chat.py`) share all of it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from honcho_local.errors import InvalidInput
from honcho_local.llm.base import ChatRequest
from honcho_local.services import views
from honcho_local.services.representation import said_at
from honcho_local.store.conclusions import Conclusion
from honcho_local.store.events import Message


@dataclass(frozen=True)
class Level:
    conclusions: int   # per group (explicit, derived)
    messages: int      # search hits
    history: int       # tokens of recent session messages
    max_tokens: int


# Conclusions and messages per level: fewer conclusions and more original messages answered better
# (docs/decisions/007-tuned-constants.md).
LEVELS = {
    "minimal": Level(6, 5, 256, 128), "low": Level(12, 10, 512, 256), "medium": Level(20, 15, 768, 384),
    "high": Level(30, 20, 1024, 512), "max": Level(50, 30, 1536, 768),
}
MAX_LINE_CHARS = 2000  # a retrieved message longer than this is cut in the prompt
# "Answer briefly: a short phrase ... when that answers the question" (the same instruction the bench's
# baselines get) against "one short sentence or phrase": token F1 0.458 vs 0.327 on the same 30
# questions (14 better, 6 worse; the model sometimes copies a message's date instead of the event's).
SYSTEM = ("You answer questions about {who} using only the memory below: facts (conclusions) extracted "
          "from conversations, a peer card and relevant messages, each fact and message with the date it was said. "
          "Answer briefly: a short phrase (a few words, a name, a date) when that answers the question, else one "
          "short sentence, using the memory's own words; turn relative times ('yesterday', 'last week') into "
          "dates from the message date. If the memory does not contain the answer, say that you do not know.")


@dataclass
class Prepared:
    request: ChatRequest
    evidence: dict[str, Any] = field(default_factory=dict)


def level_named(name: str | None) -> Level:
    level = LEVELS.get(name or "low")
    if level is None:
        raise InvalidInput(f"reasoning_level must be one of {', '.join(LEVELS)}")
    return level


def check_schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise InvalidInput("response_format must be a JSON schema whose root is an object")
    return schema


def build_prompt(count: Callable[[str], int], context_tokens: int, observer: str, observed: str, query: str,
                 memory: dict[str, Any], hits: list[Message], level: Level,
                 schema: dict[str, Any] | None) -> list[dict[str, str]]:
    """The chat messages: instructions, then the memory (profile, card, conclusions, relevant and recent
    messages, each section cut where the window less the answer's tokens runs out, by `count`)."""
    who = observed if observer == observed else f"{observed}, as {observer} knows them"
    system = SYSTEM.format(who=who)
    if schema is not None:
        system += " Answer with JSON matching this schema: " + json.dumps(schema)
    # the window less the answer, the instructions, the question and the chat template's own tokens
    budget = max(context_tokens - level.max_tokens - count(system) - count(query) - 64, 200)
    sections: list[str] = []
    if memory["profile"]:
        sections.append(f"Profile: {memory['profile']}")
    if memory["card"]:
        sections.append("Peer card:\n" + "\n".join(f"- {e}" for e in memory["card"]))
    facts = [fact_line(c) for c in memory["conclusions"]]
    found = [message_line(m) for m in sorted(hits, key=lambda m: m.created_at)]
    recent = [message_line(m) for m in memory["history"]]
    used = count("\n".join(sections))
    for title, lines in (("Conclusions", facts), ("Relevant messages", found), ("Recent messages", recent)):
        kept = []
        for line in lines:
            line = line[:MAX_LINE_CHARS]  # one long message must not crowd out all the others
            cost = count(line) + 1
            if used + cost > budget:
                break
            kept.append(line)
            used += cost
        if kept:
            sections.append(f"{title}:\n" + "\n".join(kept))
            used += count(title) + 2
    memory_text = "\n\n".join(sections) or "(nothing is known yet)"
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Memory:\n{memory_text}\n\nQuestion: {query}"}]


def fact_line(c: Conclusion) -> str:
    """A conclusion for the prompt, dated like the messages (a fact such as "went to the support group
    yesterday" is answerable only with the date it was said)."""
    when = said_at(c)
    return f"- ({when.day} {when:%B %Y}) [{c.level}] {c.content}"


def message_line(m: Message) -> str:
    """A message for the prompt, dated (questions about time need the date the words were said)."""
    when = m.created_at
    return f"- ({when.day} {when:%B %Y}) {m.peer_id}: {m.content}"


def build_evidence(conclusions: list[Conclusion], messages: list[Message]) -> dict[str, Any]:
    """Honcho's evidence object for what a chat read: each conclusion and message once, oldest first (ties by
    id), as Honcho orders them; no tool loop, so no tool calls and no trace."""
    facts = sorted({c.id: c for c in conclusions}.values(), key=lambda c: (c.created_at, c.id))
    said = sorted({m.id: m for m in messages}.values(), key=lambda m: (m.created_at, m.id))
    return {"conclusions": [evidence_conclusion(c) for c in facts],
            "messages": [_evidence_message(m) for m in said], "tool_calls": [], "reasoning_trace_id": None}


def evidence_conclusion(c: Conclusion) -> dict[str, Any]:
    return {"id": c.id, "level": c.level, "content": c.content, "created_at": views.iso(c.created_at),
            "session_id": c.session_id, "observer_id": c.observer_id, "observed_id": c.observed_id,
            "source_ids": c.premise_ids, "message_ids": c.source_ids}


def _evidence_message(m: Message) -> dict[str, Any]:
    return {"id": m.id, "session_id": m.session_id, "peer_id": m.peer_id, "created_at": views.iso(m.created_at)}
