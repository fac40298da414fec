"""Token counting. The model layer supplies the real tokenizer; until one is loaded, an estimate.

The estimate counts word pieces and punctuation (about 1.3 tokens per word for English BPE
vocabularies); it is only used where no model tokenizer is configured (tests, the write path
before the model has loaded).
"""

from __future__ import annotations

import re
from collections.abc import Callable

TokenCounter = Callable[[str], int]
_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    pieces = _PIECES.findall(text)
    words = sum(1 for p in pieces if p[0].isalnum() or p[0] == "_")
    long_chars = sum(max(0, len(p) - 8) for p in pieces)
    return max(1, round(words * 1.3 + (len(pieces) - words) + long_chars / 4))
