"""Baseline retrievers built in the benchmark process over a conversation's raw turns:

- `dense`: embedding top-k (the same embedding model the server uses): the retrieval of naive RAG;
- `bm25`: plain BM25 over the turns (tantivy, in memory, English stemming, any word may match);
- `bm25+dense`: the two fused with reciprocal rank fusion (k = 60).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import tantivy

from honcho_local.bench.data import Turn

_WORDS = re.compile(r"\w+", re.UNICODE)


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[str]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda i: -scores[i])


class TurnIndex:
    """Dense and BM25 indexes over one conversation's turns (ids are turn ids)."""

    def __init__(self, turns: Sequence[Turn], embed: Callable[..., list[list[float]]]) -> None:
        self.ids = [t.turn_id for t in turns]
        self.texts = {t.turn_id: t for t in turns}
        self._embed = embed
        vectors = np.asarray(embed([t.text for t in turns]) if turns else np.zeros((0, 1)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True) if len(vectors) else 1.0
        self.vectors = vectors / np.maximum(norms, 1e-12)
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("row", stored=True, indexed=True)
        sb.add_text_field("text", stored=False, tokenizer_name="en_stem")
        self.schema = sb.build()
        self.index = tantivy.Index(self.schema)
        writer = self.index.writer(heap_size=15_000_000, num_threads=1)
        for row, turn in enumerate(turns):
            writer.add_document(tantivy.Document(row=row, text=turn.text))
        writer.commit()
        self.index.reload()

    def dense(self, query: str, k: int) -> list[str]:
        if not self.ids:
            return []
        q = np.asarray(self._embed([query], kind="query")[0], dtype=np.float32)
        q /= max(float(np.linalg.norm(q)), 1e-12)
        scores = self.vectors @ q
        top = np.argsort(-scores)[:k]
        return [self.ids[i] for i in top]

    def bm25(self, query: str, k: int) -> list[str]:
        words = [w.lower() for w in _WORDS.findall(query)]
        if not words or not self.ids:
            return []
        try:
            parsed = self.index.parse_query(" ".join(words), ["text"])
        except ValueError:
            return []
        searcher = self.index.searcher()
        return [self.ids[searcher.doc(addr)["row"][0]] for _, addr in searcher.search(parsed, k).hits]

    def hybrid(self, query: str, k: int, depth: int = 50) -> list[str]:
        return rrf([self.bm25(query, depth), self.dense(query, depth)])[:k]
