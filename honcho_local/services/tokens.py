"""Token counting and prompt sizing. The model layer supplies the real tokenizer (`LLM.count_tokens`);
until one is loaded, an estimate. `request_tokens` is what a chat request takes of the model's window;
`largest_fit` and `cut_to_tokens` are how every prompt-building step keeps to it.

The estimate counts word pieces and punctuation (about 1.3 tokens per word for English BPE
vocabularies); it is only used where no model tokenizer is configured (tests, the write path
before the model has loaded).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from honcho_local.llm.base import ChatRequest

TokenCounter = Callable[[str], int]
_UNICODE = (re.compile(r"\w+"), re.compile(r"[^\w\s]"), re.compile(r"\w{9,}"))
# ASCII text without regexes: word characters ([A-Za-z0-9_], what `\w` matches there) and whitespace
# (what `\s` matches: space, \t \n \r \v \f) by byte tables.
_WORD_BYTES = bytes(c for c in range(128) if chr(c).isalnum() or c == ord("_"))
_SPACE_BYTES = b" \t\n\r\x0b\x0c"
_NON_WORD_TO_SPACE = bytes.maketrans(
    bytes(c for c in range(256) if c not in _WORD_BYTES), b" " * (256 - len(_WORD_BYTES)))


def estimate_tokens(text: str) -> int:
    """Words x 1.3, plus one per punctuation mark, plus a quarter of each word's characters past the
    eighth. Regex scans and no Python loop over the pieces: this runs for every message on the write
    path (a per-piece generator was 15% of the server's GIL time on 100-message batches)."""
    if not text:
        return 0
    if text.isascii():
        return _estimate_ascii(text)
    words, punct, long_words = _UNICODE
    long_chars = sum(len(w) - 8 for w in long_words.findall(text))
    return max(1, round(len(words.findall(text)) * 1.3 + len(punct.findall(text)) + long_chars / 4))


def _estimate_ascii(text: str) -> int:
    """`estimate_tokens` for ASCII text with byte translations and one split (the same counts as the
    regexes, which tests/test_tokens.py checks over all 128 ASCII characters): 2.6 against 6.9 us for a
    90-character message, on the event loop of every write."""
    raw = text.encode("ascii")
    punct = len(raw.translate(None, _WORD_BYTES + _SPACE_BYTES))
    pieces = raw.translate(_NON_WORD_TO_SPACE).split()
    long_chars = sum(len(p) - 8 for p in pieces if len(p) > 8)
    return max(1, round(len(pieces) * 1.3 + punct + long_chars / 4))


# ---- sizing a prompt to the model's window --------------------------------------------------------
# What a chat template adds around each message (role markers, separators: 4-5 tokens in ChatML) and
# before the answer (the assistant's header), counted generously: the message contents are counted
# with the model's own tokenizer, the template is not visible through the `LLM` protocol.
TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS_ANSWER = 8


def request_tokens(count: TokenCounter, request: ChatRequest) -> int:
    """The tokens a chat request takes in the model's window: its prompt and its answer (`max_tokens`)."""
    prompt = sum(count(m.get("content", "")) + TEMPLATE_TOKENS_PER_MESSAGE for m in request.messages)
    return prompt + TEMPLATE_TOKENS_ANSWER + request.max_tokens


def largest_fit(fits: Callable[[int], bool], low: int, high: int) -> int:
    """The largest n in [low, high] with `fits(n)`, for a `fits` that holds up to some n and not after
    (more lines, more tokens); `low` when none does (the caller then cuts what `low` holds)."""
    if fits(high):
        return high
    while low < high - 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def cut_to_tokens(count: TokenCounter, text: str, tokens: int) -> str:
    """The longest head of `text` that `count` puts at `tokens` or fewer, cut at a word boundary where
    one is near and marked with an ellipsis ("" when not even that fits)."""
    if count(text) <= tokens:
        return text

    def head(chars: int) -> str:
        cut = text[:chars]
        space = cut.rfind(" ")
        return (cut[:space] if space > chars // 2 else cut) + " …"

    chars = largest_fit(lambda n: count(head(n)) <= tokens, 0, len(text))
    return head(chars) if chars and count(head(chars)) <= tokens else ""
