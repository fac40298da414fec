"""Session summaries: a short one every N messages and a long one every M (configurable), each
built from the previous summary of its kind plus the messages since, stored with the last covered
message. Plain-text output, capped; the prompt is kept small for a local model, and within the model's
window (`fit`): a backlog's summary reads the newest messages that fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from honcho_local.errors import ModelError
from honcho_local.llm.base import LLM, ChatRequest, Completion
from honcho_local.services.deriver import CUT_SLACK, clip
from honcho_local.services.tokens import (
    TokenCounter,
    cut_to_tokens,
    largest_fit,
    request_tokens,
)
from honcho_local.store.events import Message

BUDGET = {"short": (220, 120), "long": (480, 320)}  # (max_tokens, target words)
MAX_INPUT_TOKENS = 1800
MIN_LINE_CHARS = 200


@dataclass
class Summary:
    summary_type: str
    content: str
    completion: Completion


def build_request(summary_type: str, previous: str | None, messages: list[Message],
                  count: TokenCounter | None = None, context: int | None = None) -> ChatRequest:
    """The newest `messages` within the input budget, each cut to its share when they do not all fit;
    with `count` (the model's tokenizer) and `context`, also no more of them than the model's window
    holds beside the instructions, the previous summary and the answer (`fit`)."""
    lines = _input_lines(messages)
    if count is None or context is None:
        return _request(summary_type, previous, lines)
    return fit(count, context, summary_type, previous, lines)


def _input_lines(messages: list[Message]) -> list[str]:
    # When the messages do not all fit, each is cut to its share of the budget first (an assistant's
    # 4,000-character answers would otherwise leave room for the last one or two of twenty).
    fits = sum(m.token_count + 8 for m in messages) <= MAX_INPUT_TOKENS
    limit = None if fits else max(MIN_LINE_CHARS, (MAX_INPUT_TOKENS // max(1, len(messages)) - 8) * 3)
    lines: list[str] = []
    used = 0
    for m in reversed(messages):  # keep the newest messages that fit the input budget
        text = m.content if limit is None else clip(m.content, limit)
        used += (m.token_count if text is m.content else len(text) // 3) + 8
        if used > MAX_INPUT_TOKENS and lines:
            break
        lines.append(f"{m.created_at:%Y-%m-%d} {m.peer_id}: {text}")
    lines.reverse()
    return lines


def fit(count: TokenCounter, context: int, summary_type: str, previous: str | None,
        lines: list[str]) -> ChatRequest:
    """The request over the newest `lines` that fit the window of `context` tokens, answer included:
    the previous summary is cut to half the room left by the instructions when it takes more, and the
    newest line alone is cut to what is left when even it does not fit."""
    def size(prev: str | None, kept: list[str]) -> int:
        return request_tokens(count, _request(summary_type, prev, kept))

    room = context - size(None, [])
    if previous and size(previous, []) - size(None, []) > room // 2:
        previous = cut_to_tokens(count, previous, room // 2)
    n = largest_fit(lambda n: size(previous, lines[len(lines) - n:]) <= context, min(1, len(lines)), len(lines))
    kept = lines[len(lines) - n:]
    if kept and size(previous, kept) > context:
        spare = context - size(previous, [""]) - CUT_SLACK
        kept = [cut_to_tokens(count, kept[-1], max(0, spare))]
    return _request(summary_type, previous, kept)


def _request(summary_type: str, previous: str | None, lines: list[str]) -> ChatRequest:
    max_tokens, words = BUDGET[summary_type]
    detail = ("Keep facts, preferences, requests, decisions and topics, in order."
              if summary_type == "short" else
              "Be thorough: facts, preferences, plans, feelings and recurring themes of each person, in order.")
    prior = f"Summary so far:\n{previous}\n\n" if previous else ""
    ask = (f"{prior}New messages:\n" + "\n".join(lines) +
           f"\n\nWrite an updated summary of the whole conversation in at most {words} words. {detail} "
           "Use names and absolute dates. Plain text only.")
    return ChatRequest(messages=[{"role": "system", "content": "You summarise conversations accurately."},
                                 {"role": "user", "content": ask}], max_tokens=max_tokens, temperature=0.0)


def summarise(llm: LLM, summary_type: str, previous: str | None, messages: list[Message],
              context: int | None = None) -> Summary:
    """One summary call; with `context`, its prompt sized to that window with the model's tokenizer."""
    count = llm.count_tokens if context is not None else None
    completion = llm.complete(build_request(summary_type, previous, messages, count, context))
    text = completion.text.strip()
    if len(text) < 10:
        raise ModelError(f"the model returned no usable {summary_type} summary", raw_output=completion.text)
    return Summary(summary_type, text, completion)
