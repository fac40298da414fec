"""Session summaries: a short one every N messages and a long one every M (configurable), each
built from the previous summary of its kind plus the messages since, stored with the last covered
message. Plain-text output, capped; the prompt is kept small for a local model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from honcho_local.errors import ModelError
from honcho_local.llm.base import LLM, ChatRequest, Completion
from honcho_local.services.deriver import clip

BUDGET = {"short": (220, 120), "long": (480, 320)}  # (max_tokens, target words)
MAX_INPUT_TOKENS = 1800
MIN_LINE_CHARS = 200


@dataclass
class Summary:
    summary_type: str
    content: str
    completion: Completion


def build_request(summary_type: str, previous: str | None, messages: list[dict[str, Any]]) -> ChatRequest:
    max_tokens, words = BUDGET[summary_type]
    # When the messages do not all fit, each is cut to its share of the budget first (an assistant's
    # 4,000-character answers would otherwise leave room for the last one or two of twenty).
    fits = sum(m["token_count"] + 8 for m in messages) <= MAX_INPUT_TOKENS
    limit = None if fits else max(MIN_LINE_CHARS, (MAX_INPUT_TOKENS // max(1, len(messages)) - 8) * 3)
    lines, used = [], 0
    for m in reversed(messages):  # keep the newest messages that fit the input budget
        text = m["content"] if limit is None else clip(m["content"], limit)
        used += (m["token_count"] if text is m["content"] else len(text) // 3) + 8
        if used > MAX_INPUT_TOKENS and lines:
            break
        lines.append(f"{m['created_at']:%Y-%m-%d} {m['peer_id']}: {text}")
    lines.reverse()
    detail = ("Keep facts, preferences, requests, decisions and topics, in order."
              if summary_type == "short" else
              "Be thorough: facts, preferences, plans, feelings and recurring themes of each person, in order.")
    prior = f"Summary so far:\n{previous}\n\n" if previous else ""
    ask = (f"{prior}New messages:\n" + "\n".join(lines) +
           f"\n\nWrite an updated summary of the whole conversation in at most {words} words. {detail} "
           "Use names and absolute dates. Plain text only.")
    return ChatRequest(messages=[{"role": "system", "content": "You summarise conversations accurately."},
                                 {"role": "user", "content": ask}], max_tokens=max_tokens, temperature=0.0)


def summarise(llm: LLM, summary_type: str, previous: str | None, messages: list[dict[str, Any]]) -> Summary:
    completion = llm.complete(build_request(summary_type, previous, messages))
    text = completion.text.strip()
    if len(text) < 10:
        raise ModelError(f"the model returned no usable {summary_type} summary", raw_output=completion.text)
    return Summary(summary_type, text, completion)
