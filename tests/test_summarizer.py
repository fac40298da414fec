"""The summary prompt keeps every message since the last summary when they are long (each cut to its
share of the input budget), and leaves short ones whole."""

from __future__ import annotations

from datetime import datetime

from honcho_local.services import summarizer
from honcho_local.store.events import Message

AT = datetime(2024, 3, 15, 10, 0)


def _msg(peer: str, text: str) -> Message:
    return Message(0, "m", "w", "s", peer, "message", 0, text, {}, None, len(text) // 4, AT, AT)


def test_long_messages_are_cut_so_all_of_them_fit() -> None:
    answer = " ".join(f"w{i}" for i in range(1200))  # ~5,900 characters
    messages = [_msg("user" if i % 2 == 0 else "assistant", f"turn{i} " + answer) for i in range(20)]
    ask = summarizer.build_request("short", None, messages).messages[-1]["content"]
    assert all(f"turn{i} " in ask for i in range(20))  # before: only the last one fitted
    assert ask.count(" …") == 20 and len(ask) < summarizer.MAX_INPUT_TOKENS * 4


def test_short_messages_are_left_whole() -> None:
    messages = [_msg("Caroline", f"line {i} " + "x" * 400) for i in range(20)]  # ~2,000 tokens in all: fits
    ask = summarizer.build_request("short", None, messages[:10]).messages[-1]["content"]
    assert " …" not in ask and all(m.content in ask for m in messages[:10])
