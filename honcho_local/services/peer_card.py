"""Peer cards and profiles, maintained by the worker as conclusions accumulate.

The card is a list of stable facts (`IDENTITY:` / `ATTRIBUTE:` / `RELATIONSHIP:` / `INSTRUCTION:`
entries, at most 40, each at most 200 characters); the profile is a short prose statement of who
the peer is and what they care about now. One constrained-JSON call refreshes both from the current
card (whatever wrote it, a `PUT` included) and the newest conclusions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from honcho_local.llm.base import LLM, ChatRequest, Completion

PREFIXES = ("IDENTITY", "ATTRIBUTE", "RELATIONSHIP", "INSTRUCTION")
MAX_ENTRIES = 40
MAX_ENTRY_CHARS = 200
_PREFIX_RE = re.compile(r"^\s*(IDENTITY|ATTRIBUTE|RELATIONSHIP|INSTRUCTION)\s*:\s*(.+)$", re.IGNORECASE)

# One refresh writes at most REFRESH_ENTRIES short entries (the stored card may hold up to 40 from a PUT):
# the output must fit max_tokens, or a truncated string makes the JSON unusable (measured with Qwen 1.5B).
REFRESH_ENTRIES = 16
# At least one entry, each with its prefix: a free-form answer without them (tiny models) is regenerated
# under the grammar, which enforces both, instead of being stored as an empty card.
ENTRY_PATTERN = rf'^({"|".join(PREFIXES)}): [^"\\\n]{{1,150}}$'
SCHEMA = {"type": "object", "properties": {
    "card": {"type": "array", "minItems": 1, "maxItems": REFRESH_ENTRIES,
             "items": {"type": "string", "maxLength": 160, "pattern": ENTRY_PATTERN}},
    "profile": {"type": "string", "maxLength": 300}}, "required": ["card", "profile"]}
MAX_TOKENS = 900


@dataclass
class CardUpdate:
    entries: list[str]
    profile: str
    completion: Completion


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


def build_request(peer: str, card: list[str], conclusions: list[str]) -> ChatRequest:
    facts = "\n".join(f"- {c}" for c in conclusions)
    current = "\n".join(card[:REFRESH_ENTRIES]) if card else "(empty)"
    ask = (f"Current card for {peer}:\n{current}\n\nKnown facts about {peer}:\n{facts}\n\n"
           f"Return the updated card (at most {REFRESH_ENTRIES} short entries): stable facts only (name, age, job, location, family, preferences, how to "
           "address them), each starting with IDENTITY:, ATTRIBUTE:, RELATIONSHIP: or INSTRUCTION:. Keep "
           f"entries that are still true. Also write profile: 1-3 sentences on who {peer} is and what they care "
           "about now.")
    return ChatRequest(messages=[{"role": "system", "content": "You maintain a concise profile card. JSON only."},
                                 {"role": "user", "content": ask}], max_tokens=MAX_TOKENS, schema=SCHEMA)


def refresh(llm: LLM, peer: str, card: list[str], conclusions: list[str]) -> CardUpdate:
    completion = llm.complete(build_request(peer, card, conclusions))
    parsed = completion.parsed or {}
    entries = clean_entries(list(parsed.get("card") or []))
    return CardUpdate(entries, str(parsed.get("profile") or "").strip(), completion)
