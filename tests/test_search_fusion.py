"""Message search fuses BM25 and vectors with the embedding model's own BM25 weight (the catalog's
`lexical_weight`; docs/decisions/010-retrieval-levers.md), and 1.5 for a model that names none."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from honcho_local.services.search import QueryEmbedder, Search


class _Ranked:
    """A lexical or vector index that always ranks the same message pks."""

    def __init__(self, pks: list[int]) -> None:
        self.pks = pks

    def search(self, *args: Any) -> list[int]:
        return self.pks


class _Rows:
    def get(self, pks: list[int]) -> dict[int, int]:
        return {pk: pk for pk in pks}


def _embedder(**weight: float) -> Any:
    return SimpleNamespace(model="m", embed=lambda texts, kind="document": SimpleNamespace(
        vectors=[[1.0, 0.0] for _ in texts]), **weight)


def _top(embedder: Any) -> list[int]:
    """BM25 ranks message 1 first, the vectors message 2: the weight decides."""
    search = Search(None, _Ranked([1, 2]), _Ranked([2, 1]), QueryEmbedder(lambda: embedder),  # type: ignore[arg-type]
                    cache=SimpleNamespace(), rows=_Rows())  # type: ignore[arg-type]
    return search.ranked("w", "a question", 2)  # type: ignore[return-value]


def test_the_embedding_models_weight_decides_where_bm25_and_vectors_disagree() -> None:
    assert _top(_embedder(lexical_weight=1.5)) == [1, 2]
    assert _top(_embedder(lexical_weight=0.5)) == [2, 1]
    assert _top(_embedder()) == [1, 2]  # no weight named (the OpenAI-compatible embedder): BM25 × 1.5
    assert QueryEmbedder(lambda: _embedder(lexical_weight=1.0)).lexical_weight == 1.0
