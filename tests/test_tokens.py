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
