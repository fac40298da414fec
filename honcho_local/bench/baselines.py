"""Baseline retrievers built in the benchmark process over a conversation's turns, each indexing the
same document text as the product's own indexes (so a lead over them is the product's retrieval, not
a richer document):

- `dense`: embedding top-k over what the worker embeds for a message ("speaker: content",
  `message_embedding_text`), with the same embedding model the server uses: naive RAG's retrieval;
- `bm25`: plain BM25 (tantivy, in memory, English stemming, any word may match) over what the lexical
  index holds for a message ("date speaker: content", `document_text`), without the product's extra
  field (the previous message as context) or its stopword list;
- `bm25+dense`: the two fused with plain reciprocal rank fusion (k = 60, equal weights);
- `bm25+dense-w`: the same with the product's fusion constants (k = 20, BM25 weighted as the embedding
  model's catalog entry says: 1.5 : 1 for MiniLM, 1 : 1 for nomic), which were chosen on LoCoMo itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import tantivy

from honcho_local.bench.data import Turn
from honcho_local.llm.base import LEXICAL_WEIGHT
from honcho_local.services.search import RRF_K
from honcho_local.services.summary_step import message_embedding_text
from honcho_local.store.lexical_tail import document_text

_WORDS = re.compile(r"\w+", re.UNICODE)
BASELINE_DOCUMENTS = "product-text-1"  # what the baselines index; part of the bench journal's key


def rrf(rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None) -> list[str]:
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores, key=lambda i: -scores[i])


def lexical_text(turn: Turn) -> str:
    """What the product's lexical index holds for a message."""
    return document_text(turn.speaker, turn.text, turn.created_at)


def dense_text(turn: Turn) -> str:
    """What the product's worker embeds for a message."""
    return message_embedding_text(turn.speaker, turn.text)


class TurnIndex:
    """Dense and BM25 indexes over one conversation's turns (ids are turn ids)."""

    def __init__(self, turns: Sequence[Turn], embed: Callable[..., list[list[float]]],
                 lexical_weight: float = LEXICAL_WEIGHT) -> None:
        self.ids = [t.turn_id for t in turns]
        self.lexical_weight = lexical_weight
        self.texts = {t.turn_id: t for t in turns}
        self._embed = embed
        vectors = np.asarray(embed([dense_text(t) for t in turns]) if turns else np.zeros((0, 1)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True) if len(vectors) else 1.0
        self.vectors = vectors / np.maximum(norms, 1e-12)
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("row", stored=True, indexed=True)
        sb.add_text_field("text", stored=False, tokenizer_name="en_stem")
        self.schema = sb.build()
        self.index = tantivy.Index(self.schema)
        writer = self.index.writer(heap_size=15_000_000, num_threads=1)
        for row, turn in enumerate(turns):
            writer.add_document(tantivy.Document(row=row, text=lexical_text(turn)))
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
        """Plain RRF (k = 60, equal weights) of BM25 and dense."""
        return rrf([self.bm25(query, depth), self.dense(query, depth)])[:k]

    def hybrid_weighted(self, query: str, k: int, depth: int = 50) -> list[str]:
        """RRF with the product's constants (k = `RRF_K`, BM25 weighted as the product weights it for this
        embedding model)."""
        return rrf([self.bm25(query, depth), self.dense(query, depth)], RRF_K, [self.lexical_weight, 1.0])[:k]
