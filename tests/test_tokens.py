"""The token estimate used where no model tokenizer is loaded (the write path's `token_count`)."""

from __future__ import annotations

import pytest

from honcho_local.services.tokens import estimate_tokens


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0),
    ("!!!", 3),                                  # punctuation only
    ("Hello, world!", 5),                        # 2 words x 1.3 + 2 marks = 4.6
    ("héllo wörld ça va?", 6),                   # non-ASCII words count as words: 4 x 1.3 + 1
    ("supercalifragilistic", 4),                 # 1.3 + (20 - 8) / 4
    ("naïve supercalifragilistic", 6),           # the Unicode path gives the long-word share too: 2.6 + 3
    ("snake_case_name = 3.14", 8),               # 3 words (underscores join) 3.9 + 2 marks + (15 - 8) / 4
])
def test_estimate(text: str, expected: int) -> None:
    assert estimate_tokens(text) == expected


def test_ascii_path_counts_like_the_regex_definition() -> None:
    """The byte-table path for ASCII text gives the regexes' counts, over every ASCII character."""
    import random
    import re

    from honcho_local.services import tokens

    # the definition's patterns with ASCII classes, which the write path has always used for ASCII text
    # (Unicode \s also matches \x1c-\x1f)
    words, punct, long_words = (re.compile(p.pattern, re.ASCII) for p in tokens._UNICODE)

    def by_regex(text: str) -> int:
        long_chars = sum(len(w) - 8 for w in long_words.findall(text))
        return max(1, round(len(words.findall(text)) * 1.3 + len(punct.findall(text)) + long_chars / 4))

    alphabet = [chr(c) for c in range(128)] + ["a"] * 60 + [" "] * 15
    rnd = random.Random(7)
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 80))) for _ in range(5000)]
    texts += [chr(c) * 3 for c in range(128)] + ["x" * 30, "a_b" * 5 + "\x0b\x1c" + "y" * 9]
    for text in texts:
        assert tokens.estimate_tokens(text) == by_regex(text), repr(text)
